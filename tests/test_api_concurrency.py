"""Concurrency through the HTTP API: no overdraft, no double credit, no 5xx, on either engine."""

import asyncio
import collections

from retorno.ledger.tables import Entry, Lot, Sale


async def _balance(api, ref: str) -> dict:
    response = await api.get(f"/customers/{ref}/balance")
    assert response.status_code == 200
    return response.json()


async def test_200_concurrent_redemptions_against_a_balance_for_50(api, clock):
    # 10% of R$ 500,00 is R$ 50,00: exactly 50 redemptions of R$ 1,00.
    sale = await api.post(
        "/sales", json={"order_id": "base", "customer": {"email": "ana@example.com"}, "total": 50000}
    )
    assert sale.status_code == 201 and sale.json()["cashback"]["amount"] == 5000
    clock.advance(days=8)
    assert (await _balance(api, "email:ana@example.com"))["available"] == 5000

    async def redeem(i: int):
        return await api.post(
            "/redemptions",
            json={
                "redemption_id": f"r-{i}",
                "order_id": f"o-{i}",
                "customer": {"email": "ana@example.com"},
                "order_total": 10000,
                "amount": 100,
            },
        )

    responses = await asyncio.gather(*(redeem(i) for i in range(200)))
    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {201: 50, 422: 150}, statuses
    assert all(r.json()["reason"] in ("balance", "no_balance") for r in responses if r.status_code == 422)
    assert (await _balance(api, "email:ana@example.com"))["available"] == 0
    lots = await Lot.select(Lot.remaining)
    assert [lot["remaining"] for lot in lots] == [0]


async def test_500_concurrent_identical_sales_make_one_sale_and_one_credit(api):
    body = {
        "order_id": "same",
        "customer": {"email": "bia@example.com", "cpf": "529.982.247-25"},
        "total": 12345,
        "items": [{"sku": "a", "category": "maquiagem", "amount": 12345}],
    }
    responses = await asyncio.gather(*(api.post("/sales", json=body) for _ in range(500)))
    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 200: 499}, statuses
    assert len({r.content for r in responses}) == 1  # every retry sees the first answer, byte for byte
    assert await Sale.count() == 1
    assert await Lot.count() == 1
    assert await Entry.count() == 1
    # 15% (maquiagem) of R$ 123,45 = R$ 18,5175 -> R$ 18,52
    assert (await _balance(api, "cpf:52998224725"))["pending"] == 1852


async def test_concurrent_new_customers_are_created_once(api):
    """Different orders of one new customer, at once: one customer, every sale credited."""
    responses = await asyncio.gather(
        *(
            api.post(
                "/sales",
                json={"order_id": f"n-{i}", "customer": {"email": "novo@example.com"}, "total": 1000},
            )
            for i in range(50)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["customer_id"] for r in responses}) == 1
    assert (await _balance(api, "email:novo@example.com"))["pending"] == 50 * 100
