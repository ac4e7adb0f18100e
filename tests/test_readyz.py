"""`/readyz`: ready only when the database answers, every migration this code has is applied, and a
worker finished a pass lately; a running worker says so every few seconds; `/healthz` stays trivial."""

from __future__ import annotations

import asyncio

from retorno import db
from retorno.mail import MemoryMailer
from retorno.outbox import service as outbox
from retorno.worker import Worker
from tests.conftest import platform_url


async def test_ready_needs_a_worker_that_ran_lately_and_every_migration(client, clock):
    cold = await client.get(platform_url("/readyz"))
    assert cold.status_code == 503
    assert cold.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "no worker has run"}
    await outbox.heartbeat(clock(), name="test:1")
    warm = await client.get(platform_url("/readyz"))
    assert warm.status_code == 200 and warm.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "worker": "ok"},
    }
    assert warm.headers["cache-control"] == "no-store"
    clock.advance(seconds=121)
    silent = await client.get(platform_url("/readyz"))
    assert silent.status_code == 503 and silent.json()["checks"]["worker"] == "silent for 121 s"
    await outbox.heartbeat(clock(), name="test:2")  # another worker: any one will do
    assert (await client.get(platform_url("/readyz"))).status_code == 200
    [last] = await db.fetch("SELECT id, name, app_name, ran_on FROM migration ORDER BY id DESC LIMIT 1")
    await db.write(lambda: db.fetch("DELETE FROM migration WHERE id = {}", last["id"]))
    try:
        behind = await client.get(platform_url("/readyz"))
        assert behind.status_code == 503 and behind.json()["checks"]["migrations"] == "1 pending"
    finally:  # the migrations' record outlives a test on PostgreSQL: put it back
        await db.write(
            lambda: db.fetch(
                "INSERT INTO migration (id, name, app_name, ran_on) VALUES ({}, {}, {}, {})",
                last["id"],
                last["name"],
                last["app_name"],
                last["ran_on"],
            )
        )
    # Only on the platform host, like /healthz.
    assert (await client.get("http://bella.localhost:8000/readyz")).status_code == 404
    assert (await client.get(platform_url("/healthz"))).json() == {"status": "ok"}


async def test_a_running_worker_beats(client, clock, settings):
    async with Worker(clock=clock, sweep=False, settings=settings, mailer=MemoryMailer()) as worker:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop, idle=0.05))
        for _ in range(100):
            if await outbox.last_heartbeat() is not None:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running
    assert await outbox.last_heartbeat() == clock()
    assert (await client.get(platform_url("/readyz"))).status_code == 200
