"""In Chromium without JavaScript: the admin's sidebar is a column on a laptop and a menu in a top
bar on a phone, the current page marked in it."""

from __future__ import annotations

import uuid

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in

RULES = "a.admin-link[href$='/rules']"


def test_the_sidebar_works_without_javascript_on_a_laptop_and_on_a_phone(live_server, playwright) -> None:
    manager = f"gerente-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", "bella", "--role", "manager")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        signed = browser.new_context(locale="pt-BR")
        signed.set_default_timeout(TIMEOUT_MS)
        admin_sign_in(signed.new_page(), live_server, manager)
        base = live_server.url(None, "/admin/b/bella")

        laptop = browser.new_context(
            viewport={"width": 1280, "height": 800}, java_script_enabled=False, locale="pt-BR"
        )
        laptop.add_cookies(signed.cookies())
        page = laptop.new_page()
        page.goto(base + "/reports")
        assert page.locator(RULES).is_visible() and page.locator("summary.admin-menu-toggle").is_hidden()
        assert page.locator("a.admin-link[aria-current=page]").inner_text() == "Relatórios"
        assert page.locator("a.admin-link[href$='/staff']").count() == 0  # owners only
        box = page.locator("main").bounding_box()
        assert box["x"] > 200 and box["width"] > 900  # beside the sidebar, the laptop's width used

        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, java_script_enabled=False, locale="pt-BR"
        )
        phone.add_cookies(signed.cookies())
        page = phone.new_page()
        page.goto(base + "/reports")
        assert page.locator(RULES).is_hidden()
        page.click("summary.admin-menu-toggle")
        assert page.locator(RULES).is_visible()
        with page.expect_navigation():
            page.click(RULES)
        assert page.url.endswith("/admin/b/bella/rules")
        assert page.locator("a.admin-link[aria-current=page]").get_attribute("href") == "/admin/b/bella/rules"
    finally:
        browser.close()
