"""Lighthouse (npm, mobile defaults: a Moto G-class phone on slow 4G, simulated) against the shopper's
app: home and statement signed in, and regulations, for both demo brands. Prints performance,
accessibility and best-practices scores; targets 100 / 100 / 100 (issue 15).

    make lighthouse          (installs bench/lighthouse/node_modules with npm ci, then runs this)
    .venv/bin/python bench/lighthouse.py [--runs 1]

Uses Debian's Chromium (CHROME_PATH=/usr/bin/chromium). The server is a throw-away SQLite one, as
in the other benchmarks, with a shopper of each brand who has 10 sales; Lighthouse sends that
shopper's session cookie (--extra-headers).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from harness import REPO, BenchError, Server, seed_history, session_cookie, sqlite_server

LIGHTHOUSE = REPO / "bench" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
BRANDS = ["bella", "mare"]
SHOPPER = "lighthouse@example.com"
PAGES = [
    ("home (signed in)", "/"),
    ("statement (signed in)", "/statement"),
    ("vouchers (signed in)", "/vouchers"),
    ("regulations", "/regulations"),
]
CATEGORIES = ["performance", "accessibility", "best-practices"]
TARGETS = {"performance": 100, "accessibility": 100, "best-practices": 100}
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run --disable-quic"
)


def prepare(server: Server) -> None:
    for slug in BRANDS:
        seed_history(server, SHOPPER, 10, slug=slug)


def run(url: str, cookie: str, out: Path) -> dict:
    """One Lighthouse run; the category scores (0-100) and the failed audits that cost points."""
    cmd = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--extra-headers={json.dumps({'Cookie': cookie})}",
    ]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        raise BenchError(f"lighthouse failed on {url}:\n{done.stderr[-3000:]}")
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise BenchError(f"lighthouse on {url}: {report['runtimeError']}")
    if report["finalDisplayedUrl"].split("?")[0] != url:
        raise BenchError(f"{url} ended on {report['finalDisplayedUrl']} (signed out?)")
    scores = {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}
    lost = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                lost.append(f"{category}: {ref['id']} ({audit['score']})")
    metrics = report["audits"]
    return {
        **scores,
        "lcp_ms": metrics["largest-contentful-paint"]["numericValue"],
        "bytes": metrics["total-byte-weight"]["numericValue"],
        "lost": lost,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1, help="runs per page; the median score is reported")
    p.add_argument("--keep", type=Path, help="a folder to keep each page's Lighthouse JSON report in")
    p.add_argument("--only", help="only the pages whose path is this (e.g. /regulations)")
    args = p.parse_args()
    if not LIGHTHOUSE.exists():
        raise BenchError(f"{LIGHTHOUSE} is missing: run `make lighthouse` (npm ci in bench/lighthouse)")
    rows, misses = [], []
    with sqlite_server(prepare=prepare) as server:
        for slug in BRANDS:
            cookie = session_cookie(server, SHOPPER, slug=slug)
            for label, path in PAGES:
                if args.only and path != args.only:
                    continue
                url = f"http://{server.brand_host(slug)}{path}"
                folder = args.keep or server.tmp
                folder.mkdir(parents=True, exist_ok=True)
                name = path.strip("/") or "home"
                results = [run(url, cookie, folder / f"lh-{slug}-{name}-{i}.json") for i in range(args.runs)]
                median = {
                    c: statistics.median(r[c] for r in results) for c in [*CATEGORIES, "lcp_ms", "bytes"]
                }
                rows.append((slug, label, median))
                for category, target in TARGETS.items():
                    if median[category] < target:
                        misses.append(f"{slug} {label}: {category} {median[category]:.0f} < {target}")
                for lost in sorted({x for r in results for x in r["lost"]}):
                    print(f"{slug} {label}: {lost}", file=sys.stderr)
    print("| brand | page | performance | accessibility | best practices | LCP (simulated) | bytes |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for slug, label, m in rows:
        print(
            f"| {slug} | {label} | {m['performance']:.0f} | {m['accessibility']:.0f} | "
            f"{m['best-practices']:.0f} | {m['lcp_ms'] / 1000:.1f} s | {m['bytes'] / 1024:.0f} KB |"
        )
    for miss in misses:
        print(f"below target: {miss}", file=sys.stderr)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
