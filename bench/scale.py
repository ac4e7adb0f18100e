"""The integration API with 1 and with 2 app processes, on PostgreSQL, in one run: the ratio of 2 to 1.

Two servers on one database, `retorno serve --workers 1 --no-worker` and `--workers 2
--no-worker`, nothing pinned: the app processes, PostgreSQL and wrk share this machine's cores,
as they would on a small production host. Per endpoint (/healthz, the balance and the statement
of a customer with 10,000 ledger entries, sale ingestion with unique orders and 8 clients, all
seeded as bench/api.py seeds them), req/s of each server and the ratio of 2 to 1 in the same
round, the median of 3 rounds, the servers alternating which goes first. A stateless app gets
close to 2 when nothing else is the limit; to say what the limit is, each measurement also
records the CPU it cost, in cores: the app processes, this database's PostgreSQL backends, wrk,
and the whole machine (what is left is other load: PostgreSQL's own background processes, other
work on the machine).

    .venv/bin/python bench/scale.py [--seconds 5] [--entries 10000] [--fresh] [--sqlite]

The database (retorno_bench_scale on 127.0.0.1:5432 by default, `--postgres URL` for another) is
created and seeded when missing (about 2 minutes) and reused by later runs (`--fresh` seeds it
again). `--sqlite` measures SQLite the same way after it, on a fresh file.
Needs `wrk`, `createdb`, `dropdb` and `psql` on the PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from api import HEAVY, ingest, seed
from harness import BenchError, Result, Server, app_server, fresh_postgres

ROUNDS = 3
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/retorno_bench_scale"
_TICK = os.sysconf("SC_CLK_TCK")
RUN = int(time.time())


@dataclass
class Cpu:
    """CPU time over one measurement, in cores (CPU seconds per second of wall time)."""

    app: float
    database: float
    wrk: float
    machine: float

    def __str__(self) -> str:
        other = max(0.0, self.machine - self.app - self.database - self.wrk)
        return f"{self.app:.2f} / {self.database:.2f} / {self.wrk:.2f} / {other:.2f}"


def _ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _descendants(pid: int) -> list[int]:
    found = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += _descendants(int(child))
    return found


def _backends(database: str | None) -> list[int]:
    """PostgreSQL's backends serving `database` (titled `postgres: [cluster: ]user database host …`)."""
    if database is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres: ") and f" {database} " in title:
                found.append(int(entry.name))
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def measured(server: Server, database: str | None, run: Callable[[], Result]) -> tuple[Result, Cpu]:
    """`run()` (a wrk run) and the CPU each party spent meanwhile."""
    ncpu = os.cpu_count() or 1
    assert server.process is not None
    app_before = {pid: _ticks(pid) for pid in _descendants(server.process.pid)}
    db_before = {pid: _ticks(pid) for pid in _backends(database)}
    busy_before, total_before = _machine_busy()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = run()
    wall = time.monotonic() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, total = _machine_busy()
    app = sum(_ticks(pid) - app_before.get(pid, 0) for pid in _descendants(server.process.pid))
    db = sum(_ticks(pid) - db_before.get(pid, 0) for pid in _backends(database))
    wrk = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    machine = ncpu * (busy - busy_before) / max(1, total - total_before)
    return result, Cpu(app / _TICK / wall, db / _TICK / wall, wrk / wall, machine)


def _psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True).stdout


def postgres_seeded(url: str, entries: int, fresh: bool) -> bool:
    """Whether the bench's database already holds the seeded customer (a run before this one made
    it); if not, or with `fresh`, drop it if it exists and create it empty."""
    if not fresh:
        with contextlib.suppress(subprocess.CalledProcessError):
            found = _psql(
                url,
                "SELECT COUNT(*) FROM ledger_entries e JOIN customers c ON c.id = e.customer "
                f"WHERE c.email = '{HEAVY.removeprefix('email:')}'",
            )
            if int(found or 0) >= entries:
                return True
    fresh_postgres(url)
    return False


def analysed(prepare: Callable[[Server], None], url: str) -> Callable[[Server], None]:
    """`prepare`, then ANALYZE on PostgreSQL: a freshly seeded database has no statistics until
    autovacuum comes by, and without them the planner reads the statement's 20 entries by bitmap
    scans of all the brand's (16 ms instead of 0.1 ms); a database in service has them."""

    def run(server: Server) -> None:
        start = time.monotonic()
        prepare(server)
        if url.startswith("postgresql://"):
            _psql(url, "ANALYZE")
        print(f"prepared (seeded, key, ANALYZE) in {time.monotonic() - start:.0f} s", file=sys.stderr)

    return run


@contextlib.contextmanager
def two_servers(url: str, tmp: Path, entries: int, seeded: bool) -> Iterator[tuple[Server, Server]]:
    """One database seeded once (the demo brands, the heavy customer; unless `seeded` already) and
    an API key, served by a 1-process and a 2-process `retorno serve`, neither pinned."""
    common: dict = {"server_cpus": None, "load_cpus": None}
    prepare = analysed(seed(0 if seeded else entries), url)
    with app_server(url, tmp, prepare=prepare, workers=1, **common) as one:
        with app_server(url, tmp, workers=2, **common) as two:
            two.key = one.key
            yield one, two


def endpoints(server: Server, seconds: int, round_name: str) -> dict[str, Callable[[], Result]]:
    auth = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    api = server.platform_host
    # Many clients, connecting at once from two threads: uvicorn's processes share one listening
    # socket, and 16 connections opened in a burst by one thread often all land on one process
    # (seen here: one process at 100% CPU, the other idle, the same ratio as a single process).
    crowd = {"connections": 64, "threads": 2}
    return {
        "/healthz": lambda: server.wrk(api, "/healthz", seconds, **crowd),
        "balance": lambda: server.wrk(
            api, f"/api/v1/customers/{HEAVY}/balance", seconds, headers=auth, **crowd
        ),
        "statement (20 newest of 10,000)": lambda: server.wrk(
            api, f"/api/v1/customers/{HEAVY}/statement", seconds, headers=auth, **crowd
        ),
        # Order ids new to the database, which later runs reuse.
        "ingestion (8 clients)": lambda: ingest(server, seconds, f"{round_name}-{RUN}-{server.port}"),
    }


def compare(url: str, entries: int, database: str | None, seconds: int, seeded: bool = False) -> str:
    with (
        tempfile.TemporaryDirectory(prefix="retorno-scale-") as tmp,
        two_servers(url, Path(tmp), entries, seeded) as servers,
    ):
        for server in servers:
            auth = {"Authorization": f"Bearer {server.key}"}
            for path in (f"/api/v1/customers/{HEAVY}/balance", f"/api/v1/customers/{HEAVY}/statement"):
                if (status := server.get(server.platform_host, path, auth)) != 200:
                    raise BenchError(f"{path} answered {status}")
            for run in endpoints(server, 1, "warm").values():
                run()
        runs: dict[tuple[int, str], list[tuple[Result, Cpu]]] = {}
        for round_no in range(1, ROUNDS + 1):
            order = servers if round_no % 2 else servers[::-1]
            for processes, server in ((1 if s is servers[0] else 2, s) for s in order):
                for label, run in endpoints(server, seconds, f"r{round_no}").items():
                    result, cpu = measured(server, database, run)
                    runs.setdefault((processes, label), []).append((result, cpu))
                print(
                    f"round {round_no}, {processes} process(es): "
                    + ", ".join(
                        f"{label} {runs[(processes, label)][-1][0].rps:,.0f}/s"
                        for label in endpoints(server, 0, "")
                    ),
                    file=sys.stderr,
                )
    labels = list(endpoints(servers[0], 0, ""))
    lines = [
        "| endpoint | 1 process req/s | 2 processes req/s | 2 / 1 (median of 3) "
        "| CPU, 1 process: app / PostgreSQL / wrk / other | CPU, 2 processes | errors |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for label in labels:
        one, two = runs[(1, label)], runs[(2, label)]
        ratio = statistics.median(b[0].rps / a[0].rps for a, b in zip(one, two, strict=True))
        lines.append(
            f"| {label} | {statistics.median(r.rps for r, _ in one):,.0f} "
            f"| {statistics.median(r.rps for r, _ in two):,.0f} | {ratio:.2f} "
            f"| {_median_cpu(one)} | {_median_cpu(two)} | {sum(r.errors for r, _ in one + two)} |"
        )
    return "\n".join(lines)


def _median_cpu(runs: list[tuple[Result, Cpu]]) -> Cpu:
    return Cpu(
        *(statistics.median(getattr(c, f) for _, c in runs) for f in ("app", "database", "wrk", "machine"))
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--postgres", default=DEFAULT_URL, help="the bench's database (created if missing)")
    p.add_argument("--fresh", action="store_true", help="drop the bench's database and seed it again")
    p.add_argument("--sqlite", action="store_true", help="SQLite too, the same way")
    args = p.parse_args()
    start = time.monotonic()
    print(f"cores: {os.cpu_count()}; load before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    name = urlsplit(args.postgres).path.lstrip("/")
    seeded = postgres_seeded(args.postgres, args.entries, args.fresh)
    print(f"PostgreSQL ({name}{', seeded by an earlier run' if seeded else ''}):")
    print(compare(args.postgres, args.entries, name, args.seconds, seeded))
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="retorno-scale-sqlite-") as tmp:
            print("\nSQLite (CPU of PostgreSQL: none):")
            print(compare(f"sqlite:///{tmp}/scale.sqlite3", args.entries, None, args.seconds))
    print(f"took {time.monotonic() - start:.0f} s; load after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
