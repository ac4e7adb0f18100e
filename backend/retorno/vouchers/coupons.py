"""Public coupons: a code the brand chooses (BEMVINDA10) that any shopper may use within its limits,
validated and redeemed at the counter and by the API exactly like a personal voucher (the same
routes: a code that is no voucher is looked up as a coupon).

- A fixed amount or a percentage off, of the whole order or of its items in some categories; a
  minimum order; a start and an end; uses in all and per shopper; first purchase only.
- Every use names its shopper and its order. Redeeming locks the coupon's row, so concurrent
  uses of one coupon are decided one at a time: the limits hold under races on both engines, and
  the same order again gets the first answer (created False).
- A cancelled order gives its use back (`release_for_order`, in the cancellation's transaction);
  limits count open uses only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from retorno import db, money
from retorno.brands.service import BrandView
from retorno.errors import N_, Field, Invalid, NotFound, Refused
from retorno.ledger.balances import iso as _iso
from retorno.ledger.rules import Item
from retorno.outbox import service as outbox
from retorno.vouchers.tables import Coupon, CouponUse

CODE_MIN, CODE_MAX = 3, 40

REASONS = {
    "not_found": N_("no voucher or coupon has this code (%(code)s)"),
    "cancelled": N_("the coupon was switched off (%(code)s)"),
    "not_started": N_("the coupon is not valid yet (%(code)s)"),
    "expired": N_("the coupon has expired (%(code)s)"),
    "used_up": N_("the coupon has been used as many times as it may be (%(code)s)"),
    "already_used": N_("this customer has already used the coupon as many times as it allows (%(code)s)"),
    "not_first_purchase": N_("the coupon is for a first purchase only (%(code)s)"),
    "customer_required": N_("say who is buying: a coupon is used by a customer (%(code)s)"),
    "below_min_order": N_("the order is below the coupon's minimum order (%(code)s)"),
    "no_eligible_items": N_("no item of the order is in the coupon's categories (%(code)s)"),
}
CONFLICTS = ("used_up", "already_used")


class CouponRefused(Refused):
    """Why a coupon cannot be used."""

    REASONS, CONFLICTS = REASONS, CONFLICTS


class CouponView(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    description: str
    amount: int | None
    percent_bp: int | None
    min_order: int
    starts_at: str
    ends_at: str | None
    max_uses: int | None
    per_customer: int
    first_purchase_only: bool
    categories: list[str]
    active: bool
    status: str  # active | scheduled | expired | used_up | off
    uses: int  # open uses so far
    discount_given: int  # centavos, over the open uses


class CouponDraft(msgspec.Struct, kw_only=True):
    """A coupon as the manager writes it (checked by `check`)."""

    code: str
    description: str = ""
    amount: int | None = None
    percent_bp: int | None = None
    min_order: int = 0
    starts_at: dt.datetime | None = None  # None: now
    ends_at: dt.datetime | None = None
    max_uses: int | None = None
    per_customer: int = 1
    first_purchase_only: bool = False
    categories: list[str] = msgspec.field(default_factory=list)
    active: bool = True


def normalize_code(text: str) -> str:
    """Typed at the till or in a checkout: case, spaces and dashes do not matter."""
    return "".join(ch for ch in (text or "") if ch.isascii() and ch.isalnum()).upper()[:CODE_MAX]


def check(draft: CouponDraft) -> CouponDraft:
    """The draft made tidy, or Invalid naming the field."""
    code = normalize_code(draft.code)
    if not CODE_MIN <= len(code) <= CODE_MAX or code != "".join(draft.code.split()).upper().replace("-", ""):
        raise Invalid(
            "%(field)s: %(min)s to %(max)s letters and digits, as shoppers will type it (BEMVINDA10)",
            field=Field("code"),
            min=CODE_MIN,
            max=CODE_MAX,
        )
    if (draft.amount is None) == (draft.percent_bp is None):
        raise Invalid("give either an amount or a percentage off", field=Field("amount"))
    if draft.amount is not None and draft.amount <= 0:
        raise Invalid("%(field)s must be more than zero", field=Field("amount"))
    if draft.percent_bp is not None and not 1 <= draft.percent_bp <= 10000:
        raise Invalid("%(field)s must be between 0,01%% and 100%%", field=Field("percent"))
    if draft.min_order < 0:
        raise Invalid("%(field)s cannot be negative", field=Field("min_order"))
    if draft.starts_at and draft.ends_at and draft.ends_at <= draft.starts_at:
        raise Invalid("%(field)s must come after the start", field=Field("ends_at"))
    if draft.max_uses is not None and draft.max_uses < 1:
        raise Invalid("%(field)s must be at least 1 (or empty: no limit)", field=Field("max_uses"))
    if not 1 <= draft.per_customer <= 1000:
        raise Invalid("%(field)s must be between 1 and 1000", field=Field("per_customer"))
    categories = sorted({c.strip() for c in draft.categories if c.strip()})
    if len(categories) > 50 or any(len(c) > 100 for c in categories):
        raise Invalid("%(field)s: at most 50 categories", field=Field("categories"))
    description = draft.description.strip()
    if len(description) > 500:
        raise Invalid("%(field)s: at most 500 characters", field=Field("description"))
    return msgspec.structs.replace(draft, code=code, categories=categories, description=description)


# --- reading ------------------------------------------------------------------------------------

_COLUMNS = (
    "c.id, c.brand, c.code, c.description, c.amount, c.percent_bp, c.min_order, c.starts_at, c.ends_at, "
    "c.max_uses, c.per_customer, c.first_purchase_only, c.categories, c.active"
)
_OF_BRAND = "SELECT " + _COLUMNS + " FROM coupons c WHERE c.brand = {}"  # noqa: S608 - our columns
_FIND = _OF_BRAND + " AND c.code = {}"
_OPEN_USES = (
    "SELECT coupon, COUNT(*) AS n, CAST(COALESCE(SUM(discount), 0) AS BIGINT) AS given FROM coupon_uses "
    "WHERE brand = {} AND released_at IS NULL GROUP BY coupon"
)
_ITS_OPEN_USES = (
    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(discount), 0) AS BIGINT) AS given FROM coupon_uses "
    "WHERE brand = {} AND coupon = {} AND released_at IS NULL"
)
_ORDER_USE = (
    "SELECT id, customer, discount, used_at FROM coupon_uses "
    "WHERE coupon = {} AND order_id = {} AND released_at IS NULL"
)
_COUNT_USES = "SELECT COUNT(*) AS n FROM coupon_uses WHERE coupon = {} AND released_at IS NULL"
_CUSTOMER_USES = (
    "SELECT COUNT(*) AS n FROM coupon_uses WHERE coupon = {} AND customer = {} AND released_at IS NULL"
)
_EARLIER_SALE = (
    "SELECT 1 AS x FROM sales WHERE brand = {} AND customer = {} AND order_id <> {} "
    "AND cancelled_at IS NULL LIMIT 1"
)


def iso(value: dt.datetime) -> str:
    return _iso(value) or ""


def _row(row: dict[str, Any]) -> dict[str, Any]:
    categories = row["categories"]
    row["categories"] = msgspec.json.decode(categories) if isinstance(categories, str | bytes) else categories
    row["first_purchase_only"], row["active"] = bool(row["first_purchase_only"]), bool(row["active"])
    return row


async def find(brand_id: int, code: str) -> dict[str, Any] | None:
    rows = await db.fetch(_FIND, brand_id, normalize_code(code))
    return _row(rows[0]) if rows else None


def status_of(coupon: dict[str, Any], uses: int, now: dt.datetime) -> str:
    if not coupon["active"]:
        return "off"
    if coupon["starts_at"] > now:
        return "scheduled"
    if coupon["ends_at"] is not None and coupon["ends_at"] <= now:
        return "expired"
    if coupon["max_uses"] is not None and uses >= coupon["max_uses"]:
        return "used_up"
    return "active"


def view(coupon: dict[str, Any], now: dt.datetime, uses: int = 0, given: int = 0) -> CouponView:
    return CouponView(
        code=coupon["code"],
        description=coupon["description"],
        amount=coupon["amount"],
        percent_bp=coupon["percent_bp"],
        min_order=coupon["min_order"],
        starts_at=iso(coupon["starts_at"]),
        ends_at=iso(coupon["ends_at"]) if coupon["ends_at"] else None,
        max_uses=coupon["max_uses"],
        per_customer=coupon["per_customer"],
        first_purchase_only=coupon["first_purchase_only"],
        categories=list(coupon["categories"]),
        active=coupon["active"],
        status=status_of(coupon, uses, now),
        uses=uses,
        discount_given=given,
    )


async def of_brand(brand_id: int, now: dt.datetime) -> list[CouponView]:
    """Every coupon of the brand with its open uses: the active ones first, then by code."""
    rows = [_row(r) for r in await db.fetch(_OF_BRAND, brand_id)]
    uses = {r["coupon"]: r for r in await db.fetch(_OPEN_USES, brand_id)}
    views = [
        view(r, now, uses.get(r["id"], {}).get("n", 0), uses.get(r["id"], {}).get("given", 0)) for r in rows
    ]
    return sorted(views, key=lambda v: (v.status != "active", v.code))


async def get(brand_id: int, code: str, now: dt.datetime) -> CouponView:
    coupon = await find(brand_id, code)
    if coupon is None:
        raise NotFound("no coupon has the code %(code)s", code=normalize_code(code))
    uses = (await db.fetch(_ITS_OPEN_USES, brand_id, coupon["id"]))[0]
    return view(coupon, now, uses["n"], uses["given"])


# --- writing (the admin) --------------------------------------------------------------------------


async def save(*, brand_id: int, draft: CouponDraft, now: dt.datetime, code: str | None = None) -> CouponView:
    """Create a coupon (code None) or change the one with `code`. A code may not be a voucher's or
    another coupon's of the brand. Inside the caller's transaction when there is one."""
    draft = check(draft)

    async def work() -> CouponView:
        existing = await find(brand_id, code) if code is not None else None
        if code is not None and existing is None:
            raise NotFound("no coupon has the code %(code)s", code=normalize_code(code))
        clash = await find(brand_id, draft.code)
        taken_by_voucher = await db.fetch(
            "SELECT 1 AS x FROM vouchers WHERE brand = {} AND code = {}", brand_id, draft.code
        )
        if (clash is not None and (existing is None or clash["id"] != existing["id"])) or taken_by_voucher:
            raise Invalid("%(field)s: %(code)s is already in use", field=Field("code"), code=draft.code)
        values: dict[Any, Any] = {
            Coupon.code: draft.code,
            Coupon.description: draft.description,
            Coupon.amount: draft.amount,
            Coupon.percent_bp: draft.percent_bp,
            Coupon.min_order: draft.min_order,
            Coupon.starts_at: draft.starts_at or (existing["starts_at"] if existing else now),
            Coupon.ends_at: draft.ends_at,
            Coupon.max_uses: draft.max_uses,
            Coupon.per_customer: draft.per_customer,
            Coupon.first_purchase_only: draft.first_purchase_only,
            Coupon.categories: msgspec.json.encode(draft.categories).decode(),
            Coupon.active: draft.active,
            Coupon.updated_at: now,
        }
        if existing is None:
            await Coupon.insert(
                Coupon(brand=brand_id, created_at=now, **{c._meta.name: v for c, v in values.items()})
            )
        else:
            await Coupon.update(values).where(Coupon.id == existing["id"])
        return await get(brand_id, draft.code, now)

    return await db.write(work)


# --- using ----------------------------------------------------------------------------------------


def eligible(coupon: dict[str, Any], order_total: int, items: Sequence[Item] | None) -> int:
    """What the discount applies to: the order, or its items in the coupon's categories."""
    if not coupon["categories"]:
        return order_total
    wanted = set(coupon["categories"])
    return min(order_total, sum(i.line_total for i in items or () if i.category in wanted))


def discount_of(coupon: dict[str, Any], order_total: int, items: Sequence[Item] | None) -> int:
    base = eligible(coupon, order_total, items)
    if coupon["amount"] is not None:
        return min(coupon["amount"], base)
    return min(money.half_even(base * coupon["percent_bp"], 10000), base)


async def refusal(
    coupon: dict[str, Any] | None,
    *,
    customer_id: int | None,
    order_id: str | None,
    order_total: int,
    items: Sequence[Item] | None,
    now: dt.datetime,
) -> str | None:
    """Why this coupon does not apply to this order of this shopper (None: it does)."""
    if coupon is None:
        return "not_found"
    state = status_of(coupon, 0, now)
    if state == "off":
        return "cancelled"
    if state == "scheduled":
        return "not_started"
    if state == "expired":
        return "expired"
    if customer_id is None:
        return "customer_required"
    if coupon["max_uses"] is not None:
        (counted,) = await db.fetch(_COUNT_USES, coupon["id"])
        if counted["n"] >= coupon["max_uses"]:
            return "used_up"
    (mine,) = await db.fetch(_CUSTOMER_USES, coupon["id"], customer_id)
    if mine["n"] >= coupon["per_customer"]:
        return "already_used"
    if coupon["first_purchase_only"] and await db.fetch(
        _EARLIER_SALE, coupon["brand"], customer_id, order_id or ""
    ):
        return "not_first_purchase"
    if order_total < coupon["min_order"]:
        return "below_min_order"
    if coupon["categories"] and eligible(coupon, order_total, items) == 0:
        return "no_eligible_items"
    return None


class CouponCheck(msgspec.Struct, frozen=True, kw_only=True):
    applies: bool
    discount: int
    reason: str | None
    coupon: CouponView | None


async def validate(
    *,
    brand: BrandView,
    code: str,
    customer_id: int | None,
    order_total: int,
    items: Sequence[Item] | None,
    now: dt.datetime,
) -> CouponCheck | None:
    """Whether the coupon applies (None: no coupon has this code). Nothing is written."""
    coupon = await find(brand.id, code)
    if coupon is None:
        return None
    reason = await refusal(
        coupon, customer_id=customer_id, order_id=None, order_total=order_total, items=items, now=now
    )
    return CouponCheck(
        applies=reason is None,
        discount=discount_of(coupon, order_total, items) if reason is None else 0,
        reason=reason,
        coupon=view(coupon, now),
    )


class CouponUsed(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    order_id: str
    discount: int
    used_at: str


async def redeem(
    *,
    brand: BrandView,
    code: str,
    customer_id: int | None,
    order_id: str,
    order_total: int,
    items: Sequence[Item] | None,
    now: dt.datetime,
) -> tuple[CouponUsed, bool] | None:
    """Use a coupon on an order (None: no coupon has this code); the same order again gets the
    first answer (created False). Raises CouponRefused."""

    async def work() -> tuple[CouponUsed, bool] | None:
        coupon = await find(brand.id, code)
        if coupon is None:
            return None
        await db.lock_row("coupons", coupon["id"])  # one use of this coupon decided at a time
        coupon = await find(brand.id, code) or coupon  # as it is now that we hold it
        found = await db.fetch(_ORDER_USE, coupon["id"], order_id)
        if found:
            use = found[0]
            return CouponUsed(
                code=coupon["code"], order_id=order_id, discount=use["discount"], used_at=iso(use["used_at"])
            ), False
        reason = await refusal(
            coupon, customer_id=customer_id, order_id=order_id, order_total=order_total, items=items, now=now
        )
        if reason is not None:
            raise CouponRefused(reason, coupon["code"])
        discount = discount_of(coupon, order_total, items)
        await db.insert(
            CouponUse,
            brand=brand.id,
            coupon=coupon["id"],
            customer=customer_id,
            order_id=order_id,
            order_total=order_total,
            discount=discount,
            used_at=now,
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="coupon.used",
            now=now,
            payload={
                "customer_id": customer_id,
                "code": coupon["code"],
                "order_id": order_id,
                "discount": discount,
            },
        )
        return CouponUsed(code=coupon["code"], order_id=order_id, discount=discount, used_at=iso(now)), True

    return await db.write(work)


class CouponReleased(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    order_id: str
    status: str


async def release(*, brand: BrandView, code: str, order_id: str, now: dt.datetime) -> CouponReleased | None:
    """Give a coupon's use back when its order was cancelled (idempotent; None: no such coupon)."""

    async def work() -> CouponReleased | None:
        coupon = await find(brand.id, code)
        if coupon is None:
            return None
        uses = await (
            CouponUse.select(CouponUse.id, CouponUse.customer, CouponUse.released_at)
            .where((CouponUse.coupon == coupon["id"]) & (CouponUse.order_id == order_id))
            .order_by(CouponUse.id, ascending=False)
        )
        if not uses:
            raise NotFound(
                "coupon %(code)s was not used on order %(order)r", code=coupon["code"], order=order_id
            )
        if uses[0]["released_at"] is None:
            await CouponUse.update({CouponUse.released_at: now}).where(CouponUse.id == uses[0]["id"])
            await _released_event(brand.id, uses[0]["customer"], coupon["code"], order_id, now)
        (counted,) = await db.fetch(_COUNT_USES, coupon["id"])
        return CouponReleased(
            code=coupon["code"], order_id=order_id, status=status_of(coupon, counted["n"], now)
        )

    return await db.write(work)


async def _released_event(
    brand_id: int, customer_id: int, code: str, order_id: str, now: dt.datetime
) -> None:
    await outbox.emit(
        brand_id=brand_id,
        kind="coupon.released",
        now=now,
        payload={"customer_id": customer_id, "code": code, "order_id": order_id},
    )


async def release_for_order(*, brand_id: int, order_id: str, now: dt.datetime) -> None:
    """A cancelled order gives back the coupons it used (in the cancellation's transaction)."""
    released = (
        await CouponUse.update({CouponUse.released_at: now})
        .where(
            (CouponUse.brand == brand_id) & (CouponUse.order_id == order_id) & CouponUse.released_at.is_null()
        )
        .returning(CouponUse.coupon, CouponUse.customer)
    )
    if not released:
        return
    codes = {
        r["id"]: r["code"]
        for r in await Coupon.select(Coupon.id, Coupon.code).where(
            Coupon.id.is_in(sorted({r["coupon"] for r in released}))
        )
    }
    for use in sorted(released, key=lambda r: (r["coupon"], r["customer"])):
        await _released_event(brand_id, use["customer"], codes[use["coupon"]], order_id, now)


async def of_customer_uses(*, brand_id: int, customer_id: int) -> list[dict[str, Any]]:
    """A shopper's coupon uses, newest first (the admin's customer page)."""
    return await db.fetch(
        "SELECT c.code, u.order_id, u.discount, u.used_at, u.released_at FROM coupon_uses u "
        "JOIN coupons c ON c.id = u.coupon WHERE u.brand = {} AND u.customer = {} ORDER BY u.id DESC",
        brand_id,
        customer_id,
    )


DEMO = {
    "bella": (
        CouponDraft(
            code="BEMVINDA10",
            description="R$ 10 na primeira compra a partir de R$ 50",
            amount=1000,
            min_order=5000,
            first_purchase_only=True,
        ),
        CouponDraft(code="MAKE15", description="15% na maquiagem", percent_bp=1500, categories=["maquiagem"]),
    ),
    "mare": (
        CouponDraft(
            code="MARE20", description="R$ 20 em compras a partir de R$ 150", amount=2000, min_order=15000
        ),
    ),
}


async def seed_demo(*, brand_id: int, slug: str, now: dt.datetime) -> int:
    """The demo brands' coupons (`retorno demo`), once: how many were added."""
    added = 0
    for draft in DEMO.get(slug, ()):
        if await find(brand_id, draft.code) is None:
            await save(brand_id=brand_id, draft=draft, now=now)
            added += 1
    return added
