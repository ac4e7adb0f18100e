"""Fan-out of one push campaign to 10,000 subscriptions, against the fake push service of the tests
(tests/fake_push.py: it decrypts every message and verifies its VAPID JWT) answering after 20 ms.

Measures notifications per second (wall clock, from the campaign queued to the last answer
recorded) and the worker's CPU time per notification, of a running worker: each round first runs
the worker with nothing to do, and its start (imports, connecting: ~1 s, which a running worker
has paid before a campaign comes) is taken off the wall and CPU time; the rate counting the start is
reported beside. Target (issue 21): >= 2,000 per second per worker core.

    .venv/bin/python bench/push.py [--subscriptions 10000] [--latency 0.02] [--batch 200] [--rounds 3]

The worker is `retorno worker --until-idle` in a process of its own, pinned to CPU 0; the fake
service runs in this process, pinned to CPU 1. SQLite, a throw-away file per round.
"""

from __future__ import annotations

import argparse
import asyncio
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

from tests.fake_push import ThreadedFakePushService, push_campaign, seed_audience

TARGET = 2_000  # notifications a second per worker core (issue 21)
WORKER = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "retorno", "worker", "--until-idle"]


async def _seed(env: dict[str, str], devices: list | None) -> None:
    """The audience (`devices`), or with None the campaign to it."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.settings import load_settings

    now = dt.datetime.now(dt.UTC)
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        if devices is not None:
            await seed_audience(brand.id, devices, now)
        else:
            await push_campaign(brand.id, title="Black Friday", body="Cashback em dobro até domingo", now=now)


def _worker(env: dict[str, str], batch: int) -> tuple[float, float]:
    """`retorno worker --until-idle`: (wall seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [*WORKER, "--batch", str(batch)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"the worker failed:\n{done.stdout}{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_round(count: int, latency: float, batch: int) -> dict[str, float]:
    fake = ThreadedFakePushService(latency=latency)
    service = fake.service
    try:
        devices = [service.device() for _ in range(count)]
        with tempfile.TemporaryDirectory(prefix="retorno-push-") as tmp:
            env = {
                **os.environ,
                "RETORNO_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                "RETORNO_ENV": "development",
            }
            subprocess.run(
                [sys.executable, "-m", "retorno", "demo"], env=env, check=True, capture_output=True
            )
            asyncio.run(_seed(env, devices))
            # A worker with nothing to do: what starting one costs (imports, connecting), which a
            # running worker has paid before a campaign comes.
            start_wall, start_cpu = _worker(env, batch)
            asyncio.run(_seed(env, None))
            wall, cpu = _worker(env, batch)
        per = {}
        for received in service.received:
            per[received.token] = per.get(received.token, 0) + 1
            if received.problems:
                raise BenchError(f"the fake push service refused a message: {received.problems}")
        if len(per) != count or set(per.values()) != {1}:
            raise BenchError(
                f"{len(per)} of {count} subscriptions got a notification; counts {set(per.values())}"
            )
        return {
            "rate": count / (wall - start_wall),
            "cpu_ms": (cpu - start_cpu) / count * 1000,
            "wall": wall,
            "cold_rate": count / wall,
            "start": start_wall,
        }
    finally:
        fake.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscriptions", type=int, default=10_000)
    p.add_argument("--latency", type=float, default=0.02, help="the push service's answer delay (s)")
    p.add_argument("--batch", type=int, default=200, help="notifications in flight at once")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    rounds = []
    for n in range(1, args.rounds + 1):
        result = one_round(args.subscriptions, args.latency, args.batch)
        rounds.append(result)
        print(
            f"round {n}: {result['rate']:,.0f} notifications/s, {result['cpu_ms']:.2f} ms CPU each; "
            f"{result['wall']:.1f} s from the worker's start ({result['cold_rate']:,.0f}/s), "
            f"{result['start']:.2f} s to start one with nothing to do",
            file=sys.stderr,
        )
    rate = statistics.median(r["rate"] for r in rounds)
    cold = statistics.median(r["cold_rate"] for r in rounds)
    cpu = statistics.median(r["cpu_ms"] for r in rounds)
    print(
        "| subscriptions | push latency | in flight (batch x 2 lanes) | notifications/s, a running worker "
        "(median) | counting its start | worker CPU per notification | target |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|")
    verdict = f">= {TARGET:,}/s: " + ("met" if rate >= TARGET else "NOT met")
    print(
        f"| {args.subscriptions:,} | {args.latency * 1000:.0f} ms | {args.batch * 2} | {rate:,.0f} | "
        f"{cold:,.0f} | {cpu:.2f} ms | {verdict} |"
    )
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
