"""Domain events go to the outbox in the same transaction as the change that causes them."""

import pytest

from retorno import db
from retorno.apikeys import service as apikeys
from retorno.brands import service as brands
from retorno.ledger import sweep as ledger_sweep
from retorno.outbox import service as outbox


async def _sale(api, order_id: str, total: int = 15000) -> dict:
    response = await api.post(
        "/sales", json={"order_id": order_id, "customer": {"email": "ana@example.com"}, "total": total}
    )
    assert response.status_code in (200, 201)
    return response.json()


async def test_a_sale_writes_one_credited_event(api, demo):
    sale = await _sale(api, "E-1")
    await _sale(api, "E-1")  # a retry writes nothing more
    everything = await outbox.events(demo["bella"].id)
    # bella's voucher rule (purchases from R$ 20,00) issues a voucher with the same sale
    assert [e.kind for e in everything] == [
        "customer.created",
        "sale.recorded",
        "cashback.credited",
        "voucher.issued",
    ]
    assert everything[3].payload["customer_id"] == sale["customer_id"]
    assert everything[1].payload["order_id"] == "E-1" and everything[1].payload["total"] == 15000
    events = everything[2:3]
    assert events[0].payload["amount"] == 1500 and events[0].payload["customer_id"] == sale["customer_id"]
    assert events[0].payload["available_at"] == sale["cashback"]["available_at"]


async def test_redemptions_and_reversals_write_their_events(api, demo, clock):
    await _sale(api, "E-1", 50000)
    clock.advance(days=8)
    redeemed = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-1",
            "order_id": "E-2",
            "customer": {"email": "ana@example.com"},
            "order_total": 10000,
            "amount": 1000,
        },
    )
    assert redeemed.status_code == 201
    assert (
        await api.post("/sales/E-1/refunds", json={"refund_id": "F-1", "amount": 10000})
    ).status_code == 201
    kinds = [e.kind for e in await outbox.events(demo["bella"].id)]
    assert kinds == [
        "customer.created",
        "sale.recorded",
        "cashback.credited",
        "voucher.issued",
        "cashback.redeemed",
        "cashback.reversed",
        "sale.refunded",
    ]
    reversed_event = (await outbox.events(demo["bella"].id, "cashback.reversed"))[0]
    assert reversed_event.payload["amount"] == 1000 and reversed_event.payload["order_id"] == "E-1"


async def test_the_sweep_announces_and_reminds_once(api, demo, clock):
    await _sale(
        api, "E-1"
    )  # bella: available after 7 days, expires 90 days later; reminders 7 and 1 days before
    bella = [await brands.get_brand("bella")]
    clock.advance(days=7, hours=1)
    first = await ledger_sweep.sweep(brands=bella, now=clock())
    again = await ledger_sweep.sweep(brands=bella, now=clock())
    assert (first.available, again.available) == (1, 0)
    clock.advance(days=84)  # 5 days before expiry: the 7-day reminder
    assert (await ledger_sweep.sweep(brands=bella, now=clock())).reminders == 1
    assert (await ledger_sweep.sweep(brands=bella, now=clock())).reminders == 0
    clock.advance(days=5, hours=12)  # 11 hours before expiry: the 1-day reminder
    assert (await ledger_sweep.sweep(brands=bella, now=clock())).reminders == 1
    clock.advance(days=1)
    assert (await ledger_sweep.sweep(brands=bella, now=clock())).expired == 1
    events = await outbox.events(demo["bella"].id)
    assert [e.kind for e in events] == [
        "customer.created",
        "sale.recorded",
        "cashback.credited",
        "voucher.issued",
        "cashback.available",
        "cashback.expiring",
        "cashback.expiring",
        "cashback.expired",
    ]
    assert [e.payload["days"] for e in events if e.kind == "cashback.expiring"] == [7, 1]
    balance = (await api.get("/customers/email:ana@example.com/balance")).json()
    assert balance["available"] == 0


async def test_a_failed_write_leaves_no_event(demo, clock):
    bella = demo["bella"]
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await outbox.emit(brand_id=bella.id, kind="cashback.credited", payload={"x": 1}, now=clock())
            raise RuntimeError("the change failed")
    assert await outbox.events(bella.id) == []


async def test_a_revoked_key_is_refused(api, demo, clock):
    created = await apikeys.create(brand_id=demo["bella"].id, name="pos", now=clock())
    headers = {"authorization": f"Bearer {created.key}"}
    assert (await api.get("/customers/email:x@example.com/balance", headers=headers)).status_code == 404
    await apikeys.revoke(brand_id=demo["bella"].id, key_id=created.id, now=clock())
    refused = await api.get("/customers/email:x@example.com/balance", headers=headers)
    assert refused.status_code == 401
    with pytest.raises(Exception, match="no such active key"):
        await apikeys.revoke(brand_id=demo["mare"].id, key_id=created.id, now=clock())
