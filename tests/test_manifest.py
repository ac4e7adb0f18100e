"""Each brand's web app manifest, icons (opened and measured) and service worker script."""

import io

import msgspec
import pytest
from PIL import Image

from retorno.brands import images
from retorno.onboarding.brand import import_brand
from tests.conftest import brand_url, demo_pack

EXPECTED_ICONS = {("192x192", "any"): 192, ("512x512", "any"): 512, ("512x512", "maskable"): 512}


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_manifest_fields(client, demo, slug):
    brand = demo[slug]
    response = await client.get(brand_url(slug, "/manifest.webmanifest"))
    assert response.headers["content-type"].startswith("application/manifest+json")
    m = response.json()
    assert m["id"] == "/" and m["start_url"] == "/" and m["scope"] == "/"
    assert m["display"] == "standalone"
    assert m["name"] == brand.name and m["short_name"] == brand.short_name
    assert len(m["short_name"]) <= 12
    assert m["theme_color"] == brand.primary_color
    assert m["background_color"] == brand.background_color
    assert m["lang"] == "pt-BR"
    assert {(i["sizes"], i["purpose"]) for i in m["icons"]} == set(EXPECTED_ICONS)


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_icons_are_pngs_of_the_stated_size(client, demo, slug):
    manifest = (await client.get(brand_url(slug, "/manifest.webmanifest"))).json()
    for icon in manifest["icons"]:
        response = await client.get(brand_url(slug, icon["src"]))
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(response.content)) as img:
            assert img.format == "PNG"
            assert img.size == (EXPECTED_ICONS[(icon["sizes"], icon["purpose"])],) * 2


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_the_maskable_icon_is_padded_on_the_brand_background(client, demo, slug):
    response = await client.get(brand_url(slug, "/assets/icon-maskable-512.png"))
    background = demo[slug].background_color
    expected = tuple(int(background[i : i + 2], 16) for i in (1, 3, 5))
    with Image.open(io.BytesIO(response.content)) as img:
        rgb = img.convert("RGB")
        for corner in [(2, 2), (509, 2), (2, 509), (509, 509), (256, 20), (20, 256)]:
            assert rgb.getpixel(corner) == expected, corner


async def test_versioned_assets_are_cached_for_a_year_and_revalidate_by_etag(client, demo):
    v = demo["bella"].app_version
    fresh = await client.get(brand_url("bella", f"/assets/icon-192.png?v={v}"))
    assert "immutable" in fresh.headers["cache-control"]
    stale = await client.get(brand_url("bella", "/assets/icon-192.png"))
    assert stale.headers["cache-control"] == "no-cache"
    again = await client.get(
        brand_url("bella", "/assets/icon-192.png"), headers={"if-none-match": stale.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


async def test_an_unknown_asset_is_404(client, demo):
    assert (await client.get(brand_url("bella", "/assets/secret.txt"))).status_code == 404


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_the_service_worker_is_served_per_brand_at_root_scope(client, demo, slug):
    response = await client.get(brand_url(slug, "/sw.js"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert response.headers["cache-control"] == "no-cache"
    first_line = response.text.splitlines()[0]
    assert f'"brand":"{slug}"' in first_line
    assert '"/offline"' in first_line and '"/"' in first_line
    assert 'addEventListener("fetch"' in response.text


async def test_a_new_brand_version_changes_the_service_worker(client, demo, settings):
    before = (await client.get(brand_url("bella", "/sw.js"))).text
    pack = demo_pack("bella")
    theme = msgspec.structs.replace(pack.theme, primary="#6A1B3F")
    result = await import_brand(msgspec.structs.replace(pack, theme=theme), base_host=settings.base_host)
    assert result.status == "updated"
    after = (await client.get(brand_url("bella", "/sw.js"))).text
    assert before != after
    css = (await client.get(brand_url("bella", "/theme.css"))).text
    assert "--primary:#6A1B3F" in css


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_theme_text_on_primary_is_chosen_for_contrast(client, demo, slug):
    css = (await client.get(brand_url(slug, "/theme.css"))).text
    primary = demo[slug].primary_color
    on_primary = css.split("--on-primary:")[1].split(";")[0]
    assert images.contrast(primary, on_primary) >= 4.5


@pytest.mark.parametrize(
    ("background", "text"),
    [("#FFFFFF", "#111111"), ("#F4B942", "#111111"), ("#8E2453", "#FFFFFF"), ("#0B4F6C", "#FFFFFF")],
)
def test_text_colour_is_the_one_with_more_contrast(background, text):
    assert images.text_on(background) == text
