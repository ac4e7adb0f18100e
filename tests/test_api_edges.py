"""The integration API at its edges: guessed keys, bad text, huge numbers, odd dates, deep JSON,
big bodies, wrong content types. Each is a clear 4xx problem+json and nothing is written, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import httpx
import pytest

from retorno import db
from retorno.bounds import MAX_AMOUNT, MAX_ITEMS
from tests.conftest import BASE_HOST

PROBLEM = "application/problem+json"


async def _nothing_written() -> None:
    for table in ("sales", "ledger_entries", "redemptions", "customers", "voucher_uses"):
        assert await db.fetch(f"SELECT id FROM {table}") == [], table


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["title"] != "Something went wrong"
    return body


async def test_wrong_keys_are_limited_per_address_and_a_valid_key_still_works(app, api_keys):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_HOST}/api/v1") as c:
        statuses = []
        for i in range(25):
            wrong = {"authorization": f"Bearer rk_000000000000_guess{i}"}
            statuses.append(
                (await c.get("/customers/email:a@example.com/balance", headers=wrong)).status_code
            )
        assert statuses[:20] == [401] * 20
        assert set(statuses[20:]) == {429}
        limited = await c.get("/customers/email:a@example.com/balance", headers={"authorization": "Bearer x"})
        body = assert_problem(limited, 429)
        assert 0 < int(limited.headers["retry-after"]) <= 3
        assert body["detail"]
        valid = {"authorization": f"Bearer {api_keys['bella']}"}
        assert (await c.get("/customers/email:a@example.com/balance", headers=valid)).status_code == 404
        assert (await c.post("/customers", json={"email": "a@example.com"}, headers=valid)).status_code == 201


SALE = {"order_id": "PED-1", "customer": {"email": "ana@example.com"}, "total": 15000}


async def test_the_largest_amount_is_taken_on_both_engines_and_one_centavo_more_is_refused(api, clock):
    """Money columns are BIGINT: R$ 1 billion, its cashback, a redemption and a voucher use of it
    (int4 stopped at R$ 21.474.836,47 on PostgreSQL)."""
    top = MAX_AMOUNT
    sale = await api.post("/sales", json=SALE | {"order_id": "max", "total": top})
    assert sale.status_code == 201, sale.text
    assert sale.json()["cashback"]["amount"] == top // 10  # Bella's 10%
    over = await api.post("/sales", json=SALE | {"order_id": "over", "total": top + 1})
    assert_problem(over, 422)
    quote = await api.post("/checkout/quote", json={"customer": {"email": "ana@example.com"}, "total": top})
    assert quote.status_code == 200 and quote.json()["earn"]["amount"] == top // 10
    assert_problem(await api.post("/checkout/quote", json={"total": top + 1}), 422)
    clock.advance(days=8)
    redemption = {
        "redemption_id": "r-max",
        "order_id": "o-max",
        "customer": {"email": "ana@example.com"},
        "order_total": top,
        "amount": 3 * 10**9,
    }
    used = await api.post("/redemptions", json=redemption)
    assert used.status_code == 201, used.text
    balance = (await api.get("/customers/email:ana@example.com/balance")).json()
    assert balance["available"] == top // 10 - 3 * 10**9
    refused = await api.post(
        "/redemptions", json=redemption | {"redemption_id": "r2", "order_total": top + 1}
    )
    assert_problem(refused, 422)
    voucher = await api.post("/vouchers/validate", json={"code": "AAAA-AAAA-AA", "order_total": top + 1})
    assert_problem(voucher, 422)
    refund = await api.post("/sales/max/refunds", json={"refund_id": "rf", "amount": top})
    assert refund.status_code == 201, refund.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (SALE | {"order_id": "A\u0000"}, "order_id"),
        (SALE | {"customer": {"email": "ana@example.com", "name": "Ana\u0000"}}, "customer.name"),
        (SALE | {"customer": {"external_id": "x\u0000"}}, "customer.external_id"),
        (SALE | {"customer": {"email": "a\u0000@example.com"}}, "customer.email"),
        (SALE | {"channel": "pos\u0000"}, "channel"),
        (SALE | {"items": [{"sku": "A\u0000", "amount": 15000}]}, "items[0].sku"),
        (SALE | {"items": [{"category": "maquiagem\u0000", "amount": 15000}]}, "items[0].category"),
        (SALE | {"order_id": "A\nB"}, "order_id"),
        (SALE | {"customer": {"email": "ana@example.com", "name": "Ana\u007f"}}, "customer.name"),
    ],
)
async def test_control_characters_in_any_text_field_are_refused(api, body, field):
    problem = assert_problem(await api.post("/sales", json=body), 422)
    assert problem["detail"].startswith(field + ":")
    await _nothing_written()


@pytest.mark.parametrize(
    "path",
    [
        "/customers/ext:a%00b/balance",
        "/customers/email:a%00@example.com/statement",
        "/sales/A%00/cancel",
        "/redemptions/r%00/cancel",
        "/customers/email:ana@example.com/statement?cursor=%00",
    ],
)
async def test_control_characters_in_paths_and_queries_are_refused(api, path):
    method = api.post if path.endswith("/cancel") else api.get
    response = await method(path, json={}) if method == api.post else await method(path)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (SALE | {"channel": "x" * 41}, "channel"),
        (SALE | {"channel": ""}, "channel"),
        (SALE | {"order_id": "x" * 101}, "order_id"),
        (SALE | {"order_id": "   "}, "order_id"),
        (SALE | {"customer": {"external_id": "e" * 101}}, "external_id"),
        (SALE | {"customer": {"email": "ana@example.com", "name": "n" * 201}}, "name"),
        (SALE | {"items": [{"sku": "s" * 101, "amount": 15000}]}, "items[0].sku"),
        (SALE | {"items": [{"category": "c" * 101, "amount": 15000}]}, "items[0].category"),
    ],
)
async def test_every_text_field_is_bounded_to_its_column(api, body, field):
    problem = assert_problem(await api.post("/sales", json=body), 422)
    assert problem["detail"].startswith(field + ":"), problem["detail"]
    await _nothing_written()


async def test_an_id_is_stripped_once_so_a_retry_with_a_space_is_the_same_order(api):
    first = await api.post("/sales", json=SALE | {"order_id": "X"})
    again = await api.post("/sales", json=SALE | {"order_id": " X "})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    longest = "L" * 100
    created = await api.post("/sales", json=SALE | {"order_id": longest + " "})
    assert created.status_code == 201 and created.json()["order_id"] == longest
    retried = await api.post("/sales", json=SALE | {"order_id": longest + " "})
    assert retried.status_code == 200 and retried.content == created.content
    assert len(await db.fetch("SELECT id FROM sales")) == 2
    refund = await api.post("/sales/X/refunds", json={"refund_id": " R1 ", "amount": 100})
    assert refund.status_code == 201
    assert (await api.post("/sales/X/refunds", json={"refund_id": "R1", "amount": 100})).status_code == 200


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
        "1900-01-01T00:00:00Z",
        "2200-01-01T00:00:00Z",
        "2026-11-12T15:00:01Z",  # a day and a second ahead of the test's clock
        "2021-11-01T00:00:00Z",  # more than 5 years back
        "2026-11-10T12:00:00",  # no offset
    ],
)
async def test_sale_times_out_of_range_are_refused(api, when):
    problem = assert_problem(await api.post("/sales", json=SALE | {"occurred_at": when}), 422)
    assert problem["detail"].startswith("occurred_at:")
    await _nothing_written()


@pytest.mark.parametrize(
    "when", ["2026-11-11T15:00:00Z", "2021-11-12T00:00:00-03:00", "2026-11-10T12:00:00-03:00"]
)
async def test_sale_times_within_the_range_are_taken(api, when):
    assert (await api.post("/sales", json=SALE | {"occurred_at": when})).status_code == 201


async def test_json_nested_a_thousand_deep_is_a_bad_request(api):
    deep = b'{"order_id": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = await api.post("/sales", content=deep, headers={"content-type": "application/json"})
    assert_problem(response, 400)
    await _nothing_written()


@pytest.mark.parametrize("ref", ["%C2%B2", "%D9%A3", "99999999999", "2147483648", "0", "-1"])
async def test_odd_customer_references_are_client_errors(api, ref):
    response = await api.get(f"/customers/{ref}/balance")
    assert response.status_code in (404, 422), response.text
    assert_problem(response, response.status_code)


async def test_a_sale_is_bounded_in_lines_and_the_api_in_body_size(api):
    lines = [{"sku": f"S{i}", "amount": 1} for i in range(MAX_ITEMS + 1)]
    too_many = await api.post("/sales", json=SALE | {"total": MAX_ITEMS + 1, "items": lines})
    assert assert_problem(too_many, 422)["detail"].startswith("items:")
    enough = await api.post("/sales", json=SALE | {"total": MAX_ITEMS, "items": lines[:MAX_ITEMS]})
    assert enough.status_code == 201
    huge = b'{"order_id": "' + b"x" * 1_100_000 + b'"}'
    response = await api.post("/sales", content=huge, headers={"content-type": "application/json"})
    problem = assert_problem(response, 413)
    assert problem["title"] == "Content too large"
    assert len(await db.fetch("SELECT id FROM sales")) == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"]
)
async def test_a_body_that_is_not_declared_json_is_415(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    raw = b'{"order_id": "T", "customer": {"email": "a@example.com"}, "total": 100}'
    response = await api.post("/sales", content=raw, headers=headers)
    assert assert_problem(response, 415)["title"] == "Unsupported media type"
    await _nothing_written()


async def test_json_with_a_charset_or_a_json_suffix_is_taken(api):
    raw = b'{"order_id": "T", "customer": {"email": "a@example.com"}, "total": 100}'
    for i, content_type in enumerate(["application/json; charset=utf-8", "application/problem+json"]):
        body = raw.replace(b'"T"', f'"T{i}"'.encode())
        assert (
            await api.post("/sales", content=body, headers={"content-type": content_type})
        ).status_code == 201


async def test_method_not_allowed_has_a_real_title(api):
    problem = assert_problem(await api.put("/sales", json={}), 405)
    assert problem["title"] == "Method not allowed"
