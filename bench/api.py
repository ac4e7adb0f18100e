"""Integration API under load, as ratios to bare Litestar and to `/healthz`, same run.

Measures the balance and statement of a customer with 10,000 ledger entries, and sale ingestion
(unique orders, 8 concurrent clients) with p50/p99 latency and error counts, on SQLite (and the
ingestion again on the local PostgreSQL, a second app server on the same core: PostgreSQL itself
is not pinned, it shares both cores with wrk), beside
bench/floor.py's bare Litestar and raw ASGI hellos pinned to the same core. Targets (issue 21, to
bare Litestar): balance >= 0.55, statement >= 0.45, ingestion >= 0.15 with 0 errors and
p99 <= 100 ms, `/healthz` >= 0.85.

    .venv/bin/python bench/api.py [--seconds 5] [--entries 10000]
    .venv/bin/python bench/api.py --against /tmp/before   # this tree against another checkout

`--against DIR` runs this tree and DIR (an earlier revision, e.g. `git worktree add /tmp/before
<rev>`) side by side, one server each, seeded each by its own code, rounds alternating, each
ratio to its own server's trivial endpoint: a change's cost measured in one run.

Needs `wrk` and `taskset` on the PATH (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (
    BenchError,
    Result,
    Server,
    app_server,
    floor_servers,
    fresh_postgres,
    measure_floors,
    seed_history,
    sqlite_server,
)

ROUNDS = 3
HEAVY = "email:heavy@example.com"
INGEST_LUA = r"""
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"order_id":"%s-%d","customer":{"email":"c%d@example.com"},"total":%d,' ..
    '"items":[{"sku":"s","category":"maquiagem","amount":%d}]}',
    prefix, counter, counter % 1000, 1000 + counter % 9000, 1000 + counter % 9000)
  return wrk.format("POST", nil, nil, body)
end
init = function(args) prefix = args[1] end
"""


def seed(entries: int):
    def prepare(server: Server) -> None:
        seed_history(server, "heavy@example.com", entries)
        with_key(server)

    return prepare


# Issue 21's targets, as ratios to bare Litestar (the same run, the same core); ingestion also
# with p99 <= 100 ms and no errors.
PG_INGESTION = "ingestion, PostgreSQL"
TARGETS = {"balance": 0.55, "statement (20 newest of 10,000)": 0.45, "ingestion": 0.15, PG_INGESTION: 0.15}


def with_key(server: Server) -> None:
    server.key = server.cli("apikeys", "create", "bella", "--name", "bench").strip().splitlines()[-1]


def measure(server: Server, floors: dict[str, Server], seconds: int, postgres: Server | None = None) -> str:
    """Each round: the floors, `/healthz`, the reads and ingestion on `server` (SQLite), then
    ingestion on `postgres` (another app server, the same core) if given."""
    auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    script = server.tmp / "ingest.lua"
    script.write_text(INGEST_LUA)
    api = server.platform_host
    reads = [
        ("balance", f"/api/v1/customers/{HEAVY}/balance"),
        ("statement (20 newest of 10,000)", f"/api/v1/customers/{HEAVY}/statement"),
    ]
    for _, path in reads:
        if (status := server.get(api, path, auth)) != 200:
            raise BenchError(f"{path} answered {status}")
        server.wrk(api, path, 1, headers=auth)
    server.wrk(api, "/healthz", 1)
    measure_floors(floors, 1)

    results: dict[str, list[Result]] = {"trivial": [], **{label: [] for label, _ in reads}, "ingestion": []}
    if postgres is not None:
        results[PG_INGESTION] = []
        ingest(postgres, 1, "warm")
    ratios: dict[str, list[float]] = {label: [] for label in results if label != "trivial"}
    to_floor: dict[str, list[float]] = {label: [] for label in [*floors, *results]}
    floor_rps: dict[str, list[float]] = {label: [] for label in floors}
    for round_no in range(1, ROUNDS + 1):
        now = measure_floors(floors, seconds)
        for label, value in now.items():
            floor_rps[label].append(value)
            to_floor[label].append(value / now["bare Litestar"])
        base = server.wrk(api, "/healthz", seconds, latency=True)
        results["trivial"].append(base)
        to_floor["trivial"].append(base.rps / now["bare Litestar"])
        for label, path in reads:
            r = server.wrk(api, path, seconds, headers=auth, latency=True)
            results[label].append(r)
            ratios[label].append(r.rps / base.rps)
            to_floor[label].append(r.rps / now["bare Litestar"])
        r = server.wrk(
            api,
            "/api/v1/sales",
            seconds,
            connections=8,
            headers=auth,
            script=script,
            script_args=[f"round{round_no}"],
            latency=True,
        )
        results["ingestion"].append(r)
        ratios["ingestion"].append(r.rps / base.rps)
        to_floor["ingestion"].append(r.rps / now["bare Litestar"])
        if postgres is not None:
            r = ingest(postgres, seconds, f"round{round_no}")
            results[PG_INGESTION].append(r)
            ratios[PG_INGESTION].append(r.rps / base.rps)
            to_floor[PG_INGESTION].append(r.rps / now["bare Litestar"])
        print(
            f"round {round_no}: "
            + ", ".join(f"{k} {v:,.0f}/s" for k, v in now.items())
            + ", "
            + ", ".join(f"{k} {v[-1].rps:,.0f}/s" for k, v in results.items()),
            file=sys.stderr,
        )

    lines = [
        "| endpoint | ratio to bare Litestar (median of 3) | ratio to trivial `/healthz` | req/s (median) "
        "| p50 ms | p99 ms | errors | target (to bare Litestar) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, values in floor_rps.items():
        lines.append(
            f"| {label} (bench/floor.py) | {statistics.median(to_floor[label]):.2f} | | "
            f"{statistics.median(values):,.0f} | | | | |"
        )
    for label, runs in results.items():
        ratio = statistics.median(ratios[label]) if label in ratios else 1.0
        floor = statistics.median(to_floor[label])
        p50 = statistics.median(r.p50_ms for r in runs if r.p50_ms is not None)
        p99 = statistics.median(r.p99_ms for r in runs if r.p99_ms is not None)
        errors = sum(r.errors for r in runs)
        target = TARGETS.get(label, 0.85 if label == "trivial" else None)
        verdict = "" if target is None else (f">= {target:.2f}: " + ("met" if floor >= target else "NOT met"))
        if label in ("ingestion", PG_INGESTION):
            verdict += ", p99 <= 100 ms: " + ("met" if p99 <= 100 and errors == 0 else "NOT met")
        lines.append(
            f"| {label} | {floor:.2f} | {ratio:.2f} | {statistics.median(r.rps for r in runs):,.0f} | "
            f"{p50:.1f} | {p99:.1f} | {errors} | {verdict} |"
        )
    return "\n".join(lines)


def ingest(server: Server, seconds: int, prefix: str) -> Result:
    """8 clients posting unique sales for `seconds` (order ids start with `prefix`)."""
    auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    script = server.tmp / "ingest.lua"
    script.write_text(INGEST_LUA)
    return server.wrk(
        server.platform_host,
        "/api/v1/sales",
        seconds,
        connections=8,
        headers=auth,
        script=script,
        script_args=[prefix],
        latency=True,
    )


def durability(seconds: int) -> str:
    """Ingestion with synchronous=FULL (the default: a sale is on disk before it is acknowledged)
    against NORMAL (what it was: with WAL, the last acknowledged sales can be lost on power loss),
    each as a ratio to its own server's trivial endpoint, rounds alternating between the two."""
    runs: dict[str, list[tuple[float, float]]] = {"FULL": [], "NORMAL": []}
    with (
        sqlite_server(prepare=seed(0), RETORNO_SQLITE_SYNCHRONOUS="FULL") as full,
        sqlite_server(prepare=seed(0), RETORNO_SQLITE_SYNCHRONOUS="NORMAL") as normal,
    ):
        for round_no in range(1, ROUNDS + 1):
            for mode, server in (("FULL", full), ("NORMAL", normal)):
                base = server.wrk(server.platform_host, "/healthz", seconds)
                r = ingest(server, seconds, f"d{round_no}")
                runs[mode].append((r.rps, r.rps / base.rps))
    lines = [
        "| SQLite synchronous | ingestion req/s (median) | ratio to trivial (median of 3) |",
        "|---|---:|---:|",
    ]
    for mode, values in runs.items():
        rps, ratio = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        lines.append(f"| {mode} | {rps:,.0f} | {ratio:.3f} |")
    full_ratio = statistics.median(v[1] for v in runs["FULL"]) / statistics.median(
        v[1] for v in runs["NORMAL"]
    )
    lines.append(
        f"\nFULL costs ingestion {100 * (1 - full_ratio):.0f}% against NORMAL "
        f"(ratio of ratios {full_ratio:.2f})."
    )
    return "\n".join(lines)


def seed_other(other: Path, entries: int):
    """`seed`, by the other checkout's own code (its harness and its retorno), in a process of its own."""

    def prepare(server: Server) -> None:
        code = (
            "import os, sys; from pathlib import Path; import harness; "
            "s = harness.Server(port=0, env=dict(os.environ), python=sys.executable, tmp=Path('.')); "
            f"harness.seed_history(s, 'heavy@example.com', {entries})"
        )
        subprocess.run([server.python, "-c", code], cwd=other / "bench", env=server.env, check=True)
        with_key(server)

    return prepare


def against(other: Path, seconds: int, entries: int, rounds: int) -> str:
    """Balance, statement and ingestion on this tree and on `other`, rounds alternating; the cost
    is the median over rounds of after's ratio over before's ratio in the same round."""
    paths = {
        "balance": f"/api/v1/customers/{HEAVY}/balance",
        "statement (20 newest of 10,000)": f"/api/v1/customers/{HEAVY}/statement",
    }
    ratios: dict[tuple[str, str], list[float]] = {}
    rates: dict[tuple[str, str], list[float]] = {}
    with (
        sqlite_server(prepare=seed(entries)) as here,
        sqlite_server(prepare=seed_other(other, entries), PYTHONPATH=str(other / "backend")) as there,
    ):
        trees = (("before", there), ("after", here))
        for name, server in trees:
            auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
            for path in paths.values():
                if (status := server.get(server.platform_host, path, auth)) != 200:
                    raise BenchError(f"{name}: {path} answered {status}")
                server.wrk(server.platform_host, path, 1, headers=auth)
        for round_no in range(1, rounds + 1):
            for name, server in trees if round_no % 2 else trees[::-1]:
                auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
                base = server.wrk(server.platform_host, "/healthz", seconds)
                measured = {
                    label: server.wrk(server.platform_host, path, seconds, headers=auth)
                    for label, path in paths.items()
                }
                measured["ingestion"] = ingest(server, seconds, f"a{round_no}")
                for label, r in measured.items():
                    if r.errors:
                        raise BenchError(f"{name}: {label} had {r.errors} errors")
                    ratios.setdefault((name, label), []).append(r.rps / base.rps)
                    rates.setdefault((name, label), []).append(r.rps)
                print(
                    f"round {round_no} {name}: trivial {base.rps:,.0f}/s, "
                    + ", ".join(f"{k} {v.rps:,.0f}/s" for k, v in measured.items()),
                    file=sys.stderr,
                )
    lines = [
        f"| endpoint | before: ratio to trivial (req/s) | after: ratio to trivial (req/s) "
        f"| after / before (median of {rounds} rounds) |",
        "|---|---:|---:|---:|",
    ]
    for label in (*paths, "ingestion"):
        b, a = (statistics.median(ratios[(n, label)]) for n in ("before", "after"))
        rb, ra = (statistics.median(rates[(n, label)]) for n in ("before", "after"))
        pairs = zip(ratios[("after", label)], ratios[("before", label)], strict=True)
        paired = statistics.median(after / before for after, before in pairs)
        lines.append(f"| {label} | {b:.3f} ({rb:,.0f}) | {a:.3f} ({ra:,.0f}) | {paired:.2f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/retorno_bench_ingest",
        help="ingestion on PostgreSQL too, in this database (dropped and made afresh); '' for none",
    )
    p.add_argument("--only-durability", action="store_true", help="only FULL against NORMAL")
    p.add_argument("--against", type=Path, help="a checkout of another revision to compare with")
    p.add_argument("--rounds", type=int, default=7, help="rounds of --against")
    args = p.parse_args()
    if args.against:
        print(against(args.against.resolve(), args.seconds, args.entries, args.rounds))
        return 0
    if not args.only_durability:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(sqlite_server(prepare=seed(args.entries)))
            postgres = None
            if args.postgres:
                fresh_postgres(args.postgres)
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="retorno-bench-pg-")))
                postgres = stack.enter_context(app_server(args.postgres, tmp, prepare=with_key))
            floors = stack.enter_context(floor_servers())
            print(measure(server, floors, args.seconds, postgres))
    print(durability(args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
