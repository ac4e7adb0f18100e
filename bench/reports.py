"""The admin's reports page for a busy brand: 300,000 ledger movements over 120 days (and as many
again at another brand), then the report of the last 30 and of the last 90 days, in-process on
SQLite, median of 5. For scale, the brand home's figures (three aggregate queries) in the same run.
Then a shopper's balance read while a 90-day report runs: the report off the event loop (in a
thread, as the app runs it) and inline on the loop (as it ran before), beside the balance alone.

The programme's reports (issue 19) over the same volume: each movement that earns is a sale with
one to three items and its credit lot (the lines' cashback in its breakdown), each redeem a
redemption; a third of the sales issue a voucher (a fifth of those used), one sale in twenty uses
a coupon, a shopper in two used a club benefit, and five campaigns of 1,000 shoppers (10% held
out) were sent. Each report of 30 and of 90 days, on SQLite and (with --postgres URL, a scratch
database it empties) on PostgreSQL.

    .venv/bin/python bench/reports.py [--entries 300000] [--repeat 5] [--reads 60]
        [--postgres postgresql://postgres@127.0.0.1:5432/retorno_bench] [--only-programme]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import REPO

sys.path.insert(0, str(REPO))

KINDS = ["earn", "earn", "earn", "redeem", "reverse", "expire", "referral_reward"]
SKUS = [
    (f"SKU-{n:03d}", ["maquiagem", "cabelo", "perfume", "corpo", "rosto", None][n % 6]) for n in range(120)
]


OFFSET = 1_000_000  # the ids of the rows written here, clear of the demo's own


def _programme_rows(
    entries: int, ids: dict[int, list[int]], now: dt.datetime, fixed: dict[str, dict[int, int]]
) -> dict[str, list[tuple]]:
    """The rows of the programme's tables (see the module docstring), times as datetimes; `fixed`
    holds each brand's coupon and club benefit the uses point at."""
    rng = random.Random(19)
    rows: dict[str, list[tuple]] = {
        k: []
        for k in (  # in the order they are written (foreign keys)
            "sales",
            "ledger_lots",
            "redemptions",
            "vouchers",
            "voucher_uses",
            "coupon_uses",
            "club_uses",
            "message_campaigns",
            "message_campaign_members",
            "ledger_entries",
        )
    }
    sale_id = lot_id = voucher_id = OFFSET
    for brand in (1, 2):
        for n in range(entries):
            at = now - dt.timedelta(seconds=rng.randrange(120 * 86400))
            kind = rng.choice(KINDS)
            customer = rng.choice(ids[brand])
            amount = rng.randrange(100, 5000) * (-1 if kind in ("redeem", "reverse", "expire") else 1)
            sale = redemption = None
            if kind == "earn":
                sale_id += 1
                lot_id += 1
                sale = sale_id
                lines = []
                for sku, category in rng.sample(SKUS, rng.randint(1, 3)):
                    price, quantity = rng.randrange(1000, 20000), rng.randint(1, 3)
                    lines.append({"sku": sku, "category": category, "amount": price, "quantity": quantity})
                total = sum(x["amount"] * x["quantity"] for x in lines)
                shares = [
                    dict(x, amount=x["amount"] * x["quantity"], cashback=x["amount"] * x["quantity"] // 10)
                    for x in lines
                ]
                cancelled = at if rng.random() < 0.02 else None
                rows["sales"].append(
                    (
                        sale_id,
                        brand,
                        customer,
                        f"o{brand}-{n}",
                        total,
                        json.dumps(lines),
                        at,
                        "x",
                        cancelled,
                        at,
                    )
                )
                rows["ledger_lots"].append(
                    (
                        lot_id,
                        brand,
                        customer,
                        sale_id,
                        "sale",
                        amount,
                        amount,
                        at,
                        json.dumps({"items": shares}),
                        at,
                    )
                )
                if rng.random() < 1 / 3:
                    voucher_id += 1
                    rows["vouchers"].append(
                        (
                            voucher_id,
                            brand,
                            customer,
                            f"{voucher_id:010d}",
                            1000,
                            "rule",
                            at,
                            at + dt.timedelta(days=30),
                        )
                    )
                    if rng.random() < 0.2:
                        rows["voucher_uses"].append((brand, voucher_id, f"v{brand}-{n}", total, 1000, at))
                if rng.random() < 0.05:
                    rows["coupon_uses"].append(
                        (brand, fixed["coupons"][brand], customer, f"c{brand}-{n}", total, 1000, at)
                    )
            elif kind == "redeem":
                cancelled = at if rng.random() < 0.03 else None
                rows["redemptions"].append(
                    (brand, customer, f"r{brand}-{n}", f"ro{brand}-{n}", 20000, -amount, "x", cancelled, at)
                )
            rows["ledger_entries"].append((brand, customer, kind, amount, "", at, at, sale, redemption))
        for customer in ids[brand][::2]:
            rows["club_uses"].append(
                (
                    brand,
                    fixed["club_benefits"][brand],
                    customer,
                    now - dt.timedelta(seconds=rng.randrange(90 * 86400)),
                )
            )
        for c in range(5):
            campaign = OFFSET + brand * 10 + c
            sent = now - dt.timedelta(days=10 + 15 * c)
            rows["message_campaigns"].append(
                (campaign, brand, f"Campanha {c}", "push", sent, sent, 1000, 100, sent)
            )
            for k, customer in enumerate(rng.sample(ids[brand], 1000)):
                rows["message_campaign_members"].append((brand, campaign, customer, k < 100))
    return rows


COLUMNS = {
    "ledger_entries": "brand, customer, kind, amount, note, occurred_at, created_at, sale, redemption",
    "sales": "id, brand, customer, order_id, total, items, occurred_at, request_digest, cancelled_at, "
    "created_at",
    "ledger_lots": "id, brand, customer, sale, source, amount, remaining, available_at, breakdown, "
    "created_at",
    "redemptions": "brand, customer, redemption_id, order_id, order_total, amount, request_digest, "
    "cancelled_at, "
    "created_at",
    "vouchers": "id, brand, customer, code, amount, source, issued_at, expires_at",
    "voucher_uses": "brand, voucher, order_id, order_total, discount, used_at",
    "coupon_uses": "brand, coupon, customer, order_id, order_total, discount, used_at",
    "club_uses": "brand, benefit, customer, used_at",
    "message_campaigns": "id, brand, name, channels, send_at, sent_at, members, held_out, created_at",
    "message_campaign_members": "brand, campaign, customer, holdout",
}


# A coupon and a club benefit per brand, where the demo has none, for the uses to point at.
FIXED = {
    "coupons": (
        "INSERT INTO coupons (brand, code, amount, starts_at, created_at, updated_at) "
        "VALUES ({b}, 'CUPOMBENCH', 1000, {t}, {t}, {t})"
    ),
    "club_benefits": (
        "INSERT INTO club_benefits (brand, title, partner, how, created_at, updated_at) "
        "VALUES ({b}, 'Café', 'Parceiro', 'show', {t}, {t})"
    ),
}


def _seed_sqlite(path: Path, entries: int) -> None:
    """Customers and the programme's rows straight into the file (what the app would have written)."""
    now = dt.datetime.now(dt.UTC)
    con = sqlite3.connect(path)
    stamp = now.isoformat(" ")
    for brand in (1, 2):
        con.executemany(
            "INSERT INTO customers (brand, email, name, segment, created_at, updated_at) "
            "VALUES (?, ?, '', '', ?, ?)",
            [(brand, f"c{n}@b{brand}.example", stamp, stamp) for n in range(2000)],
        )
    ids = {b: [r[0] for r in con.execute("SELECT id FROM customers WHERE brand = ?", (b,))] for b in (1, 2)}

    def value(v: object) -> object:
        return v.isoformat(" ") if isinstance(v, dt.datetime) else v

    fixed: dict[str, dict[int, int]] = {}
    for table, sql in FIXED.items():
        for brand in (1, 2):
            con.execute(sql.format(b=brand, t="?"), (stamp, stamp, stamp)[: sql.count("{t}")])
        fixed[table] = {b: i for b, i in con.execute(f"SELECT brand, MAX(id) FROM {table} GROUP BY brand")}
    for table, rows in _programme_rows(entries, ids, now, fixed).items():
        columns = COLUMNS[table]
        marks = ", ".join("?" for _ in columns.split(","))
        con.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            [tuple(value(v) for v in row) for row in rows],
        )
    con.commit()
    if os.environ.get("BENCH_ANALYZE"):
        con.execute("ANALYZE")
    con.close()


async def _seed_postgres(url: str, entries: int) -> None:
    import asyncpg

    now = dt.datetime.now(dt.UTC)
    con = await asyncpg.connect(url)
    try:
        await con.executemany(
            "INSERT INTO customers (brand, email, name, segment, created_at, updated_at) "
            "VALUES ($1, $2, '', '', $3, $3)",
            [(brand, f"c{n}@b{brand}.example", now) for brand in (1, 2) for n in range(2000)],
        )
        ids = {
            b: [r["id"] for r in await con.fetch("SELECT id FROM customers WHERE brand = $1 ORDER BY id", b)]
            for b in (1, 2)
        }
        fixed: dict[str, dict[int, int]] = {}
        for table, sql in FIXED.items():
            for brand in (1, 2):
                await con.execute(sql.format(b=brand, t="$1"), now)
            found = await con.fetch(f"SELECT brand, MAX(id) AS id FROM {table} GROUP BY brand")
            fixed[table] = {r["brand"]: r["id"] for r in found}
        for table, rows in _programme_rows(entries, ids, now, fixed).items():
            columns = [c.strip() for c in COLUMNS[table].split(",")]
            await con.copy_records_to_table(table, records=rows, columns=columns)
        for table in ("sales", "ledger_lots", "vouchers", "message_campaigns"):
            await con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def _reset_postgres(url: str) -> None:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        await con.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await con.close()


async def _measure_programme(env: dict[str, str], repeat: int) -> dict[str, float]:
    """Each of the programme's reports over the last 30 and the last 90 days, median of `repeat`."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.messages import campaigns
    from retorno.reports import programme
    from retorno.settings import load_settings

    now = dt.datetime.now(dt.UTC)
    today = now.date()

    async def campaign_return(brand: Any, first: dt.date, last: dt.date) -> None:
        # As the admin composes it: the campaigns sent in the period, each with its comparison.
        period = programme.period_of(brand, first, last)
        for c in await campaigns.campaigns(brand_id=brand.id, limit=200):
            if c.sent_at is not None and period.start <= c.sent_at < period.end:
                await campaigns.report(brand_id=brand.id, campaign_id=c.id, now=now)

    reports: dict[str, Any] = {
        "shoppers using cashback": lambda b, f, t: programme.shoppers(b, f, t),
        "benefits generated and used": lambda b, f, t: programme.benefits(b, f, t),
        "recurrence": lambda b, f, t: programme.recurrence(b, f, t),
        "repurchase after using cashback (30-day window)": lambda b, f, t: programme.repurchase(
            b, f, t, window_days=30, now=now
        ),
        "best-selling categories": lambda b, f, t: programme.sellers(b, f, t, by="category"),
        "best-selling products": lambda b, f, t: programme.sellers(b, f, t, by="sku"),
        "campaign return": campaign_return,
    }
    out: dict[str, list[float]] = {}
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        for _ in range(repeat):
            for name, run in reports.items():
                for days in (30, 90):
                    started = time.perf_counter()
                    await run(brand, today - dt.timedelta(days=days - 1), today)
                    out.setdefault(f"{name}, {days} days", []).append((time.perf_counter() - started) * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


async def _measure(env: dict[str, str], repeat: int) -> dict[str, float]:
    from retorno import db
    from retorno.brands import service as brands
    from retorno.reports import service as reports
    from retorno.reports.service import home_figures as figures
    from retorno.settings import load_settings

    now = dt.datetime.now(dt.UTC)
    today = now.date()
    out: dict[str, list[float]] = {
        "report 30 days": [],
        "report 90 days": [],
        "report 90 days, inline (before)": [],
        "brand home figures": [],
    }
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        for _ in range(repeat):
            for name, days in (("report 30 days", 30), ("report 90 days", 90)):
                started = time.perf_counter()
                await reports.report(brand, today - dt.timedelta(days=days - 1), today, now=now)
                out[name].append((time.perf_counter() - started) * 1000)
            db_fetch_heavy, db.fetch_heavy = db.fetch_heavy, db.fetch
            try:
                started = time.perf_counter()
                await reports.report(brand, today - dt.timedelta(days=89), today, now=now)
                out["report 90 days, inline (before)"].append((time.perf_counter() - started) * 1000)
            finally:
                db.fetch_heavy = db_fetch_heavy
            started = time.perf_counter()
            await figures(brand, now)
            out["brand home figures"].append((time.perf_counter() - started) * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


async def _balance_reads(env: dict[str, str], reads: int) -> dict[str, dict[str, float]]:
    """A shopper's balance read again and again (what the app serves while a manager opens the
    report): alone, beside a report that runs off the event loop (as the app runs it), and beside
    the same report run inline on the loop (as it ran before). Milliseconds per read."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.ledger import balances
    from retorno.reports import service as reports
    from retorno.settings import load_settings

    now = dt.datetime.now(dt.UTC)
    today = now.date()
    out: dict[str, dict[str, float]] = {}
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")

        async def reading() -> list[float]:
            """A read is due every 5 ms; its latency runs from when it was due to its answer, so
            the time it waited for the loop counts (as a shopper's request would wait)."""
            times = []
            for _ in range(reads):
                due = time.perf_counter() + 0.005
                await asyncio.sleep(0.005)
                await balances.balance(brand=brand, customer_id=1, now=now)
                times.append((time.perf_counter() - due) * 1000)
            return times

        async def report_loop(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await reports.report(brand, today - dt.timedelta(days=89), today, now=now)
                await asyncio.sleep(0)  # between two requests the loop runs whatever else is ready

        out["alone"] = _summary(await reading())
        for label, heavy in (
            ("beside a report off the loop", db.fetch_heavy),
            ("beside a report inline", db.fetch),
        ):
            db_fetch_heavy, db.fetch_heavy = db.fetch_heavy, heavy
            try:
                stop = asyncio.Event()
                task = asyncio.create_task(report_loop(stop))
                await asyncio.sleep(0.05)
                out[label] = _summary(await reading())
                stop.set()
                await task
            finally:
                db.fetch_heavy = db_fetch_heavy
    return out


def _summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)], "max": times[-1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=300_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--reads", type=int, default=60)
    p.add_argument(
        "--postgres", default="", help="a scratch PostgreSQL database (emptied) for the programme's reports"
    )
    p.add_argument("--only-programme", action="store_true", help="only the programme's reports")
    args = p.parse_args()
    programme: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="retorno-reports-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        env = {**os.environ, "RETORNO_DATABASE_URL": f"sqlite:///{path}", "RETORNO_ENV": "test"}
        subprocess.run([sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True)
        _seed_sqlite(path, args.entries)
        programme["SQLite"] = asyncio.run(_measure_programme(env, args.repeat))
        if not args.only_programme:
            result = asyncio.run(_measure(env, args.repeat))
            reads = asyncio.run(_balance_reads(env, args.reads))
    if args.postgres:
        asyncio.run(_reset_postgres(args.postgres))
        env = {**os.environ, "RETORNO_DATABASE_URL": args.postgres, "RETORNO_ENV": "test"}
        subprocess.run([sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True)
        asyncio.run(_seed_postgres(args.postgres, args.entries))
        programme["PostgreSQL"] = asyncio.run(_measure_programme(env, args.repeat))
    engines = list(programme)
    print(
        f"| the programme's reports ({args.entries:,} movements per brand, 2 brands) | "
        + " | ".join(f"{e}, ms (median of {args.repeat})" for e in engines)
        + " |"
    )
    print("|---|" + "---:|" * len(engines))
    for name in programme["SQLite"]:
        print(f"| {name} | " + " | ".join(f"{programme[e][name]:,.1f}" for e in engines) + " |")
    print()
    if args.only_programme:
        return 0
    print(f"| what ({args.entries:,} movements per brand, 2 brands) | ms (median of {args.repeat}) |")
    print("|---|---:|")
    for name, ms in result.items():
        print(f"| {name} | {ms:,.1f} |")
    print()
    print(f"| a shopper's balance, {args.reads} reads | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, summary in reads.items():
        print(f"| {name} | {summary['p50']:.2f} | {summary['p99']:.2f} | {summary['max']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
