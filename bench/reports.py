"""The admin's reports page for a busy brand: 300,000 ledger movements over 120 days (and as many
again at another brand), then the report of the last 30 and of the last 90 days, in-process on
SQLite, median of 5. For scale, the brand home's figures (three aggregate queries) in the same run.
Then a shopper's balance read while a 90-day report runs: the report off the event loop (in a
thread, as the app runs it) and inline on the loop (as it ran before), beside the balance alone.

    .venv/bin/python bench/reports.py [--entries 300000] [--repeat 5] [--reads 60]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO

sys.path.insert(0, str(REPO))

KINDS = ["earn", "earn", "earn", "redeem", "reverse", "expire", "referral_reward"]


def _seed(path: Path, entries: int) -> None:
    """Customers and movements straight into the file (what the ledger would have written)."""
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(7)
    con = sqlite3.connect(path)
    stamp = now.isoformat(" ")
    for brand in (1, 2):
        con.executemany(
            "INSERT INTO customers (brand, email, name, segment, created_at, updated_at) "
            "VALUES (?, ?, '', '', ?, ?)",
            [(brand, f"c{n}@b{brand}.example", stamp, stamp) for n in range(2000)],
        )
    ids = {b: [r[0] for r in con.execute("SELECT id FROM customers WHERE brand = ?", (b,))] for b in (1, 2)}
    rows = []
    for brand in (1, 2):
        for _ in range(entries):
            at = now - dt.timedelta(seconds=rng.randrange(120 * 86400))
            kind = rng.choice(KINDS)
            amount = rng.randrange(100, 5000) * (-1 if kind in ("redeem", "reverse", "expire") else 1)
            rows.append((brand, rng.choice(ids[brand]), kind, amount, "", at.isoformat(" "), stamp))
    con.executemany(
        "INSERT INTO ledger_entries (brand, customer, kind, amount, note, occurred_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.commit()
    con.close()


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
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="retorno-reports-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        env = {**os.environ, "RETORNO_DATABASE_URL": f"sqlite:///{path}", "RETORNO_ENV": "test"}
        subprocess.run([sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True)
        _seed(path, args.entries)
        result = asyncio.run(_measure(env, args.repeat))
        reads = asyncio.run(_balance_reads(env, args.reads))
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
