"""Logos and the app icons made from them, banners, pictures (a club benefit's), and the colour
contrast the theme depends on.

An uploaded logo, banner or picture is trusted only as pixels: it is identified by its content (PNG,
JPEG or WebP), bounded in bytes and pixels before it is decoded, and re-encoded as a fresh PNG (a
picture, a photo most often, as a JPEG), so no metadata, script or second payload survives.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from retorno.errors import N_, Problem, Words

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
MIN_SIDE = 512
# A banner is a wide picture above the signed-out home's pitch: at least twice as wide as high, at
# most six times; kept at most BANNER_WIDTH px wide (two CSS pixels a dot on a 600 px column).
BANNER_MIN_WIDTH, BANNER_WIDTH, BANNER_MAX_BYTES = 640, 1200, 400 * 1024
# A picture (a club benefit's) fills a card's width on a phone: kept at most PICTURE_WIDTH px wide.
PICTURE_MIN_WIDTH, PICTURE_WIDTH = 320, 800
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
    """Why a logo or banner was refused, for the person who sent it: `problem` carries its message
    id and parameters, so it is shown in their language."""

    def __init__(self, message: str, /, **params: Any) -> None:
        self.problem = Problem("", "", message, **params)
        super().__init__(str(self.problem))


def _pixels(data: bytes, image: str, check: Callable[[int, int], None]) -> Image.Image:
    """An upload's pixels, bounded in bytes and in pixels (`check` refuses a size) before they are
    decoded; `image` names it in the messages ("the logo")."""
    if len(data) > MAX_BYTES:
        raise ImageRefused(
            N_("%(image)s is %(kb)s KB; at most %(max)s KB"),
            image=Words(image),
            kb=len(data) // 1024,
            max=MAX_BYTES // 1024,
        )
    try:
        with Image.open(io.BytesIO(data), formats=sorted(FORMATS)) as img:
            width, height = img.size
            if max(width, height) > MAX_SIDE:
                raise ImageRefused(
                    N_("%(image)s is %(width)sx%(height)s px; at most %(max)s px a side"),
                    image=Words(image),
                    width=width,
                    height=height,
                    max=MAX_SIDE,
                )
            check(width, height)
            img.load()
            return img.convert("RGBA")
    except ImageRefused:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRefused(N_("%(image)s is not a PNG, JPEG or WebP image"), image=Words(image)) from exc


def _png(pixels: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    pixels.save(out, format="PNG", **options)
    return out.getvalue()


def _square(width: int, height: int) -> None:
    if width != height:
        raise ImageRefused(
            N_("the logo must be square, not %(width)sx%(height)s px"), width=width, height=height
        )
    if width < MIN_SIDE:
        raise ImageRefused(
            N_("the logo is %(width)sx%(height)s px; at least %(min)s px a side"),
            width=width,
            height=height,
            min=MIN_SIDE,
        )


def _wide(width: int, height: int) -> None:
    if width < BANNER_MIN_WIDTH:
        raise ImageRefused(
            N_("the banner is %(width)s px wide; at least %(min)s px"), width=width, min=BANNER_MIN_WIDTH
        )
    if not 2 * height <= width <= 6 * height:
        raise ImageRefused(
            N_("the banner must be 2 to 6 times as wide as it is high, not %(width)sx%(height)s px"),
            width=width,
            height=height,
        )


def reencode_logo(data: bytes) -> bytes:
    return _png(_pixels(data, N_("the logo"), _square))


def _at_most(pixels: Image.Image, width: int) -> Image.Image:
    """`pixels` scaled down to `width` px wide, if wider."""
    if pixels.width <= width:
        return pixels
    return pixels.resize((width, round(pixels.height * width / pixels.width)), Image.Resampling.LANCZOS)


def reencode_banner(data: bytes) -> tuple[bytes, int, int]:
    """A banner as a fresh PNG at most BANNER_WIDTH px wide, with its width and height (the page
    reserves its space before it loads)."""
    pixels = _at_most(_pixels(data, N_("the banner"), _wide), BANNER_WIDTH)
    width, height = pixels.size
    if pixels.getchannel("A").getextrema() == (255, 255):  # opaque: no alpha channel to carry
        pixels = pixels.convert("RGB")
    png = _png(pixels, optimize=True)
    if len(png) > BANNER_MAX_BYTES:
        raise ImageRefused(
            N_(
                "the banner is %(kb)s KB as a PNG of %(width)sx%(height)s px; at most %(max)s KB "
                "(fewer colours or details help: it is on the first page)"
            ),
            kb=len(png) // 1024,
            width=width,
            height=height,
            max=BANNER_MAX_BYTES // 1024,
        )
    return png, width, height


def _picture_shape(width: int, height: int) -> None:
    if width < PICTURE_MIN_WIDTH:
        raise ImageRefused(
            N_("the picture is %(width)s px wide; at least %(min)s px"), width=width, min=PICTURE_MIN_WIDTH
        )
    if not height <= width <= 4 * height:
        raise ImageRefused(
            N_("the picture must be 1 to 4 times as wide as it is high, not %(width)sx%(height)s px"),
            width=width,
            height=height,
        )


def reencode_picture(data: bytes) -> tuple[bytes, int, int]:
    """A picture as a fresh JPEG at most PICTURE_WIDTH px wide (on white where it was transparent),
    with its width and height: a photo stays a few dozen KB, where a PNG of it would be hundreds."""
    pixels = _at_most(_pixels(data, N_("the picture"), _picture_shape), PICTURE_WIDTH)
    flat = Image.new("RGB", pixels.size, "#FFFFFF")
    flat.paste(pixels, mask=pixels.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=82, optimize=True, progressive=True)
    return out.getvalue(), flat.width, flat.height


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
