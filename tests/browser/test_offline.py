"""In Chromium: a signed-in shopper's home, statement and vouchers stay readable offline, marked with the time
they were saved; after sign-out, nothing private remains in the browser's Cache Storage.

The server is stopped to cut the network (Chromium's offline emulation does not reach the service
worker's own fetches), then started again on the same database to sign out.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

from tests.browser.helpers import controlled, eventually, first_page, join_with_code, sales_for, screenshot

SLUG = "bella"
SAVED_ON = re.compile(r"Esta página foi salva em (\d{2}/\d{2}/\d{4} \d{2}:\d{2})")

# Every response in every cache of this origin: (cache name, URL, body).
CACHE_DUMP = """caches.keys().then(names => Promise.all(names.map(name => caches.open(name)
  .then(cache => cache.keys().then(requests => Promise.all(requests.map(request =>
    cache.match(request).then(response => response.text()).then(body => [name, request.url, body])))))))
).then(per => per.flat())"""


def _spaces(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def _money(centavos: int) -> str:
    return f"R$ {centavos // 100},{centavos % 100:02d}"


def _assert_saved_copy(page, marker: str) -> None:
    banner = page.locator("#offline-banner")
    banner.wait_for(state="visible")
    assert page.evaluate("document.documentElement.dataset.source") == "cache"
    found = SAVED_ON.search(_spaces(banner.inner_text()))
    assert found, banner.inner_text()
    saved = dt.datetime.strptime(found.group(1), "%d/%m/%Y %H:%M")
    # Shown in the brand's time zone (America/Sao_Paulo, UTC-3): within minutes of now.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=3)
    assert abs(now - saved) < dt.timedelta(minutes=10), (saved, now)
    assert marker in _spaces(page.locator("main").inner_text())


def test_home_and_statement_offline_then_nothing_private_after_sign_out(
    live_server, open_context, tmp_path: Path
) -> None:
    email = f"offline-{uuid.uuid4().hex[:10]}@example.com"
    balance = sales_for(live_server, SLUG, email, "OFF")
    available = _money(balance["available"])
    context = open_context(SLUG)
    page = first_page(context)

    # Join with the address the sales were recorded under: the shopper claims that customer.
    join_with_code(page, live_server, SLUG, "Olga Offline", email)

    # Online: the balance, then the statement, both fetched through the service worker.
    controlled(page, live_server.url(SLUG, "/"))
    assert _spaces(page.locator("#balance-available").inner_text()) == available
    assert page.locator("#offline-banner").is_hidden()
    page.goto(live_server.url(SLUG, "/statement"))
    assert page.locator(".movement").count() == 2
    page.goto(live_server.url(SLUG, "/vouchers"))
    voucher_codes = page.locator("li.voucher[data-code]").evaluate_all("els => els.map(e => e.dataset.code)")
    assert voucher_codes, "the sales should have earned vouchers"
    saved = eventually(
        page,
        """caches.keys().then(names => names.filter(n => n.startsWith('retorno-bella-private-')))
             .then(names => Promise.all(names.map(n => caches.open(n).then(c => c.keys()))))
             .then(keys => keys.flat().map(r => new URL(r.url).pathname).sort().join(','))
             .then(paths => paths === '/,/statement,/vouchers' ? paths : '')""",
    )
    assert saved == "/,/statement,/vouchers", "the service worker did not keep home, statement and vouchers"

    # Offline: both pages come from the cache, with the time they were saved.
    live_server.stop()
    page.goto(live_server.url(SLUG, "/"))
    _assert_saved_copy(page, available)
    screenshot(page, tmp_path / "home-offline.png")
    page.goto(live_server.url(SLUG, "/statement"))
    _assert_saved_copy(page, "Pedido OFF-1")
    assert page.locator(".movement").count() == 2
    screenshot(page, tmp_path / "statement-offline.png")
    page.goto(live_server.url(SLUG, "/vouchers"))  # a voucher's QR code is shown at the till
    _assert_saved_copy(page, voucher_codes[0])
    assert page.locator("figure.voucher-qr svg").count() == len(voucher_codes)
    # A page never saved: the offline page, without a banner claiming something was saved.
    page.goto(live_server.url(SLUG, "/account/notifications"))
    page.wait_for_selector("h1")
    assert "sem conexão" in page.locator("h1").inner_text()
    assert page.locator("#offline-banner").count() == 0

    # Back online: sign out; no cached response holds the shopper's pages or numbers any more.
    live_server.start()
    page.goto(live_server.url(SLUG, "/account/security"))
    with page.expect_navigation():
        page.click("#sign-out")
    assert page.url == live_server.url(SLUG, "/")
    dump = eventually(
        page,
        f"""({CACHE_DUMP}).then(all => all.some(([name, url, body]) =>
              name.includes('-private-') || url.endsWith('/statement') || body.includes('balance-available'))
            ? null : all)""",
    )
    assert dump is not None, "a private response is still in Cache Storage after sign-out"
    for name, url, body in dump:
        for secret in ("Olga", email, available, "OFF-1", *voucher_codes):
            assert secret not in _spaces(body), (name, url, secret)
    assert any(url == live_server.url(SLUG, "/") for _, url, _ in dump), json.dumps(dump)[:500]

    # And offline again, the home is the public pitch, not the shopper's balance.
    live_server.stop()
    page.goto(live_server.url(SLUG, "/"))
    page.wait_for_selector("h1")
    assert page.locator("#balance-available").count() == 0
    live_server.start()
