"""The weight of a signed-in shopper's first visit to home, as Chromium receives it: at most 100 KB on
the wire (compressed) with the logo, at most 20 KB of JavaScript, and no request to another host.

"First visit" means an empty HTTP cache and no service worker yet; the session cookie is carried
over from a browser that joined the programme.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Playwright, Request

from tests.browser.helpers import ARGS, BRANDS, CHROMIUM, TIMEOUT_MS, join_with_code, sales_for

PAGE_BUDGET = 100 * 1024
JS_BUDGET = 20 * 1024


@pytest.mark.parametrize("slug", list(BRANDS))
def test_first_signed_in_home_fits_the_budget(slug, playwright: Playwright, live_server) -> None:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        joined = browser.new_context(locale="pt-BR")
        joined.set_default_timeout(TIMEOUT_MS)
        email = f"weight-{uuid.uuid4().hex[:8]}@example.com"
        sales_for(live_server, slug, email, f"W-{slug}")
        join_with_code(joined.new_page(), live_server, slug, "Wanda Peso", email)
        state = joined.storage_state()
        joined.close()

        fresh = browser.new_context(
            locale="pt-BR", storage_state=state, viewport={"width": 390, "height": 844}
        )
        fresh.set_default_timeout(TIMEOUT_MS)
        page = fresh.new_page()
        finished: list[Request] = []
        page.on("requestfinished", lambda request: finished.append(request))
        page.goto(live_server.url(slug, "/"), wait_until="networkidle")
        assert page.locator("#balance-available").is_visible(), "not signed in: the budget would be wrong"

        sizes = {r.url: r.sizes() for r in finished}
        wire = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes.values())
        scripts = [r for r in finished if r.resource_type == "script"]
        js = sum(len(r.response().body()) for r in scripts)
        hosts = {urlsplit(r.url).netloc for r in finished}
        encodings = {
            urlsplit(r.url).path: r.response().headers.get("content-encoding")
            for r in finished
            if r.resource_type in ("document", "stylesheet", "script") and len(r.response().body()) > 1024
        }
        fresh.close()
    finally:
        browser.close()

    report = "\n".join(f"{s['responseBodySize']:>7} {url}" for url, s in sizes.items())
    assert any("/assets/logo-120.png" in url for url in sizes), f"the logo was not loaded:\n{report}"
    assert wire <= PAGE_BUDGET, f"{wire} bytes on the wire > {PAGE_BUDGET}:\n{report}"
    assert js <= JS_BUDGET, f"{js} bytes of JavaScript > {JS_BUDGET}:\n{report}"
    assert hosts == {urlsplit(live_server.url(slug)).netloc}, f"requests to other hosts: {hosts}"
    assert set(encodings.values()) == {"gzip"}, f"text sent uncompressed: {encodings}"
