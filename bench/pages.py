"""HTTP throughput of real brand pages, as ratios to bare Litestar and to `/healthz`, same run.

A throw-away SQLite database gets the demo brands; the server runs pinned to CPU 0 and wrk to
CPU 1 (see harness.py), and so do the floor apps of bench/floor.py (a bare Litestar JSON hello and
a raw ASGI one). Each of three rounds measures the floors, the baseline (`/healthz` on the
platform host) and then every page on a brand host, so each ratio pairs a page with a floor
measured moments before. The table shows the median of the three ratios and of the req/s.

Signed-in pages are measured for a shopper with 10 ledger entries and one with 10,000: the two
ratios should match, as home and statement read only the newest entries and live credits.

    .venv/bin/python bench/pages.py [--seconds 5] [--entries 10000]      (or: make bench)
"""

from __future__ import annotations

import argparse
import statistics
import sys

from harness import (
    BenchError,
    Server,
    floor_servers,
    measure_floors,
    seed_history,
    session_cookie,
    sqlite_server,
)

ROUNDS = 3
BRAND = "bella"
BASELINE = ("JSON hello `/healthz` (platform host, no query)", "/healthz")
LIGHT, HEAVY = "light@example.com", "heavy@example.com"
PAGES = [
    ("home `/` signed out (brand by host + Jinja page)", "/"),
    ("home `/` signed in, 10 entries", "/", LIGHT),
    ("home `/` signed in, 10,000 entries", "/", HEAVY),
    ("`/statement` signed in, 10 entries", "/statement", LIGHT),
    ("`/statement` signed in, 10,000 entries", "/statement", HEAVY),
    ("`/manifest.webmanifest` (JSON)", "/manifest.webmanifest"),
    ("`/assets/icon-192.png?v=1` (a query + PNG)", "/assets/icon-192.png?v=1"),
    ("`/theme.css?v=1` (CSS)", "/theme.css?v=1"),
]


def prepare(entries: int):
    """Two shoppers of bella: one with 10 sales, one with `entries` (each sale is one ledger entry)."""

    def seed(server: Server) -> None:
        seed_history(server, LIGHT, 10)
        seed_history(server, HEAVY, entries)

    return seed


# Issue 21's targets, as ratios to bare Litestar (the same run, the same core).
TARGETS = {
    BASELINE[0]: 0.85,
    PAGES[0][0]: 0.55,
    PAGES[2][0]: 0.25,
    PAGES[4][0]: 0.20,
}


def measure(server: Server, floors: dict[str, Server], seconds: int) -> str:
    platform, brand = server.platform_host, server.brand_host(BRAND)
    cookies = {email: {"Cookie": session_cookie(server, email)} for email in (LIGHT, HEAVY)}
    pages = [(label, path, cookies[who[0]] if who else {}) for label, path, *who in PAGES]
    for label, path, headers in pages:  # each page answers 200 before it is measured, then a warm-up
        if (status := server.get(brand, path, headers)) != 200:
            raise BenchError(f"{brand}{path} ({label}) answered {status}, not 200")
        server.wrk(brand, path, 1, headers=headers)
    server.wrk(platform, BASELINE[1], 1)
    measure_floors(floors, 1)

    labels = [*floors, BASELINE[0], *(p[0] for p in pages)]
    rps: dict[str, list[float]] = {label: [] for label in labels}
    to_floor: dict[str, list[float]] = {label: [] for label in labels}
    to_base: dict[str, list[float]] = {label: [] for label in labels}
    for round_no in range(1, ROUNDS + 1):
        now = measure_floors(floors, seconds)
        now[BASELINE[0]] = server.wrk(platform, BASELINE[1], seconds).rps
        for label, path, headers in pages:
            page = server.wrk(brand, path, seconds, headers=headers)
            if page.errors:
                raise BenchError(f"{page.errors} errors on {brand}{path} ({label})")
            now[label] = page.rps
        for label, value in now.items():
            rps[label].append(value)
            to_floor[label].append(value / now["bare Litestar"])
            to_base[label].append(value / now[BASELINE[0]])
        print(
            f"round {round_no}: " + ", ".join(f"{k} {now[k]:,.0f}/s" for k in (*floors, BASELINE[0])),
            file=sys.stderr,
        )

    lines = [
        "| path | ratio to bare Litestar (median of 3) | per round | ratio to `/healthz` (median of 3) "
        "| req/s (median) | target (to bare Litestar) |",
        "|---|---:|---|---:|---:|---|",
    ]
    for label in labels:
        ratio = statistics.median(to_floor[label])
        target = TARGETS.get(label)
        verdict = "" if target is None else f">= {target:.2f}: " + ("met" if ratio >= target else "NOT met")
        lines.append(
            f"| {label} | {ratio:.2f} | {', '.join(f'{r:.2f}' for r in to_floor[label])} | "
            f"{statistics.median(to_base[label]):.2f} | {statistics.median(rps[label]):,.0f} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5, help="length of each measurement (default 5)")
    p.add_argument("--entries", type=int, default=10_000, help="ledger entries of the heavy shopper")
    args = p.parse_args()
    with sqlite_server(prepare=prepare(args.entries)) as server, floor_servers() as floors:
        print(measure(server, floors, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
