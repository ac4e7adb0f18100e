"""Headless Chromium with CDP's virtual authenticator: join, create a passkey, sign out, sign back in."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.helpers import TIMEOUT_MS, first_page, newest_code, screenshot

SLUG = "bella"
RP_ID = "bella.localhost"
NO_PASSKEY = "Nenhuma passkey ainda."
LAST_USED_NEVER = "Último uso: nunca"
CONDITIONAL_START = "log: webauthn get conditional start"
NO_AUTOFILL = (
    "if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = undefined;"
)

# Test-side instrumentation only (the app is untouched): log each navigator.credentials call and how
# it ended to the console, which the test collects across navigations.
WEBAUTHN_PROBE = """
(() => {
  if (!navigator.credentials) return;
  for (const method of ["create", "get"]) {
    const original = navigator.credentials[method].bind(navigator.credentials);
    navigator.credentials[method] = (options) => {
      const mediation = (options && options.mediation) || "-";
      console.log(`webauthn ${method} ${mediation} start`);
      const promise = original(options);
      promise.then(
        () => console.log(`webauthn ${method} ${mediation} ok`),
        (e) => console.log(`webauthn ${method} ${mediation} ${e.name}: ${e.message}`),
      );
      return promise;
    };
  }
})();
"""


@pytest.fixture
def context(open_context) -> BrowserContext:
    return open_context("passkeys")


def virtual_authenticator(cdp: CDPSession) -> str:
    cdp.send("WebAuthn.enable")
    return cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]


def click_and_wait_for_navigation(page: Page, selector: str, log: list[str]) -> None:
    """Click a passkey button and wait for the page it loads; on failure, say what the page showed."""
    try:
        with page.expect_navigation(timeout=TIMEOUT_MS):
            page.click(selector)
    except PlaywrightTimeout:
        error = page.locator("#passkey-error")
        shown = error.inner_text() if error.count() and error.is_visible() else "(no error shown)"
        pytest.fail(f"{selector}: no navigation; #passkey-error: {shown}; console: {log}")


def passkey_items(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("ul.passkey-list > li").all_inner_texts()]


def set_presence(cdp: CDPSession, authenticator: str, enabled: bool) -> None:
    """With presence simulated, the virtual authenticator answers even a conditional (autofill)
    request at once, as if the user had picked the passkey; without it, that request stays pending,
    as it does in a real browser until the user picks from the autofill list."""
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": enabled}
    )


class Journey:
    """A browser with a virtual authenticator, and a log of its navigations, passkey requests,
    navigator.credentials calls and console errors (what a failure message shows)."""

    def __init__(self, live_server, context: BrowserContext, tmp_path: Path) -> None:
        self.live_server, self.context, self.tmp_path = live_server, context, tmp_path
        self.log: list[str] = []
        self.page = page = first_page(context)
        page.on(
            "console",
            lambda m: (
                self.log.append(f"{m.type}: {m.text}") if m.type == "error" or "webauthn" in m.text else None
            ),
        )
        page.on("pageerror", lambda e: self.log.append(f"pageerror: {e}"))
        page.on(
            "framenavigated", lambda f: self.log.append(f"nav: {f.url}") if f == page.main_frame else None
        )
        page.on(
            "request", lambda r: self.log.append(f"{r.method} {r.url}") if "/passkeys/" in r.url else None
        )
        context.add_init_script(WEBAUTHN_PROBE)
        self.cdp = context.new_cdp_session(page)
        self.authenticator = virtual_authenticator(self.cdp)

    def url(self, path: str) -> str:
        return self.live_server.url(SLUG, path)

    def join_create_passkey_and_sign_out(self) -> None:
        page = self.page
        # Join: name, a fresh address, the regulations.
        email = f"passkey-{uuid.uuid4().hex[:12]}@example.com"
        page.goto(self.url("/join"))
        page.fill("#name", "Ana Passkey")
        page.fill("#email", email)
        page.check('input[name="accept"]')
        screenshot(page, self.tmp_path / "join.png")
        page.click('form[action="/join"] button[type="submit"]')
        page.wait_for_selector("#code")

        # The code from the development mailbox, on the verify page: a passkey is offered.
        page.fill("#code", newest_code(self.context, self.live_server.url(None, "/dev/mailbox"), email))
        with page.expect_navigation():
            page.click('form[action="/login/verify"] button[type="submit"]')
        assert page.url == self.url("/account/security?offer=1"), page.url
        assert passkey_items(page) == [NO_PASSKEY]

        # Create a passkey: the page reloads and lists it; the authenticator holds it for the brand host.
        page.wait_for_selector("#passkey-create", state="visible")
        click_and_wait_for_navigation(page, "#passkey-create", self.log)
        page.wait_for_selector("ul.passkey-list > li form")
        items = passkey_items(page)
        assert len(items) == 1 and NO_PASSKEY not in items[0], items
        assert LAST_USED_NEVER in items[0], items
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})
        credentials = found["credentials"]
        assert len(credentials) == 1, credentials
        assert credentials[0]["isResidentCredential"] is True
        assert credentials[0]["rpId"] == RP_ID
        screenshot(page, self.tmp_path / "security-with-passkey.png")

        # Sign out: back on /, and the security page sends to /login. Presence is off meanwhile, so
        # the autofill request on that /login page cannot sign in behind the test's back.
        with page.expect_navigation():
            page.click("#sign-out")
        assert page.url == self.url("/"), page.url
        set_presence(self.cdp, self.authenticator, False)
        page.goto(self.url("/account/security"))
        assert page.url == self.url("/login?next=%2Faccount%2Fsecurity"), page.url
        page.wait_for_timeout(500)
        assert page.url == self.url("/login?next=%2Faccount%2Fsecurity"), self.log

    def assert_signed_in_with_passkey(self) -> None:
        page = self.page
        page.goto(self.url("/account/security"))
        assert page.url == self.url("/account/security"), (page.url, self.log)
        items = passkey_items(page)
        assert len(items) == 1 and "Último uso:" in items[0], items
        assert LAST_USED_NEVER not in items[0], items
        screenshot(page, self.tmp_path / "signed-in.png")
        for name in ("join.png", "security-with-passkey.png", "signed-in.png"):
            assert (self.tmp_path / name).stat().st_size > 0, name


def test_passkey_autofill_sign_in(live_server, context, tmp_path: Path) -> None:
    """Join, create a passkey, sign out; on /login the autofill request signs in by itself (the
    virtual authenticator stands in for the user picking the passkey from the autofill list)."""
    journey = Journey(live_server, context, tmp_path)
    journey.join_create_passkey_and_sign_out()
    page = journey.page

    set_presence(journey.cdp, journey.authenticator, True)
    page.goto(journey.url("/login"))
    page.wait_for_url(journey.url("/"))
    assert any("webauthn get conditional ok" in line for line in journey.log), journey.log
    journey.assert_signed_in_with_passkey()


@pytest.mark.parametrize("autofill", ["unsupported", "pending"])
def test_passkey_button_sign_in(autofill: str, live_server, context, tmp_path: Path) -> None:
    """Join, create a passkey, sign out; on /login the "Entrar com passkey" button signs in, in a
    browser without autofill for passkeys ("unsupported", simulated by the test) and in one where
    the autofill request is pending because the user has not picked anything from it ("pending")."""
    if autofill == "unsupported":
        context.add_init_script(NO_AUTOFILL)
    journey = Journey(live_server, context, tmp_path)
    journey.join_create_passkey_and_sign_out()
    page, log = journey.page, journey.log

    started = log.count(CONDITIONAL_START)
    page.goto(journey.url("/login"))
    page.wait_for_selector("#passkey-sign-in", state="visible")
    assert page.locator("#passkey-sign-in").inner_text().strip() == "Entrar com passkey"
    if autofill == "pending":
        assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()")
        # Wait until this page's autofill request is inside navigator.credentials.get.
        for _ in range(50):
            if log.count(CONDITIONAL_START) > started:
                break
            page.wait_for_timeout(100)
        assert log.count(CONDITIONAL_START) > started, journey.log
    # Let the authenticator answer again: an autofill request already pending stays pending.
    set_presence(journey.cdp, journey.authenticator, True)
    page.wait_for_timeout(500)
    assert page.url == journey.url("/login"), ("signed in before the click", journey.log)
    if autofill == "unsupported":
        assert log.count(CONDITIONAL_START) == started, journey.log

    click_and_wait_for_navigation(page, "#passkey-sign-in", log)
    page.wait_for_load_state()
    assert page.url == journey.url("/"), page.url
    assert not any("already pending" in line for line in log), journey.log
    assert any("webauthn get optional ok" in line for line in log), journey.log
    journey.assert_signed_in_with_passkey()


@pytest.mark.parametrize(
    "redirect", ["/\\evil.example/phish", "//evil.example/phish", "http://evil.example/x"]
)
def test_passkey_js_never_follows_a_redirect_off_this_host(
    redirect: str, live_server, context, tmp_path: Path
) -> None:
    """Even if the server's answer named another host (the server checks `next` itself), the
    page that signed in with a passkey stays on the brand's own host."""
    journey = Journey(live_server, context, tmp_path)
    journey.join_create_passkey_and_sign_out()
    page = journey.page

    def forged(route) -> None:
        # The real sign-in (its session cookie included), its redirect replaced. Playwright's own
        # fetch does not resolve *.localhost, so it goes to 127.0.0.1 with the brand's Host.
        request = route.request
        host = request.url.split("/")[2]
        answer = route.fetch(
            url=request.url.replace(host, f"127.0.0.1:{live_server.port}"),
            headers={**request.headers, "host": host},
        )
        route.fulfill(response=answer, json={"redirect": redirect})

    page.route("**/passkeys/authenticate", forged)
    set_presence(journey.cdp, journey.authenticator, True)
    page.goto(journey.url("/login"))
    page.wait_for_url(journey.url("/"))
    page.wait_for_timeout(300)
    assert page.url == journey.url("/"), (page.url, journey.log)
    assert not any("evil.example" in line for line in journey.log if line.startswith("nav:")), journey.log
