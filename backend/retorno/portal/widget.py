"""The site widget on the brand's host: /widget.js and the read-only endpoints it calls.

    GET  /widget.js                      the script (frontend/widget/widget.js), no CORS needed
    GET  /widget/v1/config               the brand's look, links, rates and the widget's words
    GET  /widget/v1/quote/product        what products earn (p=<centavos>[:<category>], repeated)
    POST /widget/v1/quote/cart           what a cart earns; with a shopper token, what may be used
    POST /widget/v1/checkout-code        a shopper's cashback as a discount code at the checkout
    GET  /widget/v1/fonts/<file>         the brand's font, for the widget's Shadow DOM

Every /widget/v1 call names its brand's publishable key (`?key=pk_...`, or the X-Retorno-Key
header) and, from a browser, comes from one of the brand's store origins: only then is the origin
echoed in Access-Control-Allow-Origin (outside production the platform's own origin, where
/dev/store lives, is allowed for every brand). A wrong key or a refused token counts towards a
per-address limit (429). A balance is never in an answer without a valid shopper token
(widget/service.py). Errors are problem+json in the page's language, with the CORS headers.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post, route
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath

from retorno import i18n
from retorno.auth import ratelimits
from retorno.bounds import check_amount
from retorno.brands.rules import Campaign
from retorno.brands.service import BrandView
from retorno.cache import TTLCache
from retorno.customers.service import Identity
from retorno.errors import CODES, N_, TITLES, DomainError, Field, Invalid, Unauthorized
from retorno.ledger import balances, posting, rules
from retorno.ledger.rules import Item
from retorno.portal.theme import CORNERS, FONTS, WEIGHTS
from retorno.sales import checkout, redemptions
from retorno.signin.guards import client_address
from retorno.stores import service as stores
from retorno.stores.clients import Api
from retorno.web import FRONTEND_DIR, brand_required, decode_json, now_of, origin_of, settings_of, static_url
from retorno.widget import service as widget
from retorno.widget.service import Keyed, TokenRefused

log = logging.getLogger("retorno")
SCRIPT = FRONTEND_DIR / "widget" / "widget.js"
MAX_BODY = 100_000
MAX_PRODUCTS = 60
PREFLIGHT_AGE = "600"

# The widget's words, in the page's language; the script has none of its own. Keys are what
# widget.js reads; a `%(name)s` is filled in by the script.
WORDS = {
    "badge": N_("Earn %(amount)s in cashback"),
    "badge_more": N_("Higher cashback: %(rate)s on this product"),
    "cart_earn": N_("This order earns %(amount)s in cashback"),
    "cart_below_min": N_("Orders from %(amount)s earn cashback"),
    "badge_points": N_("Earn %(points)s"),
    "cart_points": N_("This order earns %(points)s"),
    "balance_points": N_("Your points: %(points)s"),
    "balance": N_("Your cashback: %(amount)s"),
    "usable": N_("You can use %(amount)s on this order"),
    "use": N_("Use %(amount)s"),
    "code_title": N_("Your discount code"),
    "code_help": N_("Type it in the discount code field at checkout. It is valid until %(time)s."),
    "copy": N_("Copy"),
    "copied": N_("Copied"),
    "apply": N_("Apply to my cart"),
    "join": N_("Join now"),
    "join_pitch": N_("Get cashback on this and future orders."),
    "token_expired": N_("Your session on this store has expired: reload the page to see your cashback."),
    "token_invalid": N_("We could not confirm who you are, so your cashback is not shown."),
    "load_error": N_("The cashback could not be loaded now."),
    "code_error": N_("The code could not be created now. Please try again."),
    "launcher": N_("Cashback"),
    "panel_title": N_("%(brand)s cashback"),
    "panel_intro": N_("Part of every purchase comes back to you as cashback, to use on your next orders."),
    "how_title": N_("How it works"),
    "how_earn": N_("Buy as usual: you earn %(rate)s of every purchase."),
    "how_wait": N_("Your cashback is available %(days)s days after the purchase."),
    "how_now": N_("Your cashback is available right after the purchase."),
    "how_use": N_("Use it on orders from %(amount)s, up to %(share)s of the order."),
    "how_use_any": N_("Use it on any order, up to %(share)s of the order."),
    "how_expiry": N_("It is valid for %(days)s days."),
    "rates_title": N_("Cashback rates"),
    "rate_base": N_("Every purchase"),
    "rate_from": N_("Orders from %(amount)s"),
    "campaign": N_("%(name)s: %(multiplier)s× cashback until %(date)s"),
    "min_purchase": N_("Minimum purchase to earn: %(amount)s"),
    "regulations": N_("Read the regulations"),
    "open_app": N_("Open the app"),
    "join_programme": N_("Join the programme"),
    "close": N_("Close"),
    # why this order may use less than the balance (redemptions.REASONS' codes, in a shopper's words)
    "reason_no_balance": N_("You have no cashback to use yet."),
    "reason_below_min_order": N_("Cashback can be used on orders from %(amount)s."),
    "reason_max_share": N_("Up to %(share)s of an order can be paid with cashback."),
    "reason_balance": N_("That is more than your available cashback."),
}
assert {f"reason_{code}" for code in redemptions.REASONS} <= set(WORDS)  # every reason has its words


class OriginRefused(DomainError):
    status_code = 403
    title = "Not allowed"


# --- who is asking ------------------------------------------------------------------------------


def lang_of(connection: ASGIConnection) -> str:
    """The page's language (the script sends its <html lang>), else the browser's, else the brand's."""
    asked = (connection.query_params.get("lang") or "").strip().lower()
    if asked.startswith("pt"):
        return "pt-BR"
    if asked.startswith("en"):
        return "en"
    brand = connection.scope["state"].get("brand")
    return i18n.from_accept_language(connection.headers.get("accept-language")) or (
        brand.locale if brand else "pt-BR"
    )


def _allowed_origins(connection: ASGIConnection, keyed: Keyed) -> set[str]:
    """The store's origins; outside production also the platform's own (the demo store's)."""
    settings = settings_of(connection)
    allowed = set(keyed.origins) | {origin_of(brand_required(connection), settings)}
    if not settings.production:
        allowed.add(f"{settings.scheme}://{settings.base_host}")
    return allowed


def _cors(connection: ASGIConnection) -> dict[str, str]:
    """The CORS headers of an answer: the origin echoed only when it is one of the brand's."""
    origin = connection.headers.get("origin")
    keyed: Keyed | None = connection.scope["state"].get("widget")
    headers = {"vary": "Origin"}
    if origin and keyed is not None and origin in _allowed_origins(connection, keyed):
        headers["access-control-allow-origin"] = origin
    return headers


def _key_of(connection: ASGIConnection) -> str:
    return (connection.query_params.get("key") or connection.headers.get("x-retorno-key") or "").strip()


async def _keyed(connection: ASGIConnection) -> Keyed | None:
    """The widget whose key the request names, if it is this host's brand's."""
    key = _key_of(connection)
    found = await widget.by_key(key) if key else None
    return found if found is not None and found.brand_id == brand_required(connection).id else None


async def requires_widget_key(connection: ASGIConnection, _: Any) -> None:
    """A guard: this brand's publishable key, from one of its origins (a request without an
    Origin, from a server, is answered too: it learns nothing a browser could not)."""
    brand_required(connection)
    keyed = await _keyed(connection)
    if keyed is None:
        if _key_of(connection):  # a wrong key is counted; none at all is not a guess
            now = connection.app.state.clock()
            await ratelimits.hit("widget-auth:addr", client_address(connection), now=now)
        raise Unauthorized("a valid publishable key is needed: ?key=pk_... (the script's data-key)")
    origin = connection.headers.get("origin")
    if origin is not None and origin not in _allowed_origins(connection, keyed):
        raise OriginRefused("this page's origin is not one of the brand's store origins")
    connection.scope["state"]["widget"] = keyed


def _keyed_of(request: Request) -> Keyed:
    keyed: Keyed = request.scope["state"]["widget"]
    return keyed


def _json(request: Request, body: Any, *, status: int = 200, cache: str = "no-store") -> Response[bytes]:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    headers = _cors(request) | {"cache-control": cache}
    return Response(raw, status_code=status, media_type="application/json", headers=headers)


async def _shopper(request: Request, token: str | None) -> tuple[Identity | None, TokenRefused | None]:
    """The shopper a token names, or why it was refused (a refusal counts towards the limit)."""
    if not token:
        return None, None
    try:
        return widget.verify(_keyed_of(request).secret, token, now=now_of(request)), None
    except TokenRefused as refused:
        await ratelimits.hit("widget-auth:addr", client_address(request), now=now_of(request))
        return None, refused


# --- the script and the font ----------------------------------------------------------------------


@functools.cache
def _script() -> tuple[bytes, str]:
    body = SCRIPT.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@get("/widget.js")
async def widget_script(request: Request) -> Response[bytes]:
    """One script for every brand (it reads its brand from its own URL); a store's page keeps it
    five minutes and then revalidates, so a new version reaches every store within minutes."""
    brand_required(request)
    body, etag = _script()
    headers = {"etag": etag, "cache-control": "public, max-age=300, stale-while-revalidate=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@functools.cache
def _font_files() -> dict[str, bytes]:
    return {
        f"{name}-latin-{w}-normal.woff2": (
            FRONTEND_DIR / "fonts" / f"{name}-latin-{w}-normal.woff2"
        ).read_bytes()
        for name in FONTS
        for w in WEIGHTS
    }


@get("/widget/v1/fonts/{name:str}")
async def widget_font(request: Request, name: FromPath[str]) -> Response[bytes]:
    """A brand font for any page: fonts are public, and a cross-origin font needs CORS to load."""
    brand_required(request)
    data = _font_files().get(name)
    if data is None:
        raise NotFoundException()
    headers = {"access-control-allow-origin": "*", "cache-control": "public, max-age=31536000, immutable"}
    return Response(data, media_type="font/woff2", headers=headers)


# --- config ----------------------------------------------------------------------------------------

_configs = TTLCache(seconds=30)


def _live(brand: BrandView, now: dt.datetime) -> list[Campaign]:
    return [c for c in brand.rules().cashback.campaigns if c.starts <= now <= c.ends]


def build_config(brand: BrandView, keyed: Keyed, *, origin: str, lang: str, now: dt.datetime) -> bytes:
    cashback, redemption = brand.rules().cashback, brand.rules().redemption
    family, stack = FONTS.get(
        brand.font, ("", 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif')
    )
    card, button, _ = CORNERS.get(brand.corners, CORNERS["round"])
    version = static_url(f"fonts/{brand.font}-latin-400-normal.woff2").rsplit("?v=", 1)[-1] if family else ""
    return msgspec.json.encode(
        {
            "lang": lang,
            "currency": brand.currency,
            "brand": {
                "name": brand.name,
                "short_name": brand.short_name,
                "logo": f"{origin}/assets/logo-120.png?v={brand.app_version}",
                "colors": {
                    "primary": brand.primary_color,
                    "on_primary": brand.on_primary,
                    "accent": brand.accent_color,
                    "background": brand.background_color,
                    "on_background": brand.on_background,
                },
                "font": {
                    "family": f"Retorno {family}" if family else "",
                    "stack": stack,
                    "files": {
                        str(w): f"{origin}/widget/v1/fonts/{brand.font}-latin-{w}-normal.woff2?v={version}"
                        for w in WEIGHTS
                    }
                    if family
                    else {},
                },
                "corners": {"card": card, "button": button},
            },
            "links": {
                "app": f"{origin}/",
                "join": f"{origin}/join",
                "regulations": f"{origin}/regulations",
            },
            "rates": {
                "base_bp": cashback.rate_bp,
                "bands": [{"from": b.from_total, "rate_bp": b.rate_bp} for b in cashback.bands],
                "categories": cashback.categories,
                "campaigns": [
                    {
                        "name": c.name,
                        "multiplier_x100": c.multiplier_x100,
                        "categories": c.categories,
                        "ends": c.ends.isoformat(),
                    }
                    for c in _live(brand, now)
                ],
                "min_purchase": cashback.min_purchase,
                "max_per_order": cashback.max_per_order,
                "pending_days": cashback.pending_days,
                "expiry_days": cashback.expiry_days,
            },
            "redemption": {"min_order": redemption.min_order, "max_share_bp": redemption.max_share_bp},
            "program": brand.rules().program,
            "launcher": keyed.launcher,
            "words": {key: i18n.gettext(lang, message) for key, message in WORDS.items()},
        }
    )


@get("/widget/v1/config", guards=[requires_widget_key])
async def widget_config(request: Request) -> Response[bytes]:
    """Everything the script draws with, built once per brand, language and live campaigns."""
    brand, keyed, lang, now = brand_required(request), _keyed_of(request), lang_of(request), now_of(request)
    key = (
        brand.id,
        brand.app_version,
        brand.rules_json,
        lang,
        keyed,
        tuple(c.name for c in _live(brand, now)),
    )
    body = _configs.get(key)
    if body is None:
        body = build_config(brand, keyed, origin=origin_of(brand, settings_of(request)), lang=lang, now=now)
        _configs.put(key, body)
    return _json(request, body, cache="public, max-age=60")


# --- quotes ----------------------------------------------------------------------------------------


class ProductQuote(msgspec.Struct, kw_only=True, omit_defaults=True):
    price: int
    category: str | None
    cashback: int
    rate_bp: int  # the rate with any campaign's multiplier: 1500 is 15%
    campaign: str | None
    highlighted: bool  # more than the brand's base rate
    points: int | None = None  # where the brand gives points: how many, and in words ("150 pontos")
    points_text: str | None = None


def points_of(
    brand: BrandView, items: list[Item] | None, total: int, shipping: int, now: dt.datetime
) -> int | None:
    """What an order earns in points (None: the brand gives none), by the same rules as a sale."""
    program = brand.rules()
    if not program.earns_points:
        return None
    return rules.earn(
        program.points_earning(), items=items, total=total, shipping=shipping, segment="", at=now
    ).amount


def product_quote(
    brand: BrandView, *, price: int, category: str | None, now: dt.datetime, lang: str = "pt-BR"
) -> ProductQuote:
    """What one product earns bought on its own, by the brand's rules (ledger.rules.earn)."""
    program = brand.rules()
    cashback = program.cashback
    items = [Item(amount=price, category=category)]
    earning = rules.earn(cashback, items=items, total=price, shipping=0, segment="", at=now)
    line = earning.breakdown[0] if earning.breakdown and program.earns_cashback else None
    rate = line.rate_bp * line.multiplier_x100 // 100 if line else 0
    points = points_of(brand, items, price, 0, now)
    return ProductQuote(
        price=price,
        category=category,
        cashback=earning.amount if program.earns_cashback else 0,
        rate_bp=rate,
        campaign=line.campaign if line else None,
        highlighted=rate > cashback.rate_bp,
        points=points,
        points_text=i18n.points(points, lang=lang) if points else None,
    )


def _product(text: str) -> tuple[int, str | None]:
    price, _, category = text.partition(":")
    if not price.isascii() or not price.isdigit() or len(price) > 11 or int(price) > 10**11:
        raise Invalid("%(field)s: a price in centavos, like 12990 or 12990:maquiagem", field=Field("p"))
    category = category.strip()
    if len(category) > 100:
        raise Invalid("%(field)s: at most %(max)s characters", field=Field("category"), max=100)
    return int(price), category or None


@get("/widget/v1/quote/product", guards=[requires_widget_key])
async def widget_product_quote(request: Request) -> Response[bytes]:
    """What each product earns: `p=<price in centavos>[:<category>]`, up to 60 at once."""
    brand, now = brand_required(request), now_of(request)
    asked = request.query_params.getall("p", [])
    if not asked or len(asked) > MAX_PRODUCTS:
        raise Invalid("%(field)s: from 1 to %(max)s products", field=Field("p"), max=MAX_PRODUCTS)
    lang = lang_of(request)
    quotes = [product_quote(brand, price=p, category=c, now=now, lang=lang) for p, c in map(_product, asked)]
    body = {"currency": brand.currency, "base_rate_bp": brand.rules().cashback.rate_bp, "quotes": quotes}
    return _json(request, body, cache="public, max-age=60")


class CartIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    total: int  # centavos, shipping included
    shipping: int = 0
    items: list[Item] | None = None
    token: str | None = None  # the shopper token the store's backend signed


class TokenProblem(msgspec.Struct, kw_only=True):
    reason: str  # malformed | signature | expired | too_long
    message: str


class ShopperQuote(msgspec.Struct, kw_only=True, omit_defaults=True):
    available: int  # the shopper's available cashback
    usable: int  # what this order may use (minimum order and maximum share applied)
    reason: str | None  # why not more: no_balance | below_min_order | max_share
    message: str | None  # the reason in the page's language
    checkout_codes: bool  # the store's checkout takes codes: the widget offers "Use R$ X"
    points_text: str | None = None  # the shopper's available points, in words, where the brand gives them


class CartQuote(msgspec.Struct, kw_only=True, omit_defaults=True):
    currency: str
    earn: int
    below_min_purchase: bool
    shopper: ShopperQuote | None  # only with a valid shopper token
    token_error: TokenProblem | None
    points: int | None = None  # what the order earns in points (brands that give them)
    points_text: str | None = None


def _reason_text(brand: BrandView, lang: str, reason: str | None) -> str | None:
    if reason is None:
        return None
    redemption = brand.rules().redemption
    text = i18n.gettext(lang, WORDS[f"reason_{reason}"])
    return (
        text
        % {
            "amount": i18n.money(redemption.min_order, lang=lang, currency=brand.currency),
            "share": i18n.percent(redemption.max_share_bp, lang=lang),
        }
        if "%(" in text
        else text
    )


def _checks(data: CartIn) -> None:
    check_amount("total", data.total)
    check_amount("shipping", data.shipping)
    if data.shipping > data.total:
        raise Invalid("%(field)s: more than the total", field=Field("shipping"))
    if data.items is not None and len(data.items) > 200:
        raise Invalid("%(field)s: at most %(max)s lines", field=Field("items"), max=200)


@post("/widget/v1/quote/cart", guards=[requires_widget_key], status_code=200)
async def widget_cart_quote(request: Request) -> Response[bytes]:
    """What the cart earns; with a valid shopper token also the balance and what this order may
    use, and why not more. Nothing is written."""
    brand, now, lang = brand_required(request), now_of(request), lang_of(request)
    data = decode_json(await request.body(), CartIn)
    _checks(data)
    identity, refused = await _shopper(request, data.token)
    quote = await redemptions.quote(
        brand=brand, identity=identity, total=data.total, shipping=data.shipping, items=data.items, now=now
    )
    shopper = None
    if identity is not None:
        reason = quote.redeemable.reason
        shopper = ShopperQuote(
            available=quote.available,
            usable=quote.redeemable.max_amount,
            reason=reason,
            message=_reason_text(brand, lang, reason),
            checkout_codes=await stores.checkout_platform(brand.id) is not None,
        )
        if brand.rules().earns_points and quote.customer_id is not None:
            held = await balances.available(quote.customer_id, now, brand_id=brand.id, unit=posting.POINTS)
            shopper.points_text = i18n.points(held, lang=lang)
    problem = None
    if refused is not None:
        word = "token_expired" if refused.reason == "expired" else "token_invalid"
        problem = TokenProblem(reason=refused.reason, message=i18n.gettext(lang, WORDS[word]))
    cashback = brand.rules().cashback
    merchandise = data.total - data.shipping
    points = points_of(brand, data.items, data.total, data.shipping, now)
    answer = CartQuote(
        currency=brand.currency,
        earn=quote.earn.amount if brand.rules().earns_cashback else 0,
        points=points,
        points_text=i18n.points(points, lang=lang) if points else None,
        below_min_purchase=0 < merchandise < cashback.min_purchase,
        shopper=shopper,
        token_error=problem,
    )
    return _json(request, answer)


class CodeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: str
    amount: int  # centavos of cashback to turn into a discount code
    order_total: int  # the cart's total, for the minimum order and the maximum share


@post("/widget/v1/checkout-code", guards=[requires_widget_key], status_code=201)
async def widget_checkout_code(request: Request) -> Response[bytes]:
    """A single-use discount code on the store's platform for `amount` of the shopper's cashback,
    held until a paid order uses it or it expires (sales/checkout.py)."""
    brand, now = brand_required(request), now_of(request)
    data = decode_json(await request.body(), CodeIn)
    await ratelimits.hit("widget-code:addr", client_address(request), now=now)
    identity, refused = await _shopper(request, data.token)
    if identity is None:
        raise refused or TokenRefused("malformed", N_("The shopper token is not valid."))
    held = await checkout.hold(
        brand=brand,
        identity=identity,
        amount=data.amount,
        order_total=data.order_total,
        now=now,
        api=Api.of(settings_of(request)),
    )
    return _json(request, held, status=201)


# --- CORS preflight and errors ------------------------------------------------------------------

PATHS = ["/widget/v1/config", "/widget/v1/quote/product", "/widget/v1/quote/cart", "/widget/v1/checkout-code"]


@route(PATHS, http_method=["OPTIONS"], status_code=204)
async def widget_preflight(request: Request) -> Response[None]:
    """A browser asks before a POST of JSON: the origin is echoed only if the key's brand has it."""
    brand_required(request)
    keyed = await _keyed(request)
    origin = request.headers.get("origin")
    headers = {"vary": "Origin", "allow": "GET, POST, OPTIONS"}
    if keyed is not None and origin and origin in _allowed_origins(request, keyed):
        headers |= {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": "content-type, x-retorno-key, accept-language",
            "access-control-max-age": PREFLIGHT_AGE,
        }
    return Response(None, status_code=204, headers=headers)


def widget_error(request: Request, exc: Exception) -> Response[bytes]:
    """Problem details in the page's language, with the CORS headers the answer would have had,
    so the script can read why."""
    lang = lang_of(request)
    extra: dict[str, Any] = {}
    headers = _cors(request) | {"cache-control": "no-store"}
    if isinstance(exc, DomainError):
        status, title, detail = exc.status_code, i18n.gettext(lang, exc.title), i18n.error_text(lang, exc)
        if isinstance(exc, redemptions.NotRedeemable):
            extra |= {"reason": exc.reason, "max_amount": exc.max_amount}
        extra |= getattr(exc, "extra", {})
        if hasattr(exc, "retry_after"):
            headers["retry-after"] = str(exc.retry_after)
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        title = i18n.gettext(lang, TITLES.get(status, "Bad request"))
        detail = i18n.gettext(
            lang,
            N_("Some of what was sent is missing or not valid.")
            if isinstance(exc, ValidationException)
            else N_("The address may be wrong, or the page was removed.")
            if status == 404
            else TITLES.get(status, "Bad request"),
        )
    else:
        log.error("server error on %s %s: %s", request.method, request.scope.get("path_template"), exc)
        status = 500
        title, detail = (
            i18n.gettext(lang, N_("Something went wrong")),
            i18n.gettext(lang, N_("Please try again soon.")),
        )
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body |= extra | {"code": CODES.get(status, "error")}
    return Response(
        msgspec.json.encode(body), status_code=status, media_type="application/problem+json", headers=headers
    )


router = Router(
    path="/",
    route_handlers=[
        widget_preflight,  # first: a path's own OPTIONS handler, before Litestar makes its default one
        widget_script,
        widget_font,
        widget_config,
        widget_product_quote,
        widget_cart_quote,
        widget_checkout_code,
    ],
    include_in_schema=False,
    request_max_body_size=MAX_BODY,
    exception_handlers={DomainError: widget_error, HTTPException: widget_error},
)
