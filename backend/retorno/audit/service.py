"""The audit log: `record` in the same transaction as the change it describes."""

from __future__ import annotations

import datetime as dt
import difflib
import re
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


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One thing an event changed: a field from `before` to `after` (None: it had no value), or,
    for a text (a brand's rules as TOML), a line taken away (`before`) or added (`after`)."""

    field: str
    before: Any = None
    after: Any = None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the log, `before` and `after` decoded from their JSON, and what changed."""

    id: int
    action: str
    target: str
    before: Any
    after: Any
    at: dt.datetime
    staff: str  # the staff member's e-mail
    changes: list[Change] = []


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_SKIPPED = {("logo", "kept")}  # the branding form's "logo not replaced" is no change


def _skipped(field: str, value: Any) -> bool:
    """A change that is none (compared by equality: a value may be a list, which cannot be hashed)."""
    return any(field == f and value == v for f, v in _SKIPPED)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and _COLOUR.fullmatch(a) and _COLOUR.fullmatch(b):
        return a.lower() == b.lower()  # a colour input sends #8e2453 for #8E2453
    return a == b or (a in (None, "") and b in (None, ""))


def changes_of(before: Any, after: Any) -> list[Change]:
    """What an event changed, field by field (dicts), line by line (texts), or as a whole."""
    if isinstance(before, str) and isinstance(after, str) and "\n" in before + after:
        lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        return [
            Change(field="line", before=line[1:]) if line[0] == "-" else Change(field="line", after=line[1:])
            for line in lines
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
    if isinstance(before, dict) != isinstance(after, dict):  # a pack's TOML before, its outcome after
        before, after = (before, None) if isinstance(before, dict) else (None, after)
    if isinstance(before, dict | None) and isinstance(after, dict | None) and (before or after):
        old, new = before or {}, after or {}
        fields = list(new) + [k for k in old if k not in new]
        return [
            Change(field=k, before=old.get(k), after=new.get(k))
            for k in fields
            if not _same(old.get(k), new.get(k)) and not _skipped(k, new.get(k))
        ]
    if _same(before, after):
        return []
    return [Change(field="", before=before, after=after)]


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
    entries = []
    for row in rows:
        before, after = msgspec.json.decode(row["before"]), msgspec.json.decode(row["after"])
        entries.append(
            AuditEntry(
                id=row["id"],
                action=row["action"],
                target=row["target"],
                before=before,
                after=after,
                at=row["at"],
                staff=row["staff"],
                changes=changes_of(before, after),
            )
        )
    return entries


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
