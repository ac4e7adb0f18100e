"""Draw the demo brands' logos (and Maré's banner), so they are generated from code rather than kept
as hand-made binaries. `python branding/draw_logos.py [logos|banner]`: both by default."""

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
SIZE, SS = 1024, 4  # final size and supersampling factor (for smooth edges)
S = SIZE * SS


def canvas(background):
    img = Image.new("RGB", (S, S), background)
    return img, ImageDraw.Draw(img)


def letter(draw, text, centre, size, fill, stroke=0):
    font = ImageFont.load_default(size=size * SS)
    draw.text(
        (centre[0] * SS, centre[1] * SS),
        text,
        font=font,
        fill=fill,
        anchor="mm",
        stroke_width=stroke * SS,
        stroke_fill=fill,
    )


def wave(draw, top, amplitude, phase, fill, box):
    """Fill everything below a sine wave whose crest line is at `top` (in final pixels)."""
    x0, x1 = box
    points = [
        (x * SS, (top + amplitude * math.sin(2 * math.pi * (x - x0) / 512 + phase)) * SS)
        for x in range(x0, x1 + 1, 4)
    ]
    draw.polygon([*points, (x1 * SS, S), (x0 * SS, S)], fill=fill)


def sparkle(draw, cx, cy, r, fill):
    """A four-pointed star (the 'shine' of a cosmetic)."""
    pts = []
    for i in range(8):
        rad = r if i % 2 == 0 else r * 0.28
        a = math.pi / 4 * i - math.pi / 2
        pts.append(((cx + rad * math.cos(a)) * SS, (cy + rad * math.sin(a)) * SS))
    draw.polygon(pts, fill=fill)


def save(img, slug):
    out = HERE / slug / "logo.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    img.resize((SIZE, SIZE), Image.LANCZOS).save(out, optimize=True)
    print("wrote", out.relative_to(HERE.parent))


def bella():
    berry, gold, cream = "#8E2453", "#F4B942", "#FFF8F5"
    img, d = canvas(cream)
    c, r = SIZE // 2, 440
    d.ellipse([(c - r) * SS, (c - r) * SS, (c + r) * SS, (c + r) * SS], fill=berry)
    ring = 388
    d.ellipse(
        [(c - ring) * SS, (c - ring) * SS, (c + ring) * SS, (c + ring) * SS], outline=gold, width=16 * SS
    )
    letter(d, "B", (c - 6, c + 8), 520, cream, stroke=10)
    sparkle(d, 690, 330, 62, gold)
    sparkle(d, 742, 418, 26, gold)
    save(img, "bella")


def mare():
    navy, coral, mist = "#0B4F6C", "#F26B5B", "#F5FAFC"
    img, _d = canvas(mist)
    m, box = 72, (72, SIZE - 72)
    tile = Image.new("L", (S, S), 0)
    ImageDraw.Draw(tile).rounded_rectangle(
        [m * SS, m * SS, (SIZE - m) * SS, (SIZE - m) * SS], radius=210 * SS, fill=255
    )
    art, a = canvas(navy)
    letter(a, "M", (SIZE // 2, 430), 500, mist, stroke=8)
    wave(a, 690, 30, 0.0, "#5FB3C9", box)
    wave(a, 752, 30, 0.0, coral, box)
    wave(a, 814, 30, 0.0, navy, box)
    img.paste(art, (0, 0), tile)
    save(img, "mare")


def mare_banner():
    """A wide strip of sea for the signed-out home: layered waves in the brand's colours, a sun."""
    navy, coral, mist, sea = "#0B4F6C", "#F26B5B", "#F5FAFC", "#5FB3C9"
    width, height = 1200, 400
    img = Image.new("RGB", (width * SS, height * SS), mist)
    d = ImageDraw.Draw(img)
    sun = (930, 150, 70)
    d.ellipse(
        [(sun[0] - sun[2]) * SS, (sun[1] - sun[2]) * SS, (sun[0] + sun[2]) * SS, (sun[1] + sun[2]) * SS],
        fill=coral,
    )
    for top, amplitude, phase, fill in (
        (215, 18, 0.0, sea),
        (265, 22, 1.4, "#2D7F9C"),
        (315, 24, 2.6, navy),
        (360, 16, 0.8, "#083A50"),
    ):
        points = [
            (x * SS, (top + amplitude * math.sin(2 * math.pi * x / 400 + phase)) * SS)
            for x in range(0, width + 1, 4)
        ]
        d.polygon([*points, (width * SS, height * SS), (0, height * SS)], fill=fill)
    out = HERE / "mare" / "banner.png"
    img.resize((width, height), Image.LANCZOS).save(out, optimize=True)
    print("wrote", out.relative_to(HERE.parent))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("all", "logos"):
        bella()
        mare()
    if what in ("all", "banner"):
        mare_banner()
