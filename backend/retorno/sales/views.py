"""What an integrator reads back: a sale with what happened to it since (refunds, redemptions on
its order, vouchers it earned), and pages of customers changed since a time, for an ERP that
reconciles. Reads only; every query is scoped by brand.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

import msgspec

from retorno import db
from retorno.bounds import check_key
from retorno.brands.service import BrandView
from retorno.customers.service import CustomerView
from retorno.errors import Field, Invalid, NotFound
from retorno.ledger.balances import iso
from retorno.sales.orders import SaleAnswer
from retorno.vouchers.service import VoucherIssued


class RefundLine(msgspec.Struct, kw_only=True):
    refund_id: str | None  # None: the cancellation
    amount: int
    cashback_reversed: int
    cashback_written_off: int
    refunded_at: str


class RedemptionLine(msgspec.Struct, kw_only=True):
    redemption_id: str
    amount: int
    status: str  # committed | cancelled
    redeemed_at: str


class SaleView(msgspec.Struct, kw_only=True):
    sale_id: int
    order_id: str
    customer_id: int
    status: str  # recorded | cancelled
    total: int
    shipping: int
    channel: str
    occurred_at: str
    cancelled_at: str | None
    cashback: int  # what it earned when recorded
    cashback_reversed: int  # taken back since, by refunds and a cancellation
    breakdown: msgspec.Raw  # line by line, as recorded
    refunds: list[RefundLine]
    redemptions: list[RedemptionLine]
    vouchers: list[VoucherIssued]


_SALE = (
    "SELECT id, order_id, customer, total, shipping, channel, occurred_at, cancelled_at, cashback, response "
    "FROM sales WHERE brand = {} AND order_id = {}"
)
_REFUNDS = (
    "SELECT refund_id, amount, reversed, written_off, created_at FROM sale_refunds "
    "WHERE brand = {} AND sale = {} ORDER BY id"
)
_REDEMPTIONS = (
    "SELECT redemption_id, amount, cancelled_at, created_at FROM redemptions "
    "WHERE brand = {} AND order_id = {} ORDER BY id"
)


async def sale(*, brand: BrandView, order_id: str) -> SaleView:
    order_id = check_key("order_id", order_id)
    rows = await db.fetch(_SALE, brand.id, order_id)
    if not rows:
        raise NotFound("no such sale")
    row = rows[0]
    answer = msgspec.json.decode(row["response"], type=SaleAnswer)
    refunds = [
        RefundLine(
            refund_id=r["refund_id"],
            amount=r["amount"],
            cashback_reversed=r["reversed"],
            cashback_written_off=r["written_off"],
            refunded_at=iso(r["created_at"]) or "",
        )
        for r in await db.fetch(_REFUNDS, brand.id, row["id"])
    ]
    redemptions = [
        RedemptionLine(
            redemption_id=r["redemption_id"],
            amount=r["amount"],
            status="cancelled" if r["cancelled_at"] else "committed",
            redeemed_at=iso(r["created_at"]) or "",
        )
        for r in await db.fetch(_REDEMPTIONS, brand.id, order_id)
    ]
    return SaleView(
        sale_id=row["id"],
        order_id=row["order_id"],
        customer_id=row["customer"],
        status="cancelled" if row["cancelled_at"] else "recorded",
        total=row["total"],
        shipping=row["shipping"],
        channel=row["channel"],
        occurred_at=iso(row["occurred_at"]) or "",
        cancelled_at=iso(row["cancelled_at"]) if row["cancelled_at"] else None,
        cashback=row["cashback"],
        cashback_reversed=sum(r.cashback_reversed for r in refunds),
        breakdown=msgspec.Raw(msgspec.json.encode(answer.cashback.breakdown)),
        refunds=refunds,
        redemptions=redemptions,
        vouchers=answer.vouchers or [],
    )


class SaleChange(msgspec.Struct, kw_only=True):
    """A sale in a page of changes: enough to reconcile it, and when it last changed."""

    sale_id: int
    order_id: str
    customer_id: int
    status: str  # recorded | cancelled
    total: int
    cashback: int
    refunded: int
    occurred_at: str
    updated_at: str


class SalePage(msgspec.Struct, kw_only=True):
    sales: list[SaleChange]
    next_cursor: str | None


_SALES_CHANGED = (
    "SELECT s.id, s.order_id, s.customer, s.total, s.cashback, s.cancelled_at, s.occurred_at, s.updated_at, "
    "COALESCE((SELECT SUM(r.amount) FROM sale_refunds r WHERE r.sale = s.id AND r.refund_id IS NOT NULL), 0) "
    "AS refunded FROM sales s WHERE s.brand = {} "
    "AND (s.updated_at > {} OR (s.updated_at = {} AND s.id > {})) ORDER BY s.updated_at, s.id LIMIT {}"
)


async def changed_sales(
    *, brand: BrandView, updated_since: dt.datetime | None, cursor: str | None, limit: int
) -> SalePage:
    """Sales recorded, refunded or cancelled since a time, oldest change first, in keyset pages."""
    at, after = _start(updated_since, cursor, limit)
    rows = await db.fetch(_SALES_CHANGED, brand.id, at, at, after, limit + 1)
    page = [
        SaleChange(
            sale_id=r["id"],
            order_id=r["order_id"],
            customer_id=r["customer"],
            status="cancelled" if r["cancelled_at"] else "recorded",
            total=r["total"],
            cashback=r["cashback"],
            refunded=int(r["refunded"]),
            occurred_at=iso(r["occurred_at"]) or "",
            updated_at=iso(r["updated_at"]) or "",
        )
        for r in rows[:limit]
    ]
    return SalePage(sales=page, next_cursor=_next_cursor(rows, limit))


def _start(updated_since: dt.datetime | None, cursor: str | None, limit: int) -> tuple[dt.datetime, int]:
    """Where a page of changes starts: after the cursor's (time, id), else at `updated_since`."""
    if not 1 <= limit <= 200:
        raise Invalid("%(field)s: from 1 to 200", field=Field("limit"))
    if cursor:
        return _parse_cursor(cursor)
    if updated_since is None:
        return _EPOCH, 0
    return updated_since - dt.timedelta(microseconds=1), 0  # "since" includes the moment itself


class CustomerChange(CustomerView, frozen=True, kw_only=True):
    """A customer in a page of changes: the profile and when it last changed."""

    created_at: str
    updated_at: str
    erased: bool


class CustomerPage(msgspec.Struct, kw_only=True):
    customers: list[CustomerChange]
    next_cursor: str | None


_CHANGED = (
    "SELECT id, brand, external_id, cpf, email, phone, name, segment, created_at, updated_at, forgotten_at "
    "FROM customers WHERE brand = {} AND (updated_at > {} OR (updated_at = {} AND id > {})) "
    "ORDER BY updated_at, id LIMIT {}"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _cursor(at: dt.datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _next_cursor(rows: list[dict[str, Any]], limit: int) -> str | None:
    """Where the next page starts: after the page's last row, if a row was read beyond it."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return _cursor(last["updated_at"], last["id"])


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = text.partition("|")
        moment, number = dt.datetime.fromisoformat(at), int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("%(field)s: not a cursor this API gave out", field=Field("cursor")) from None
    if moment.tzinfo is None or not 0 <= number < 2**31:
        raise Invalid("%(field)s: not a cursor this API gave out", field=Field("cursor"))
    return moment, number


async def changed_customers(
    *, brand: BrandView, updated_since: dt.datetime | None, cursor: str | None, limit: int
) -> CustomerPage:
    """Customers changed since a time, oldest change first, a page at a time (keyset on the change
    time and the id: nothing is skipped or repeated while others change). An erased customer
    comes back with `erased` and no identifiers, so the store can erase them too."""
    at, after = _start(updated_since, cursor, limit)
    rows = await db.fetch(_CHANGED, brand.id, at, at, after, limit + 1)
    page = [
        CustomerChange(
            id=r["id"],
            brand=r["brand"],
            external_id=r["external_id"],
            cpf=r["cpf"],
            email=r["email"],
            phone=r["phone"],
            name=r["name"],
            segment=r["segment"],
            created_at=iso(r["created_at"]) or "",
            updated_at=iso(r["updated_at"]) or "",
            erased=r["forgotten_at"] is not None,
        )
        for r in rows[:limit]
    ]
    return CustomerPage(customers=page, next_cursor=_next_cursor(rows, limit))
