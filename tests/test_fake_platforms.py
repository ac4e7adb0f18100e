"""The platform fakes answer as the platforms document, and the signing helpers sign as they do."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

import httpx

from tests.fake_platforms import (
    FakeNuvemshop,
    FakeShopify,
    FakeWooCommerce,
    fixture,
    fixture_json,
    nuvemshop_headers,
    shopify_headers,
    woocommerce_headers,
)

CREATE = """mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode {
      id
      codeDiscount { ... on DiscountCodeBasic { title status codes(first: 1) { nodes { code } } } }
    }
    userErrors { field code message }
  }
}"""
DELETE = """mutation discountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } }
}"""


def basic_code(code: str = "RET-TEST-CODE", amount: str = "20.00") -> dict:
    return {
        "basicCodeDiscount": {
            "title": f"Retorno cashback {code}",
            "code": code,
            "startsAt": "2025-03-01T00:00:00Z",
            "endsAt": "2099-03-31T23:59:59Z",
            "customerSelection": {"all": True},
            "customerGets": {
                "value": {"discountAmount": {"amount": amount, "appliesOnEachItem": False}},
                "items": {"all": True},
            },
            "appliesOncePerCustomer": True,
            "usageLimit": 1,
        }
    }


async def test_shopify_refuses_a_wrong_token_and_creates_deletes_and_refuses_a_taken_code() -> None:
    async with FakeShopify() as shop, httpx.AsyncClient(base_url=shop.origin) as client:
        url = "/admin/api/2025-01/graphql.json"
        refused = await client.post(url, json={"query": CREATE}, headers={"X-Shopify-Access-Token": "wrong"})
        assert refused.status_code == 401
        assert refused.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }

        auth = {"X-Shopify-Access-Token": shop.access_token}
        made = (
            await client.post(url, json={"query": CREATE, "variables": basic_code()}, headers=auth)
        ).json()
        node = made["data"]["discountCodeBasicCreate"]["codeDiscountNode"]
        assert made["data"]["discountCodeBasicCreate"]["userErrors"] == []
        assert node["id"].startswith("gid://shopify/DiscountCodeNode/")
        assert node["codeDiscount"]["codes"]["nodes"] == [{"code": "RET-TEST-CODE"}]
        assert made["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000.0
        stored = shop.discounts[node["id"]]
        assert (stored["code"], stored["amount"], stored["status"], stored["usageLimit"]) == (
            "RET-TEST-CODE",
            "20.00",
            "ACTIVE",
            1,
        )
        assert shop.requests[-1].json["variables"] == basic_code()

        # Shopify codes are unique whatever their case.
        taken = (
            await client.post(
                url, json={"query": CREATE, "variables": basic_code("ret-test-code")}, headers=auth
            )
        ).json()
        assert taken["data"]["discountCodeBasicCreate"] == {
            "codeDiscountNode": None,
            "userErrors": [
                {
                    "field": ["basicCodeDiscount", "code"],
                    "code": "TAKEN",
                    "message": "Code must be unique. Please try a different code.",
                    "extraInfo": None,
                }
            ],
        }

        gone = (
            await client.post(url, json={"query": DELETE, "variables": {"id": node["id"]}}, headers=auth)
        ).json()
        assert gone["data"]["discountCodeDelete"] == {"deletedCodeDiscountId": node["id"], "userErrors": []}
        assert shop.discounts == {}
        again = (
            await client.post(url, json={"query": DELETE, "variables": {"id": node["id"]}}, headers=auth)
        ).json()
        assert again["data"]["discountCodeDelete"]["deletedCodeDiscountId"] is None
        assert again["data"]["discountCodeDelete"]["userErrors"][0]["field"] == ["id"]

        bad = (
            await client.post(
                url, json={"query": CREATE, "variables": basic_code("OUTRO", "0")}, headers=auth
            )
        ).json()
        assert bad["data"]["discountCodeBasicCreate"]["userErrors"][0]["field"][-1] == "amount"


async def test_shopify_scripted_throttle_and_outage() -> None:
    async with FakeShopify() as shop, httpx.AsyncClient(base_url=shop.origin) as client:
        auth = {"X-Shopify-Access-Token": shop.access_token}
        shop.throttle_next()
        shop.fail_next(503, "Service Unavailable", {"Retry-After": "1"})
        throttled = await client.post("/admin/api/2024-10/graphql.json", json={"query": CREATE}, headers=auth)
        assert throttled.status_code == 200
        body = throttled.json()
        assert "data" not in body
        assert body["errors"][0]["message"] == "Throttled"
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        down = await client.post("/admin/api/2025-01/graphql.json", json={"query": CREATE}, headers=auth)
        assert (down.status_code, down.headers["retry-after"]) == (503, "1")
        made = await client.post(
            "/admin/api/2025-01/graphql.json", json={"query": CREATE, "variables": basic_code()}, headers=auth
        )
        assert made.json()["data"]["discountCodeBasicCreate"]["userErrors"] == []


async def test_woocommerce_coupons_auth_create_duplicate_and_delete() -> None:
    async with FakeWooCommerce() as woo, httpx.AsyncClient(base_url=woo.origin) as client:
        coupon = {
            "code": "RET-TEST-CODE",
            "discount_type": "fixed_cart",
            "amount": "20",
            "individual_use": True,
            "usage_limit": 1,
            "date_expires": "2099-03-31T23:59:59",
            "email_restrictions": ["mariana.costa@example.com.br"],
        }
        nobody = await client.post("/wp-json/wc/v3/coupons", json=coupon)
        assert nobody.status_code == 401
        assert nobody.json() == {
            "code": "woocommerce_rest_cannot_create",
            "message": "Sorry, you are not allowed to create resources.",
            "data": {"status": 401},
        }
        wrong = await client.post("/wp-json/wc/v3/coupons", json=coupon, auth=(woo.consumer_key, "cs_wrong"))
        assert wrong.json()["code"] == "woocommerce_rest_authentication_error"

        auth = (woo.consumer_key, woo.consumer_secret)
        made = await client.post("/wp-json/wc/v3/coupons", json=coupon, auth=auth)
        assert made.status_code == 201
        body = made.json()
        assert (body["code"], body["amount"], body["usage_count"], body["date_expires"]) == (
            "ret-test-code",
            "20.00",
            0,
            "2099-03-31T23:59:59",
        )
        assert woo.coupons[body["id"]] == body

        dup = await client.post("/wp-json/wc/v3/coupons", json=coupon, auth=auth)
        assert dup.status_code == 400
        assert dup.json()["code"] == "woocommerce_rest_coupon_code_already_exists"

        listed = await client.get("/wp-json/wc/v3/coupons", params={"code": "RET-TEST-CODE"}, auth=auth)
        assert [c["id"] for c in listed.json()] == [body["id"]]
        trashed = await client.delete(f"/wp-json/wc/v3/coupons/{body['id']}", auth=auth)
        assert trashed.json()["status"] == "trash"
        deleted = await client.delete(
            f"/wp-json/wc/v3/coupons/{body['id']}", params={"force": "true"}, auth=auth
        )
        assert deleted.status_code == 200
        missing = await client.get(f"/wp-json/wc/v3/coupons/{body['id']}", auth=auth)
        assert (missing.status_code, missing.json()["code"]) == (
            404,
            "woocommerce_rest_shop_coupon_invalid_id",
        )


async def test_nuvemshop_order_auth_user_agent_404_and_429() -> None:
    async with FakeNuvemshop() as nuvem, httpx.AsyncClient(base_url=nuvem.origin) as client:
        order = fixture_json("nuvemshop", "order_resource_paid.json")
        nuvem.add_order(3456789, order)
        good = {
            "Authentication": f"bearer {nuvem.access_token}",
            "User-Agent": "Retorno (dev@retorno.com.br)",
        }
        path = f"/v1/3456789/orders/{order['id']}"

        no_token = await client.get(path, headers={"User-Agent": good["User-Agent"]})
        assert (no_token.status_code, no_token.json()["code"]) == (401, 401)
        bad_agent = await client.get(path, headers={**good, "User-Agent": "python-httpx/0.28"})
        assert bad_agent.status_code == 400

        got = await client.get(path, headers=good)
        assert got.status_code == 200
        assert got.json()["customer"]["identification"] == "52998224725"
        assert int(got.headers["x-rate-limit-remaining"]) < int(got.headers["x-rate-limit-limit"])
        versioned = await client.get(f"/2025-03/3456789/orders/{order['id']}", headers=good)
        assert versioned.json()["payment_status"] == "paid"

        unknown = await client.get("/v1/3456789/orders/1", headers=good)
        assert (unknown.status_code, unknown.json()["code"]) == (404, 404)

        nuvem.rate_limit_next()
        limited = await client.get(path, headers=good)
        assert limited.status_code == 429
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert nuvem.requests[-1].headers["authentication"] == good["Authentication"]


def test_signing_helpers_verify_independently() -> None:
    body = fixture("shopify", "orders_paid.json")
    mac = hmac.new(b"shpss_secret", body, hashlib.sha256).digest()
    headers = shopify_headers(body, "shpss_secret", "orders/paid", "loja-retorno.myshopify.com", "wh-1")
    assert base64.b64decode(headers["X-Shopify-Hmac-Sha256"]) == mac
    assert headers["X-Shopify-Topic"] == "orders/paid"
    assert headers["X-Shopify-Webhook-Id"] == "wh-1"
    assert {"X-Shopify-Event-Id", "X-Shopify-Triggered-At", "X-Shopify-API-Version"} <= headers.keys()

    body = fixture("woocommerce", "order_processing.json")
    headers = woocommerce_headers(body, "wc-secret", "order.updated", "d1", 7, "https://loja.exemplo.com.br/")
    expected = base64.b64encode(hmac.new(b"wc-secret", body, hashlib.sha256).digest()).decode()
    assert headers["X-WC-Webhook-Signature"] == expected
    assert (headers["X-WC-Webhook-Resource"], headers["X-WC-Webhook-Event"]) == ("order", "updated")

    body = fixture("nuvemshop", "order_paid.json")
    assert nuvemshop_headers(body, "app-secret")["x-linkedstore-hmac-sha256"] == (
        hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    )


def test_fixtures_agree_with_each_other() -> None:
    paid = fixture_json("shopify", "orders_paid.json")
    refund = fixture_json("shopify", "refunds_create.json")
    assert refund["order_id"] == paid["id"]
    assert refund["refund_line_items"][0]["line_item_id"] == paid["line_items"][0]["id"]
    assert Decimal(paid["total_price"]) == Decimal(paid["subtotal_price"]) + Decimal(
        paid["total_shipping_price_set"]["shop_money"]["amount"]
    )
    assert fixture_json("shopify", "orders_cancelled.json")["id"] == paid["id"]
    woo = fixture_json("woocommerce", "order_processing.json")
    lines = sum(Decimal(i["total"]) for i in woo["line_items"])
    assert Decimal(woo["total"]) == lines + Decimal(woo["shipping_total"])
    assert fixture_json("woocommerce", "order_partially_refunded.json")["id"] == woo["id"]
    hook = fixture_json("nuvemshop", "order_paid.json")
    order = fixture_json("nuvemshop", "order_resource_paid.json")
    assert (hook["id"], str(hook["store_id"])) == (order["id"], order["store_id"])
    products = sum(Decimal(p["price"]) * int(p["quantity"]) for p in order["products"])
    assert Decimal(order["total"]) == products - Decimal(order["discount"]) + Decimal(
        order["shipping_cost_customer"]
    )
