"""The shopper app's shell in Chromium: the greeting and the tab bar on every signed-in page with the
current tab marked, a way back on sub-pages, no Content-Security-Policy violation, and the join form
keeping what was ticked after the server refused it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, join_with_code, newest_code, sales_for

# Each signed-in page: the tab it belongs to, and where its back link goes (None: a tab's own page).
PAGES = {
    "/": ("home", None),
    "/statement": ("statement", None),
    "/statement?kind=earn": ("statement", None),
    "/vouchers": ("vouchers", None),
    "/invite": ("invite", None),
    "/account": ("account", None),
    "/account/security": ("account", "/account"),
    "/account/notifications": ("account", "/account"),
    "/account/delete": ("account", "/account"),
    "/help": ("account", "/account"),
    "/regulations": ("account", "/account"),
}
TABS = {
    "bella": ["home", "statement", "vouchers", "invite", "account"],
    "mare": ["home", "statement", "vouchers", "account"],
}


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    yield browser
    browser.close()


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="pt-BR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _csp_violations(page: Page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


@pytest.mark.parametrize("slug", ["bella", "mare"])
def test_every_signed_in_page_has_the_tab_bar_with_its_tab_marked_and_a_way_back(
    slug: str, browser: Browser, live_server
) -> None:
    context = _context(browser)
    page = context.new_page()
    violations = _csp_violations(page)
    try:
        page.goto(live_server.url(slug, "/"))
        assert page.locator(".tab-bar").count() == 0  # signed out: the pitch, no tabs
        assert page.locator("main a.button[href='/join']").count() == 1
        email = f"shell-{uuid.uuid4().hex[:8]}@example.com"
        sales_for(live_server, slug, email, f"SHELL-{slug}-{uuid.uuid4().hex[:4]}")
        join_with_code(page, live_server, slug, "Ana Maria Souza", email)

        for path, (tab, parent) in PAGES.items():
            if tab not in TABS[slug]:
                continue
            response = page.goto(live_server.url(slug, path))
            assert response is not None and response.status == 200, path
            assert page.locator(".greeting").inner_text().strip() == "Olá, Ana", path
            bar = page.locator("nav.tab-bar")
            assert bar.is_visible(), path
            assert bar.locator("a.tab").evaluate_all("els => els.map(e => e.dataset.tab)") == TABS[slug], path
            current = bar.locator("a.tab[aria-current]")
            assert current.count() == 1, path
            assert current.get_attribute("data-tab") == tab, path
            assert current.get_attribute("aria-current") == ("page" if parent is None else "true"), path
            assert bar.locator("svg[aria-hidden='true']").count() == len(TABS[slug]), path
            back = page.locator("#back-link")
            if parent is None:
                assert back.count() == 0, path
            else:
                assert back.get_attribute("href") == parent, path
                assert back.inner_text().strip() == "Voltar", path
        # The back link and the tabs lead where they say.
        page.goto(live_server.url(slug, "/account/security"))
        with page.expect_navigation():
            page.click("#back-link")
        assert page.url == live_server.url(slug, "/account")
        with page.expect_navigation():
            page.click("nav.tab-bar a[data-tab='statement']")
        assert page.url == live_server.url(slug, "/statement")
        assert page.locator("a.tab[aria-current='page']").get_attribute("data-tab") == "statement"
        # The language switch in the footer still works from inside the shell.
        page.select_option("#lang-select", "en")
        with page.expect_navigation():
            page.click("form.lang-switch button[type=submit]")
        assert page.url == live_server.url(slug, "/statement")
        assert page.locator(".greeting").inner_text().strip() == "Hello, Ana"
        assert page.locator("a.tab[data-tab='home']").inner_text().strip() == "Home"
    finally:
        context.close()
    assert violations == []


def test_signed_out_sub_pages_go_back_home(browser: Browser, live_server) -> None:
    context = _context(browser)
    page = context.new_page()
    try:
        for path in ("/help", "/regulations", "/join", "/login"):
            page.goto(live_server.url("bella", path))
            assert page.locator("#back-link").get_attribute("href") == "/", path
            assert page.locator(".tab-bar").count() == 0, path
    finally:
        context.close()


def test_the_join_form_keeps_its_ticked_boxes_after_an_error(browser: Browser, live_server) -> None:
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(live_server.url("bella", "/join"))
        page.fill("#name", "   ")  # passes the browser's `required`, refused by the server
        page.fill("#email", "caio@example.com")
        page.check('input[name="accept"]')
        page.check('input[name="marketing"]')
        with page.expect_navigation():
            page.click('form[action="/join"] button[type="submit"]')
        assert page.locator(".form-error").is_visible()
        assert page.locator('input[name="accept"]').is_checked()
        assert page.locator('input[name="marketing"]').is_checked()
        assert page.input_value("#email") == "caio@example.com"
        # Unticked stays unticked.
        page.fill("#name", "   ")
        page.uncheck('input[name="marketing"]')
        with page.expect_navigation():
            page.click('form[action="/join"] button[type="submit"]')
        assert page.locator('input[name="accept"]').is_checked()
        assert not page.locator('input[name="marketing"]').is_checked()
    finally:
        context.close()


def _mails_to(context: BrowserContext, live_server, email: str) -> int:
    mailbox = context.new_page()
    try:
        mailbox.goto(live_server.url(None, "/dev/mailbox"))
        return mailbox.locator("article.mail").filter(has=mailbox.locator(".mail-to", has_text=email)).count()
    finally:
        mailbox.close()


def test_the_code_page_sends_a_new_code_and_offers_another_address(browser: Browser, live_server) -> None:
    """After /join, "Reenviar código" asks /join again with what the form said (a new account gets
    its name from it); a wrong code first does not lose it. "Usar outro e-mail" goes back to the form."""
    context = _context(browser)
    page = context.new_page()
    email = f"resend-{uuid.uuid4().hex[:8]}@example.com"
    try:
        page.goto(live_server.url("bella", "/join"))
        page.fill("#name", "Rita Reenvio")
        page.fill("#email", email)
        page.check('input[name="accept"]')
        with page.expect_navigation():
            page.click('form[action="/join"] button[type="submit"]')
        assert page.locator("#other-email").get_attribute("href") == "/join"
        page.fill("#code", "000000")
        with page.expect_navigation():
            page.click('form[action="/login/verify"] button[type="submit"]')
        assert page.locator(".form-error").is_visible()
        assert _mails_to(context, live_server, email) == 1
        with page.expect_navigation():
            page.click("#resend-code button[type=submit]")
        assert page.locator("#code").is_visible()
        assert _mails_to(context, live_server, email) == 2
        page.fill("#code", newest_code(context, live_server.url(None, "/dev/mailbox"), email))
        with page.expect_navigation():
            page.click('form[action="/login/verify"] button[type="submit"]')
        page.goto(live_server.url("bella", "/"))
        assert page.locator(".greeting").inner_text().strip() == "Olá, Rita"
        # Signing in (not joining): the other address goes back to the sign-in form.
        page.goto(live_server.url("bella", "/account/security"))
        with page.expect_navigation():
            page.click("#sign-out")
        page.goto(live_server.url("bella", "/login"))
        page.fill("#email", email)
        with page.expect_navigation():
            page.click('form[action="/login"] button[type="submit"]')
        assert page.locator("#resend-code").get_attribute("action") == "/login"
        with page.expect_navigation():
            page.click("#other-email")
        assert page.url.startswith(live_server.url("bella", "/login"))
    finally:
        context.close()


@pytest.mark.parametrize("slug", ["bella", "mare"])
def test_the_dark_scheme_keeps_contrast(slug: str, browser: Browser, live_server) -> None:
    """With the device in dark mode the shopper's pages change colours; axe still finds every text
    readable (WCAG AA contrast) on the signed-out and signed-in pages."""
    from tests.browser.test_accessibility import audit

    context = browser.new_context(
        bypass_csp=True, color_scheme="dark", locale="pt-BR", viewport={"width": 390, "height": 844}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    try:
        for path in ("/", "/join", "/help"):
            problems += audit(page, live_server.url(slug, path))
        assert page.evaluate("getComputedStyle(document.body).colorScheme") == "dark"
        email = f"dark-{uuid.uuid4().hex[:8]}@example.com"
        sales_for(live_server, slug, email, f"DARK-{slug}-{uuid.uuid4().hex[:4]}")
        join_with_code(page, live_server, slug, "Duda Escura", email)
        for path in ("/", "/statement", "/vouchers", "/account", "/account/notifications", "/account/delete"):
            problems += audit(page, live_server.url(slug, path))
    finally:
        context.close()
    assert problems == [], "\n".join(problems)
