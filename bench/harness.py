"""What the benchmarks share: a throw-away server pinned to one core, and wrk pinned to the other
(or, for bench/scale.py, several app processes and wrk all sharing both cores, on PostgreSQL).

Figures are ratios to a trivial endpoint of the same server measured moments before, the median
of three rounds: these machines are too noisy for absolute numbers to mean much.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
SERVER_CPU, LOAD_CPU = "0", "1"

_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class BenchError(RuntimeError):
    pass


@dataclass
class Result:
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0


@dataclass
class Server:
    port: int
    env: dict[str, str]
    python: str
    tmp: Path
    process: subprocess.Popen | None = field(default=None)
    key: str = ""  # an integration API key, where a benchmark made one
    load_cpus: str | None = LOAD_CPU  # where wrk runs (None: wherever the kernel puts it)

    @property
    def platform_host(self) -> str:
        return f"localhost:{self.port}"

    def brand_host(self, slug: str) -> str:
        return f"{slug}.localhost:{self.port}"

    def cli(self, *args: str) -> str:
        """Run `retorno <args>` against this server's database; its standard output."""
        done = subprocess.run(
            [self.python, "-m", "retorno", *args],
            env=self.env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def get(self, host: str, path: str, headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Host": host, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def wrk(
        self,
        host: str,
        path: str,
        seconds: int,
        *,
        connections: int = 16,
        threads: int = 1,
        headers: dict[str, str] | None = None,
        script: Path | None = None,
        script_args: list[str] | None = None,
        latency: bool = False,
    ) -> Result:
        """Requests per second (and latency percentiles); raises on any error response or socket error."""
        cmd = [
            *(["taskset", "-c", self.load_cpus] if self.load_cpus else []),
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            f"Host: {host}",
        ]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        if latency:
            cmd.append("--latency")
        if script is not None:
            cmd += ["-s", str(script)]
        cmd.append(f"http://127.0.0.1:{self.port}{path}")
        if script_args:
            cmd += ["--", *script_args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        text = out.stdout + out.stderr
        if out.returncode != 0:
            raise BenchError(f"wrk exited with {out.returncode} on {host}{path}:\n{text}")
        rps, total = _RPS.search(text), _TOTAL.search(text)
        if rps is None or total is None or int(total.group(1)) == 0:
            raise BenchError(f"no requests completed on {host}{path}:\n{text}")
        errors = 0
        if non_2xx := _NON_2XX.search(text):
            errors += int(non_2xx.group(1))
        if sock := _SOCKET.search(text):
            errors += sum(int(n) for n in sock.groups())
        percentiles = {p: float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(text)}
        return Result(float(rps.group(1)), percentiles.get("50"), percentiles.get("99"), errors)


def seed_history(server: Server, email: str, entries: int, slug: str = "bella") -> None:
    """Give one customer `entries` sales (each one credit entry), straight through the ledger service,
    then run `retorno sweep` as the worker would (expired credits are written off)."""
    import asyncio
    import datetime as dt

    from retorno import db
    from retorno.brands import service as brands
    from retorno.customers.service import Identity
    from retorno.sales import orders
    from retorno.settings import load_settings

    async def work() -> None:
        async with db.connected(db.make_engine(load_settings(server.env))):
            brand = await brands.get_brand(slug)
            start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            for i in range(entries):
                at = start + dt.timedelta(minutes=i)
                sale = orders.SaleIn(
                    order_id=f"seed-{email}-{i}",
                    customer=Identity(email=email),
                    total=1000 + i % 5000,
                    occurred_at=at,
                )
                await orders.record(brand=brand, sale=sale, now=at)

    asyncio.run(work())
    server.cli("sweep")


def session_cookie(server: Server, email: str, slug: str = "bella") -> str:
    """A `Cookie` header signing `email` in on `slug`'s host (a session made as sign-in makes one)."""
    import asyncio
    import datetime as dt

    from retorno import db
    from retorno.auth import sessions
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.settings import load_settings
    from retorno.signin.guards import session_cookie as cookie_name

    settings = load_settings(server.env)

    async def work() -> str:
        async with db.connected(db.make_engine(settings)):
            brand = await brands.get_brand(slug)
            customer = await customers.lookup(brand.id, customers.Identity(email=email))
            return await sessions.start_session(
                brand_id=brand.id, customer_id=customer.id, now=dt.datetime.now(dt.UTC)
            )

    return f"{cookie_name(settings)}={asyncio.run(work())}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sqlite_server(python: str = sys.executable, prepare=None, **settings: str) -> Iterator[Server]:
    """`retorno demo` on a fresh SQLite file, `prepare(server)` for seeding, then `retorno serve` on CPU 0
    (`settings`: RETORNO_* variables for this server, e.g. RETORNO_SQLITE_SYNCHRONOUS="NORMAL")."""
    with tempfile.TemporaryDirectory(prefix="retorno-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        with app_server(url, Path(tmp), python=python, prepare=prepare, **settings) as server:
            yield server


@contextlib.contextmanager
def app_server(
    database_url: str,
    tmp: Path,
    *,
    python: str = sys.executable,
    prepare=None,
    workers: int | None = None,
    server_cpus: str | None = SERVER_CPU,
    load_cpus: str | None = LOAD_CPU,
    **settings: str,
) -> Iterator[Server]:
    """`retorno demo` on `database_url`, `prepare(server)` for seeding (None: the database is ready,
    no demo), then `retorno serve` on `server_cpus` (None: not pinned); with `workers`, `--workers N
    --no-worker` (else one process that runs the worker too, as in development)."""
    port = _free_port()
    env = {
        **os.environ,
        "RETORNO_DATABASE_URL": database_url,
        "RETORNO_BASE_HOST": f"localhost:{port}",
        "RETORNO_ENV": "test",  # as production serves: templates read once, no development pages
        **settings,
    }
    server = Server(port=port, env=env, python=python, tmp=tmp, load_cpus=load_cpus)
    if prepare is not None:
        server.cli("demo")
        prepare(server)
    log_path = tmp / f"server-{port}.log"
    serve = [python, "-m", "retorno", "serve", "--port", str(port), "--quiet"]
    if workers is not None:
        serve += ["--workers", str(workers), "--no-worker"]
    with log_path.open("wb") as log:
        server.process = subprocess.Popen(
            [*(["taskset", "-c", server_cpus] if server_cpus else []), *serve],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(server)
            yield server
        except BaseException:
            log.flush()
            sys.stderr.write(f"--- server log ---\n{log_path.read_text(errors='replace')[-4000:]}\n")
            raise
        finally:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def fresh_postgres(url: str) -> None:
    """Drop the PostgreSQL database of `url` if it exists and create it empty."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    host, port, user = parts.hostname or "127.0.0.1", str(parts.port or 5432), parts.username or "postgres"
    where = ["-h", host, "-p", port, "-U", user]
    subprocess.run(["dropdb", *where, "--if-exists", "--force", name], check=True, capture_output=True)
    subprocess.run(["createdb", *where, name], check=True, capture_output=True)


FLOORS = {"bare Litestar": "floor:litestar_app", "raw ASGI": "floor:asgi_app"}


@contextlib.contextmanager
def floor_servers(
    *, python: str = sys.executable, server_cpus: str | None = SERVER_CPU, load_cpus: str | None = LOAD_CPU
) -> Iterator[dict[str, Server]]:
    """bench/floor.py's two apps under uvicorn, pinned as the app server is (idle while it is
    measured): {"bare Litestar": server, "raw ASGI": server}, each answering GET /."""
    with contextlib.ExitStack() as stack:
        servers = {}
        for name, target in FLOORS.items():
            port = _free_port()
            command = [python, "-m", "uvicorn", target, "--app-dir", str(REPO / "bench"), "--port", str(port)]
            command += [
                "--log-level",
                "warning",
                "--no-access-log",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ]
            process = subprocess.Popen(
                [*(["taskset", "-c", server_cpus] if server_cpus else []), *command], cwd=REPO
            )
            server = Server(port=port, env={}, python=python, tmp=REPO, process=process, load_cpus=load_cpus)
            stack.callback(_stop, process)
            _wait_ready(server, path="/")
            servers[name] = server
        yield servers


def measure_floors(floors: dict[str, Server], seconds: int) -> dict[str, float]:
    """Requests per second of each floor app, now (call it in each round, beside the baseline)."""
    return {name: server.wrk(server.platform_host, "/", seconds).rps for name, server in floors.items()}


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(server: Server, timeout: float = 30.0, path: str = "/healthz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"the server exited with code {server.process.returncode} before answering")
        with contextlib.suppress(OSError):
            if server.get(server.platform_host, path) == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"no 200 from {path} on port {server.port} within {timeout:.0f} s")
