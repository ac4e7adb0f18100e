"""Headless Chromium against a live server: each brand's PWA shell, theme, installability, offline.

The module is skipped when /usr/bin/chromium is missing, unless RETORNO_REQUIRE_BROWSER=1 is set,
in which case it fails instead. The offline test stops the live server, so it must stay last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

try:
    from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - reported by the fixture below
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

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


def _missing_browser() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module", autouse=True)
def require_browser() -> None:
    """Skip without Chromium; fail instead when RETORNO_REQUIRE_BROWSER=1 (as in CI)."""
    reason = _missing_browser()
    if reason is None:
        return
    if os.environ.get("RETORNO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RETORNO_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def playwright(require_browser: None) -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_context(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], BrowserContext]]:
    """Persistent contexts (installability checks report `in-incognito` otherwise), one per brand."""
    opened: list[BrowserContext] = []

    def open_(slug: str) -> BrowserContext:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp(f"chromium-{slug}")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 412, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    try:
        yield open_
    finally:
        for context in opened:
            context.close()


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


@pytest.mark.parametrize("slug", list(BRANDS))
def test_brand_pwa_shell(slug: str, live_server, open_context, tmp_path: Path) -> None:
    brand = BRANDS[slug]
    other = next(b for s, b in BRANDS.items() if s != slug)
    page = first_page(open_context(slug))

    controlled(page, live_server.url(slug, "/"))

    brand_name = page.locator(".brand-name")
    assert brand_name.inner_text().strip() == brand["name"]
    body = page.locator("body").inner_text()
    assert brand["name"] in body
    assert other["name"] not in body

    primary = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--primary')")
    assert primary.strip().lower() == brand["primary"].lower()

    errors = installability_errors(page)
    assert errors == [], f"installability errors for {slug}: {errors}"

    cache_names = page.evaluate("caches.keys()")
    assert any(name.startswith(f"retorno-{slug}-shell-") for name in cache_names), cache_names
    other_slug = next(s for s in BRANDS if s != slug)
    assert not any(name.startswith(f"retorno-{other_slug}-") for name in cache_names), cache_names

    screenshot(page, tmp_path / f"{slug}.png")


# Stops the live server: keep this test last in the module.
def test_offline_shell_and_fallback(live_server, open_context, tmp_path: Path) -> None:
    slug = "bella"
    context = open_context(slug)
    page = first_page(context)

    controlled(page, live_server.url(slug, "/"))
    page.goto(live_server.url(slug, "/offline"))
    assert page.locator("h1").inner_text().strip() == OFFLINE_TITLE
    page.goto(live_server.url(slug, "/"))
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=TIMEOUT_MS)
    # The pages cache is written after the response is returned: wait until "/" is in it.
    cached_home = eventually(
        page,
        """caches.keys().then(names => Promise.all(
             names.filter(n => n.startsWith('retorno-bella-pages-'))
                  .map(n => caches.open(n).then(c => c.match('/')))
           )).then(found => found.some(Boolean))""",
    )
    assert cached_home, "the service worker did not put / in the pages cache"

    context.set_offline(True)
    live_server.process.terminate()
    live_server.process.wait(10)

    page.reload()
    page.wait_for_selector(".brand-name", timeout=TIMEOUT_MS)
    assert page.locator(".brand-name").inner_text().strip() == BRANDS[slug]["name"]
    assert page.locator("h1").inner_text().strip() != OFFLINE_TITLE

    page.goto(live_server.url(slug, "/nunca-visitado"))
    page.wait_for_selector("h1", timeout=TIMEOUT_MS)
    assert page.locator("h1").inner_text().strip() == OFFLINE_TITLE
    assert page.locator(".brand-name").inner_text().strip() == BRANDS[slug]["name"]

    screenshot(page, tmp_path / "bella-offline.png")
