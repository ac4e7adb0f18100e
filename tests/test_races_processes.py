"""Races through two app processes on one database (PostgreSQL in CI's second pass, SQLite in the
first): what one process counts or checks, the other sees, however the requests interleave."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools

import httpx
import msgspec

from retorno import db, i18n
from retorno.apikeys import service as apikeys
from retorno.auth import codes, sessions
from retorno.brands import service as brands
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.ledger import balances, posting
from retorno.onboarding.brand import import_brand
from retorno.points import service as points
from retorno.settings import DEV_SECRET
from tests.conftest import BASE_HOST, demo_pack

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


# --- the rewards catalogue, raced through both processes ----------------------------------------


async def _bella_with_points(bella):
    """Bella with the demo's points (as `retorno demo` turns them on), before either process has
    looked the brand up (so neither caches it without points)."""
    pack = demo_pack("bella")
    rules = msgspec.structs.replace(pack.rules, program="both", points=points.DEMO_POINTS["bella"])
    await import_brand(msgspec.structs.replace(pack, rules=rules), base_host=BASE_HOST)
    return await brands.get_brand(bella.slug)


async def _shopper_with_points(brand, email: str, amount: int) -> tuple[int, str]:
    """A shopper holding `amount` usable points (a staff adjustment), and a session of theirs."""
    now = _now()

    async def work() -> int:
        customer, _ = await customers.upsert(brand.id, Identity(email=email), now=now)
        await posting.credit(
            brand=brand,
            customer_id=customer.id,
            amount=amount,
            source="adjustment",
            at=now,
            now=now,
            kind="adjustment",
            breakdown={},
            note="pontos de teste",
            pending=False,
            unit=posting.POINTS,
        )
        return customer.id

    customer_id = await db.write(work)
    return customer_id, await sessions.start_session(brand_id=brand.id, customer_id=customer_id, now=now)


async def _signed_in(server, session: str) -> Browser:
    browser = await Browser(server).__aenter__()
    browser.client.cookies.set("retorno_session", session)
    return browser


def _refusal(reason: str) -> str:
    return i18n.error_text("pt-BR", points.RewardRefused(reason))


async def _points_per_unit(brand_id: int) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT unit, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_postings "
        "WHERE brand = {} GROUP BY unit",
        brand_id,
    )
    return {r["unit"]: r["total"] for r in rows}


async def test_two_hundred_exchanges_through_two_processes_spend_points_for_fifty_exactly_fifty_times(
    app_processes, demo
):
    """One shopper holding the points of exactly 50 vouchers sends 200 exchanges at once (each its
    own form, so its own key), alternating between two processes: 50 go through, 150 are refused
    for want of points; the points end at exactly 0, 50 vouchers exist, and each unit's postings
    add up to zero."""
    bella = await _bella_with_points(demo["bella"])
    reward_id = await points.save(
        brand_id=bella.id,
        draft=points.Draft(kind="voucher", title="Vale de R$ 10", points="100", value="1000"),
        now=_now(),
    )
    customer_id, session = await _shopper_with_points(bella, ANA, 50 * 100)
    browsers = [await _signed_in(server, session) for server in app_processes]
    try:
        answers = await asyncio.gather(
            *(
                browsers[i % 2].post(
                    f"/points/rewards/{reward_id}",
                    {"key": f"form-{i}"},
                    client_address=f"198.51.100.{i % 250}",
                )
                for i in range(200)
            )
        )
    finally:
        for browser in browsers:
            await browser.__aexit__()
    statuses = collections.Counter(a.status_code for a in answers)
    assert statuses == {303: 50, 409: 150}, [
        (a.status_code, a.text[:300]) for a in answers if a.status_code not in (303, 409)
    ][:3]
    assert all(a.headers["location"].startswith("/points/redeemed/") for a in answers if a.status_code == 303)
    refused = [a.text for a in answers if a.status_code == 409]
    assert all(_refusal("not_enough_points") in text for text in refused)
    left = await balances.balance(brand=bella, customer_id=customer_id, now=_now(), unit=posting.POINTS)
    assert (left.available, left.pending) == (0, 0)
    taken = await db.fetch(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT voucher) AS vouchers, CAST(SUM(points) AS BIGINT) AS points "
        "FROM reward_redemptions WHERE brand = {} AND customer = {} AND state = 'issued'",
        bella.id,
        customer_id,
    )
    assert (taken[0]["n"], taken[0]["vouchers"], taken[0]["points"]) == (50, 50, 5000)
    vouchers = await db.fetch(
        "SELECT COUNT(*) AS n FROM vouchers WHERE brand = {} AND customer = {} AND source = 'points'",
        bella.id,
        customer_id,
    )
    assert vouchers[0]["n"] == 50
    lots = await db.fetch(
        "SELECT remaining FROM ledger_lots WHERE customer = {} AND unit = 'pts'", customer_id
    )
    assert [lot["remaining"] for lot in lots] == [0]
    assert await _points_per_unit(bella.id) == {"pts": 0}


async def test_forty_shoppers_racing_with_points_for_a_reward_of_stock_ten_through_two_processes_get_ten(
    app_processes, demo
):
    """40 shoppers, each with points enough, take a product of stock 10 at once through two
    processes: exactly 10 get it, 30 are told it is out of stock and keep their points."""
    bella = await _bella_with_points(demo["bella"])
    reward_id = await points.save(
        brand_id=bella.id,
        draft=points.Draft(kind="product", title="Nécessaire Bella", points="300", stock="10"),
        now=_now(),
    )
    shoppers = [await _shopper_with_points(bella, f"cliente{i}@example.com", 1000) for i in range(40)]
    browsers = [await _signed_in(app_processes[i % 2], session) for i, (_, session) in enumerate(shoppers)]
    try:
        answers = await asyncio.gather(
            *(
                browser.post(
                    f"/points/rewards/{reward_id}", {"key": "form"}, client_address=f"198.51.100.{i}"
                )
                for i, browser in enumerate(browsers)
            )
        )
    finally:
        for browser in browsers:
            await browser.__aexit__()
    assert sorted(a.status_code for a in answers) == [303] * 10 + [409] * 30, [
        (a.status_code, a.text[:300]) for a in answers if a.status_code not in (303, 409)
    ][:3]
    assert all(_refusal("out_of_stock") in a.text for a in answers if a.status_code == 409)
    rows = await db.fetch(
        "SELECT customer FROM reward_redemptions WHERE reward = {} AND state = 'issued'", reward_id
    )
    winners = {r["customer"] for r in rows}
    assert len(rows) == len(winners) == 10
    for (customer_id, _), answer in zip(shoppers, answers, strict=True):
        left = await balances.balance(brand=bella, customer_id=customer_id, now=_now(), unit=posting.POINTS)
        assert left.available == (700 if customer_id in winners else 1000)
        assert (answer.status_code == 303) == (customer_id in winners)
    assert await _points_per_unit(bella.id) == {"pts": 0}


async def test_a_balance_read_on_one_process_shows_every_write_another_process_acknowledged(
    app_processes, demo
):
    """Each process keeps the balances it read (ledger.balances' memo, checked against the
    shopper's newest entry): a redemption acknowledged by one process shows in the very next
    balance the other gives, one at a time and with reads and redemptions at once."""
    from retorno.sales import adjustments

    bella = demo["bella"]
    now = _now()
    customer, _ = await db.write(lambda: customers.upsert(bella.id, Identity(email=ANA), now=now))
    await adjustments.adjust(
        brand=bella, customer_id=customer.id, amount=10_000, reason="saldo de teste", now=now
    )
    key = (await apikeys.create(brand_id=bella.id, name="pdv", now=now)).key
    reader, writer = (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{s.port}/api/v1",
            headers={"host": f"localhost:{s.port}", "authorization": f"Bearer {key}"},
            timeout=30,
        )
        for s in app_processes
    )

    async def available() -> int:
        answer = await reader.get(f"/customers/email:{ANA}/balance")
        assert answer.status_code == 200, answer.text
        return answer.json()["available"]

    def redeem(i: int):
        return writer.post(
            "/redemptions",
            json={
                "redemption_id": f"R-{i}",
                "order_id": f"O-{i}",
                "customer": {"email": ANA},
                "order_total": 100_000,
                "amount": 100,
            },
        )

    try:
        assert await available() == await available() == 10_000  # the second from the memo
        for i in range(10):
            assert (await redeem(i)).status_code == 201
            assert await available() == 10_000 - 100 * (i + 1)
        reads_and_writes = await asyncio.gather(*(redeem(i) if i % 2 else available() for i in range(10, 50)))
        redeemed = [a for a in reads_and_writes if not isinstance(a, int)]
        assert {a.status_code for a in redeemed} == {201}
        seen = [a for a in reads_and_writes if isinstance(a, int)]
        assert all(9_000 - 100 * len(redeemed) <= s <= 9_000 and s % 100 == 0 for s in seen)
        assert await available() == 9_000 - 100 * len(redeemed) == 7_000
    finally:
        await reader.aclose()
        await writer.aclose()
