"""Fixtures of the browser tests: real headless Chromium (Debian's /usr/bin/chromium) via Playwright.

Every test here is skipped when Chromium is missing, unless RETORNO_REQUIRE_BROWSER=1
is set (as in CI), in which case it fails instead. Each module gets its own live server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Playwright, sync_playwright

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session", autouse=True)
def require_browser() -> None:
    """Skip without Chromium; fail instead when RETORNO_REQUIRE_BROWSER=1 (as in CI)."""
    reason = _missing_browser()
    if reason is None:
        return
    if os.environ.get("RETORNO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RETORNO_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


# Module scope: a live sync Playwright keeps an event loop running, which asyncio.run elsewhere refuses.
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
            locale="pt-BR",  # a Brazilian shopper's browser: pages come in Portuguese (Accept-Language)
        )
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    try:
        yield open_
    finally:
        for context in opened:
            context.close()
