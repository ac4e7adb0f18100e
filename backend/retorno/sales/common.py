"""What the sales use cases share: the request digest, the sale row they lock first, the events
of a credit and of a customer seen for the first time."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.customers.service import CustomerView
from retorno.errors import NotFound
from retorno.ledger import posting
from retorno.ledger.balances import iso
from retorno.outbox import service as outbox


def digest(payload: msgspec.Struct) -> str:
    """What a retry is compared by: the same key with another digest is a conflict."""
    return hashlib.sha256(msgspec.json.encode(payload)).hexdigest()


_SALE = (
    "SELECT id, customer, order_id, total, cashback, points, cancelled_at FROM sales "
    "WHERE brand = {} AND order_id = {}"
)


async def locked_sale_if_any(brand_id: int, order_id: str) -> dict[str, Any] | None:
    """The sale, its row locked (PostgreSQL) until the transaction ends: a refund, a cancellation
    and a redemption on one order take the sale first, then the customers, always in that order."""
    rows = await db.fetch(_SALE + db.for_update(), brand_id, order_id)
    return rows[0] if rows else None


async def locked_sale(brand_id: int, order_id: str) -> dict[str, Any]:
    """`locked_sale_if_any`, or NotFound."""
    sale = await locked_sale_if_any(brand_id, order_id)
    if sale is None:
        raise NotFound("no sale with order_id %(order)r", order=order_id)
    return sale


async def credited_event(
    brand: BrandView, customer_id: int, lot: posting.Credit, *, source: str, now: dt.datetime
) -> None:
    await outbox.emit(
        brand_id=brand.id,
        kind="cashback.credited",
        now=now,
        payload={
            "customer_id": customer_id,
            "lot_id": lot.lot_id,
            "amount": lot.amount,
            "source": source,
            "available_at": iso(lot.available_at),
            "expires_at": iso(lot.expires_at),
        },
    )


async def created_event(brand: BrandView, customer: CustomerView, *, now: dt.datetime) -> None:
    """customer.created, in the transaction that created the customer."""
    await outbox.emit(
        brand_id=brand.id,
        kind="customer.created",
        now=now,
        payload={"customer_id": customer.id, "external_id": customer.external_id},
    )
