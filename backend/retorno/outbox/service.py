"""Writing domain events: call `emit` inside the transaction that makes the change."""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

import msgspec

from retorno import db
from retorno.outbox.tables import OutboxEvent

# Hand-written: every movement emits, and with a dedupe key the point is one atomic statement
# (the unique index decides between two processes emitting at once).
_EMIT_ONCE = (
    "INSERT INTO outbox_events (brand, kind, payload, dedupe_key, created_at, run_after) "
    "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (dedupe_key, brand) DO NOTHING RETURNING id"
)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox event as `events` reads it back: its kind, its dedupe key, its decoded payload."""

    kind: str
    dedupe_key: str | None
    payload: dict[str, Any]


async def emit(
    *, brand_id: int, kind: str, payload: dict[str, Any], now: dt.datetime, dedupe_key: str | None = None
) -> bool:
    """Record an event; with a dedupe key, a second event of the same key is not written (the
    database's unique index decides, so two processes emitting at once write one)."""
    if dedupe_key is not None:
        written = await db.fetch(
            _EMIT_ONCE,
            brand_id,
            kind,
            msgspec.json.encode(payload).decode(),
            dedupe_key,
            now,
            now,
        )
        return bool(written)
    await db.insert(
        OutboxEvent,
        brand=brand_id,
        kind=kind,
        payload=msgspec.json.encode(payload).decode(),
        dedupe_key=dedupe_key,
        created_at=now,
        run_after=now,
    )
    return True


async def events(brand_id: int, kind: str | None = None) -> list[Event]:
    """Events of a brand, oldest first, payloads decoded (for the worker and for tests)."""
    query = OutboxEvent.select(OutboxEvent.kind, OutboxEvent.payload, OutboxEvent.dedupe_key).where(
        OutboxEvent.brand == brand_id
    )
    if kind is not None:
        query = query.where(OutboxEvent.kind == kind)
    rows = await query.order_by(OutboxEvent.id)
    return [
        Event(kind=r["kind"], dedupe_key=r["dedupe_key"], payload=msgspec.json.decode(r["payload"]))
        for r in rows
    ]


REMEMBER_KEYS = dt.timedelta(days=400)  # longer than the longest reminder (365 days ahead)


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """Events done `keep` ago, by push and by webhooks (once their push deliveries are gone; a
    webhook delivery keeps the body it sent); an event with a dedupe key stays at
    least REMEMBER_KEYS, so a reminder is never sent twice. Campaigns stay: they are the history
    the campaigns page shows, one row each."""
    plain = now - keep
    keyed = now - max(keep, REMEMBER_KEYS)
    return await db.purge(
        "outbox_events",
        "done_at IS NOT NULL AND webhooks_done_at IS NOT NULL AND kind <> 'campaign' "
        "AND ((dedupe_key IS NULL AND done_at < {}) OR done_at < {}) "
        "AND NOT EXISTS (SELECT 1 FROM push_deliveries d WHERE d.event = outbox_events.id)",
        plain,
        keyed,
    )


# --- the workers' heartbeats (`/readyz`) ---------------------------------------------------------

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
_BEAT = (
    "INSERT INTO worker_heartbeats (name, beat_at) VALUES ({}, {}) "
    "ON CONFLICT (name) DO UPDATE SET beat_at = excluded.beat_at"
)


async def heartbeat(now: dt.datetime, name: str = WORKER_NAME) -> None:
    """This worker finished a pass at `now`."""
    await db.write(lambda: db.fetch(_BEAT, name, now))


async def last_heartbeat() -> dt.datetime | None:
    """When any worker last finished a pass (None: none ever has)."""
    rows = await db.fetch("SELECT beat_at FROM worker_heartbeats ORDER BY beat_at DESC LIMIT 1")
    return rows[0]["beat_at"] if rows else None


# --- the backlog (`/metrics`) --------------------------------------------------------------------

_BACKLOG = (
    "SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox_events "
    "WHERE done_at IS NULL OR webhooks_done_at IS NULL"
)


async def backlog(now: dt.datetime) -> tuple[int, float]:
    """(events not yet fanned out by push or by webhooks, the oldest one's age in seconds)."""
    row = (await db.fetch(_BACKLOG))[0]
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite gives an aggregate's timestamp back as text
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return int(row["depth"]), max(0.0, age)
