"""In Chromium, points end to end (issue 19's "Must show"): a clerk records a sale at the counter and
is told the points it earned, which wait out the return window; a sale from before the window (the
live server has no clock to move, so it is recorded 10 days back through the API, as other browser
tests do) makes points to exchange; the shopper opens /points on a phone, taps "Trocar" on "Vale de
R$ 10", lands on the reward's page with its code and QR code, and the balance is 500 points less;
the same form sent again from a second tab gives the same reward, not a second one. In Portuguese,
without a console error in the app, and the admin's list of exchanges has it once."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import ConsoleMessage, Page, Playwright

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in, join_with_code, screenshot

SLUG = "bella"
PHONE = {"width": 390, "height": 844}
REWARD, COST = "Vale de R$ 10", 500  # the demo's voucher reward (points/service.py DEMO)
VOUCHER_CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}$")


def _spaces(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


def _points(text: str) -> int:
    """The number in "1.100 pontos" (pt-BR groups thousands with a dot)."""
    found = re.search(r"-?[\d.]+", _spaces(text))
    assert found, f"no number of points in {text!r}"
    return int(found[0].replace(".", ""))


def _watch(page: Page, errors: list[str]) -> Page:
    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return page


def test_points_earned_at_the_counter_are_exchanged_in_the_app_for_a_voucher_with_its_qr(
    live_server, playwright: Playwright, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    clerk, email = f"caixa-pts-{tag}@staff.example", f"pontos-{tag}@example.com"
    live_server.cli("staff", "add", clerk, "--brand", SLUG, "--role", "operator")
    key = live_server.cli("apikeys", "create", SLUG).strip().splitlines()[-1]
    api = httpx.Client(
        base_url=live_server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}, timeout=10
    )
    errors: list[str] = []
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        # At the counter: the sale's points are pending for the return window.
        office = browser.new_context(locale="pt-BR")
        office.set_default_timeout(TIMEOUT_MS)
        till = office.new_page()
        admin_sign_in(till, live_server, clerk)
        till.goto(live_server.url(None, f"/admin/b/{SLUG}/counter"))
        till.fill("#sale-customer", email)
        till.fill("#sale-total", "620,00")
        with till.expect_navigation():
            till.click("#sale-form button[type=submit]")
        recorded = _spaces(till.locator("#counter-recorded").inner_text())
        assert "pontos" in recorded, recorded
        earned_at_counter = _points(recorded.split(" E ")[-1])
        assert earned_at_counter > 0
        held = api.get(f"/customers/email:{email}/points").json()
        assert held["available"] == 0 and held["pending"] == earned_at_counter, held

        # A purchase from before the return window: points to exchange.
        old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()
        sale = {"order_id": f"PTS-{tag}", "customer": {"email": email}, "total": 110_000, "occurred_at": old}
        answer = api.post("/sales", json=sale)
        assert answer.status_code == 201, answer.text
        assert answer.json()["points"]["status"] == "available", answer.json()
        before = api.get(f"/customers/email:{email}/points").json()
        assert before["available"] >= 2 * COST, before  # enough for two: only the form key stops a second

        # The shopper's app on a phone, in Portuguese.
        shopper = browser.new_context(viewport=PHONE, locale="pt-BR", has_touch=True, is_mobile=True)
        shopper.set_default_timeout(TIMEOUT_MS)
        app = _watch(shopper.new_page(), errors)
        join_with_code(app, live_server, SLUG, "Paula Pontos", email)
        app.goto(live_server.url(SLUG, "/"))
        assert _points(app.inner_text("#points-balance")) == before["available"]
        with app.expect_navigation():
            app.click("#points-teaser a[href='/points']")
        assert app.evaluate("document.documentElement.lang") == "pt-BR"
        main = _spaces(app.inner_text("main"))
        assert "pontos" in main and "Seus pontos" in main and "Trocar" in main, main
        assert _points(app.inner_text("#points-available")) == before["available"]
        assert f"{before['pending']:,}".replace(",", ".") + " pontos pendentes" in main, main
        assert app.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll

        card = app.locator("li.reward", has=app.locator(".reward-title", has_text=REWARD))
        assert _points(card.locator(".reward-cost").inner_text()) == COST
        form_key = card.locator("input[name=key]").input_value()
        other_tab = _watch(shopper.new_page(), errors)  # the same catalogue open twice
        other_tab.goto(live_server.url(SLUG, "/points"))
        screenshot(app, tmp_path / "points.png")

        with app.expect_navigation():
            card.get_by_role("button", name=re.compile("^Trocar")).tap()
        redeemed_url = app.url
        assert re.search(r"/points/redeemed/\d+$", redeemed_url), redeemed_url
        assert app.inner_text("h1") == REWARD
        code = app.inner_text(".voucher-code code")
        assert VOUCHER_CODE.match(code), code
        qr = app.locator("figure.voucher-qr svg")
        assert qr.count() == 1 and qr.is_visible()
        box = qr.bounding_box()
        assert box and box["width"] >= 120 and box["height"] >= 120, box  # big enough to scan
        assert code in (app.get_attribute("figure.voucher-qr", "aria-label") or "")
        assert "pronto" in _spaces(app.inner_text("main"))
        screenshot(app, tmp_path / "points-redeemed.png")

        # The same form again (a second tab, a double tap): the same reward, the points taken once.
        other_card = other_tab.locator("li.reward", has=other_tab.locator(".reward-title", has_text=REWARD))
        other_card.locator("input[name=key]").evaluate("(input, key) => { input.value = key; }", form_key)
        with other_tab.expect_navigation():
            other_card.get_by_role("button", name=re.compile("^Trocar")).click()
        assert other_tab.url == redeemed_url
        assert other_tab.inner_text(".voucher-code code") == code

        after = api.get(f"/customers/email:{email}/points").json()
        assert after["available"] == before["available"] - COST, (before, after)
        app.goto(live_server.url(SLUG, "/points"))
        assert _points(app.inner_text("#points-available")) == before["available"] - COST
        mine = app.locator(".my-rewards li")
        assert mine.count() == 1 and REWARD in mine.inner_text()
        statement = _spaces(app.inner_text("#points-latest + .movements"))
        assert f"-{COST} pontos" in statement and REWARD in statement, statement
        app.goto(live_server.url(SLUG, "/vouchers"))  # the voucher is one of the shopper's vouchers
        assert code in app.inner_text("main")

        # The admin's exchanges: once, with the voucher's code, still to be used.
        till.goto(live_server.url(None, f"/admin/b/{SLUG}/points?code={code}"))
        rows = till.locator("#redemptions tbody tr")
        assert rows.count() == 1 and REWARD in rows.inner_text() and "Paula Pontos" in rows.inner_text()
        assert errors == []
    finally:
        browser.close()
        api.close()
