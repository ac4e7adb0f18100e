"""Web push from the outbox to a fake push service that decrypts and checks every request.

The worker runs in the test's event loop with the test's clock (`Worker.run_once`/`drain`), so
backoff and Retry-After are exercised by moving the clock, never by sleeping.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from retorno import db
from retorno.push import keys as push_keys
from retorno.push import notices
from retorno.push import service as push
from retorno.worker import Worker
from tests.conftest import brand_url, post_form
from tests.fake_push import HANG, FakePushService, push_campaign


@pytest.fixture
async def service():
    fake = await FakePushService().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def worker(clock):
    async with Worker(clock=clock, timeout=0.5, backoff=10, max_attempts=3, sweep=False) as w:
        yield w


async def _customer(api, email: str = "ana@example.com", key: str | None = None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else None
    response = await api.post("/customers", json={"email": email, "name": "Ana"}, headers=headers)
    return response.json()["id"]


async def _subscribe(demo, slug: str, customer_id: int, device, clock) -> int:
    data = push.SubscriptionIn(endpoint=device.endpoint, keys=device.keys, device="Chrome · Android")
    return await push.subscribe(brand_id=demo[slug].id, customer_id=customer_id, data=data, now=clock())


async def _sale(api, order_id: str, total: int = 15000, email: str = "ana@example.com", key=None):
    headers = {"authorization": f"Bearer {key}"} if key else None
    body = {"order_id": order_id, "customer": {"email": email}, "total": total}
    response = await api.post("/sales", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _subscriptions() -> set[int]:
    return {r["id"] for r in await db.fetch("SELECT id FROM push_subscriptions")}


async def test_a_credit_notifies_in_the_brands_language_with_ttl_urgency_topic_and_vapid(
    api, demo, clock, service, worker
):
    ana = await _customer(api)
    device = service.device()
    await _subscribe(demo, "bella", ana, device, clock)
    await _sale(api, "P-1", 15000)
    await worker.drain()
    # Both go out in one batch, side by side: their order of arrival is not fixed.
    credited, voucher = sorted(service.to(device.token), key=lambda r: r.payload["tag"] != "cashback")
    assert credited.problems == [] and voucher.problems == []
    payload = credited.payload
    assert payload["title"].replace("\xa0", " ") == "R$ 15,00 de cashback creditado"
    assert payload["body"] == "Você pode usar a partir de 17/11/2026."
    assert payload["url"].startswith("/m/") and payload["tag"] == "cashback" and payload["lang"] == "pt-BR"
    opened = await api.get(brand_url("bella", payload["url"]))  # the tap: counted, then the statement
    assert opened.status_code == 302 and opened.headers["location"] == "/statement"
    assert payload["icon"].startswith("/assets/icon-192.png") and payload["badge"].startswith(
        "/assets/badge-96.png"
    )
    headers = {k.lower(): v for k, v in credited.headers.items()}
    assert int(headers["ttl"]) > 0 and headers["urgency"] == "normal" and headers["topic"] == "balance"
    assert credited.vapid_key == await push_keys.public_key(demo["bella"].id)
    assert "R$ 10,00" in voucher.payload["title"].replace("\xa0", " ") and voucher.payload["url"].startswith(
        "/m/"
    )
    # Sent once: another pass sends nothing more.
    await worker.drain()
    assert len(service.to(device.token)) == 2


def _delivered(outcome: str) -> float:
    """What /metrics says of push deliveries (this process's, kept in memory)."""
    labels = {"channel": "push", "outcome": outcome}
    return REGISTRY.get_sample_value("retorno_deliveries_total", labels) or 0.0


async def test_404_and_410_delete_those_subscriptions_and_no_others(api, demo, clock, service, worker):
    ana = await _customer(api)
    gone404, gone410, fine = service.device([404]), service.device([410]), service.device()
    ids = [await _subscribe(demo, "bella", ana, d, clock) for d in (gone404, gone410, fine)]
    await _sale(api, "P-1", 1000)  # below R$ 20,00: a credit, no voucher
    before = {outcome: _delivered(outcome) for outcome in ("sent", "gone")}
    await worker.drain()
    assert await _subscriptions() == {ids[2]}
    assert len(service.to(fine.token)) == 1
    assert _delivered("sent") - before["sent"] == 1 and _delivered("gone") - before["gone"] == 2


async def test_nothing_goes_to_a_service_before_its_retry_after(api, demo, clock, service, worker):
    ana = await _customer(api)
    device = service.device([(429, 120)])
    await _subscribe(demo, "bella", ana, device, clock)
    await _sale(api, "P-1", 1000)
    await worker.drain()
    assert len(service.to(device.token)) == 1
    clock.advance(seconds=119)
    await worker.drain()
    assert len(service.to(device.token)) == 1  # still waiting
    clock.advance(seconds=2)
    await worker.drain()
    assert len(service.to(device.token)) == 2
    state = await db.fetch("SELECT state FROM push_deliveries")
    assert [s["state"] for s in state] == ["sent"]


async def test_5xx_and_no_answer_are_retried_with_backoff_a_bounded_number_of_times(
    api, demo, clock, service, worker
):
    ana = await _customer(api)
    flaky = service.device([500, HANG])  # then 201
    broken = service.device([500, 500, 500, 500, 500])
    for d in (flaky, broken):
        await _subscribe(demo, "bella", ana, d, clock)
    await _sale(api, "P-1", 1000)
    await worker.drain()
    assert len(service.to(flaky.token)) == 1
    clock.advance(seconds=9)
    await worker.drain()
    assert len(service.to(flaky.token)) == 1  # the first retry waits 10 s
    for _ in range(6):
        clock.advance(seconds=45)
        await worker.drain()
    assert len(service.to(flaky.token)) == 3  # 500, no answer, then 201
    assert len(service.to(broken.token)) == 3  # max_attempts, then given up
    states = {
        r["subscription"]: r["state"]
        for r in await db.fetch("SELECT subscription, state FROM push_deliveries")
    }
    assert sorted(states.values()) == ["failed", "sent"]


@pytest.mark.parametrize("status", [400, 403, 413])
async def test_400_403_413_are_not_retried(api, demo, clock, service, worker, status):
    ana = await _customer(api)
    device = service.device([status])
    await _subscribe(demo, "bella", ana, device, clock)
    await _sale(api, "P-1", 1000)
    for _ in range(4):
        await worker.drain()
        clock.advance(minutes=10)
    assert len(service.to(device.token)) == 1
    assert [r["state"] for r in await db.fetch("SELECT state FROM push_deliveries")] == ["failed"]
    assert len(await _subscriptions()) == 1  # the subscription itself is kept


async def test_a_brands_notice_never_reaches_another_brands_subscription(
    api, api_keys, demo, clock, service, worker
):
    bella_ana = await _customer(api)
    mare_ana = await _customer(api, key=api_keys["mare"])
    at_bella, at_mare = service.device(), service.device()
    await _subscribe(demo, "bella", bella_ana, at_bella, clock)
    await _subscribe(demo, "mare", mare_ana, at_mare, clock)
    await _sale(api, "P-1", 1000)
    await push_campaign(demo["bella"].id, title="Só na Bella", body="Oferta", now=clock())
    await db.write(
        lambda: db.fetch(
            "INSERT INTO consents (brand, customer, kind, granted, at) VALUES ({}, {}, 'push', {}, {})",
            demo["mare"].id,
            mare_ana,
            True,
            clock(),
        )
    )
    await worker.drain()
    assert service.to(at_mare.token) == []
    assert len(service.to(at_bella.token)) == 1  # the credit; no campaign without marketing consent
    assert at_bella.keys["p256dh"] != at_mare.keys["p256dh"]


async def test_campaigns_reach_those_who_opted_in_with_marketing_consent(api, demo, clock, service, worker):
    yes, no_consent, opted_out = [await _customer(api, f"{n}@example.com") for n in ("sim", "nao", "fora")]
    devices = {n: service.device() for n in ("sim", "nao", "fora")}
    for customer, name in ((yes, "sim"), (no_consent, "nao"), (opted_out, "fora")):
        await _subscribe(demo, "bella", customer, devices[name], clock)
    for customer in (yes, opted_out):
        from retorno.customers import service as customers

        await customers.set_consents(demo["bella"].id, customer, {"push": True}, source="app", now=clock())
    await push.set_categories(
        brand_id=demo["bella"].id, customer_id=opted_out, categories=["cashback"], now=clock()
    )
    await push_campaign(demo["bella"].id, title="Black Friday", body="Cashback em dobro", now=clock())
    await worker.drain()
    assert [r.payload["title"] for r in service.to(devices["sim"].token)] == ["Black Friday"]
    assert service.to(devices["nao"].token) == [] and service.to(devices["fora"].token) == []
    headers = {k.lower(): v for k, v in service.to(devices["sim"].token)[0].headers.items()}
    assert headers["urgency"] == "low" and int(headers["ttl"]) > 0


async def test_expiry_reminders_once_per_credit_and_day_and_none_for_spent_credit(api, demo, clock, service):
    ana = await _customer(api)
    bia = await _customer(api, "bia@example.com")
    ana_device, bia_device = service.device(), service.device()
    await _subscribe(demo, "bella", ana, ana_device, clock)
    await _subscribe(demo, "bella", bia, bia_device, clock)
    await push.set_categories(brand_id=demo["bella"].id, customer_id=ana, categories=["expiry"], now=clock())
    await push.set_categories(brand_id=demo["bella"].id, customer_id=bia, categories=["expiry"], now=clock())
    await _sale(api, "A-1", 15000)
    await _sale(api, "B-1", 15000, email="bia@example.com")
    clock.advance(days=8)  # available; bella: expires 90 days after
    spend = {
        "redemption_id": "R-1",
        "order_id": "B-2",
        "customer": {"email": "bia@example.com"},
        "order_total": 10000,
        "amount": 1500,
    }
    assert (await api.post("/redemptions", json=spend)).status_code == 201  # Bia spends it all
    reminders = []
    async with Worker(clock=clock, sweep_every=0) as worker:
        # expiry is 97 days after the sale: 9 days left, 6 (the 7-day notice), 3, a few hours (the
        # 1-day notice, at 09:36 in São Paulo: after the quiet hours), then expired
        for days in (80, 3, 3, 2.9, 3):
            clock.advance(days=days)
            await worker.drain()
            reminders.append(len(service.to(ana_device.token)))
    texts = [r.payload["title"].replace("\xa0", " ") for r in service.to(ana_device.token)]
    assert texts == ["R$ 15,00 expiram em 7 dias", "R$ 15,00 expiram amanhã"], texts
    assert reminders == [0, 1, 1, 2, 2]
    assert service.to(bia_device.token) == []  # spent before any reminder


async def test_the_shopper_subscribes_chooses_categories_and_removes_devices(
    client, api, demo, clock, service
):
    from tests.test_portal_pages import signed_in

    ana = await _customer(api)
    await signed_in(client, api, clock)
    key = (await client.get(brand_url("bella", "/push/key"))).json()["key"]
    assert key == await push_keys.public_key(demo["bella"].id)
    device = service.device()
    page = await client.get(brand_url("bella", "/account/notifications"))
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    body = {"endpoint": device.endpoint, "keys": device.keys, "device": "Chrome · Android"}
    refused = await client.post(brand_url("bella", "/push/subscriptions"), json=body)
    assert refused.status_code == 403  # no CSRF token
    created = await client.post(
        brand_url("bella", "/push/subscriptions"), json=body, headers={"x-csrftoken": token}
    )
    assert created.status_code == 201
    bad = await client.post(
        brand_url("bella", "/push/subscriptions"),
        json=body | {"keys": {"p256dh": "nope", "auth": "x"}},
        headers={"x-csrftoken": token},
    )
    assert bad.status_code == 422
    listed = (await client.get(brand_url("bella", "/account/notifications"))).text
    assert "Chrome · Android" in listed
    [sub] = await db.fetch("SELECT id, customer FROM push_subscriptions")
    assert sub["customer"] == ana
    # Another brand's host knows nothing of it, and cannot remove it.
    other = await post_form(
        client,
        brand_url("mare", f"/account/notifications/devices/{sub['id']}/remove"),
        {},
        page=brand_url("mare", "/login"),
    )
    assert other.status_code in (303, 404) and len(await _subscriptions()) == 1
    # Everything off: the devices are removed.
    saved = await post_form(
        client,
        brand_url("bella", "/account/notifications"),
        {},
        page=brand_url("bella", "/account/notifications"),
    )
    assert saved.status_code == 303 and await _subscriptions() == set()
    assert await push.categories_of(demo["bella"].id, ana) == []


async def test_a_renewed_subscription_replaces_the_old_one_without_a_session(
    client, api, demo, clock, service
):
    ana = await _customer(api)
    old, new = service.device(), service.device()
    await _subscribe(demo, "bella", ana, old, clock)
    body = {"old_endpoint": old.endpoint, "subscription": {"endpoint": new.endpoint, "keys": new.keys}}
    assert (await client.post(brand_url("bella", "/push/renew"), json=body)).status_code == 200
    rows = await db.fetch("SELECT endpoint, customer FROM push_subscriptions")
    assert rows == [{"endpoint": new.endpoint, "customer": ana}]
    unknown = body | {"old_endpoint": old.endpoint + "x"}
    assert (await client.post(brand_url("bella", "/push/renew"), json=unknown)).status_code == 404
    at_mare = await client.post(brand_url("mare", "/push/renew"), json={**body, "old_endpoint": new.endpoint})
    assert at_mare.status_code == 404  # a bella subscription cannot be renewed through mare


async def test_deleting_the_account_removes_its_subscriptions(client, api, demo, clock, service):
    from tests.test_portal_pages import signed_in

    await _customer(api)
    ana = await signed_in(client, api, clock)
    await _subscribe(demo, "bella", ana, service.device(), clock)
    await post_form(client, brand_url("bella", "/account/delete"), {"confirm": "yes"})
    assert await _subscriptions() == set()


def test_payloads_stay_under_the_push_limit(demo):
    notice = notices.Notice(category="campaigns", title="T" * 500, body="é" * 5000, url="/", tag="c", ttl=60)
    payload = notices.payload_of(notice, demo["bella"])
    assert len(payload.encode()) <= notices.MAX_PAYLOAD - 100
