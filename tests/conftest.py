"""Test fixtures: a fresh database per test on SQLite (default) or PostgreSQL, the app, brands.

Set RETORNO_TEST_DATABASE_URL=postgresql://.../retorno_test... to run the suite on PostgreSQL: the
suite drops and re-creates the schema of that database, so its name must start with retorno_.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import pytest
from piccolo.engine.postgres import PostgresEngine

from retorno import db
from retorno.brands import service as brands
from retorno.brands.pack import Pack, read_pack
from retorno.onboarding.brand import import_brand
from retorno.settings import PROJECT_ROOT, Settings, load_settings
from tests.pgbouncer import PgBouncer

PG_DIRECT = os.environ.get("RETORNO_TEST_DATABASE_URL", "")
# RETORNO_TEST_PGBOUNCER=1: every connection of the session, the app processes' and the workers'
# too, goes through PgBouncer in transaction pooling mode (tests/pgbouncer.py), with the setting
# that makes asyncpg work there (RETORNO_DATABASE_POOLING, inherited by every process started).
PGBOUNCER = PgBouncer(PG_DIRECT) if PG_DIRECT and os.environ.get("RETORNO_TEST_PGBOUNCER") == "1" else None
PG_URL = PGBOUNCER.url if PGBOUNCER else PG_DIRECT
if PGBOUNCER:
    os.environ["RETORNO_DATABASE_POOLING"] = "transaction"
DATA_KEY = "q7v0bW3Bfl8m1nqGvJkq5bJ1m0c3o2K4r9yq2vT6Xfs"  # a production-shaped RETORNO_DATA_KEY for tests
BASE_HOST = "localhost:8000"
BRANDING = PROJECT_ROOT / "branding"


def pytest_report_header(config: pytest.Config) -> str:
    through = " through PgBouncer (transaction pooling)" if PGBOUNCER else ""
    return f"retorno database engine: {'postgresql' if PG_URL else 'sqlite'}{through}"


def pytest_configure(config: pytest.Config) -> None:
    if PGBOUNCER:
        PGBOUNCER.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if PGBOUNCER:
        PGBOUNCER.stop()


def pg_engine(url: str = PG_URL) -> PostgresEngine:
    """An engine on the test PostgreSQL, as db.make_engine would make it for this session."""
    return PostgresEngine(config={"dsn": url, **({"statement_cache_size": 0} if PGBOUNCER else {})})


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {"RETORNO_DATABASE_URL": database_url, "RETORNO_ENV": "test", "RETORNO_BASE_HOST": BASE_HOST}
    env["RETORNO_DATABASE_POOLING"] = "transaction" if PGBOUNCER else ""
    env.update(overrides)
    return load_settings(env)


async def _reset_postgres(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("retorno_"):
        raise RuntimeError(f"RETORNO_TEST_DATABASE_URL names {name!r}; use a throw-away retorno_* database")
    engine = pg_engine(url)
    await engine._run_in_new_connection("DROP SCHEMA IF EXISTS public CASCADE")
    await engine._run_in_new_connection("CREATE SCHEMA public")
    db.use(engine)
    await db.migrate()


async def _migrate_sqlite(path: Path) -> None:
    engine = db.LocalSQLiteEngine(str(path))
    async with db.connected(engine):
        await db.migrate()
        engine.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrations run once per session; each test starts from a copy (SQLite) or truncation (PG)."""
    if PG_URL:
        asyncio.run(_reset_postgres(PG_URL))
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_migrate_sqlite(path))
    return f"sqlite:///{path}"


@functools.cache
def _empty_every_table() -> str:
    """Every table emptied and its ids back to 1, in one transaction: a DELETE with the foreign
    keys' triggers off (the suite's role may) costs ~5 ms, where TRUNCATE ... CASCADE of 34
    tables cost 110-270 ms a test."""
    tables = [t._meta.tablename for t in db.table_classes() if t._meta.tablename != "migration"]
    return (
        "SET LOCAL session_replication_role = replica; "
        + " ".join(f'DELETE FROM "{t}";' for t in tables)
        + " SELECT "
        + ", ".join(f"setval(pg_get_serial_sequence('\"{t}\"', 'id'), 1, false)" for t in tables)
        + ";"
    )


@pytest.fixture
async def engine(migrated: str, tmp_path: Path) -> AsyncIterator[db.Engine]:
    if PG_URL:
        pg = pg_engine()
        async with db.connected(pg):
            async with pg.pool.acquire() as conn, conn.transaction():
                await conn.execute(_empty_every_table())
            yield pg
        return
    path = tmp_path / "retorno.sqlite3"
    shutil.copyfile(migrated.removeprefix("sqlite:///"), path)
    async with db.connected(db.LocalSQLiteEngine(str(path))) as local:
        yield local


@pytest.fixture
def database_url(engine: db.Engine) -> str:
    if isinstance(engine, db.LocalSQLiteEngine):
        return f"sqlite:///{engine.path}"
    return PG_URL


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@functools.cache
def demo_pack(slug: str) -> Pack:
    """A demo brand's pack, read once per session (decoding the logo is the slow part)."""
    return read_pack(BRANDING / slug)


async def import_demo(settings: Settings, *slugs: str) -> dict[str, brands.BrandView]:
    for slug in slugs or ("bella", "mare"):
        await import_brand(demo_pack(slug), base_host=settings.base_host)
    return {b.slug: b for b in await brands.list_brands()}


@pytest.fixture
async def demo(settings: Settings) -> dict[str, brands.BrandView]:
    """Both demo brands, imported from the packs in branding/."""
    return await import_demo(settings)


class Clock:
    """A clock the test moves by hand: nothing in the app reads the real time, so no test sleeps."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


class Records(logging.Handler):
    """Keeps every log record it is given (the suite may run without pytest's logging plugin)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in self.records]


APP_LOGGERS = ("retorno", "litestar", "uvicorn", "piccolo")
EMAIL_IN_LOG = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture(autouse=True)
def app_log(request) -> Iterator[Records]:
    """Every test's log, at DEBUG; afterwards no sign-in code or session token of that test is in it."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in APP_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    secrets = set()
    app = request.node.funcargs.get("app")
    for message in getattr(getattr(getattr(app, "state", None), "mailer", None), "messages", []):
        secrets.update(re.findall(r"\b\d{6}\b", message.text))
    client = request.node.funcargs.get("client")
    if client is not None:
        secrets.update(c.value for c in client.cookies.jar if c.name.endswith("retorno_session"))
    secrets.update((request.node.funcargs.get("api_keys") or {}).values())
    leaked = [t for t in handler.texts() for secret in secrets if secret in t]
    assert not leaked, f"a code, session token or API key reached the log: {leaked[:3]}"
    addresses = [t for t in handler.texts() if EMAIL_IN_LOG.search(t)]
    assert not addresses, f"an e-mail address reached the log: {addresses[:3]}"


@pytest.fixture(autouse=True)
def development_data_key() -> Iterator[None]:
    """The vault's key is process-wide: a test that configures another (a production app, a
    rotation) leaves the development key behind it."""
    yield
    from retorno import vault

    vault.configure(vault.DEV_KEY)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 11, 10, 15, 0, tzinfo=dt.UTC))


_shared_app: list = []


@pytest.fixture
def app(settings: Settings, engine: db.Engine, clock: Clock):
    """The app with the test settings, built once for the session (building one takes ~200 ms):
    each test gets it with its own clock and an empty mailbox; its engine is the test's own (the
    `engine` fixture points every table at it), and the caches are emptied with it."""
    from retorno.app import create_app
    from retorno.mail import MemoryMailer

    key = msgspec.structs.replace(settings, database_url="")  # the file differs test by test
    if not _shared_app or _shared_app[0][0] != key:
        _shared_app[:] = [(key, create_app(settings, engine=engine, clock=clock))]
    app = _shared_app[0][1]
    app.state.clock = clock
    app.state.mailer = MemoryMailer()
    return app


@pytest.fixture
async def client(app, demo) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app (in this test's event loop); pick the host per request."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://bella.{BASE_HOST}") as c:
        yield c


@pytest.fixture
async def api_keys(demo, clock) -> dict[str, str]:
    """An integration API key for each demo brand."""
    from retorno.apikeys import service as apikeys

    return {
        slug: (await apikeys.create(brand_id=b.id, name="test", now=clock())).key for slug, b in demo.items()
    }


@pytest.fixture
async def api(app, api_keys) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the integration API on the platform host, signed with bella's key."""
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {api_keys['bella']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{BASE_HOST}/api/v1", headers=headers
    ) as c:
        yield c


async def post_form(
    client: httpx.AsyncClient, url: str, data: dict, page: str | None = None
) -> httpx.Response:
    """POST a form as a browser does: first a page that sets the CSRF cookie, then its token."""
    await client.get(page or url.rsplit("/", 1)[0] + "/")
    host = urlsplit(url).hostname
    token = next(
        c.value
        for c in client.cookies.jar
        if c.name.endswith("csrftoken") and c.domain.lstrip(".") in (host, f"{host}.local")
    )
    return await client.post(url, data={**data, "_csrf_token": token})


def brand_url(slug: str, path: str = "/") -> str:
    return f"http://{slug}.{BASE_HOST}{path}"


def platform_url(path: str = "/") -> str:
    return f"http://{BASE_HOST}{path}"


# --- a live server, for the browser ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`retorno serve` in a process of its own; stop() and start() again keep its database."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.port, self.env, self.log_path, self.args = port, env, log_path, args
        self.process: subprocess.Popen | None = None

    def url(self, slug: str | None = None, path: str = "/") -> str:
        host = f"{slug}.localhost:{self.port}" if slug else f"localhost:{self.port}"
        return f"http://{host}{path}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "retorno", "serve", "--port", str(self.port), "--quiet", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(
                    f"http://127.0.0.1:{self.port}/healthz",
                    headers={"host": f"localhost:{self.port}"},
                    timeout=1,
                )
                if health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """The server is gone: the browser's requests fail as they do without a network."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cli(self, *args: str) -> str:
        """A `retorno` command against the server's database (e.g. `apikeys create bella`)."""
        done = subprocess.run(
            [sys.executable, "-m", "retorno", *args], env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout


def _live_database(tmp: Path) -> tuple[str, callable]:
    """A database of its own for the server process: a SQLite file, or a PostgreSQL database."""
    if not PG_URL:
        return f"sqlite:///{tmp / 'live.sqlite3'}", lambda: None
    parts = urlsplit(PG_URL)
    name = f"{parts.path.lstrip('/')}_live"
    admin = urlunsplit(urlsplit(PG_DIRECT)._replace(path="/postgres"))  # past PgBouncer: its pool holds none

    def sql(statement: str) -> None:
        # In a thread of its own: a browser test's Playwright may hold this thread's event loop.
        run = PostgresEngine(config={"dsn": admin})._run_in_new_connection
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(statement)).result()

    sql(f'DROP DATABASE IF EXISTS "{name}"')
    sql(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), lambda: sql(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


def server_env(database_url: str, port: int, var_dir: Path, env: str, **extra: str) -> dict[str, str]:
    """The environment of a server process of the tests, on localhost:<port>."""
    return {
        **os.environ,
        "RETORNO_DATABASE_URL": database_url,
        "RETORNO_BASE_HOST": f"localhost:{port}",
        "RETORNO_ENV": env,
        "RETORNO_VAR_DIR": str(var_dir),
        **extra,
    }


def start_app_processes(
    database_url: str, tmp_path: Path, count: int = 2, *, worker: bool = False, **extra: str
) -> list[LiveServer]:
    """`retorno serve` processes on one database, as app machines behind a load balancer would be
    (with or without the worker inside); they trust X-Forwarded-For from 127.0.0.1, so a test can
    speak for many client addresses. Each answers on localhost:<its port> and
    <brand>.localhost:<its port>. The caller stops them."""
    servers = []
    for i in range(count):
        port = free_port()
        env = server_env(database_url, port, tmp_path, "test", RETORNO_TRUSTED_PROXIES="127.0.0.1", **extra)
        args = () if worker else ("--no-worker",)
        servers.append(LiveServer(port, env, tmp_path / f"app{i}.log", args=args))
    try:
        for server in servers:
            server.start()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@pytest.fixture
def app_processes(database_url: str, engine, tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Two app processes (no worker in them) on this test's own database."""
    servers = start_app_processes(database_url, tmp_path)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`retorno demo` then `retorno serve` in a process of their own, as `make run` does."""
    tmp = tmp_path_factory.mktemp("live")
    url, drop = _live_database(tmp)
    port = free_port()
    server = LiveServer(port, server_env(url, port, tmp, "development"), tmp / "server.log")
    server.cli("demo")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        drop()
