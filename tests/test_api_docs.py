"""The integration API describes itself: every answer's real shape, every error status as problem
details, descriptions and examples for every operation and field, bounds on what is taken; the
reference page /api/docs draws that document, offline and under the app's CSP."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.conftest import BASE_HOST

PROBLEM = "#/components/schemas/Problem"


@pytest.fixture
async def document(app) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE_HOST}") as c:
        answer = await c.get("/api/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


async def test_every_operation_declares_its_answer_and_its_problems(document):
    operations = dict(_operations(document))
    assert len(operations) >= 12
    for name, operation in operations.items():
        assert operation.get("summary") and operation.get("description"), name
        statuses = operation["responses"]
        successes = [s for s in statuses if s.startswith("2")]
        assert successes, name
        for status in successes:  # the real shape, not {"type": "string"} (204: no body at all)
            if status == "204":
                assert "content" not in statuses[status], name
                continue
            schema = statuses[status]["content"]["application/json"]["schema"]
            assert "$ref" in schema.get("items", schema), (name, status, schema)
        for status in ("400", "401", "429"):
            assert statuses[status]["content"]["application/problem+json"]["schema"]["$ref"] == PROBLEM, name
        if "requestBody" in operation:
            for status in ("413", "415", "422"):
                assert status in statuses, (name, status)
            media = operation["requestBody"]["content"]["application/json"]
            assert media["examples"]["example"]["value"] is not None, name  # an example body
    assert "201" in operations["POST /api/v1/sales"]["responses"]
    assert "200" in operations["POST /api/v1/sales"]["responses"]  # an idempotent retry
    assert "409" in operations["POST /api/v1/sales"]["responses"]
    assert "404" in operations["GET /api/v1/customers/{ref}/balance"]["responses"]


async def test_every_field_has_a_description_and_what_is_taken_has_its_bounds(document):
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        for field, prop in schema.get("properties", {}).items():
            if "$ref" not in prop:  # a reference's words are those of the schema it names
                assert prop.get("description"), f"{name}.{field}"
    sale = schemas["SaleIn"]
    assert sale["additionalProperties"] is False and set(sale["required"]) >= {
        "order_id",
        "customer",
        "total",
    }
    assert sale["properties"]["total"]["minimum"] == 0 and sale["properties"]["total"]["maximum"] == 10**11
    assert sale["properties"]["order_id"]["maxLength"] == 100
    assert sale["properties"]["items"]["oneOf"][0]["maxItems"] == 1000
    assert {tuple(o["required"]) for o in schemas["Identity"]["anyOf"]} == {
        ("external_id",),
        ("cpf",),
        ("email",),
        ("phone",),
    }
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    ref = document["paths"]["/api/v1/customers/{ref}/balance"]["get"]["parameters"][0]
    assert ref["description"] and re.fullmatch(ref["schema"]["pattern"], "cpf:52998224725")
    assert not re.fullmatch(ref["schema"]["pattern"], "52998224725x")


async def test_a_problem_is_what_the_document_says(api):
    refused = await api.post(
        "/sales", json={"order_id": "X", "customer": {"email": "a@example.com"}, "total": -1}
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "invalid" and body["status"] == 422 and body["type"] == "about:blank"
    missing = await api.get("/customers/cpf:52998224725/balance")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    unauthorized = await httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url)).get(
        "/customers/cpf:52998224725/balance"
    )
    assert unauthorized.status_code == 401 and unauthorized.json()["code"] == "unauthorized"


async def test_a_body_is_read_once_and_strictly(api):
    """Money only as JSON numbers: "150.00" is refused; 15000.0 is the integer JSON says it is."""
    sale = {"order_id": "S-1", "customer": {"email": "a@example.com"}}
    assert (await api.post("/sales", json=sale | {"total": "15000"})).status_code == 400
    assert (await api.post("/sales", json=sale | {"total": 150.5})).status_code == 400
    created = await api.post("/sales", json=sale | {"total": 15000.0})
    assert created.status_code == 201 and created.json()["cashback"]["amount"] == 1500
    again = await api.post("/sales", json=sale | {"total": 15000})  # the same sale: a retry
    assert again.status_code == 200 and again.json() == created.json()
    unknown = await api.post("/sales", json=sale | {"total": 15000, "discount": 5})
    assert unknown.status_code == 400 and "discount" in unknown.json()["detail"]


async def test_the_reference_page_lists_every_operation_from_the_document(app, document):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE_HOST}") as c:
        page = await c.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = html.unescape(page.text)
    for _, operation in _operations(document):
        assert f'id="{operation["operationId"]}"' in text
        assert operation["summary"] in text
    assert "curl -X POST https://&lt;host&gt;/api/v1/sales" in page.text
    assert "<script" not in page.text.split("</head>")[1]  # nothing runs: drawn on the server
    assert "cdn" not in page.text.lower()


async def test_an_operation_s_example_body_is_accepted_as_it_stands(api):
    """The examples the document gives are requests the API takes (a client copying one works)."""
    async with httpx.AsyncClient(transport=api._transport, base_url=f"http://{BASE_HOST}") as c:
        document = (await c.get("/api/openapi.json")).json()

    def example(path: str, method: str = "post") -> dict:
        return document["paths"][path][method]["requestBody"]["content"]["application/json"]["examples"][
            "example"
        ]["value"]

    sale_body = example("/api/v1/sales")
    assert sale_body.pop("occurred_at").startswith("2026-12-01")  # a real date: the tests' clock is earlier
    sale = await api.post("/sales", json=sale_body)
    assert sale.status_code == 201, sale.text
    assert (await api.post("/checkout/quote", json=example("/api/v1/checkout/quote"))).status_code == 200
    voucher = await api.post("/vouchers", json=example("/api/v1/vouchers"))
    assert voucher.status_code == 201, voucher.text
