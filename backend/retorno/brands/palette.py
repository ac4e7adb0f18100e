"""The dark scheme of a brand's app, derived from its colours, that passes WCAG AA.

The page and the cards are very dark shades of the primary's hue; text is a near-white of the
same hue; the primary and the accent are raised in lightness (keeping hue and saturation) until
they stand out from the page (3:1, WCAG's ratio for components) and carry text (4.5:1). Each
colour is checked on the #RRGGBB it is written as, so rounding never breaks a ratio.
"""

from __future__ import annotations

import colorsys
import functools

from retorno.brands.images import contrast

TEXT, UI = 4.5, 3.0  # WCAG AA: normal text; large text and interface components
LIGHT_TEXT, DARK_TEXT = "#FFFFFF", "#111111"
# The dark scheme's state colours in the shared sheet, checked here on the brand's own page.
DANGER, OK = "#FF9AA6", "#7FDBA6"


def _hls(colour: str) -> tuple[float, float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hls(r, g, b)


def _hex(h: float, lightness: float, s: float) -> str:
    r, g, b = colorsys.hls_to_rgb(h, min(max(lightness, 0.0), 1.0), s)
    return "#" + "".join(f"{round(c * 255):02X}" for c in (r, g, b))


def text_for(background: str) -> str:
    """Near-white or near-black, whichever reads better on the background."""
    return max((LIGHT_TEXT, DARK_TEXT), key=lambda t: contrast(background, t))


def lifted(colour: str, against: list[str], ratio: float, *, carries_text: bool = False) -> str:
    """The colour, made lighter step by step (same hue and saturation) until it has `ratio` against
    every colour of `against` (and, where it is a background, 4.5:1 with its text). White ends the
    search, and white passes against the dark shades this is used with."""
    h, lightness, s = _hls(colour)
    candidate = colour
    while True:
        passes = all(contrast(candidate, other) >= ratio for other in against)
        if passes and (not carries_text or contrast(candidate, text_for(candidate)) >= TEXT):
            return candidate
        if lightness >= 1.0:
            return LIGHT_TEXT
        lightness = min(1.0, lightness + 0.01)
        candidate = _hex(h, lightness, s)


@functools.cache  # a pure function of two colours, asked by every page (theme-color) and theme.css
def dark_scheme(primary: str, accent: str) -> dict[str, str]:
    """The custom properties of the dark scheme, by name (without the leading --). Do not change
    the dict it returns: it is shared."""
    hue, _, saturation = _hls(primary)
    tint = min(saturation, 0.35)
    page, card = _hex(hue, 0.075, tint), _hex(hue, 0.125, tint)
    shades = [page, card]
    text = lifted(_hex(hue, 0.94, min(saturation, 0.25)), shades, TEXT)
    soft = lifted(_hex(hue, 0.78, min(saturation, 0.15)), shades, TEXT)
    dark_primary = lifted(primary, shades, UI, carries_text=True)
    dark_accent = lifted(accent, shades, UI, carries_text=True)
    return {
        "page": page,
        "card": card,
        "background": page,
        "text": text,
        "on-background": text,
        "soft": soft,
        "primary": dark_primary,
        "on-primary": text_for(dark_primary),
        "accent": dark_accent,
        "on-accent": text_for(dark_accent),
        "danger": lifted(DANGER, shades, TEXT),
        "ok": lifted(OK, shades, TEXT),
    }
