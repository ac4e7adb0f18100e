"""docs/scaling.md lists every table with whether it could be distributed by brand (Citus) as it
stands: this test computes the same from the tables themselves and holds the document to it, so a
new table or a new unique constraint without `brand` shows up here first."""

from __future__ import annotations

import re
from pathlib import Path

from retorno import db

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
# Tables every brand shares (a Citus reference table, copied to every node): no brand of their own.
REFERENCE = {"migration", "brands", "staff", "push_services", "rate_limits", "worker_heartbeats"}


def status_of(table) -> str:
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
    if global_uniques:
        return "unique without brand: " + ", ".join(global_uniques)
    return "by brand"


def computed() -> dict[str, str]:
    return {t._meta.tablename: status_of(t) for t in db.table_classes()}


def documented() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|$", DOC.read_text(), re.M)
    return {name: status.strip() for name, status in rows}


def test_the_scaling_document_lists_every_table_as_it_stands():
    assert documented() == computed()
