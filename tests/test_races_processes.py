"""Races through two app processes on one database (PostgreSQL in CI's second pass, SQLite in the
first): what one process counts or checks, the other sees, however the requests interleave."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools

import httpx

from retorno import db
from retorno.apikeys import service as apikeys
from retorno.auth import codes
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.settings import DEV_SECRET

ANA = "ana@example.com"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # the servers read the real clock


class Browser:
    """One browser on one app process: its own cookies and CSRF token, on a brand's host."""

    def __init__(self, server, slug: str = "bella") -> None:
        self.host = f"{slug}.localhost:{server.port}"
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30)

    async def __aenter__(self) -> Browser:
        page = await self.client.get("/login", headers={"host": self.host})
        assert page.status_code == 200, page.text
        self.token = page.cookies["csrftoken"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def post(self, path: str, data: dict, client_address: str) -> httpx.Response:
        return await self.client.post(
            path,
            data={**data, "_csrf_token": self.token},
            headers={"host": self.host, "x-forwarded-for": client_address},
        )


async def test_fifty_concurrent_guesses_through_two_processes_compare_a_code_five_times_at_most(
    app_processes, demo
):
    """Each guess from its own client address (so no per-address limit stands in the way): the
    code's tries are counted atomically before comparing, so at most 5 of the 50 are compared,
    and the right code is refused after them."""
    await db.write(lambda: customers.upsert(demo["bella"].id, Identity(email=ANA), now=_now()))
    code = await codes.new_code(
        brand_id=demo["bella"].id, email=ANA, purpose="login", secret=DEV_SECRET, now=_now()
    )
    wrong = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 51)]
    async with Browser(app_processes[0]) as one, Browser(app_processes[1]) as two:
        browsers = itertools.cycle([one, two])
        answers = await asyncio.gather(
            *(
                next(browsers).post(
                    "/login/verify", {"email": ANA, "code": guess}, client_address=f"198.51.100.{i}"
                )
                for i, guess in enumerate(wrong)
            )
        )
        assert {a.status_code for a in answers} <= {422, 429}, [a.status_code for a in answers]
        rows = await db.fetch("SELECT attempts FROM login_codes WHERE email = {}", ANA)
        assert rows[0]["attempts"] <= codes.CODE_TRIES
        late = await one.post("/login/verify", {"email": ANA, "code": code}, client_address="203.0.113.7")
        assert late.status_code in (422, 429)
        assert "retorno_session" not in late.headers.get("set-cookie", "")


async def test_a_revoked_key_stops_on_every_other_process_within_five_seconds(app_processes, demo):
    import time

    created = await apikeys.create(brand_id=demo["bella"].id, name="loja", now=_now())
    headers = {"authorization": f"Bearer {created.key}"}
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{s.port}/api/v1", headers=headers | {"host": f"localhost:{s.port}"}
        )
        for s in app_processes
    ]
    try:
        for client in clients:  # each process now holds the key in its cache
            assert (await client.get("/customers/email:nobody@example.com/balance")).status_code == 404
        await apikeys.revoke(brand_id=demo["bella"].id, key_id=created.id, now=_now())  # elsewhere
        started = time.monotonic()
        refused = set()
        while len(refused) < len(clients) and time.monotonic() - started < 8:
            for i, client in enumerate(clients):
                if (await client.get("/customers/email:nobody@example.com/balance")).status_code == 401:
                    refused.add(i)
            await asyncio.sleep(0.2)
        assert len(refused) == len(clients)
        assert time.monotonic() - started <= 6.5
    finally:
        for client in clients:
            await client.aclose()


async def test_a_cancel_and_redemptions_racing_on_one_order_leave_nothing_committed(app_processes, demo):
    """39 redemptions on an order and its cancellation, at once, through two processes: whatever
    committed before the cancel is given back by it, whatever comes after is refused with 409;
    the shopper's balance ends where it started, and a second cancel changes nothing."""
    from retorno.sales import adjustments

    bella = demo["bella"]
    now = _now()
    customer, _ = await db.write(lambda: customers.upsert(bella.id, Identity(email=ANA), now=now))
    await adjustments.adjust(
        brand=bella, customer_id=customer.id, amount=10_000, reason="saldo de teste", now=now
    )
    order = {"order_id": "O-1", "customer": {"email": ANA}, "total": 100_000}
    headers = [{"host": f"localhost:{s.port}"} for s in app_processes]
    key = (await apikeys.create(brand_id=bella.id, name="pdv", now=now)).key
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{s.port}/api/v1",
            headers=h | {"authorization": f"Bearer {key}"},
            timeout=30,
        )
        for s, h in zip(app_processes, headers, strict=True)
    ]
    try:
        assert (await clients[0].post("/sales", json=order)).status_code == 201
        before = (await clients[0].get(f"/customers/email:{ANA}/balance")).json()["available"]

        def redemption(i: int) -> dict:
            return {
                "redemption_id": f"R-{i}",
                "order_id": "O-1",
                "customer": {"email": ANA},
                "order_total": 100_000,
                "amount": 100,
            }

        calls = [clients[i % 2].post("/redemptions", json=redemption(i)) for i in range(39)]
        calls.insert(20, clients[1].post("/sales/O-1/cancel"))
        answers = await asyncio.gather(*calls)
        cancel = answers.pop(20)
        assert cancel.status_code == 200, cancel.text
        statuses = {a.status_code for a in answers}
        assert statuses <= {201, 409}, [a.text for a in answers if a.status_code not in (201, 409)]
        committed = await db.fetch(
            "SELECT redemption_id FROM redemptions WHERE order_id = 'O-1' AND cancelled_at IS NULL"
        )
        assert committed == []
        after = (await clients[0].get(f"/customers/email:{ANA}/balance")).json()["available"]
        assert after == before
        again = await clients[0].post("/sales/O-1/cancel")
        assert again.status_code == 200
        assert (await clients[0].get(f"/customers/email:{ANA}/balance")).json()["available"] == before
        late = await clients[1].post("/redemptions", json=redemption(99))
        assert late.status_code == 409
    finally:
        for client in clients:
            await client.aclose()


async def test_a_public_coupon_raced_through_two_processes_keeps_its_limits(app_processes, demo):
    """30 orders of one shopper with a once-per-shopper coupon and 40 shoppers on a coupon of 10
    uses, all at once, alternating between two processes: exactly 1 and exactly 10 are used."""
    from retorno.vouchers import coupons

    bella, now = demo["bella"], _now()
    for draft in (
        coupons.CouponDraft(code="UMAVEZ", amount=1000),
        coupons.CouponDraft(code="DEZ", percent_bp=1000, max_uses=10),
    ):
        await coupons.save(brand_id=bella.id, draft=draft, now=now)
    key = (await apikeys.create(brand_id=bella.id, name="loja", now=now)).key
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{s.port}/api/v1",
            headers={"host": f"localhost:{s.port}", "authorization": f"Bearer {key}"},
            timeout=30,
        )
        for s in app_processes
    ]

    def use(code: str, i: int, email: str):
        body = {"order_id": f"{code}-{i}", "order_total": 20000, "customer": {"email": email}}
        return clients[i % 2].post(f"/vouchers/{code}/redeem", json=body)

    try:
        answers = await asyncio.gather(
            *(use("UMAVEZ", i, ANA) for i in range(30)),
            *(use("DEZ", i, f"cliente{i}@example.com") for i in range(40)),
        )
        once, ten = answers[:30], answers[30:]
        assert sorted(a.status_code for a in once) == [201] + [409] * 29, [a.text for a in once]
        assert sorted(a.status_code for a in ten) == [201] * 10 + [409] * 30, [a.text for a in ten]
        counted = await db.fetch(
            "SELECT c.code, COUNT(*) AS n FROM coupon_uses u JOIN coupons c ON c.id = u.coupon "
            "WHERE u.released_at IS NULL GROUP BY c.code ORDER BY c.code"
        )
        assert [(r["code"], r["n"]) for r in counted] == [("DEZ", 10), ("UMAVEZ", 1)]
    finally:
        for client in clients:
            await client.aclose()


async def test_three_workers_and_two_app_processes_send_every_notice_exactly_once(
    database_url, engine, demo, tmp_path
):
    """Credits that became usable, credits about to expire and a campaign, with five processes
    sweeping and fanning out at once (three `retorno worker`, two `retorno serve` with the worker
    inside): each shopper's phone gets each notice once."""
    import os
    import subprocess
    import sys
    import time

    from retorno.ledger import posting
    from retorno.sales.common import credited_event
    from tests.conftest import start_app_processes
    from tests.fake_push import ThreadedFakePushService, push_campaign, seed_audience

    bella, now, count = demo["bella"], _now(), 20
    fake = ThreadedFakePushService()
    devices = [fake.service.device() for _ in range(count)]
    await seed_audience(bella.id, devices, now)
    shoppers = [
        r["id"] for r in await db.fetch("SELECT id FROM customers WHERE brand = {} ORDER BY id", bella.id)
    ]

    async def credits() -> None:
        for customer_id in shoppers:
            for at in (now - dt.timedelta(days=8), now - dt.timedelta(days=92)):  # usable; expiring in 5 days
                lot = await posting.credit(
                    brand=bella,
                    customer_id=customer_id,
                    amount=500,
                    source="adjustment",
                    at=at,
                    now=now,
                    kind="adjustment",
                    breakdown={},
                    note="teste",
                )
                await credited_event(bella, customer_id, lot, source="adjustment", now=now)

    await db.write(credits)
    await push_campaign(bella.id, title="Black Friday", body="Cashback em dobro", now=now)
    env = {**os.environ, "RETORNO_DATABASE_URL": database_url, "RETORNO_ENV": "test"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "retorno", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    servers = start_app_processes(database_url, tmp_path, worker=True)
    expected = {
        "cashback": 4,
        "expiring": 1,
        "campaign": 1,
    }  # 2 credited + 2 usable; a reminder; the campaign
    try:
        deadline = time.monotonic() + 90
        while len(fake.service.received) < count * 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # time for a duplicate to arrive, if one were coming
    finally:
        for server in servers:
            server.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        fake.close()
    for device in devices:
        got = collections.Counter(r.payload["tag"] for r in fake.service.to(device.token))
        assert got == expected, got
    kinds = collections.Counter(r["kind"] for r in await db.fetch("SELECT kind FROM outbox_events"))
    assert kinds["cashback.available"] == 2 * count and kinds["cashback.expiring"] == count
    assert kinds["campaign"] == 1
