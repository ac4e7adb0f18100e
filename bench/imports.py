"""A large CSV import through the worker: 20,000 rows of past sales as one job, processed by
`retorno worker --until-idle` (pinned to CPU 0) a chunk at a time, each row through the ledger's
idempotent record_sale.

Reports rows per second (wall clock, worker start-up included) and, as the baseline of the same
run, the same rows recorded by calling record_sale in a loop in-process on a fresh database (no
job, no chunks, no windows): the ratio shows what the job machinery costs. Then the same file
again, which must find every row already present.

    .venv/bin/python bench/imports.py [--rows 20000] [--rounds 3]

SQLite, a throw-away file per round.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import LOAD_CPU, REPO, SERVER_CPU, BenchError

sys.path.insert(0, str(REPO))

WORKER = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "retorno", "worker", "--until-idle"]


def _csv(rows: int) -> str:
    lines = ["order_id,occurred_at,total,email,name"]
    for n in range(rows):
        lines.append(f"B-{n},2026-10-{1 + n % 28:02d},{100 + n % 400},{n % 5000}@bench.example,Cliente {n}")
    return "\n".join(lines) + "\n"


async def _queue(env: dict[str, str], text: str) -> int:
    from retorno import db
    from retorno.brands import service as brands
    from retorno.imports import service as imports
    from retorno.settings import load_settings
    from retorno.staff.service import add_staff

    now = dt.datetime.now(dt.UTC)
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        staff = await add_staff(email="bench@staff.example", brand_id=brand.id, role="manager", now=now)
        return await imports.start(
            brand_id=brand.id, staff_id=staff, filename="bench.csv", upload=imports.read(text), now=now
        )


async def _result(env: dict[str, str], job_id: int) -> Any:
    from retorno import db
    from retorno.brands import service as brands
    from retorno.imports import service as imports
    from retorno.settings import load_settings

    async with db.connected(db.make_engine(load_settings(env))):
        return await imports.job((await brands.get_brand("bella")).id, job_id)


async def _direct(env: dict[str, str], text: str) -> float:
    """The baseline: every row through import_row (record_sale) in a plain loop; seconds taken."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.imports import service as imports
    from retorno.settings import load_settings

    upload = imports.read(text)
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        for values, _ in imports._records(upload.body, 0):
            if values:
                outcome = await imports.import_row(brand, dict(zip(upload.header, values, strict=True)), now)
                if outcome.status != "imported":
                    raise BenchError(f"the baseline did not import a row: {outcome}")
        return time.perf_counter() - started


def _fresh(tmp: str, name: str) -> dict[str, str]:
    env = {
        **os.environ,
        "RETORNO_DATABASE_URL": f"sqlite:///{Path(tmp) / name}",
        "RETORNO_ENV": "development",
    }
    subprocess.run([sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True)
    return env


def _work(env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(WORKER, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"the worker failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def one_round(rows: int) -> dict[str, float]:
    text = _csv(rows)
    with tempfile.TemporaryDirectory(prefix="retorno-import-") as tmp:
        env = _fresh(tmp, "worker.sqlite3")
        job = asyncio.run(_queue(env, text))
        wall = _work(env)
        found = asyncio.run(_result(env, job))
        if (found.state, found.imported, found.rejected) != ("done", rows, 0):
            raise BenchError(f"the import did not finish cleanly: {found}")
        again = asyncio.run(_queue(env, text))
        wall_again = _work(env)
        found = asyncio.run(_result(env, again))
        if (found.state, found.skipped) != ("done", rows):
            raise BenchError(f"the second upload was not all skipped: {found}")
        baseline = asyncio.run(_direct(_fresh(tmp, "direct.sqlite3"), text))
    return {"rate": rows / wall, "again": rows / wall_again, "direct": rows / baseline}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    rounds = []
    for n in range(1, args.rounds + 1):
        result = one_round(args.rows)
        rounds.append(result)
        print(
            f"round {n}: worker {result['rate']:,.0f} rows/s, again {result['again']:,.0f} rows/s, "
            f"record_sale in a loop {result['direct']:,.0f} rows/s",
            file=sys.stderr,
        )
    med = {k: statistics.median(r[k] for r in rounds) for k in ("rate", "again", "direct")}
    print("| rows | worker rows/s (median) | same file again | record_sale in a loop | worker / loop |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {med['rate']:,.0f} | {med['again']:,.0f} | {med['direct']:,.0f} | "
        f"{med['rate'] / med['direct']:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
