"""Invitation rewards, where referrals meet the ledger: crediting both rewards of a referral
that qualified (at the friend's first purchase, or approved by staff), and taking them back when
the purchase is refunded within its return window."""

from __future__ import annotations

import datetime as dt

from retorno import db
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.ledger import posting
from retorno.outbox import service as outbox
from retorno.referrals import service as referrals
from retorno.sales.common import credited_event


async def reward(
    brand: BrandView, decision: referrals.Decision, *, at: dt.datetime, now: dt.datetime
) -> None:
    """Credit a rewarded referral's rewards, as of the purchase: available when its return window
    closes, with it. In the caller's transaction, both parties locked."""
    lots: dict[str, int] = {}
    for role, customer, amount in referrals.rewards_of(brand, decision):
        lot = await posting.credit(
            brand=brand,
            customer_id=customer,
            amount=amount,
            source="referral",
            at=at,
            now=now,
            kind="referral_reward",
            breakdown={"referral_id": decision.referral_id, "role": role},
        )
        lots[role] = lot.lot_id
        await credited_event(brand, customer, lot, source="referral", now=now)
        await outbox.emit(
            brand_id=brand.id,
            kind="referral.rewarded",
            now=now,
            payload={
                "customer_id": customer,
                "amount": amount,
                "role": role,
                "referral_id": decision.referral_id,
            },
        )
    await referrals.rewarded_with(referral_id=decision.referral_id, lots=lots)


async def take_back(brand: BrandView, *, sale_id: int, kept: int, now: dt.datetime) -> None:
    """A refund or cancellation of a sale (in its transaction): the rewards its referral no longer
    earns are reversed."""
    for customer, lot in await referrals.on_refund(brand=brand, sale_id=sale_id, kept=kept, now=now):
        taken = await posting.reverse_lot(
            brand_id=brand.id, customer_id=customer, lot_id=lot, note="referral", now=now
        )
        if taken:
            await outbox.emit(
                brand_id=brand.id,
                kind="cashback.reversed",
                now=now,
                payload={"customer_id": customer, "lot_id": lot, "amount": taken, "reason": "referral"},
            )


async def review(*, brand: BrandView, referral_id: int, approve: bool, now: dt.datetime) -> str:
    """Staff decide a referral held for review: rewarded as of its purchase, or not eligible."""

    async def work() -> str:
        referral = await referrals.under_review(brand_id=brand.id, referral_id=referral_id)
        await customers.lock(referral.referrer, referral.friend)
        decision = await referrals.decide(brand=brand, referral=referral, approve=approve, now=now)
        if decision.status == "rewarded":
            await reward(brand, decision, at=referral.occurred_at, now=now)
        return decision.status

    return await db.write(work)
