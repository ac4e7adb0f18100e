"""A shopper's balance as time passes and as the ledger moves, read again and again: each
process keeps the sums it read (ledger.balances' memo) only while no entry was added and no lot
became usable or expired. Expected values are the demo rules' arithmetic: Bella gives 10%,
usable after 7 days, for 90."""

from __future__ import annotations

import datetime as dt

import pytest

from retorno import db
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.ledger import balances, posting
from retorno.sales import orders, redemptions

ANA = Identity(email="ana@example.com")
T = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
USABLE, EXPIRES = T + dt.timedelta(days=7), T + dt.timedelta(days=97)
TICK = dt.timedelta(microseconds=1)


async def _twice(bella, customer_id: int, now: dt.datetime) -> tuple[int, int, list[int]]:
    """(available, pending, expiring amounts), read twice: the second read must agree."""
    first = await balances.balance(brand=bella, customer_id=customer_id, now=now)
    second = await balances.balance(brand=bella, customer_id=customer_id, now=now)
    assert first == second
    assert await balances.available(customer_id, now, brand_id=bella.id) == first.available
    return first.available, first.pending, [e.amount for e in first.expiring]


async def test_a_credit_turns_usable_and_expires_at_its_instants_however_often_it_is_read(demo):
    bella = demo["bella"]
    await orders.record(
        brand=bella, sale=orders.SaleIn(order_id="A-1", customer=ANA, total=100_000, occurred_at=T), now=T
    )
    ana = (await customers.lookup(bella.id, ANA)).id
    assert await _twice(bella, ana, T) == (0, 10_000, [])
    assert await _twice(bella, ana, USABLE - TICK) == (0, 10_000, [])
    assert await _twice(bella, ana, USABLE) == (10_000, 0, [10_000])
    assert await _twice(bella, ana, EXPIRES - TICK) == (10_000, 0, [10_000])
    assert await _twice(bella, ana, EXPIRES) == (0, 0, [])  # expired, though no sweep has run
    assert await _twice(bella, ana, T + dt.timedelta(days=1)) == (0, 10_000, [])  # the past, again
    assert await _twice(bella, ana, USABLE + dt.timedelta(days=1)) == (10_000, 0, [10_000])


async def test_every_movement_shows_in_the_next_read_and_an_undone_one_never(demo):
    bella = demo["bella"]
    day = USABLE + dt.timedelta(days=1)
    await orders.record(
        brand=bella, sale=orders.SaleIn(order_id="A-1", customer=ANA, total=100_000, occurred_at=T), now=T
    )
    ana = (await customers.lookup(bella.id, ANA)).id
    assert await _twice(bella, ana, day) == (10_000, 0, [10_000])

    spend = redemptions.RedemptionIn(
        redemption_id="X-1", order_id="N-1", customer=ANA, order_total=50_000, amount=3_000
    )
    await redemptions.redeem(brand=bella, request=spend, now=day)
    assert await _twice(bella, ana, day) == (7_000, 0, [7_000])
    await orders.record(
        brand=bella, sale=orders.SaleIn(order_id="A-2", customer=ANA, total=20_000, occurred_at=day), now=day
    )
    assert await _twice(bella, ana, day) == (7_000, 2_000, [7_000])

    # A write undone: what it read inside its transaction saw its own credit, which no later read
    # may show (on SQLite the next entry, the cancel's, even takes the undone one's id).
    with pytest.raises(LookupError):
        async with db.transaction():
            await posting.credit(
                brand=bella,
                customer_id=ana,
                amount=500,
                source="adjustment",
                at=day,
                now=day,
                kind="adjustment",
                breakdown={},
                pending=False,
            )
            inside = await balances.balance(brand=bella, customer_id=ana, now=day)
            assert inside.available == 7_500
            raise LookupError("undone")
    await redemptions.cancel(brand=bella, redemption_id="X-1", now=day)
    assert await _twice(bella, ana, day) == (10_000, 2_000, [10_000])
