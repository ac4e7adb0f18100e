"""What every response goes through (backend/retorno/middleware.py): gzip where it gains, the CSRF
cookie for a new visitor, one Vary that names all a response varies by."""

from __future__ import annotations

import datetime as dt
import gzip
import re

import httpx
import msgspec

from retorno.web import FRONTEND_DIR
from tests.conftest import brand_url, platform_url

GZIP = {"accept-encoding": "gzip, deflate, br"}
PLAIN = {"accept-encoding": "identity"}


def _vary(response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


async def _raw(client, url: str, headers: dict[str, str]):
    """The response as sent: httpx would decode gzip on its own."""
    request = client.build_request("GET", url, headers=headers)
    response = await client.send(request, stream=True)
    body = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    return response, body


async def test_a_page_goes_gzipped_to_who_accepts_it_and_is_the_same_page(client) -> None:
    zipped, body = await _raw(client, brand_url("bella", "/regulations"), GZIP)
    plain, plain_body = await _raw(client, brand_url("bella", "/regulations"), PLAIN)
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert int(zipped.headers["content-length"]) == len(body) < len(plain_body)
    assert gzip.decompress(body) == plain_body
    assert _vary(zipped) == {"accept-encoding", "accept-language", "cookie"}
    assert _vary(plain) == {"accept-language", "cookie"}


async def test_a_streamed_stylesheet_is_gzipped_whole_and_fonts_and_small_bodies_are_not(client) -> None:
    css, body = await _raw(client, brand_url("bella", "/static/css/app.css"), GZIP)
    assert css.headers["content-encoding"] == "gzip" and "accept-encoding" in _vary(css)
    assert gzip.decompress(body) == (FRONTEND_DIR / "css" / "app.css").read_bytes()
    font, font_body = await _raw(
        client, brand_url("bella", "/static/fonts/inter-latin-400-normal.woff2"), GZIP
    )
    assert "content-encoding" not in font.headers  # woff2 is compressed already
    assert font_body == (FRONTEND_DIR / "fonts" / "inter-latin-400-normal.woff2").read_bytes()
    health, health_body = await _raw(client, platform_url("/healthz"), GZIP)
    assert "content-encoding" not in health.headers and health_body == b'{"status":"ok"}'


async def test_a_new_visitor_gets_the_csrf_cookie_with_a_page_and_a_probe_sets_none(client) -> None:
    page = await client.get(brand_url("bella", "/"), headers={"cookie": ""})
    [cookie] = [v for k, v in page.headers.multi_items() if k == "set-cookie" and v.startswith("csrftoken=")]
    assert re.fullmatch(r"csrftoken=[0-9a-f]{128}; Path=/; SameSite=[Ll]ax", cookie), cookie
    client.cookies.clear()
    probe = await client.get(platform_url("/healthz"))
    assert "set-cookie" not in probe.headers
    # The token the page was given is the one its forms carry, and a POST with it is accepted.
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token in page.text


def test_guards_only_read_the_handler_they_are_given(app) -> None:
    """web.py hands every guard the handler itself, not Litestar's copy: no guard may set an
    attribute on it or pass it on to anything but another guard; it may read `.opt`."""
    import ast
    import inspect
    import textwrap

    from litestar.handlers.base import BaseRouteHandler

    from retorno import web

    assert BaseRouteHandler.authorize_connection is web._authorize_connection
    guards = {
        getattr(g, "__wrapped__", g)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        for g in handler.resolve_guards()
    }
    assert len(guards) >= 10
    for guard in guards:
        tree = ast.parse(textwrap.dedent(inspect.getsource(guard)))
        function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        params = [a.arg for a in function.args.args]
        if len(params) < 2:
            continue
        handler = params[1]
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == handler
            ):
                assert isinstance(node.ctx, ast.Load) and node.attr == "opt", (guard.__qualname__, node.attr)
            passed_on = isinstance(node, ast.Call) and any(
                isinstance(a, ast.Name) and a.id == handler for a in node.args
            )
            if passed_on and not isinstance(node.func, ast.Call):  # to another guard (checked too)
                raise AssertionError(f"{guard.__qualname__} passes {handler} on")


async def test_the_signed_out_home_is_rendered_once_and_each_visitor_gets_their_own_token(
    app, demo, settings
) -> None:
    """web.SharedPage: the same page for every visitor of a brand in a language, but for the CSRF
    token, which is each visitor's own (in the cookie, the meta tag and the form alike)."""
    from retorno import cache
    from retorno.onboarding.brand import import_brand
    from tests.conftest import demo_pack

    pages = []
    for _ in range(2):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as visitor:
            page = await visitor.get(brand_url("bella", "/"))
            token = visitor.cookies["csrftoken"]
            assert page.text.count(token) == 2  # <meta name="csrf-token"> and the language form
            pages.append(page.text.replace(token, "TOKEN"))
    assert pages[0] == pages[1] and "csrf-slot" not in pages[0]
    english = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app)).get(
        brand_url("bella", "/"), headers={"accept-language": "en"}
    )
    assert english.text.replace(english.cookies["csrftoken"], "TOKEN") != pages[0]
    # The brand changes: the next visitor sees the change (the page is keyed by the brand as it is).
    pack = demo_pack("bella")
    await import_brand(
        msgspec.structs.replace(pack, name="Bella Nova"),
        base_host=settings.base_host,
        now=dt.datetime.now(dt.UTC),
    )
    cache.clear_all()
    after = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app)).get(brand_url("bella", "/"))
    assert "Bella Nova" in after.text
