"""Time passing: lots that expire, lots that become usable (matured and announced), reminders."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.ledger import posting
from retorno.ledger.balances import iso
from retorno.ledger.tables import Lot
from retorno.outbox import service as outbox


class SweepResult(msgspec.Struct):
    expired: int = 0
    matured: int = 0
    available: int = 0
    reminders: int = 0


async def sweep(
    *, brands: list[BrandView], now: dt.datetime, reminder_days: dict[int, list[int]] | None = None
) -> SweepResult:
    """Expire what is left of expired lots, announce lots that became available, remind of expiry
    (at the days a brand set for it in `reminder_days`, else its pack's).

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
        result.matured += await _mature(brand, now)
        result.available += await db.write(functools.partial(_announce_available, brand, now))
        days = (reminder_days or {}).get(brand.id, brand.rules().notifications.expiry_reminder_days)
        result.reminders += await db.write(functools.partial(_remind_expiring, brand, now, days))
    return result


async def _expire_lot(brand: BrandView, lot_id: int, now: dt.datetime) -> int:
    lot = await Lot.select(Lot.customer).where(Lot.id == lot_id).first()
    if lot is None:
        return 0
    await customers.lock(lot["customer"])
    left = await Lot.select(Lot.remaining, Lot.expires_at, Lot.unit).where(Lot.id == lot_id).first()  # locked
    expired = await posting.expire_lot(brand_id=brand.id, lot_id=lot_id, now=now)
    if expired and left is not None and left["unit"] == posting.MONEY:  # points expire quietly
        await outbox.emit(
            brand_id=brand.id,
            kind="cashback.expired",
            now=now,
            dedupe_key=f"expired:{lot_id}",
            payload={
                "customer_id": lot["customer"],
                "lot_id": lot_id,
                "amount": left["remaining"],
                "expired_at": iso(left["expires_at"]),
            },
        )
    return expired


async def _mature(brand: BrandView, now: dt.datetime) -> int:
    """Lots that became usable move to their shopper's available account, a customer at a time
    under their lock (as every other movement of their money)."""
    due = await db.fetch(
        "SELECT DISTINCT customer FROM ledger_lots WHERE brand = {} AND matured = {} AND available_at <= {}",
        brand.id,
        False,
        now,
    )
    matured = 0
    for row in due:

        async def work(customer_id: int = row["customer"]) -> int:
            await customers.lock(customer_id)
            return await posting.mature(customer_id, now)

        matured += await db.write(work)
    return matured


async def _announce_available(brand: BrandView, now: dt.datetime) -> int:
    """Lots that became usable, claimed by one UPDATE ... RETURNING: two sweeps at once (two
    workers) announce each lot once; the event's dedupe key says so again."""
    ready = await db.fetch(
        "UPDATE ledger_lots SET announced = {} WHERE brand = {} AND announced = {} AND available_at <= {} "
        "AND unit = 'brl' AND remaining > 0 AND (expires_at IS NULL OR expires_at > {}) "
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
            payload=_lot_payload(lot),
        )
    return len(ready)


def _lot_payload(lot: dict[str, Any]) -> dict[str, Any]:
    """What a notice about one credit says: whose, which, how much is left and until when."""
    return {
        "customer_id": lot["customer"],
        "lot_id": lot["id"],
        "amount": lot["remaining"],
        "expires_at": iso(lot["expires_at"]),
    }


async def _remind_expiring(brand: BrandView, now: dt.datetime, reminder_days: list[int]) -> int:
    days = sorted(reminder_days)
    if not days:
        return 0
    soon = await Lot.select(Lot.id, Lot.customer, Lot.remaining, Lot.expires_at).where(
        (Lot.brand == brand.id)
        & (Lot.unit == posting.MONEY)
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
            payload={**_lot_payload(lot), "days": day},
        )
    return sent
