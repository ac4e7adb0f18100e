"""Behind PgBouncer in transaction pooling mode, each transaction may run on another server
connection: a statement asyncpg prepared on one is unknown on the next. RETORNO_DATABASE_POOLING=
transaction is the setting that makes Retorno work there (CI runs the ledger, the API's races and
the workers through PgBouncer as well: .ci/run)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from retorno import db
from tests.conftest import PG_DIRECT, make_settings
from tests.pgbouncer import PgBouncer

pytestmark = pytest.mark.skipif(not PG_DIRECT, reason="PgBouncer pools PostgreSQL; this run is on SQLite")


@pytest.fixture
def bouncer():
    running = PgBouncer(PG_DIRECT, pool_size=2)  # fewer server connections than the app's pool
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _many_queries(engine: db.Engine) -> list[int]:
    async with db.connected(engine):

        async def one(i: int) -> int:
            rows = await db.fetch("SELECT count(*) + {} AS n FROM brands", i)
            return int(rows[0]["n"])

        return await asyncio.gather(*(one(i) for i in range(300)))


async def test_without_the_setting_prepared_statements_break(bouncer, engine) -> None:
    plain = db.make_engine(make_settings(bouncer.url, RETORNO_DATABASE_POOLING=""))
    with pytest.raises(asyncpg.exceptions.InvalidSQLStatementNameError):
        await _many_queries(plain)


async def test_with_the_setting_every_query_answers(bouncer, engine, demo) -> None:
    pooled = db.make_engine(make_settings(bouncer.url, RETORNO_DATABASE_POOLING="transaction"))
    assert await _many_queries(pooled) == [len(demo) + i for i in range(300)]
