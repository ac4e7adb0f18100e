"""Logos and the app icons made from them, banners, and the colour contrast the theme depends on.

An uploaded logo or banner is trusted only as pixels: it is identified by its content (PNG, JPEG or WebP),
bounded in bytes and pixels before it is decoded, and re-encoded as a fresh PNG, so no metadata,
script or second payload survives.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFont

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
MIN_SIDE = 512
# A banner is a wide picture above the signed-out home's pitch: at least twice as wide as high, at
# most six times; kept at most BANNER_WIDTH px wide (two CSS pixels a dot on a 600 px column).
BANNER_MIN_WIDTH, BANNER_WIDTH, BANNER_MAX_BYTES = 640, 1200, 400 * 1024
FORMATS = {"PNG", "JPEG", "WEBP"}

# Bump when the images made from a logo change: packs are then imported again even if unchanged.
VERSION = "3"

# name -> (size, maskable): what the manifest and the iOS home screen ask for, and the app bar's
# logo (40 CSS px, sharp up to 3x screens: a few KB instead of the full logo's 100+).
ICONS = {
    "logo-120.png": (120, False),
    "icon-192.png": (192, False),
    "icon-512.png": (512, False),
    "icon-maskable-512.png": (512, True),
    "apple-touch-icon.png": (180, True),
}


class ImageRefused(ValueError):
    """Why a logo was refused, in words for the person who sent it."""


def reencode_logo(data: bytes) -> bytes:
    if len(data) > MAX_BYTES:
        raise ImageRefused(f"the logo is {len(data) // 1024} KB; at most {MAX_BYTES // 1024} KB")
    try:
        with Image.open(io.BytesIO(data), formats=sorted(FORMATS)) as img:
            width, height = img.size
            if max(width, height) > MAX_SIDE:
                raise ImageRefused(f"the logo is {width}x{height} px; at most {MAX_SIDE} px a side")
            if width != height:
                raise ImageRefused(f"the logo must be square, not {width}x{height} px")
            if width < MIN_SIDE:
                raise ImageRefused(f"the logo is {width}x{height} px; at least {MIN_SIDE} px a side")
            img.load()
            pixels = img.convert("RGBA")
    except ImageRefused:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRefused("the logo is not a PNG, JPEG or WebP image") from exc
    out = io.BytesIO()
    pixels.save(out, format="PNG")
    return out.getvalue()


def reencode_banner(data: bytes) -> tuple[bytes, int, int]:
    """A banner as a fresh PNG at most BANNER_WIDTH px wide, with its width and height (the page
    reserves its space before it loads)."""
    if len(data) > MAX_BYTES:
        raise ImageRefused(f"the banner is {len(data) // 1024} KB; at most {MAX_BYTES // 1024} KB")
    try:
        with Image.open(io.BytesIO(data), formats=sorted(FORMATS)) as img:
            width, height = img.size
            if max(width, height) > MAX_SIDE:
                raise ImageRefused(f"the banner is {width}x{height} px; at most {MAX_SIDE} px a side")
            if width < BANNER_MIN_WIDTH:
                raise ImageRefused(f"the banner is {width} px wide; at least {BANNER_MIN_WIDTH} px")
            if not 2 * height <= width <= 6 * height:
                raise ImageRefused(
                    f"the banner must be 2 to 6 times as wide as it is high, not {width}x{height} px"
                )
            img.load()
            pixels = img.convert("RGBA")
    except ImageRefused:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRefused("the banner is not a PNG, JPEG or WebP image") from exc
    if width > BANNER_WIDTH:
        height, width = round(height * BANNER_WIDTH / width), BANNER_WIDTH
        pixels = pixels.resize((width, height), Image.Resampling.LANCZOS)
    if pixels.getchannel("A").getextrema() == (255, 255):  # opaque: no alpha channel to carry
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    pixels.save(out, format="PNG", optimize=True)
    if out.tell() > BANNER_MAX_BYTES:
        raise ImageRefused(
            f"the banner is {out.tell() // 1024} KB as a PNG of {width}x{height} px; at most "
            f"{BANNER_MAX_BYTES // 1024} KB (fewer colours or details help: it is on the first page)"
        )
    return out.getvalue(), width, height


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height a PNG's header states (a re-encoded image: no need to decode it)."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def monogram(name: str, primary: str, text: str) -> bytes:
    """A plain logo for a brand that has none yet: its initial on its primary colour."""
    size = 512
    img = Image.new("RGBA", (size, size), primary)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=300)
    draw.text((size / 2, size / 2), (name[:1] or "?").upper(), fill=text, font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=16)  # re-imports of an unchanged logo skip the resampling
def make_icons(logo_png: bytes, background: str) -> dict[str, bytes]:
    """The app icons; maskable ones keep the logo inside the 80% safe zone on the background."""
    with Image.open(io.BytesIO(logo_png)) as opened:
        logo = opened.convert("RGBA")
    icons = {}
    for name, (size, maskable) in ICONS.items():
        canvas = Image.new("RGBA", (size, size), background)
        inner = round(size * 0.7) if maskable else size
        scaled = logo.resize((inner, inner), Image.Resampling.LANCZOS)
        offset = (size - inner) // 2
        canvas.alpha_composite(scaled, (offset, offset))
        out = io.BytesIO()
        canvas.convert("RGB").save(out, format="PNG", optimize=True)
        icons[name] = out.getvalue()
    icons["badge-96.png"] = _badge()
    return icons


def _badge(size: int = 96) -> bytes:
    """The small monochrome mark Android shows in the status bar for a notification: only its
    alpha counts, so a white disc on transparency."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((8, 8, size - 8, size - 8), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #RRGGBB colours, from 1 to 21."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """The text colour (near-white or near-black) that reads best on a background colour."""
    light, dark = "#FFFFFF", "#111111"
    return light if contrast(background, light) >= contrast(background, dark) else dark
