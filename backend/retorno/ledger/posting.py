"""Posting: the only writer of entries, lots, allocations and the double-entry postings.

Every movement of a shopper's cashback is an `Entry` (their statement line) and a set of
`Posting`s that add up to zero, between the shopper's accounts and one of the brand's:

    a sale's cashback       issued        -> the shopper's pending
    an invitation reward    referral      -> pending
    a staff adjustment      adjustments  <-> available
    a lot that matures      pending       -> available      (dated its available_at)
    a redemption            available     -> redeemed        (its cancellation: back)
    a reversal (refund)     pending or available -> reversed
    an expiry (breakage)    available     -> expired
    a write-off             issued        -> written_off     (brand accounts only: the shopper
                                                              keeps cashback already spent)
    points into cashback    converted     -> available       (money: the brand's cost of a
                                                              catalogue conversion)

Points are the same ledger in another unit (`unit` = "pts" on lots, entries and postings; "brl"
is centavos): earned, matured, reversed, expired and adjusted by the same functions, and spent on
the rewards catalogue (`reward`: available -> redeemed; undone by `reward_cancel`). An account is
a unit and a name, so money and points never meet in one; each unit's postings sum to zero.

So for every brand the postings sum to zero, and for every shopper
    pending   == what remains of their lots not yet matured,
    available == what remains of their matured lots, less their debt.
A lot's allocation posts to the account the lot is in; a lot that became usable is matured (its
remainder moved to available) before anything takes from it, and by the sweep.

Callers hold the write transaction and the customers' locks (see `retorno.customers.lock`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.ledger.tables import Allocation, Entry, Lot

PENDING, AVAILABLE = "pending", "available"
SHOPPER_ACCOUNTS = (PENDING, AVAILABLE)
ISSUED, REFERRAL, ADJUSTMENTS = "issued", "referral", "adjustments"
REDEEMED, REVERSED, EXPIRED, WRITTEN_OFF = "redeemed", "reversed", "expired", "written_off"
CONVERTED = "converted"
BRAND_ACCOUNTS = (ISSUED, REFERRAL, ADJUSTMENTS, REDEEMED, REVERSED, EXPIRED, WRITTEN_OFF, CONVERTED)
MONEY, POINTS = "brl", "pts"
# The brand's side of each kind of entry.
COUNTER_ACCOUNT = {
    "earn": ISSUED,
    "referral_reward": REFERRAL,
    "adjustment": ADJUSTMENTS,
    "redeem": REDEEMED,
    "redemption_cancel": REDEEMED,
    "reverse": REVERSED,
    "expire": EXPIRED,
    "conversion": CONVERTED,
    "reward": REDEEMED,
    "reward_cancel": REDEEMED,
}
ENTRY_KINDS = (
    "earn",
    "redeem",
    "redemption_cancel",
    "reverse",
    "expire",
    "adjustment",
    "referral_reward",
    "conversion",
)
POINTS_KINDS = ("earn", "reward", "reward_cancel", "reverse", "expire", "adjustment")
CREDIT_KINDS = ("earn", "referral_reward", "adjustment", "conversion")  # a positive one creates its lot


class Credit(msgspec.Struct, frozen=True, kw_only=True):
    lot_id: int
    amount: int
    available_at: dt.datetime
    expires_at: dt.datetime | None


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


# --- debt (negative_balance policy) -------------------------------------------------------------


async def debt(customer_id: int) -> int:
    rows = await db.fetch("SELECT debt FROM ledger_accounts WHERE customer = {}", customer_id)
    return rows[0]["debt"] if rows else 0


async def _add_debt(brand_id: int, customer_id: int, delta: int) -> None:
    """One statement, so no concurrent write of the same debt is ever lost."""
    await db.fetch(
        "INSERT INTO ledger_accounts (brand, customer, debt) VALUES ({}, {}, {}) "
        "ON CONFLICT (customer, brand) DO UPDATE SET debt = ledger_accounts.debt + excluded.debt",
        brand_id,
        customer_id,
        delta,
    )


# --- postings -----------------------------------------------------------------------------------

_POSTING_COLUMNS = (
    '"brand", "account", "unit", "customer", "amount", "occurred_at", "entry", "lot", "refund", "created_at"'
)


async def _post(
    brand_id: int,
    sides: list[tuple[str, int | None, int]],
    *,
    at: dt.datetime,
    now: dt.datetime,
    entry: int | None = None,
    lot: int | None = None,
    refund: int | None = None,
    unit: str = MONEY,
) -> None:
    """Write one balanced movement [(account, customer or None, signed amount)] of one unit in
    one INSERT."""
    sides = [side for side in sides if side[2]]
    if sum(side[2] for side in sides) != 0:
        raise RuntimeError(f"unbalanced postings {sides}")
    if not sides:
        return
    marks = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, {}, {})" for _ in sides)
    args: list[Any] = []
    for account, customer, amount in sides:
        args += [brand_id, account, unit, customer, amount, at, entry, lot, refund, now]
    await db.fetch(f"INSERT INTO ledger_postings ({_POSTING_COLUMNS}) VALUES {marks}", *args)  # noqa: S608


_MATURE = (
    "UPDATE ledger_lots SET matured = {} WHERE customer = {} AND matured = {} AND available_at <= {} "
    "RETURNING id, brand, unit, remaining, available_at"
)


async def mature(customer_id: int, now: dt.datetime) -> int:
    """Move what remains of this customer's lots that became usable from pending to available,
    each dated its available_at; how many lots matured. Claimed by one UPDATE, so it happens once."""
    lots = await db.fetch(_MATURE, True, customer_id, False, now)
    for lot in sorted(lots, key=lambda lot: lot["id"]):
        await _post(
            lot["brand"],
            [(PENDING, customer_id, -lot["remaining"]), (AVAILABLE, customer_id, lot["remaining"])],
            at=lot["available_at"],
            now=now,
            lot=lot["id"],
            unit=lot["unit"],
        )
    return len(lots)


# --- entries ------------------------------------------------------------------------------------

_MOVE_LOT = (
    "UPDATE ledger_lots SET remaining = remaining + {} WHERE id = {} AND remaining >= {} RETURNING matured"
)


async def entry(
    *,
    brand_id: int,
    customer_id: int,
    kind: str,
    amount: int,
    at: dt.datetime,
    now: dt.datetime,
    allocations: list[tuple[int, int]] | tuple[()] = (),
    credited: int = 0,
    unit: str = MONEY,
    **links: Any,
) -> int:
    """Append an entry, apply its allocations [(lot id, signed amount)] to the lots, and post it:
    `credited` centavos of a new lot to pending, each allocation to its lot's account, the rest
    (a debt carried or paid down) to available, and the opposite to the brand's account."""
    if allocations:
        await mature(customer_id, now)
    entry_id = await db.insert(
        Entry,
        brand=brand_id,
        customer=customer_id,
        kind=kind,
        unit=unit,
        amount=amount,
        occurred_at=at,
        created_at=now,
        **{k: v for k, v in links.items() if v is not None},
    )
    shopper = defaultdict(int, {PENDING: credited})
    for lot_id, delta in allocations:
        await db.insert(Allocation, brand=brand_id, entry=entry_id, lot=lot_id, amount=delta)
        # Guarded so a bug can never take a lot below zero: the update then changes no row.
        changed = await db.fetch(_MOVE_LOT, delta, lot_id, -delta)
        if not changed:
            raise RuntimeError(f"lot {lot_id} would go below zero")
        shopper[AVAILABLE if changed[0]["matured"] else PENDING] += delta
    shopper[AVAILABLE] += amount - sum(shopper.values())
    await _post(
        brand_id,
        [(account, customer_id, value) for account, value in shopper.items()]
        + [(COUNTER_ACCOUNT[kind], None, -amount)],
        at=at,
        now=now,
        entry=entry_id,
        unit=unit,
    )
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
    unit: str = MONEY,
) -> Credit:
    """A new lot (pending for the return window unless `pending` is False, then valid for
    expiry_days) and its entry; what it can, it first pays of a debt (money only: points carry
    none)."""
    rules = brand.rules()
    cashback = rules.cashback if unit == MONEY else rules.points_earning()
    available_at = utc(at) + dt.timedelta(days=cashback.pending_days if pending else 0)
    expires_at = available_at + dt.timedelta(days=cashback.expiry_days) if cashback.expiry_days else None
    lot_id = await db.insert(
        Lot,
        brand=brand.id,
        customer=customer_id,
        sale=sale_id,
        source=source,
        unit=unit,
        amount=amount,
        remaining=amount,
        available_at=available_at,
        expires_at=expires_at,
        breakdown=msgspec.json.encode(breakdown).decode(),
        announced=False,
        matured=False,
        created_at=now,
    )
    paid = min(await debt(customer_id), amount) if unit == MONEY else 0
    await entry(
        brand_id=brand.id,
        customer_id=customer_id,
        kind=kind,
        amount=amount,
        at=utc(at),
        now=now,
        allocations=[(lot_id, -paid)] if paid else [],
        credited=amount,
        unit=unit,
        lot=lot_id,
        sale=sale_id,
        note=note,
    )
    if paid:  # later earnings pay down a negative balance
        await _add_debt(brand.id, customer_id, -paid)
    if available_at <= now:
        await mature(customer_id, now)
    return Credit(lot_id=lot_id, amount=amount, available_at=available_at, expires_at=expires_at)


async def reverse_lot(*, brand_id: int, customer_id: int, lot_id: int, note: str, now: dt.datetime) -> int:
    """Take back what is left of one credit (e.g. an invitation reward whose purchase was returned)."""
    rows = await db.fetch("SELECT remaining, unit FROM ledger_lots WHERE id = {}", lot_id)
    remaining = rows[0]["remaining"] if rows else 0
    if remaining > 0:
        await entry(
            unit=rows[0]["unit"],
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


async def reverse(
    *,
    brand_id: int,
    customer_id: int,
    lot_id: int | None,
    from_lot: int,
    carried: int,
    now: dt.datetime,
    sale_id: int,
    refund_row: int,
) -> None:
    """Take back a sale's cashback: `from_lot` from its lot, `carried` as a debt (what was spent)."""
    await entry(
        brand_id=brand_id,
        customer_id=customer_id,
        kind="reverse",
        amount=-(from_lot + carried),
        at=now,
        now=now,
        allocations=[(lot_id, -from_lot)] if from_lot and lot_id else [],
        sale=sale_id,
        refund=refund_row,
        lot=lot_id,
    )
    if carried:
        await _add_debt(brand_id, customer_id, carried)


async def write_off(
    *, brand_id: int, amount: int, refund_row: int, now: dt.datetime, unit: str = MONEY
) -> None:
    """Cashback (or points) already spent that a refund would take back, which the brand does not
    reclaim: the cost moves from issued to written off; what the brand owes does not change."""
    await _post(
        brand_id,
        [(ISSUED, None, amount), (WRITTEN_OFF, None, -amount)],
        at=now,
        now=now,
        refund=refund_row,
        unit=unit,
    )


def _spendable(customer_id: int, now: dt.datetime, unit: str = MONEY) -> Any:
    return (
        (Lot.customer == customer_id)
        & (Lot.unit == unit)
        & (Lot.remaining > 0)
        & (Lot.available_at <= now)
        & (Lot.expires_at.is_null() | (Lot.expires_at > now))
    )


async def take(
    brand_id: int, customer_id: int, amount: int, now: dt.datetime, unit: str = MONEY
) -> tuple[list[tuple[int, int]], int]:
    """Allocations that take `amount` from the spendable lots, what expires first first (a lot that
    never expires last); and what could not be taken."""
    lots = await (
        Lot.select(Lot.id, Lot.remaining, Lot.expires_at)
        .where(_spendable(customer_id, now, unit) & (Lot.brand == brand_id))
        .order_by(Lot.available_at)
        .order_by(Lot.id)
    )
    lots.sort(key=lambda lot: (lot["expires_at"] is None, lot["expires_at"] or now))
    allocations, left = [], amount
    for lot in lots:
        portion = min(left, lot["remaining"])
        if portion:
            allocations.append((lot["id"], -portion))
            left -= portion
        if not left:
            break
    return allocations, left


async def give_back(
    *, brand_id: int, customer_id: int, taken_by: int, kind: str, amount: int, now: dt.datetime, **links: Any
) -> int:
    """The same amounts back to the same lots an entry took them from (so they keep their expiry)."""
    moves = await Allocation.select(Allocation.lot, Allocation.amount).where(Allocation.entry == taken_by)
    taken = await Entry.select(Entry.unit).where(Entry.id == taken_by).first()
    return await entry(
        unit=taken["unit"] if taken else MONEY,
        brand_id=brand_id,
        customer_id=customer_id,
        kind=kind,
        amount=amount,
        at=now,
        now=now,
        allocations=[(m["lot"], -m["amount"]) for m in moves],
        **links,
    )


async def expire_lot(*, brand_id: int, lot_id: int, now: dt.datetime) -> int:
    """What is left of an expired lot goes to the brand's breakage, dated the expiry; 1 if it did."""
    lot = (
        await Lot.select(Lot.customer, Lot.remaining, Lot.expires_at, Lot.unit)
        .where(Lot.id == lot_id)
        .first()
    )
    if lot is None or lot["remaining"] <= 0:
        return 0
    await entry(
        unit=lot["unit"],
        brand_id=brand_id,
        customer_id=lot["customer"],
        kind="expire",
        amount=-lot["remaining"],
        at=lot["expires_at"],
        now=now,
        allocations=[(lot_id, -lot["remaining"])],
        lot=lot_id,
    )
    return 1
