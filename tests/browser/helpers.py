"""What the browser tests share: Chromium's settings, the demo brands, and steps of a shopper's visit."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000
BRANDS = {
    "bella": {"name": "Bella Cosméticos", "primary": "#8E2453"},
    "mare": {"name": "Maré Moda", "primary": "#0B4F6C"},
}
OFFLINE_TITLE = "Você está sem conexão"
CODE = re.compile(r"\b(\d{6})\b")


def first_page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else context.new_page()


def eventually(page: Page, expression: str, timeout_ms: int = TIMEOUT_MS) -> object:
    """Evaluate an (async) expression until it is truthy. page.wait_for_function does not await a
    Promise (a pending Promise counts as truthy), so promise-based conditions are polled here."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(100)


def controlled(page: Page, url: str) -> None:
    """Open url, wait for the service worker to activate, then reload so it controls the page."""
    page.goto(url)
    state = eventually(
        page,
        "navigator.serviceWorker.getRegistration()"
        ".then(r => Boolean(r && r.active && r.active.state === 'activated'))",
    )
    assert state, f"the service worker did not activate on {url}"
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=TIMEOUT_MS)
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)") == "activated"
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def installability_errors(page: Page) -> list:
    """Page.getInstallabilityErrors, polled briefly: the manifest and icons load asynchronously."""
    cdp = page.context.new_cdp_session(page)
    try:
        errors: list = []
        for _ in range(20):
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors:
                break
            page.wait_for_timeout(500)
        return errors
    finally:
        cdp.detach()


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.exists()
    assert path.stat().st_size > 0


def newest_code(context: BrowserContext, mailbox_url: str, email: str) -> str:
    """The code in the newest mail to email, read from the development mailbox in another page."""
    mailbox = context.new_page()
    try:
        mailbox.goto(mailbox_url)
        mails = mailbox.locator("article.mail").filter(has=mailbox.locator(".mail-to", has_text=email))
        assert mails.count() > 0, f"no mail to {email} in the development mailbox"
        text = mails.first.locator(".mail-text").inner_text()  # newest first
        found = CODE.search(text)
        assert found, f"no 6-digit code in the mail to {email}: {text!r}"
        return found.group(1)
    finally:
        mailbox.close()


def join_with_code(page: Page, live_server, slug: str, name: str, email: str) -> None:
    """Join `slug`'s programme with the code from the development mailbox; lands signed in."""
    page.goto(live_server.url(slug, "/join"))
    page.fill("#name", name)
    page.fill("#email", email)
    page.check('input[name="accept"]')
    page.click('form[action="/join"] button[type="submit"]')
    page.wait_for_selector("#code")
    page.fill("#code", newest_code(page.context, live_server.url(None, "/dev/mailbox"), email))
    with page.expect_navigation():
        page.click('form[action="/login/verify"] button[type="submit"]')


def sales_for(live_server, slug: str, email: str, prefix: str) -> dict:
    """Two sales through the integration API, one past its return window and one still pending;
    returns the shopper's balance as the API reports it."""
    key = live_server.cli("apikeys", "create", slug).strip().splitlines()[-1]
    api = httpx.Client(
        base_url=live_server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}, timeout=10
    )
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=45)).isoformat()
    for order_id, total, occurred_at in [(f"{prefix}-1", 35000, old), (f"{prefix}-2", 8000, None)]:
        body = {"order_id": order_id, "customer": {"email": email}, "total": total}
        if occurred_at:
            body["occurred_at"] = occurred_at
        assert api.post("/sales", json=body).status_code == 201
    balance = api.get(f"/customers/email:{email}/balance").json()
    assert balance["available"] > 0 and balance["pending"] > 0, balance
    return balance


def admin_sign_in(page: Page, live_server, email: str) -> None:
    """Sign a staff member in to the admin with the code from the development mailbox."""
    page.goto(live_server.url(None, "/admin/login"))
    page.fill("#email", email)
    page.click('form[action="/admin/login"] button[type="submit"]')
    page.wait_for_selector("#code")
    page.fill("#code", newest_code(page.context, live_server.url(None, "/dev/mailbox"), email))
    with page.expect_navigation():
        page.click('form[action="/admin/login/verify"] button[type="submit"]')
