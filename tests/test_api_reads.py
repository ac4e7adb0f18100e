"""What an integrator reads back and changes: a sale with its refunds, redemptions and vouchers;
a customer's profile, changes to it and its erasure; a customer's vouchers; and the pages of
customers changed since a time that an ERP reconciles from."""

from __future__ import annotations

import datetime as dt

CPF = "52998224725"


async def test_a_sale_reads_back_with_what_happened_to_it(api, clock):
    sale = {
        "order_id": "PED-7",
        "customer": {"cpf": CPF, "email": "ana@example.com"},
        "total": 30000,
        "items": [{"sku": "BAT", "category": "maquiagem", "amount": 10000, "quantity": 3}],
    }
    recorded = (await api.post("/sales", json=sale)).json()
    clock.advance(days=8)
    await api.post("/sales/PED-7/refunds", json={"refund_id": "DEV-1", "amount": 10000})
    redeemed = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-7",
            "order_id": "PED-7",
            "customer": {"cpf": CPF},
            "order_total": 20000,
            "amount": 1000,
        },
    )
    assert redeemed.status_code == 201, redeemed.text
    read = await api.get("/sales/PED-7")
    assert read.status_code == 200
    body = read.json()
    assert (body["status"], body["total"], body["customer_id"]) == (
        "recorded",
        30000,
        recorded["customer_id"],
    )
    assert body["cashback"] == recorded["cashback"]["amount"] == 4500  # 15% on maquiagem
    assert body["breakdown"] == recorded["cashback"]["breakdown"]
    assert [(r["refund_id"], r["amount"], r["cashback_reversed"]) for r in body["refunds"]] == [
        ("DEV-1", 10000, 1500)
    ]
    assert body["cashback_reversed"] == 1500
    assert [(r["redemption_id"], r["amount"], r["status"]) for r in body["redemptions"]] == [
        ("R-7", 1000, "committed")
    ]
    assert body["vouchers"] == recorded.get("vouchers", [])
    await api.post("/sales/PED-7/cancel")
    cancelled = (await api.get("/sales/PED-7")).json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert cancelled["redemptions"][0]["status"] == "cancelled"
    assert cancelled["cashback_reversed"] == 4500  # the refund's and the cancellation's
    assert (await api.get("/sales/PED-8")).status_code == 404


async def test_a_customer_s_profile_changes_and_erasure(api, clock):
    ana = (await api.post("/customers", json={"cpf": CPF, "email": "ana@example.com", "name": "Ana"})).json()
    bia = (await api.post("/customers", json={"email": "bia@example.com"})).json()
    await api.post("/sales", json={"order_id": "P-1", "customer": {"cpf": CPF}, "total": 10000})
    profile = (await api.get(f"/customers/cpf:{CPF}")).json()
    assert profile["customer"]["id"] == ana["id"] and profile["pending"] == 1000 and profile["available"] == 0
    assert profile["marketing"] is None and profile["referral_link"].startswith("http://bella.")
    assert profile["referral_link"] == (await api.get(f"/customers/{ana['id']}")).json()["referral_link"]
    changed = await api.patch(
        f"/customers/cpf:{CPF}", json={"name": "Ana Souza", "phone": "11 98888-7777", "marketing": True}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["customer"]["name"] == "Ana Souza" and body["customer"]["phone"] == "+5511988887777"
    assert body["customer"]["email"] == "ana@example.com" and body["marketing"] is True
    assert body["consents"] == {"push": True, "email": True, "whatsapp": True}
    whatsapp_off = await api.patch(f"/customers/cpf:{CPF}", json={"consents": {"whatsapp": False}})
    assert whatsapp_off.json()["consents"] == {"push": True, "email": True, "whatsapp": False}
    unknown = await api.patch(f"/customers/cpf:{CPF}", json={"consents": {"sms": True}})
    assert unknown.status_code == 422 and "sms" in unknown.json()["detail"]
    taken = await api.patch(f"/customers/{bia['id']}", json={"phone": "+5511988887777"})
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"
    assert (await api.patch(f"/customers/cpf:{CPF}", json={"cpf": "1"})).status_code == 400  # not a field
    bad = await api.patch(f"/customers/cpf:{CPF}", json={"email": "not an address"})
    assert bad.status_code == 422
    vouchers = await api.get(f"/customers/cpf:{CPF}/vouchers")
    assert vouchers.status_code == 200 and isinstance(vouchers.json(), list)
    erased = await api.delete(f"/customers/cpf:{CPF}")
    assert erased.status_code == 204 and erased.content == b""
    assert (await api.get(f"/customers/cpf:{CPF}")).status_code == 404  # no longer found by CPF
    gone = (await api.get(f"/customers/{ana['id']}")).json()["customer"]
    assert gone["cpf"] is None and gone["email"] is None and gone["name"] == ""
    balance = await api.get(f"/customers/{ana['id']}/balance")
    assert balance.json()["pending"] == 1000  # the money records stay


async def test_customers_changed_since_come_in_pages_oldest_change_first(api, clock):
    start = clock()
    for n in range(5):
        await api.post("/customers", json={"email": f"c{n}@example.com"})
        clock.advance(minutes=1)
    await api.patch("/customers/email:c1@example.com", json={"name": "Changed"})  # now the newest change
    seen, cursor = [], None
    while True:
        page = await api.get("/customers", params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [c["email"] for c in body["customers"]]
        if not (cursor := body["next_cursor"]):
            break
    assert seen == ["c0@example.com", "c2@example.com", "c3@example.com", "c4@example.com", "c1@example.com"]
    since = (start + dt.timedelta(minutes=3)).isoformat()
    recent = (await api.get("/customers", params={"updated_since": since})).json()
    assert [c["email"] for c in recent["customers"]] == ["c3@example.com", "c4@example.com", "c1@example.com"]
    assert recent["next_cursor"] is None
    await api.delete("/customers/email:c3@example.com")
    after = (await api.get("/customers", params={"updated_since": since})).json()["customers"]
    assert after[-1]["erased"] is True and after[-1]["email"] is None
    assert (await api.get("/customers", params={"cursor": "bm90IGEgY3Vyc29y"})).status_code == 422
    assert (await api.get("/customers", params={"updated_since": "2026-12-01T10:00:00"})).status_code == 422


async def test_a_voucher_given_from_the_store_s_systems_is_given_once_per_idempotency_key(api, app, clock):
    import asyncio

    from retorno import db

    await api.post("/customers", json={"cpf": CPF, "email": "ana@example.com"})
    body = {
        "customer": {"cpf": CPF},
        "amount": 1500,
        "min_order": 5000,
        "valid_days": 10,
        "note": "Aniversário",
    }
    headers = {"idempotency-key": "gift-42"}
    answers = await asyncio.gather(*(api.post("/vouchers", json=body, headers=headers) for _ in range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1  # the same voucher, answered five times
    voucher = answers[0].json()
    assert voucher["amount"] == 1500 and voucher["expires_at"] == "2026-11-20T15:00:00Z"
    [count] = await db.fetch("SELECT COUNT(*) AS n FROM vouchers WHERE source = 'api'")
    assert count["n"] == 1
    mine = (await api.get(f"/customers/cpf:{CPF}/vouchers")).json()
    assert [v["code"] for v in mine] == [voucher["code"]] and mine[0]["min_order"] == 5000
    other = await api.post("/vouchers", json=body | {"amount": 9000}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    percent = await api.post("/vouchers", json={"customer": {"cpf": CPF}, "percent": 12.5})
    assert percent.status_code == 201 and percent.json()["percent_bp"] == 1250
    assert (await api.post("/vouchers", json=body | {"percent": 10})).status_code == 422  # not both
    assert (
        await api.post("/vouchers", json={"customer": {"cpf": CPF}, "percent": 10.001})
    ).status_code == 422
    stranger = await api.post("/vouchers", json={"customer": {"email": "who@example.com"}, "amount": 100})
    assert stranger.status_code == 404
    from retorno.apikeys import idempotency

    clock.advance(days=2)
    assert await idempotency.purge(now=clock()) == 1  # keys are kept a day


async def test_sales_changed_since_come_in_pages_a_refund_moving_one_to_the_end(api, clock):
    start = clock()
    for n in range(4):
        await api.post(
            "/sales", json={"order_id": f"S-{n}", "customer": {"email": "a@example.com"}, "total": 10000}
        )
        clock.advance(minutes=1)
    await api.post("/sales/S-1/refunds", json={"refund_id": "D-1", "amount": 2500})
    clock.advance(minutes=1)
    await api.post("/sales/S-2/cancel")
    seen, cursor = [], None
    while True:
        page = await api.get("/sales", params={"limit": 3} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        seen += [(s["order_id"], s["status"], s["refunded"]) for s in page.json()["sales"]]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert seen == [
        ("S-0", "recorded", 0),
        ("S-3", "recorded", 0),
        ("S-1", "recorded", 2500),
        ("S-2", "cancelled", 0),
    ]
    since = (start + dt.timedelta(minutes=4)).isoformat()
    recent = (await api.get("/sales", params={"updated_since": since})).json()["sales"]
    assert [s["order_id"] for s in recent] == ["S-1", "S-2"]


async def test_a_customer_created_through_the_api_is_announced_once(api):
    from retorno import db

    await api.post("/customers", json={"email": "new@example.com", "name": "Nova"})
    await api.post("/customers", json={"email": "new@example.com", "name": "Nova Silva"})  # an update
    rows = await db.fetch("SELECT kind FROM outbox_events WHERE kind = 'customer.created'")
    assert len(rows) == 1
