"""The database layer: SQLite on long-lived connections with IMMEDIATE writes; a pool on PostgreSQL."""

import asyncio
import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from retorno import db
from retorno.app import create_app
from retorno.brands.tables import Brand, BrandHost
from tests.conftest import PG_URL, brand_url

BACKEND = Path(db.__file__).parent
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite engine behaviour; this run is on PostgreSQL")
postgres_only = pytest.mark.skipif(not PG_URL, reason="PostgreSQL engine behaviour; this run is on SQLite")


@sqlite_only
async def test_sqlite_connections_are_set_up_once_for_wal_and_foreign_keys(engine):
    for conn, busy in ((engine.reader, 2000), (engine.writer, 0)):
        assert conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()["foreign_keys"] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()["timeout"] == busy


@sqlite_only
async def test_a_commit_is_on_disk_before_it_is_acknowledged_unless_normal_is_chosen(engine, tmp_path):
    from tests.conftest import make_settings

    for conn in (engine.reader, engine.writer, engine.heavy):
        assert conn.execute("PRAGMA synchronous").fetchone()["synchronous"] == 2  # FULL
    url = f"sqlite:///{tmp_path / 'n.sqlite3'}"
    chosen = db.make_engine(make_settings(url, RETORNO_SQLITE_SYNCHRONOUS="normal"))
    assert chosen.writer.execute("PRAGMA synchronous").fetchone()["synchronous"] == 1
    chosen.close()
    assert db.make_engine(make_settings(url)).synchronous == "FULL"


@sqlite_only
async def test_a_report_reads_off_the_event_loop_and_gives_what_an_inline_read_gives(engine, demo):
    import threading

    seen = []
    original = engine._execute

    def spy(conn, sql, args):
        seen.append(threading.current_thread() is threading.main_thread())
        return original(conn, sql, args)

    engine._execute = spy
    try:
        inline = await db.fetch("SELECT COUNT(*) AS n, MIN(slug) AS s FROM brands")
        heavy = await db.fetch_heavy("SELECT COUNT(*) AS n, MIN(slug) AS s FROM brands")
    finally:
        del engine._execute
    assert heavy == inline == [{"n": 2, "s": "bella"}]
    assert seen == [True, False]  # the first on the loop's thread, the second in a worker thread


@sqlite_only
async def test_pages_read_without_opening_a_connection_per_query(client, demo, monkeypatch):
    import aiosqlite

    def refuse(*args, **kwargs):
        raise AssertionError("a new aiosqlite connection was opened")

    monkeypatch.setattr(aiosqlite, "connect", refuse)
    reader = db.current().reader
    for path in ("/", "/manifest.webmanifest", "/assets/icon-192.png"):
        assert (await client.get(brand_url("bella", path))).status_code == 200
    assert db.current().reader is reader


@sqlite_only
async def test_a_write_transaction_holds_the_write_lock_from_its_start(engine, demo, tmp_path):
    other = sqlite3.connect(engine.path, timeout=0, isolation_level=None)
    async with db.transaction():
        assert engine.writer.in_transaction
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


@sqlite_only
async def test_two_processes_writing_at_once_lose_nothing(engine, demo):
    """Two engines on one file stand for two app processes: read-then-write never fails."""
    second = db.LocalSQLiteEngine(engine.path)

    async def bump(on: db.LocalSQLiteEngine) -> None:
        async with on.transaction():
            row = on.writer.execute("SELECT app_version FROM brands WHERE slug = 'bella'").fetchone()
            await asyncio.sleep(0)  # let the other writer try to get in
            on.writer.execute(
                "UPDATE brands SET app_version = ? WHERE slug = 'bella'", [row["app_version"] + 1]
            )

    await asyncio.gather(*(bump(engine if i % 2 else second) for i in range(40)))
    second.close()
    assert (await Brand.select(Brand.app_version).where(Brand.slug == "bella").first())["app_version"] == 41


async def test_a_failed_transaction_leaves_nothing_behind(engine, demo):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await Brand.update({Brand.name: "Changed"}).where(Brand.slug == "bella")
            raise RuntimeError("boom")
    assert (await Brand.select(Brand.name).where(Brand.slug == "bella").first())["name"] == "Bella Cosméticos"


async def test_writes_at_once_each_commit_on_their_own_and_a_failed_one_leaves_only_itself_out(engine):
    """Eight writes together (on SQLite they share one COMMIT): each is readable from another
    connection the moment it returns, and the one that fails takes nothing of the others with it."""
    await db.current().run_ddl("DROP TABLE IF EXISTS group_probe")
    await db.current().run_ddl("CREATE TABLE group_probe (n INTEGER PRIMARY KEY)")
    seen_on_return = {}

    async def member(n: int) -> None:
        async def work() -> None:
            await db.fetch("INSERT INTO group_probe (n) VALUES ({})", n)
            if n == 3:
                raise ValueError("this one fails after its insert")

        await db.write(work)
        # outside a transaction: SQLite's reader connection, a pooled one on PostgreSQL
        seen_on_return[n] = await db.fetch("SELECT n FROM group_probe WHERE n = {}", n)

    try:
        results = await asyncio.gather(*(member(n) for n in range(8)), return_exceptions=True)
        assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["ValueError"] + ["NoneType"] * 4
        assert seen_on_return == {n: [{"n": n}] for n in range(8) if n != 3}
        rows = await db.fetch("SELECT n FROM group_probe ORDER BY n")
        assert [r["n"] for r in rows] == [0, 1, 2, 4, 5, 6, 7]
    finally:
        await db.current().run_ddl("DROP TABLE group_probe")


@sqlite_only
async def test_writes_that_come_together_share_one_commit_and_a_lone_one_commits_at_once(engine, demo):
    commits = []
    engine.writer.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:

        async def bump(n: int) -> None:
            await db.write(
                lambda: db.fetch("UPDATE brands SET app_version = app_version + 1 WHERE slug = 'bella'")
            )

        await asyncio.gather(*(bump(n) for n in range(8)))
        assert len(commits) == 1
        await bump(9)
        assert len(commits) == 2
    finally:
        engine.writer.set_trace_callback(None)
    assert (await Brand.select(Brand.app_version).where(Brand.slug == "bella").first())["app_version"] == 10


async def test_nested_transactions_join_the_outer_one(engine, demo):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            async with db.transaction():
                await Brand.update({Brand.name: "Inner"}).where(Brand.slug == "mare")
            raise RuntimeError("outer fails")
    assert (await Brand.select(Brand.name).where(Brand.slug == "mare").first())["name"] == "Maré Moda"


async def test_foreign_keys_are_enforced(engine):
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await BrandHost.insert(BrandHost(brand=999, host="x.example"))


async def test_migrations_can_run_again_without_change(engine):
    await db.migrate()
    await db.migrate()
    assert await Brand.count() == 0


async def test_the_app_lifespan_opens_and_closes_the_engine(settings, database_url):
    engine = db.make_engine(settings)
    app = create_app(settings, engine=engine)
    async with app.lifespan():
        if PG_URL:
            assert engine.pool is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            assert (await c.get("http://localhost:8000/healthz")).status_code == 200
    if PG_URL:
        assert engine.pool is None or engine.pool._closed
    else:
        assert engine._reader is None and engine._writer is None


@postgres_only
async def test_postgres_queries_use_the_pool(engine):
    assert engine.pool is not None
    assert await Brand.count() == 0


def test_every_foreign_key_says_what_happens_on_delete():
    for tables in BACKEND.rglob("tables.py"):
        for call in re.findall(r"ForeignKey\((.*?)\)\n", tables.read_text(), re.S):
            assert "on_delete=" in call, f"{tables}: ForeignKey({call})"


def test_money_columns_are_integers():
    money = re.compile(r"(amount|total|balance|reward|centavos|price|value)")
    for table in db.table_classes():
        for column in table._meta.columns:
            if money.search(column._meta.name) and type(column).__name__ != "ForeignKey":  # rewards' id
                assert type(column).__name__ in ("Integer", "BigInt"), f"{table.__name__}.{column._meta.name}"
