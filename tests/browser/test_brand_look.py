"""In Chromium: Bella and Maré look like themselves. Each sets its own font (and downloads no other),
its own corners, and on a device in dark mode a dark scheme made from its own colours."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Playwright

from retorno.brands.palette import dark_scheme
from tests.browser.helpers import ARGS, BRANDS, CHROMIUM, TIMEOUT_MS, screenshot
from tests.conftest import demo_pack

LOOKS = {"bella": ("Lora", "8px", "lora-latin-"), "mare": ("Inter", "0px", "inter-latin-")}
BUTTON = ".pitch-cta .button"


def rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_each_brand_has_its_own_font_corners_and_dark_scheme(
    playwright: Playwright, live_server, tmp_path
) -> None:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    seen = {}
    try:
        for slug in BRANDS:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="pt-BR")
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            fetched: list[str] = []
            page.on("requestfinished", lambda request, into=fetched: into.append(request.url))
            page.goto(live_server.url(slug, "/"), wait_until="networkidle")
            page.evaluate("document.fonts.ready.then(() => true)")
            family, radius, files = LOOKS[slug]
            style = page.evaluate(
                f"""() => {{ const s = getComputedStyle(document.querySelector('{BUTTON}'));
                     return {{font: s.fontFamily, radius: s.borderTopLeftRadius,
                              loaded: document.fonts.check('700 16px "{family}"')}}; }}"""
            )
            seen[slug] = style
            assert style["font"].startswith(f'"{family}"') or style["font"].startswith(family), style
            assert style["radius"] == radius, style
            assert style["loaded"], f"{family} was not loaded on {slug}"
            fonts = [urlsplit(u).path for u in fetched if "/static/fonts/" in u]
            assert fonts and all(files in f for f in fonts), fonts  # its own font only
            assert all(urlsplit(u).netloc == urlsplit(live_server.url(slug)).netloc for u in fetched)
            banner = page.locator("img.brand-banner")
            if demo_pack(slug).banner_png is not None:
                assert banner.is_visible()
                assert page.evaluate("document.querySelector('img.brand-banner').naturalWidth") == 1200
            else:
                assert banner.count() == 0
            screenshot(page, tmp_path / f"{slug}-light.png")

            page.emulate_media(color_scheme="dark")
            pack = demo_pack(slug)
            expected = dark_scheme(pack.theme.primary, pack.theme.accent)
            dark = page.evaluate(
                f"""() => ({{page: getComputedStyle(document.body).backgroundColor,
                      button: getComputedStyle(document.querySelector('{BUTTON}')).backgroundColor,
                      text: getComputedStyle(document.querySelector('{BUTTON}')).color,
                      card: getComputedStyle(document.querySelector('.steps')).backgroundColor}})"""
            )
            assert dark == {
                "page": rgb(expected["page"]),
                "button": rgb(expected["primary"]),
                "text": rgb(expected["on-primary"]),
                "card": rgb(expected["card"]),
            }, (slug, dark, expected)
            screenshot(page, tmp_path / f"{slug}-dark.png")
            context.close()
    finally:
        browser.close()
    assert seen["bella"]["font"] != seen["mare"]["font"]
    assert seen["bella"]["radius"] != seen["mare"]["radius"]
