"""Outbound webhooks, from the outbox to a local receiver that verifies every request with the
Standard Webhooks reference library (tests/fake_receiver.py), never with our own code.

The worker runs in the test's event loop with the test's clock (`Worker.drain`), so backoff and
the 3-day limits are exercised by moving the clock, never by sleeping. `webhook-timestamp` is real
time (the receiver checks it against its own clock, as the library does).
"""

from __future__ import annotations

import datetime as dt
import time

import msgspec
import pytest
from standardwebhooks import Webhook

from retorno import db, vault
from retorno.errors import Conflict, Invalid, NotFound
from retorno.mail import MemoryMailer
from retorno.outbound import Options
from retorno.staff import service as staff
from retorno.webhooks import service as webhooks
from retorno.webhooks.events import TYPES
from retorno.worker import Worker
from tests.fake_receiver import HANG, FakeReceiver

PUBLIC = "93.184.216.34"  # a public address the tests' resolver may give for a name


class Names:
    """The resolver hook: names the tests make up, answered from a table they can change."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        if host in ("127.0.0.1", "localhost"):
            return ["127.0.0.1"]
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return self.table[host]


@pytest.fixture
async def receiver():
    fake = await FakeReceiver().start()
    yield fake
    await fake.stop()


@pytest.fixture
def names() -> Names:
    return Names()


@pytest.fixture
def options(names) -> Options:
    """What the tests may reach: the receiver on 127.0.0.1 (RETORNO_WEBHOOKS_ALLOW_PRIVATE=1)."""
    return Options(allow_private=True, require_https=False, lookup=names)


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
async def worker(clock, settings, options, mailer):
    async with Worker(
        clock=clock,
        sweep=False,
        settings=settings,
        webhook_options=options,
        webhook_backoff=10,
        webhook_timeout=0.5,
        mailer=mailer,
    ) as w:
        w.webhooks.rng = lambda: 0.5  # no jitter: the schedule is exact
        yield w


async def _endpoint(demo, receiver, options, clock, slug="bella", events=("*",), script=None):
    path = receiver.path(script)
    created = await webhooks.create_endpoint(
        brand_id=demo[slug].id,
        url=receiver.url(path),
        events=list(events),
        description="ERP",
        now=clock(),
        options=options,
    )
    receiver.secrets[path] = [created.secret]
    return created, path


async def _sale(
    api, order_id: str, total: int = 15000, email: str = "ana@example.com", ext: str | None = None
):
    customer = {"email": email} | ({"external_id": ext} if ext else {})
    response = await api.post("/sales", json={"order_id": order_id, "customer": customer, "total": total})
    assert response.status_code == 201, response.text
    return response.json()


async def _rows(endpoint_id: int) -> list[dict]:
    return await db.fetch(
        "SELECT id, message_id, event_type, state, attempts, next_attempt_at, last_status, last_error, "
        "response FROM webhook_deliveries WHERE endpoint = {} ORDER BY id",
        endpoint_id,
    )


async def test_a_sale_reaches_the_endpoint_signed_as_the_reference_library_verifies(
    api, demo, clock, receiver, options, worker
):
    created, path = await _endpoint(demo, receiver, options, clock)
    assert created.secret.startswith("whsec_") and created.endpoint.events == ["*"]
    sale = await _sale(api, "W-1", ext="erp-77")
    await worker.drain()
    got = receiver.to(path)
    assert [r.problems for r in got] == [[]] * len(got)
    # One customer's events arrive one at a time, in the order they happened.
    types = [r.payload["type"] for r in got]
    assert types == ["customer.created", "sale.recorded", "cashback.credited", "voucher.issued"]
    recorded = got[1]
    assert recorded.payload["data"] == {
        "brand": "bella",
        "customer": {"id": sale["customer_id"], "external_id": "erp-77"},
        "sale_id": sale["sale_id"],
        "order_id": "W-1",
        "total": 15000,
        "shipping": 0,
        "cashback": 1500,
        "channel": "api",
        "occurred_at": "2026-11-10T15:00:00Z",
    }
    assert recorded.payload["timestamp"] == "2026-11-10T15:00:00Z"
    headers = recorded.headers
    assert headers["webhook-id"].startswith("msg_") and len({r.message_id for r in got}) == 4
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    assert headers["user-agent"].startswith("Retorno-Webhooks/")
    assert headers["content-type"] == "application/json"
    rows = await _rows(created.endpoint.id)
    assert [(r["state"], r["last_status"], r["attempts"]) for r in rows] == [("delivered", 200, 1)] * 4
    shown = await webhooks.deliveries(brand_id=demo["bella"].id, endpoint_id=created.endpoint.id)
    assert shown[0].body.encode() == got[-1].body and shown[0].latency_ms is not None
    assert shown[0].response == "ok"
    # Sent once: another pass sends nothing more.
    await worker.drain()
    assert len(receiver.to(path)) == 4


async def test_an_endpoint_gets_the_types_it_asked_for_and_only_its_own_brands(
    api, demo, clock, receiver, options, worker
):
    credits, credits_path = await _endpoint(demo, receiver, options, clock, events=["cashback.credited"])
    _, mare_path = await _endpoint(demo, receiver, options, clock, slug="mare")
    await _sale(api, "W-1")
    await worker.drain()
    assert [r.payload["type"] for r in receiver.to(credits_path)] == ["cashback.credited"]
    assert receiver.to(mare_path) == []
    with pytest.raises(Invalid):
        await webhooks.update_endpoint(
            brand_id=demo["bella"].id, endpoint_id=credits.endpoint.id, events=["sale.nope"], now=clock()
        )
    with pytest.raises(Invalid):
        await webhooks.update_endpoint(
            brand_id=demo["bella"].id, endpoint_id=credits.endpoint.id, events=[], now=clock()
        )


async def test_every_event_type_of_the_catalogue_is_emitted_and_delivered(
    api, demo, clock, receiver, options, worker, settings
):
    """Sale, refund, cancel, redemption and its cancellation, vouchers, the sweep, a referral, an
    erasure: every type the catalogue lists reaches an endpoint of all types."""
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.onboarding import shoppers
    from retorno.points import service as rewards
    from retorno.vouchers import coupons
    from retorno.vouchers import service as vouchers
    from retorno.worker import sweep
    from tests.test_points import give_points

    await give_points(settings)  # Bella gives points too: points.credited, reward.*
    bella = await brands.get_brand("bella")
    _, path = await _endpoint(demo, receiver, options, clock)
    await _sale(api, "W-1", 50000)  # 5,000 of cashback, 500 points and a voucher
    clock.advance(days=8)
    await sweep(clock())  # available
    redemption = {
        "redemption_id": "R-1",
        "order_id": "W-2",
        "customer": {"email": "ana@example.com"},
        "order_total": 10000,
        "amount": 1000,
    }
    assert (await api.post("/redemptions", json=redemption)).status_code == 201
    assert (await api.post("/redemptions/R-1/cancel")).status_code in (200, 201)
    gift = await rewards.save(
        brand_id=bella.id, draft=rewards.Draft(kind="product", title="Brinde", points="100"), now=clock()
    )
    ana_id = (await db.fetch("SELECT id FROM customers WHERE email = {}", "ana@example.com"))[0]["id"]
    taken = await rewards.redeem(
        brand=bella, customer_id=ana_id, reward_id=gift, request_key="w", now=clock()
    )
    await rewards.undo(brand=bella, redemption_id=taken.redemption_id, by="t", reason="teste", now=clock())
    code = (await db.fetch("SELECT code FROM vouchers ORDER BY id LIMIT 1"))[0]["code"]
    await vouchers.redeem(brand=bella, code=code, order_id="W-3", order_total=50000, now=clock())
    await coupons.save(
        brand_id=bella.id, draft=coupons.CouponDraft(code="BEMVINDA10", amount=1000), now=clock()
    )
    coupon_use = {"order_id": "W-3", "order_total": 50000, "customer": {"email": "ana@example.com"}}
    assert (await api.post("/vouchers/BEMVINDA10/redeem", json=coupon_use)).status_code == 201
    await _sale(api, "W-3", 50000)
    assert (
        await api.post("/sales/W-1/refunds", json={"refund_id": "F-1", "amount": 10000})
    ).status_code == 201
    assert (await api.post("/sales/W-3/cancel")).status_code in (200, 201)
    clock.advance(days=83)  # the first sale's credit is about to expire, then expires
    await sweep(clock())
    clock.advance(days=7)
    await sweep(clock())
    ana = await customers.lookup(bella.id, customers.Identity(email="ana@example.com"))
    assert ana is not None
    await shoppers.erase(brand_id=bella.id, customer_id=ana.id, now=clock())
    await _referral(api, demo, clock)
    await worker.drain()
    got = receiver.to(path)
    assert all(r.problems == [] for r in got)
    seen = {r.payload["type"] for r in got}
    assert seen == set(TYPES), set(TYPES) - seen
    by_type = {r.payload["type"]: r.payload["data"] for r in got}
    assert by_type["cashback.expiring"]["days_left"] in (1, 7)
    assert by_type["redemption.committed"]["redemption_id"] == "R-1"
    assert (
        by_type["coupon.redeemed"]["code"] == "BEMVINDA10" and by_type["coupon.redeemed"]["discount"] == 1000
    )
    assert by_type["coupon.released"]["order_id"] == "W-3"
    assert by_type["redemption.cancelled"]["amount"] == 1000
    assert by_type["sale.refunded"]["cashback_reversed"] == 1000
    assert by_type["customer.erased"]["customer"] == {"id": ana.id, "external_id": None}
    assert all(d["brand"] == "bella" for d in by_type.values())


async def _referral(api, demo, clock) -> None:
    """A friend invited by a shopper buys for the first time: both are rewarded."""
    from retorno.customers import service as customers
    from retorno.referrals import invitations

    bella = demo["bella"]
    await _sale(api, "REF-0", 5000, email="rita@example.com")
    rita = await customers.lookup(bella.id, customers.Identity(email="rita@example.com"))
    code = await invitations.code_of(brand_id=bella.id, customer_id=rita.id, now=clock())
    await _sale_customer(api, "bia@example.com")
    bia = await customers.lookup(bella.id, customers.Identity(email="bia@example.com"))
    await invitations.attach(
        brand_id=bella.id, code=code, friend_id=bia.id, existed=False, device="", now=clock()
    )
    await _sale(api, "REF-1", 30000, email="bia@example.com")


async def _sale_customer(api, email: str) -> None:
    assert (await api.post("/customers", json={"email": email, "name": "Bia"})).status_code in (200, 201)


async def test_failures_are_retried_with_exponential_backoff_then_die_after_three_days(
    api, demo, clock, receiver, options, worker, mailer
):
    await staff.add_staff(email="dona@bella.example", brand_id=demo["bella"].id, role="owner", now=clock())
    created, path = await _endpoint(
        demo, receiver, options, clock, events=["cashback.credited"], script=[500, HANG, 503] + [500] * 40
    )
    await _sale(api, "W-1", 1000)
    await worker.drain()
    first = (await _rows(created.endpoint.id))[0]
    assert (first["state"], first["attempts"], first["last_status"]) == ("failed", 1, 500)
    assert first["next_attempt_at"] == clock() + dt.timedelta(seconds=10)
    assert "answered 500" in first["last_error"] and first["response"] == "x" * 4096  # 4 KB kept
    clock.advance(seconds=9)
    await worker.drain()
    assert len(receiver.to(path)) == 1  # not yet
    waits = []
    while (row := (await _rows(created.endpoint.id))[0])["state"] == "failed":
        waits.append((row["next_attempt_at"] - clock()).total_seconds())
        clock.now = row["next_attempt_at"]
        await worker.drain()
    # 10 s, 20 s, 40 s... doubling, capped at 12 hours; the HANG one timed out (no status).
    assert waits[:4] == [1, 20, 40, 80]
    assert max(waits) == 12 * 3600
    got = receiver.to(path)
    assert len({r.message_id for r in got}) == 1  # the same webhook-id on every attempt
    assert all(r.problems == [] for r in got)  # each attempt signed afresh, and verifies
    assert row["state"] == "dead" and row["attempts"] == len(got)
    assert clock() - created.endpoint.created_at == dt.timedelta(days=3)  # the last attempt
    # Every attempt failed for 3 days: the endpoint is disabled, and its owner told.
    endpoint = await webhooks.get_endpoint(brand_id=demo["bella"].id, endpoint_id=created.endpoint.id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    assert endpoint.failed_attempts == len(got) and endpoint.failing_since == created.endpoint.created_at
    [mail] = [m for m in mailer.messages if m.to == "dona@bella.example"]
    assert created.endpoint.url in mail.text and "/admin/b/bella/webhooks" in mail.text


def test_the_backoff_schedule_doubles_with_jitter_up_to_twelve_hours():
    from retorno.webhooks.sender import Sender

    sender = Sender(options=Options(), clock=lambda: dt.datetime.now(dt.UTC), backoff=30)
    for attempts in range(1, 20):
        base = min(30 * 2 ** (attempts - 1), 12 * 3600)
        delays = {sender.delay(attempts, None).total_seconds() for _ in range(50)}
        assert all(0.75 * base <= d <= 1.25 * base for d in delays)
        assert len(delays) > 1  # jittered
    assert sender.delay(1, 600).total_seconds() >= 600  # Retry-After is respected
    assert sender.delay(1, 10**9).total_seconds() <= 12 * 3600  # ...within 12 hours
    total, attempts = 0.0, 0
    while total < 3 * 86400:
        attempts += 1
        total += min(30 * 2 ** (attempts - 1), 12 * 3600)
    assert 12 <= attempts <= 20  # about 15 attempts in 3 days


async def test_410_gone_disables_the_endpoint_at_once_and_tells_the_owners(
    api, demo, clock, receiver, options, worker, mailer
):
    await staff.add_staff(email="dona@bella.example", brand_id=demo["bella"].id, role="owner", now=clock())
    await staff.add_staff(
        email="caixa@bella.example", brand_id=demo["bella"].id, role="operator", now=clock()
    )
    created, path = await _endpoint(demo, receiver, options, clock, script=[410])
    await _sale(api, "W-1")
    await worker.drain()
    assert len(receiver.to(path)) == 1  # the first one; the customer's next ones never went
    endpoint = await webhooks.get_endpoint(brand_id=demo["bella"].id, endpoint_id=created.endpoint.id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    assert {r["state"] for r in await _rows(created.endpoint.id)} == {"dead"}
    assert [m.to for m in mailer.messages] == ["dona@bella.example"]
    assert "410" in mailer.messages[0].text
    await _sale(api, "W-2", email="bia@example.com")
    await worker.drain()
    assert len(receiver.to(path)) == 1
    # Enabled again, it gets what comes next.
    await webhooks.update_endpoint(
        brand_id=demo["bella"].id, endpoint_id=created.endpoint.id, enabled=True, now=clock(), options=options
    )
    await _sale(api, "W-3", email="bia@example.com")
    await worker.drain()
    assert [r.payload["type"] for r in receiver.to(path)[1:]] == [
        "sale.recorded",
        "cashback.credited",
        "voucher.issued",
    ]


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(
    api, demo, clock, receiver, options, worker
):
    created, path = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"])
    old = created.secret
    rotated = await webhooks.rotate_secret(
        brand_id=demo["bella"].id, endpoint_id=created.endpoint.id, now=clock()
    )
    new = rotated.secret
    assert new != old and rotated.previous_valid_until == clock() + dt.timedelta(hours=24)
    receiver.secrets[path] = [new]
    await _sale(api, "W-1")
    await worker.drain()
    [during] = receiver.to(path)
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    # Each signature verifies on its own, with its own secret, by the reference library.
    for secret, signature in zip((new, old), signatures, strict=True):
        Webhook(secret).verify(during.body, {**during.headers, "webhook-signature": signature})
    clock.advance(hours=25)
    await _sale(api, "W-2")
    await worker.drain()
    after = receiver.to(path)[1]
    assert after.problems == [] and " " not in after.headers["webhook-signature"]
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old).verify(after.body, after.headers)
    # Both secrets are sealed in the database.
    row = (await db.fetch("SELECT secret, previous_secret FROM webhook_endpoints"))[0]
    assert vault.is_sealed(row["secret"]) and vault.is_sealed(row["previous_secret"])
    assert new not in str(row) and old not in str(row)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "0.0.0.0",
        "::",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # CGNAT
        "169.254.1.1",
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "169.254.169.254",
        "fd00:ec2::254",
    ],
)
def test_addresses_of_our_own_network_are_refused(address):
    import ipaddress

    from retorno.outbound import refusal

    assert refusal(ipaddress.ip_address(address), allow_private=False) is not None


def test_public_addresses_pass_and_metadata_is_refused_even_when_private_ones_are_allowed():
    import ipaddress

    from retorno.outbound import refusal

    for address in (PUBLIC, "2606:4700::1111", "8.8.8.8"):
        assert refusal(ipaddress.ip_address(address), allow_private=False) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "100.100.100.200"):
        assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::1]:8080/",
        "http://10.0.0.5/",
        "http://intranet.example/hook",  # resolves to 10.0.0.7
        "http://mixed.example/hook",  # one public address, one private: refused
        "http://2130706433/",  # 127.0.0.1 written as a number
        "http://nowhere.example/",  # does not resolve
        "ftp://hooks.example/",
        "http://user:pw@hooks.example/",
        "not a url",
    ],
)
async def test_a_private_or_bad_url_is_refused_when_saved(demo, clock, names, url):
    names.table.update({"intranet.example": ["10.0.0.7"], "mixed.example": [PUBLIC, "192.168.0.2"]})
    names.table["hooks.example"] = [PUBLIC]
    strict = Options(allow_private=False, require_https=False, lookup=names)
    with pytest.raises(Invalid) as refused:
        await webhooks.create_endpoint(
            brand_id=demo["bella"].id, url=url, events=["*"], now=clock(), options=strict
        )
    assert refused.value.params["field"] == "url"
    assert await webhooks.list_endpoints(brand_id=demo["bella"].id) == []


async def test_https_is_required_in_production_and_metadata_never_allowed(demo, clock, names, settings):
    names.table["hooks.example"] = [PUBLIC]
    production = Options.of(msgspec.structs.replace(settings, env="production"))
    assert production.require_https and not production.allow_private
    with pytest.raises(Invalid):
        await webhooks.create_endpoint(
            brand_id=demo["bella"].id,
            url="http://hooks.example/",
            events=["*"],
            now=clock(),
            options=msgspec.structs.replace(production, lookup=names),
        )
    created = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url="https://hooks.example/",
        events=["*"],
        now=clock(),
        options=msgspec.structs.replace(production, lookup=names),
    )
    assert created.endpoint.url == "https://hooks.example/"
    loose = Options(allow_private=True, require_https=False, lookup=names)
    with pytest.raises(Invalid):
        await webhooks.create_endpoint(
            brand_id=demo["bella"].id,
            url="http://169.254.169.254/latest/",
            events=["*"],
            now=clock(),
            options=loose,
        )


async def test_a_name_that_turns_private_after_it_was_saved_is_refused_at_delivery(
    api, demo, clock, receiver, names, settings, mailer
):
    """DNS rebinding: public when saved, 127.0.0.1 when sent. The resolver the session connects
    through checks what it resolves, so nothing reaches the receiver."""
    strict = Options(allow_private=False, require_https=False, lookup=names)
    names.table["hooks.example"] = [PUBLIC]
    path = receiver.path()
    created = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url=f"http://hooks.example:{receiver.port}{path}",
        events=["sale.recorded"],
        now=clock(),
        options=strict,
    )
    names.table["hooks.example"] = ["127.0.0.1"]
    async with Worker(
        clock=clock, sweep=False, settings=settings, webhook_options=strict, mailer=mailer
    ) as w:
        await _sale(api, "W-1")
        await w.drain()
    assert receiver.received == []
    [row] = await _rows(created.endpoint.id)
    assert row["state"] == "failed" and row["last_status"] is None
    assert "loopback" in row["last_error"] and "hooks.example" in row["last_error"]


async def test_the_sender_connects_to_the_address_its_resolver_checked(
    api, demo, clock, receiver, options, names, worker
):
    names.table["hooks.example"] = ["127.0.0.1"]
    path = receiver.path()
    created = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url=f"http://hooks.example:{receiver.port}{path}",
        events=["sale.recorded"],
        now=clock(),
        options=options,
    )
    receiver.secrets[path] = [created.secret]
    await _sale(api, "W-1")
    await worker.drain()
    [got] = receiver.to(path)
    assert got.problems == [] and got.headers["host"] == f"hooks.example:{receiver.port}"


async def test_an_ip_literal_turned_private_is_refused_at_delivery_too(
    api, demo, clock, receiver, settings, mailer
):
    """A URL saved while private addresses were allowed, sent by a worker that refuses them."""
    loose = Options(allow_private=True, require_https=False)
    path = receiver.path()
    created = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url=receiver.url(path),
        events=["sale.recorded"],
        now=clock(),
        options=loose,
    )
    strict = Options(allow_private=False, require_https=False)
    async with Worker(
        clock=clock, sweep=False, settings=settings, webhook_options=strict, mailer=mailer
    ) as w:
        await _sale(api, "W-1")
        await w.drain()
    assert receiver.received == []
    [row] = await _rows(created.endpoint.id)
    assert row["state"] == "failed" and row["last_error"].startswith("refused")


async def test_redirects_are_not_followed(api, demo, clock, receiver, options, worker):
    elsewhere = receiver.path()
    created, path = await _endpoint(
        demo,
        receiver,
        options,
        clock,
        events=["sale.recorded"],
        script=[(302, {"Location": receiver.url(elsewhere)})],
    )
    await _sale(api, "W-1")
    await worker.drain()
    assert len(receiver.to(path)) == 1 and receiver.to(elsewhere) == []
    [row] = await _rows(created.endpoint.id)
    assert (row["state"], row["last_status"]) == ("failed", 302) and "redirect" in row["last_error"]


async def test_a_customers_next_event_waits_while_an_earlier_one_is_retried(
    api, demo, clock, receiver, options, worker
):
    _, path = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"], script=[500])
    await _sale(api, "W-1", email="ana@example.com")
    await worker.drain()  # ana's first sale failed: retried in 10 s
    await _sale(api, "W-2", email="ana@example.com")
    await _sale(api, "W-3", email="bia@example.com")
    await worker.drain()
    orders = [r.payload["data"]["order_id"] for r in receiver.to(path) if r.payload]
    assert orders == ["W-1", "W-3"]  # bia's goes on; ana's second waits for her first
    clock.advance(seconds=11)
    await worker.drain()
    orders = [r.payload["data"]["order_id"] for r in receiver.to(path) if r.payload]
    assert orders == ["W-1", "W-3", "W-1", "W-2"]


async def test_a_delivery_left_sending_by_a_stopped_worker_is_sent_again(
    api, demo, clock, receiver, options, worker
):
    created, path = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"])
    await _sale(api, "W-1")
    from retorno.webhooks import events

    await events.fan_out(now=clock())
    claimed = await worker.webhooks.claim(clock())  # claimed, then the worker "dies"
    assert len(claimed) == 1
    await worker.drain()
    assert receiver.to(path) == []  # its lease still holds
    clock.advance(seconds=61)
    await worker.drain()
    [got] = receiver.to(path)
    assert got.message_id == claimed[0]["message_id"]
    [row] = await _rows(created.endpoint.id)
    assert (row["state"], row["attempts"]) == ("delivered", 2)


async def test_a_test_event_resend_and_replay(api, demo, clock, receiver, options, worker):
    bella = demo["bella"].id
    created, path = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"])
    endpoint_id = created.endpoint.id
    test = await webhooks.send_test(brand_id=bella, endpoint_id=endpoint_id, now=clock())
    assert test.state == "pending" and test.event_type == "webhook.test"
    await worker.drain()
    [got] = receiver.to(path)
    assert got.payload["type"] == "webhook.test" and got.payload["data"]["brand"] == "bella"
    assert (await webhooks.get_delivery(brand_id=bella, delivery_id=test.id)).state == "delivered"
    # Resend: the same message again, as a new delivery.
    again = await webhooks.resend(brand_id=bella, delivery_id=test.id, now=clock())
    await worker.drain()
    assert again.id != test.id and again.message_id == test.message_id
    assert receiver.to(path)[-1].body == got.body
    # Replay: what a disabled endpoint missed.
    await webhooks.update_endpoint(brand_id=bella, endpoint_id=endpoint_id, enabled=False, now=clock())
    with pytest.raises(Conflict):
        await webhooks.send_test(brand_id=bella, endpoint_id=endpoint_id, now=clock())
    start = clock()
    await _sale(api, "W-1")
    await _sale(api, "W-2")
    clock.advance(minutes=5)
    await worker.drain()
    assert len(receiver.to(path)) == 2
    await webhooks.update_endpoint(
        brand_id=bella, endpoint_id=endpoint_id, enabled=True, now=clock(), options=options
    )
    replayed = await webhooks.replay(
        brand_id=bella, endpoint_id=endpoint_id, since=start, until=clock(), now=clock()
    )
    assert replayed.queued == 2
    await worker.drain()
    assert [r.payload["data"]["order_id"] for r in receiver.to(path)[2:]] == ["W-1", "W-2"]
    assert all(r.problems == [] for r in receiver.to(path))
    # A second replay of the same range finds nothing missing.
    again = await webhooks.replay(
        brand_id=bella, endpoint_id=endpoint_id, since=start, until=clock(), now=clock()
    )
    assert again.queued == 0
    with pytest.raises(Invalid):
        await webhooks.replay(
            brand_id=bella, endpoint_id=endpoint_id, since=clock(), until=start, now=clock()
        )


async def test_every_service_function_is_scoped_by_brand(api, demo, clock, receiver, options, worker):
    bella, mare = demo["bella"].id, demo["mare"].id
    created, _ = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"])
    endpoint_id = created.endpoint.id
    await _sale(api, "W-1")
    await worker.drain()
    [delivery] = await webhooks.deliveries(brand_id=bella, endpoint_id=endpoint_id)
    assert await webhooks.list_endpoints(brand_id=mare) == []
    now = clock()
    attempts = [
        webhooks.get_endpoint(brand_id=mare, endpoint_id=endpoint_id),
        webhooks.update_endpoint(brand_id=mare, endpoint_id=endpoint_id, description="x", now=now),
        webhooks.update_endpoint(brand_id=mare, endpoint_id=endpoint_id, enabled=False, now=now),
        webhooks.rotate_secret(brand_id=mare, endpoint_id=endpoint_id, now=now),
        webhooks.deliveries(brand_id=mare, endpoint_id=endpoint_id),
        webhooks.get_delivery(brand_id=mare, delivery_id=delivery.id),
        webhooks.resend(brand_id=mare, delivery_id=delivery.id, now=now),
        webhooks.replay(
            brand_id=mare, endpoint_id=endpoint_id, since=now - dt.timedelta(days=1), until=now, now=now
        ),
        webhooks.send_test(brand_id=mare, endpoint_id=endpoint_id, now=now),
        webhooks.delete_endpoint(brand_id=mare, endpoint_id=endpoint_id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    still = await webhooks.get_endpoint(brand_id=bella, endpoint_id=endpoint_id)
    assert (still.description, still.enabled, still.updated_at) == ("ERP", True, created.endpoint.updated_at)
    assert still.previous_secret_until is None  # not rotated
    assert len(await webhooks.deliveries(brand_id=bella, endpoint_id=endpoint_id)) == 1
    await webhooks.delete_endpoint(brand_id=bella, endpoint_id=endpoint_id)
    assert await webhooks.list_endpoints(brand_id=bella) == []
    assert await db.fetch("SELECT id FROM webhook_deliveries") == []


async def test_a_brand_has_at_most_twenty_endpoints(demo, clock, receiver, options):
    for _ in range(20):
        await _endpoint(demo, receiver, options, clock)
    with pytest.raises(Conflict):
        await _endpoint(demo, receiver, options, clock)
    assert len(await webhooks.list_endpoints(brand_id=demo["mare"].id)) == 0


async def test_finished_deliveries_are_purged_and_secrets_resealed(
    api, demo, clock, receiver, options, worker
):
    from retorno.worker import Retention, sweep

    created, path = await _endpoint(demo, receiver, options, clock, events=["sale.recorded"])
    await _sale(api, "W-1")
    await worker.drain()
    assert len(await _rows(created.endpoint.id)) == 1
    clock.advance(days=91)
    await sweep(clock(), Retention())
    assert await _rows(created.endpoint.id) == []
    # `retorno secrets rotate`: sealed again under a new data key, still signing with the same secret.
    new_key = vault.decode_key(vault.new_key())
    vault.configure(new_key, (vault.DEV_KEY,))
    assert await webhooks.seal_secrets() == 1
    vault.configure(new_key)
    await _sale(api, "W-2")
    await worker.drain()
    assert [r.problems for r in receiver.to(path)] == [[], []]
