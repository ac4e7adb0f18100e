"""A request's host decides its brand; no brand's page shows another brand's name, colours or logo."""

import hashlib

import httpx
import msgspec
import pytest

from retorno.app import create_app
from retorno.onboarding.brand import import_brand
from tests.conftest import DATA_KEY, brand_url, demo_pack, import_demo, make_settings, platform_url

OTHER = {"bella": "mare", "mare": "bella"}
BRAND_PATHS = [
    "/",
    "/offline",
    "/manifest.webmanifest",
    "/sw.js",
    "/theme.css",
    "/assets/logo.png",
    "/assets/icon-192.png",
    "/assets/icon-512.png",
    "/regulations",
    "/help",
    "/login",
    "/join",
    "/assets/icon-maskable-512.png",
    "/assets/apple-touch-icon.png",
]


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_each_brand_is_served_on_its_own_host(client, demo, slug):
    page = await client.get(brand_url(slug))
    assert page.status_code == 200
    assert demo[slug].name in page.text
    assert f'content="{demo[slug].primary_color}"' in page.text


@pytest.mark.parametrize("path", ["/", "/manifest.webmanifest", "/sw.js", "/anything", "/static/css/app.css"])
async def test_an_unknown_host_is_a_plain_404_naming_no_brand(client, demo, path):
    response = await client.get(f"http://no-such-brand.localhost:8000{path}")
    assert response.status_code == 404
    for brand in demo.values():
        assert brand.name not in response.text and brand.slug not in response.text
        assert brand.primary_color not in response.text


async def test_other_hosts_are_unknown_too(client):
    for host in ["127.0.0.1:8000", "bella.localhost:9999", "bella.evil.example", "localhost"]:
        response = await client.get("/", headers={"host": host})
        assert response.status_code == 404, host


@pytest.mark.parametrize("slug", ["bella", "mare"])
@pytest.mark.parametrize("path", BRAND_PATHS)
async def test_no_brand_route_leaks_the_other_brand(client, demo, slug, path):
    other = demo[OTHER[slug]]
    response = await client.get(brand_url(slug, path))
    assert response.status_code == 200
    body = response.content
    for secret in (
        other.name,
        other.short_name,
        other.primary_color,
        other.accent_color,
        other.background_color,
        f"retorno-{other.slug}",
    ):
        assert secret.encode() not in body, (path, secret)


async def test_each_brand_serves_its_own_logo(client, demo):
    logos = {}
    for slug in demo:
        response = await client.get(brand_url(slug, "/assets/logo.png"))
        assert response.headers["content-type"] == "image/png"
        logos[slug] = hashlib.sha256(response.content).hexdigest()
        assert response.content == demo_pack(slug).logo_png
    assert logos["bella"] != logos["mare"]


async def test_a_custom_host_serves_its_brand(client, demo, settings, tmp_path):
    pack = demo_pack("mare")
    await import_brand(
        msgspec.structs.replace(pack, hosts=["fidelidade.mare.example"]), base_host=settings.base_host
    )
    response = await client.get("http://fidelidade.mare.example/")
    assert response.status_code == 200 and "Maré Moda" in response.text
    assert (await client.get("http://fidelidade.mare.example:443/")).status_code == 200


async def test_the_platform_host_lists_the_brands_in_development(client, demo):
    response = await client.get(platform_url())
    assert response.status_code == 200
    assert "http://bella.localhost:8000/" in response.text
    assert "http://mare.localhost:8000/" in response.text


async def test_the_platform_host_lists_no_brand_in_production(engine, database_url):
    settings = make_settings(
        database_url, RETORNO_ENV="production", RETORNO_SECRET_KEY="p" * 40, RETORNO_DATA_KEY=DATA_KEY
    )
    await import_demo(settings)
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        response = await c.get(platform_url())
    assert response.status_code == 200
    assert "Bella" not in response.text and "bella.localhost" not in response.text


async def test_brand_routes_do_not_exist_on_the_platform_host_and_vice_versa(client):
    for path in ["/manifest.webmanifest", "/sw.js", "/theme.css", "/offline", "/assets/logo.png"]:
        assert (await client.get(platform_url(path))).status_code == 404, path
    assert (await client.get(platform_url("/healthz"))).json() == {"status": "ok"}
    assert (await client.get(brand_url("bella", "/healthz"))).status_code == 404


async def test_a_missing_page_on_a_brand_host_is_a_404_in_its_theme(client, demo):
    response = await client.get(brand_url("mare", "/nao-existe"))
    assert response.status_code == 404
    assert "Maré Moda" in response.text and "Página não encontrada" in response.text


@pytest.mark.parametrize("path", ["/", "/regulations", "/manifest.webmanifest", "/join"])
async def test_head_answers_as_get_without_the_body(client, demo, path):
    """Monitors and link checkers ask HEAD first; it answered 405 on every page."""
    got = await client.get(brand_url("bella", path))
    head = await client.head(brand_url("bella", path))
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers.get("content-length") == got.headers.get("content-length")
