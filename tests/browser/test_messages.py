"""In Chromium, end to end on a live server (`retorno serve` with its worker): a manager sets the
messages up in the admin, a shopper who accepted e-mail gets one after a purchase, follows its
unsubscribe link, confirms, and the account page shows e-mail refused, by that link."""

from __future__ import annotations

import re
import time
import uuid

import httpx

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in, newest_code
from tests.browser.test_accessibility import audit

UNSUBSCRIBE = re.compile(r"(http://bella\.localhost:\d+/unsubscribe/[A-Za-z0-9_-]+)")


def _wait_for_mail(page, mailbox_url: str, email: str, subject: str) -> str:
    """The text of the newest mail to `email` with `subject`, once the worker has sent it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(mailbox_url)
        mails = page.locator("article.mail").filter(has=page.locator(".mail-to", has_text=email))
        for i in range(mails.count()):
            if subject in mails.nth(i).locator("h2").inner_text():
                return mails.nth(i).locator(".mail-text").inner_text()
        page.wait_for_timeout(500)
    raise AssertionError(f"no mail {subject!r} to {email} within 30 s")


def test_a_shopper_unsubscribes_from_an_email_with_its_link(live_server, playwright) -> None:
    manager = f"gerente-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", "bella", "--role", "manager")
    shopper = f"lia-{uuid.uuid4().hex[:6]}@example.com"
    mailbox = live_server.url(None, "/dev/mailbox")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        admin = browser.new_context(locale="pt-BR")
        admin.set_default_timeout(TIMEOUT_MS)
        page = admin.new_page()
        admin_sign_in(page, live_server, manager)
        # No quiet hours for this test (it may run at night in São Paulo): from 00:00 to 00:00.
        page.goto(live_server.url(None, "/admin/b/bella/messages"))
        page.fill("#quiet-start", "00:00")
        page.fill("#quiet-end", "00:00")
        with page.expect_navigation():
            page.click("#message-settings button[type=submit]")
        assert page.locator("#flash").inner_text() == "Salvo."
        # The credit's e-mail goes first by e-mail: the shopper has no device.
        page.goto(live_server.url(None, "/admin/b/bella/messages/cashback.credited"))
        page.select_option("#channel-0", "email")
        page.select_option("#channel-1", "")
        page.select_option("#channel-2", "")
        with page.expect_navigation():
            page.click("#automation-form button[type=submit]")
        assert page.locator("#flash").is_visible()
        assert "de cashback creditado na Bella" in page.locator("#preview-subject").inner_text()

        context = browser.new_context(locale="pt-BR", bypass_csp=True)  # axe is injected below
        context.set_default_timeout(TIMEOUT_MS)
        app = context.new_page()
        app.goto(live_server.url("bella", "/join"))
        app.fill("#name", "Lia Castro")
        app.fill("#email", shopper)
        app.check('input[name="accept"]')
        app.check('input[name="marketing"]')  # news and offers: by notification and by e-mail
        app.click('form[action="/join"] button[type="submit"]')
        app.wait_for_selector("#code")
        app.fill("#code", newest_code(context, mailbox, shopper))
        with app.expect_navigation():
            app.click('form[action="/login/verify"] button[type="submit"]')

        key = live_server.cli("apikeys", "create", "bella").strip().splitlines()[-1]
        sale = {"order_id": f"LIA-{uuid.uuid4().hex[:6]}", "customer": {"email": shopper}, "total": 4990}
        answer = httpx.post(
            live_server.url(None, "/api/v1/sales"), json=sale, headers={"authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 201, answer.text

        text = _wait_for_mail(app, mailbox, shopper, "de cashback creditado na Bella")
        assert "Olá, Lia!" in text
        link = UNSUBSCRIBE.search(text)
        assert link, text
        problems = audit(app, link.group(1))
        assert "Parar de receber mensagens da Bella Cosméticos por e-mail?" in app.inner_text("main")
        with app.expect_navigation():
            app.click("#unsubscribe")
        assert "não vai mais enviar mensagens por e-mail" in app.locator("#unsubscribed").inner_text()
        problems += audit(app)

        app.goto(live_server.url("bella", "/account"))
        assert not app.locator('input[name="email"]').is_checked()
        assert app.locator('input[name="push"]').is_checked()
        assert "por um link de descadastro" in app.inner_text("#consents-title + form")
        problems += audit(app)
        assert problems == []
    finally:
        browser.close()
