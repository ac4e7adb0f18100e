"""The audit log: `record` in the same transaction as the change it describes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from retorno import db
from retorno.audit.tables import AuditEvent


async def record(
    *,
    brand_id: int | None,
    staff_id: int,
    action: str,
    now: dt.datetime,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> None:
    """In the caller's transaction; on every admin write, hence `db.insert` (a prepared INSERT,
    no query building)."""
    await db.insert(
        AuditEvent,
        brand=brand_id,
        staff=staff_id,
        action=action,
        target=target[:200],
        before=msgspec.json.encode(before).decode(),
        after=msgspec.json.encode(after).decode(),
        at=now,
    )


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the log, `before` and `after` decoded from their JSON."""

    id: int
    action: str
    target: str
    before: Any
    after: Any
    at: dt.datetime
    staff: str  # the staff member's e-mail


class LatestEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A staff member's newest event among some actions (what the counter's undo reads)."""

    id: int
    action: str
    target: str
    after: Any  # decoded from its JSON
    at: dt.datetime


async def events(
    *, brand_id: int, limit: int = 100, before: int | None = None, action: str = ""
) -> list[AuditEntry]:
    """The newest events first; `before` an event id (the next page), `action` a prefix
    ("counter." for everything done at the counter)."""
    if before is not None and not 0 < before < 2**31:  # ids are 32-bit serials
        before = None
    prefix = "".join(ch for ch in action if ch.isalpha() or ch == ".")  # a plain prefix
    where = (AuditEvent.brand == brand_id) & AuditEvent.action.like(prefix + "%")
    if before is not None:
        where &= AuditEvent.id < before
    rows = await (
        AuditEvent.select(
            AuditEvent.id,
            AuditEvent.action,
            AuditEvent.target,
            AuditEvent.before,
            AuditEvent.after,
            AuditEvent.at,
            AuditEvent.staff.email.as_alias("staff"),
        )
        .where(where)
        .order_by(AuditEvent.id, ascending=False)
        .limit(limit)
    )
    return [
        AuditEntry(
            id=row["id"],
            action=row["action"],
            target=row["target"],
            before=msgspec.json.decode(row["before"]),
            after=msgspec.json.decode(row["after"]),
            at=row["at"],
            staff=row["staff"],
        )
        for row in rows
    ]


async def latest_of(*, brand_id: int, staff_id: int, actions: tuple[str, ...]) -> LatestEntry | None:
    """This staff member's newest event at this brand among `actions`."""
    row = await (
        AuditEvent.select(
            AuditEvent.id, AuditEvent.action, AuditEvent.target, AuditEvent.after, AuditEvent.at
        )
        .where(
            (AuditEvent.brand == brand_id)
            & (AuditEvent.staff == staff_id)
            & AuditEvent.action.is_in(list(actions))
        )
        .order_by(AuditEvent.id, ascending=False)
        .first()
    )
    if row is None:
        return None
    return LatestEntry(
        id=row["id"],
        action=row["action"],
        target=row["target"],
        after=msgspec.json.decode(row["after"]),
        at=row["at"],
    )
