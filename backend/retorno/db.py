"""The database: an engine chosen by RETORNO_DATABASE_URL, write transactions, migrations, lifespan.

SQLite is the embedded default. Piccolo's own SQLite engine opens a fresh aiosqlite connection
(and a thread hop) for every query, which costs more than the query itself; `LocalSQLiteEngine`
keeps two long-lived `sqlite3` connections instead and runs statements inline on the event loop:
a reader for plain SELECTs (WAL lets it read while another process writes) and a writer used
only inside a transaction, which an asyncio lock serialises from `BEGIN IMMEDIATE` to `COMMIT`.
Waiting for another process's write lock never blocks the loop: the writer has no busy timeout
and `BEGIN IMMEDIATE` is retried with `asyncio.sleep` back-off.

Group commit: with synchronous=FULL a COMMIT waits for the disk (~0.5 ms here, a third of a sale).
Write transactions that come together share one: each runs inside a SAVEPOINT of it (a failure
rolls back its own work only), then waits, holding nothing, while the writes already under way
join; one COMMIT, in a thread so the loop goes on, ends the group and only then does each
`async with transaction()` return. Nothing is acknowledged before it is on disk, as before.

PostgreSQL is the production engine: one asyncpg pool opened at start-up, closed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import io
import os
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from string import Formatter
from typing import Any, TypeVar

from piccolo.columns import Column
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, dict_factory
from piccolo.querystring import QueryString
from piccolo.table import Table

from retorno import cache, piccolo_conf
from retorno.settings import Settings

# Piccolo's migration runner finds its engine through this module (see piccolo_conf.py).
os.environ["PICCOLO_CONF"] = "retorno.piccolo_conf"

BUSY_RETRY_SECONDS = 10.0
T = TypeVar("T")
_ADD_UNIQUE = re.compile(r'^ALTER TABLE ("?\w+"?) ADD CONSTRAINT "?(\w+)"? UNIQUE (\(.*\))$', re.S)
_current: Engine | None = None


def _timestamptz(value: bytes) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.decode())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


# Piccolo's converters decode every INTEGER and TIMESTAMPTZ through a generic wrapper and always
# re-set the time zone; these give the same values at about a third of the cost, which is most of
# what reading a statement page costs. (sqlite3 converters are process-wide; same results.)
sqlite3.register_converter("INTEGER", int)
sqlite3.register_converter("TIMESTAMPTZ", _timestamptz)


class LocalSQLiteEngine(SQLiteEngine):
    """A Piccolo SQLite engine on two long-lived connections (see the module docstring)."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        super().__init__(path=path)
        self.synchronous = synchronous
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._heavy: sqlite3.Connection | None = None
        self._heavy_second: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._group: list[asyncio.Future[None]] | None = None  # the open group's members, waiting
        self._flushes: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references
        self._heavy_locks = (asyncio.Lock(), asyncio.Lock())

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES,
            isolation_level=None,  # we say BEGIN and COMMIT ourselves
            check_same_thread=False,
        )
        conn.row_factory = dict_factory
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before it is acknowledged. (NORMAL, with WAL, can lose the last
        # acknowledged sales on power loss; bench/api.py measures what FULL costs.)
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._connect(busy_ms=2000)
        return self._reader

    @property
    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect(busy_ms=0)
        return self._writer

    @property
    def heavy(self) -> sqlite3.Connection:
        """A third connection, used from a thread (one query at a time) for long reads."""
        if self._heavy is None:
            self._heavy = self._connect(busy_ms=2000)
        return self._heavy

    async def fetch_off_loop(self, sql: str, args: list[Any]) -> list[dict]:
        """A long read (a report) in a thread: sqlite3 lets go of the GIL while it steps, so the
        event loop keeps serving shoppers meanwhile. Two such connections, so the two halves of
        a report (the best sellers' lines and their cashback) run at once, a core each."""
        first, second = self._heavy_locks
        use_second = first.locked() and not second.locked()
        async with second if use_second else first:
            if use_second and self._heavy_second is None:
                self._heavy_second = self._connect(busy_ms=2000)
            conn = self._heavy_second if use_second else self.heavy
            assert conn is not None
            return await asyncio.to_thread(self._execute, conn, sql, args)

    def close(self) -> None:
        for conn in (self._reader, self._writer, self._heavy, self._heavy_second):
            if conn is not None:
                conn.close()
        self._reader = self._writer = self._heavy = self._heavy_second = None

    async def begin_immediate(self) -> None:
        """Take SQLite's write lock, yielding to the loop while another process holds it."""
        deadline = time.monotonic() + BUSY_RETRY_SECONDS
        delay = 0.001
        while True:
            try:
                self.writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)

    @staticmethod
    def _execute(conn: sqlite3.Connection, sql: str, args: list[Any] | None) -> list[dict]:
        return conn.execute(sql, args or []).fetchall()

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False):
        sql, args = querystring.compile_string(engine_type=self.engine_type)
        if self.log_queries:
            self.print_query(query_id=self.get_query_id(), query=str(querystring))
        if self.current_transaction.get() is not None:
            return self._execute(self.writer, sql, args)
        if sql.lstrip()[:6].upper() == "SELECT":
            return self._execute(self.reader, sql, args)
        async with self.transaction():
            return self._execute(self.writer, sql, args)

    async def run_ddl(self, ddl: str, in_pool: bool = False):
        # SQLite has no ALTER TABLE ... ADD CONSTRAINT: Piccolo's Unique([...]) becomes an index.
        ddl = _ADD_UNIQUE.sub(r'CREATE UNIQUE INDEX IF NOT EXISTS "\2" ON \1 \3', ddl)
        if self.current_transaction.get() is not None:
            return self._execute(self.writer, ddl, None)
        async with self.transaction():
            return self._execute(self.writer, ddl, None)

    def transaction(self, transaction_type: Any = None, allow_nested: bool = True):
        """Every transaction here is a write transaction: BEGIN IMMEDIATE under the lock."""
        return LocalTransaction(engine=self, allow_nested=allow_nested)


class LocalTransaction(SQLiteTransaction):
    """A write transaction on SQLite: one member of a group commit (see the module docstring)."""

    engine: LocalSQLiteEngine
    _parent: LocalTransaction | None  # the engine's transaction() opens LocalTransactions only

    async def __aenter__(self) -> LocalTransaction:
        if self._parent is not None:
            return self._parent
        engine = self.engine
        await engine._write_lock.acquire()
        try:
            if engine._group is None:
                await engine.begin_immediate()
                engine._group = []
                flush = asyncio.get_running_loop().create_task(self._flush())
                engine._flushes.add(flush)
                flush.add_done_callback(engine._flushes.discard)
            engine.writer.execute("SAVEPOINT member")
        except BaseException:
            engine._write_lock.release()
            raise
        self.connection = engine.writer
        self.context = engine.current_transaction.set(self)
        return self

    async def _flush(self) -> None:
        """Let the writes already under way join the group, then COMMIT it and tell its members."""
        engine = self.engine
        await asyncio.sleep(0)
        async with engine._write_lock:
            members, engine._group = engine._group or [], None
            try:
                if len(members) > 1:
                    await asyncio.to_thread(engine.writer.execute, "COMMIT")
                else:  # alone: no thread hop (~0.3 ms here)
                    engine.writer.execute("COMMIT")
            except BaseException as exc:
                if engine.writer.in_transaction:
                    engine.writer.execute("ROLLBACK")
                for member in members:
                    if not member.done():
                        member.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                raise
            for member in members:
                if not member.done():
                    member.set_result(None)

    async def begin(self) -> None:  # done in __aenter__
        pass

    async def commit(self) -> None:  # the group's, in _flush
        pass

    async def rollback(self) -> None:
        """This member's work undone (the group goes on)."""
        self.engine.writer.execute("ROLLBACK TO member")
        self.engine.writer.execute("RELEASE member")
        self._rolled_back = True

    async def savepoint(self, name: str | None = None):
        raise NotImplementedError("savepoints are not used by Retorno")

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent is not None:
            return exception is None
        engine = self.engine
        committed: asyncio.Future[None] | None = None
        try:
            if exception is not None or self._rolled_back:
                if not self._rolled_back:
                    await self.rollback()
            else:
                engine.writer.execute("RELEASE member")
                committed = asyncio.get_running_loop().create_future()
                assert engine._group is not None
                engine._group.append(committed)
        finally:
            engine.current_transaction.reset(self.context)
            engine._write_lock.release()
        if committed is not None:
            await committed
            self._committed = True
        return exception is None


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("postgresql://"):
        config: dict[str, Any] = {"dsn": url}
        if settings.database_pooling == "transaction":
            # PgBouncer in transaction pooling hands each transaction to any server connection: a
            # statement prepared on one is unknown on the next. asyncpg's documented answer: no
            # statement cache, so every query is parsed again on the connection that runs it.
            config["statement_cache_size"] = 0
        return PostgresEngine(config=config)
    return LocalSQLiteEngine(path=url.removeprefix("sqlite:///"), synchronous=settings.sqlite_synchronous)


def table_classes() -> list[type[Table]]:
    from piccolo.apps.migrations.tables import Migration

    tables: list[type[Table]] = [Migration]
    for app_name in piccolo_conf.APP_REGISTRY.app_configs:
        tables.extend(piccolo_conf.APP_REGISTRY.get_table_classes(app_name))
    return tables


def use(engine: Engine) -> Engine:
    """Point every table (and Piccolo's migration runner) at this engine."""
    global _current
    _current = engine
    piccolo_conf.DB = engine  # what Piccolo's migration runner reads
    cache.clear_all()
    for table in table_classes():
        table._meta.db = engine
    return engine


def current() -> Engine:
    if _current is None:
        raise RuntimeError("no database engine in use: call retorno.db.use(engine) first")
    return _current


def is_postgres() -> bool:
    return isinstance(current(), PostgresEngine)


def transaction() -> Any:
    """A write transaction: BEGIN IMMEDIATE on SQLite, a pooled transaction on PostgreSQL."""
    return current().transaction()


def in_transaction() -> bool:
    return current().current_transaction.get() is not None


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return type(exc).__name__ == "UniqueViolationError"  # asyncpg's


async def write(work: Callable[[], Awaitable[T]], *, attempts: int = 5) -> T:
    """Run `work` in a write transaction, again from the start if a concurrent insert won a race.

    Idempotent writes check for their key first; two requests that both find nothing then race to
    insert it, and the loser's retry finds the winner's row. On SQLite writes are serial anyway.
    """
    if in_transaction():
        # Inside another write: a unique violation has aborted the whole transaction on PostgreSQL
        # (a nested one is no savepoint), so only the outermost write can run it all again.
        async with transaction():
            return await work()
    for attempt in range(attempts):
        try:
            async with transaction():
                result = await work()
            if not in_transaction():  # the outermost one: committed
                cache.after_commit()
            return result
        except Exception as exc:
            if not is_unique_violation(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=4096)
def _compiled(template: str, engine_type: str, count: int) -> str:
    """`template`'s `{}` placeholders as the engine's (`?`, or `$1`, `$2`... on PostgreSQL), as
    Piccolo's QueryString.compile_string makes them for plain values, once per template."""
    parts = []
    for index, (prefix, *_) in enumerate(Formatter().parse(template)):
        parts.append(prefix)
        if index < count:
            parts.append("?" if engine_type == "sqlite" else f"${index + 1}")
    return "".join(parts)


class _Plain(QueryString):
    """A QueryString of plain values (no column, no nested QueryString), compiled from a cache:
    Piccolo parses the template and checks every value on each call (~30 µs a query, a sale's
    ~17 queries 0.5 ms; bench/README.md)."""

    def __init__(self, template: str, args: tuple[Any, ...]) -> None:
        self.plain: list[Any] = list(args)
        self.template, self.args, self.columns = template, self.plain, []
        self.query_type, self.table, self._alias = "generic", None, None
        self._frozen_compiled_strings = None

    def compile_string(self, engine_type: str = "postgres") -> tuple[str, list[Any]]:
        return _compiled(self.template, engine_type, len(self.plain)), self.plain


def _querystring(sql: str, args: tuple[Any, ...]) -> QueryString:
    for arg in args:
        if isinstance(arg, (QueryString, Column)):
            return QueryString(sql, *args)
    return _Plain(sql, args)


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """A hand-written query with `{}` placeholders, for hot paths: building one costs more than running it.

    Piccolo takes about 250 µs to build a SELECT here and SQLite 20 µs to run it (bench/README.md).
    """
    rows = await current().run_querystring(_querystring(sql, args))
    return rows if not rows or isinstance(rows[0], dict) else [dict(r) for r in rows]  # asyncpg Records


async def fetch_heavy(sql: str, *args: Any) -> list[dict[str, Any]]:
    """`fetch` for a long read (the admin's reports): off the event loop on SQLite, where reads
    otherwise run inline; on PostgreSQL the query runs in the server and the loop is free anyway.
    Outside a transaction only (inside one, the writer connection must see its own changes)."""
    engine = current()
    if isinstance(engine, LocalSQLiteEngine) and engine.current_transaction.get() is None:
        compiled, values = _querystring(sql, args).compile_string(engine_type=engine.engine_type)
        return await engine.fetch_off_loop(compiled, values)
    return await fetch(sql, *args)


@functools.cache
def interval_of(column: str, count: int) -> str:
    """A CASE giving the index of the interval a time falls in, [..., b0) -> 0, [b0, b1) -> 1, ...,
    for `count` bounds passed as its first parameters: a brand's days cut exactly in its own zone,
    on both engines (GROUP BY it, with a COUNT(DISTINCT ...) that per-quarter sums cannot give)."""
    return "CASE " + " ".join(f"WHEN {column} < {{}} THEN {i}" for i in range(count)) + " END"


def epoch_of(column: str) -> str:
    """Whole seconds since 1970 (UTC) of a timestamp column, on the engine in use (a report adds a
    zone's offset to it and divides by a day: the brand's calendar day, in SQL)."""
    if is_postgres():
        return f"FLOOR(EXTRACT(EPOCH FROM {column}))::bigint"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def json_rows(column: str, alias: str, key: str = "") -> str:
    """A FROM item giving one row per element of a JSON array column (or of its `key`), each as
    `<alias>.value`: jsonb_array_elements on PostgreSQL, json_each on SQLite."""
    if is_postgres():
        array = f"{column}->'{key}'" if key else column
        elements = f"CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} END"
        return f"jsonb_array_elements({elements}) AS {alias}(value)"
    return f"json_each({column}, '$.{key}') AS {alias}" if key else f"json_each({column}) AS {alias}"


def json_field(alias: str, key: str, *, number: bool = False) -> str:
    """A field of a `json_rows` element, as text (or as a whole number with `number`)."""
    if is_postgres():
        return f"CAST({alias}.value->>'{key}' AS BIGINT)" if number else f"({alias}.value->>'{key}')"
    if sqlite3.sqlite_version_info >= (3, 38):  # ->> reads as json_extract does, a sixth faster
        return f"CAST({alias}.value ->> '$.{key}' AS INTEGER)" if number else f"({alias}.value ->> '$.{key}')"
    return (
        f"CAST(json_extract({alias}.value, '$.{key}') AS INTEGER)"
        if number
        else f"json_extract({alias}.value, '$.{key}')"
    )


def _insert_sql(tablename: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{tablename}" ({names}) VALUES ({", ".join("{}" for _ in columns)}) RETURNING id'  # noqa: S608


async def insert(table: type[Table], **values: Any) -> int:
    """Insert one row into a Piccolo table, its id back; the hot-path twin of `Table.insert()`."""
    rows = await fetch(_insert_sql(table._meta.tablename, tuple(values)), *values.values())
    return rows[0]["id"]


def for_update(clause: str = " FOR UPDATE") -> str:
    """A row-locking clause for a SELECT on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serialises writers, and has no such clause."""
    return clause if is_postgres() else ""


async def purge(tablename: str, where: str, *args: Any, batch: int = 5000) -> int:
    """Delete the rows of `tablename` matching `where`, a batch per transaction (no long lock on a
    large table, and each batch is done for good); how many went."""
    sql = (
        f'DELETE FROM "{tablename}" WHERE id IN (SELECT id FROM "{tablename}" WHERE {where} LIMIT {batch}) '  # noqa: S608
        "RETURNING id"
    )
    total = 0
    while True:
        gone = len(await write(lambda: fetch(sql, *args)))
        total += gone
        if gone < batch:
            return total


async def lock_row(tablename: str, row_id: int) -> None:
    """SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers."""
    engine = current()
    if isinstance(engine, PostgresEngine):
        sql = f'SELECT id FROM "{tablename}" WHERE id = {{}} FOR UPDATE'  # noqa: S608 - a table name of ours
        await engine.run_querystring(QueryString(sql, row_id))


async def open_engine(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=10)


async def close_engine(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        with contextlib.suppress(Exception):
            await engine.close_connection_pool()
    elif isinstance(engine, LocalSQLiteEngine):
        engine.close()


@contextlib.asynccontextmanager
async def connected(engine: Engine) -> AsyncIterator[Engine]:
    """Use and open an engine for the length of a block (the app's lifespan, a CLI command)."""
    use(engine)
    await open_engine(engine)
    try:
        yield engine
    finally:
        await close_engine(engine)


async def migrate(*, quiet: bool = True) -> None:
    """Apply every domain's pending Piccolo migrations, in dependency order."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    with contextlib.redirect_stdout(io.StringIO() if quiet else sys.stdout):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")


# --- migrations (`/readyz`) ----------------------------------------------------------------------

_MIGRATION_ID = re.compile(r'^ID = "([^"]+)"', re.M)


@functools.cache
def migration_ids() -> frozenset[str]:
    """The migrations this code has, by the id Piccolo records once one is applied."""
    found = set()
    for config in piccolo_conf.APP_REGISTRY.app_configs.values():
        for path in Path(config.migrations_folder_path).glob("*.py"):
            match = _MIGRATION_ID.search(path.read_text())
            if match:
                found.add(match[1])
    return frozenset(found)


async def pending_migrations() -> set[str]:
    """The migrations of this code that the database has not applied."""
    applied = {row["name"] for row in await fetch("SELECT name FROM migration")}
    return set(migration_ids()) - applied
