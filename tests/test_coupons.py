"""Public coupons: a code any shopper may use within its limits, checked and used through the same
routes as personal vouchers, given back when the order is cancelled, kept per brand."""

from __future__ import annotations

import asyncio
import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retorno import db
from retorno.errors import Invalid
from retorno.ledger.rules import Item
from retorno.vouchers import coupons
from retorno.vouchers.coupons import CouponDraft

ANA, BIA = {"email": "ana@example.com"}, {"email": "bia@example.com"}


async def _coupon(demo, clock, slug="bella", **fields) -> coupons.CouponView:
    draft = CouponDraft(**({"code": "BEMVINDA10", "amount": 1000} | fields))
    return await coupons.save(brand_id=demo[slug].id, draft=draft, now=clock())


def _use(order_id: str, total: int = 20000, customer=ANA, **more) -> dict:
    return {"order_id": order_id, "order_total": total, "customer": customer} | more


async def test_a_coupon_is_checked_then_used_once_per_shopper_and_the_same_order_answers_again(
    api, demo, clock
):
    await _coupon(demo, clock, code="bem-vinda 10")  # typed loosely: stored as shoppers type it
    check = await api.post(
        "/vouchers/validate", json={"code": "bemvinda10", "order_total": 20000, "customer": ANA}
    )
    assert check.status_code == 200
    body = check.json()
    assert body["applies"] is True and body["discount"] == 1000 and body["coupon"]["code"] == "BEMVINDA10"
    assert body["voucher"] is None
    first = await api.post("/vouchers/BEMVINDA10/redeem", json=_use("PED-1"))
    assert first.status_code == 201 and first.json()["discount"] == 1000
    again = await api.post("/vouchers/BEMVINDA10/redeem", json=_use("PED-1"))
    assert again.status_code == 200 and again.json() == first.json()
    second = await api.post("/vouchers/BEMVINDA10/redeem", json=_use("PED-2"))
    assert second.status_code == 409 and second.json()["reason"] == "already_used"
    other = await api.post("/vouchers/BEMVINDA10/redeem", json=_use("PED-3", customer=BIA))
    assert other.status_code == 201  # another shopper: her own use
    assert (await db.fetch("SELECT COUNT(*) AS n FROM coupon_uses"))[0]["n"] == 2


async def test_the_limits_and_the_reasons_a_coupon_does_not_apply(api, demo, clock):
    await _coupon(
        demo, clock, code="TRES", percent_bp=1500, amount=None, max_uses=3, per_customer=2, min_order=10000
    )
    await _coupon(demo, clock, code="NATAL", starts_at=clock() + dt.timedelta(days=10))
    await _coupon(
        demo,
        clock,
        code="PASSOU",
        ends_at=clock() - dt.timedelta(minutes=1),
        starts_at=clock() - dt.timedelta(days=1),
    )
    await _coupon(demo, clock, code="DESLIGADO", active=False)

    async def reason(code, **use):
        answer = await api.post(f"/vouchers/{code}/redeem", json=_use(**({"order_id": "X"} | use)))
        return answer.status_code, answer.json().get("reason")

    assert await reason("NATAL") == (422, "not_started")
    assert await reason("PASSOU") == (422, "expired")
    assert await reason("DESLIGADO") == (422, "cancelled")
    assert await reason("NADA") == (404, "not_found")
    assert await reason("TRES", total=9999) == (422, "below_min_order")
    no_customer = await api.post("/vouchers/TRES/redeem", json={"order_id": "X", "order_total": 20000})
    assert no_customer.status_code == 422 and no_customer.json()["reason"] == "customer_required"
    # 15% of R$ 333,33 is R$ 50,00 (49,9995 rounded half-even)
    used = await api.post("/vouchers/TRES/redeem", json=_use("T-1", 33333))
    assert used.status_code == 201 and used.json()["discount"] == 5000
    assert (await api.post("/vouchers/TRES/redeem", json=_use("T-2"))).status_code == 201
    assert await reason("TRES", order_id="T-3") == (409, "already_used")  # two per shopper
    assert (await api.post("/vouchers/TRES/redeem", json=_use("T-4", customer=BIA))).status_code == 201
    assert await reason("TRES", order_id="T-5", customer={"email": "caio@example.com"}) == (409, "used_up")
    # A refused code registers nobody: caio's try was rolled back with it.
    assert await db.fetch("SELECT id FROM customers WHERE email = 'caio@example.com'") == []
    listed = {c.code: c for c in await coupons.of_brand(demo["bella"].id, clock())}
    assert listed["TRES"].status == "used_up" and listed["TRES"].uses == 3
    assert listed["TRES"].discount_given == 5000 + 3000 + 3000
    assert listed["NATAL"].status == "scheduled" and listed["DESLIGADO"].status == "off"
    from retorno.reports import service as reports

    day = clock().date()
    report = await reports.report(demo["bella"], day, day, now=clock())
    assert (report.coupons_used, report.coupon_discount) == (3, 11000)  # the admin's reports page


async def test_a_first_purchase_coupon_and_one_of_some_categories(api, demo, clock):
    await _coupon(demo, clock, code="PRIMEIRA", first_purchase_only=True)
    await _coupon(demo, clock, code="MAKE20", amount=None, percent_bp=2000, categories=["maquiagem"])
    new = await api.post(
        "/vouchers/validate", json={"code": "PRIMEIRA", "order_total": 5000, "customer": BIA}
    )
    assert new.json()["applies"] is True  # a shopper the brand does not know yet
    sale = {"order_id": "S-1", "customer": ANA, "total": 15000}
    assert (await api.post("/sales", json=sale)).status_code == 201
    refused = await api.post("/vouchers/PRIMEIRA/redeem", json=_use("S-2"))
    assert refused.status_code == 422 and refused.json()["reason"] == "not_first_purchase"
    # Used on the very order of her first purchase, posted before or after: it is still the first.
    assert (await api.post("/vouchers/PRIMEIRA/redeem", json=_use("S-9", customer=BIA))).status_code == 201
    assert (
        await api.post("/sales", json={"order_id": "S-9", "customer": BIA, "total": 5000})
    ).status_code == 201
    items = [
        {"sku": "B1", "category": "maquiagem", "amount": 4000, "quantity": 2},
        {"sku": "P1", "category": "perfume", "amount": 12000},
    ]
    on_items = await api.post("/vouchers/MAKE20/redeem", json=_use("S-3", 20000, items=items))
    assert on_items.status_code == 201 and on_items.json()["discount"] == 1600  # 20% of 80,00
    none = await api.post("/vouchers/MAKE20/redeem", json=_use("S-4", 12000, customer=BIA, items=items[1:]))
    assert none.status_code == 422 and none.json()["reason"] == "no_eligible_items"


async def test_cancelling_the_order_gives_the_use_back_and_the_shopper_may_use_it_again(api, demo, clock):
    await _coupon(demo, clock, max_uses=1)
    assert (await api.post("/vouchers/BEMVINDA10/redeem", json=_use("C-1"))).status_code == 201
    assert (
        await api.post("/sales", json={"order_id": "C-1", "customer": ANA, "total": 20000})
    ).status_code == 201
    assert (await api.post("/vouchers/BEMVINDA10/redeem", json=_use("C-2", customer=BIA))).status_code == 409
    assert (await api.post("/sales/C-1/cancel")).status_code == 200
    assert (await api.post("/vouchers/BEMVINDA10/redeem", json=_use("C-2", customer=BIA))).status_code == 201
    released = await api.post("/vouchers/BEMVINDA10/release", json={"order_id": "C-2"})
    assert released.status_code == 200 and released.json()["status"] == "active"
    twice = await api.post("/vouchers/BEMVINDA10/release", json={"order_id": "C-2"})
    assert twice.status_code == 200  # idempotent
    kinds = [
        r["kind"]
        for r in await db.fetch("SELECT kind FROM outbox_events WHERE kind LIKE 'coupon.%' ORDER BY id")
    ]
    assert kinds == ["coupon.used", "coupon.released", "coupon.used", "coupon.released"]


async def test_another_brand_neither_sees_nor_uses_the_coupon(app, api, api_keys, demo, clock):
    import httpx

    await _coupon(demo, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://localhost:8000/api/v1",
        headers={"authorization": f"Bearer {api_keys['mare']}", "host": "localhost:8000"},
    ) as mare:
        answer = await mare.post("/vouchers/BEMVINDA10/redeem", json=_use("M-1"))
        assert answer.status_code == 404 and answer.json()["reason"] == "not_found"
        check = await mare.post("/vouchers/validate", json={"code": "BEMVINDA10", "order_total": 20000})
        assert check.json()["applies"] is False and check.json()["coupon"] is None
    assert await coupons.of_brand(demo["mare"].id, clock()) == []


async def test_a_code_must_be_typeable_unique_and_not_a_voucher_s(demo, clock):
    await _coupon(demo, clock)
    for draft, field in (
        (CouponDraft(code="BEMVINDA10", amount=500), "code"),  # taken
        (CouponDraft(code="OI", amount=500), "code"),
        (CouponDraft(code="ÇÃO10", amount=500), "code"),
        (CouponDraft(code="DOIS", amount=500, percent_bp=1000), "amount"),
        (CouponDraft(code="DOIS", percent_bp=20000), "percent"),
        (CouponDraft(code="DOIS", amount=500, max_uses=0), "max_uses"),
        (
            CouponDraft(code="DOIS", amount=500, starts_at=clock(), ends_at=clock() - dt.timedelta(days=1)),
            "ends_at",
        ),
    ):
        with pytest.raises(Invalid) as raised:
            await coupons.save(brand_id=demo["bella"].id, draft=draft, now=clock())
        assert str(raised.value.params["field"]) == field, draft
    from retorno.vouchers import service as vouchers

    voucher = await db.fetch("SELECT code FROM vouchers LIMIT 1")
    if not voucher:  # a voucher of bella's to collide with
        await db.write(lambda: _issue(demo, clock))
        voucher = await db.fetch("SELECT code FROM vouchers LIMIT 1")
    with pytest.raises(Invalid):
        await coupons.save(
            brand_id=demo["bella"].id, draft=CouponDraft(code=voucher[0]["code"], amount=100), now=clock()
        )
    assert vouchers  # the module the collision is checked against


async def _issue(demo, clock):
    from retorno.customers import service as customers
    from retorno.customers.service import Identity
    from retorno.vouchers import service as vouchers

    customer, _ = await customers.upsert(demo["bella"].id, Identity(email=ANA["email"]), now=clock())
    return await vouchers.issue(
        brand_id=demo["bella"].id,
        customer_id=customer.id,
        amount=1000,
        source="staff",
        valid_days=30,
        now=clock(),
    )


async def test_twenty_concurrent_uses_by_one_shopper_and_forty_by_many_keep_the_limits(api, demo, clock):
    await _coupon(demo, clock, code="UMA")
    await _coupon(demo, clock, code="DEZ", max_uses=10)
    mine = await asyncio.gather(*(api.post("/vouchers/UMA/redeem", json=_use(f"U-{i}")) for i in range(20)))
    assert sorted(a.status_code for a in mine) == [201] + [409] * 19
    many = await asyncio.gather(
        *(
            api.post("/vouchers/DEZ/redeem", json=_use(f"D-{i}", customer={"email": f"c{i}@example.com"}))
            for i in range(40)
        )
    )
    assert sorted(a.status_code for a in many) == [201] * 10 + [409] * 30


# The discount against an independent model: exact fractions, rounded half to even by hand.


def _model_discount(amount, percent_bp, total, items, categories) -> int:
    base = total if not categories else min(total, sum(p * q for c, p, q in items if c in categories))
    if amount is not None:
        return min(amount, base)
    exact = Fraction(base * percent_bp, 10000)
    floor = exact.numerator // exact.denominator
    rest = exact - floor
    rounded = floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)
    return min(rounded, base)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.one_of(st.none(), st.integers(1, 100_000)),
    percent_bp=st.integers(1, 10_000),
    items=st.lists(
        st.tuples(st.sampled_from(["maquiagem", "perfume", None]), st.integers(0, 50_000), st.integers(1, 5)),
        max_size=6,
    ),
    extra=st.integers(0, 30_000),
    categories=st.sets(st.sampled_from(["maquiagem", "perfume"])),
)
def test_the_discount_is_the_model_s(amount, percent_bp, items, extra, categories):
    total = sum(p * q for _, p, q in items) + extra
    coupon = {
        "amount": amount,
        "percent_bp": None if amount is not None else percent_bp,
        "categories": sorted(categories),
    }
    lines = [Item(sku=f"S{i}", category=c, amount=p, quantity=q) for i, (c, p, q) in enumerate(items)]
    expected = _model_discount(amount, coupon["percent_bp"], total, items, categories)
    assert coupons.discount_of(coupon, total, lines) == expected
    assert 0 <= expected <= total
