"""10,000 outbox events fanned out to one webhook endpoint and delivered to a local receiver
(tests/fake_receiver.py) that verifies every signature with the Standard Webhooks reference
library and answers after 20 ms.

Measures deliveries per second (wall clock, from the worker's start, start-up and fan-out
included, to its exit once nothing is due) and the worker's CPU time per delivery. Target:
>= 1,000 deliveries per second.

    .venv/bin/python bench/webhooks.py [--events 10000] [--customers 2000] [--latency 0.02]
                                       [--batch 200] [--rounds 3]

The worker is `retorno worker --until-idle` in a process of its own, pinned to CPU 0 (taskset);
the receiver runs in this process, pinned to CPU 1 (os.sched_setaffinity). SQLite, a throw-away
file per round. The events are cashback credits of `--customers` shoppers, several each, so the
one-at-a-time order per customer is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import LOAD_CPU, REPO, SERVER_CPU, BenchError

sys.path.insert(0, str(REPO))

from tests.fake_receiver import ThreadedFakeReceiver

WORKER = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "retorno", "worker", "--until-idle"]


async def _seed(env: dict[str, str], url: str, events: int, customers: int) -> str:
    """An endpoint of bella for cashback.credited, and the events; the endpoint's secret."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.outbound import Options
    from retorno.outbox import service as outbox
    from retorno.settings import load_settings
    from retorno.webhooks import service as webhooks

    now = dt.datetime.now(dt.UTC)
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        created = await webhooks.create_endpoint(
            brand_id=brand.id,
            url=url,
            events=["cashback.credited"],
            description="bench",
            now=now,
            options=Options(allow_private=True, require_https=False),
        )

        async def work() -> None:
            ids = []
            for i in range(customers):
                rows = await db.fetch(
                    "INSERT INTO customers (brand, external_id, name, created_at, updated_at) "
                    "VALUES ({}, {}, '', {}, {}) RETURNING id",
                    brand.id,
                    f"erp-{i}",
                    now,
                    now,
                )
                ids.append(rows[0]["id"])
            for n in range(events):
                await outbox.emit(
                    brand_id=brand.id,
                    kind="cashback.credited",
                    now=now,
                    payload={
                        "customer_id": ids[n % customers],
                        "lot_id": n,
                        "amount": 1500,
                        "source": "sale",
                        "available_at": "2026-12-08T12:00:00Z",
                        "expires_at": "2027-03-08T12:00:00Z",
                    },
                )

        await db.write(work)
        return created.secret


def one_round(events: int, customers: int, latency: float, batch: int) -> dict[str, float]:
    fake = ThreadedFakeReceiver(latency=latency)
    receiver = fake.receiver
    try:
        path = receiver.path()
        with tempfile.TemporaryDirectory(prefix="retorno-webhooks-") as tmp:
            env = {
                **os.environ,
                "RETORNO_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                "RETORNO_ENV": "development",
                "RETORNO_WEBHOOKS_ALLOW_PRIVATE": "1",  # the receiver is on 127.0.0.1
            }
            subprocess.run(
                [sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True
            )
            receiver.secrets[path] = [asyncio.run(_seed(env, receiver.url(path), events, customers))]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(
                [*WORKER, "--batch", str(batch)], env=env, capture_output=True, text=True, check=False
            )
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise BenchError(f"the worker failed:\n{done.stdout}{done.stderr}")
        problems = [r.problems for r in receiver.received if r.problems]
        if problems:
            raise BenchError(f"the receiver refused {len(problems)} deliveries: {problems[:3]}")
        counts = collections.Counter(r.message_id for r in receiver.received)
        if len(counts) != events or set(counts.values()) != {1} or receiver.concurrent:
            raise BenchError(f"{len(counts)} of {events} messages arrived; copies {set(counts.values())}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"rate": events / wall, "wall": wall, "cpu_ms": cpu / events * 1000}
    finally:
        fake.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--latency", type=float, default=0.02, help="the receiver's answer delay (s)")
    p.add_argument("--batch", type=int, default=200, help="deliveries in flight per lane (2 lanes)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    rounds = []
    for n in range(1, args.rounds + 1):
        result = one_round(args.events, args.customers, args.latency, args.batch)
        rounds.append(result)
        print(
            f"round {n}: {result['rate']:,.0f} deliveries/s, {result['cpu_ms']:.2f} ms CPU each, "
            f"{result['wall']:.1f} s",
            file=sys.stderr,
        )
    rate = statistics.median(r["rate"] for r in rounds)
    cpu = statistics.median(r["cpu_ms"] for r in rounds)
    print(
        "| events (customers) | receiver latency | in flight (batch x 2 lanes) | deliveries/s (median) "
        "| worker CPU per delivery | target |"
    )
    print("|---:|---:|---:|---:|---:|---|")
    verdict = ">= 1,000/s: " + ("met" if rate >= 1000 else "NOT met")
    print(
        f"| {args.events:,} ({args.customers:,}) | {args.latency * 1000:.0f} ms | {args.batch * 2} | "
        f"{rate:,.0f} | {cpu:.2f} ms | {verdict} |"
    )
    return 0 if rate >= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
