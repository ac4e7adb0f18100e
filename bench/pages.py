"""HTTP throughput of real brand pages, as ratios to a trivial endpoint of the same server, same run.

A throw-away SQLite database gets the demo brands; the server runs pinned to CPU 0 and wrk to
CPU 1 (see harness.py). Each of three rounds measures the baseline (`/healthz` on the platform
host) and then every page on a brand host, so each ratio pairs a page with a baseline measured
moments before. The table shows the median of the three ratios and the median requests per second.

    .venv/bin/python bench/pages.py [--seconds 5]      (or: make bench)
"""

from __future__ import annotations

import argparse
import statistics
import sys

from harness import BenchError, Server, sqlite_server

ROUNDS = 3
BRAND = "bella"
BASELINE = ("JSON hello `/healthz` (platform host, no query)", "/healthz")
PAGES = [
    ("home `/` (brand by host + Jinja page)", "/"),
    ("`/manifest.webmanifest` (JSON)", "/manifest.webmanifest"),
    ("`/assets/icon-192.png?v=1` (a query + PNG)", "/assets/icon-192.png?v=1"),
    ("`/theme.css?v=1` (CSS)", "/theme.css?v=1"),
]


def measure(server: Server, seconds: int) -> str:
    platform, brand = server.platform_host, server.brand_host(BRAND)
    for path in [p for _, p in PAGES]:  # each page answers 200 before it is measured, then a warm-up
        if (status := server.get(brand, path)) != 200:
            raise BenchError(f"{brand}{path} answered {status}, not 200")
        server.wrk(brand, path, 1)
    server.wrk(platform, BASELINE[1], 1)

    rps: dict[str, list[float]] = {path: [] for path in [BASELINE[1], *(p for _, p in PAGES)]}
    ratios: dict[str, list[float]] = {path: [] for _, path in PAGES}
    for round_no in range(1, ROUNDS + 1):
        base = server.wrk(platform, BASELINE[1], seconds).rps
        rps[BASELINE[1]].append(base)
        for _, path in PAGES:
            page = server.wrk(brand, path, seconds)
            if page.errors:
                raise BenchError(f"{page.errors} errors on {brand}{path}")
            rps[path].append(page.rps)
            ratios[path].append(page.rps / base)
        print(f"round {round_no}: baseline {base:,.0f} req/s", file=sys.stderr)

    lines = [
        "| path | ratio to baseline (median of 3) | per-round ratios | req/s (median) |",
        "|---|---:|---|---:|",
        f"| {BASELINE[0]} | 1.00 | — | {statistics.median(rps[BASELINE[1]]):,.0f} |",
    ]
    for label, path in PAGES:
        per_round = ", ".join(f"{r:.2f}" for r in ratios[path])
        lines.append(
            f"| {label} | {statistics.median(ratios[path]):.2f} | {per_round} | "
            f"{statistics.median(rps[path]):,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5, help="length of each measurement (default 5)")
    args = p.parse_args()
    with sqlite_server() as server:
        print(measure(server, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
