"""Integration API under load, as ratios to a trivial JSON endpoint of the same server, same run.

Measures the balance and statement of a customer with 10,000 ledger entries, and sale ingestion
(unique orders, 8 concurrent clients) with p50/p99 latency and error counts, on SQLite. Targets:
statement >= 0.30 and ingestion >= 0.05 of the trivial endpoint, ingestion with 0 errors and
p99 <= 500 ms.

    .venv/bin/python bench/api.py [--seconds 5] [--entries 10000]

Needs `wrk` and `taskset` on the PATH (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from harness import BenchError, Result, Server, seed_history, sqlite_server

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
        server.key = server.cli("apikeys", "create", "bella", "--name", "bench").strip().splitlines()[-1]

    return prepare


def measure(server: Server, seconds: int) -> str:
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

    results: dict[str, list[Result]] = {"trivial": [], **{label: [] for label, _ in reads}, "ingestion": []}
    ratios: dict[str, list[float]] = {label: [] for label in results if label != "trivial"}
    for round_no in range(1, ROUNDS + 1):
        base = server.wrk(api, "/healthz", seconds, latency=True)
        results["trivial"].append(base)
        for label, path in reads:
            r = server.wrk(api, path, seconds, headers=auth, latency=True)
            results[label].append(r)
            ratios[label].append(r.rps / base.rps)
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
        print(
            f"round {round_no}: " + ", ".join(f"{k} {v[-1].rps:,.0f}/s" for k, v in results.items()),
            file=sys.stderr,
        )

    targets = {"statement (20 newest of 10,000)": 0.30, "ingestion": 0.05}
    lines = [
        "| endpoint | ratio to trivial (median of 3) | req/s (median) | p50 ms | p99 ms | errors | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, runs in results.items():
        ratio = statistics.median(ratios[label]) if label in ratios else 1.0
        p50 = statistics.median(r.p50_ms for r in runs if r.p50_ms is not None)
        p99 = statistics.median(r.p99_ms for r in runs if r.p99_ms is not None)
        errors = sum(r.errors for r in runs)
        target = targets.get(label)
        verdict = "" if target is None else (f">= {target:.2f}: " + ("met" if ratio >= target else "NOT met"))
        if label == "ingestion":
            verdict += ", p99 <= 500 ms: " + ("met" if p99 <= 500 and errors == 0 else "NOT met")
        lines.append(
            f"| {label} | {ratio:.2f} | {statistics.median(r.rps for r in runs):,.0f} | {p50:.1f} | "
            f"{p99:.1f} | {errors} | {verdict} |"
        )
    return "\n".join(lines)


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
                auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
                script = server.tmp / "ingest.lua"
                script.write_text(INGEST_LUA)
                base = server.wrk(server.platform_host, "/healthz", seconds)
                r = server.wrk(
                    server.platform_host,
                    "/api/v1/sales",
                    seconds,
                    connections=8,
                    headers=auth,
                    script=script,
                    script_args=[f"d{round_no}"],
                )
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--only-durability", action="store_true", help="only FULL against NORMAL")
    args = p.parse_args()
    if not args.only_durability:
        with sqlite_server(prepare=seed(args.entries)) as server:
            print(measure(server, args.seconds))
    print(durability(args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
