"""A worker killed with SIGKILL in the middle of a batch of 1,000 notifications, then another one:
every subscription gets its notification once, none twice.

The fake push service answers the first 250 requests and then holds its answers, so the worker is
killed with a batch in flight: those requests reached the service, their deliveries are
`sending`. The second worker must send everything that was still pending, and must not send the
`sending` ones again (it marks them `unknown` once their lease is over).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from retorno import db
from tests.fake_push import ThreadedFakePushService, push_campaign, seed_audience

COUNT = 1000


def _worker(database_url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "RETORNO_DATABASE_URL": database_url, "RETORNO_ENV": "development"}
    return subprocess.Popen(
        [sys.executable, "-m", "retorno", "worker", "--batch", "100", "--lease", "1", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
async def campaign(demo, clock):
    """A fake push service, 1,000 subscribers of bella who opted in, and a campaign queued for them."""
    fake = ThreadedFakePushService(latency=0.01)
    devices = [fake.service.device() for _ in range(COUNT)]
    await seed_audience(demo["bella"].id, devices, clock())
    await push_campaign(demo["bella"].id, title="Black Friday", body="Cashback em dobro", now=clock())
    try:
        yield fake, devices
    finally:
        fake.close()


async def _states() -> dict[str, int]:
    rows = await db.fetch("SELECT state, COUNT(*) AS n FROM push_deliveries GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def test_a_killed_worker_sends_nothing_twice_and_the_next_one_finishes(database_url, campaign):
    fake, devices = campaign
    service = fake.service
    service.hold_after = 250

    first = _worker(database_url)
    try:
        # Until every request the worker marked `sending` has reached the service and stayed so
        # for half a second: both lanes are then waiting on held answers, and nothing else can move.
        deadline, steady_since = time.monotonic() + 90, None
        while time.monotonic() < deadline and first.poll() is None:
            await asyncio.sleep(0.05)
            states = await _states()
            sending = states.get("sent", 0) + states.get("sending", 0)
            settled = len(service.received) > 250 and len(service.received) == sending
            steady_since = (steady_since or time.monotonic()) if settled else None
            if steady_since is not None and time.monotonic() - steady_since > 0.5:
                break
        assert steady_since is not None, (len(service.received), first.poll(), await _states())
    finally:  # never left running: it would go on working on the next tests' database
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    states = await _states()
    received = len(service.received)
    in_flight = states.get("sending", 0)
    # Batches whose answers were all in were recorded; the batches in flight all reached the service.
    assert in_flight > 0 and states["sent"] + in_flight == received, states
    # Messages become deliveries a batch at a time (retorno/messages): the rest are still messages.
    assert sum(states.values()) <= COUNT, states

    service.hold_after = None
    fake.call(service.release)
    second = _worker(database_url, "--until-idle")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    await asyncio.sleep(1.1)  # the killed worker's lease runs out
    third = _worker(database_url, "--until-idle")
    out, _ = third.communicate(timeout=60)
    assert third.returncode == 0, out

    per_device = {d.token: len(service.to(d.token)) for d in devices}
    assert set(per_device.values()) == {1}, {t: n for t, n in per_device.items() if n != 1}
    assert all(r.problems == [] for r in service.received)
    states = await _states()
    assert states == {"sent": COUNT - in_flight, "unknown": in_flight}, states


async def test_two_workers_at_once_share_the_work_and_send_each_once(database_url, campaign):
    """On PostgreSQL the claims use FOR UPDATE SKIP LOCKED; on SQLite writes are serial anyway."""
    fake, devices = campaign
    workers = [_worker(database_url, "--until-idle") for _ in range(2)]
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
    assert {len(fake.service.to(d.token)) for d in devices} == {1}
    assert await _states() == {"sent": COUNT}
