"""The message claim reads a batch's balances in one query (bench/messages.py): it must say what
`balances.available` says for each shopper, whatever their lots (usable, pending, expired, spent)
and debts, and never count another brand's lots."""

from __future__ import annotations

import datetime as dt

from retorno import db
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.ledger import balances, posting
from retorno.messages import service as messages


async def _shopper(brand_id: int, email: str, now: dt.datetime) -> int:
    customer, _ = await db.write(lambda: customers.upsert(brand_id, Identity(email=email), now=now))
    return customer.id


async def test_the_batch_balances_match_the_ledgers_balance_for_every_kind_of_shopper(demo, clock):
    bella, mare = demo["bella"], demo["mare"]
    now = clock()
    ids = [await _shopper(bella.id, f"s{i}@example.com", now) for i in range(5)]
    other = await _shopper(mare.id, "m@example.com", now)

    async def credit(brand, customer_id: int, amount: int, at: dt.datetime, pending: bool) -> None:
        await db.write(
            lambda: posting.credit(
                brand=brand,
                customer_id=customer_id,
                amount=amount,
                source="adjustment",
                at=at,
                now=now,
                kind="adjustment",
                breakdown={},
                pending=pending,
            )
        )

    await credit(bella, ids[0], 1500, now, False)  # usable now
    await credit(bella, ids[0], 700, now, True)  # pending for the return window
    await credit(bella, ids[1], 900, now - dt.timedelta(days=400), False)  # expired since
    await credit(bella, ids[2], 300, now, False)
    await db.write(lambda: posting._add_debt(bella.id, ids[2], 1000))  # more debt than balance
    await db.write(lambda: posting._add_debt(bella.id, ids[3], 200))  # debt and no lots
    await credit(mare, other, 5000, now, False)  # another brand's shopper, asked for with bella's

    batch = await messages._balances(bella.id, [*ids, other], now)
    for customer_id in ids:
        expected = await balances.available(customer_id, now, brand_id=bella.id)
        assert batch.get(customer_id, 0) == expected, customer_id
    assert batch.get(ids[0]) == 1500 and batch.get(ids[2]) == -700 and ids[4] not in batch
    assert batch.get(other, 0) == await balances.available(other, now, brand_id=bella.id) == 0
