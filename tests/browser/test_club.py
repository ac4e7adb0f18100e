"""In Chromium, the benefits club end to end: a manager adds a benefit in the admin, a shopper finds it
from the home page and sees its code with JavaScript off, two taps (two tabs) count once, and the
admin's list says one shopper used it."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Playwright

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in, join_with_code, screenshot

SLUG = "bella"
PHONE = {"width": 390, "height": 844}


def test_a_benefit_added_in_the_admin_is_used_once_in_the_app(
    live_server, playwright: Playwright, tmp_path: Path
) -> None:
    manager = f"club-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    code = f"CLUBE{uuid.uuid4().hex[:5].upper()}"
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        admin = browser.new_context(viewport=PHONE, locale="pt-BR")
        admin.set_default_timeout(TIMEOUT_MS)
        page = admin.new_page()
        admin_sign_in(page, live_server, manager)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/club"))
        with page.expect_navigation():
            page.click("#club-new")
        page.fill("#b-title", "Um brinde na primeira visita")
        page.fill("#b-partner", "Perfumaria Aroma")
        page.check("#how-code")
        page.fill("#b-code", code)
        page.fill("#b-position", "1")  # before the demo's benefits
        with page.expect_navigation():
            page.click("#club-save")
        assert page.locator("#flash").is_visible()
        row = page.locator("#club-benefits tr", has_text="Perfumaria Aroma")
        benefit_id = row.get_attribute("data-benefit")
        assert row.locator("[data-uses]").inner_text() == "0"

        # The shopper's app with JavaScript off: every step is a link or a form.
        shopper = browser.new_context(viewport=PHONE, locale="pt-BR", java_script_enabled=False)
        shopper.set_default_timeout(TIMEOUT_MS)
        app = shopper.new_page()
        email = f"club-{uuid.uuid4().hex[:8]}@example.com"
        join_with_code(app, live_server, SLUG, "Clara Clube", email)
        app.goto(live_server.url(SLUG, "/"))
        teaser = app.locator("#club-teaser")
        assert "Um brinde na primeira visita" in teaser.inner_text()
        with app.expect_navigation():
            teaser.locator("a[href='/club']").click()
        card = app.locator(f"#benefit-{benefit_id}")
        assert code not in card.inner_text()
        other_tab = shopper.new_page()  # the same list open twice: two taps on "see the code"
        other_tab.goto(live_server.url(SLUG, "/club"))
        with app.expect_navigation():
            card.locator("form button[type=submit]").click()
        assert app.url.endswith(f"/club/{benefit_id}")
        assert app.locator("#benefit-code").inner_text() == code
        with other_tab.expect_navigation():
            other_tab.locator(f"#benefit-{benefit_id} form button[type=submit]").click()
        assert other_tab.locator("#benefit-code").inner_text() == code
        screenshot(app, tmp_path / "club-code.png")
        app.goto(live_server.url(SLUG, "/club"))
        assert code in app.locator(f"#benefit-{benefit_id}").inner_text()  # seen once, shown from then on

        page.goto(live_server.url(None, f"/admin/b/{SLUG}/club"))
        row = page.locator(f"#club-benefits tr[data-benefit='{benefit_id}']")
        assert row.locator("[data-uses]").inner_text() == "1"
        with page.expect_navigation():
            row.locator("form button[type=submit]").click()  # switched off
        app.goto(live_server.url(SLUG, "/club"))
        assert app.locator(f"#benefit-{benefit_id}").count() == 0
        assert app.goto(live_server.url(SLUG, f"/club/{benefit_id}")).status == 404
    finally:
        browser.close()
