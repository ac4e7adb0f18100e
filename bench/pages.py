"""HTTP throughput of real pages, as ratios to a trivial endpoint of the same server in the same run.

A throw-away SQLite database gets the demo brands; the server runs pinned to CPU 0 and wrk to
CPU 1. Each of three rounds measures the baseline (`/healthz` on the platform host) and then every
page on a brand host, so each ratio pairs a page with a baseline measured moments before. The
table shows the median of the three ratios and the median requests per second.

    .venv/bin/python bench/pages.py [--seconds 5]      (or: make bench)

Standard library only; needs `wrk` and `taskset` on the PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
WARMUP_SECONDS = 1
SERVER_CPU, LOAD_CPU = "0", "1"

# (label, path, on the brand host?)
BASELINE = ("JSON hello `/healthz` (platform host, no query)", "/healthz", False)
PAGES = [
    ("home `/` (host→brand query + Jinja page)", "/", True),
    ("`/manifest.webmanifest` (query + JSON)", "/manifest.webmanifest", True),
    ("`/assets/icon-192.png?v=1` (two queries + PNG)", "/assets/icon-192.png?v=1", True),
    ("`/theme.css?v=1` (query + CSS)", "/theme.css?v=1", True),
]
BRAND = "bella"

_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, host: str, path: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def wait_ready(server: subprocess.Popen, port: int, host: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"the server exited with code {server.returncode} before answering")
        try:
            if get(port, host, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"no 200 from /healthz on port {port} within {timeout:.0f} s")


def wrk(port: int, host: str, path: str, seconds: int) -> float:
    """Requests per second; raises if wrk saw an error response or a socket error."""
    cmd = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        "-c16",
        f"-d{seconds}s",
        "-H",
        f"Host: {host}",
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise BenchError(f"wrk exited with {out.returncode} on {host}{path}:\n{text}")
    rps, total = _RPS.search(text), _TOTAL.search(text)
    if rps is None or total is None or int(total.group(1)) == 0:
        raise BenchError(f"no requests completed on {host}{path}:\n{text}")
    non_2xx = _NON_2XX.search(text)
    if non_2xx and int(non_2xx.group(1)):
        raise BenchError(f"{non_2xx.group(1)} non-2xx/3xx responses on {host}{path}:\n{text}")
    sock = _SOCKET.search(text)
    if sock and any(int(n) for n in sock.groups()):
        raise BenchError(f"socket errors on {host}{path}:\n{text}")
    return float(rps.group(1))


def run(python: str, seconds: int) -> str:
    port = free_port()
    platform_host, brand_host = f"localhost:{port}", f"{BRAND}.localhost:{port}"
    with tempfile.TemporaryDirectory(prefix="retorno-bench-") as tmp:
        env = {
            **os.environ,
            "RETORNO_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "RETORNO_BASE_HOST": platform_host,
            "RETORNO_ENV": "development",
        }
        subprocess.run([python, "-m", "retorno", "demo"], env=env, cwd=REPO, check=True, capture_output=True)
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    SERVER_CPU,
                    python,
                    "-m",
                    "retorno",
                    "serve",
                    "--port",
                    str(port),
                    "--quiet",
                ],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_ready(server, port, platform_host)
                return measure(port, platform_host, brand_host, seconds)
            except BaseException:
                log.flush()
                sys.stderr.write(f"--- server log ---\n{log_path.read_text(errors='replace')[-4000:]}\n")
                raise
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def measure(port: int, platform_host: str, brand_host: str, seconds: int) -> str:
    targets = [BASELINE, *PAGES]

    def host_of(on_brand: bool) -> str:
        return brand_host if on_brand else platform_host

    for _, path, on_brand in targets:  # each path answers 200 before it is measured, then a warm-up
        status, content_type = get(port, host_of(on_brand), path)
        if status != 200:
            raise BenchError(f"{host_of(on_brand)}{path} answered {status}, not 200")
        print(f"warm-up {host_of(on_brand)}{path} ({content_type})", file=sys.stderr)
        wrk(port, host_of(on_brand), path, WARMUP_SECONDS)

    rps: dict[str, list[float]] = {path: [] for _, path, _ in targets}
    ratios: dict[str, list[float]] = {path: [] for _, path, _ in PAGES}
    for round_no in range(1, ROUNDS + 1):
        base = wrk(port, platform_host, BASELINE[1], seconds)
        rps[BASELINE[1]].append(base)
        print(f"round {round_no}: baseline {base:,.0f} req/s", file=sys.stderr)
        for _, path, on_brand in PAGES:
            page = wrk(port, host_of(on_brand), path, seconds)
            rps[path].append(page)
            ratios[path].append(page / base)
            print(f"round {round_no}: {path} {page:,.0f} req/s = {page / base:.2f}x", file=sys.stderr)

    lines = [
        "| path | ratio to baseline (median of 3) | per-round ratios | req/s (median) |",
        "|---|---:|---|---:|",
        f"| {BASELINE[0]} | 1.00 | — | {statistics.median(rps[BASELINE[1]]):,.0f} |",
    ]
    for label, path, _ in PAGES:
        per_round = ", ".join(f"{r:.2f}" for r in ratios[path])
        lines.append(
            f"| {label} | {statistics.median(ratios[path]):.2f} | {per_round} | "
            f"{statistics.median(rps[path]):,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5, help="length of each measurement (default 5)")
    p.add_argument("--python", default=sys.executable, help="the interpreter that has retorno installed")
    args = p.parse_args()
    try:
        table = run(args.python, args.seconds)
    except (BenchError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None)
        print(f"bench failed: {exc}", file=sys.stderr)
        if detail:
            print(detail.decode(errors="replace") if isinstance(detail, bytes) else detail, file=sys.stderr)
        return 1
    print(
        f"\nwrk -t1 -c16 -d{args.seconds}s, server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}, "
        f"{ROUNDS} interleaved rounds\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
