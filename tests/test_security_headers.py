"""Every response carries the protective headers; pages hold no inline script or style."""

import re

import httpx
import pytest

from retorno.app import create_app
from tests.conftest import DATA_KEY, brand_url, make_settings, platform_url, post_form

URLS = [
    brand_url("bella"),
    brand_url("mare", "/offline"),
    brand_url("bella", "/manifest.webmanifest"),
    brand_url("bella", "/sw.js"),
    brand_url("bella", "/theme.css"),
    brand_url("bella", "/assets/icon-192.png"),
    brand_url("bella", "/static/css/app.css"),
    brand_url("bella", "/no-such-page"),
    "http://unknown.localhost:8000/",
    platform_url(),
    platform_url("/healthz"),
    platform_url("/no-such-page"),
]


def assert_protected(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in (
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    )


@pytest.mark.parametrize("url", URLS)
async def test_every_response_is_protected(client, url):
    response = await client.get(url)
    assert_protected(response)
    assert "strict-transport-security" not in response.headers


async def test_the_language_form_answer_is_protected_too(client):
    response = await post_form(client, brand_url("bella", "/lang"), {"lang": "en", "next": "/"})
    assert response.status_code == 303
    assert_protected(response)


async def test_production_adds_hsts(engine, database_url, demo):
    settings = make_settings(
        database_url, RETORNO_ENV="production", RETORNO_SECRET_KEY="k" * 40, RETORNO_DATA_KEY=DATA_KEY
    )
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
        for url in (brand_url("bella"), "http://unknown.localhost:8000/", platform_url("/healthz")):
            response = await c.get(url)
            assert response.headers["strict-transport-security"].startswith("max-age=")
            assert_protected(response)


@pytest.mark.parametrize(
    "url", [brand_url("bella"), brand_url("mare", "/offline"), brand_url("bella", "/x"), platform_url()]
)
async def test_pages_have_no_inline_script_or_style(client, url):
    html = (await client.get(url)).text
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None  # no script body
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None  # no event handler attributes
