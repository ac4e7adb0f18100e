"""docs/scaling.md lists every table with whether it could be distributed by brand (Citus) as it
stands: this test computes the same from the tables themselves and holds the document to it, so a
new table or a new unique constraint without `brand` shows up here first."""

from __future__ import annotations

import re
from pathlib import Path

from retorno import db

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
MIGRATIONS = Path(__file__).resolve().parents[1] / "backend" / "retorno"
# Tables every brand shares (a Citus reference table, copied to every node): no brand of their own.
REFERENCE = {"migration", "brands", "staff", "push_services", "rate_limits", "worker_heartbeats"}


_CREATE_UNIQUE = re.compile(r"CREATE UNIQUE INDEX IF NOT EXISTS (\w+) ON (\w+) \(([^)]*)\)")
_DROP_INDEX = re.compile(r'DROP INDEX IF EXISTS "?(\w+)"?')


def raw_uniques() -> dict[str, list[list[str]]]:
    """The unique indexes migrations write as SQL (partial ones, which Piccolo cannot declare) and
    no later migration drops: table -> the columns of each."""
    found: dict[str, tuple[str, list[str]]] = {}
    files = sorted(MIGRATIONS.glob("*/piccolo_migrations/*.py"), key=lambda p: p.name.split("_", 1)[1])
    for path in files:
        text = re.sub(r'"\s*\n\s*"', "", path.read_text())  # adjacent literals: one statement
        for name in _DROP_INDEX.findall(text):
            found.pop(name, None)
        for name, table, columns in _CREATE_UNIQUE.findall(text):
            found[name] = (table, [c.strip() for c in columns.split(",")])
    by_table: dict[str, list[list[str]]] = {}
    for table, columns in found.values():
        by_table.setdefault(table, []).append(columns)
    return by_table


def status_of(table, raw: dict[str, list[list[str]]]) -> str:
    name = table._meta.tablename
    columns = {c._meta.name for c in table._meta.columns}
    if name in REFERENCE:
        return "reference"
    if "brand" not in columns:
        return "needs brand"
    global_uniques = sorted(
        c._meta.name for c in table._meta.columns if c._meta.unique and c._meta.name != "brand"
    )
    for constraint in getattr(table._meta, "constraints", []) or []:
        names = [getattr(col, "_meta", col).name for col in getattr(constraint, "columns", [])]
        if "brand" not in names:
            global_uniques.append("(" + ", ".join(names) + ")")
    for names in raw.get(name, []):
        if "brand" not in names:
            global_uniques.append("(" + ", ".join(names) + ")")
    if global_uniques:
        return "unique without brand: " + ", ".join(global_uniques)
    return "by brand"


def computed() -> dict[str, str]:
    raw = raw_uniques()
    return {t._meta.tablename: status_of(t, raw) for t in db.table_classes()}


def documented() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|$", DOC.read_text(), re.M)
    return {name: status.strip() for name, status in rows}


def test_the_scaling_document_lists_every_table_as_it_stands():
    assert documented() == computed()
