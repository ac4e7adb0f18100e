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


async def events(*, brand_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT a.id, a.action, a.target, a.before, a.after, a.at, s.email AS staff FROM audit_events a "
        "JOIN staff s ON s.id = a.staff WHERE a.brand = {} ORDER BY a.id DESC LIMIT {}",
        brand_id,
        limit,
    )
    for row in rows:
        row["before"], row["after"] = msgspec.json.decode(row["before"]), msgspec.json.decode(row["after"])
    return rows
