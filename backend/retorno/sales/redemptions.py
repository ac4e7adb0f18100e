"""Paying with cashback: a quote (what an order earns and what of it may be paid with cashback and
vouchers), a redemption, idempotent by redemption_id, from the lots that expire first, and its
cancellation, which gives the same amounts back to the same lots."""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno import db
from retorno.bounds import check_amount, check_key
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import N_, Amount, Conflict, Invalid, NotFound
from retorno.ledger import balances, posting, rules
from retorno.ledger.rules import Item, ItemEarning, Redeemable
from retorno.ledger.tables import Entry, Redemption
from retorno.outbox import service as outbox
from retorno.sales.common import digest, locked_sale_if_any
from retorno.sales.requests import SaleIn, normalized
from retorno.vouchers import service as vouchers


class RedemptionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    redemption_id: str
    order_id: str
    customer: Identity
    order_total: int
    amount: int


class EarnQuote(msgspec.Struct, kw_only=True):
    amount: int
    breakdown: list[ItemEarning]


class Quote(msgspec.Struct, kw_only=True):
    customer_id: int | None
    earn: EarnQuote
    redeemable: Redeemable
    available: int
    vouchers: list[vouchers.Applicable]
    currency: str


class RedemptionAnswer(msgspec.Struct, kw_only=True):
    redemption_id: str
    order_id: str
    amount: int
    status: str  # committed | cancelled


REASONS = {
    "no_balance": N_("the customer has no available cashback (at most %(max)s)"),
    "below_min_order": N_("this order is below the minimum order for using cashback (at most %(max)s)"),
    "max_share": N_("the amount is more than the share of the order that cashback may pay (at most %(max)s)"),
    "balance": N_("the amount is more than the available cashback (at most %(max)s)"),
}


class NotRedeemable(Invalid):
    def __init__(self, reason: str, max_amount: int) -> None:
        super().__init__(REASONS[reason], max=Amount(max_amount))
        self.reason, self.max_amount = reason, max_amount


async def quote(
    *,
    brand: BrandView,
    identity: Identity | None,
    total: int,
    shipping: int = 0,
    items: list[Item] | None = None,
    now: dt.datetime,
) -> Quote:
    """What an order would earn and how much of it the shopper may pay with cashback."""
    items = normalized(
        SaleIn(
            order_id="quote", customer=identity or Identity(), total=total, shipping=shipping, items=items
        ),
        now,
    ).items
    customer = await customers.lookup(brand.id, identity) if identity else None
    earning = rules.earn(
        brand.rules().cashback,
        items=items,
        total=total,
        shipping=shipping,
        segment=customer.segment if customer else "",
        at=now,
    )
    spendable = await balances.available(customer.id, now, brand_id=brand.id) if customer else 0
    allowed = rules.redeemable(brand.rules().redemption, order_total=total, available=spendable)
    usable = (
        await vouchers.applicable(brand_id=brand.id, customer_id=customer.id, order_total=total, now=now)
        if customer
        else []
    )
    return Quote(
        customer_id=customer.id if customer else None,
        earn=EarnQuote(amount=earning.amount, breakdown=earning.breakdown),
        redeemable=allowed,
        available=spendable,
        vouchers=usable,
        currency=brand.currency,
    )


async def redeem(
    *, brand: BrandView, request: RedemptionIn, now: dt.datetime
) -> tuple[RedemptionAnswer, bool]:
    """Pay part of an order with cashback, from the lots that expire first; idempotent by redemption_id."""
    request = msgspec.structs.replace(
        request,
        redemption_id=check_key("redemption_id", request.redemption_id),
        order_id=check_key("order_id", request.order_id),
    )
    check_amount("order_total", request.order_total, minimum=1)
    check_amount("amount", request.amount, minimum=1)
    request_digest = digest(request)

    async def work() -> tuple[RedemptionAnswer, bool]:
        existing = await (
            Redemption.select(Redemption.id, Redemption.request_digest, Redemption.cancelled_at)
            .where((Redemption.brand == brand.id) & (Redemption.redemption_id == request.redemption_id))
            .first()
        )
        if existing is not None:
            if existing["request_digest"] != request_digest:
                raise Conflict(
                    "redemption %(redemption)s was already recorded with other content",
                    redemption=request.redemption_id,
                )
            return _answer(request, existing["cancelled_at"]), False
        customer = await customers.lookup(brand.id, request.customer)
        if customer is None:
            raise NotFound("no such customer")
        order = await locked_sale_if_any(brand.id, request.order_id)  # its row locked, if recorded
        if order is not None and order["cancelled_at"] is not None:
            raise Conflict("order %(order)s is cancelled", order=request.order_id)
        await customers.lock(customer.id)
        spendable = await balances.available(customer.id, now, brand_id=brand.id)
        allowed = rules.redeemable(
            brand.rules().redemption, order_total=request.order_total, available=spendable
        )
        if request.amount > allowed.max_amount:
            reason = (
                allowed.reason
                if allowed.reason in ("no_balance", "below_min_order", "max_share")
                else "balance"
            )
            raise NotRedeemable(reason, allowed.max_amount)
        allocations, left = await posting.take(brand.id, customer.id, request.amount, now)
        if left:  # the debt made `available` smaller than the lots: already refused above
            raise NotRedeemable("balance", request.amount - left)
        inserted = await Redemption.insert(
            Redemption(
                brand=brand.id,
                customer=customer.id,
                redemption_id=request.redemption_id,
                order_id=request.order_id,
                order_total=request.order_total,
                amount=request.amount,
                request_digest=request_digest,
                created_at=now,
            )
        )
        await posting.entry(
            brand_id=brand.id,
            customer_id=customer.id,
            kind="redeem",
            amount=-request.amount,
            at=now,
            now=now,
            allocations=allocations,
            redemption=inserted[0]["id"],
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="cashback.redeemed",
            now=now,
            payload={
                "customer_id": customer.id,
                "order_id": request.order_id,
                "redemption_id": request.redemption_id,
                "amount": request.amount,
            },
        )
        return _answer(request, None), True

    return await db.write(work)


def _answer(request: RedemptionIn, cancelled_at: dt.datetime | None) -> RedemptionAnswer:
    return RedemptionAnswer(
        redemption_id=request.redemption_id,
        order_id=request.order_id,
        amount=request.amount,
        status="cancelled" if cancelled_at else "committed",
    )


async def cancel_in_transaction(
    *, brand: BrandView, redemption_id: str, now: dt.datetime
) -> RedemptionAnswer:
    """Cancel a redemption within the caller's write transaction (a sale's cancellation)."""
    row = await (
        Redemption.select(
            Redemption.id,
            Redemption.customer,
            Redemption.order_id,
            Redemption.amount,
            Redemption.cancelled_at,
        )
        .where((Redemption.brand == brand.id) & (Redemption.redemption_id == redemption_id))
        .first()
    )
    if row is None:
        raise NotFound("no redemption %(redemption)r", redemption=redemption_id)
    answer = RedemptionAnswer(
        redemption_id=redemption_id, order_id=row["order_id"], amount=row["amount"], status="cancelled"
    )
    if row["cancelled_at"] is not None:
        return answer
    await customers.lock(row["customer"])
    claimed = await db.fetch(
        "UPDATE redemptions SET cancelled_at = {} WHERE id = {} AND cancelled_at IS NULL RETURNING id",
        now,
        row["id"],
    )
    if not claimed:  # cancelled a moment ago by another request (or by the sale's cancellation)
        return answer
    taken = (
        await Entry.select(Entry.id).where((Entry.redemption == row["id"]) & (Entry.kind == "redeem")).first()
    )
    if taken is None:  # every redemption has its entry, written in its transaction
        raise RuntimeError(f"redemption {row['id']} has no entry")
    await posting.give_back(
        brand_id=brand.id,
        customer_id=row["customer"],
        taken_by=taken["id"],
        kind="redemption_cancel",
        amount=row["amount"],
        now=now,
        redemption=row["id"],
    )
    await outbox.emit(
        brand_id=brand.id,
        kind="redemption.cancelled",
        now=now,
        payload={
            "customer_id": row["customer"],
            "order_id": row["order_id"],
            "redemption_id": redemption_id,
            "amount": row["amount"],
        },
    )
    return answer


async def cancel(*, brand: BrandView, redemption_id: str, now: dt.datetime) -> RedemptionAnswer:
    redemption_id = check_key("redemption_id", redemption_id)
    return await db.write(lambda: cancel_in_transaction(brand=brand, redemption_id=redemption_id, now=now))
