"""Every page of the shopper's app, for both demo brands, through axe-core in Chromium: no serious or
critical violation (WCAG 2.2 A/AA and axe's best practices), touch targets of at least 44 px, and a
visible focus ring on everything the keyboard reaches.

axe-core comes from the npm registry (package.json at the top; `make test` runs `npm ci`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright

from tests.browser.helpers import (
    ARGS,
    BRANDS,
    CHROMIUM,
    TIMEOUT_MS,
    eventually,
    join_with_code,
    sales_for,
)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
PUBLIC = ["/", "/login", "/join", "/regulations", "/help", "/offline", "/nao-existe"]
SIGNED_IN = [
    "/",
    "/statement",
    "/statement?kind=earn",
    "/vouchers",
    "/invite",
    "/club",
    "/club/1",  # bella's first demo benefit (a pass to show at the partner); mare has none: a 404
    "/points",  # bella's points and catalogue; mare gives no points: a 404
    "/account",
    "/account/security",
    "/account/delete",
    "/account/notifications",
]

# Controls a finger must hit: at least 44 x 44 CSS px (links inside running text are exempt).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, select, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), .button, nav a')]
  .filter(el => el.offsetParent !== null)
  .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect()])
  .filter(([, r]) => r.width < 44 || r.height < 44)
  .map(([html, r]) => `${html} is ${Math.round(r.width)}x${Math.round(r.height)}`)"""

# What the keyboard reaches must show where it is: an outline or a box shadow while focused.
NO_FOCUS_RING = """() => {
  const focusable = [...document.querySelectorAll('a[href], button, select, input:not([type=hidden])')]
    .filter(el => el.offsetParent !== null);
  return focusable.filter(el => {
    el.focus({ focusVisible: true });
    const style = getComputedStyle(el);
    return document.activeElement === el && style.outlineStyle === 'none' && style.boxShadow === 'none';
  }).map(el => el.outerHTML.slice(0, 80));
}"""


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    yield browser
    browser.close()


def audit(page: Page, url: str | None = None) -> list[str]:
    """What is wrong with the page at url (or the page as it is), one line per problem."""
    if url is not None:
        response = page.goto(url)
        assert response is not None and response.status in (200, 404), (url, response and response.status)
    url = url or f"{page.url} (after a form)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })",
        TAGS,
    )
    problems = [
        f"{url}: {v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    problems += [f"{url}: small touch target: {t}" for t in page.evaluate(SMALL_TARGETS)]
    problems += [f"{url}: no visible focus: {t}" for t in page.evaluate(NO_FOCUS_RING)]
    return problems


@pytest.mark.parametrize("slug", list(BRANDS))
def test_every_page_passes_axe_with_large_targets_and_visible_focus(slug, browser, live_server) -> None:
    # bypass_csp: the page's CSP rightly refuses the injected axe script.
    context = browser.new_context(locale="pt-BR", bypass_csp=True, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    try:
        for path in PUBLIC:
            problems += audit(page, live_server.url(slug, path))
        page.goto(live_server.url(slug, "/login"))
        page.fill("#email", "ninguem@example.com")
        page.click('form[action="/login"] button[type="submit"]')
        page.wait_for_selector("#code")
        problems += audit(page)  # the page asking for the code
        email = f"a11y-{uuid.uuid4().hex[:8]}@example.com"
        sales_for(live_server, slug, email, f"A11Y-{slug}")
        join_with_code(page, live_server, slug, "Ana Acessível", email)
        for path in SIGNED_IN:
            problems += audit(page, live_server.url(slug, path))
        invitation = page.locator("#invite-link")
        page.goto(live_server.url(slug, "/invite"))
        if invitation.count():  # brands with a referral programme: the friend's landing page too
            problems += audit(page, invitation.input_value())
        context.add_cookies([{"name": "lang", "value": "en", "url": live_server.url(slug, "/")}])
        for path in ("/", "/statement", "/help"):
            problems += audit(page, live_server.url(slug, path))
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def test_the_admin_sign_in_and_the_api_reference_pass_axe(browser, live_server) -> None:
    context = browser.new_context(locale="pt-BR", bypass_csp=True, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        problems = (
            audit(page, live_server.url(None, "/admin/login"))
            + audit(page, live_server.url(None, "/"))
            + audit(page, live_server.url(None, "/api/docs"))
        )
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


# Every admin page a staff member can open (GET routes under /admin/b/<slug>), with what fills it.
ADMIN_PAGES = {
    "": "/",
    "/counter": "/counter",
    "/logo.png": "",  # the sidebar's image
    "/banner.png": "",  # the branding page's image
    "/customers": "/customers?q=a11y",
    "/customers/{customer_id:int}": None,  # opened from the search
    "/referrals": "/referrals",
    "/campaigns": "/campaigns",
    "/campaigns/{campaign_id:int}": None,  # opened by sending one
    "/coupons": "/coupons",
    "/coupons/{code:str}": "/coupons/BEMVINDA10",  # a demo coupon
    "/club": "/club",
    "/club/new": "/club/new",
    "/club/{benefit_id:int}": "/club/1",  # the demo's first benefit
    "/club/{benefit_id:int}/image.jpg": "",  # a benefit's picture
    "/points": "/points",
    "/points/new": "/points/new",
    "/points/{reward_id:int}": "/points/1",  # the demo's first reward (mare has none: a 404)
    "/messages": "/messages",
    "/messages/{kind:str}": "/messages/customer.return_reminder",
    "/messages/{kind:str}/email": "",  # the e-mail preview's frame (an e-mail, not a page)
    "/reports": "/reports",
    "/reports.csv": "",  # a download, not a page
    "/reports/close": "/reports/close?month=2026-11",
    "/reports/close.csv": "",
    "/nps": "/nps",
    "/nps.csv": "",  # a download, not a page
    "/reports/shoppers": "/reports/shoppers",
    "/reports/shoppers.csv": "",
    "/reports/benefits": "/reports/benefits",
    "/reports/benefits.csv": "",
    "/reports/recurrence": "/reports/recurrence",
    "/reports/recurrence.csv": "",
    "/reports/repurchase": "/reports/repurchase",
    "/reports/repurchase.csv": "",
    "/reports/products": "/reports/products",
    "/reports/products.csv": "",
    "/reports/campaigns": "/reports/campaigns",
    "/reports/campaigns.csv": "",
    "/branding": "/branding",
    "/rules": "/rules",
    "/pack.zip": "",  # a download
    "/import": "/import",
    "/import/{job_id:int}": None,  # opened by uploading a large file
    "/import/{job_id:int}/rejected.csv": "",  # a download
    "/staff": "/staff",
    "/keys": "/keys",
    "/audit": "/audit",
    "/webhooks": "/webhooks",
    "/webhooks/{endpoint_id:int}": None,  # opened from the list (an endpoint needs a public address)
    "/integrations": "/integrations",
    "/integrations/{platform:str}": "/integrations/nuvemshop",
    "/widget": "/widget",
}


def test_every_admin_page_passes_axe(browser, live_server, tmp_path) -> None:
    """A platform admin (who sees every page) on a phone-sized screen, as at the till."""
    from tests.browser.helpers import admin_sign_in
    from tests.test_admin_brand import ROUTE_ROLES

    assert {p for m, p in ROUTE_ROLES if m == "GET"} == set(ADMIN_PAGES)  # a new page must be listed
    slug = "bella"
    staff = f"a11y-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", staff, "--platform-admin")
    shopper = f"a11y-{uuid.uuid4().hex[:6]}@example.com"
    sales_for(live_server, slug, shopper, f"A11Y-ADMIN-{uuid.uuid4().hex[:4]}")
    context = browser.new_context(locale="pt-BR", bypass_csp=True, viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    base = live_server.url(None, f"/admin/b/{slug}")
    problems: list[str] = []
    try:
        admin_sign_in(page, live_server, staff)
        for path in ("/admin", "/admin/brands", "/admin/account/security"):
            problems += audit(page, live_server.url(None, path))
        for path in filter(None, ADMIN_PAGES.values()):
            problems += audit(page, base + path)
        page.goto(base + "/customers?q=" + shopper)
        with page.expect_navigation():
            page.click(f"main a[href^='/admin/b/{slug}/customers/']")
        problems += audit(page)
        page.goto(base + "/counter?q=" + shopper)
        problems += audit(page)  # the customer's panel and the cashback form
        page.fill("#redeem-total", "100,00")
        with page.expect_navigation():
            page.click("#redeem-form button[type=submit]")
        problems += audit(page)  # the quote, with its confirmation
        page.goto(base + "/counter?q=ninguem-" + shopper)
        problems += audit(page)  # not found: the registration form
        page.goto(base + "/campaigns")
        page.fill("#c-name", "Natal")
        page.select_option("#c-channel-0", "email")
        page.select_option("#c-channel-1", "")
        page.select_option("#c-channel-2", "")
        page.fill("#c-email-subject", "Natal na Bella, {nome}")
        page.fill("#c-email-body", "Cashback em dobro.")
        with page.expect_navigation():
            page.click("#campaign-send")
        problems += audit(page)  # the previews and the confirmation
        with page.expect_navigation():
            page.click("#campaign-confirm-button")
        problems += audit(page)  # the campaign's report
        page.goto(base + "/club/new")
        with page.expect_navigation():
            page.click("#club-save")
        problems += audit(page)  # the club's form with its mistakes marked
        page.goto(base + "/rules")
        page.fill("#s-total", "150,00")
        with page.expect_navigation():
            page.click("form[action$='/rules/simulate'] button[type=submit]")
        problems += audit(page)  # the simulator's result
        rows = "".join(f"A11Y-{n},2026-10-01,10,{shopper}\n" for n in range(600))
        big = tmp_path / "big.csv"
        big.write_text("order_id,occurred_at,total,email\n" + rows)
        page.goto(base + "/import")
        page.set_input_files("#i-file", str(big))
        with page.expect_navigation():
            page.click("form[action$='/import'] button[type=submit]")
        assert "/import/" in page.url
        problems += audit(page)  # the progress bar
        # The server's own worker imports it; the page follows without being reloaded.
        eventually(page, "document.getElementById('import-job').dataset.state === 'done'", 30_000)
        assert page.locator("#import-progress").get_attribute("value") == "600"
        assert "600" in page.locator("#import-counts").inner_text()
        problems += audit(page)
        context.add_cookies([{"name": "lang", "value": "en", "url": live_server.url(None, "/")}])
        for path in ("/counter", "/rules", "/reports"):
            problems += audit(page, base + path)
    finally:
        context.close()
    assert problems == [], "\n".join(problems)
