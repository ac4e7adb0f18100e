"""Tenant isolation on every /api/v1 route: mare's key never reads, moves or reveals bella's data.

Bella's data is made with bella's key (a customer with every identifier, sale B-1, a refund of it and
redemption R-1 on order B-1); each test then calls the API with mare's key on bella's references
and checks, with bella's key, that nothing of bella's changed.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

PROBLEM = "application/problem+json"
CPF = "52998224725"
BELLA_CUSTOMER = {
    "cpf": "529.982.247-25",
    "email": "Ana.Bella@Example.com",
    "phone": "11 98888-7777",
    "external_id": "bella-crm-1",
    "name": "Ana Bella",
}
SALE = {"order_id": "B-1", "customer": {"cpf": CPF}, "total": 20000}
# what no answer to mare may contain
BELLA_SECRETS = (
    CPF,
    "529.982.247-25",
    "ana.bella@example.com",
    "Ana.Bella@Example.com",
    "5511988887777",
    "bella-crm-1",
    "Ana Bella",
    "Bella",
)
REF_KINDS = ["cpf", "cpf-punctuated", "email", "email-upper", "phone", "phone-local", "ext", "id"]


def ref_of(kind: str, customer_id: int) -> str:
    return {
        "cpf": f"cpf:{CPF}",
        "cpf-punctuated": "cpf:529.982.247-25",
        "email": "email:ana.bella@example.com",
        "email-upper": "email:ANA.BELLA@EXAMPLE.COM",
        "phone": "phone:+5511988887777",
        "phone-local": "phone:11 98888-7777",
        "ext": "ext:bella-crm-1",
        "id": str(customer_id),
    }[kind]


IDENTITIES = {
    "cpf": {"cpf": CPF},
    "email": {"email": "ana.bella@example.com"},
    "phone": {"phone": "+5511988887777"},
    "ext": {"external_id": "bella-crm-1"},
    "all": {"cpf": CPF, "email": "ana.bella@example.com"},
}


def assert_not_found(response: httpx.Response) -> None:
    """A 404 problem that names nothing of bella's."""
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 404 and body["title"] and body["detail"]
    for secret in BELLA_SECRETS:
        assert secret.lower() not in response.text.lower(), secret


def assert_reveals_nothing(response: httpx.Response) -> None:
    for secret in BELLA_SECRETS:
        assert secret.lower() not in response.text.lower(), secret


@pytest.fixture
def mare(api_keys) -> dict[str, str]:
    """Headers that sign a request with mare's key."""
    return {"authorization": f"Bearer {api_keys['mare']}"}


@pytest.fixture
async def bella(api, clock) -> dict:
    """Bella's customer, sale, refund and redemption, and how her balance and statement read."""
    created = await api.post("/customers", json=BELLA_CUSTOMER)
    assert created.status_code == 201, created.text
    customer = created.json()
    sale = await api.post("/sales", json=SALE)
    assert sale.status_code == 201, sale.text
    clock.advance(days=8)
    refund = await api.post("/sales/B-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    assert refund.status_code == 201, refund.text
    redemption = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-1",
            "order_id": "B-1",
            "customer": {"cpf": CPF},
            "order_total": 10000,
            "amount": 500,
        },
    )
    assert redemption.status_code == 201, redemption.text
    return {
        "customer": customer,
        "sale": sale.content,
        "balance": await snapshot(api, customer["id"]),
    }


async def snapshot(api, customer_id: int) -> dict:
    """Bella's view of her customer, read with bella's key by every reference."""
    views = {}
    for kind in REF_KINDS:
        ref = ref_of(kind, customer_id)
        balance = await api.get(f"/customers/{ref}/balance")
        statement = await api.get(f"/customers/{ref}/statement", params={"limit": 100})
        assert balance.status_code == statement.status_code == 200
        views[kind] = (balance.json(), statement.json())
    return views


async def assert_bella_unchanged(api, bella: dict) -> None:
    assert await snapshot(api, bella["customer"]["id"]) == bella["balance"]
    retry = await api.post("/sales", json=SALE)
    assert retry.status_code == 200 and retry.content == bella["sale"]
    customer = await api.post("/customers", json={"cpf": CPF})
    assert customer.status_code == 200 and customer.json() == bella["customer"]


def test_bella_has_something_to_lose(bella):
    balance, statement = bella["balance"]["cpf"]
    assert balance["available"] == 1000  # 2000 earned, 500 reversed, 500 spent
    assert [e["kind"] for e in statement["entries"]] == ["redeem", "reverse", "earn"]


# --- reads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/balance", "/statement", "/vouchers", ""])
@pytest.mark.parametrize("kind", REF_KINDS)
async def test_mare_cannot_read_bellas_customer(api, bella, mare, kind, suffix):
    ref = ref_of(kind, bella["customer"]["id"])
    assert_not_found(await api.get(f"/customers/{ref}{suffix}", headers=mare))
    await assert_bella_unchanged(api, bella)


@pytest.mark.parametrize("kind", REF_KINDS)
async def test_mare_cannot_change_or_erase_bellas_customer(api, bella, mare, kind):
    ref = ref_of(kind, bella["customer"]["id"])
    assert_not_found(await api.patch(f"/customers/{ref}", json={"name": "Outra"}, headers=mare))
    assert_not_found(await api.patch(f"/customers/{ref}", json={"marketing": True}, headers=mare))
    assert_not_found(await api.delete(f"/customers/{ref}", headers=mare))
    await assert_bella_unchanged(api, bella)
    assert (await api.get(f"/customers/{ref}")).json()["customer"]["name"] == "Ana Bella"


async def test_mare_reads_neither_bellas_sale_nor_her_customers_in_a_list(api, bella, mare):
    assert_not_found(await api.get("/sales/B-1", headers=mare))
    assert (await api.get("/sales/B-1")).status_code == 200
    await api.post("/customers", json={"email": "one@mare.example"}, headers=mare)
    listed = await api.get("/customers", params={"limit": 200}, headers=mare)
    assert listed.status_code == 200
    assert [c["email"] for c in listed.json()["customers"]] == ["one@mare.example"]
    assert_reveals_nothing(listed)


@pytest.mark.parametrize("suffix", ["balance", "statement"])
@pytest.mark.parametrize("kind", REF_KINDS)
async def test_not_even_when_mare_has_customers(api, bella, mare, kind, suffix):
    for email in ("one@mare.example", "two@mare.example"):
        assert (await api.post("/customers", json={"email": email}, headers=mare)).status_code == 201
    ref = ref_of(kind, bella["customer"]["id"])
    assert_not_found(await api.get(f"/customers/{ref}/{suffix}", headers=mare))


async def test_a_cursor_from_bella_reads_nothing_of_bellas_for_mare(api, bella, mare):
    page = await api.get(f"/customers/cpf:{CPF}/statement", params={"limit": 1})
    cursor = page.json()["next_cursor"]
    assert cursor
    await api.post("/customers", json={"email": "one@mare.example"}, headers=mare)
    response = await api.get(
        "/customers/email:one@mare.example/statement", params={"cursor": cursor}, headers=mare
    )
    assert response.status_code == 200
    assert response.json() == {"entries": [], "next_cursor": None}


# --- writes on bella's references -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sales/B-1/refunds", {"refund_id": "F-2", "amount": 1000}),
        ("/sales/B-1/refunds", {"refund_id": "F-1", "amount": 5000}),  # bella's refund, replayed
        ("/sales/B-1/refunds", {"refund_id": "F-1", "amount": 999}),
        ("/sales/B-1/cancel", None),
        ("/redemptions/R-1/cancel", None),
    ],
)
async def test_mare_cannot_move_bellas_sales_or_redemptions(api, bella, mare, path, body):
    assert_not_found(await api.post(path, json=body, headers=mare))
    await assert_bella_unchanged(api, bella)


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_mare_cannot_redeem_bellas_cashback(api, bella, mare, identity):
    response = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-2",
            "order_id": "M-1",
            "customer": IDENTITIES[identity],
            "order_total": 10000,
            "amount": 100,
        },
        headers=mare,
    )
    assert_not_found(response)
    await assert_bella_unchanged(api, bella)


async def test_mare_replaying_bellas_redemption_id_is_not_bellas_answer(api, bella, mare):
    response = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-1",
            "order_id": "B-1",
            "customer": {"cpf": CPF},
            "order_total": 10000,
            "amount": 500,
        },
        headers=mare,
    )
    assert_not_found(response)  # mare has no such customer; bella's stored answer is not replayed
    await assert_bella_unchanged(api, bella)


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_mare_quotes_bellas_customer_as_a_stranger(api, bella, mare, identity):
    response = await api.post(
        "/checkout/quote", json={"customer": IDENTITIES[identity], "total": 10000}, headers=mare
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] is None
    assert body["available"] == 0
    assert body["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    assert_reveals_nothing(response)
    await assert_bella_unchanged(api, bella)


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_mare_creates_her_own_customer_with_the_same_identifiers(api, bella, mare, identity):
    response = await api.post("/customers", json=IDENTITIES[identity], headers=mare)
    assert response.status_code == 201, response.text
    theirs = response.json()
    assert theirs["id"] != bella["customer"]["id"]
    assert theirs["brand"] != bella["customer"]["brand"]
    # only what mare said: nothing filled in from bella's customer
    assert theirs["name"] == ""
    for field in ("cpf", "email", "phone", "external_id"):
        if field not in IDENTITIES[identity]:
            assert theirs[field] is None, field
    balance = await api.get(f"/customers/{theirs['id']}/balance", headers=mare)
    assert balance.json()["available"] == balance.json()["pending"] == 0
    statement = await api.get(f"/customers/{theirs['id']}/statement", headers=mare)
    assert statement.json() == {"entries": [], "next_cursor": None}
    # bella still cannot see mare's customer by mare's id either
    assert_not_found(await api.get(f"/customers/{theirs['id']}/balance"))
    again = await api.post("/customers", json=IDENTITIES[identity] | {"name": "Mare Ana"}, headers=mare)
    assert again.status_code == 200 and again.json()["id"] == theirs["id"]
    await assert_bella_unchanged(api, bella)


async def test_order_ids_refund_ids_and_redemption_ids_are_per_brand(api, bella, mare, clock):
    sale = await api.post("/sales", json=SALE, headers=mare)
    assert sale.status_code == 201, sale.text  # not bella's stored answer, not a conflict
    assert sale.content != bella["sale"]
    mares = sale.json()
    assert mares["customer_id"] != bella["customer"]["id"]
    assert mares["cashback"]["amount"] > 0
    assert_reveals_nothing(sale)

    refund = await api.post("/sales/B-1/refunds", json={"refund_id": "F-1", "amount": 1000}, headers=mare)
    assert refund.status_code == 201, refund.text
    assert refund.json()["amount"] == 1000

    # a mare sale that expires first, so mare's R-1 spends its cashback
    yesterday = (clock.now - dt.timedelta(days=1)).isoformat()
    earlier = {"order_id": "M-0", "customer": {"cpf": CPF}, "total": 10000, "occurred_at": yesterday}
    m0 = await api.post("/sales", json=earlier, headers=mare)
    assert m0.status_code == 201, m0.text
    clock.advance(days=30)
    redemption = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-1",
            "order_id": "B-1",
            "customer": {"cpf": CPF},
            "order_total": 10000,
            "amount": 100,
        },
        headers=mare,
    )
    assert redemption.status_code == 201, redemption.text

    cancelled = await api.post("/sales/B-1/cancel", headers=mare)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["redemptions_cancelled"] == ["R-1"]  # mare's own R-1 only
    assert (await api.post("/redemptions/R-1/cancel", headers=mare)).json()["status"] == "cancelled"

    mare_balance = (await api.get(f"/customers/cpf:{CPF}/balance", headers=mare)).json()
    # B-1's cashback was all taken back; M-0's came back from the cancelled R-1
    assert (mare_balance["available"], mare_balance["pending"]) == (m0.json()["cashback"]["amount"], 0)
    # bella's sale, refund and redemption are untouched, and still hers to move
    await assert_bella_unchanged(api, bella)
    replay = await api.post("/sales/B-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    assert replay.status_code == 200 and replay.json()["cashback_reversed"] == 500
    redemption = await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-1",
            "order_id": "B-1",
            "customer": {"cpf": CPF},
            "order_total": 10000,
            "amount": 500,
        },
    )
    assert redemption.status_code == 200 and redemption.json()["status"] == "committed"


async def test_every_mare_call_at_once_leaves_bella_as_she_was(api, bella, mare):
    """Every route, in one go, then bella's view once more."""
    bella_id = bella["customer"]["id"]
    for kind in REF_KINDS:
        for suffix in ("balance", "statement"):
            assert_not_found(await api.get(f"/customers/{ref_of(kind, bella_id)}/{suffix}", headers=mare))
    assert_not_found(
        await api.post("/sales/B-1/refunds", json={"refund_id": "F-9", "amount": 100}, headers=mare)
    )
    assert_not_found(await api.post("/sales/B-1/cancel", headers=mare))
    assert_not_found(await api.post("/redemptions/R-1/cancel", headers=mare))
    for identity in IDENTITIES.values():
        response = await api.post(
            "/redemptions",
            json={
                "redemption_id": "R-9",
                "order_id": "M-9",
                "customer": identity,
                "order_total": 10000,
                "amount": 100,
            },
            headers=mare,
        )
        assert_not_found(response)
        quote = await api.post("/checkout/quote", json={"customer": identity, "total": 10000}, headers=mare)
        assert quote.json()["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    created = await api.post("/customers", json={"email": "ana.bella@example.com"}, headers=mare)
    assert created.status_code == 201 and created.json()["id"] != bella_id
    assert (await api.post("/sales", json=SALE, headers=mare)).status_code == 201
    await assert_bella_unchanged(api, bella)


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_mare_cannot_give_bellas_customer_a_voucher_nor_replay_her_key(api, bella, mare, identity):
    given = await api.post(
        "/vouchers",
        json={"customer": IDENTITIES[identity], "amount": 500},
        headers={"idempotency-key": "k-1"},
    )
    assert given.status_code == 201, given.text
    assert_not_found(
        await api.post(
            "/vouchers",
            json={"customer": IDENTITIES[identity], "amount": 500},
            headers=mare | {"idempotency-key": "k-1"},
        )
    )
    mine = await api.post("/customers", json={"email": "one@mare.example"}, headers=mare)
    assert mine.status_code == 201
    own = await api.post(  # the same key at mare is mare's own: a voucher of hers, not bella's answer
        "/vouchers",
        json={"customer": {"email": "one@mare.example"}, "amount": 500},
        headers=mare | {"idempotency-key": "k-1"},
    )
    assert own.status_code == 201 and own.json()["code"] != given.json()["code"]
