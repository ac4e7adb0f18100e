"""Personal vouchers: issued by the brand's rules (in the sale's own transaction), validated and
redeemed at the counter or by the API, given back when their order is cancelled.

- A code is 10 characters of an alphabet without look-alikes (no 0/O, 1/I/L), about 49 bits of
  chance, shown grouped (`K7QM-4XPD-2R`); typed codes are read leniently (case, dashes, spaces).
- A voucher is used by at most one open use at a time: a unique index on `voucher_uses (voucher, brand)
  WHERE released_at IS NULL` decides a race, so of fifty concurrent redemptions one wins.
- Redeeming is idempotent by order: the same code and order again answer as the first time.
- Status is derived, never stored: cancelled, used (an open use), expired (past `expires_at`),
  or active.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import msgspec
from piccolo.query import WhereRaw

from retorno import db, money
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import N_, NotFound, Refused
from retorno.ledger.balances import iso
from retorno.ledger.rules import Item
from retorno.outbox import service as outbox
from retorno.vouchers import coupons
from retorno.vouchers.coupons import CouponView
from retorno.vouchers.tables import Voucher, VoucherUse

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
# api: issued by the brand's own systems; points: exchanged for points in the rewards catalogue
SOURCES = ("rule", "referral", "staff", "campaign", "api", "points")

REASONS = {
    "not_found": N_("no voucher or coupon has this code (%(code)s)"),
    "cancelled": N_("the voucher was cancelled (%(code)s)"),
    "used": N_("the voucher was already used on another order (%(code)s)"),
    "expired": N_("the voucher has expired (%(code)s)"),
    "below_min_order": N_("the order is below the voucher's minimum order (%(code)s)"),
    "other_customer": N_("the voucher belongs to another customer (%(code)s)"),
}


class VoucherView(msgspec.Struct, frozen=True, kw_only=True):
    """A voucher as the API and the shopper's app show it (the JSON keys, in this order)."""

    code: str  # grouped, XXXX-XXXX-XX
    status: str
    amount: int | None
    percent: float | None
    min_order: int
    source: str
    issued_at: str
    expires_at: str
    used_on_order: str | None


class OwnVoucher(VoucherView, frozen=True, kw_only=True):
    """A voucher in its shopper's list: the view and the code as stored (no dashes)."""

    raw_code: str


class VoucherIssued(msgspec.Struct, frozen=True, kw_only=True):
    """A voucher just issued, as the sale's stored answer lists it (`SaleAnswer.vouchers`)."""

    code: str  # grouped
    amount: int | None
    percent_bp: int | None
    expires_at: str  # ISO 8601 in UTC, with Z


class VoucherCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a code applies to an order (`validate`): a personal voucher's (`voucher`) or a public
    coupon's (`coupon`)."""

    code: str
    applies: bool
    discount: int
    reason: str | None
    voucher: VoucherView | None
    coupon: CouponView | None = None


class VoucherUsed(msgspec.Struct, frozen=True, kw_only=True):
    """A voucher's use on an order (`redeem`); also what the counter's audit record keeps."""

    code: str
    order_id: str
    discount: int
    status: str
    used_at: str
    kind: str = "voucher"  # or "coupon": a public coupon's use


class VoucherReleased(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    order_id: str
    status: str


class Applicable(msgspec.Struct, frozen=True, kw_only=True):
    """An active voucher a cart may use, with the discount it would give (a quote's `vouchers`)."""

    code: str
    discount: int
    expires_at: str


class VoucherRefused(Refused):
    """Why a voucher cannot be used (its code shown grouped, as printed)."""

    REASONS, CONFLICTS = REASONS, ("used",)

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason, grouped(code))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(text: str) -> str:
    """What a person typed or a scanner read: case, spaces and dashes do not matter."""
    return re.sub(r"[^0-9A-Za-z]", "", text or "").upper()[:40]


def grouped(code: str) -> str:
    return f"{code[:4]}-{code[4:8]}-{code[8:]}" if len(code) == LENGTH else code


def discount_of(voucher: dict[str, Any], order_total: int) -> int:
    if voucher["amount"] is not None:
        return min(voucher["amount"], order_total)
    return min(money.half_even(order_total * voucher["percent_bp"], 10000), order_total)


def status_of(voucher: dict[str, Any], now: dt.datetime) -> str:
    if voucher["cancelled_at"] is not None:
        return "cancelled"
    if voucher.get("open_order") is not None:
        return "used"
    if voucher["expires_at"] <= now:
        return "expired"
    return "active"


# Hot path: `applicable`, on every quote. A voucher with its open use (if any), by hand (see
# retorno.db.fetch).
_SELECT = (
    "SELECT v.id, v.brand, v.customer, v.code, v.amount, v.percent_bp, v.min_order, v.source, v.sale, "
    "v.issued_at, v.expires_at, v.cancelled_at, u.order_id AS open_order, u.discount AS open_discount, "
    "u.used_at AS used_at FROM vouchers v "
    "LEFT JOIN voucher_uses u ON u.voucher = v.id AND u.released_at IS NULL "
)
_APPLICABLE = (
    _SELECT + "WHERE v.brand = {} AND v.customer = {} AND v.cancelled_at IS NULL AND v.expires_at > {} "
    "AND v.min_order <= {} ORDER BY v.expires_at, v.id"
)
_COLUMNS = (
    Voucher.id,
    Voucher.brand,
    Voucher.customer,
    Voucher.code,
    Voucher.amount,
    Voucher.percent_bp,
    Voucher.min_order,
    Voucher.source,
    Voucher.sale,
    Voucher.issued_at,
    Voucher.expires_at,
    Voucher.cancelled_at,
)
_NOT_IN_USE = (
    "NOT EXISTS (SELECT 1 FROM voucher_uses u WHERE u.voucher = vouchers.id AND u.released_at IS NULL)"
)


async def _with_open_uses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Vouchers' rows with their open use, as `_SELECT` gives them (open_order, open_discount,
    used_at; None when the voucher is not in use). At most one use of a voucher is open."""
    if not rows:
        return rows
    uses = await VoucherUse.select(
        VoucherUse.voucher, VoucherUse.order_id, VoucherUse.discount, VoucherUse.used_at
    ).where(VoucherUse.voucher.is_in([r["id"] for r in rows]) & VoucherUse.released_at.is_null())
    open_uses = {u["voucher"]: u for u in uses}
    for row in rows:
        use = open_uses.get(row["id"])
        row["open_order"] = use["order_id"] if use else None
        row["open_discount"] = use["discount"] if use else None
        row["used_at"] = use["used_at"] if use else None
    return rows


async def _find(brand_id: int, code: str) -> dict[str, Any] | None:
    row = await (
        Voucher.select(*_COLUMNS)
        .where((Voucher.brand == brand_id) & (Voucher.code == normalize_code(code)))
        .first()
    )
    return (await _with_open_uses([row]))[0] if row is not None else None


def _view(voucher: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {
        "code": grouped(voucher["code"]),
        "status": status_of(voucher, now),
        "amount": voucher["amount"],
        "percent": voucher["percent_bp"] / 100 if voucher["percent_bp"] is not None else None,
        "min_order": voucher["min_order"],
        "source": voucher["source"],
        "issued_at": voucher["issued_at"].isoformat(),
        "expires_at": voucher["expires_at"].isoformat(),
        "used_on_order": voucher.get("open_order"),
    }


def view(voucher: dict[str, Any], now: dt.datetime) -> VoucherView:
    """A voucher (a row as `_SELECT` reads it) as the API and the shopper's app show it."""
    return VoucherView(**_view(voucher, now))


async def issue(
    *,
    brand_id: int,
    customer_id: int,
    source: str,
    now: dt.datetime,
    valid_days: int,
    amount: int | None = None,
    percent_bp: int | None = None,
    min_order: int = 0,
    sale_id: int | None = None,
    note: str = "",
) -> VoucherIssued:
    """A new voucher for a customer, in the caller's transaction (its event goes to the outbox)."""
    if (amount is None) == (percent_bp is None):
        raise ValueError("a voucher is either an amount or a percent off")
    if source not in SOURCES:
        raise ValueError(f"unknown voucher source {source!r}")
    code = new_code()
    expires_at = now + dt.timedelta(days=valid_days)
    await db.insert(
        Voucher,
        brand=brand_id,
        customer=customer_id,
        code=code,
        amount=amount,
        percent_bp=percent_bp,
        min_order=min_order,
        source=source,
        sale=sale_id,
        note=note,
        issued_at=now,
        expires_at=expires_at,
    )
    await outbox.emit(
        brand_id=brand_id,
        kind="voucher.issued",
        now=now,
        payload={
            "customer_id": customer_id,
            "code": code,
            "amount": amount,
            "percent_bp": percent_bp,
            "min_order": min_order,
            "expires_at": iso(expires_at),
        },
    )
    return VoucherIssued(
        code=grouped(code), amount=amount, percent_bp=percent_bp, expires_at=iso(expires_at) or ""
    )


async def issue_for_sale(
    *, brand: BrandView, customer_id: int, sale_id: int, purchase: int, now: dt.datetime
) -> list[VoucherIssued]:
    """The vouchers a sale earns under the brand's rules (purchase: the order without shipping).
    On every sale: no query unless a rule issues a voucher (then `db.insert`, no query building)."""
    issued = []
    for rule in brand.rules().vouchers:
        if purchase >= rule.min_purchase:
            issued.append(
                await issue(
                    brand_id=brand.id,
                    customer_id=customer_id,
                    source="rule",
                    now=now,
                    valid_days=rule.valid_days,
                    amount=rule.amount,
                    percent_bp=rule.percent_bp,
                    min_order=rule.min_order,
                    sale_id=sale_id,
                )
            )
    return issued


async def cancel_for_sale(*, brand_id: int, sale_id: int, now: dt.datetime) -> int:
    """A cancelled sale takes back the vouchers it issued that were not used."""
    rows = await (
        Voucher.update({Voucher.cancelled_at: now})
        .where(
            (Voucher.brand == brand_id)
            & (Voucher.sale == sale_id)
            & Voucher.cancelled_at.is_null()
            & WhereRaw(_NOT_IN_USE)
        )
        .returning(Voucher.id)
    )
    return len(rows)


async def cancel_for_customer(*, customer_id: int, now: dt.datetime) -> None:
    """A deleted account's unused vouchers can no longer be used by anyone."""
    await Voucher.update({Voucher.cancelled_at: now}).where(
        (Voucher.customer == customer_id) & Voucher.cancelled_at.is_null()
    )


def _refusal(
    voucher: dict[str, Any] | None, code: str, order_total: int, now: dt.datetime, customer_id: int | None
) -> str | None:
    if voucher is None:
        return "not_found"
    if customer_id is not None and voucher["customer"] != customer_id:
        return "other_customer"
    state = status_of(voucher, now)
    if state != "active":
        return state
    if order_total < voucher["min_order"]:
        return "below_min_order"
    return None


async def validate(
    *,
    brand: BrandView,
    code: str,
    order_total: int,
    identity: Identity | None,
    now: dt.datetime,
    items: list[Item] | None = None,
    customer_id: int | None = None,
) -> VoucherCheck:
    """Whether a code applies to an order, the discount, or the reason it does not (never raises).
    A code that is no voucher is looked up as a public coupon; a shopper the brand does not know
    yet is a new one (no uses, no purchase). `customer_id`: the shopper, when the caller knows
    them already (the counter) and gives no identity."""
    voucher = await _find(brand.id, code)
    if identity:
        customer = await customers.lookup(brand.id, identity)
        customer_id = customer.id if customer else -1
    if voucher is None:
        check = await coupons.validate(
            brand=brand, code=code, customer_id=customer_id, order_total=order_total, items=items, now=now
        )
        if check is not None:
            return VoucherCheck(
                code=check.coupon.code if check.coupon else coupons.normalize_code(code),
                applies=check.applies,
                discount=check.discount,
                reason=check.reason,
                voucher=None,
                coupon=check.coupon,
            )
    reason = _refusal(voucher, code, order_total, now, customer_id)
    return VoucherCheck(
        code=grouped(normalize_code(code)),
        applies=reason is None,
        discount=discount_of(voucher, order_total) if voucher is not None and reason is None else 0,
        reason=reason,
        voucher=view(voucher, now) if voucher is not None and reason != "other_customer" else None,
    )


async def redeem(
    *,
    brand: BrandView,
    code: str,
    order_id: str,
    order_total: int,
    now: dt.datetime,
    customer_id: int | None = None,
    items: list[Item] | None = None,
) -> tuple[VoucherUsed, bool]:
    """Use a voucher (or a public coupon: `customer_id` is then required) on an order; the same
    order again gets the same answer (created False). With `customer_id`, a voucher of another
    shopper is refused."""

    async def work() -> tuple[VoucherUsed, bool]:
        voucher = await _find(brand.id, code)
        if voucher is None:
            used = await coupons.redeem(
                brand=brand,
                code=code,
                customer_id=customer_id,
                order_id=order_id,
                order_total=order_total,
                items=items,
                now=now,
            )
            if used is not None:
                answer, created = used
                return VoucherUsed(
                    code=answer.code,
                    order_id=answer.order_id,
                    discount=answer.discount,
                    status="used",
                    used_at=answer.used_at,
                    kind="coupon",
                ), created
        if voucher is not None and voucher["open_order"] == order_id:
            return _use_answer(voucher, order_id, voucher["open_discount"], voucher["used_at"]), False
        reason = _refusal(voucher, code, order_total, now, customer_id)
        if reason is not None:
            raise VoucherRefused(reason, normalize_code(code))
        if voucher is None:  # cannot be: _refusal answers "not_found" when there is no voucher
            raise RuntimeError("no voucher, yet no refusal")
        discount = discount_of(voucher, order_total)
        # The partial unique index lets one open use exist; a concurrent winner makes this insert
        # fail, and db.write runs the work again, which then finds the voucher used.
        await db.insert(
            VoucherUse,
            brand=brand.id,
            voucher=voucher["id"],
            order_id=order_id,
            order_total=order_total,
            discount=discount,
            used_at=now,
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="voucher.used",
            now=now,
            payload={
                "customer_id": voucher["customer"],
                "code": voucher["code"],
                "order_id": order_id,
                "discount": discount,
            },
        )
        return _use_answer(voucher, order_id, discount, now), True

    return await db.write(work)


def _use_answer(voucher: dict[str, Any], order_id: str, discount: int, at: dt.datetime) -> VoucherUsed:
    return VoucherUsed(
        code=grouped(voucher["code"]),
        order_id=order_id,
        discount=discount,
        status="used",
        used_at=at.isoformat(),
    )


async def release(*, brand: BrandView, code: str, order_id: str, now: dt.datetime) -> VoucherReleased:
    """Give a voucher back when the order that used it was cancelled (idempotent)."""

    async def work() -> VoucherReleased:
        voucher = await _find(brand.id, code)
        if voucher is None:
            released = await coupons.release(brand=brand, code=code, order_id=order_id, now=now)
            if released is not None:
                return VoucherReleased(code=released.code, order_id=order_id, status=released.status)
            raise VoucherRefused("not_found", normalize_code(code))
        last_use = await (
            VoucherUse.select(VoucherUse.id, VoucherUse.released_at)
            .where((VoucherUse.voucher == voucher["id"]) & (VoucherUse.order_id == order_id))
            .order_by(VoucherUse.id, ascending=False)
            .first()
        )
        if last_use is None:
            raise NotFound(
                "voucher %(code)s was not used on order %(order)r",
                code=grouped(voucher["code"]),
                order=order_id,
            )
        if last_use["released_at"] is None:
            await VoucherUse.update({VoucherUse.released_at: now}).where(VoucherUse.id == last_use["id"])
            await _released_event(brand.id, voucher["customer"], voucher["code"], order_id, now)
        voucher["open_order"] = None
        return VoucherReleased(
            code=grouped(voucher["code"]), order_id=order_id, status=status_of(voucher, now)
        )

    return await db.write(work)


async def _released_event(
    brand_id: int, customer_id: int, code: str, order_id: str, now: dt.datetime
) -> None:
    await outbox.emit(
        brand_id=brand_id,
        kind="voucher.released",
        now=now,
        payload={"customer_id": customer_id, "code": code, "order_id": order_id},
    )


async def release_for_order(*, brand_id: int, order_id: str, now: dt.datetime) -> None:
    """A cancelled order gives back the vouchers and coupons it used (in the cancellation's
    transaction)."""
    await coupons.release_for_order(brand_id=brand_id, order_id=order_id, now=now)
    released = (
        await VoucherUse.update({VoucherUse.released_at: now})
        .where(
            (VoucherUse.brand == brand_id)
            & (VoucherUse.order_id == order_id)
            & VoucherUse.released_at.is_null()
        )
        .returning(VoucherUse.voucher)
    )
    if not released:
        return
    ids = sorted({r["voucher"] for r in released})
    for voucher in (
        await Voucher.select(Voucher.customer, Voucher.code).where(Voucher.id.is_in(ids)).order_by(Voucher.id)
    ):
        await _released_event(brand_id, voucher["customer"], voucher["code"], order_id, now)


async def of_customer(*, brand_id: int, customer_id: int, now: dt.datetime) -> list[OwnVoucher]:
    """Every voucher of a shopper, active first (soonest to expire first), then the rest, newest first."""
    rows = await _with_open_uses(
        await Voucher.select(*_COLUMNS)
        .where((Voucher.brand == brand_id) & (Voucher.customer == customer_id))
        .order_by(Voucher.expires_at, Voucher.id)
    )
    views = [OwnVoucher(**_view(r, now), raw_code=r["code"]) for r in rows]
    active = [v for v in views if v.status == "active"]
    rest = sorted((v for v in views if v.status != "active"), key=lambda v: v.issued_at, reverse=True)
    return active + rest


# The shopper's home: the next voucher to use and how many there are, without reading the
# thousands a long-time shopper may hold (count(*) OVER () counts the rows before LIMIT).
_NEXT_ACTIVE = (
    "SELECT v.id, v.brand, v.customer, v.code, v.amount, v.percent_bp, v.min_order, v.source, v.sale, "
    "v.issued_at, v.expires_at, v.cancelled_at, count(*) OVER () AS active FROM vouchers v "
    "WHERE v.brand = {} AND v.customer = {} AND v.cancelled_at IS NULL AND v.expires_at > {} "
    "AND NOT EXISTS (SELECT 1 FROM voucher_uses u WHERE u.voucher = v.id AND u.released_at IS NULL) "
    "ORDER BY v.expires_at, v.id LIMIT 1"
)


async def next_active(*, brand_id: int, customer_id: int, now: dt.datetime) -> tuple[OwnVoucher | None, int]:
    """The shopper's active voucher that expires first (as `of_customer` puts it first), and how
    many active ones they hold."""
    rows = await db.fetch(_NEXT_ACTIVE, brand_id, customer_id, now)
    if not rows:
        return None, 0
    row = rows[0]
    return OwnVoucher(**_view(row, now), raw_code=row["code"]), int(row["active"])


async def applicable(
    *, brand_id: int, customer_id: int, order_total: int, now: dt.datetime
) -> list[Applicable]:
    """The shopper's active vouchers that this cart may use, with the discount each would give."""
    rows = await db.fetch(_APPLICABLE, brand_id, customer_id, now, order_total)
    return [
        Applicable(
            code=grouped(r["code"]),
            discount=discount_of(r, order_total),
            expires_at=r["expires_at"].isoformat(),
        )
        for r in rows
        if r["open_order"] is None
    ]


async def sweep(
    *, brands: list[BrandView], now: dt.datetime, reminder_days: dict[int, list[int]] | None = None
) -> int:
    """Reminders before an unused voucher expires, at the days a brand set in `reminder_days`
    (else its pack's reminder days), once each."""
    sent = 0
    for brand in brands:
        days = sorted((reminder_days or {}).get(brand.id, brand.rules().notifications.expiry_reminder_days))
        if not days:
            continue
        rows = await _with_open_uses(
            await Voucher.select(*_COLUMNS).where(
                (Voucher.brand == brand.id)
                & Voucher.cancelled_at.is_null()
                & (Voucher.expires_at > now)
                & (Voucher.expires_at <= now + dt.timedelta(days=days[-1]))
            )
        )
        for voucher in rows:
            if voucher["open_order"] is not None:
                continue
            day = next(d for d in days if voucher["expires_at"] <= now + dt.timedelta(days=d))

            async def work(
                voucher: dict[str, Any] = voucher, day: int = day, brand_id: int = brand.id
            ) -> bool:
                return await outbox.emit(
                    brand_id=brand_id,
                    kind="voucher.expiring",
                    now=now,
                    dedupe_key=f"voucher-expiring:{voucher['id']}:{day}",
                    payload={
                        "customer_id": voucher["customer"],
                        "voucher_id": voucher["id"],
                        "code": voucher["code"],
                        "amount": voucher["amount"],
                        "percent_bp": voucher["percent_bp"],
                        "expires_at": voucher["expires_at"].isoformat(),
                        "days": day,
                    },
                )

            sent += await db.write(work)
    return sent
