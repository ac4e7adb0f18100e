"""In Chromium: a manager changes the brand's colour and logo in the admin; after a reload the
shopper's app shows the new colour and the new logo (a new app version in its URLs)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image

from tests.browser.helpers import TIMEOUT_MS, admin_sign_in, screenshot

SLUG = "mare"
NEW_PRIMARY = "#5B2A86"


def test_a_new_colour_and_logo_reach_the_shoppers_app(live_server, playwright, tmp_path: Path) -> None:
    from tests.browser.helpers import ARGS, CHROMIUM

    manager = f"gestor-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    logo = tmp_path / "novo-logo.png"
    image = Image.new("RGB", (600, 600), NEW_PRIMARY)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    logo.write_bytes(buffer.getvalue())

    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        context = browser.new_context(locale="pt-BR")
        context.set_default_timeout(TIMEOUT_MS)
        shopper = context.new_page()
        shopper.goto(live_server.url(SLUG, "/"))
        before = shopper.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--primary')")
        logo_before = shopper.locator(".brand-mark img").get_attribute("src")
        assert before.strip().lower() != NEW_PRIMARY.lower()

        admin = context.new_page()
        admin_sign_in(admin, live_server, manager)
        admin.goto(live_server.url(None, f"/admin/b/{SLUG}/branding"))
        admin.fill("#f-primary", NEW_PRIMARY.lower())
        # The live preview follows the colour being chosen, with the contrast of its text.
        bar = admin.evaluate("getComputedStyle(document.getElementById('preview-bar')).backgroundColor")
        assert bar == "rgb(91, 42, 134)", bar
        assert "4,5:1" in admin.locator("#contrast-status").inner_text()
        admin.fill("#f-accent", "#777777")
        assert "será recusado" in admin.locator("#contrast-status").inner_text()
        admin.fill("#f-accent", "#f26b5b")  # back to the brand's own
        admin.set_input_files("#f-logo", str(logo))
        with admin.expect_navigation():
            admin.click('form[action$="/branding"] button[value="save"]')
        assert admin.url.endswith(f"/admin/b/{SLUG}/branding?done=saved"), admin.url  # and says so
        assert admin.locator("#f-primary").input_value() == NEW_PRIMARY.lower()

        shopper.reload()
        after = shopper.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--primary')")
        assert after.strip().lower() == NEW_PRIMARY.lower()
        logo_after = shopper.locator(".brand-mark img").get_attribute("src")
        assert logo_after != logo_before  # a new app version: browsers and the service worker fetch it anew
        pixel = shopper.evaluate(
            """() => { const img = document.querySelector('.brand-mark img');
                 const c = document.createElement('canvas'); c.width = c.height = 1;
                 const g = c.getContext('2d'); g.drawImage(img, 0, 0, 1, 1);
                 return Array.from(g.getImageData(0, 0, 1, 1).data).slice(0, 3); }"""
        )
        assert pixel == [0x5B, 0x2A, 0x86], pixel  # the new logo's colour
        screenshot(shopper, tmp_path / "rebranded.png")
    finally:
        browser.close()
