"""The postings of the movements recorded before double entry, from their entries, lots and
allocations, by the rule `retorno.ledger.posting` follows for new ones:

- an entry that credits a lot puts its amount in the shopper's pending account;
- each allocation goes to the account its lot was in when the entry was made (pending before
  the lot's available_at, available from then on);
- what an entry moves beyond its lots (a debt carried or paid down) goes to available;
- the brand's account of the entry's kind takes the opposite;
- a lot whose available_at has passed is matured: what was left of it then moves to available,
  dated its available_at;
- a refund's written-off cashback moves from issued to written_off.

Self-contained (it must keep working whatever the code becomes), and run in the migration's
transaction; `backfill` is also what tests/test_double_entry.py runs on data written before.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.querystring import QueryString

ID = "2026-12-01T14:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "double entry: postings for the movements already recorded; lots that have matured"

COUNTER = {
    "earn": "issued",
    "referral_reward": "referral",
    "adjustment": "adjustments",
    "redeem": "redeemed",
    "redemption_cancel": "redeemed",
    "reverse": "reversed",
    "expire": "expired",
}
CREDITS = ("earn", "referral_reward", "adjustment")
BATCH = 500


async def backfill(engine, now: dt.datetime) -> int:
    """Write the postings of every movement that has none; how many were written."""

    async def run(sql: str, *args):
        rows = await engine.run_querystring(QueryString(sql, *args))
        return [dict(r) for r in rows or []]

    posted = {r["entry"] for r in await run("SELECT DISTINCT entry FROM ledger_postings WHERE entry IS NOT NULL")}
    lots = {r["id"]: r for r in await run("SELECT id, brand, customer, amount, available_at, matured FROM ledger_lots")}
    moves = defaultdict(list)
    for r in await run("SELECT entry, lot, amount FROM ledger_allocations ORDER BY id"):
        moves[r["entry"]].append(r)
    rows: list[tuple] = []
    before_maturity: dict[int, int] = defaultdict(int)  # lot -> what moved it while pending
    entries = await run(
        "SELECT id, brand, customer, kind, amount, lot, occurred_at, created_at FROM ledger_entries ORDER BY id"
    )
    for e in entries:
        shopper = {"pending": 0, "available": 0}
        if e["kind"] in CREDITS and e["amount"] > 0 and e["lot"] is not None:
            shopper["pending"] += lots[e["lot"]]["amount"]
        for move in moves[e["id"]]:
            pending = e["created_at"] < lots[move["lot"]]["available_at"]
            shopper["pending" if pending else "available"] += move["amount"]
            if pending:
                before_maturity[move["lot"]] += move["amount"]
        shopper["available"] += e["amount"] - shopper["pending"] - shopper["available"]
        if e["id"] in posted:
            continue
        for account, amount in shopper.items():
            rows.append((e["brand"], account, e["customer"], amount, e["occurred_at"], e["id"], None, None))
        rows.append((e["brand"], COUNTER[e["kind"]], None, -e["amount"], e["occurred_at"], e["id"], None, None))
    for lot in lots.values():
        if lot["matured"] or lot["available_at"] > now:
            continue
        left = lot["amount"] + before_maturity[lot["id"]]
        rows.append((lot["brand"], "pending", lot["customer"], -left, lot["available_at"], None, lot["id"], None))
        rows.append((lot["brand"], "available", lot["customer"], left, lot["available_at"], None, lot["id"], None))
        await run("UPDATE ledger_lots SET matured = {} WHERE id = {}", True, lot["id"])
    written_off = await run(
        "SELECT r.id, r.brand, r.written_off, r.created_at FROM sale_refunds r WHERE r.written_off > 0 "
        "AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.refund = r.id AND p.entry IS NULL)"
    )
    for r in written_off:
        rows.append((r["brand"], "issued", None, r["written_off"], r["created_at"], None, None, r["id"]))
        rows.append((r["brand"], "written_off", None, -r["written_off"], r["created_at"], None, None, r["id"]))
    rows = [row for row in rows if row[3]]
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        marks = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, {})" for _ in batch)
        args = [value for row in batch for value in (*row, now)]
        await run(
            'INSERT INTO ledger_postings ("brand", "account", "customer", "amount", "occurred_at", "entry", '
            f'"lot", "refund", "created_at") VALUES {marks}',
            *args,
        )
    return len(rows)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def fill():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_postings_brand_time "
            "ON ledger_postings (brand, occurred_at, account, amount)"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_lots_maturing ON ledger_lots (brand, matured, available_at)"
        )
        await backfill(engine, dt.datetime.now(dt.UTC))

    manager.add_raw(fill)
    return manager
