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


_EVENTS = (
    "SELECT a.id, a.action, a.target, a.before, a.after, a.at, s.email AS staff FROM audit_events a "
    "JOIN staff s ON s.id = a.staff WHERE a.brand = {} AND a.action LIKE {} "
)
_PAGE = _EVENTS + "ORDER BY a.id DESC LIMIT {}"
_PAGE_BEFORE = _EVENTS + "AND a.id < {} ORDER BY a.id DESC LIMIT {}"


async def events(
    *, brand_id: int, limit: int = 100, before: int | None = None, action: str = ""
) -> list[dict[str, Any]]:
    """The newest events first; `before` an event id (the next page), `action` a prefix
    ("counter." for everything done at the counter)."""
    if before is not None and not 0 < before < 2**31:  # ids are 32-bit serials
        before = None
    rows = await db.fetch(
        _PAGE_BEFORE if before is not None else _PAGE,
        brand_id,
        "".join(ch for ch in action if ch.isalpha() or ch == ".") + "%",  # a plain prefix
        *([before] if before is not None else []),
        limit,
    )
    for row in rows:
        row["before"], row["after"] = msgspec.json.decode(row["before"]), msgspec.json.decode(row["after"])
    return rows


async def latest_of(*, brand_id: int, staff_id: int, actions: tuple[str, ...]) -> dict[str, Any] | None:
    """This staff member's newest event at this brand among `actions`."""
    marks = ", ".join("{}" for _ in actions)
    rows = await db.fetch(
        "SELECT id, action, target, after, at FROM audit_events WHERE brand = {} AND staff = {} "  # noqa: S608
        f"AND action IN ({marks}) ORDER BY id DESC LIMIT 1",
        brand_id,
        staff_id,
        *actions,
    )
    return rows[0] if rows else None
