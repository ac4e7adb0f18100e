"""In Chromium, at the counter: a clerk scans a voucher's QR code with the camera and uses it.

Headless Chromium on Linux has no BarcodeDetector (Android, macOS and ChromeOS do), so the page is
given a stand-in detector that answers with the voucher's code only once it is handed a live video
element with frames from the camera (Chromium's fake camera device). What is tested is our side:
the button appears only where a detector exists, the camera opens, the code read fills the field,
the camera is released, and the voucher is used. Without a detector the button stays hidden."""

from __future__ import annotations

import re
import uuid

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in, eventually, screenshot

SLUG = "bella"
STAND_IN = """
window.__detected = [];
window.BarcodeDetector = class {
  constructor(options) { window.__formats = options.formats; }
  static async getSupportedFormats() { return ["qr_code", "ean_13"]; }
  async detect(source) {
    const live = source instanceof HTMLVideoElement && source.srcObject && source.videoWidth > 0
      && source.srcObject.getVideoTracks().every((t) => t.readyState === "live");
    if (!live || !window.__code) return [];
    window.__detected.push(source.videoWidth);
    return [{ rawValue: window.__code, format: "qr_code" }];
  }
};
"""


def test_a_voucher_is_scanned_with_the_camera_and_used(live_server, playwright, tmp_path) -> None:
    clerk = f"caixa-{uuid.uuid4().hex[:6]}@staff.example"
    shopper = f"cliente-{uuid.uuid4().hex[:6]}@example.com"
    live_server.cli("staff", "add", clerk, "--brand", SLUG, "--role", "operator")
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS + camera)
    try:
        plain = browser.new_context(locale="pt-BR")
        plain.set_default_timeout(TIMEOUT_MS)
        page = plain.new_page()
        admin_sign_in(page, live_server, clerk)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/counter"))
        page.fill("#sale-customer", shopper)
        page.fill("#sale-total", "120,00")
        with page.expect_navigation():
            page.click("#sale-form button[type=submit]")
        assert page.locator("#counter-recorded").is_visible()
        panel = page.locator("#customer-panel").inner_text()
        code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}", panel)[0]
        assert page.locator("#scan-button").is_hidden()  # no BarcodeDetector in this browser
        cookies = plain.cookies()

        scanning = browser.new_context(locale="pt-BR", permissions=["camera"])
        scanning.set_default_timeout(TIMEOUT_MS)
        scanning.add_cookies(cookies)
        scanning.add_init_script(STAND_IN)
        till = scanning.new_page()
        till.goto(live_server.url(None, f"/admin/b/{SLUG}/counter"))
        till.evaluate("(code) => { window.__code = code; }", code)
        till.click("#scan-button")
        eventually(till, "document.getElementById('voucher-code').value !== ''")
        assert till.input_value("#voucher-code") == code
        assert till.evaluate("window.__formats") == ["qr_code"]
        assert till.evaluate("window.__detected")[0] > 0  # it was handed frames from the camera
        assert till.locator("#scanner").is_hidden()  # the camera is released
        assert till.evaluate("document.getElementById('scanner-video').srcObject") is None
        assert code in till.locator("#scan-status").inner_text()
        till.fill("#voucher-total", "80,00")
        with till.expect_navigation():
            till.click("#voucher-use-button")
        assert code in till.locator("#counter-voucher").inner_text()
        screenshot(till, tmp_path / "counter.png")
    finally:
        browser.close()


def test_a_customer_is_registered_by_phone_on_a_phone_at_the_till(live_server, playwright) -> None:
    """The search opens the digit keyboard; a phone number not found offers the registration, which
    comes back to the counter with the customer (the "+" of +55 kept in the address, no 404 loop);
    the result is scrolled to, focused for a screen reader, and the e-mail keyboard is a tap away."""
    clerk = f"caixa-{uuid.uuid4().hex[:6]}@staff.example"
    digits = "119" + str(uuid.uuid4().int)[:8]
    live_server.cli("staff", "add", clerk, "--brand", SLUG, "--role", "operator")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        phone = browser.new_context(
            locale="pt-BR", viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
        )
        phone.set_default_timeout(TIMEOUT_MS)
        page = phone.new_page()
        admin_sign_in(page, live_server, clerk)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/counter"))
        assert page.get_attribute("#q", "inputmode") == "tel"
        page.fill("#q", f"({digits[:2]}) {digits[2:7]}-{digits[7:]}")
        with page.expect_navigation():
            page.click("#search-form button[type=submit]")
        assert page.locator("#counter-error").is_visible()
        page.fill("#reg-name", "Rita Telefone")
        with page.expect_navigation():
            page.click("#register-form button[type=submit]")
        assert f"q=%2B55{digits}" in page.url and page.url.endswith("#counter-result")
        assert page.locator("#counter-registered").is_visible()
        assert "Rita Telefone" in page.locator("#customer-panel").inner_text()
        assert page.locator("#counter-error").count() == 0
        assert page.evaluate("document.activeElement.id") == "counter-result"
        assert page.input_value("#q") == f"+55{digits}"
        page.fill("#sale-total", "50,00")
        with page.expect_navigation():
            page.click("#sale-form button[type=submit]")
        assert page.locator("#counter-recorded").is_visible()
        top = page.evaluate("document.getElementById('counter-result').getBoundingClientRect().top")
        assert 0 <= top < 844  # in view
        page.click("#q-kind a[data-inputmode=email]")
        assert page.get_attribute("#q", "inputmode") == "email"
        assert page.evaluate("document.activeElement.id") == "q"
    finally:
        browser.close()
