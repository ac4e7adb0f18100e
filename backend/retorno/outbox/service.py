"""Writing domain events: call `emit` inside the transaction that makes the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from retorno import db
from retorno.outbox.tables import OutboxEvent

KINDS = (
    "cashback.credited",
    "cashback.available",
    "cashback.expiring",
    "cashback.redeemed",
    "cashback.reversed",
)


async def emit(
    *, brand_id: int, kind: str, payload: dict[str, Any], now: dt.datetime, dedupe_key: str | None = None
) -> bool:
    """Record an event; with a dedupe key, a second event of the same key is not written."""
    if dedupe_key is not None and await db.fetch(
        "SELECT id FROM outbox_events WHERE dedupe_key = {}", dedupe_key
    ):
        return False
    await db.insert(
        OutboxEvent,
        brand=brand_id,
        kind=kind,
        payload=msgspec.json.encode(payload).decode(),
        dedupe_key=dedupe_key,
        created_at=now,
        run_after=now,
        attempts=0,
    )
    return True


async def events(brand_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    """Events of a brand, oldest first, payloads decoded (for the worker and for tests)."""
    query = OutboxEvent.select(OutboxEvent.kind, OutboxEvent.payload, OutboxEvent.dedupe_key).where(
        OutboxEvent.brand == brand_id
    )
    if kind is not None:
        query = query.where(OutboxEvent.kind == kind)
    rows = await query.order_by(OutboxEvent.id)
    return [
        {"kind": r["kind"], "dedupe_key": r["dedupe_key"], **msgspec.json.decode(r["payload"])} for r in rows
    ]
