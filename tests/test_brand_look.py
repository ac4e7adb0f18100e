"""A brand's look from its pack: font, corners, banner and a dark scheme that passes WCAG AA.

The dark scheme's ratios are checked with a WCAG 2 computation written here from the
specification (relative luminance of sRGB, (L1 + 0.05) / (L2 + 0.05)), not with the app's own.
"""

import io
import random
import re
import tomllib

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from retorno.brands import service as brands
from retorno.brands.pack import CORNERS, FONTS, read_pack
from retorno.brands.pack_writer import to_toml, write_pack
from retorno.brands.palette import dark_scheme
from retorno.brands.tables import Brand, BrandAsset
from retorno.errors import Invalid
from retorno.onboarding.brand import import_brand
from retorno.web import FRONTEND_DIR
from tests.conftest import brand_url, demo_pack
from tests.test_pack import copy_pack, edit


def image(size, fmt="PNG", colour="#336699"):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def problems_of(folder):
    with pytest.raises(Invalid) as info:
        read_pack(folder)
    return info.value.problems


# --- the pack's keys ----------------------------------------------------------------------------


def test_the_demo_brands_look_different():
    bella, mare = demo_pack("bella").theme, demo_pack("mare").theme
    assert (bella.font, bella.corners) == ("lora", "soft")
    assert (mare.font, mare.corners) == ("inter", "square")
    assert demo_pack("mare").banner_png is not None and demo_pack("bella").banner_png is None


def test_a_pack_without_the_keys_gets_the_defaults(tmp_path):
    def plain(d):
        for key in ("font", "corners", "banner"):
            d["theme"].pop(key, None)

    pack = read_pack(edit(copy_pack(tmp_path, "mare"), plain))
    assert (pack.theme.font, pack.theme.corners, pack.banner_png) == ("system", "round", None)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("font", "comic-sans", FONTS), ("corners", "rounded", CORNERS), ("font", 12, FONTS)],
)
def test_an_unknown_font_or_corner_style_is_refused_with_the_allowed_ones(tmp_path, key, value, allowed):
    problems = problems_of(edit(copy_pack(tmp_path), lambda d: d["theme"].update({key: value})))
    lines = [p for p in problems if f"theme.{key}:" in p]
    assert len(lines) == 1, problems
    if isinstance(value, str):
        assert f"must be one of {', '.join(allowed)}, not {value!r}" in lines[0], problems
    else:
        assert "must be a string, not 12" in lines[0]


@pytest.mark.parametrize(
    ("case", "data", "message"),
    [
        ("text", b"just text, not an image", "not a PNG, JPEG or WebP"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="400"/>', "not a PNG, JPEG"),
        ("square", image((800, 800)), "2 to 6 times as wide"),
        ("too narrow", image((600, 200)), "at least 640 px"),
        ("too large", image((4800, 1200)), "at most 4096 px a side"),
        ("too heavy", b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1), "at most 2048 KB"),
    ],
)
def test_a_bad_banner_is_refused(tmp_path, case, data, message):
    folder = copy_pack(tmp_path, "mare")
    (folder / "banner.png").write_bytes(data)
    problems = problems_of(folder)
    assert any("theme.banner: banner.png: " in p and message in p for p in problems), problems


def test_a_banner_too_heavy_once_re_encoded_is_refused(tmp_path):
    noise = Image.frombytes("RGB", (1200, 400), random.Random(7).randbytes(1200 * 400 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    folder = copy_pack(tmp_path, "mare")
    (folder / "banner.png").write_bytes(out.getvalue())
    assert any("KB as a PNG of 1200x400 px; at most 400 KB" in p for p in problems_of(folder))


def test_a_banner_outside_the_pack_or_missing_is_refused(tmp_path):
    folder = edit(copy_pack(tmp_path), lambda d: d["theme"].update(banner="../mare/banner.png"))
    assert any("theme.banner: '../mare/banner.png': name a file" in p for p in problems_of(folder))
    folder = edit(copy_pack(tmp_path / "2"), lambda d: d["theme"].update(banner="wide.png"))
    assert any("theme.banner: wide.png: no such file in the pack" in p for p in problems_of(folder))


def test_a_wide_banner_is_re_encoded_at_most_1200_px_wide(tmp_path):
    folder = copy_pack(tmp_path, "mare")
    (folder / "banner.png").write_bytes(image((2400, 600), fmt="JPEG"))
    banner = read_pack(folder).banner_png
    assert banner.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(banner)).size == (1200, 300)


def test_every_look_problem_is_listed_at_once(tmp_path):
    def bad(d):
        d["theme"].update(font="papyrus", corners="wavy", banner="banner.png")

    folder = edit(copy_pack(tmp_path), bad)
    (folder / "banner.png").write_bytes(b"not an image")
    problems = problems_of(folder)
    assert len(problems) == 3, problems
    assert [p.split(": ")[1] for p in problems] == ["theme.font", "theme.corners", "theme.banner"]


# --- stored, shown, exported --------------------------------------------------------------------


async def test_the_look_is_stored_shown_and_exported_round_trip(settings, tmp_path):
    await import_brand(demo_pack("mare"), base_host=settings.base_host)
    mare = await brands.get_brand("mare")
    assert (mare.font, mare.corners, mare.banner, mare.banner_width, mare.banner_height) == (
        "inter",
        "square",
        True,
        1200,
        400,
    )
    exported = tmp_path / "exported"
    write_pack(await brands.export_pack("mare"), exported)
    theme = tomllib.loads((exported / "brand.toml").read_text())["theme"]
    assert (theme["font"], theme["corners"], theme["banner"]) == ("inter", "square", "banner.png")
    assert (exported / "banner.png").read_bytes() == demo_pack("mare").banner_png
    again = await import_brand(read_pack(exported), base_host=settings.base_host)
    assert again.status == "unchanged"


async def test_a_pack_that_drops_its_banner_removes_it(settings):
    await import_brand(demo_pack("mare"), base_host=settings.base_host)
    plain = msgspec.structs.replace(
        demo_pack("mare"),
        banner_png=None,
        theme=msgspec.structs.replace(demo_pack("mare").theme, font="system", corners="round"),
    )
    assert (await import_brand(plain, base_host=settings.base_host)).status == "updated"
    mare = await brands.get_brand("mare")
    assert (mare.font, mare.corners, mare.banner) == ("system", "round", False)
    assert await BrandAsset.count().where(BrandAsset.name == "banner.png") == 0
    assert "banner" not in to_toml(await brands.export_pack("mare"))["theme"]


async def test_a_brand_stored_before_the_look_existed_reads_as_the_default(engine):
    """The migration's columns have database defaults, so rows written without them (as every brand
    was before) read as the system font, round corners and no banner, on both engines."""
    await Brand.raw(
        "INSERT INTO brands (slug, name, short_name, primary_color, accent_color, background_color) "
        "VALUES ('old', 'Old Brand', 'Old', '#1F4E79', '#F4B942', '#FFFFFF')"
    )
    old = await brands.get_brand("old")
    assert (old.font, old.corners, old.banner_width, old.banner_height) == ("system", "round", 0, 0)


# --- /theme.css ---------------------------------------------------------------------------------


def faces(css):
    return re.findall(r"@font-face\{font-family:'([A-Za-z]+)'[^}]*url\(([^)]+)\)", css)


async def test_theme_css_declares_only_the_brand_s_own_font(client):
    bella = (await client.get(brand_url("bella", "/theme.css"))).text
    mare = (await client.get(brand_url("mare", "/theme.css"))).text
    assert {f for f, _ in faces(bella)} == {"Lora"} and {f for f, _ in faces(mare)} == {"Inter"}
    assert "--font:'Lora', Georgia" in bella and "--font:'Inter', system-ui" in mare
    assert "Inter" not in bella and "Lora" not in mare
    assert "font-display:optional" in bella  # no swap after first paint: no layout shift (Lighthouse CLS)
    for css in (bella, mare):
        for _, url in faces(css):
            assert re.fullmatch(r"/static/fonts/[a-z]+-latin-(400|700)-normal\.woff2\?v=[0-9a-f]{10}", url)
            path = FRONTEND_DIR / url.removeprefix("/static/").split("?")[0]
            assert path.read_bytes()[:4] == b"wOF2"


async def test_the_font_files_are_served_same_origin_and_cached_for_a_year(client):
    css = (await client.get(brand_url("bella", "/theme.css"))).text
    url = faces(css)[0][1]
    response = await client.get(brand_url("bella", url))
    assert response.status_code == 200 and response.content[:4] == b"wOF2"
    assert response.headers["content-type"] == "font/woff2"
    assert "max-age=31536000" in response.headers["cache-control"]


async def test_theme_css_sets_the_corners_and_the_banner(client):
    bella = (await client.get(brand_url("bella", "/theme.css"))).text
    mare = (await client.get(brand_url("mare", "/theme.css"))).text
    assert "--radius:8px;--radius-button:8px" in bella
    assert "--radius:0px;--radius-button:0px" in mare
    assert "body.portal .button" in bella and ".brand-banner{" not in bella
    assert ".brand-banner{" in mare
    assert "input,select,textarea,progress,meter{accent-color:var(--primary)}" in mare


async def test_theme_css_has_a_dark_scheme_from_the_brand_s_colours(client, demo):
    for slug in ("bella", "mare"):
        css = (await client.get(brand_url(slug, "/theme.css"))).text
        dark = css.split("@media (prefers-color-scheme: dark){:root{")[1].split("}")[0]
        values = dict(pair.split(":", 1) for pair in dark.strip(";").split(";"))
        brand = demo[slug]
        assert values == {
            "--" + k: v for k, v in dark_scheme(brand.primary_color, brand.accent_color).items()
        }
    bella = (await client.get(brand_url("bella", "/theme.css"))).text
    mare = (await client.get(brand_url("mare", "/theme.css"))).text
    assert bella.split("--page:")[1][:7] != mare.split("--page:")[1][:7]  # each brand's own dark page


async def test_the_signed_out_home_shows_the_banner_only_where_there_is_one(client):
    mare = (await client.get(brand_url("mare", "/"))).text
    bella = (await client.get(brand_url("bella", "/"))).text
    tag = re.search(
        r'<img class="brand-banner" src="(/assets/banner\.png\?v=\d+)" width="1200" height="400" alt="">',
        mare,
    )
    assert tag, mare
    assert "brand-banner" not in bella
    banner = await client.get(brand_url("mare", tag.group(1)))
    assert banner.status_code == 200 and banner.headers["content-type"] == "image/png"
    sw = (await client.get(brand_url("mare", "/sw.js"))).text
    assert "/assets/banner.png?v=" in sw and "/static/fonts/inter-latin-400-normal.woff2" in sw


# --- the dark scheme passes WCAG AA for any brand colours ----------------------------------------


def wcag_luminance(colour: str) -> float:
    """Relative luminance as WCAG 2.x defines it (sRGB, threshold 0.04045)."""

    def linear(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def wcag_ratio(a: str, b: str) -> float:
    high, low = sorted((wcag_luminance(a), wcag_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# (foreground, background, minimum): text 4.5:1; the primary and accent as components 3:1.
DARK_PAIRS = [
    ("text", "page", 4.5),
    ("text", "card", 4.5),
    ("on-background", "background", 4.5),
    ("soft", "page", 4.5),
    ("soft", "card", 4.5),
    ("on-primary", "primary", 4.5),
    ("on-accent", "accent", 4.5),
    ("danger", "page", 4.5),
    ("danger", "card", 4.5),
    ("ok", "page", 4.5),
    ("ok", "card", 4.5),
    ("primary", "page", 3.0),
    ("primary", "card", 3.0),
    ("accent", "page", 3.0),
]
colours = st.integers(0, 0xFFFFFF).map(lambda n: f"#{n:06X}")


@hsettings(max_examples=400, deadline=None)
@given(primary=colours, accent=colours)
def test_every_derived_dark_pair_passes_wcag_aa(primary, accent):
    scheme = dark_scheme(primary, accent)
    assert all(re.fullmatch(r"#[0-9A-F]{6}", v) for v in scheme.values()), scheme
    for fg, bg, minimum in DARK_PAIRS:
        ratio = wcag_ratio(scheme[fg], scheme[bg])
        assert ratio >= minimum, f"{fg} {scheme[fg]} on {bg} {scheme[bg]}: {ratio:.2f} < {minimum}"
    assert wcag_luminance(scheme["page"]) < 0.03  # dark indeed


@pytest.mark.parametrize(
    "primary", ["#000000", "#FFFFFF", "#808080", "#767676", "#FF0000", "#0000FF", "#FFFF00", "#8E2453"]
)
def test_the_dark_scheme_passes_on_edge_colours(primary):
    scheme = dark_scheme(primary, primary)
    for fg, bg, minimum in DARK_PAIRS:
        assert wcag_ratio(scheme[fg], scheme[bg]) >= minimum, (fg, bg, scheme)


def test_the_dark_scheme_keeps_a_brand_colour_that_already_passes():
    scheme = dark_scheme("#F4B942", "#F26B5B")  # light enough on a dark page already
    assert (scheme["primary"], scheme["accent"]) == ("#F4B942", "#F26B5B")


async def test_a_brand_page_preloads_its_own_font_files_only(client, demo):
    """So the text is drawn once, in its font (Lighthouse counted the swap as a layout shift)."""
    bella = (await client.get(brand_url("bella", "/regulations"))).text
    mare = (await client.get(brand_url("mare", "/regulations"))).text
    assert bella.count('rel="preload"') == 2 and "fonts/lora-latin-400-normal.woff2" in bella
    assert "fonts/inter" not in bella
    assert "fonts/inter-latin-700-normal.woff2" in mare and "fonts/lora" not in mare
