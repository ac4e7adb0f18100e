"""/dev/store: a fake store using a brand's site widget, so a manager sees it working before
touching the real site, and the browser tests have a page to drive (development and test only).

Its stylesheet is hostile on purpose (every element's font and colour forced with !important):
the widget, in its Shadow DOM, must look the same anyway, and must not restyle the store. The
store's "backend" signs the shopper token itself, as a real store's would: `?shopper=<e-mail>`
is a signed-in shopper; `signed_by=<slug>` signs with another brand's secret and `ttl=-60` makes
an expired token (both refused by the widget, which then shows no balance). The platform's own
origin is allowed for every brand's widget outside production (portal/widget.py), so the demo
needs no origin configured.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.errors import NotFound
from retorno.web import lang_of, now_of, origin_of, requires_platform_host, settings_of
from retorno.widget import service as widget

STYLES = Path(__file__).with_name("devstore.css")  # package data, in a wheel too

# A few products per demo brand (a category the brand's rules name, and one they do not).
PRODUCTS = {
    "bella": [
        ("Batom Matte Rubi", 4990, "maquiagem", "#B0304A"),
        ("Base Líquida Natural", 8990, "maquiagem", "#D9A27E"),
        ("Sérum Vitamina C", 12990, "skincare", "#F2B84B"),
        ("Hidratante Corporal", 5990, "corpo", "#9FC5B8"),
    ],
    "mare": [
        ("Tênis Casual Areia", 29990, "calcados", "#CDB89A"),
        ("Vestido de Linho", 18990, "roupas", "#6C8EAD"),
        ("Sandália de Couro", 15990, "calcados", "#8A5A3C"),
        ("Camisa Listrada", 12990, "roupas", "#2F4858"),
    ],
}
CART = [(0, 2), (2, 1)]  # (product, quantity)
SHIPPING = 1500


def _allowed(request: Request) -> None:
    if settings_of(request).env not in ("development", "test"):
        raise NotFoundException()


async def _brand(request: Request) -> BrandView:
    try:
        return await brands.get_brand(request.query_params.get("brand") or "bella")
    except NotFound:
        raise NotFoundException() from None


def _products(brand: BrandView) -> list[dict]:
    chosen = PRODUCTS.get(brand.slug, PRODUCTS["bella"])
    return [{"name": n, "price": p, "category": c, "colour": colour} for n, p, c, colour in chosen]


async def _token(request: Request, brand: BrandView) -> str | None:
    """What the store's backend would sign for its signed-in shopper (see the module's doc)."""
    email = (request.query_params.get("shopper") or "").strip()
    if not email:
        return None
    signer = brand
    if request.query_params.get("signed_by"):
        signer = await _brand_named(request.query_params["signed_by"])
    now = now_of(request)
    settings = await widget.settings_for(signer.id, now=now)
    keyed = await widget.by_key(settings.publishable_key)
    if keyed is None:
        return None
    try:
        ttl = int(request.query_params.get("ttl") or 3600)
    except ValueError:
        ttl = 3600
    return widget.sign(keyed.secret, f"email:{email}", int((now + dt.timedelta(seconds=ttl)).timestamp()))


async def _brand_named(slug: str) -> BrandView:
    try:
        return await brands.get_brand(slug)
    except NotFound:
        raise NotFoundException() from None


async def _context(request: Request, page: str) -> dict:
    brand = await _brand(request)
    settings = settings_of(request)
    config = await widget.settings_for(brand.id, now=now_of(request))
    products = _products(brand)
    lines = [dict(products[i], quantity=q, line=products[i]["price"] * q) for i, q in CART]
    subtotal = sum(line["line"] for line in lines)
    return {
        "brand": None,
        "lang": lang_of(request),
        "b": brand,
        "page": page,
        "brand_origin": origin_of(brand, settings),
        "key": config.publishable_key,
        "products": products,
        "lines": lines,
        "subtotal": subtotal,
        "shipping": SHIPPING,
        "total": subtotal + SHIPPING,
        "token": await _token(request, brand) if page == "cart" else None,
        "shopper": request.query_params.get("shopper") or "",
        "launcher": request.query_params.get("launcher") != "off",
        "demo_brands": await brands.list_brands(),
    }


def _csp(brand_origin: str) -> str:
    """The store's own policy: its scripts, styles and requests, and the brand's widget."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {brand_origin}",
            f"connect-src 'self' {brand_origin}",
            f"img-src 'self' data: {brand_origin}",
            f"font-src 'self' {brand_origin}",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


async def _page(request: Request, page: str) -> Template:
    _allowed(request)
    context = await _context(request, page)
    return Template(
        "platform/devstore.html",
        context=context,
        headers={"content-security-policy": _csp(context["brand_origin"]), "cache-control": "no-store"},
    )


@get("/dev/store", name="platform:devstore")
async def store_products(request: Request) -> Template:
    return await _page(request, "products")


@get("/dev/store/cart", name="platform:devstore-cart")
async def store_cart(request: Request) -> Template:
    return await _page(request, "cart")


@functools.cache
def _styles() -> bytes:
    return STYLES.read_bytes()


@get("/dev/store.css", name="platform:devstore-css")
async def store_styles(request: Request) -> Response[bytes]:
    _allowed(request)
    return Response(_styles(), media_type="text/css", headers={"cache-control": "no-cache"})


router = Router(
    path="/",
    guards=[requires_platform_host],
    route_handlers=[store_products, store_cart, store_styles],
    include_in_schema=False,
)
