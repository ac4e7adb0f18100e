"""In Chromium: the owner follows the keys page's link to the API reference, which shows every
operation, offline-safe and under the app's CSP (no request leaves the app, nothing is blocked)."""

from __future__ import annotations

import uuid

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in


def test_the_api_reference_opens_from_the_keys_page_and_shows_the_operations(live_server, playwright) -> None:
    owner = f"dona-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", owner, "--brand", "bella", "--role", "owner")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        context = browser.new_context(locale="pt-BR")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        admin_sign_in(page, live_server, owner)
        page.goto(live_server.url(None, "/admin/b/bella/keys"))
        blocked, hosts = [], set()
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        page.click("#api-docs-link")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("/api/docs")
        assert page.locator("h1").first.inner_text() == "Retorno integration API"
        operations = page.locator("section.op")
        assert operations.count() >= 12
        assert page.locator("#ApiV1SalesPostSale h2").inner_text() == "Record a sale"
        assert page.locator("#ApiV1SalesPostSale .curl").inner_text().startswith("curl -X POST")
        page.click("#ApiV1SalesPostSale a[href='#schema-SaleIn']")
        assert page.locator("#schema-SaleIn").is_visible()
        assert page.locator("h2#start-guide").inner_text() == "Primeiros passos"  # the page's own words
        assert blocked == [] and hosts == {f"localhost:{live_server.port}"}
    finally:
        browser.close()
