"""Two `retorno worker` processes on one database against one local receiver: every message
arrives, none while another copy of it is in flight, each customer's in order.

On PostgreSQL the claims are `FOR UPDATE SKIP LOCKED` and the fan-out takes an advisory lock; on
SQLite writes are serial anyway. A third run kills a worker with SIGKILL mid-batch: what it was
sending is sent again by the next worker once its lease is over (at least once, same webhook-id).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from retorno import db
from retorno.outbound import Options
from retorno.outbox import service as outbox
from retorno.webhooks import service as webhooks
from tests.fake_receiver import ThreadedFakeReceiver

CUSTOMERS, PER_CUSTOMER = 100, 6


def _worker(database_url: str, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "RETORNO_DATABASE_URL": database_url,
        "RETORNO_ENV": "development",
        "RETORNO_WEBHOOKS_ALLOW_PRIVATE": "1",  # the receiver is on 127.0.0.1
    }
    return subprocess.Popen(
        [sys.executable, "-m", "retorno", "worker", "--batch", "50", "--lease", "2", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def _seed(brand_id: int, now: dt.datetime) -> None:
    """CUSTOMERS customers with PER_CUSTOMER events each, interleaved, numbered in order."""

    async def work() -> None:
        ids = []
        for i in range(CUSTOMERS):
            rows = await db.fetch(
                "INSERT INTO customers (brand, external_id, name, created_at, updated_at) "
                "VALUES ({}, {}, '', {}, {}) RETURNING id",
                brand_id,
                f"ext-{i}",
                now,
                now,
            )
            ids.append(rows[0]["id"])
        for seq in range(PER_CUSTOMER):
            for customer in ids:
                await outbox.emit(
                    brand_id=brand_id,
                    kind="cashback.credited",
                    now=now,
                    payload={
                        "customer_id": customer,
                        "lot_id": seq,
                        "amount": 100 + seq,
                        "source": "sale",
                        "available_at": "2026-12-08T12:00:00Z",
                        "expires_at": None,
                    },
                )

    await db.write(work)


@pytest.fixture
async def receiver_and_endpoint(demo):
    fake = ThreadedFakeReceiver(latency=0.02)
    receiver = fake.receiver
    path = receiver.path()
    now = dt.datetime.now(dt.UTC)
    created = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url=receiver.url(path),
        events=["cashback.credited"],
        now=now,
        options=Options(allow_private=True, require_https=False),
    )
    receiver.secrets[path] = [created.secret]
    await _seed(demo["bella"].id, now)
    try:
        yield receiver, path
    finally:
        fake.close()


async def _states() -> dict[str, int]:
    rows = await db.fetch("SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


def _check_order(received) -> None:
    per_customer = collections.defaultdict(list)
    for r in received:
        per_customer[r.payload["data"]["customer"]["id"]].append(r.payload["data"]["lot_id"])
    assert len(per_customer) == CUSTOMERS
    for seqs in per_customer.values():
        # In order; a resent message may repeat, never go back before one that came after it.
        assert seqs == sorted(seqs), seqs


async def test_two_workers_deliver_every_message_once_and_never_two_copies_at_once(
    database_url, receiver_and_endpoint
):
    receiver, path = receiver_and_endpoint
    workers = [_worker(database_url, "--until-idle") for _ in range(2)]
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
    got = receiver.to(path)
    assert all(r.problems == [] for r in got), [r.problems for r in got if r.problems][:3]
    counts = collections.Counter(r.message_id for r in got)
    assert len(counts) == CUSTOMERS * PER_CUSTOMER and set(counts.values()) == {1}
    assert receiver.concurrent == []
    assert await _states() == {"delivered": CUSTOMERS * PER_CUSTOMER}
    _check_order(got)


async def test_a_killed_worker_s_deliveries_are_sent_again_by_the_next_one(
    database_url, receiver_and_endpoint
):
    receiver, path = receiver_and_endpoint
    first = _worker(database_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(receiver.received) < 150:
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert (await _states()).get("delivered", 0) < CUSTOMERS * PER_CUSTOMER
    second = _worker(database_url, "--until-idle")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    await asyncio.sleep(2.1)  # the killed worker's lease runs out
    third = _worker(database_url, "--until-idle")
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0, out
    got = receiver.to(path)
    assert all(r.problems == [] for r in got)
    counts = collections.Counter(r.message_id for r in got)
    assert len(counts) == CUSTOMERS * PER_CUSTOMER  # every message arrived (some twice: at least once)
    assert receiver.concurrent == []
    assert await _states() == {"delivered": CUSTOMERS * PER_CUSTOMER}
    _check_order(got)
