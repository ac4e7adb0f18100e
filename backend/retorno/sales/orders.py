"""A sale, a refund and a cancellation: one write transaction each, across the domains.

Recording a sale upserts its shopper, stores the sale, posts its cashback to the ledger, issues
the vouchers it earns, lets referrals decide a friend's first purchase (and credits both rewards),
writes the events, and stores the answer a retry replays. A refund takes back the cashback of
what was refunded, in proportion (the sale's own lot first, then as a debt or written off, as the
brand's policy says), and an invitation's rewards if the purchase no longer qualifies. A
cancellation also cancels the redemptions made on the order and voids its vouchers.

Every write is idempotent: a sale by order_id, a refund by refund_id. The same key with other
content is a conflict. Each holds the sale's row (PostgreSQL) and then every customer whose money
it moves, locked in id order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from retorno import db
from retorno.bounds import check_amount, check_key
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import Amount, Conflict, Invalid
from retorno.ledger import posting, rules
from retorno.ledger.balances import iso
from retorno.ledger.rules import ItemEarning
from retorno.ledger.tables import Lot, Redemption, Refund, Sale
from retorno.money import half_even
from retorno.outbox import service as outbox
from retorno.referrals import service as referrals
from retorno.sales import redemptions
from retorno.sales.common import created_event, credited_event, digest, locked_sale
from retorno.sales.requests import SaleIn, normalized
from retorno.sales.rewards import reward, take_back
from retorno.vouchers import service as vouchers

# --- the answers (what the API sends, and what a retry replays) ----------------------------------


class CashbackAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    amount: int
    breakdown: list[ItemEarning]
    status: str  # pending | available | none
    available_at: str | UnsetType = UNSET
    expires_at: str | UnsetType | None = UNSET
    capped: bool | UnsetType = UNSET
    reason: str | UnsetType | None = UNSET  # below_min_purchase, when none was earned


class PointsAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the sale earned in points, for a brand whose programme gives them."""

    amount: int
    status: str  # pending | available | none
    available_at: str | UnsetType = UNSET
    expires_at: str | UnsetType | None = UNSET


class SaleAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    sale_id: int
    order_id: str
    customer_id: int
    cashback: CashbackAnswer
    points: PointsAnswer | UnsetType = UNSET
    vouchers: list[vouchers.VoucherIssued] | UnsetType = UNSET  # issued by this purchase


class RefundAnswer(msgspec.Struct, kw_only=True):
    refund_id: str | None
    order_id: str
    amount: int
    cashback_reversed: int
    cashback_written_off: int


class CancelAnswer(msgspec.Struct, kw_only=True):
    order_id: str
    status: str
    cashback_reversed: int
    redemptions_cancelled: list[str]


# --- recording a sale ---------------------------------------------------------------------------


async def record(*, brand: BrandView, sale: SaleIn, now: dt.datetime) -> tuple[SaleAnswer, bool]:
    """Record a sale and credit its cashback. Returns (the answer, whether it was created now)."""
    sale = normalized(sale, now)
    request_digest = digest(sale)

    async def work() -> tuple[SaleAnswer, bool]:
        found = await db.fetch(
            "SELECT request_digest, response FROM sales WHERE brand = {} AND order_id = {}",
            brand.id,
            sale.order_id,
        )
        if found:
            if found[0]["request_digest"] != request_digest:
                raise Conflict("order %(order)s was already recorded with other content", order=sale.order_id)
            return msgspec.json.decode(found[0]["response"], type=SaleAnswer), False
        known = await customers.lookup(brand.id, sale.customer)
        referral = None  # a shopper seen for the first time was referred by no one
        if known is not None:  # the buyer, and an inviter this purchase may reward
            referral = await referrals.pending_referral(brand=brand, customer_id=known.id)
            locked = await customers.lock(known.id, referral.referrer if referral else None)
            known = locked.get(known.id, known)  # as locked, on PostgreSQL
        customer, created = await customers.upsert(brand.id, sale.customer, now=now, known=known)
        if created:
            await created_event(brand, customer, now=now)
        at = posting.utc(sale.occurred_at or now)
        program = brand.rules()
        earning = rules.earn(
            program.cashback,
            items=sale.items,
            total=sale.total,
            shipping=sale.shipping,
            segment=customer.segment,
            at=at,
        )
        if not program.earns_cashback:
            earning = rules.Earning(amount=0, merchandise=earning.merchandise, breakdown=[])
        in_points = (
            rules.earn(
                program.points_earning(),
                items=sale.items,
                total=sale.total,
                shipping=sale.shipping,
                segment=customer.segment,
                at=at,
            )
            if program.earns_points
            else None
        )
        sale_id = await db.insert(
            Sale,
            brand=brand.id,
            customer=customer.id,
            order_id=sale.order_id,
            total=sale.total,
            shipping=sale.shipping,
            items=msgspec.json.encode(sale.items or []).decode(),
            channel=sale.channel,
            occurred_at=at,
            request_digest=request_digest,
            cashback=earning.amount,
            points=in_points.amount if in_points else 0,
            created_at=now,
            updated_at=now,
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="sale.recorded",
            now=now,
            payload={
                "customer_id": customer.id,
                "sale_id": sale_id,
                "order_id": sale.order_id,
                "total": sale.total,
                "shipping": sale.shipping,
                "cashback": earning.amount,
                "channel": sale.channel,
                "occurred_at": iso(at),
            },
        )
        if earning.amount > 0:
            lot = await posting.credit(
                brand=brand,
                customer_id=customer.id,
                amount=earning.amount,
                source="sale",
                at=at,
                now=now,
                kind="earn",
                sale_id=sale_id,
                breakdown={
                    "order_id": sale.order_id,
                    "capped": earning.capped,
                    "items": msgspec.to_builtins(earning.breakdown),
                },
            )
            await credited_event(brand, customer.id, lot, source="sale", now=now)
            cashback = CashbackAnswer(
                amount=earning.amount,
                breakdown=earning.breakdown,
                status="pending" if lot.available_at > now else "available",
                available_at=iso(lot.available_at) or "",
                expires_at=iso(lot.expires_at),
                capped=earning.capped,
            )
        else:
            cashback = CashbackAnswer(
                amount=0,
                breakdown=earning.breakdown,
                status="none",
                reason="below_min_purchase" if earning.below_min_purchase else None,
            )
        points = await _credit_points(brand, customer.id, in_points, sale_id, sale.order_id, at, now)
        purchase = sale.total - sale.shipping
        issued = await vouchers.issue_for_sale(
            brand=brand, customer_id=customer.id, sale_id=sale_id, purchase=purchase, now=now
        )
        decided = (
            await referrals.on_sale(
                brand=brand,
                referral=referral,
                customer_id=customer.id,
                sale_id=sale_id,
                purchase=purchase,
                now=now,
                at=at,
            )
            if referral is not None
            else None
        )
        if decided is not None and decided.status == "rewarded":
            await reward(brand, decided, at=at, now=now)
        body = SaleAnswer(
            sale_id=sale_id,
            order_id=sale.order_id,
            customer_id=customer.id,
            cashback=cashback,
            points=points,
            vouchers=issued if issued else UNSET,
        )
        await db.fetch(
            "UPDATE sales SET response = {} WHERE id = {}", msgspec.json.encode(body).decode(), sale_id
        )
        return body, True

    return await db.write(work)


async def _credit_points(
    brand: BrandView,
    customer_id: int,
    earning: rules.Earning | None,
    sale_id: int,
    order_id: str,
    at: dt.datetime,
    now: dt.datetime,
) -> PointsAnswer | UnsetType:
    """The sale's points lot and its event (`points.credited`), where the programme gives points."""
    if earning is None:
        return UNSET
    if earning.amount <= 0:
        return PointsAnswer(amount=0, status="none")
    lot = await posting.credit(
        brand=brand,
        customer_id=customer_id,
        amount=earning.amount,
        source="sale",
        at=at,
        now=now,
        kind="earn",
        sale_id=sale_id,
        unit=posting.POINTS,
        breakdown={
            "order_id": order_id,
            "capped": earning.capped,
            "items": msgspec.to_builtins(earning.breakdown),
        },
    )
    await outbox.emit(
        brand_id=brand.id,
        kind="points.credited",
        now=now,
        payload={
            "customer_id": customer_id,
            "lot_id": lot.lot_id,
            "points": lot.amount,
            "source": "sale",
            "order_id": order_id,
            "available_at": iso(lot.available_at),
            "expires_at": iso(lot.expires_at),
        },
    )
    return PointsAnswer(
        amount=earning.amount,
        status="pending" if lot.available_at > now else "available",
        available_at=iso(lot.available_at) or "",
        expires_at=iso(lot.expires_at),
    )


# --- refunds and cancellations ------------------------------------------------------------------


async def _reverse(
    *, brand: BrandView, sale: dict[str, Any], amount: int, refund_id: str | None, now: dt.datetime
) -> RefundAnswer:
    """Take back the cashback of `amount` refunded, in proportion; the sale's own lot first."""
    previous = await Refund.select(Refund.amount, Refund.reversed, Refund.written_off).where(
        Refund.sale == sale["id"]
    )
    refunded = sum(r["amount"] for r in previous)
    if refunded + amount > sale["total"]:
        raise Invalid(
            "refund of %(amount)s exceeds what remains of the sale (%(remains)s)",
            amount=Amount(amount),
            remains=Amount(sale["total"] - refunded),
        )
    settled = sum(r["reversed"] + r["written_off"] for r in previous)
    # Cumulative, so partial refunds that add up to the total take back exactly all the cashback.
    due = half_even(sale["cashback"] * (refunded + amount), sale["total"]) - settled if sale["total"] else 0
    lot = (
        await Lot.select(Lot.id, Lot.remaining)
        .where((Lot.sale == sale["id"]) & (Lot.unit == posting.MONEY))
        .first()
    )
    from_lot = min(due, lot["remaining"]) if lot else 0
    rest = due - from_lot
    negative = brand.rules().cashback.refund_policy == "negative_balance"
    carried, written_off = (rest, 0) if negative else (0, rest)
    await Sale.update({Sale.updated_at: now}).where(Sale.id == sale["id"])
    inserted = await Refund.insert(
        Refund(
            brand=brand.id,
            sale=sale["id"],
            refund_id=refund_id,
            amount=amount,
            reversed=from_lot + carried,
            written_off=written_off,
            created_at=now,
        )
    )
    refund_row = inserted[0]["id"]
    await _reverse_points(brand, sale, refunded + amount, refund_row, now)
    if from_lot + carried:
        await posting.reverse(
            brand_id=brand.id,
            customer_id=sale["customer"],
            lot_id=lot["id"] if lot else None,
            from_lot=from_lot,
            carried=carried,
            now=now,
            sale_id=sale["id"],
            refund_row=refund_row,
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="cashback.reversed",
            now=now,
            payload={
                "customer_id": sale["customer"],
                "order_id": sale["order_id"],
                "amount": from_lot + carried,
                "reason": "refund",
            },
        )
    if written_off:
        await posting.write_off(brand_id=brand.id, amount=written_off, refund_row=refund_row, now=now)
    await take_back(brand, sale_id=sale["id"], kept=sale["total"] - refunded - amount, now=now)
    return RefundAnswer(
        refund_id=refund_id,
        order_id=sale["order_id"],
        amount=amount,
        cashback_reversed=from_lot + carried,
        cashback_written_off=written_off,
    )


async def _reverse_points(
    brand: BrandView, sale: dict[str, Any], refunded: int, refund_row: int, now: dt.datetime
) -> None:
    """The sale's points in proportion to what is refunded so far (`refunded`, cumulative): from
    its lot what is left there, the rest (points already spent) written off."""
    if not sale.get("points") or not sale["total"]:
        return
    settled = await db.fetch(
        "SELECT CAST(COALESCE(SUM(points_reversed + points_written_off), 0) AS BIGINT) AS n "
        "FROM sale_refunds WHERE sale = {}",
        sale["id"],
    )
    due = half_even(sale["points"] * refunded, sale["total"]) - settled[0]["n"]
    if due <= 0:
        return
    lot = (
        await Lot.select(Lot.id, Lot.remaining)
        .where((Lot.sale == sale["id"]) & (Lot.unit == posting.POINTS))
        .first()
    )
    from_lot = min(due, lot["remaining"]) if lot else 0
    if from_lot and lot:
        await posting.entry(
            brand_id=brand.id,
            customer_id=sale["customer"],
            kind="reverse",
            unit=posting.POINTS,
            amount=-from_lot,
            at=now,
            now=now,
            allocations=[(lot["id"], -from_lot)],
            sale=sale["id"],
            refund=refund_row,
            lot=lot["id"],
        )
    if due - from_lot:
        await posting.write_off(
            brand_id=brand.id, amount=due - from_lot, refund_row=refund_row, now=now, unit=posting.POINTS
        )
    await Refund.update({Refund.points_reversed: from_lot, Refund.points_written_off: due - from_lot}).where(
        Refund.id == refund_row
    )


async def refund(
    *, brand: BrandView, order_id: str, refund_id: str, amount: int, now: dt.datetime
) -> tuple[RefundAnswer, bool]:
    """Refund part of a sale; idempotent by refund_id. Returns (the answer, created now)."""
    refund_id = check_key("refund_id", refund_id)
    order_id = check_key("order_id", order_id)
    check_amount("amount", amount, minimum=1)

    async def work() -> tuple[RefundAnswer, bool]:
        sale = await locked_sale(brand.id, order_id)
        existing = await (
            Refund.select(Refund.sale, Refund.amount, Refund.reversed, Refund.written_off)
            .where((Refund.brand == brand.id) & (Refund.refund_id == refund_id))
            .first()
        )
        if existing is not None:
            if existing["sale"] != sale["id"] or existing["amount"] != amount:
                raise Conflict("refund %(refund)s was already recorded with other content", refund=refund_id)
            return RefundAnswer(
                refund_id=refund_id,
                order_id=order_id,
                amount=amount,
                cashback_reversed=existing["reversed"],
                cashback_written_off=existing["written_off"],
            ), False
        if sale["cancelled_at"] is not None:
            raise Conflict("order %(order)s is cancelled", order=order_id)
        parties = await referrals.parties_of_sale(brand_id=brand.id, sale_id=sale["id"])
        await customers.lock(sale["customer"], *parties)
        answer = await _reverse(brand=brand, sale=sale, amount=amount, refund_id=refund_id, now=now)
        await outbox.emit(
            brand_id=brand.id,
            kind="sale.refunded",
            now=now,
            payload={
                "customer_id": sale["customer"],
                "order_id": order_id,
                "refund_id": refund_id,
                "amount": amount,
                "cashback_reversed": answer.cashback_reversed,
                "cashback_written_off": answer.cashback_written_off,
            },
        )
        return answer, True

    return await db.write(work)


async def cancel(*, brand: BrandView, order_id: str, now: dt.datetime) -> CancelAnswer:
    """Cancel a sale: refund what is left of it and cancel the redemptions made on that order."""
    order_id = check_key("order_id", order_id)

    async def work() -> CancelAnswer:
        sale = await locked_sale(brand.id, order_id)
        redeemers = await db.fetch(
            "SELECT customer FROM redemptions WHERE brand = {} AND order_id = {} AND cancelled_at IS NULL",
            brand.id,
            order_id,
        )
        await customers.lock(
            sale["customer"],
            *(r["customer"] for r in redeemers),
            *await referrals.parties_of_sale(brand_id=brand.id, sale_id=sale["id"]),
        )
        if sale["cancelled_at"] is None:
            # Redemptions first: what they give back returns to its lots before the reversal takes.
            for r in await Redemption.select(Redemption.redemption_id).where(
                (Redemption.brand == brand.id)
                & (Redemption.order_id == order_id)
                & Redemption.cancelled_at.is_null()
            ):
                await redemptions.cancel_in_transaction(
                    brand=brand, redemption_id=r["redemption_id"], now=now
                )
            refunded = sum(
                r["amount"] for r in await Refund.select(Refund.amount).where(Refund.sale == sale["id"])
            )
            if sale["total"] - refunded > 0:
                await _reverse(
                    brand=brand, sale=sale, amount=sale["total"] - refunded, refund_id=None, now=now
                )
            await Sale.update({Sale.cancelled_at: now, Sale.updated_at: now}).where(Sale.id == sale["id"])
            await vouchers.cancel_for_sale(brand_id=brand.id, sale_id=sale["id"], now=now)
            await vouchers.release_for_order(brand_id=brand.id, order_id=order_id, now=now)
        reversed_total = sum(
            r["reversed"] for r in await Refund.select(Refund.reversed).where(Refund.sale == sale["id"])
        )
        cancelled = await Redemption.select(Redemption.redemption_id).where(
            (Redemption.brand == brand.id)
            & (Redemption.order_id == order_id)
            & Redemption.cancelled_at.is_not_null()
        )
        answer = CancelAnswer(
            order_id=order_id,
            status="cancelled",
            cashback_reversed=reversed_total,
            redemptions_cancelled=sorted(r["redemption_id"] for r in cancelled),
        )
        if sale["cancelled_at"] is None:  # cancelled now (a retry emits nothing)
            await outbox.emit(
                brand_id=brand.id,
                kind="sale.cancelled",
                now=now,
                payload={
                    "customer_id": sale["customer"],
                    "order_id": order_id,
                    "cashback_reversed": reversed_total,
                    "redemptions_cancelled": answer.redemptions_cancelled,
                },
            )
        return answer

    return await db.write(work)
