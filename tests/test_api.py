"""The integration API (/api/v1) as an integrator sees it: auth, customers, sales, refunds, redemptions.

Amounts are centavos. The bella demo brand earns 10% (maquiagem 15%, segment vip 15%), keeps
cashback pending 7 days then valid 90 days, and lets cashback pay at most 50% of an order of at
least R$ 30,00.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import msgspec
import pytest

from retorno.onboarding.brand import import_brand
from tests.conftest import BASE_HOST, demo_pack, platform_url

API = f"http://{BASE_HOST}/api/v1"
PROBLEM = "application/problem+json"
CPF_A, CPF_B, CPF_C = "52998224725", "11144477735", "39053344705"
PENDING = dt.timedelta(days=7)
VALID = dt.timedelta(days=90)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def problem(response: httpx.Response, status: int) -> dict:
    """An RFC 9457 problem with this status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


async def post_sale(api, order_id: str, total: int, customer: dict | None = None, **extra) -> dict:
    response = await api.post(
        "/sales",
        json={"order_id": order_id, "customer": customer or {"cpf": CPF_A}, "total": total, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def balance_of(api, ref: str = f"cpf:{CPF_A}") -> dict:
    response = await api.get(f"/customers/{ref}/balance")
    assert response.status_code == 200, response.text
    return response.json()


async def statement_of(api, ref: str = f"cpf:{CPF_A}", **params) -> dict:
    response = await api.get(f"/customers/{ref}/statement", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def redeem(api, redemption_id: str, amount: int, order_total: int = 10000, **extra) -> httpx.Response:
    body = {
        "redemption_id": redemption_id,
        "order_id": f"order-of-{redemption_id}",
        "customer": {"cpf": CPF_A},
        "order_total": order_total,
        "amount": amount,
    }
    return await api.post("/redemptions", json=body | extra)


async def set_refund_policy(settings, policy: str) -> None:
    pack = demo_pack("bella")
    pack = msgspec.structs.replace(
        pack,
        rules=msgspec.structs.replace(
            pack.rules, cashback=msgspec.structs.replace(pack.rules.cashback, refund_policy=policy)
        ),
    )
    await import_brand(pack, base_host=settings.base_host)


# --- authentication and hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-key",
        "Bearer rk_only-two",
        "Bearer rk_000000000000_unknownsecret",
        "Token {bella}",
    ],
)
async def test_requests_without_a_valid_key_are_401_problems(app, api_keys, authorization):
    headers = {"authorization": authorization.format(**api_keys)} if authorization else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=API, headers=headers) as client:
        for method, path in [("GET", f"/customers/cpf:{CPF_A}/balance"), ("POST", "/sales")]:
            response = await client.request(method, path, json={} if method == "POST" else None)
            body = problem(response, 401)
            assert response.headers["www-authenticate"].lower().startswith("bearer")
            assert "api key" in body["detail"].lower()


async def test_a_known_prefix_with_a_wrong_secret_is_401(api, api_keys):
    prefix = api_keys["bella"].split("_")[1]
    response = await api.get(
        f"/customers/cpf:{CPF_A}/balance", headers={"authorization": f"Bearer rk_{prefix}_wrong"}
    )
    problem(response, 401)
    assert "www-authenticate" in response.headers


async def test_the_scheme_is_case_insensitive(api, api_keys):
    response = await api.get(
        f"/customers/cpf:{CPF_A}/balance", headers={"authorization": f"bearer {api_keys['bella']}"}
    )
    problem(response, 404)  # authenticated: the customer simply does not exist yet


@pytest.mark.parametrize("path", [f"/customers/cpf:{CPF_A}/balance", "/customers/1/statement"])
async def test_the_api_is_not_served_on_a_brand_host(api, path):
    response = await api.get(f"http://bella.{BASE_HOST}/api/v1{path}")
    assert response.status_code == 404
    response = await api.post(
        f"http://bella.{BASE_HOST}/api/v1/sales",
        json={"order_id": "H-1", "customer": {"cpf": CPF_A}, "total": 1000},
    )
    assert response.status_code == 404
    # ...and nothing was recorded through it
    assert (await api.get(f"/customers/cpf:{CPF_A}/balance")).status_code == 404


async def test_the_openapi_document_lists_the_api_and_no_shopper_pages(api):
    response = await api.get(platform_url("/api/openapi.json"))
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    assert {
        "/api/v1/customers",
        "/api/v1/customers/{ref}/balance",
        "/api/v1/customers/{ref}/statement",
        "/api/v1/sales",
        "/api/v1/sales/{order_id}/refunds",
        "/api/v1/sales/{order_id}/cancel",
        "/api/v1/checkout/quote",
        "/api/v1/redemptions",
        "/api/v1/redemptions/{redemption_id}/cancel",
    } <= paths
    assert all(p.startswith("/api/v1/") for p in paths), paths
    assert "/offline" not in paths and "/manifest.webmanifest" not in paths


async def test_unknown_api_paths_and_methods_are_problems(api):
    problem(await api.get("/no-such-route"), 404)
    response = await api.put("/sales")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)


# --- customers ------------------------------------------------------------------------------------


async def test_customers_are_created_then_updated_by_any_identifier(api):
    created = await api.post(
        "/customers", json={"cpf": "529.982.247-25", "email": "Ana.Souza@Example.COM", "name": "Ana"}
    )
    assert created.status_code == 201, created.text
    ana = created.json()
    assert ana["cpf"] == CPF_A
    assert ana["email"] == "ana.souza@example.com"
    assert ana["name"] == "Ana"

    by_email = await api.post("/customers", json={"email": "ANA.SOUZA@example.com", "phone": "11 99999-0000"})
    assert by_email.status_code == 200, by_email.text
    assert by_email.json()["id"] == ana["id"]
    assert by_email.json()["phone"] == "+5511999990000"

    by_phone = await api.post("/customers", json={"phone": "+55 11 99999-0000", "external_id": "crm-7"})
    assert by_phone.status_code == 200
    assert by_phone.json()["id"] == ana["id"]
    assert by_phone.json()["external_id"] == "crm-7"

    same = await api.post("/customers", json={"cpf": CPF_A})
    assert same.status_code == 200
    assert same.json() == by_phone.json() | {"id": ana["id"]}
    assert same.json()["cpf"] == CPF_A and same.json()["email"] == "ana.souza@example.com"


@pytest.mark.parametrize("cpf", ["52998224724", "11111111111", "1234", "529.982.247-2x"])
async def test_a_bad_cpf_is_422_naming_the_field(api, cpf):
    body = problem(await api.post("/customers", json={"cpf": cpf}), 422)
    assert "cpf" in body["detail"].lower()


async def test_bad_email_and_phone_are_422(api):
    assert "email" in problem(await api.post("/customers", json={"email": "not-an-email"}), 422)["detail"]
    assert "phone" in problem(await api.post("/customers", json={"phone": "12"}), 422)["detail"]
    problem(await api.post("/customers", json={"name": "Nobody"}), 422)


async def test_identifiers_of_two_customers_conflict(api):
    first = await api.post("/customers", json={"email": "a@example.com"})
    second = await api.post("/customers", json={"cpf": CPF_B})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    problem(await api.post("/customers", json={"email": "a@example.com", "cpf": CPF_B}), 409)
    # nothing changed
    again = await api.post("/customers", json={"email": "a@example.com"})
    assert again.json()["cpf"] is None


async def test_a_customer_never_changes_cpf(api):
    assert (await api.post("/customers", json={"email": "a@example.com", "cpf": CPF_A})).status_code == 201
    problem(await api.post("/customers", json={"email": "a@example.com", "cpf": CPF_B}), 409)
    assert (await api.post("/customers", json={"email": "a@example.com"})).json()["cpf"] == CPF_A
    # a customer without a CPF may be given one
    assert (await api.post("/customers", json={"email": "b@example.com"})).status_code == 201
    given = await api.post("/customers", json={"email": "b@example.com", "cpf": CPF_C})
    assert given.status_code == 200 and given.json()["cpf"] == CPF_C


async def test_balance_by_every_kind_of_reference(api):
    created = await api.post(
        "/customers",
        json={"cpf": CPF_A, "email": "ana@example.com", "phone": "11 99999-0000", "external_id": "crm-1"},
    )
    customer_id = created.json()["id"]
    await post_sale(api, "O-1", 10000)
    expected = await balance_of(api, f"cpf:{CPF_A}")
    assert expected["pending"] == 1000
    for ref in [
        f"cpf:{CPF_A}",
        "cpf:529.982.247-25",
        "email:ana@example.com",
        "email:ANA@Example.com",
        "phone:+5511999990000",
        "phone:11 99999-0000",
        "ext:crm-1",
        str(customer_id),
    ]:
        assert await balance_of(api, ref) == expected, ref
        statement = await statement_of(api, ref)
        assert [e["order_id"] for e in statement["entries"]] == ["O-1"], ref


@pytest.mark.parametrize(
    "ref", ["email:nobody@example.com", f"cpf:{CPF_B}", "phone:+5511988887777", "ext:nope", "999999"]
)
async def test_an_unknown_customer_is_404(api, ref):
    await api.post("/customers", json={"cpf": CPF_A})
    for suffix in ("balance", "statement"):
        problem(await api.get(f"/customers/{ref}/{suffix}"), 404)


@pytest.mark.parametrize(
    "ref", ["nonsense", "iban:123", "cpf:123", "email:nope", "phone:1", "cpf:52998224724"]
)
async def test_a_malformed_reference_is_422(api, ref):
    for suffix in ("balance", "statement"):
        problem(await api.get(f"/customers/{ref}/{suffix}"), 422)


# --- sales ----------------------------------------------------------------------------------------


async def test_a_sale_earns_pending_cashback(api, clock):
    body = await post_sale(api, "A-1", 15000, customer={"cpf": CPF_A, "email": "ana@example.com"})
    assert body["order_id"] == "A-1"
    cashback = body["cashback"]
    assert cashback["amount"] == 1500
    assert cashback["status"] == "pending"
    assert cashback["available_at"] == iso(clock.now + PENDING)
    assert cashback["expires_at"] == iso(clock.now + PENDING + VALID)
    assert [(b["amount"], b["rate_bp"], b["cashback"]) for b in cashback["breakdown"]] == [
        (15000, 1000, 1500)
    ]
    # the sale created the customer
    customer = await api.post("/customers", json={"email": "ana@example.com"})
    assert customer.status_code == 200 and customer.json()["id"] == body["customer_id"]


async def test_items_categories_and_shipping(api):
    body = await post_sale(
        api,
        "A-2",
        16000,
        shipping=1000,
        items=[
            {"sku": "batom", "category": "maquiagem", "amount": 5000, "quantity": 2},
            {"sku": "creme", "category": "pele", "amount": 5000},
        ],
    )
    # 10000 at 15% + 5000 at 10%; shipping earns nothing
    assert body["cashback"]["amount"] == 2000
    rules = [(b["sku"], b["rate_bp"], b["rule"]) for b in body["cashback"]["breakdown"]]
    assert rules == [("batom", 1500, "category"), ("creme", 1000, "rate")]


async def test_occurred_at_sets_the_dates(api, clock):
    occurred = clock.now - dt.timedelta(days=3)
    local = occurred.astimezone(dt.timezone(dt.timedelta(hours=-3))).isoformat()
    body = await post_sale(api, "A-3", 10000, occurred_at=local)
    assert body["cashback"]["available_at"] == iso(occurred + PENDING)
    assert body["cashback"]["expires_at"] == iso(occurred + PENDING + VALID)
    old = await post_sale(api, "A-4", 10000, occurred_at=iso(clock.now - dt.timedelta(days=8)))
    assert old["cashback"]["status"] == "available"


async def test_a_retried_sale_gets_200_and_the_same_bytes(api, clock):
    payload = {"order_id": "A-1", "customer": {"cpf": CPF_A}, "total": 15000}
    first = await api.post("/sales", json=payload)
    assert first.status_code == 201
    clock.advance(days=1)
    retry = await api.post("/sales", json=payload)
    assert retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert (await balance_of(api))["pending"] == 1500  # credited once
    assert len((await statement_of(api))["entries"]) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"total": 15001},
        {"shipping": 100},
        {"customer": {"cpf": CPF_B}},
        {"items": [{"sku": "x", "amount": 15000}]},
    ],
)
async def test_the_same_order_id_with_other_content_is_409(api, change):
    payload = {"order_id": "A-1", "customer": {"cpf": CPF_A}, "total": 15000}
    assert (await api.post("/sales", json=payload)).status_code == 201
    body = problem(await api.post("/sales", json=payload | change), 409)
    assert "A-1" in body["detail"]
    assert (await balance_of(api))["pending"] == 1500


async def test_items_that_do_not_add_up_are_422(api):
    body = problem(
        await api.post(
            "/sales",
            json={
                "order_id": "A-1",
                "customer": {"cpf": CPF_A},
                "total": 10000,
                "shipping": 1000,
                "items": [{"sku": "a", "amount": 4000}, {"sku": "b", "amount": 3000, "quantity": 2}],
            },
        ),
        422,
    )
    assert "10000" in body["detail"] and "9000" in body["detail"]
    assert "items" in body["detail"]
    problem(await api.get(f"/customers/cpf:{CPF_A}/balance"), 404)  # nothing was recorded


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"occurred_at": "2026-11-10T12:00:00"}, 422, "occurred_at"),
        ({"total": -1}, 422, "total"),
        ({"shipping": -1}, 422, "shipping"),
        ({"shipping": 20000}, 422, "shipping"),
        ({"total": 10**12}, 422, "total"),
        ({"order_id": ""}, 422, "order_id"),
        ({"order_id": "x" * 101}, 422, "order_id"),
        ({"customer": {}}, 422, "customer"),
        ({"items": [{"amount": -5, "quantity": 2}]}, 422, "items"),
        ({"coupon": "BLACK"}, 400, None),
        ({"customer": {"cpf": CPF_A, "nickname": "Ana"}}, 400, None),
        ({"total": 100.5}, 400, None),
    ],
)
async def test_bad_sales_are_rejected(api, change, status, word):
    payload = {"order_id": "A-1", "customer": {"cpf": CPF_A}, "total": 15000} | change
    body = problem(await api.post("/sales", json=payload), status)
    if word:
        assert word in body["detail"]
    problem(await api.get(f"/customers/cpf:{CPF_A}/balance"), 404)


@pytest.mark.parametrize("route", ["sale", "item", "refund", "redemption", "quote"])
async def test_amounts_must_be_json_integers(api, clock, route):
    """A string is not centavos: "150.00" (reais, as a string) must not be taken as 150 centavos."""
    amount = "150.00"
    await post_sale(api, "A-1", 20000)
    clock.advance(days=7)
    before = await balance_of(api)
    path, body = {
        "sale": ("/sales", {"order_id": "A-2", "customer": {"cpf": CPF_A}, "total": amount}),
        "item": (
            "/sales",
            {"order_id": "A-2", "customer": {"cpf": CPF_A}, "total": 150, "items": [{"amount": amount}]},
        ),
        "refund": ("/sales/A-1/refunds", {"refund_id": "F-1", "amount": amount}),
        "redemption": (
            "/redemptions",
            {
                "redemption_id": "R-1",
                "order_id": "O-1",
                "customer": {"cpf": CPF_A},
                "order_total": 10000,
                "amount": amount,
            },
        ),
        "quote": ("/checkout/quote", {"customer": {"cpf": CPF_A}, "total": amount}),
    }[route]
    response = await api.post(path, json=body)
    assert response.status_code in (400, 422), f"{route} took {amount!r} as a number: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await balance_of(api) == before


async def test_a_body_that_is_not_json_is_400(api):
    response = await api.post("/sales", content=b"{not json", headers={"content-type": "application/json"})
    problem(response, 400)


async def test_concurrent_retries_of_a_sale_record_it_once(api):
    payload = {"order_id": "A-1", "customer": {"cpf": CPF_A, "email": "ana@example.com"}, "total": 15000}
    responses = await asyncio.gather(*(api.post("/sales", json=payload) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert (await balance_of(api))["pending"] == 1500
    assert len((await statement_of(api))["entries"]) == 1


# --- balance and statement ------------------------------------------------------------------------


async def test_pending_becomes_available_after_the_return_window(api, clock):
    start = clock.now
    await post_sale(api, "A-1", 15000)
    before = await balance_of(api)
    assert (before["available"], before["pending"], before["expiring"]) == (0, 1500, [])
    assert before["currency"] == "BRL" and before["debt"] == 0
    clock.advance(days=7, seconds=-1)
    assert (await balance_of(api))["pending"] == 1500
    clock.advance(seconds=1)
    after = await balance_of(api)
    assert (after["available"], after["pending"]) == (1500, 0)
    assert after["expiring"] == [{"amount": 1500, "expires_at": iso(start + PENDING + VALID)}]
    [line] = (await statement_of(api))["entries"]
    assert line["status"] == "available"


async def test_expiring_lists_each_date(api, clock):
    start = clock.now
    await post_sale(api, "A-1", 10000)
    clock.advance(days=2)
    await post_sale(api, "A-2", 20000)
    await post_sale(api, "A-3", 5000, occurred_at=iso(clock.now))
    clock.advance(days=7)
    body = await balance_of(api)
    assert body["available"] == 3500
    assert body["expiring"] == [
        {"amount": 1000, "expires_at": iso(start + PENDING + VALID)},
        {"amount": 2500, "expires_at": iso(start + dt.timedelta(days=2) + PENDING + VALID)},
    ]


async def test_the_statement_explains_each_movement_newest_first(api, clock):
    await post_sale(api, "A-1", 15000)
    clock.advance(days=8)
    await post_sale(api, "A-2", 10000)
    assert (await redeem(api, "R-1", 500)).status_code == 201
    clock.advance(hours=1)
    await api.post("/sales/A-2/refunds", json={"refund_id": "F-1", "amount": 5000})
    entries = (await statement_of(api))["entries"]
    assert [(e["kind"], e["amount"], e["order_id"]) for e in entries] == [
        ("reverse", -500, "A-2"),
        ("redeem", -500, None),
        ("earn", 1000, "A-2"),
        ("earn", 1500, "A-1"),
    ]
    assert entries[2]["status"] == "pending" and entries[3]["status"] == "available"
    assert entries[3]["breakdown"]["order_id"] == "A-1"
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)


async def _page_through(api, limit: int, between=None) -> list[dict]:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = await statement_of(api, **params)
        assert len(page["entries"]) <= limit
        seen += page["entries"]
        cursor, pages = page["next_cursor"], pages + 1
        if pages == 1 and between is not None:
            await between()
        if cursor is None:
            return seen
        assert len(page["entries"]) == limit
        assert pages < 100


async def test_the_statement_pages_by_cursor_without_gaps_or_duplicates(api, clock):
    base = clock.now - dt.timedelta(days=5)
    minus3 = dt.timezone(dt.timedelta(hours=-3))
    for i in range(25):
        # pairs of sales share a moment, so the order must also break ties; offsets vary
        at = base + dt.timedelta(hours=i // 2, microseconds=250_000 * (i // 2 % 3))
        at = at.astimezone(minus3 if i % 3 else dt.UTC)
        await post_sale(api, f"S-{i:02}", 1000 + i, occurred_at=at.isoformat())
    everything = (await statement_of(api, limit=100))["entries"]
    assert len(everything) == 25
    assert (await statement_of(api, limit=100))["next_cursor"] is None
    expected = [f"S-{i:02}" for i in range(24, -1, -1)]
    assert [e["order_id"] for e in everything] == expected

    for limit in (1, 7, 10, 24, 25):
        assert [e["order_id"] for e in await _page_through(api, limit)] == expected, limit

    async def a_new_sale_arrives() -> None:
        clock.advance(minutes=1)
        await post_sale(api, "NEW", 5000)

    paged = await _page_through(api, 10, between=a_new_sale_arrives)
    assert [e["order_id"] for e in paged] == expected
    assert len({e["id"] for e in paged}) == 25
    first = (await statement_of(api, limit=10))["entries"]
    assert first[0]["order_id"] == "NEW"


async def test_the_default_page_is_20(api):
    for i in range(21):
        await post_sale(api, f"S-{i:02}", 1000)
    page = await statement_of(api)
    assert len(page["entries"]) == 20 and page["next_cursor"]
    rest = await statement_of(api, cursor=page["next_cursor"])
    assert [e["order_id"] for e in rest["entries"]] == ["S-00"] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "abc",
        "bm90IGEgY3Vyc29y",  # "not a cursor"
        "eHx5",  # "x|y"
        "MjAyNnwx",  # "2026|1"
        "MjAyNi0xMS0xMFQxNTowMDowMCswMDowMHxhYmM",  # "2026-11-10T15:00:00+00:00|abc"
    ],
)
async def test_a_bad_cursor_is_422(api, cursor):
    await post_sale(api, "A-1", 1000)
    body = problem(await api.get(f"/customers/cpf:{CPF_A}/statement", params={"cursor": cursor}), 422)
    assert "cursor" in body["detail"]


async def test_a_forged_cursor_without_an_offset_is_not_a_server_error(api):
    await post_sale(api, "A-1", 1000)
    # "2026-11-10T15:00:00|5": it parses, but this API only gives out cursors with an offset
    response = await api.get(
        f"/customers/cpf:{CPF_A}/statement", params={"cursor": "MjAyNi0xMS0xMFQxNTowMDowMHw1"}
    )
    assert response.status_code in (200, 422), response.text


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
async def test_a_bad_limit_is_a_client_error(api, limit):
    await post_sale(api, "A-1", 1000)
    response = await api.get(f"/customers/cpf:{CPF_A}/statement", params={"limit": limit})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith(PROBLEM)


# --- refunds and cancellations --------------------------------------------------------------------


async def test_a_partial_refund_takes_back_cashback_in_proportion(api):
    await post_sale(api, "A-1", 15000)
    response = await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "refund_id": "F-1",
        "order_id": "A-1",
        "amount": 5000,
        "cashback_reversed": 500,
        "cashback_written_off": 0,
    }
    assert (await balance_of(api))["pending"] == 1000

    retry = await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    assert retry.status_code == 200
    assert retry.json() == body
    assert retry.content == response.content
    assert (await balance_of(api))["pending"] == 1000

    problem(await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 4000}), 409)
    assert (await balance_of(api))["pending"] == 1000


async def test_a_refund_id_is_not_reused_on_another_order(api):
    await post_sale(api, "A-1", 15000)
    await post_sale(api, "A-2", 15000)
    assert (await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 100})).status_code == 201
    problem(await api.post("/sales/A-2/refunds", json={"refund_id": "F-1", "amount": 100}), 409)


async def test_refunds_beyond_the_sale_are_422(api):
    await post_sale(api, "A-1", 15000)
    problem(await api.post("/sales/A-1/refunds", json={"refund_id": "F-0", "amount": 15001}), 422)
    assert (
        await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 10000})
    ).status_code == 201
    body = problem(await api.post("/sales/A-1/refunds", json={"refund_id": "F-2", "amount": 5001}), 422)
    assert "5000" in body["detail"]
    assert (
        await api.post("/sales/A-1/refunds", json={"refund_id": "F-3", "amount": 5000})
    ).status_code == 201
    assert await balance_of(api) == {
        "available": 0,
        "pending": 0,
        "expiring": [],
        "currency": "BRL",
        "debt": 0,
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"refund_id": "F-1", "amount": 0}, 422),
        ({"refund_id": "F-1", "amount": -100}, 422),
        ({"refund_id": "", "amount": 100}, 422),
        ({"refund_id": "F-1"}, 400),
        ({"refund_id": "F-1", "amount": 100, "reason": "damaged"}, 400),
    ],
)
async def test_bad_refunds(api, body, status):
    await post_sale(api, "A-1", 15000)
    problem(await api.post("/sales/A-1/refunds", json=body), status)
    assert (await balance_of(api))["pending"] == 1500


async def test_refunding_an_unknown_order_is_404(api):
    problem(await api.post("/sales/NOPE/refunds", json={"refund_id": "F-1", "amount": 100}), 404)
    problem(await api.post("/sales/NOPE/cancel"), 404)


async def test_partial_refunds_that_add_up_take_back_exactly_all_the_cashback(api):
    sale = await post_sale(api, "A-1", 12345)
    cashback = sale["cashback"]["amount"]
    assert cashback == 1234  # 1234.5 rounded half to even
    reversed_ = []
    for i in range(3):  # 4115 each: 411.33... of cashback each time
        response = await api.post("/sales/A-1/refunds", json={"refund_id": f"F-{i}", "amount": 4115})
        assert response.status_code == 201
        reversed_.append(response.json()["cashback_reversed"])
    assert sum(reversed_) == cashback
    assert all(r in (411, 412) for r in reversed_)
    body = await balance_of(api)
    assert (body["available"], body["pending"]) == (0, 0)


async def test_two_partial_refunds_that_add_up(api):
    await post_sale(api, "A-1", 15000)
    one = await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 7777})
    two = await api.post("/sales/A-1/refunds", json={"refund_id": "F-2", "amount": 7223})
    assert one.json()["cashback_reversed"] + two.json()["cashback_reversed"] == 1500
    assert (await balance_of(api))["pending"] == 0


async def test_cancel_takes_back_the_rest_and_is_idempotent(api):
    await post_sale(api, "A-1", 15000)
    await post_sale(api, "A-2", 10000)
    await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    response = await api.post("/sales/A-1/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == "A-1" and body["status"] == "cancelled"
    assert body["cashback_reversed"] == 1500  # all of it, with the refund's 500
    assert body["redemptions_cancelled"] == []
    assert (await balance_of(api))["pending"] == 1000  # only A-2's
    again = await api.post("/sales/A-1/cancel")
    assert again.status_code == 200 and again.json() == body
    assert (await balance_of(api))["pending"] == 1000
    reverses = [e for e in (await statement_of(api))["entries"] if e["kind"] == "reverse"]
    assert sorted(e["amount"] for e in reverses) == [-1000, -500]

    problem(await api.post("/sales/A-1/refunds", json={"refund_id": "F-2", "amount": 100}), 409)
    # a retry of a refund made before the cancel still gets its answer
    retry = await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    assert retry.status_code == 200 and retry.json()["cashback_reversed"] == 500


async def test_cancelling_a_fully_refunded_sale(api):
    await post_sale(api, "A-1", 15000)
    await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 15000})
    body = (await api.post("/sales/A-1/cancel")).json()
    assert body["status"] == "cancelled" and body["cashback_reversed"] == 1500
    assert (await balance_of(api))["pending"] == 0


# --- quotes ---------------------------------------------------------------------------------------


async def _customer_with_available(api, clock, total: int) -> None:
    await post_sale(api, "EARN", total)
    clock.advance(days=7)


@pytest.mark.parametrize(
    ("order_total", "max_amount", "reason", "earns"),
    [
        (10000, 1500, None, 1000),  # the balance is the limit
        (3001, 1500, None, 300),  # 50% is 1500.5: the balance is the limit
        (3000, 1500, None, 300),  # exactly the minimum order; 50% is exactly the balance
        (2999, 0, "below_min_order", 300),
        (2000, 0, "below_min_order", 200),
    ],
)
async def test_a_quote_respects_balance_and_minimum(api, clock, order_total, max_amount, reason, earns):
    await _customer_with_available(api, clock, 15000)
    response = await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": order_total})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["redeemable"] == {"max_amount": max_amount, "reason": reason}
    assert body["available"] == 1500
    assert body["earn"]["amount"] == earns
    assert body["currency"] == "BRL"


async def test_a_quote_caps_at_the_share_of_the_order(api, clock):
    await _customer_with_available(api, clock, 50000)  # 5000 available
    body = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 6001})).json()
    assert body["redeemable"] == {"max_amount": 3000, "reason": "max_share"}  # floor of 3000.5
    body = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 10000})).json()
    assert body["redeemable"] == {"max_amount": 5000, "reason": None}
    assert body["earn"]["amount"] == 1000
    assert body["customer_id"] == (await api.post("/customers", json={"cpf": CPF_A})).json()["id"]


async def test_a_quote_explains_the_earning(api):
    body = (
        await api.post(
            "/checkout/quote",
            json={
                "total": 11000,
                "shipping": 1000,
                "items": [{"sku": "b", "category": "maquiagem", "amount": 10000}],
            },
        )
    ).json()
    assert body["earn"]["amount"] == 1500
    assert body["earn"]["breakdown"][0]["rule"] == "category"


async def test_pending_cashback_is_not_redeemable(api):
    await post_sale(api, "A-1", 15000)
    body = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 10000})).json()
    assert body["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    assert body["available"] == 0


@pytest.mark.parametrize("customer", [{"cpf": CPF_C}, {"email": "nobody@example.com"}, None])
async def test_an_unknown_customer_quotes_nothing_to_redeem(api, customer):
    response = await api.post(
        "/checkout/quote", json={"total": 10000} | ({"customer": customer} if customer else {})
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] is None
    assert body["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    assert body["earn"]["amount"] == 1000
    # a quote creates nobody
    problem(await api.get(f"/customers/cpf:{CPF_C}/balance"), 404)


async def test_a_vip_quote_earns_the_segment_rate(api):
    await api.post("/customers", json={"cpf": CPF_A, "segment": "VIP"})
    body = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 10000})).json()
    assert body["earn"]["amount"] == 1500


@pytest.mark.parametrize(
    ("body", "status"),
    [({"total": -1}, 422), ({"total": 100, "shipping": 200}, 422), ({"total": 100, "x": 1}, 400)],
)
async def test_bad_quotes(api, body, status):
    problem(await api.post("/checkout/quote", json=body), status)


# --- redemptions ----------------------------------------------------------------------------------


async def test_a_redemption_spends_the_balance_once(api, clock):
    await _customer_with_available(api, clock, 15000)
    response = await redeem(api, "R-1", 1000)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"redemption_id": "R-1", "order_id": "order-of-R-1", "amount": 1000, "status": "committed"}
    assert (await balance_of(api))["available"] == 500

    retry = await redeem(api, "R-1", 1000)
    assert retry.status_code == 200
    assert retry.content == response.content
    assert (await balance_of(api))["available"] == 500

    problem(await redeem(api, "R-1", 400), 409)
    problem(await redeem(api, "R-1", 1000, order_total=9000), 409)
    assert (await balance_of(api))["available"] == 500
    [line] = [e for e in (await statement_of(api))["entries"] if e["kind"] == "redeem"]
    assert line["amount"] == -1000


@pytest.mark.parametrize(
    ("earned", "order_total", "amount", "reason", "max_amount"),
    [
        (15000, 10000, 1501, "balance", 1500),
        (50000, 6000, 3001, "max_share", 3000),
        (50000, 2999, 100, "below_min_order", 0),
        (None, 10000, 100, "no_balance", 0),
    ],
)
async def test_redeeming_more_than_allowed_is_422_with_the_reason(
    api, clock, earned, order_total, amount, reason, max_amount
):
    if earned:
        await _customer_with_available(api, clock, earned)
    else:
        await api.post("/customers", json={"cpf": CPF_A})
    before = await balance_of(api)
    body = problem(await redeem(api, "R-1", amount, order_total=order_total), 422)
    assert body["reason"] == reason
    assert body["max_amount"] == max_amount
    assert await balance_of(api) == before
    # the largest allowed amount goes through
    if max_amount:
        assert (await redeem(api, "R-1", max_amount, order_total=order_total)).status_code == 201


async def test_concurrent_redemptions_never_spend_more_than_the_balance(api, clock):
    await _customer_with_available(api, clock, 15000)
    responses = await asyncio.gather(*(redeem(api, f"R-{i}", 1000) for i in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 422, 422, 422, 422], [r.text for r in responses]
    for r in responses:
        if r.status_code == 422:
            assert (r.json()["reason"], r.json()["max_amount"]) == ("balance", 500)
    assert (await balance_of(api))["available"] == 500


async def test_redeeming_for_an_unknown_customer_is_404(api):
    problem(await redeem(api, "R-1", 100, customer={"cpf": CPF_C}), 404)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 0},
        {"amount": -100},
        {"order_total": 0},
        {"redemption_id": ""},
        {"order_id": " "},
    ],
)
async def test_bad_redemptions_are_422(api, clock, change):
    await _customer_with_available(api, clock, 15000)
    body = {
        "redemption_id": "R-1",
        "order_id": "O-1",
        "customer": {"cpf": CPF_A},
        "order_total": 10000,
        "amount": 100,
    }
    problem(await api.post("/redemptions", json=body | change), 422)
    assert (await balance_of(api))["available"] == 1500


async def test_spending_takes_the_lot_that_expires_first(api, clock):
    start = clock.now
    # recorded first, but it expires last
    await post_sale(api, "LATE", 20000)
    # recorded second with an older date: it is already available and expires first
    old = start - dt.timedelta(days=30)
    await post_sale(api, "EARLY", 10000, occurred_at=iso(old))
    clock.advance(days=7)
    early_expiry, late_expiry = iso(old + PENDING + VALID), iso(start + PENDING + VALID)
    assert (await balance_of(api))["expiring"] == [
        {"amount": 1000, "expires_at": early_expiry},
        {"amount": 2000, "expires_at": late_expiry},
    ]
    assert (await redeem(api, "R-1", 600)).status_code == 201
    assert (await balance_of(api))["expiring"] == [
        {"amount": 400, "expires_at": early_expiry},
        {"amount": 2000, "expires_at": late_expiry},
    ]
    # more than the first lot holds: the rest comes from the next one
    assert (await redeem(api, "R-2", 1000)).status_code == 201
    after = await balance_of(api)
    assert after["available"] == 1400
    assert after["expiring"] == [{"amount": 1400, "expires_at": late_expiry}]

    # cancelling gives the same amounts back to the same lots, with their own expiry
    cancelled = await api.post("/redemptions/R-2/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["amount"] == 1000
    assert (await balance_of(api))["expiring"] == [
        {"amount": 400, "expires_at": early_expiry},
        {"amount": 2000, "expires_at": late_expiry},
    ]
    again = await api.post("/redemptions/R-2/cancel")
    assert again.status_code == 200 and again.json() == cancelled.json()
    assert (await balance_of(api))["available"] == 2400
    assert (await api.post("/redemptions/R-1/cancel")).status_code == 200
    assert (await balance_of(api))["expiring"] == [
        {"amount": 1000, "expires_at": early_expiry},
        {"amount": 2000, "expires_at": late_expiry},
    ]
    kinds = [e["kind"] for e in (await statement_of(api))["entries"]]
    assert kinds.count("redemption_cancel") == 2


async def test_a_restored_amount_still_expires_on_its_date(api, clock):
    start = clock.now
    await post_sale(api, "A-1", 10000)
    clock.advance(days=8)
    assert (await redeem(api, "R-1", 1000)).status_code == 201
    clock.advance(days=80)
    assert (await api.post("/redemptions/R-1/cancel")).status_code == 200
    body = await balance_of(api)
    assert body["expiring"] == [{"amount": 1000, "expires_at": iso(start + PENDING + VALID)}]
    clock.now = start + PENDING + VALID
    assert (await balance_of(api))["available"] == 0


async def test_a_retried_redemption_after_its_cancel_says_cancelled(api, clock):
    await _customer_with_available(api, clock, 15000)
    await redeem(api, "R-1", 1000)
    await api.post("/redemptions/R-1/cancel")
    retry = await redeem(api, "R-1", 1000)
    assert retry.status_code == 200 and retry.json()["status"] == "cancelled"
    assert (await balance_of(api))["available"] == 1500


async def test_cancelling_an_unknown_redemption_is_404(api):
    problem(await api.post("/redemptions/NOPE/cancel"), 404)


async def test_cancelling_a_sale_cancels_its_redemptions(api, clock):
    await _customer_with_available(api, clock, 15000)
    r = await redeem(api, "R-1", 1000, order_id="O-2")
    assert r.status_code == 201
    assert (await redeem(api, "R-2", 200, order_id="O-2")).status_code == 201
    assert (await redeem(api, "R-3", 100, order_id="O-3")).status_code == 201
    await post_sale(api, "O-2", 10000)
    body = await balance_of(api)
    assert (body["available"], body["pending"]) == (200, 1000)

    response = await api.post("/sales/O-2/cancel")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["redemptions_cancelled"] == ["R-1", "R-2"]
    assert answer["cashback_reversed"] == 1000
    body = await balance_of(api)
    assert (body["available"], body["pending"]) == (1400, 0)  # only R-3 still spent
    # each redemption is now cancelled, and cancelling again gives nothing back twice
    for rid in ("R-1", "R-2"):
        again = await api.post(f"/redemptions/{rid}/cancel")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert (await balance_of(api))["available"] == 1400
    assert (await api.post("/sales/O-2/cancel")).json() == answer


async def test_an_expired_credit_is_neither_counted_nor_spent(api, clock):
    start = clock.now
    body = await post_sale(api, "A-1", 15000)
    expires_at = start + PENDING + VALID
    assert body["cashback"]["expires_at"] == iso(expires_at)
    clock.now = expires_at - dt.timedelta(seconds=1)
    assert (await balance_of(api))["available"] == 1500
    clock.now = expires_at  # no sweep has run
    balance = await balance_of(api)
    assert (balance["available"], balance["pending"], balance["expiring"]) == (0, 0, [])
    quote = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 10000})).json()
    assert quote["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    body = problem(await redeem(api, "R-1", 100), 422)
    assert (body["reason"], body["max_amount"]) == ("no_balance", 0)
    [line] = (await statement_of(api))["entries"]
    assert line["status"] == "expired"


async def test_an_expired_credit_is_skipped_for_a_fresh_one(api, clock):
    start = clock.now
    await post_sale(api, "OLD", 10000)
    clock.now = start + PENDING + VALID - dt.timedelta(days=8)
    await post_sale(api, "NEW", 20000)
    clock.now = start + PENDING + VALID  # OLD expired, NEW available a day ago
    assert (await balance_of(api))["available"] == 2000
    body = problem(await redeem(api, "R-1", 2001, order_total=10000), 422)
    assert (body["reason"], body["max_amount"]) == ("balance", 2000)
    assert (await redeem(api, "R-1", 2000, order_total=10000)).status_code == 201
    assert (await balance_of(api))["available"] == 0


# --- refunds of spent cashback --------------------------------------------------------------------


async def _spend_then_refund(api, clock) -> dict:
    await post_sale(api, "A-1", 10000)
    clock.advance(days=7)
    assert (await redeem(api, "R-1", 800)).status_code == 201
    response = await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 10000})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_refund_of_spent_cashback_is_written_off_by_default(api, clock):
    refund = await _spend_then_refund(api, clock)
    assert (refund["cashback_reversed"], refund["cashback_written_off"]) == (200, 800)
    body = await balance_of(api)
    assert (body["available"], body["pending"], body["debt"]) == (0, 0, 0)
    await post_sale(api, "A-2", 10000)
    body = await balance_of(api)
    assert (body["available"], body["pending"], body["debt"]) == (0, 1000, 0)


async def test_the_negative_balance_policy_carries_a_debt(api, clock, settings):
    await set_refund_policy(settings, "negative_balance")
    refund = await _spend_then_refund(api, clock)
    assert (refund["cashback_reversed"], refund["cashback_written_off"]) == (1000, 0)
    body = await balance_of(api)
    assert body["available"] == -800 and body["debt"] == 800
    assert body["pending"] == 0
    quote = (await api.post("/checkout/quote", json={"customer": {"cpf": CPF_A}, "total": 10000})).json()
    assert quote["redeemable"] == {"max_amount": 0, "reason": "no_balance"}
    assert problem(await redeem(api, "R-2", 100), 422)["reason"] == "no_balance"

    sale = await post_sale(api, "A-2", 5000)  # earns 500: all of it pays the debt down
    assert sale["cashback"]["amount"] == 500
    body = await balance_of(api)
    assert (body["available"], body["pending"], body["debt"]) == (-300, 0, 300)
    await post_sale(api, "A-3", 10000)  # earns 1000: 300 pays the rest, 700 is pending
    body = await balance_of(api)
    assert (body["available"], body["pending"], body["debt"]) == (0, 700, 0)
    clock.advance(days=7)
    assert (await balance_of(api))["available"] == 700
    total = sum(e["amount"] for e in (await statement_of(api, limit=100))["entries"])
    assert total == 700


async def test_the_policy_is_read_per_request(api, clock, settings):
    await post_sale(api, "A-1", 10000)
    clock.advance(days=7)
    assert (await redeem(api, "R-1", 800)).status_code == 201
    await set_refund_policy(settings, "negative_balance")
    one = (await api.post("/sales/A-1/refunds", json={"refund_id": "F-1", "amount": 5000})).json()
    assert (one["cashback_reversed"], one["cashback_written_off"]) == (500, 0)  # 200 from the lot
    await set_refund_policy(settings, "write_off")
    two = (await api.post("/sales/A-1/refunds", json={"refund_id": "F-2", "amount": 5000})).json()
    assert (two["cashback_reversed"], two["cashback_written_off"]) == (0, 500)
    body = await balance_of(api)
    assert (body["available"], body["debt"]) == (-300, 300)


@pytest.mark.parametrize(
    "made",
    ["2026-11-10T15:00:00+00:00|99999999999", "2026-11-10T15:00:00|5", "2026-11-10T15:00:00+00:00|-1", "x|y"],
)
async def test_a_forged_statement_cursor_is_refused_plainly(api, made):
    import base64

    await post_sale(api, "S-1", 1000)
    cursor = base64.urlsafe_b64encode(made.encode()).decode().rstrip("=")
    refused = await api.get(f"/customers/cpf:{CPF_A}/statement", params={"cursor": cursor})
    assert refused.status_code == 422 and "cursor" in refused.text
