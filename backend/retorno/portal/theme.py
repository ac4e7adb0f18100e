"""A brand's /theme.css: its colours, type, corners and banner, and its dark scheme.

The shared sheet (frontend/css/app.css) lays out every brand and reads these custom properties;
this sheet comes after it, so its few rules (the corners of buttons and fields, which the shared
sheet draws round) win at equal or higher specificity. Only the brand's own font is declared:
a brand set in the device's font downloads none.
"""

from __future__ import annotations

from retorno.brands.images import text_on
from retorno.brands.palette import dark_scheme
from retorno.brands.service import BrandView
from retorno.web import static_url

# name -> (family, stack after it); the files are frontend/fonts/<name>-latin-<weight>-normal.woff2.
FONTS = {
    "inter": ("Inter", 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'),
    "nunito": ("Nunito", 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'),
    "lora": ("Lora", 'Georgia, "Times New Roman", serif'),
}
WEIGHTS = (400, 700)
# Fontsource's "latin" subset: a page in another script falls back to the stack without a download.
LATIN = (
    "U+0000-00FF,U+0131,U+0152-0153,U+02BB-02BC,U+02C6,U+02DA,U+02DC,U+0304,U+0308,U+0329,"
    "U+2000-206F,U+20AC,U+2122,U+2191,U+2193,U+2212,U+2215,U+FEFF,U+FFFD"
)
# corners -> (cards, buttons, fields), with units (the shared sheet adds to --radius in calc());
# "round" is what the shared sheet draws by itself.
CORNERS = {"round": ("14px", "999px", "10px"), "soft": ("8px", "8px", "6px"), "square": ("0px", "0px", "0px")}
FIELDS = (
    "body.portal input:not([type=checkbox]):not([type=radio]):not([type=hidden]),"
    "body.portal select,body.portal textarea"
)


def font_urls(name: str) -> list[str]:
    """The files of a font choice (none for system), for the service worker's precache."""
    return [static_url(f"fonts/{name}-latin-{w}-normal.woff2") for w in WEIGHTS] if name in FONTS else []


def _font(name: str) -> tuple[str, str]:
    """The @font-face rules and the --font value of a font choice ("" and none for system)."""
    if name not in FONTS:
        return "", ""
    family, stack = FONTS[name]
    faces = "".join(
        f"@font-face{{font-family:'{family}';font-style:normal;font-weight:{weight};font-display:optional;"
        f"src:url({url}) format('woff2');unicode-range:{LATIN}}}\n"
        for weight, url in zip(WEIGHTS, font_urls(name), strict=True)
    )
    return faces, f"'{family}', {stack}"


def theme_css(brand: BrandView) -> str:
    faces, font = _font(brand.font)
    card, button, field = CORNERS.get(brand.corners, CORNERS["round"])
    css = [
        faces,
        ":root{"
        f"--primary:{brand.primary_color};--on-primary:{brand.on_primary};"
        f"--accent:{brand.accent_color};--on-accent:{text_on(brand.accent_color)};"
        f"--background:{brand.background_color};--on-background:{brand.on_background};"
        f"--radius:{card};--radius-button:{button};--radius-field:{field};"
        + (f"--font:{font};" if font else "")
        + "}\n",
        "input,select,textarea,progress,meter{accent-color:var(--primary)}\n",
    ]
    if brand.corners != "round":
        css.append(
            "body.portal .button{border-radius:var(--radius-button)}\n"
            f"{FIELDS}{{border-radius:var(--radius-field)}}\n"
            "body.portal .balance-card,body.portal .pitch-rate{border-radius:var(--radius)}\n"
            "body.portal .tab .icon{border-radius:var(--radius-button)}\n"
        )
    if brand.banner:
        css.append(
            ".brand-banner{display:block;width:100%;height:auto;margin:0 0 var(--space-4);"
            "border-radius:var(--radius);background:var(--card)}\n"
        )
    dark = "".join(
        f"--{name}:{value};" for name, value in dark_scheme(brand.primary_color, brand.accent_color).items()
    )
    css.append(f"@media (prefers-color-scheme: dark){{:root{{{dark}}}}}\n")
    return "".join(css)
