"""The cashback ledger: sales earn credit lots; refunds, redemptions and expiry move them.

The design, in brief:
- Money is integer centavos. Entries (`Entry`) are the shopper's movements and are only ever
  appended. Credits are lots (`Lot`): `amount` when earned, `remaining` after what later entries
  took from it or gave back (`Allocation` rows record each of those moves, so
  `remaining == amount + sum(allocations)` for every lot).
- A lot is pending before `available_at`, spendable until `expires_at`; balances are computed
  from lots as of `now`, so an expired lot never counts even before the sweep writes its
  `expire` entry. Spending takes the lots that expire first.
- A refund of cashback already spent is written off, or (policy `negative_balance`) carried as
  a debt on the customer's `Account` that later earnings pay down. Hence, for every customer:
  sum(entries) == sum(lot remainders) - debt.
- Every outside write is idempotent: a sale by order_id, a refund by refund_id, a redemption by
  redemption_id. The first answer is stored and replayed; the same key with other content is a
  conflict. Each write runs in one transaction that holds the customer's row lock (PostgreSQL) or
  SQLite's write lock, and writes its domain events to the outbox in that same transaction.
- Time is always passed in (`now`): nothing here reads the clock, so tests never sleep.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from typing import Any

import msgspec

from retorno import db
from retorno.bounds import MAX_AMOUNT, MAX_ITEMS, check_amount, check_key, check_moment, check_text
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Conflict, Invalid, NotFound
from retorno.ledger import rules
from retorno.ledger.rules import Item
from retorno.ledger.tables import Allocation, Entry, Lot, Redemption, Refund, Sale
from retorno.outbox import service as outbox
from retorno.referrals import service as referrals
from retorno.vouchers import service as vouchers

ENTRY_KINDS = ("earn", "redeem", "redemption_cancel", "reverse", "expire", "adjustment", "referral_reward")


class SaleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: str
    customer: Identity
    total: int
    shipping: int = 0
    items: list[Item] | None = None
    occurred_at: dt.datetime | None = None
    channel: str = "api"


class RedemptionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    redemption_id: str
    order_id: str
    customer: Identity
    order_total: int
    amount: int


class Balance(msgspec.Struct, kw_only=True):
    available: int
    pending: int
    expiring: list[dict[str, Any]]
    currency: str
    debt: int = 0


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _digest(payload: msgspec.Struct) -> str:
    return hashlib.sha256(msgspec.json.encode(payload)).hexdigest()


def _iso(value: dt.datetime | None) -> str | None:
    return _utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


# --- balances -----------------------------------------------------------------------------------


async def _lock(*customer_ids: int | None) -> None:
    """Every customer this transaction moves money for, locked at once in id order."""
    await customers.lock(*customer_ids)


async def _debt(customer_id: int) -> int:
    rows = await db.fetch("SELECT debt FROM ledger_accounts WHERE customer = {}", customer_id)
    return rows[0]["debt"] if rows else 0


async def _add_debt(brand_id: int, customer_id: int, delta: int) -> None:
    """One statement, so no concurrent write of the same debt is ever lost."""
    await db.fetch(
        "INSERT INTO ledger_accounts (brand, customer, debt) VALUES ({}, {}, {}) "
        "ON CONFLICT (customer) DO UPDATE SET debt = ledger_accounts.debt + excluded.debt",
        brand_id,
        customer_id,
        delta,
    )


def _spendable(customer_id: int, now: dt.datetime):
    return (
        (Lot.customer == customer_id)
        & (Lot.remaining > 0)
        & (Lot.available_at <= now)
        & (Lot.expires_at.is_null() | (Lot.expires_at > now))
    )


_SUMS = """
SELECT CAST(COALESCE(SUM(CASE WHEN available_at <= {} THEN remaining END), 0) AS BIGINT) AS available,
       CAST(COALESCE(SUM(CASE WHEN available_at > {} THEN remaining END), 0) AS BIGINT) AS pending,
       COALESCE((SELECT debt FROM ledger_accounts WHERE customer = {}), 0) AS debt
FROM ledger_lots
WHERE customer = {} AND brand = {} AND remaining > 0 AND (expires_at IS NULL OR expires_at > {})
"""
_EXPIRING = """
SELECT expires_at, CAST(SUM(remaining) AS BIGINT) AS amount FROM ledger_lots
WHERE customer = {} AND brand = {} AND remaining > 0 AND available_at <= {} AND expires_at > {}
GROUP BY expires_at ORDER BY expires_at LIMIT {}
"""


async def _sums(brand_id: int, customer_id: int, now: dt.datetime) -> dict[str, int]:
    rows = await db.fetch(_SUMS, now, now, customer_id, customer_id, brand_id, now)
    return rows[0]


async def available(customer_id: int, now: dt.datetime, *, brand_id: int) -> int:
    """Spendable now: unexpired, available lots, less any debt (may be negative)."""
    sums = await _sums(brand_id, customer_id, now)
    return sums["available"] - sums["debt"]


async def balance(
    *, brand: BrandView, customer_id: int, now: dt.datetime, expiring_limit: int = 5
) -> Balance:
    """Computed from the lots as of `now`: what expired or is still pending is never available."""
    sums = await _sums(brand.id, customer_id, now)
    soonest = await db.fetch(_EXPIRING, customer_id, brand.id, now, now, expiring_limit)
    return Balance(
        available=sums["available"] - sums["debt"],
        pending=sums["pending"],
        expiring=[{"amount": r["amount"], "expires_at": _iso(r["expires_at"])} for r in soonest],
        currency=brand.currency,
        debt=sums["debt"],
    )


async def next_available(*, brand_id: int, customer_id: int, now: dt.datetime) -> dt.datetime | None:
    """When the next pending credit becomes usable."""
    rows = await db.fetch(
        "SELECT available_at FROM ledger_lots WHERE customer = {} AND brand = {} "
        "AND remaining > 0 AND available_at > {} ORDER BY available_at LIMIT 1",
        customer_id,
        brand_id,
        now,
    )
    return rows[0]["available_at"] if rows else None


# --- writing entries ----------------------------------------------------------------------------

_MOVE_LOT = "UPDATE ledger_lots SET remaining = remaining + {} WHERE id = {} AND remaining >= {} RETURNING id"


async def _entry(
    *,
    brand_id: int,
    customer_id: int,
    kind: str,
    amount: int,
    at: dt.datetime,
    now: dt.datetime,
    allocations: list[tuple[int, int]] = (),
    **links: Any,
) -> int:
    """Append an entry and apply its allocations [(lot id, signed amount)] to the lots."""
    entry_id = await db.insert(
        Entry,
        brand=brand_id,
        customer=customer_id,
        kind=kind,
        amount=amount,
        occurred_at=at,
        created_at=now,
        **{k: v for k, v in links.items() if v is not None},
    )
    for lot_id, delta in allocations:
        await db.insert(Allocation, entry=entry_id, lot=lot_id, amount=delta)
        # Guarded so a bug can never take a lot below zero: the update then changes no row.
        changed = await db.fetch(_MOVE_LOT, delta, lot_id, -delta)
        if not changed:
            raise RuntimeError(f"lot {lot_id} would go below zero")
    return entry_id


async def credit(
    *,
    brand: BrandView,
    customer_id: int,
    amount: int,
    source: str,
    at: dt.datetime,
    now: dt.datetime,
    kind: str,
    breakdown: dict[str, Any],
    sale_id: int | None = None,
    note: str = "",
    pending: bool = True,
) -> dict[str, Any]:
    """A new lot (pending for the return window unless `pending` is False, then valid for
    expiry_days) and its entry."""
    cashback = brand.rules().cashback
    available_at = _utc(at) + dt.timedelta(days=cashback.pending_days if pending else 0)
    expires_at = available_at + dt.timedelta(days=cashback.expiry_days) if cashback.expiry_days else None
    lot_id = await db.insert(
        Lot,
        brand=brand.id,
        customer=customer_id,
        sale=sale_id,
        source=source,
        amount=amount,
        remaining=amount,
        available_at=available_at,
        expires_at=expires_at,
        breakdown=msgspec.json.encode(breakdown).decode(),
        announced=False,
        created_at=now,
    )
    debt = await _debt(customer_id)
    paid = min(debt, amount)
    await _entry(
        brand_id=brand.id,
        customer_id=customer_id,
        kind=kind,
        amount=amount,
        at=_utc(at),
        now=now,
        allocations=[(lot_id, -paid)] if paid else [],
        lot=lot_id,
        sale=sale_id,
        note=note,
    )
    if paid:  # later earnings pay down a negative balance
        await _add_debt(brand.id, customer_id, -paid)
    await outbox.emit(
        brand_id=brand.id,
        kind="cashback.credited",
        now=now,
        payload={
            "customer_id": customer_id,
            "lot_id": lot_id,
            "amount": amount,
            "source": source,
            "available_at": _iso(available_at),
            "expires_at": _iso(expires_at),
        },
    )
    return {"lot_id": lot_id, "available_at": available_at, "expires_at": expires_at}


async def reverse_lot(*, brand_id: int, customer_id: int, lot_id: int, note: str, now: dt.datetime) -> int:
    """Take back what is left of one credit (e.g. an invitation reward whose purchase was returned)."""
    rows = await db.fetch("SELECT remaining FROM ledger_lots WHERE id = {}", lot_id)
    remaining = rows[0]["remaining"] if rows else 0
    if remaining > 0:
        await _entry(
            brand_id=brand_id,
            customer_id=customer_id,
            kind="reverse",
            amount=-remaining,
            at=now,
            now=now,
            allocations=[(lot_id, -remaining)],
            lot=lot_id,
            note=note,
        )
    return remaining


# --- sales --------------------------------------------------------------------------------------


def _normalized(sale: SaleIn, now: dt.datetime) -> SaleIn:
    """The sale as it is checked, stored and compared on a retry: ids and texts stripped once and
    bounded, amounts in range, items that add up, a time with its offset near now."""
    check_amount("total", sale.total)
    check_amount("shipping", sale.shipping)
    if sale.shipping > sale.total:
        raise Invalid("shipping: cannot be more than the total")
    items = sale.items
    if items is not None:
        if len(items) > MAX_ITEMS:
            raise Invalid(f"items: at most {MAX_ITEMS} lines in one sale")
        items = [_normalized_item(i, item) for i, item in enumerate(items)]
        lines = sum(item.line_total for item in items)
        if items and lines != sale.total - sale.shipping:
            raise Invalid(
                f"items add up to {lines} centavos, but total minus shipping is {sale.total - sale.shipping}"
            )
    if sale.occurred_at is not None:
        # Checked, but kept as given, offset and all: a retry's digest is compared with the one
        # taken of it so (a sale recorded before this check existed must still match its retry).
        check_moment("occurred_at", sale.occurred_at, now=now)
    return msgspec.structs.replace(
        sale,
        order_id=check_key("order_id", sale.order_id),
        channel=check_text("channel", sale.channel, max_length=40, min_length=1),
        items=items,
    )


def _normalized_item(i: int, item: Item) -> Item:
    check_amount(f"items[{i}].amount", item.amount)
    if not 1 <= item.quantity <= 100_000:
        raise Invalid(f"items[{i}].quantity: must be from 1 to 100000")
    category = item.category
    if category is not None:
        category = check_text(f"items[{i}].category", category, max_length=100)
    return msgspec.structs.replace(
        item, sku=check_text(f"items[{i}].sku", item.sku, max_length=100), category=category
    )


async def record_sale(*, brand: BrandView, sale: SaleIn, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Record a sale and credit its cashback. Returns (the answer, whether it was created now)."""
    sale = _normalized(sale, now)
    digest = _digest(sale)

    async def work() -> tuple[dict[str, Any], bool]:
        found = await db.fetch(
            "SELECT request_digest, response FROM sales WHERE brand = {} AND order_id = {}",
            brand.id,
            sale.order_id,
        )
        if found:
            existing = found[0]
            if existing["request_digest"] != digest:
                raise Conflict(f"order {sale.order_id} was already recorded with other content")
            return msgspec.json.decode(existing["response"]), False
        known = await customers.lookup(brand.id, sale.customer)
        if known is not None:  # the buyer, and an inviter this purchase may reward
            await _lock(known.id, await referrals.inviter_of_pending(brand_id=brand.id, customer_id=known.id))
        customer, _ = await customers.upsert(brand.id, sale.customer, now=now)
        at = _utc(sale.occurred_at or now)
        earning = rules.earn(
            brand.rules().cashback,
            items=sale.items,
            total=sale.total,
            shipping=sale.shipping,
            segment=customer.segment,
            at=at,
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
            request_digest=digest,
            cashback=earning.amount,
            created_at=now,
        )
        cashback: dict[str, Any] = {
            "amount": earning.amount,
            "breakdown": msgspec.to_builtins(earning.breakdown),
        }
        if earning.amount > 0:
            lot = await credit(
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
                    "items": cashback["breakdown"],
                },
            )
            cashback |= {
                "status": "pending" if lot["available_at"] > now else "available",
                "available_at": _iso(lot["available_at"]),
                "expires_at": _iso(lot["expires_at"]),
                "capped": earning.capped,
            }
        else:
            cashback |= {
                "status": "none",
                "reason": "below_min_purchase" if earning.below_min_purchase else None,
            }
        purchase = sale.total - sale.shipping
        issued = await vouchers.issue_for_sale(
            brand=brand, customer_id=customer.id, sale_id=sale_id, purchase=purchase, now=now
        )
        await referrals.on_sale(
            brand=brand, customer_id=customer.id, sale_id=sale_id, purchase=purchase, at=at, now=now
        )
        body = {
            "sale_id": sale_id,
            "order_id": sale.order_id,
            "customer_id": customer.id,
            "cashback": cashback,
        }
        if issued:
            body["vouchers"] = [v | {"expires_at": _iso(v["expires_at"])} for v in issued]
        await db.fetch(
            "UPDATE sales SET response = {} WHERE id = {}", msgspec.json.encode(body).decode(), sale_id
        )
        return body, True

    return await db.write(work)


_SALE = (
    "SELECT id, customer, order_id, total, cashback, cancelled_at FROM sales "
    "WHERE brand = {} AND order_id = {}"
)


async def _sale(brand_id: int, order_id: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The sale, its row locked (PostgreSQL) until the transaction ends: a refund, a cancellation
    and a redemption on one order take the sale first, then the customers, always in that order."""
    rows = await db.fetch(_SALE + db.for_update(), brand_id, order_id)
    if not rows and not missing_ok:
        raise NotFound(f"no sale with order_id {order_id!r}")
    return rows[0] if rows else None


async def _reverse(
    *, brand: BrandView, sale: dict[str, Any], amount: int, refund_id: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Take back the cashback of `amount` refunded, in proportion; the sale's own lot first."""
    previous = await Refund.select(Refund.amount, Refund.reversed, Refund.written_off).where(
        Refund.sale == sale["id"]
    )
    refunded = sum(r["amount"] for r in previous)
    if refunded + amount > sale["total"]:
        raise Invalid(
            f"refund of {amount} centavos exceeds what remains of the sale "
            f"({sale['total'] - refunded} centavos)"
        )
    settled = sum(r["reversed"] + r["written_off"] for r in previous)
    # Cumulative, so partial refunds that add up to the total take back exactly all the cashback.
    due = (
        rules.half_even(sale["cashback"] * (refunded + amount), sale["total"]) - settled
        if sale["total"]
        else 0
    )
    lot = await Lot.select(Lot.id, Lot.remaining).where(Lot.sale == sale["id"]).first()
    from_lot = min(due, lot["remaining"]) if lot else 0
    rest = due - from_lot
    negative = brand.rules().cashback.refund_policy == "negative_balance"
    carried, written_off = (rest, 0) if negative else (0, rest)
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
    if from_lot + carried:
        await _entry(
            brand_id=brand.id,
            customer_id=sale["customer"],
            kind="reverse",
            amount=-(from_lot + carried),
            at=now,
            now=now,
            allocations=[(lot["id"], -from_lot)] if from_lot else [],
            sale=sale["id"],
            refund=inserted[0]["id"],
            lot=lot["id"] if lot else None,
        )
        if carried:
            await _add_debt(brand.id, sale["customer"], carried)
        await outbox.emit(
            brand_id=brand.id,
            kind="cashback.reversed",
            now=now,
            payload={
                "customer_id": sale["customer"],
                "order_id": sale["order_id"],
                "amount": from_lot + carried,
            },
        )
    await referrals.on_refund(
        brand=brand, sale_id=sale["id"], kept=sale["total"] - refunded - amount, now=now
    )
    return {
        "order_id": sale["order_id"],
        "amount": amount,
        "cashback_reversed": from_lot + carried,
        "cashback_written_off": written_off,
    }


async def refund(
    *, brand: BrandView, order_id: str, refund_id: str, amount: int, now: dt.datetime
) -> tuple[dict[str, Any], bool]:
    """Refund part of a sale; idempotent by refund_id. Returns (the answer, created now)."""
    refund_id = check_key("refund_id", refund_id)
    order_id = check_key("order_id", order_id)
    check_amount("amount", amount, minimum=1)

    async def work() -> tuple[dict[str, Any], bool]:
        sale = await _sale(brand.id, order_id)
        existing = await (
            Refund.select(Refund.sale, Refund.amount, Refund.reversed, Refund.written_off)
            .where((Refund.brand == brand.id) & (Refund.refund_id == refund_id))
            .first()
        )
        if existing is not None:
            if existing["sale"] != sale["id"] or existing["amount"] != amount:
                raise Conflict(f"refund {refund_id} was already recorded with other content")
            return {
                "refund_id": refund_id,
                "order_id": order_id,
                "amount": amount,
                "cashback_reversed": existing["reversed"],
                "cashback_written_off": existing["written_off"],
            }, False
        if sale["cancelled_at"] is not None:
            raise Conflict(f"order {order_id} is cancelled")
        await _lock(sale["customer"], *await referrals.parties_of_sale(brand_id=brand.id, sale_id=sale["id"]))
        return {"refund_id": refund_id} | await _reverse(
            brand=brand, sale=sale, amount=amount, refund_id=refund_id, now=now
        ), True

    return await db.write(work)


async def cancel_sale(*, brand: BrandView, order_id: str, now: dt.datetime) -> dict[str, Any]:
    """Cancel a sale: refund what is left of it and cancel the redemptions made on that order."""
    order_id = check_key("order_id", order_id)

    async def work() -> dict[str, Any]:
        sale = await _sale(brand.id, order_id)
        redeemers = await db.fetch(
            "SELECT customer FROM redemptions WHERE brand = {} AND order_id = {} AND cancelled_at IS NULL",
            brand.id,
            order_id,
        )
        await _lock(
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
                await _cancel_redemption(brand=brand, redemption_id=r["redemption_id"], now=now)
            refunded = sum(
                r["amount"] for r in await Refund.select(Refund.amount).where(Refund.sale == sale["id"])
            )
            if sale["total"] - refunded > 0:
                await _reverse(
                    brand=brand, sale=sale, amount=sale["total"] - refunded, refund_id=None, now=now
                )
            await Sale.update({Sale.cancelled_at: now}).where(Sale.id == sale["id"])
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
        return {
            "order_id": order_id,
            "status": "cancelled",
            "cashback_reversed": reversed_total,
            "redemptions_cancelled": sorted(r["redemption_id"] for r in cancelled),
        }

    return await db.write(work)


# --- redemption ---------------------------------------------------------------------------------


async def quote(
    *,
    brand: BrandView,
    identity: Identity | None,
    total: int,
    shipping: int = 0,
    items: list[Item] | None = None,
    now: dt.datetime,
) -> dict[str, Any]:
    """What an order would earn and how much of it the shopper may pay with cashback."""
    items = _normalized(
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
    spendable = await available(customer.id, now, brand_id=brand.id) if customer else 0
    allowed = rules.redeemable(brand.rules().redemption, order_total=total, available=spendable)
    usable = (
        await vouchers.applicable(brand_id=brand.id, customer_id=customer.id, order_total=total, now=now)
        if customer
        else []
    )
    return {
        "customer_id": customer.id if customer else None,
        "earn": {"amount": earning.amount, "breakdown": msgspec.to_builtins(earning.breakdown)},
        "redeemable": msgspec.to_builtins(allowed),
        "available": spendable,
        "vouchers": usable,
        "currency": brand.currency,
    }


REASONS = {
    "no_balance": "the customer has no available cashback",
    "below_min_order": "this order is below the minimum order for using cashback",
    "max_share": "the amount is more than the share of the order that cashback may pay",
    "balance": "the amount is more than the available cashback",
}


class NotRedeemable(Invalid):
    def __init__(self, reason: str, max_amount: int) -> None:
        super().__init__(f"{REASONS[reason]} (at most {max_amount} centavos)")
        self.reason, self.max_amount = reason, max_amount


async def _take(brand_id: int, customer_id: int, amount: int, now: dt.datetime) -> tuple[list, int]:
    """Allocations that take `amount` from the spendable lots, what expires first first (a lot that
    never expires last); and what could not be taken."""
    lots = await (
        Lot.select(Lot.id, Lot.remaining, Lot.expires_at)
        .where(_spendable(customer_id, now) & (Lot.brand == brand_id))
        .order_by(Lot.available_at)
        .order_by(Lot.id)
    )
    lots.sort(key=lambda lot: (lot["expires_at"] is None, lot["expires_at"] or now))
    allocations, left = [], amount
    for lot in lots:
        take = min(left, lot["remaining"])
        if take:
            allocations.append((lot["id"], -take))
            left -= take
        if not left:
            break
    return allocations, left


async def adjust(*, brand: BrandView, customer_id: int, amount: int, reason: str, now: dt.datetime) -> int:
    """A manual adjustment by staff, with its reason: a credit usable at once (with the brand's
    expiry), or a debit from the credits that expire first. The new entry's id."""
    reason = reason.strip()
    if not reason:
        raise Invalid("reason: say why (the shopper sees it in their statement)")
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Invalid("amount: not zero, and within R$ 1 billion")

    async def work() -> int:
        await _lock(customer_id)
        if amount > 0:
            await credit(
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
        else:
            if -amount > await available(customer_id, now, brand_id=brand.id):
                raise Invalid("amount: more than the shopper's available balance")
            allocations, _ = await _take(brand.id, customer_id, -amount, now)
            await _entry(
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
        return rows[0]["id"]

    return await db.write(work)


async def redeem(*, brand: BrandView, request: RedemptionIn, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Pay part of an order with cashback, from the lots that expire first; idempotent by redemption_id."""
    request = msgspec.structs.replace(
        request,
        redemption_id=check_key("redemption_id", request.redemption_id),
        order_id=check_key("order_id", request.order_id),
    )
    check_amount("order_total", request.order_total, minimum=1)
    check_amount("amount", request.amount, minimum=1)
    digest = _digest(request)

    async def work() -> tuple[dict[str, Any], bool]:
        existing = await (
            Redemption.select(
                Redemption.id, Redemption.request_digest, Redemption.customer, Redemption.cancelled_at
            )
            .where((Redemption.brand == brand.id) & (Redemption.redemption_id == request.redemption_id))
            .first()
        )
        if existing is not None:
            if existing["request_digest"] != digest:
                raise Conflict(f"redemption {request.redemption_id} was already recorded with other content")
            return _redemption_answer(request, existing["cancelled_at"]), False
        customer = await customers.lookup(brand.id, request.customer)
        if customer is None:
            raise NotFound("no such customer")
        order = await _sale(brand.id, request.order_id, missing_ok=True)  # its row locked, if recorded
        if order is not None and order["cancelled_at"] is not None:
            raise Conflict(f"order {request.order_id} is cancelled")
        await _lock(customer.id)
        spendable = await available(customer.id, now, brand_id=brand.id)
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
        allocations, left = await _take(brand.id, customer.id, request.amount, now)
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
                request_digest=digest,
                created_at=now,
            )
        )
        await _entry(
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
            payload={"customer_id": customer.id, "order_id": request.order_id, "amount": request.amount},
        )
        return _redemption_answer(request, None), True

    return await db.write(work)


def _redemption_answer(request: RedemptionIn, cancelled_at: dt.datetime | None) -> dict[str, Any]:
    return {
        "redemption_id": request.redemption_id,
        "order_id": request.order_id,
        "amount": request.amount,
        "status": "cancelled" if cancelled_at else "committed",
    }


async def _cancel_redemption(*, brand: BrandView, redemption_id: str, now: dt.datetime) -> dict[str, Any]:
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
        raise NotFound(f"no redemption {redemption_id!r}")
    answer = {
        "redemption_id": redemption_id,
        "order_id": row["order_id"],
        "amount": row["amount"],
        "status": "cancelled",
    }
    if row["cancelled_at"] is not None:
        return answer
    await _lock(row["customer"])
    claimed = await db.fetch(
        "UPDATE redemptions SET cancelled_at = {} WHERE id = {} AND cancelled_at IS NULL RETURNING id",
        now,
        row["id"],
    )
    if not claimed:  # cancelled a moment ago by another request (or by the sale's cancellation)
        return answer
    redeem_entry = (
        await Entry.select(Entry.id).where((Entry.redemption == row["id"]) & (Entry.kind == "redeem")).first()
    )
    moves = await Allocation.select(Allocation.lot, Allocation.amount).where(
        Allocation.entry == redeem_entry["id"]
    )
    # The same amounts go back to the same lots, so they keep their original expiry.
    await _entry(
        brand_id=brand.id,
        customer_id=row["customer"],
        kind="redemption_cancel",
        amount=row["amount"],
        at=now,
        now=now,
        allocations=[(m["lot"], -m["amount"]) for m in moves],
        redemption=row["id"],
    )
    return answer


async def cancel_redemption(*, brand: BrandView, redemption_id: str, now: dt.datetime) -> dict[str, Any]:
    redemption_id = check_key("redemption_id", redemption_id)
    return await db.write(lambda: _cancel_redemption(brand=brand, redemption_id=redemption_id, now=now))


# --- the statement ------------------------------------------------------------------------------


def _cursor(at: dt.datetime, entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_utc(at).isoformat()}|{entry_id}".encode()).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, entry_id = text.split("|")
        when, number = dt.datetime.fromisoformat(at), int(entry_id)
        if when.tzinfo is None or not 0 < number < 2**31:  # ids are 32-bit serials
            raise ValueError(text)
        return when, number
    except (ValueError, UnicodeDecodeError):
        raise Invalid("cursor: not a cursor this API gave out") from None


_STATEMENT = """
SELECT e.id, e.kind, e.amount, e.occurred_at, e.note, s.order_id AS order_id,
       l.available_at AS available_at, l.expires_at AS expires_at, l.breakdown AS breakdown
FROM ledger_entries e
LEFT JOIN sales s ON s.id = e.sale
LEFT JOIN ledger_lots l ON l.id = e.lot
WHERE e.brand = {} AND e.customer = {}"""


async def statement(
    *,
    brand_id: int,
    customer_id: int,
    now: dt.datetime,
    limit: int = 20,
    cursor: str | None = None,
    kinds: list[str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Movements newest first, a page at a time (keyset pagination: stable while entries arrive)."""
    if not 1 <= limit <= 100:
        raise Invalid("limit: from 1 to 100")
    sql, args = _STATEMENT, [brand_id, customer_id]
    if kinds:
        unknown = set(kinds) - set(ENTRY_KINDS)
        if unknown:
            raise Invalid(f"kind: {sorted(unknown)[0]!r} is not one of {', '.join(ENTRY_KINDS)}")
        sql += " AND e.kind IN (" + ", ".join("{}" for _ in kinds) + ")"
        args += kinds
    if cursor:
        at, entry_id = _parse_cursor(cursor)
        sql += " AND (e.occurred_at < {} OR (e.occurred_at = {} AND e.id < {}))"
        args += [at, at, entry_id]
    rows = await db.fetch(sql + " ORDER BY e.occurred_at DESC, e.id DESC LIMIT {}", *args, limit + 1)
    page = [_statement_line(row, now) for row in rows[:limit]]
    more = len(rows) > limit
    return page, _cursor(rows[limit - 1]["occurred_at"], rows[limit - 1]["id"]) if more else None


def _statement_line(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """One movement for the API (datetimes and the stored breakdown go out as they are: msgspec
    writes UTC datetimes as ...Z and embeds the breakdown's JSON without decoding it)."""
    line = {
        "id": row["id"],
        "kind": row["kind"],
        "amount": row["amount"],
        "occurred_at": row["occurred_at"],
        "order_id": row["order_id"],
    }
    if row["available_at"] is not None and row["kind"] in ("earn", "referral_reward", "adjustment"):
        expires = row["expires_at"]
        if expires is not None and expires <= now:
            status = "expired"
        else:
            status = "pending" if row["available_at"] > now else "available"
        line |= {
            "status": status,
            "available_at": row["available_at"],
            "expires_at": expires,
            "breakdown": msgspec.Raw(row["breakdown"] or "{}"),
        }
    if row["note"]:
        line["note"] = row["note"]
    return line


async def history(*, brand_id: int, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every sale, movement and redemption of a customer, for their data export."""
    return {
        "sales": await db.fetch(
            "SELECT order_id, total, shipping, items, channel, occurred_at, cashback, cancelled_at "
            "FROM sales "
            "WHERE brand = {} AND customer = {} ORDER BY id",
            brand_id,
            customer_id,
        ),
        "ledger_entries": await db.fetch(
            "SELECT kind, amount, occurred_at, note FROM ledger_entries WHERE brand = {} AND customer = {} "
            "ORDER BY id",
            brand_id,
            customer_id,
        ),
        "redemptions": await db.fetch(
            "SELECT redemption_id, order_id, order_total, amount, created_at, cancelled_at FROM redemptions "
            "WHERE brand = {} AND customer = {} ORDER BY id",
            brand_id,
            customer_id,
        ),
    }


# --- time passing -------------------------------------------------------------------------------


class SweepResult(msgspec.Struct):
    expired: int = 0
    available: int = 0
    reminders: int = 0


async def sweep(*, brands: list[BrandView], now: dt.datetime) -> SweepResult:
    """Expire what is left of expired lots, announce lots that became available, remind of expiry.

    Idempotent: running it twice at the same time changes nothing the second time.
    """
    result = SweepResult()
    for brand in brands:
        expired = await Lot.select(Lot.id).where(
            (Lot.brand == brand.id)
            & (Lot.remaining > 0)
            & Lot.expires_at.is_not_null()
            & (Lot.expires_at <= now)
        )
        for lot in expired:
            result.expired += await db.write(functools.partial(_expire_lot, brand, lot["id"], now))
        result.available += await db.write(functools.partial(_announce_available, brand, now))
        result.reminders += await db.write(functools.partial(_remind_expiring, brand, now))
    return result


async def _expire_lot(brand: BrandView, lot_id: int, now: dt.datetime) -> int:
    lot = await Lot.select(Lot.customer, Lot.remaining, Lot.expires_at).where(Lot.id == lot_id).first()
    await _lock(lot["customer"])
    lot = await Lot.select(Lot.customer, Lot.remaining, Lot.expires_at).where(Lot.id == lot_id).first()
    if lot["remaining"] <= 0:
        return 0
    await _entry(
        brand_id=brand.id,
        customer_id=lot["customer"],
        kind="expire",
        amount=-lot["remaining"],
        at=lot["expires_at"],
        now=now,
        allocations=[(lot_id, -lot["remaining"])],
        lot=lot_id,
    )
    return 1


async def _announce_available(brand: BrandView, now: dt.datetime) -> int:
    """Lots that became usable, claimed by one UPDATE ... RETURNING: two sweeps at once (two
    workers) announce each lot once; the event's dedupe key says so again."""
    ready = await db.fetch(
        "UPDATE ledger_lots SET announced = {} WHERE brand = {} AND announced = {} AND available_at <= {} "
        "AND remaining > 0 AND (expires_at IS NULL OR expires_at > {}) "
        "RETURNING id, customer, remaining, expires_at",
        True,
        brand.id,
        False,
        now,
        now,
    )
    for lot in sorted(ready, key=lambda lot: lot["id"]):
        await outbox.emit(
            brand_id=brand.id,
            kind="cashback.available",
            now=now,
            dedupe_key=f"available:{lot['id']}",
            payload={
                "customer_id": lot["customer"],
                "lot_id": lot["id"],
                "amount": lot["remaining"],
                "expires_at": _iso(lot["expires_at"]),
            },
        )
    return len(ready)


async def _remind_expiring(brand: BrandView, now: dt.datetime) -> int:
    days = sorted(brand.rules().notifications.expiry_reminder_days)
    if not days:
        return 0
    soon = await Lot.select(Lot.id, Lot.customer, Lot.remaining, Lot.expires_at).where(
        (Lot.brand == brand.id)
        & (Lot.remaining > 0)
        & (Lot.available_at <= now)
        & (Lot.expires_at > now)
        & (Lot.expires_at <= now + dt.timedelta(days=days[-1]))
    )
    sent = 0
    for lot in soon:
        # Only the nearest reminder: a lot first seen a day before expiry gets the 1-day notice only.
        day = next(d for d in days if lot["expires_at"] <= now + dt.timedelta(days=d))
        sent += await outbox.emit(
            brand_id=brand.id,
            kind="cashback.expiring",
            now=now,
            dedupe_key=f"expiring:{lot['id']}:{day}",
            payload={
                "customer_id": lot["customer"],
                "lot_id": lot["id"],
                "amount": lot["remaining"],
                "expires_at": _iso(lot["expires_at"]),
                "days": day,
            },
        )
    return sent
