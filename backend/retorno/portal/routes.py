"""The brand host's app shell: home, offline page, manifest, service worker, theme, assets."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno import i18n
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import NotFound
from retorno.portal.theme import font_urls, theme_css
from retorno.signin.guards import session_of
from retorno.web import (
    LANG_COOKIE,
    assets_version,
    brand_of,
    brand_required,
    lang_of,
    safe_path,
    service_worker_source,
    static_urls,
)

STATIC_SHELL = ("css/app.css", "js/app.js")
YEAR = "public, max-age=31536000, immutable"


async def requires_brand(connection: Any, _: Any) -> None:
    """Guard: these routes exist only on a brand's host."""
    if brand_of(connection) is None:
        raise NotFoundException()


async def load_shopper(request: Request) -> None:
    """Before a brand-host page: the signed-in shopper's first name, for the app shell's greeting."""
    state = request.scope["state"]
    if "shopper" in state:
        return
    brand, session = brand_of(request), await session_of(request)
    name = None
    if brand is not None and session is not None and session.customer is not None:
        try:
            # Kept for the page, which may read more of the shopper (the home: the segment).
            state["customer"] = await customers.get(brand.id, session.customer)
            name = state["customer"].name or ""
        except NotFound:
            name = None
    # "" is a shopper without a name (greeted without one); None is nobody signed in.
    state["shopper"] = name.split()[0] if name else name


def private_router(*handlers: Any) -> Router:
    """Brand-host pages of a signed-in shopper: nothing here may be kept by a browser cache."""
    return Router(
        path="/",
        guards=[requires_brand],
        include_in_schema=False,
        cache_control=CacheControlHeader(no_store=True, private=True),
        before_request=load_shopper,
        route_handlers=list(handlers),
    )


# The shell's tab for each page, and the page a sub-page goes back to (signed in / signed out).
TABS = {
    "/": "home",
    "/statement": "statement",
    "/vouchers": "vouchers",
    "/invite": "invite",
    "/account": "account",
}
PARENTS = {
    "/account/security": ("/account", "/"),
    "/account/notifications": ("/account", "/"),
    "/account/delete": ("/account", "/"),
    "/help": ("/account", "/"),
    "/regulations": ("/account", "/"),
    "/club": ("/", "/"),
    "/points": ("/", "/"),
    "/join": (None, "/"),
    "/login": (None, "/"),
}


def shell_of(path: str, signed_in: bool) -> dict[str, Any]:
    """Whether the tab bar shows (to a signed-in shopper, on every page), which tab a page belongs
    to (and whether it is that tab's own page), and its back link."""
    parent = PARENTS.get(path, (None, None))[0 if signed_in else 1]
    tab = TABS.get(path) or TABS.get(parent or "")
    return {"tabs": signed_in, "tab": tab if signed_in else None, "tab_page": path in TABS, "back": parent}


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    shopper = request.scope["state"].get("shopper")
    return {
        "brand": brand_of(request),
        "lang": lang_of(request),
        "shopper": shopper,
        **shell_of(request.url.path, shopper is not None),
        **extra,
    }


@get("/offline", name="portal:offline")
async def offline(request: Request) -> Template:
    return Template("portal/offline.html", context=page_context(request))


class LanguageForm(msgspec.Struct):
    lang: str
    next: str = "/"


@post("/lang", name="portal:lang", status_code=303)
async def choose_language(request: Request, data: URLEncodedBody[LanguageForm]) -> Redirect:
    """Remember the shopper's language (a signed-in shopper's messages come in it too); only a
    path on this host is followed back."""
    lang = i18n.choose(data.lang, "pt-BR")
    session = await session_of(request)
    if session is not None and session.customer is not None:
        await customers.set_language(brand_required(request).id, session.customer, lang)
    response = Redirect(safe_path(data.next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        path="/",
    )
    return response


def manifest_for(brand: BrandView, lang: str) -> dict[str, Any]:
    v = brand.app_version
    return {
        "id": "/",
        "name": brand.name,
        "short_name": brand.short_name,
        "description": i18n.gettext(lang, "Your cashback, vouchers and invitations at %(brand)s")
        % {"brand": brand.name},
        "lang": lang,
        "dir": "ltr",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": brand.primary_color,
        "background_color": brand.background_color,
        "categories": ["shopping", "lifestyle"],
        "icons": [
            {"src": f"/assets/icon-192.png?v={v}", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": f"/assets/icon-512.png?v={v}", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": f"/assets/icon-maskable-512.png?v={v}",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }


@get("/manifest.webmanifest", name="portal:manifest")
async def manifest(request: Request) -> Response[bytes]:
    brand = brand_required(request)
    body = msgspec.json.encode(manifest_for(brand, lang_of(request)))
    return Response(body, media_type="application/manifest+json", headers={"cache-control": "no-cache"})


def precache_list(brand: BrandView) -> list[str]:
    v = brand.app_version
    return [
        "/",
        "/offline",
        f"/theme.css?v={v}",
        f"/assets/logo-120.png?v={v}",
        f"/assets/icon-192.png?v={v}",
        *([f"/assets/banner.png?v={v}"] if brand.banner else []),
        *font_urls(brand.font),
        *static_urls(*STATIC_SHELL),
    ]


@get("/sw.js", name="portal:sw")
async def service_worker(request: Request) -> Response[bytes]:
    """One worker file for every brand, prefixed with this brand's name, version and shell."""
    brand = brand_required(request)
    config = msgspec.json.encode(
        {
            "brand": brand.slug,
            "version": f"{brand.app_version}-{assets_version()}",
            "precache": precache_list(brand),
            "offline": "/offline",
            "name": brand.name,
        }
    )
    body = b"self.RETORNO = " + config + b";\n" + service_worker_source()
    return Response(
        body,
        media_type="text/javascript",
        headers={"cache-control": "no-cache", "service-worker-allowed": "/"},
    )


@get("/theme.css", name="portal:theme")
async def theme(request: Request) -> Response[str]:
    """The brand's colours, type and corners as CSS custom properties, light and dark (portal/theme.py)."""
    brand = brand_required(request)
    css = theme_css(brand)
    versioned = request.query_params.get("v") == str(brand.app_version)
    return Response(
        css,
        media_type="text/css",
        headers={"cache-control": YEAR if versioned else "no-cache"},
    )


@get("/assets/{name:str}", name="portal:asset")
async def asset(request: Request, name: FromPath[str]) -> Response[bytes]:
    brand = brand_required(request)
    found = await brands.asset(brand.id, name)
    if found is None:
        raise NotFoundException()
    data, content_type, digest = found
    etag = f'"{digest}"'
    versioned = request.query_params.get("v") == str(brand.app_version)
    headers = {"etag": etag, "cache-control": YEAR if versioned else "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(data, media_type=content_type, headers=headers)


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    route_handlers=[offline, choose_language, manifest, service_worker, theme, asset],
)
