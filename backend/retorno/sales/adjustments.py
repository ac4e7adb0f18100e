"""A manual adjustment by staff, with its reason: a credit usable at once (with the brand's expiry),
or a debit from the credits that expire first."""

from __future__ import annotations

import datetime as dt

from retorno import db
from retorno.bounds import MAX_AMOUNT
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import Field, Invalid
from retorno.ledger import balances, posting
from retorno.sales.common import credited_event


async def adjust(*, brand: BrandView, customer_id: int, amount: int, reason: str, now: dt.datetime) -> int:
    """The new entry's id."""
    reason = reason.strip()
    if not reason:
        raise Invalid("%(field)s: say why (the shopper sees it in their statement)", field=Field("reason"))
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Invalid("%(field)s: not zero, and within R$ 1 billion", field=Field("amount"))

    async def work() -> int:
        await customers.lock(customer_id)
        if amount > 0:
            lot = await posting.credit(
                brand=brand,
                customer_id=customer_id,
                amount=amount,
                source="adjustment",
                at=now,
                now=now,
                pending=False,
                kind="adjustment",
                breakdown={"reason": reason[:200]},
                note=reason[:200],
            )
            await credited_event(brand, customer_id, lot, source="adjustment", now=now)
        else:
            if -amount > await balances.available(customer_id, now, brand_id=brand.id):
                raise Invalid("%(field)s: more than the shopper's available balance", field=Field("amount"))
            allocations, _ = await posting.take(brand.id, customer_id, -amount, now)
            await posting.entry(
                brand_id=brand.id,
                customer_id=customer_id,
                kind="adjustment",
                amount=amount,
                at=now,
                now=now,
                allocations=allocations,
                note=reason[:200],
            )
        rows = await db.fetch(
            "SELECT id FROM ledger_entries WHERE customer = {} ORDER BY id DESC LIMIT 1", customer_id
        )
        return int(rows[0]["id"])

    return await db.write(work)
