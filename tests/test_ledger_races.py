"""Money under concurrency, through the API's own service calls at once: on PostgreSQL these are
real concurrent transactions on a pool of connections (on SQLite they are serialised, and must
give the same result). Expected values come from counting what was asked, not from the code."""

from __future__ import annotations

import asyncio
import collections

import msgspec

from retorno import db
from retorno.brands import service as brands
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.ledger import sweep as ledger_sweep
from retorno.onboarding.brand import import_brand
from retorno.referrals import invitations
from retorno.sales import orders, redemptions
from tests.conftest import demo_pack

FRIENDS = 20
REFERRER_REWARD = 2000  # bella's R$ 20,00


async def _negative_balance_without_cap(settings) -> brands.BrandView:
    pack = demo_pack("bella")
    rules = pack.rules
    pack = msgspec.structs.replace(
        pack,
        rules=msgspec.structs.replace(
            rules,
            cashback=msgspec.structs.replace(rules.cashback, refund_policy="negative_balance"),
            referral=msgspec.structs.replace(rules.referral, monthly_cap=0),
        ),
    )
    await import_brand(pack, base_host=settings.base_host)
    return await brands.get_brand("bella")


async def _account(customer_id: int) -> dict[str, int]:
    entries = await db.fetch(
        "SELECT kind, amount FROM ledger_entries WHERE customer = {} ORDER BY id", customer_id
    )
    lots = await db.fetch("SELECT remaining FROM ledger_lots WHERE customer = {}", customer_id)
    debt = await db.fetch("SELECT debt FROM ledger_accounts WHERE customer = {}", customer_id)
    return {
        "entries": sum(e["amount"] for e in entries),
        "lots": sum(lot["remaining"] for lot in lots),
        "debt": debt[0]["debt"] if debt else 0,
        "rewards": sum(1 for e in entries if e["kind"] == "referral_reward"),
    }


async def test_many_friends_first_purchases_at_once_credit_the_referrer_exactly(settings, demo, clock):
    """20 friends of one inviter buy for the first time at once, while the inviter owes R$ 300,00
    (a refund of cashback already spent, under negative_balance): every reward lands once, each
    pays the debt down, and entries, lots and debt agree (no lost update of the debt)."""
    bella = await _negative_balance_without_cap(settings)
    now = clock()
    ana = orders.SaleIn(order_id="ana-1", customer=Identity(email="ana@example.com"), total=300_000)
    await orders.record(brand=bella, sale=ana, now=now)  # R$ 300,00 of cashback
    later = clock.advance(days=8)
    await redemptions.redeem(
        brand=bella,
        request=redemptions.RedemptionIn(
            redemption_id="spend",
            order_id="spend",
            customer=Identity(email="ana@example.com"),
            order_total=600_000,
            amount=30_000,
        ),
        now=later,
    )
    await orders.refund(brand=bella, order_id="ana-1", refund_id="back", amount=300_000, now=later)
    referrer = await customers.lookup(bella.id, Identity(email="ana@example.com"))
    assert (await _account(referrer.id))["debt"] == 30_000
    code = await invitations.code_of(brand_id=bella.id, customer_id=referrer.id, now=later)
    friends = []
    for i in range(FRIENDS):
        friend, _ = await db.write(
            lambda i=i: customers.upsert(bella.id, Identity(email=f"amiga{i}@example.com"), now=later)
        )
        await db.write(
            lambda friend=friend: invitations.attach(
                brand_id=bella.id, code=code, friend_id=friend.id, existed=False, device="", now=later
            )
        )
        friends.append(friend)

    async def first_purchase(i: int):
        sale = orders.SaleIn(order_id=f"f-{i}", customer=Identity(email=f"amiga{i}@example.com"), total=6000)
        return await orders.record(brand=bella, sale=sale, now=later)

    results = await asyncio.gather(*(first_purchase(i) for i in range(FRIENDS)))
    assert all(created for _, created in results)
    account = await _account(referrer.id)
    assert account["rewards"] == FRIENDS
    owed = max(0, 30_000 - FRIENDS * REFERRER_REWARD)
    assert account["debt"] == owed
    assert account["lots"] == FRIENDS * REFERRER_REWARD - (30_000 - owed)
    assert account["entries"] == account["lots"] - account["debt"]
    statuses = collections.Counter(
        r["status"] for r in await db.fetch("SELECT status FROM referrals WHERE referrer = {}", referrer.id)
    )
    assert statuses == {"rewarded": FRIENDS}


async def test_concurrent_sweeps_announce_each_credit_once(demo, clock):
    """Two sweeps at once (two workers): one cashback.available event per lot, not two."""
    bella = demo["bella"]
    for i in range(21):
        sale = orders.SaleIn(order_id=f"s-{i}", customer=Identity(email=f"c{i}@example.com"), total=10_000)
        await orders.record(brand=bella, sale=sale, now=clock())
    later = clock.advance(days=8)
    await asyncio.gather(*(ledger_sweep.sweep(brands=[bella], now=later) for _ in range(4)))
    rows = await db.fetch("SELECT payload FROM outbox_events WHERE kind = 'cashback.available'")
    lots = collections.Counter(msgspec.json.decode(r["payload"])["lot_id"] for r in rows)
    assert len(lots) == 21 and set(lots.values()) == {1}
