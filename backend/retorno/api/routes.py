"""Thin handlers: authenticate the brand's key, take a body decoded once and strictly, call one
service function, answer its typed result. Each operation declares its answer and its problems, so
/api/openapi.json describes the API exactly (api/problems.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader, MutableScopeHeaders
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, JSONBody, Parameter, QueryParameter
from litestar.response import Template
from litestar.types import Empty, Message, Scope

from retorno import db
from retorno.api.problems import COMMON, WRITE, also, problems
from retorno.api.reference import reference
from retorno.apikeys import idempotency
from retorno.apikeys import service as apikeys
from retorno.auth import ratelimits
from retorno.bounds import KEY, MONEY, check_amount, check_key, check_moment_text, check_text, doc
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import CustomerView, Identity
from retorno.errors import Field, Invalid, NotFound, Unauthorized, UnsupportedMediaType
from retorno.ledger import balances, posting
from retorno.ledger.balances import Balance, StatementLine
from retorno.ledger.rules import Item
from retorno.money import hundredths
from retorno.onboarding import shoppers
from retorno.outbound import Options
from retorno.referrals import invitations
from retorno.sales import orders, redemptions, views
from retorno.sales.orders import CancelAnswer, RefundAnswer, SaleAnswer
from retorno.sales.redemptions import Quote, RedemptionAnswer, RedemptionIn
from retorno.sales.requests import SaleIn, checked_items
from retorno.sales.views import CustomerPage, SalePage, SaleView
from retorno.signin.guards import client_address
from retorno.vouchers import service as vouchers
from retorno.vouchers.service import VoucherCheck, VoucherIssued, VoucherReleased, VoucherUsed, VoucherView
from retorno.web import decode_json, lang_of, now_of, origin_of, requires_platform_host, settings_of
from retorno.webhooks import service as webhooks
from retorno.webhooks.service import DeliveryView, EndpointCreated, EndpointView, Replayed, SecretRotated

ApiBrand = NamedDependency[BrandView]
T = TypeVar("T")


class StrictRequest(Request[Any, Any, Any]):
    """The API's requests: a JSON body is decoded once, strictly, into the type of the handler's
    `data` (Litestar's own conversion is lenient: "150.00" would become 150 centavos). A string
    holding a control character is refused naming its field (web.decode_json)."""

    async def json(self) -> Any:
        if self._json is Empty:
            data = self.route_handler.parsed_fn_signature.parameters.get("data")
            kind = data.annotation if data is not None else Any
            self._json = self._connection_state.json = decode_json(await self.body() or b"null", kind)
        return self._json


def answer(body: T, created: bool = False) -> Response[T]:
    """A service's answer; 201 when it was created now, 200 when an idempotent retry replays it."""
    return Response(body, status_code=201 if created else 200)


async def requires_api_key(connection: ASGIConnection, _: Any) -> None:
    """The brand whose API key signed this request (`Authorization: Bearer rk_...`), checked in a
    guard, so before the body is read: a request without a valid key is a 401 whatever it sends."""
    scheme, _, key = connection.headers.get("authorization", "").partition(" ")
    if not scheme:  # no key at all is not a guess: 401, never counted towards the limit
        raise Unauthorized("a valid API key is needed: Authorization: Bearer <key>")
    now = connection.app.state.clock()
    brand = await apikeys.authenticate(key.strip(), now=now) if scheme.lower() == "bearer" else None
    if brand is None:
        # Wrong keys are counted per client address: past the limit the answer is 429 (a valid
        # key from the same address, a shop behind the same NAT, still works).
        await ratelimits.hit("api-auth:addr", client_address(connection), now=now)
        raise Unauthorized("a valid API key is needed: Authorization: Bearer <key>")
    connection.state.api_brand = brand


async def api_brand(request: Request) -> BrandView:
    brand: BrandView = request.state.api_brand
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


NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # a path with a control character is refused app-wide
Ref = Annotated[
    str,
    Parameter(
        description="The customer: `cpf:52998224725`, `email:ana@example.com`, `phone:+5511999990000`, "
        "`ext:<your id>` or Retorno's customer id.",
        examples=[Example(value="cpf:52998224725")],
        # Documented, and checked by customers.parse_ref with a message saying what to send (422).
        schema_extra={"pattern": r"^((cpf|email|phone|ext):[^\x00-\x1f\x7f]+|[0-9]+)$"},
    ),
]
OrderId = Annotated[
    str,
    Parameter(
        description="The order's id in your systems, as the sale was posted.",
        examples=[Example(value="PED-1002")],
        pattern=NO_CONTROL,
        **KEY,
    ),
]
RedemptionId = Annotated[
    str,
    Parameter(
        description="The `redemption_id` it was posted with.",
        examples=[Example(value="RED-1")],
        pattern=NO_CONTROL,
        **KEY,
    ),
]
CodeParam = Annotated[
    str,
    Parameter(
        description="The voucher's code, with or without its dashes.",
        examples=[Example(value="BELA-7K2M-9QXD")],
        pattern=NO_CONTROL,
        min_length=1,
        max_length=40,
    ),
]


async def _customer(brand: ApiBrand, ref: str) -> customers.CustomerView:
    return await customers.find(brand.id, ref)


@post(
    "/customers",
    status_code=200,
    summary="Create or update a customer",
    responses=problems(*WRITE, 409) | also(201, CustomerView, "A new customer."),
)
async def upsert_customer(
    request: Request, brand: ApiBrand, data: JSONBody[Identity]
) -> Response[CustomerView]:
    """Create a customer (201), or update the one these identifiers point to (200). Any one
    identifier is enough; identifiers that point to two different customers are a 409."""
    customer, created = await shoppers.register(brand_id=brand.id, identity=data, now=now_of(request))
    return answer(customer, created)


@get("/customers/{ref:str}/balance", summary="A customer's balance", responses=problems(*COMMON, 404, 422))
async def customer_balance(request: Request, brand: ApiBrand, ref: Ref) -> Balance:
    """Available, pending and soon-expiring cashback, in centavos; `debt` is what the customer owes
    after a refund of cashback already spent (brands with the negative_balance policy)."""
    customer = await _customer(brand, ref)
    return await balances.balance(brand=brand, customer_id=customer.id, now=now_of(request))


@get("/customers/{ref:str}/points", summary="A customer's points", responses=problems(*COMMON, 404, 422))
async def customer_points(request: Request, brand: ApiBrand, ref: Ref) -> Balance:
    """Available, pending and soon-expiring points (whole points, `currency` "pts"), for a brand
    whose programme gives points; 404 for one that gives none."""
    if not brand.rules().earns_points:
        raise NotFound("this brand's programme gives no points")
    customer = await _customer(brand, ref)
    return await balances.balance(
        brand=brand, customer_id=customer.id, now=now_of(request), unit=posting.POINTS
    )


class Statement(msgspec.Struct, kw_only=True):
    """A page of a customer's movements, newest first."""

    entries: Annotated[list[StatementLine], doc("The page's movements, newest first.")]
    next_cursor: Annotated[str | None, doc("Pass it back as `cursor` for the next page; null on the last.")]


@get(
    "/customers/{ref:str}/statement", summary="A customer's statement", responses=problems(*COMMON, 404, 422)
)
async def customer_statement(
    request: Request,
    brand: ApiBrand,
    ref: Ref,
    limit: Annotated[int, QueryParameter(ge=1, le=100, description="Movements a page.")] = 20,
    cursor: Annotated[
        str | None,
        QueryParameter(
            description="The `next_cursor` of the page before.", max_length=200, pattern=NO_CONTROL
        ),
    ] = None,
) -> Statement:
    """Movements newest first (credits, uses, reversals, expiries, adjustments), a page at a time;
    stable while new movements arrive."""
    customer = await _customer(brand, ref)
    entries, next_cursor = await balances.statement(
        brand_id=brand.id, customer_id=customer.id, now=now_of(request), limit=limit, cursor=cursor
    )
    return Statement(entries=entries, next_cursor=next_cursor)


@post(
    "/sales",
    status_code=201,
    summary="Record a sale",
    responses=problems(*WRITE, 409) | also(200, SaleAnswer),
)
async def post_sale(request: Request, brand: ApiBrand, data: JSONBody[SaleIn]) -> Response[SaleAnswer]:
    """Record a sale and credit its cashback (201). Idempotent by `order_id`: a retry with the same
    content gets 200 and the same body; the same `order_id` with other content is a 409."""
    body, created = await orders.record(brand=brand, sale=data, now=now_of(request))
    return answer(body, created)


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    refund_id: Annotated[
        str, doc("Your id for this refund: a retry with it is answered once.", example="DEV-1", **KEY)
    ]
    amount: Annotated[int, doc("The amount refunded, in centavos.", example=5000, **MONEY | {"minimum": 1})]


@post(
    "/sales/{order_id:str}/refunds",
    status_code=201,
    summary="Refund part of a sale",
    responses=problems(*WRITE, 404, 409) | also(200, RefundAnswer),
)
async def post_refund(
    request: Request, brand: ApiBrand, order_id: OrderId, data: JSONBody[RefundIn]
) -> Response[RefundAnswer]:
    """Cashback is taken back in proportion to the amount refunded; what was already spent is
    written off or owed, as the brand's rules say. Idempotent by `refund_id`."""
    body, created = await orders.refund(
        brand=brand, order_id=order_id, refund_id=data.refund_id, amount=data.amount, now=now_of(request)
    )
    return answer(body, created)


@post(
    "/sales/{order_id:str}/cancel",
    status_code=200,
    summary="Cancel a sale",
    responses=problems(*COMMON, 404, 409, 422),
)
async def cancel_sale(request: Request, brand: ApiBrand, order_id: OrderId) -> CancelAnswer:
    """Its cashback is taken back and redemptions on that order are cancelled (idempotent)."""
    return await orders.cancel(brand=brand, order_id=order_id, now=now_of(request))


class QuoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    customer: Annotated[
        Identity | None, doc("Who is buying, if known: then the quote says what they may use.")
    ] = None
    total: Annotated[int, doc("The cart's total in centavos, shipping included.", example=15000, **MONEY)]
    shipping: Annotated[int, doc("Shipping in centavos (earns no cashback).", example=0, **MONEY)] = 0
    items: Annotated[list[Item] | None, doc("The cart's lines, for rates by category.", max_items=1000)] = (
        None
    )


@post("/checkout/quote", status_code=200, summary="Quote a cart", responses=problems(*WRITE, 409))
async def checkout_quote(request: Request, brand: ApiBrand, data: JSONBody[QuoteIn]) -> Quote:
    """What the cart earns, how much cashback the shopper may use on it and why not more, and the
    vouchers that apply. Nothing is written."""
    if data.customer is not None:
        customers.identified(data.customer)
    return await redemptions.quote(
        brand=brand,
        identity=data.customer,
        total=data.total,
        shipping=data.shipping,
        items=data.items,
        now=now_of(request),
    )


@post(
    "/redemptions",
    status_code=201,
    summary="Use cashback on an order",
    responses=problems(*WRITE, 404, 409) | also(200, RedemptionAnswer),
)
async def post_redemption(
    request: Request, brand: ApiBrand, data: JSONBody[RedemptionIn]
) -> Response[RedemptionAnswer]:
    """Pay part of an order with the customer's available cashback, taken from what expires first.
    Idempotent by `redemption_id`. Not allowed: 422 with a `reason` (no_balance, below_min_order,
    max_share, balance) and `max_amount`, the most that could be used."""
    body, created = await redemptions.redeem(brand=brand, request=data, now=now_of(request))
    return answer(body, created)


@post(
    "/redemptions/{redemption_id:str}/cancel",
    status_code=200,
    summary="Give a redemption back",
    responses=problems(*COMMON, 404, 422),
)
async def cancel_redemption(
    request: Request, brand: ApiBrand, redemption_id: RedemptionId
) -> RedemptionAnswer:
    """The same amounts return to the same credits, with their expiry (idempotent)."""
    return await redemptions.cancel(brand=brand, redemption_id=redemption_id, now=now_of(request))


VoucherCode = Annotated[
    str,
    doc(
        "The voucher's code, with or without its dashes, or a public coupon's (BEMVINDA10).",
        example="BELA-7K2M-9QXD",
        min_length=1,
        max_length=40,
    ),
]
OrderTotal = Annotated[int, doc("The order's total in centavos.", example=15000, **MONEY)]


OrderItems = Annotated[
    list[Item] | None,
    doc("The order's lines: a coupon of some categories takes its discount off theirs.", max_items=1000),
]


class VoucherCheckIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: VoucherCode
    order_total: OrderTotal
    customer: Annotated[
        Identity | None,
        doc("Who is buying: a voucher of another customer does not apply; a coupon needs it."),
    ] = None
    items: OrderItems = None


class VoucherUseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: Annotated[
        str, doc("The order it is used on: a retry with it is answered once.", example="PED-1002", **KEY)
    ]
    order_total: OrderTotal
    customer: Annotated[
        Identity | None,
        doc(
            "Who is buying. Required for a coupon (its limits are per customer; one the brand does "
            "not know yet is registered); for a voucher, one of another customer is refused."
        ),
    ] = None
    items: OrderItems = None


class VoucherReleaseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: Annotated[str, doc("The order that used it.", example="PED-1002", **KEY)]


@post("/vouchers/validate", status_code=200, summary="Check a voucher", responses=problems(*WRITE, 409))
async def validate_voucher(request: Request, brand: ApiBrand, data: JSONBody[VoucherCheckIn]) -> VoucherCheck:
    """Whether a code applies to this order: `applies`, the `discount`, or the `reason` it does not
    (`not_found`, `cancelled`, `used`, `expired`, `below_min_order`, `other_customer`; for a public
    coupon also `not_started`, `used_up`, `already_used`, `not_first_purchase`,
    `customer_required`, `no_eligible_items`). Nothing is written."""
    check_amount("order_total", data.order_total)
    check_text("code", data.code, min_length=1, max_length=40)
    if data.customer is not None:
        customers.identified(data.customer)
    return await vouchers.validate(
        brand=brand,
        code=data.code,
        order_total=data.order_total,
        identity=data.customer,
        items=checked_items(data.items),
        now=now_of(request),
    )


@post(
    "/vouchers/{code:str}/redeem",
    status_code=201,
    summary="Use a voucher",
    responses=problems(*WRITE, 404, 409) | also(200, VoucherUsed),
)
async def redeem_voucher(
    request: Request,
    brand: ApiBrand,
    code: CodeParam,
    data: JSONBody[VoucherUseIn],
) -> Response[VoucherUsed]:
    """Use a voucher or a public coupon on an order (idempotent by `order_id`); 409 if another order
    already used the voucher, or the coupon has no uses left in all (`used_up`) or for this customer
    (`already_used`); 422 with a `reason` when it does not apply."""
    check_amount("order_total", data.order_total, minimum=1)
    order_id, now, items = check_key("order_id", data.order_id), now_of(request), checked_items(data.items)
    if data.customer is not None:
        customers.identified(data.customer)

    async def use() -> tuple[VoucherUsed, bool]:
        customer_id = None
        if data.customer is not None:  # rolled back with the use if the code is refused
            customer, _ = await shoppers.register(brand_id=brand.id, identity=data.customer, now=now)
            customer_id = customer.id
        return await vouchers.redeem(
            brand=brand,
            code=code,
            order_id=order_id,
            order_total=data.order_total,
            customer_id=customer_id,
            items=items,
            now=now,
        )

    body, created = await db.write(use)
    return answer(body, created)


@post(
    "/vouchers/{code:str}/release",
    status_code=200,
    summary="Give a voucher back",
    responses=problems(*WRITE, 404, 409),
)
async def release_voucher(
    request: Request,
    brand: ApiBrand,
    code: CodeParam,
    data: JSONBody[VoucherReleaseIn],
) -> VoucherReleased:
    """Give a voucher or a coupon's use back when the order that used it was cancelled
    (idempotent). Cancelling the sale through `POST /sales/{order_id}/cancel` does it too."""
    return await vouchers.release(
        brand=brand, code=code, order_id=check_key("order_id", data.order_id), now=now_of(request)
    )


@get(
    "/api/docs",
    include_in_schema=False,
    guards=[requires_platform_host],
    cache_control=CacheControlHeader(max_age=300),
)
async def api_docs(request: Request) -> Template:
    """The API reference, drawn from the document the API serves; linked from the admin's keys page."""
    state = request.app.state
    if "api_reference" not in state:
        state.api_reference = reference(request.app.openapi_schema.to_schema())
    return Template(
        "api/docs.html", context={"ref": state.api_reference, "brand": None, "lang": lang_of(request)}
    )


class VoucherIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    customer: Annotated[Identity, doc("Whose voucher: a customer the brand already has.")]
    amount: Annotated[
        int | None,
        doc("The discount in centavos (or give `percent`).", example=1000, **MONEY | {"minimum": 1}),
    ] = None
    percent: Annotated[
        float | None,
        doc(
            "The discount in percent of the order, two decimals at most (or give `amount`, not both).",
            minimum=0.01,
            maximum=100,
        ),
    ] = None
    min_order: Annotated[
        int, doc("The smallest order it applies to, in centavos.", example=5000, **MONEY)
    ] = 0
    valid_days: Annotated[int, doc("Days it can be used from now.", example=30, minimum=1, maximum=3650)] = 30
    note: Annotated[
        str, doc("Why it was given (the customer does not see it).", example="Aniversário", max_length=200)
    ] = ""


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="Any unique string of yours (a UUID): a retry with it is done once and answered "
        "the same, for a day; the same key with another request is a 409.",
        examples=[Example(value="9b2c6f1e-voucher-42")],
        max_length=255,
        required=False,
    ),
]


@post(
    "/vouchers",
    status_code=201,
    summary="Give a customer a voucher",
    responses=problems(*WRITE, 404, 409),
)
async def issue_voucher(
    request: Request, brand: ApiBrand, data: JSONBody[VoucherIn], idempotency_key: IdempotencyKey = None
) -> Response[VoucherIssued]:
    """Issue a voucher from your own systems: an amount or a percent off, a minimum order and a
    validity; the customer sees it in the app with its QR code. Send an `Idempotency-Key` so that
    a retry does not give a second voucher."""
    now = now_of(request)
    percent_bp = _percent_bp(data)
    check_amount("min_order", data.min_order)
    note = check_text("note", data.note, max_length=200)
    if not 1 <= data.valid_days <= 3650:
        raise Invalid("%(field)s: from 1 to 3650", field=Field("valid_days"))

    async def work() -> tuple[int, bytes]:
        customer = await customers.lookup(brand.id, customers.identified(data.customer))
        if customer is None:
            raise NotFound("no such customer")
        issued = await vouchers.issue(
            brand_id=brand.id,
            customer_id=customer.id,
            source="api",
            now=now,
            valid_days=data.valid_days,
            amount=data.amount,
            percent_bp=percent_bp,
            min_order=data.min_order,
            note=note,
        )
        return 201, msgspec.json.encode(issued)

    status, body = await _once(request, brand, idempotency_key, work)
    return Response(msgspec.json.decode(body, type=VoucherIssued), status_code=status)


async def _once(
    request: Request, brand: BrandView, key: str | None, work: Callable[[], Awaitable[tuple[int, bytes]]]
) -> tuple[int, bytes]:
    """The work in a write transaction; with an Idempotency-Key, once per key and request."""
    if key is None:
        return await db.write(work)
    digest = idempotency.digest(request.method, request.url.path, await request.body())
    return await idempotency.once(
        brand_id=brand.id, key=key, request_digest=digest, now=now_of(request), work=work
    )


def _percent_bp(data: VoucherIn) -> int | None:
    if (data.amount is None) == (data.percent is None):
        raise Invalid("%(field)s: give an amount or a percent, not both", field=Field("amount"))
    if data.amount is not None:
        check_amount("amount", data.amount, minimum=1)
        return None
    bp = hundredths(Decimal(str(data.percent)))
    if bp is None or not 1 <= bp <= 10_000:
        raise Invalid("%(field)s: from 0.01 to 100, two decimals at most", field=Field("percent"))
    return bp


# --- reading back, and a customer's profile ------------------------------------------------------


@get("/sales/{order_id:str}", summary="A sale and what happened to it", responses=problems(*COMMON, 404, 422))
async def get_sale(brand: ApiBrand, order_id: OrderId) -> SaleView:
    """The sale as recorded, its status (recorded or cancelled), the cashback it earned with its
    breakdown and what refunds took back, every refund, the redemptions made on its order and
    the vouchers it earned."""
    return await views.sale(brand=brand, order_id=order_id)


class CustomerProfile(msgspec.Struct, kw_only=True):
    """A customer: who they are, their balance, and the link that invites friends."""

    customer: Annotated[CustomerView, doc("Who they are (empty identifiers: not known).")]
    available: Annotated[int, doc("Cashback that can be used now, in centavos.", example=4600)]
    pending: Annotated[int, doc("Cashback still in its return window, in centavos.", example=4590)]
    debt: Annotated[int, doc("What they owe after a refund of cashback already spent, in centavos.")]
    currency: Annotated[str, doc("ISO 4217.", example="BRL")]
    marketing: Annotated[
        bool | None, doc("Whether they accept messages on any channel; null if never asked.")
    ]
    consents: Annotated[
        dict[str, bool],
        doc("Their latest choice per channel (push, email, whatsapp); a channel never asked is absent."),
    ]
    referral_link: Annotated[
        str | None, doc("The link that invites friends (null when the brand has no referral programme).")
    ]


async def _profile(request: Request, brand: BrandView, customer: CustomerView) -> CustomerProfile:
    now = now_of(request)
    balance = await balances.balance(brand=brand, customer_id=customer.id, now=now)
    choices = await customers.channel_consents(brand.id, customer.id)
    link = None
    if brand.rules().referral is not None:
        code = await db.write(
            lambda: invitations.code_of(brand_id=brand.id, customer_id=customer.id, now=now)
        )
        link = f"{origin_of(brand, settings_of(request))}/r/{code}"
    return CustomerProfile(
        customer=customer,
        available=balance.available,
        pending=balance.pending,
        debt=balance.debt,
        currency=balance.currency,
        marketing=any(c.granted for c in choices.values()) if choices else None,
        consents={channel: choice.granted for channel, choice in choices.items()},
        referral_link=link,
    )


@get("/customers/{ref:str}", summary="A customer's profile", responses=problems(*COMMON, 404, 422))
async def get_customer(request: Request, brand: ApiBrand, ref: Ref) -> CustomerProfile:
    """Who the customer is, their balance in short, their latest marketing choice and their
    referral link."""
    return await _profile(request, brand, await _customer(brand, ref))


class CustomerPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str | None, doc("A new name.", example="Ana Souza Lima", max_length=200)] = None
    phone: Annotated[str | None, doc("A new phone number.", example="+5511988887777")] = None
    email: Annotated[
        str | None, doc("A new e-mail address.", example="ana.lima@example.com", max_length=254)
    ] = None
    external_id: Annotated[str | None, doc("Your new id for them.", example="CLI-0043", max_length=100)] = (
        None
    )
    segment: Annotated[str | None, doc("A new segment (a-z, 0-9, _ and -).", example="vip")] = None
    marketing: Annotated[
        bool | None, doc("Their choice for every channel at once (push, e-mail, WhatsApp).")
    ] = None
    consents: Annotated[
        dict[str, bool] | None,
        doc(
            "Their choice per channel, as the shopper gave it to you (at the counter, in your store).",
            example={"whatsapp": True, "email": False},
        ),
    ] = None


@patch("/customers/{ref:str}", summary="Change a customer", responses=problems(*WRITE, 404, 409))
async def patch_customer(
    request: Request, brand: ApiBrand, ref: Ref, data: JSONBody[CustomerPatch]
) -> CustomerProfile:
    """Change what is given and keep the rest. A CPF never changes; an identifier that belongs to
    another customer is a 409; an erased customer is a 404."""
    customer = await _customer(brand, ref)
    now = now_of(request)
    given = {
        k: v
        for k, v in msgspec.structs.asdict(data).items()
        if v is not None and k not in ("marketing", "consents")
    }
    if given:
        identity = Identity(**{f: getattr(customer, f) for f in customers.IDENTIFIERS} | given)
        customer, _ = await db.write(lambda: customers.upsert(brand.id, identity, now=now))
    choices = dict.fromkeys(customers.CHANNELS, data.marketing) if data.marketing is not None else {}
    choices |= data.consents or {}
    if choices:
        await customers.set_consents(brand.id, customer.id, choices, source="api", now=now)
    return await _profile(request, brand, customer)


@delete(
    "/customers/{ref:str}", status_code=204, summary="Erase a customer", responses=problems(*COMMON, 404, 422)
)
async def erase_customer(request: Request, brand: ApiBrand, ref: Ref) -> None:
    """Erase who the customer is, as their own deletion in the app does (LGPD): identifiers, name,
    sign-in data, devices and unused vouchers go; the money records stay, without them. A
    customer.erased event follows, carrying your external id."""
    customer = await _customer(brand, ref)
    await shoppers.erase(brand_id=brand.id, customer_id=customer.id, now=now_of(request))


@get("/customers/{ref:str}/vouchers", summary="A customer's vouchers", responses=problems(*COMMON, 404, 422))
async def customer_vouchers(request: Request, brand: ApiBrand, ref: Ref) -> list[VoucherView]:
    """Every voucher of the customer, active ones first, with its status and expiry."""
    customer = await _customer(brand, ref)
    own = await vouchers.of_customer(brand_id=brand.id, customer_id=customer.id, now=now_of(request))
    return [VoucherView(**{f: getattr(v, f) for f in VoucherView.__struct_fields__}) for v in own]


UpdatedSince = Annotated[
    str | None,
    QueryParameter(
        description="Only what changed at or after this time (ISO 8601 with an offset).",
        examples=[Example(value="2026-12-01T00:00:00-03:00")],
        schema_extra={"format": "date-time"},
        max_length=40,
    ),
]
PageSize = Annotated[int, QueryParameter(ge=1, le=200, description="How many a page.")]
NextCursor = Annotated[
    str | None,
    QueryParameter(description="The `next_cursor` of the page before.", max_length=200, pattern=NO_CONTROL),
]


@get("/customers", summary="Customers changed since a time", responses=problems(*COMMON, 422))
async def changed_customers(
    brand: ApiBrand, updated_since: UpdatedSince = None, limit: PageSize = 100, cursor: NextCursor = None
) -> CustomerPage:
    """Every customer changed since `updated_since`, oldest change first, a page at a time, for a
    system that reconciles: follow `next_cursor` until it is null. Erased customers come with
    `erased` true and no identifiers."""
    since = check_moment_text("updated_since", updated_since) if updated_since is not None else None
    return await views.changed_customers(brand=brand, updated_since=since, cursor=cursor, limit=limit)


@get("/sales", summary="Sales changed since a time", responses=problems(*COMMON, 422))
async def changed_sales(
    brand: ApiBrand, updated_since: UpdatedSince = None, limit: PageSize = 100, cursor: NextCursor = None
) -> SalePage:
    """Every sale recorded, refunded or cancelled since `updated_since`, oldest change first, a page
    at a time: follow `next_cursor` until it is null. GET /sales/{order_id} has the detail."""
    since = check_moment_text("updated_since", updated_since) if updated_since is not None else None
    return await views.changed_sales(brand=brand, updated_since=since, cursor=cursor, limit=limit)


# --- webhook endpoints ----------------------------------------------------------------------------

EndpointId = Annotated[int, Parameter(description="The endpoint's id.", ge=1, le=2**31 - 1)]
DeliveryId = Annotated[int, Parameter(description="The delivery's id.", ge=1, le=2**31 - 1)]


class EndpointIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[
        str,
        doc(
            "Where to send events: https, a public address.",
            example="https://loja.example/hooks/retorno",
            min_length=1,
            max_length=2000,
        ),
    ]
    events: Annotated[
        list[str],
        doc(
            'The event types wanted, or ["*"] for every type (see docs/webhooks.md).',
            example=["sale.recorded"],
            min_items=1,
        ),
    ]
    description: Annotated[str, doc("What it is for.", example="ERP", max_length=200)] = ""


class EndpointChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str | None, doc("A new address.", max_length=2000)] = None
    events: Annotated[list[str] | None, doc("The event types wanted now.")] = None
    description: Annotated[str | None, doc("A new description.", max_length=200)] = None
    enabled: Annotated[bool | None, doc("Turn it on again (or off).")] = None


class ReplayIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: Annotated[
        dt.datetime, doc("From this time (ISO 8601 with an offset).", example="2026-12-01T00:00:00-03:00")
    ]
    until: Annotated[dt.datetime, doc("To this time.", example="2026-12-02T00:00:00-03:00")]


def _options(request: Request) -> Options:
    return Options.of(settings_of(request))


@post(
    "/webhooks/endpoints", status_code=201, summary="Add a webhook endpoint", responses=problems(*WRITE, 409)
)
async def add_endpoint(
    request: Request, brand: ApiBrand, data: JSONBody[EndpointIn], idempotency_key: IdempotencyKey = None
) -> Response[EndpointCreated]:
    """Events of the types chosen are sent to the URL, signed as Standard Webhooks say; the
    answer holds the signing secret, shown this once. Send an `Idempotency-Key` so that a retry
    does not add the endpoint twice."""
    now = now_of(request)

    async def work() -> tuple[int, bytes]:
        created = await webhooks.create_endpoint(
            brand_id=brand.id,
            url=data.url,
            events=data.events,
            description=data.description,
            now=now,
            options=_options(request),
        )
        return 201, msgspec.json.encode(created)

    status, body = await _once(request, brand, idempotency_key, work)
    return Response(msgspec.json.decode(body, type=EndpointCreated), status_code=status)


@get("/webhooks/endpoints", summary="The webhook endpoints", responses=problems(*COMMON))
async def list_endpoints(brand: ApiBrand) -> list[EndpointView]:
    """Every endpoint of the brand, with whether it is enabled and how its deliveries fare."""
    return await webhooks.list_endpoints(brand_id=brand.id)


@get("/webhooks/endpoints/{endpoint_id:int}", summary="A webhook endpoint", responses=problems(*COMMON, 404))
async def get_endpoint(brand: ApiBrand, endpoint_id: EndpointId) -> EndpointView:
    """One endpoint (never its secret)."""
    return await webhooks.get_endpoint(brand_id=brand.id, endpoint_id=endpoint_id)


@patch(
    "/webhooks/endpoints/{endpoint_id:int}",
    summary="Change a webhook endpoint",
    responses=problems(*WRITE, 404),
)
async def change_endpoint(
    request: Request, brand: ApiBrand, endpoint_id: EndpointId, data: JSONBody[EndpointChange]
) -> EndpointView:
    """Change its address, its event types or its description, or enable it again after it was
    disabled; what is not given stays."""
    given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
    return await webhooks.update_endpoint(
        brand_id=brand.id, endpoint_id=endpoint_id, now=now_of(request), options=_options(request), **given
    )


@delete(
    "/webhooks/endpoints/{endpoint_id:int}",
    status_code=204,
    summary="Remove a webhook endpoint",
    responses=problems(*COMMON, 404),
)
async def remove_endpoint(brand: ApiBrand, endpoint_id: EndpointId) -> None:
    """Nothing more is sent to it."""
    await webhooks.delete_endpoint(brand_id=brand.id, endpoint_id=endpoint_id)


@post(
    "/webhooks/endpoints/{endpoint_id:int}/rotate",
    status_code=200,
    summary="Rotate a signing secret",
    responses=problems(*COMMON, 404, 422),
)
async def rotate_endpoint_secret(request: Request, brand: ApiBrand, endpoint_id: EndpointId) -> SecretRotated:
    """A new secret, shown this once; for 24 hours every delivery is signed with both, so the
    receiver can switch without missing one."""
    return await webhooks.rotate_secret(brand_id=brand.id, endpoint_id=endpoint_id, now=now_of(request))


@post(
    "/webhooks/endpoints/{endpoint_id:int}/test",
    status_code=201,
    summary="Send a test event",
    responses=problems(*COMMON, 404, 409),
)
async def test_endpoint(request: Request, brand: ApiBrand, endpoint_id: EndpointId) -> DeliveryView:
    """A webhook.test event, delivered like any other; follow it in the endpoint's deliveries."""
    return await webhooks.send_test(brand_id=brand.id, endpoint_id=endpoint_id, now=now_of(request))


@get(
    "/webhooks/endpoints/{endpoint_id:int}/deliveries",
    summary="An endpoint's deliveries",
    responses=problems(*COMMON, 404),
)
async def endpoint_deliveries(brand: ApiBrand, endpoint_id: EndpointId) -> list[DeliveryView]:
    """The latest deliveries, newest first: status, attempts, response code, latency, the body sent."""
    await webhooks.get_endpoint(brand_id=brand.id, endpoint_id=endpoint_id)
    return await webhooks.deliveries(brand_id=brand.id, endpoint_id=endpoint_id)


@post(
    "/webhooks/deliveries/{delivery_id:int}/resend",
    status_code=200,
    summary="Send a delivery again",
    responses=problems(*COMMON, 404, 409),
)
async def resend_delivery(request: Request, brand: ApiBrand, delivery_id: DeliveryId) -> DeliveryView:
    """The same message (the same webhook-id) is queued again."""
    return await webhooks.resend(brand_id=brand.id, delivery_id=delivery_id, now=now_of(request))


@post(
    "/webhooks/endpoints/{endpoint_id:int}/replay",
    status_code=200,
    summary="Replay a time range",
    responses=problems(*WRITE, 404, 409),
)
async def replay_endpoint(
    request: Request, brand: ApiBrand, endpoint_id: EndpointId, data: JSONBody[ReplayIn]
) -> Replayed:
    """Queue again what the endpoint should have had between two times and never got."""
    for name, moment in (("since", data.since), ("until", data.until)):
        if moment.tzinfo is None:
            raise Invalid("%(field)s: give the time with its offset (like -03:00 or Z)", field=Field(name))
    return await webhooks.replay(
        brand_id=brand.id, endpoint_id=endpoint_id, since=data.since, until=data.until, now=now_of(request)
    )


_TYPED = re.compile(r":\w+\}")  # "{ref:str}" as the map writes it, "{ref}" in a path template


async def allow_every_method(message: Message, scope: Scope) -> None:
    """Litestar's own answer to OPTIONS names the methods of the path's first handler only; a path
    the API serves with several (GET, PATCH and DELETE of a customer) is answered with all of them
    (an app-wide before_send hook: a router's after_request does not see the request)."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template", "")
    if not template.startswith("/api/v1/"):
        return
    routes = scope["app"].route_handler_method_map
    methods = routes.get(template) or next(
        (found for path, found in routes.items() if _TYPED.sub("}", path) == template), None
    )
    if methods:
        headers = MutableScopeHeaders.from_message(message)
        headers["allow"] = ", ".join(sorted(methods))


router = Router(
    path="/api/v1",
    guards=[requires_platform_host, requires_api_key, requires_json],
    dependencies={"brand": Provide(api_brand)},
    request_max_body_size=MAX_BODY,
    request_class=StrictRequest,
    route_handlers=[
        upsert_customer,
        customer_balance,
        customer_points,
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
        get_sale,
        get_customer,
        patch_customer,
        erase_customer,
        customer_vouchers,
        changed_customers,
        issue_voucher,
        changed_sales,
        add_endpoint,
        list_endpoints,
        get_endpoint,
        change_endpoint,
        remove_endpoint,
        rotate_endpoint_secret,
        test_endpoint,
        endpoint_deliveries,
        resend_delivery,
        replay_endpoint,
    ],
    tags=["integration"],
)
