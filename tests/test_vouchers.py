"""Vouchers: issued by the brand's rules with the sale, validated, redeemed once, released, expired.

bella's rule (branding/bella/brand.toml): a purchase of at least R$ 20,00 earns a R$ 10,00 voucher,
usable on orders from R$ 50,00, valid 30 days. mare has no voucher rule.
"""

import asyncio
import datetime as dt
import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retorno import db
from retorno.vouchers import service as vouchers
from tests.conftest import BASE_HOST, brand_url

CODE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{2}$")


async def _sale(api, order_id: str, total: int, email: str = "ana@example.com") -> dict:
    response = await api.post(
        "/sales", json={"order_id": order_id, "customer": {"email": email}, "total": total}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_qualifying_sale_issues_a_voucher_in_its_answer(api):
    body = await _sale(api, "V-1", 2500)
    [voucher] = body["vouchers"]
    assert CODE.match(voucher["code"]), voucher
    assert voucher["amount"] == 1000 and voucher["percent_bp"] is None
    small = await _sale(api, "V-2", 1999)
    assert "vouchers" not in small  # below R$ 20,00: no voucher
    # The replay of the first sale answers the same voucher, and issues no second one.
    again = await api.post(
        "/sales", json={"order_id": "V-1", "customer": {"email": "ana@example.com"}, "total": 2500}
    )
    assert again.status_code == 200 and again.json()["vouchers"] == body["vouchers"]
    assert len(await db.fetch("SELECT id FROM vouchers")) == 1


async def test_validate_tells_the_discount_or_the_reason(api, clock):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    ok = (
        await api.post(
            "/vouchers/validate", json={"code": code.lower().replace("-", " "), "order_total": 6000}
        )
    ).json()
    assert ok["applies"] is True and ok["discount"] == 1000 and ok["reason"] is None
    assert ok["voucher"]["min_order"] == 5000 and ok["voucher"]["status"] == "active"
    low = (await api.post("/vouchers/validate", json={"code": code, "order_total": 4999})).json()
    assert (low["applies"], low["reason"], low["discount"]) == (False, "below_min_order", 0)
    unknown = (
        await api.post("/vouchers/validate", json={"code": "AAAA-AAAA-AA", "order_total": 6000})
    ).json()
    assert unknown["reason"] == "not_found"
    other = (
        await api.post(
            "/vouchers/validate",
            json={"code": code, "order_total": 6000, "customer": {"email": "bia@example.com"}},
        )
    ).json()
    assert other["reason"] == "other_customer" and other["voucher"] is None
    own = (
        await api.post(
            "/vouchers/validate",
            json={"code": code, "order_total": 6000, "customer": {"email": "ana@example.com"}},
        )
    ).json()
    assert own["applies"] is True
    clock.advance(days=30, seconds=1)
    expired = (await api.post("/vouchers/validate", json={"code": code, "order_total": 6000})).json()
    assert expired["reason"] == "expired"
    response = await api.post(f"/vouchers/{code}/redeem", json={"order_id": "X-9", "order_total": 6000})
    assert response.status_code == 422 and response.json()["reason"] == "expired"


async def test_redeem_is_idempotent_by_order_and_a_second_order_is_refused(api):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    first = await api.post(f"/vouchers/{code}/redeem", json={"order_id": "O-1", "order_total": 8000})
    assert first.status_code == 201 and first.json()["discount"] == 1000
    replay = await api.post(f"/vouchers/{code}/redeem", json={"order_id": "O-1", "order_total": 8000})
    assert replay.status_code == 200 and replay.json() == first.json()
    second = await api.post(f"/vouchers/{code}/redeem", json={"order_id": "O-2", "order_total": 8000})
    assert second.status_code == 409
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["reason"] == "used"
    validate = (await api.post("/vouchers/validate", json={"code": code, "order_total": 8000})).json()
    assert validate["reason"] == "used"


async def test_release_gives_the_voucher_back_for_another_order(api):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    await api.post(f"/vouchers/{code}/redeem", json={"order_id": "O-1", "order_total": 8000})
    wrong = await api.post(f"/vouchers/{code}/release", json={"order_id": "O-404"})
    assert wrong.status_code == 404
    released = await api.post(f"/vouchers/{code}/release", json={"order_id": "O-1"})
    assert released.status_code == 200 and released.json()["status"] == "active"
    again = await api.post(f"/vouchers/{code}/release", json={"order_id": "O-1"})
    assert again.status_code == 200  # idempotent
    other = await api.post(f"/vouchers/{code}/redeem", json={"order_id": "O-2", "order_total": 8000})
    assert other.status_code == 201


async def test_cancelling_the_sale_cancels_its_unused_voucher_and_frees_a_used_one(api):
    issued = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    used_elsewhere = (await _sale(api, "V-2", 3000))["vouchers"][0]["code"]
    await api.post(f"/vouchers/{used_elsewhere}/redeem", json={"order_id": "V-3", "order_total": 9000})
    assert (await api.post("/sales/V-1/cancel")).status_code == 200
    gone = (await api.post("/vouchers/validate", json={"code": issued, "order_total": 9000})).json()
    assert gone["reason"] == "cancelled"
    # The order that used a voucher is cancelled: the voucher comes back.
    await _sale(api, "V-3", 9000)
    assert (await api.post("/sales/V-3/cancel")).status_code == 200
    back = (await api.post("/vouchers/validate", json={"code": used_elsewhere, "order_total": 9000})).json()
    assert back["applies"] is True


async def test_checkout_quote_lists_the_vouchers_that_apply(api):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    quote = (
        await api.post("/checkout/quote", json={"customer": {"email": "ana@example.com"}, "total": 6000})
    ).json()
    assert [v["code"] for v in quote["vouchers"]] == [code] and quote["vouchers"][0]["discount"] == 1000
    small = (
        await api.post("/checkout/quote", json={"customer": {"email": "ana@example.com"}, "total": 4000})
    ).json()
    assert small["vouchers"] == []


async def test_a_code_of_one_brand_means_nothing_at_another(app, api, api_keys):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url=f"http://{BASE_HOST}/api/v1",
        headers={"authorization": f"Bearer {api_keys['mare']}"},
    ) as mare:
        seen = (await mare.post("/vouchers/validate", json={"code": code, "order_total": 9000})).json()
        assert seen["reason"] == "not_found" and seen["voucher"] is None
        assert (
            await mare.post(f"/vouchers/{code}/redeem", json={"order_id": "M-1", "order_total": 9000})
        ).status_code == 404
        assert (await mare.post(f"/vouchers/{code}/release", json={"order_id": "M-1"})).status_code == 404
    assert (await api.post("/vouchers/validate", json={"code": code, "order_total": 9000})).json()["applies"]


@pytest.mark.parametrize("body", [{"order_id": "O", "order_total": "80.00"}, {"order_total": 8000}, {}])
async def test_bad_bodies_are_refused_without_using_the_voucher(api, body):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    response = await api.post(f"/vouchers/{code}/redeem", json=body)
    assert response.status_code == 400
    assert (await api.post("/vouchers/validate", json={"code": code, "order_total": 8000})).json()["applies"]


async def test_fifty_concurrent_redemptions_of_one_code_one_wins(api):
    code = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    responses = await asyncio.gather(
        *[
            api.post(f"/vouchers/{code}/redeem", json={"order_id": f"C-{i}", "order_total": 8000})
            for i in range(50)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(409) == 49, statuses
    uses = await db.fetch("SELECT order_id FROM voucher_uses WHERE released_at IS NULL")
    assert len(uses) == 1


def test_codes_are_unambiguous_and_read_leniently():
    codes = {vouchers.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert not set("".join(codes)) & set("01ILO")
    assert vouchers.normalize_code(" k7qm-4xpd 2r ") == "K7QM4XPD2R"
    assert vouchers.grouped("K7QM4XPD2R") == "K7QM-4XPD-2R"


async def test_the_vouchers_page_shows_active_ones_with_a_qr_and_past_ones_below(client, api, clock):
    from tests.test_portal_pages import signed_in

    active = (await _sale(api, "V-1", 2500))["vouchers"][0]["code"]
    used = (await _sale(api, "V-2", 2500))["vouchers"][0]["code"]
    await api.post(f"/vouchers/{used}/redeem", json={"order_id": "O-1", "order_total": 8000})
    await signed_in(client, api, clock)
    page = await client.get(brand_url("bella", "/vouchers"))
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    text = page.text.replace("\xa0", " ")
    current, past = text.split("Usados e expirados")
    assert active in current and "<svg" in current and "R$ 10,00 de desconto" in current
    assert "Em compras a partir de R$ 50,00" in current
    assert used in past and "usado" in past and used not in current
    # Another shopper sees none of them.
    await _sale(api, "B-1", 100, email="bia@example.com")
    await signed_in(client, api, clock, email="bia@example.com")
    other = (await client.get(brand_url("bella", "/vouchers"))).text
    assert active not in other and used not in other


@given(
    order_total=st.integers(min_value=0, max_value=10**11),
    amount=st.one_of(st.none(), st.integers(min_value=1, max_value=10**9)),
    percent_bp=st.integers(min_value=1, max_value=10000),
)
def test_a_discount_is_never_negative_nor_more_than_the_order(order_total, amount, percent_bp):
    voucher = {"amount": amount, "percent_bp": None if amount is not None else percent_bp}
    discount = vouchers.discount_of(voucher, order_total)
    assert 0 <= discount <= order_total
    if amount is not None:
        assert discount == min(amount, order_total)
    else:  # percent: rounded once, half-even, to the centavo
        exact = order_total * percent_bp / 10000
        assert abs(discount - exact) <= 0.5


async def test_the_home_names_the_next_active_voucher_and_counts_only_active_ones(api, clock):
    """vouchers.next_active, as the shopper's home reads it: not cancelled, not in use, not
    expired; the soonest to expire first (a model of the statuses here, not the service's)."""
    codes = []
    for i in range(5):
        codes.append((await _sale(api, f"N-{i}", 2500))["vouchers"][0]["code"])
        clock.advance(days=1)  # each expires a day after the one before
    await api.post(f"/vouchers/{codes[0]}/redeem", json={"order_id": "O-1", "order_total": 8000})
    assert (await api.post("/sales/N-1/cancel")).status_code == 200
    customer = (await db.fetch("SELECT customer FROM vouchers LIMIT 1"))[0]["customer"]
    brand = (await db.fetch("SELECT brand FROM vouchers LIMIT 1"))[0]["brand"]
    now = clock()
    first, count = await vouchers.next_active(brand_id=brand, customer_id=customer, now=now)
    assert (first.code, count) == (codes[2], 3)  # 0 in use, 1 cancelled; 2, 3, 4 active
    later = now + dt.timedelta(days=30 - 4 + 2)  # 2 and 3 expired by then (30 days each)
    first, count = await vouchers.next_active(brand_id=brand, customer_id=customer, now=later)
    assert (first.code, count) == (codes[4], 1)
    assert await vouchers.next_active(
        brand_id=brand, customer_id=customer, now=later + dt.timedelta(days=2)
    ) == (
        None,
        0,
    )
