"""In-process cost of a brand page's two queries on our SQLite engine and on Piccolo's stock one.

A page on a brand host resolves the brand from the Host (`brand_for_host`) and, for an asset,
reads it (`asset`). This runs that pair N times per batch, five batches per engine, alternating
engines batch by batch (each ratio pairs batches run moments apart), on one throw-away SQLite
file holding the demo brands:

- `LocalSQLiteEngine` (retorno.db): long-lived sqlite3 connections, reads inline on the loop;
- Piccolo's `SQLiteEngine`: a new aiosqlite connection (and thread hop) for every query.

    .venv/bin/python bench/engine.py [--iterations 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from piccolo.engine.sqlite import SQLiteEngine

from retorno import db
from retorno.brands import service
from retorno.brands.pack import read_pack

REPO = Path(__file__).resolve().parent.parent
BASE_HOST = "localhost:8000"
HOST = f"bella.{BASE_HOST}"
BATCHES = 5
WARMUP = 20


async def page() -> None:
    brand = await service._brand_for_host(HOST, BASE_HOST)  # uncached: the query itself
    assert brand is not None and brand.slug == "bella", brand
    found = await service.asset(brand.id, "icon-192.png")
    assert found is not None and found[1] == "image/png", found


async def batch(n: int) -> float:
    """Microseconds per page over n pages."""
    start = time.perf_counter()
    for _ in range(n):
        await page()
    return (time.perf_counter() - start) / n * 1e6


async def run(iterations: int) -> str:
    with tempfile.TemporaryDirectory(prefix="retorno-bench-") as tmp:
        path = str(Path(tmp) / "bench.sqlite3")
        async with db.connected(db.LocalSQLiteEngine(path=path)):
            await db.migrate()
            for slug in ("bella", "mare"):
                await service.import_pack(read_pack(REPO / "branding" / slug), base_host=BASE_HOST)

        local = db.LocalSQLiteEngine(path=path)
        engines = {
            "`LocalSQLiteEngine` (long-lived sqlite3, inline)": local,
            "Piccolo `SQLiteEngine` (new aiosqlite connection per query)": SQLiteEngine(path=path),
        }
        times: dict[str, list[float]] = {label: [] for label in engines}
        try:
            for engine in engines.values():
                db.use(engine)
                await batch(WARMUP)
            for round_no in range(1, BATCHES + 1):
                for label, engine in engines.items():
                    db.use(engine)
                    times[label].append(await batch(iterations))
                    print(f"batch {round_no}: {label}: {times[label][-1]:,.1f} µs/page", file=sys.stderr)
        finally:
            local.close()

    ours = next(iter(times.values()))
    lines = [
        "| engine | µs per page (median of 5 batches) | batches (µs) | × ours (median of paired batches) |",
        "|---|---:|---|---:|",
    ]
    for label, batches in times.items():
        spread = ", ".join(f"{t:,.0f}" for t in batches)
        ratio = statistics.median(t / o for t, o in zip(batches, ours, strict=True))
        lines.append(f"| {label} | {statistics.median(batches):,.0f} | {spread} | {ratio:.1f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=1000, help="pages per batch (default 1000)")
    args = p.parse_args()
    table = asyncio.run(run(args.iterations))
    print(f"\nA page = brand_for_host + asset('icon-192.png'); {BATCHES} batches of {args.iterations}.\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
