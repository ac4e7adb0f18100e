"""Thin handlers: authenticate the brand's key, decode a msgspec struct, call one service function."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from retorno import db
from retorno.apikeys import service as apikeys
from retorno.auth import ratelimits
from retorno.bounds import check_amount, check_key
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Unauthorized, UnsupportedMediaType
from retorno.ledger import balances
from retorno.ledger.rules import Item
from retorno.sales import orders, redemptions
from retorno.sales.redemptions import RedemptionIn
from retorno.sales.requests import SaleIn
from retorno.signin.guards import client_address
from retorno.vouchers import service as vouchers
from retorno.web import decode_body, json_response, now_of, requires_platform_host

ApiBrand = NamedDependency[BrandView]
T = TypeVar("T")


async def api_brand(request: Request) -> BrandView:
    """The brand whose API key signed this request (`Authorization: Bearer rk_...`)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    brand = (
        await apikeys.authenticate(key.strip(), now=now_of(request)) if scheme.lower() == "bearer" else None
    )
    if brand is None:
        # Wrong keys are counted per client address: past the limit the answer is 429 (a valid
        # key from the same address, a shop behind the same NAT, still works).
        await ratelimits.hit("api-auth:addr", client_address(request), now=now_of(request))
        raise Unauthorized("a valid API key is needed: Authorization: Bearer <key>")
    return brand


MAX_BODY = 1_000_000  # bytes: a sale of MAX_ITEMS lines is about 100 KB


async def requires_json(connection: ASGIConnection, _: Any) -> None:
    """A body is JSON, said so in its Content-Type (`text/plain` is not parsed as JSON); a POST
    with no body at all (a cancellation) needs none."""
    headers = connection.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if isinstance(connection, Request) and connection.method == "POST" and has_body:
        content_type = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType("send the body as JSON, with Content-Type: application/json")


async def _customer(brand: ApiBrand, ref: str) -> customers.CustomerView:
    return await customers.find(brand.id, ref)


@post("/customers", status_code=200)
async def upsert_customer(request: Request, brand: ApiBrand, data: JSONBody[Identity]) -> Response[bytes]:
    """Create a customer, or update the one these identifiers point to."""
    data = await decode_body(request, Identity)
    customer, created = await db.write(lambda: customers.upsert(brand.id, data, now=now_of(request)))
    return json_response(msgspec.to_builtins(customer), 201 if created else 200)


@get("/customers/{ref:str}/balance")
async def customer_balance(request: Request, brand: ApiBrand, ref: FromPath[str]) -> Response[bytes]:
    """Available, pending and soon-expiring cashback; `ref` is cpf:, email:, phone:, ext: or the id."""
    customer = await _customer(brand, ref)
    balance = await balances.balance(brand=brand, customer_id=customer.id, now=now_of(request))
    return json_response(msgspec.structs.asdict(balance))


@get("/customers/{ref:str}/statement")
async def customer_statement(
    request: Request,
    brand: ApiBrand,
    ref: FromPath[str],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    cursor: FromQuery[str | None] = None,
) -> Response[bytes]:
    """Movements newest first; pass `next_cursor` back as `cursor` for the next page."""
    customer = await _customer(brand, ref)
    entries, next_cursor = await balances.statement(
        brand_id=brand.id, customer_id=customer.id, now=now_of(request), limit=limit, cursor=cursor
    )
    return json_response({"entries": entries, "next_cursor": next_cursor})


@post("/sales", status_code=201)
async def post_sale(request: Request, brand: ApiBrand, data: JSONBody[SaleIn]) -> Response[bytes]:
    """Record a sale (idempotent by order_id: a retry gets 200 and the same body)."""
    data = await decode_body(request, SaleIn)
    body, created = await orders.record(brand=brand, sale=data, now=now_of(request))
    return json_response(body, 201 if created else 200)


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    refund_id: str
    amount: int


@post("/sales/{order_id:str}/refunds", status_code=201)
async def post_refund(
    request: Request, brand: ApiBrand, order_id: FromPath[str], data: JSONBody[RefundIn]
) -> Response[bytes]:
    """Refund part of a sale; cashback is taken back in proportion (idempotent by refund_id)."""
    data = await decode_body(request, RefundIn)
    body, created = await orders.refund(
        brand=brand, order_id=order_id, refund_id=data.refund_id, amount=data.amount, now=now_of(request)
    )
    return json_response(body, 201 if created else 200)


@post("/sales/{order_id:str}/cancel", status_code=200)
async def cancel_sale(request: Request, brand: ApiBrand, order_id: FromPath[str]) -> Response[bytes]:
    """Cancel a sale: its cashback is taken back and redemptions on that order are cancelled."""
    return json_response(await orders.cancel(brand=brand, order_id=order_id, now=now_of(request)))


class QuoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    customer: Identity | None = None
    total: int
    shipping: int = 0
    items: list[Item] | None = None


@post("/checkout/quote", status_code=200)
async def checkout_quote(request: Request, brand: ApiBrand, data: JSONBody[QuoteIn]) -> Response[bytes]:
    """What the cart earns and how much cashback the shopper may use on it."""
    data = await decode_body(request, QuoteIn)
    return json_response(
        await redemptions.quote(
            brand=brand,
            identity=data.customer,
            total=data.total,
            shipping=data.shipping,
            items=data.items,
            now=now_of(request),
        )
    )


@post("/redemptions", status_code=201)
async def post_redemption(request: Request, brand: ApiBrand, data: JSONBody[RedemptionIn]) -> Response[bytes]:
    """Pay part of an order with cashback (idempotent by redemption_id); 422 with a reason if not allowed."""
    data = await decode_body(request, RedemptionIn)
    body, created = await redemptions.redeem(brand=brand, request=data, now=now_of(request))
    return json_response(body, 201 if created else 200)


@post("/redemptions/{redemption_id:str}/cancel", status_code=200)
async def cancel_redemption(
    request: Request, brand: ApiBrand, redemption_id: FromPath[str]
) -> Response[bytes]:
    """Give a redemption back: the same amounts return to the same credits, with their expiry."""
    return json_response(
        await redemptions.cancel(brand=brand, redemption_id=redemption_id, now=now_of(request))
    )


class VoucherCheckIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: str
    order_total: int
    customer: Identity | None = None


class VoucherUseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: str
    order_total: int


class VoucherReleaseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: str


@post("/vouchers/validate", status_code=200)
async def validate_voucher(
    request: Request, brand: ApiBrand, data: JSONBody[VoucherCheckIn]
) -> Response[bytes]:
    """Whether a code applies to this order: `applies`, the `discount`, or the `reason` it does not
    (`not_found`, `cancelled`, `used`, `expired`, `below_min_order`, `other_customer`)."""
    data = await decode_body(request, VoucherCheckIn)
    check_amount("order_total", data.order_total)
    return json_response(
        await vouchers.validate(
            brand=brand,
            code=data.code,
            order_total=data.order_total,
            identity=data.customer,
            now=now_of(request),
        )
    )


@post("/vouchers/{code:str}/redeem", status_code=201)
async def redeem_voucher(
    request: Request, brand: ApiBrand, code: FromPath[str], data: JSONBody[VoucherUseIn]
) -> Response[bytes]:
    """Use a voucher on an order (idempotent by order_id); 409 if another order already used it."""
    data = await decode_body(request, VoucherUseIn)
    check_amount("order_total", data.order_total, minimum=1)
    body, created = await vouchers.redeem(
        brand=brand,
        code=code,
        order_id=check_key("order_id", data.order_id),
        order_total=data.order_total,
        now=now_of(request),
    )
    return json_response(body, 201 if created else 200)


@post("/vouchers/{code:str}/release", status_code=200)
async def release_voucher(
    request: Request, brand: ApiBrand, code: FromPath[str], data: JSONBody[VoucherReleaseIn]
) -> Response[bytes]:
    """Give a voucher back when the order that used it was cancelled (idempotent)."""
    data = await decode_body(request, VoucherReleaseIn)
    return json_response(
        await vouchers.release(
            brand=brand, code=code, order_id=check_key("order_id", data.order_id), now=now_of(request)
        )
    )


router = Router(
    path="/api/v1",
    guards=[requires_platform_host, requires_json],
    dependencies={"brand": Provide(api_brand)},
    request_max_body_size=MAX_BODY,
    route_handlers=[
        upsert_customer,
        customer_balance,
        customer_statement,
        post_sale,
        post_refund,
        cancel_sale,
        checkout_quote,
        post_redemption,
        cancel_redemption,
        validate_voucher,
        redeem_voucher,
        release_voucher,
    ],
    tags=["integration"],
)
