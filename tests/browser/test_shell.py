"""Each brand's PWA shell in Chromium: theme, installability, service worker, offline fallback.

The offline test stops the live server, so it must stay last in this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import (
    BRANDS,
    OFFLINE_TITLE,
    TIMEOUT_MS,
    controlled,
    eventually,
    first_page,
    installability_errors,
    screenshot,
)


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
                  .map(n => caches.open(n).then(c => c.match('/', { ignoreVary: true })))
           )).then(found => found.some(Boolean))""",
    )
    assert cached_home, "the service worker did not put / in the pages cache"

    context.set_offline(True)
    live_server.stop()

    page.reload()
    page.wait_for_selector(".brand-name", timeout=TIMEOUT_MS)
    assert page.locator(".brand-name").inner_text().strip() == BRANDS[slug]["name"]
    assert page.locator("h1").inner_text().strip() != OFFLINE_TITLE

    page.goto(live_server.url(slug, "/nunca-visitado"))
    page.wait_for_selector("h1", timeout=TIMEOUT_MS)
    assert page.locator("h1").inner_text().strip() == OFFLINE_TITLE
    assert page.locator(".brand-name").inner_text().strip() == BRANDS[slug]["name"]

    screenshot(page, tmp_path / "bella-offline.png")
