"""The store connectors: webhooks shaped as Shopify's, WooCommerce's and Nuvemshop's documentation
shows (tests/fixtures/platforms/), posted correctly and wrongly signed, twice and out of order; the
sale, refund and cancellation they become; Nuvemshop's order read from a fake of its API; the
checkout codes made on fakes of Shopify's and WooCommerce's admin APIs, committed and released."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import httpx
import pytest

from retorno import db
from retorno.customers.service import Identity
from retorno.ledger import balances
from retorno.outbound import Options
from retorno.sales import checkout
from retorno.sales.redemptions import NotRedeemable
from retorno.stores import service as stores
from retorno.stores.clients import Api
from tests.conftest import BASE_HOST
from tests.fake_platforms import FakeNuvemshop, FakeShopify, FakeWooCommerce

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
SECRET = "s3cr3t-da-loja"
SHOP = "bella-cosmeticos.myshopify.com"
WOO = "https://loja.bella.example"
STORE_ID = "3456789"


def fixture(platform: str, name: str) -> dict:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


def raw(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def b64_hmac(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_post(body: bytes, topic: str, webhook_id: str, *, secret: str = SECRET, shop: str = SHOP) -> dict:
    return {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": b64_hmac(body, secret),
        "x-shopify-shop-domain": shop,
        "x-shopify-webhook-id": webhook_id,
        "x-shopify-api-version": "2025-01",
    }


def woo_post(body: bytes, topic: str, delivery: str, *, secret: str = SECRET) -> dict:
    return {
        "content-type": "application/json",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-signature": b64_hmac(body, secret),
        "x-wc-webhook-delivery-id": delivery,
        "x-wc-webhook-source": WOO + "/",
    }


def nuvem_post(body: bytes, *, secret: str = SECRET) -> dict:
    return {
        "content-type": "application/json",
        "x-linkedstore-hmac-sha256": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def cents(text) -> int:
    return int((Decimal(str(text)) * 100).to_integral_value())


def ten_percent(centavos: int) -> int:
    """Bella's base rate (branding/bella/brand.toml), rounded half to even: the independent model."""
    return int((Decimal(centavos) / 10).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@pytest.fixture
async def hooks(app, demo):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_HOST}/api/hooks") as c:
        yield c


async def connect(demo, clock, platform: str, shop: str, token: str = "", codes: bool = False, slug="bella"):
    return await stores.connect(
        brand_id=demo[slug].id,
        platform=platform,
        shop=shop,
        secret=SECRET,
        access_token=token,
        checkout_codes=codes,
        production=False,
        now=clock(),
    )


async def sale_of(demo, order_id: str, slug: str = "bella") -> dict | None:
    rows = await db.fetch(
        "SELECT id, customer, total, shipping, cashback, channel, cancelled_at FROM sales "
        "WHERE brand = {} AND order_id = {}",
        demo[slug].id,
        order_id,
    )
    return rows[0] if rows else None


async def count(table: str) -> int:
    return (await db.fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]


async def outcomes(demo) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT outcome, reason FROM store_deliveries WHERE brand = {} ORDER BY id", demo["bella"].id
    )
    return [(r["outcome"], r["reason"]) for r in rows]


# --- signatures -----------------------------------------------------------------------------------


async def test_an_unsigned_wrongly_signed_or_unknown_brand_webhook_is_a_401_and_writes_nothing(
    hooks, demo, clock
):
    await connect(demo, clock, "shopify", SHOP)
    await connect(demo, clock, "woocommerce", WOO)
    await connect(demo, clock, "nuvemshop", STORE_ID, token="tok")
    order = raw(fixture("shopify", "orders_paid"))
    woo = raw(fixture("woocommerce", "order_processing"))
    nuvem = raw(fixture("nuvemshop", "order_paid"))
    unsigned = {k: v for k, v in shopify_post(order, "orders/paid", "w1").items() if "hmac" not in k}
    attempts = [
        ("/shopify/bella", order, unsigned),
        ("/shopify/bella", order, shopify_post(order, "orders/paid", "w2", secret="other")),
        ("/shopify/bella", order + b" ", shopify_post(order, "orders/paid", "w3")),  # body changed
        ("/shopify/nobody", order, shopify_post(order, "orders/paid", "w4")),
        ("/shopify/mare", order, shopify_post(order, "orders/paid", "w5")),  # mare has no Shopify
        ("/woocommerce/bella", woo, woo_post(woo, "order.updated", "d1", secret="other")),
        ("/woocommerce/bella", woo, {"content-type": "application/json"}),
        ("/nuvemshop/bella", nuvem, nuvem_post(nuvem, secret="other")),
        # Nuvemshop's is hex: the base64 of the right HMAC is not its signature.
        ("/nuvemshop/bella", nuvem, {"x-linkedstore-hmac-sha256": b64_hmac(nuvem)}),
        ("/magento/bella", order, shopify_post(order, "orders/paid", "w6")),
    ]
    for path, body, headers in attempts:
        answer = await hooks.post(path, content=body, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
    assert await count("sales") == 0 and await count("store_deliveries") == 0
    assert await count("customers") == 0


async def test_a_signed_body_that_is_no_order_is_recorded_as_ignored(hooks, demo, clock):
    await connect(demo, clock, "shopify", SHOP)
    for n, (body, topic) in enumerate(
        ((b"not json", "orders/paid"), (b'{"id": 1}', "orders/paid"), (b"{}", "x"))
    ):
        answer = await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, topic, f"g{n}"))
        assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"
    assert [reason for _, reason in await outcomes(demo)] == ["not_an_order", "not_an_order", "topic"]
    assert await count("sales") == 0


async def test_woocommerce_s_unsigned_ping_when_a_webhook_is_saved_is_answered_and_writes_nothing(
    hooks, demo, clock
):
    await connect(demo, clock, "woocommerce", WOO)
    ping = await hooks.post(
        "/woocommerce/bella",
        content=b"webhook_id=42",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert ping.status_code == 200 and await count("store_deliveries") == 0


# --- Shopify ------------------------------------------------------------------------------------


async def test_a_shopify_paid_order_earns_once_however_often_it_is_sent(hooks, demo, clock):
    await connect(demo, clock, "shopify", SHOP)
    payload = fixture("shopify", "orders_paid")
    body = raw(payload)
    first = await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "w-1"))
    assert first.status_code == 200 and first.json()["outcome"] == "accepted"
    sale = await sale_of(demo, f"shopify:{payload['id']}")
    shipping = sum(cents(s.get("discounted_price", s["price"])) for s in payload["shipping_lines"])
    assert sale["total"] == cents(payload["total_price"]) and sale["shipping"] == shipping
    assert sale["channel"] == "shopify"
    # The fixture's lines carry no category Bella rates apart (or none): 10% of what was paid for goods.
    categories = {li.get("product_type") for li in payload["line_items"]}
    if not categories & {"maquiagem"}:
        assert sale["cashback"] == ten_percent(sale["total"] - shipping)
    # The same webhook again (Shopify's retry: same webhook id), and the same order as orders/updated.
    again = await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "w-1"))
    updated = await hooks.post(
        "/shopify/bella", content=body, headers=shopify_post(body, "orders/updated", "w-2")
    )
    assert again.json()["outcome"] == "duplicate" and updated.json()["outcome"] == "duplicate"
    assert await count("sales") == 1 and await count("ledger_lots") == 1
    email = payload.get("email") or payload["customer"]["email"]
    customer = await db.fetch("SELECT email FROM customers WHERE id = {}", sale["customer"])
    assert customer[0]["email"] == email.lower()
    assert await outcomes(demo) == [("accepted", ""), ("duplicate", "unchanged"), ("duplicate", "unchanged")]


async def test_a_pending_shopify_order_earns_nothing_until_it_is_paid(hooks, demo, clock):
    await connect(demo, clock, "shopify", SHOP)
    pending = fixture("shopify", "orders_create_pending")
    body = raw(pending)
    answer = await hooks.post(
        "/shopify/bella", content=body, headers=shopify_post(body, "orders/create", "p1")
    )
    assert answer.status_code == 200 and answer.json() == {"outcome": "ignored", "reason": "not_paid"}
    assert await count("sales") == 0 and await count("customers") == 0
    paid = raw(pending | {"financial_status": "paid"})
    answer = await hooks.post("/shopify/bella", content=paid, headers=shopify_post(paid, "orders/paid", "p2"))
    assert answer.json()["outcome"] == "accepted" and await sale_of(demo, f"shopify:{pending['id']}")


async def test_a_shopify_refund_before_its_order_is_held_then_applied_and_a_cancel_reverses_the_rest(
    hooks, demo, clock
):
    await connect(demo, clock, "shopify", SHOP)
    order, refund = fixture("shopify", "orders_paid"), fixture("shopify", "refunds_create")
    assert refund["order_id"] == order["id"]
    refund_body, order_body = raw(refund), raw(order)
    held = await hooks.post(
        "/shopify/bella", content=refund_body, headers=shopify_post(refund_body, "refunds/create", "r1")
    )
    assert held.json() == {"outcome": "held", "reason": "refund_before_order"}
    assert await count("sales") == 0
    await hooks.post(
        "/shopify/bella", content=order_body, headers=shopify_post(order_body, "orders/paid", "o1")
    )
    sale = await sale_of(demo, f"shopify:{order['id']}")
    returned = sum(
        cents(t["amount"])
        for t in refund["transactions"]
        if t["kind"] == "refund" and t["status"] == "success"
    )
    refunds = await db.fetch(
        "SELECT refund_id, amount, reversed FROM sale_refunds WHERE sale = {}", sale["id"]
    )
    assert [(r["refund_id"], r["amount"]) for r in refunds] == [(f"shopify:{refund['id']}", returned)]
    # Cashback taken back in proportion to what was refunded (half to even), by an independent sum.
    expected = int(
        (Decimal(sale["cashback"]) * returned / sale["total"]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    )
    assert refunds[0]["reversed"] == expected
    # The refund again (a redelivery with a new id: the refund's own id keeps it once).
    again = await hooks.post(
        "/shopify/bella", content=refund_body, headers=shopify_post(refund_body, "refunds/create", "r2")
    )
    assert again.json()["outcome"] == "duplicate"
    cancelled = fixture("shopify", "orders_cancelled")
    assert cancelled["id"] == order["id"]
    body = raw(cancelled)
    await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/cancelled", "c1"))
    sale = await sale_of(demo, f"shopify:{order['id']}")
    assert sale["cancelled_at"] is not None
    balance = await balances.balance(brand=demo["bella"], customer_id=sale["customer"], now=clock())
    assert balance.pending == 0 and balance.available == 0
    # The paid order once more, late: nothing is un-cancelled.
    late = await hooks.post(
        "/shopify/bella", content=order_body, headers=shopify_post(order_body, "orders/paid", "o2")
    )
    assert late.json()["outcome"] == "duplicate"
    assert (await sale_of(demo, f"shopify:{order['id']}"))["cancelled_at"] is not None


async def test_a_shopify_order_without_e_mail_finds_the_shopper_by_phone(hooks, demo, clock):
    await connect(demo, clock, "shopify", SHOP)
    payload = fixture("shopify", "orders_paid_no_email")
    assert not payload.get("email") and not (payload.get("customer") or {}).get("email")
    body = raw(payload)
    answer = await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "n1"))
    assert answer.json()["outcome"] == "accepted"
    sale = await sale_of(demo, f"shopify:{payload['id']}")
    customer = await db.fetch("SELECT email, phone FROM customers WHERE id = {}", sale["customer"])
    assert customer[0]["email"] is None and customer[0]["phone"]


async def test_a_webhook_from_another_shop_is_recorded_and_ignored(hooks, demo, clock):
    await connect(demo, clock, "shopify", SHOP)
    body = raw(fixture("shopify", "orders_paid"))
    answer = await hooks.post(
        "/shopify/bella",
        content=body,
        headers=shopify_post(body, "orders/paid", "x1", shop="x.myshopify.com"),
    )
    assert answer.json() == {"outcome": "ignored", "reason": "other_shop"} and await count("sales") == 0


# --- WooCommerce --------------------------------------------------------------------------------


async def test_woocommerce_orders_applied_whole_in_any_order(hooks, demo, clock):
    await connect(demo, clock, "woocommerce", WOO)
    pending = raw(fixture("woocommerce", "order_pending"))
    processing_payload = fixture("woocommerce", "order_processing")
    processing = raw(processing_payload)
    refunded_payload = fixture("woocommerce", "order_partially_refunded")
    refunded = raw(refunded_payload)
    assert processing_payload["id"] == refunded_payload["id"]
    key = f"woocommerce:{processing_payload['id']}"
    answer = await hooks.post(
        "/woocommerce/bella", content=pending, headers=woo_post(pending, "order.created", "1")
    )
    assert answer.json()["reason"] == "not_paid" and await count("sales") == 0
    # The refund's update arrives before the paid one: the sale and its refund, at once.
    answer = await hooks.post(
        "/woocommerce/bella", content=refunded, headers=woo_post(refunded, "order.updated", "2")
    )
    assert answer.json()["outcome"] == "accepted"
    sale = await sale_of(demo, key)
    assert sale["total"] == cents(processing_payload["total"])
    refunds = await db.fetch("SELECT refund_id, amount FROM sale_refunds WHERE sale = {}", sale["id"])
    assert [(r["refund_id"], r["amount"]) for r in refunds] == [
        (
            f"woocommerce:{r['id']}",
            cents(r["total"]) * -1 if cents(r["total"]) < 0 else abs(cents(r["total"])),
        )
        for r in refunded_payload["refunds"]
    ]
    # The older "processing" update, late, and the refunded one again: nothing changes.
    for delivery, body in (("3", processing), ("4", refunded)):
        late = await hooks.post(
            "/woocommerce/bella", content=body, headers=woo_post(body, "order.updated", delivery)
        )
        assert late.json()["outcome"] == "duplicate"
    assert await count("sale_refunds") == 1 and await count("sales") == 1
    cancelled = raw(fixture("woocommerce", "order_cancelled"))
    await hooks.post(
        "/woocommerce/bella", content=cancelled, headers=woo_post(cancelled, "order.updated", "5")
    )
    assert (await sale_of(demo, key))["cancelled_at"] is not None


async def test_a_woocommerce_order_without_e_mail(hooks, demo, clock):
    await connect(demo, clock, "woocommerce", WOO)
    payload = fixture("woocommerce", "order_no_email")
    body = raw(payload)
    answer = await hooks.post(
        "/woocommerce/bella", content=body, headers=woo_post(body, "order.updated", "9")
    )
    sale = await sale_of(demo, f"woocommerce:{payload['id']}")
    if payload["billing"].get("phone"):
        assert answer.json()["outcome"] == "accepted" and sale is not None
    else:
        assert answer.json()["reason"] == "no_customer" and sale is None


# --- Nuvemshop ----------------------------------------------------------------------------------


@pytest.fixture
def store_api(monkeypatch):
    """The platforms' APIs are the fakes' (RETORNO_SHOPIFY_API_URL, RETORNO_NUVEMSHOP_API_URL)."""
    made: dict[str, str] = {}

    def of(settings) -> Api:
        return Api(
            options=Options(allow_private=True, require_https=False),
            shopify_url=made.get("shopify", ""),
            nuvemshop_url=made.get("nuvemshop", ""),
        )

    monkeypatch.setattr(Api, "of", classmethod(lambda cls, settings: of(settings)))
    return made


async def test_a_nuvemshop_webhook_reads_the_order_from_its_api_with_the_cpf(hooks, demo, clock, store_api):
    await connect(demo, clock, "nuvemshop", STORE_ID, token="nuvem-token")
    resource = fixture("nuvemshop", "order_resource_paid")
    hook = fixture("nuvemshop", "order_paid") | {"store_id": int(STORE_ID), "id": resource["id"]}
    body = raw(hook)
    async with FakeNuvemshop() as nuvem:
        store_api["nuvemshop"] = nuvem.origin
        nuvem.access_token = "nuvem-token"
        nuvem.add_order(int(STORE_ID), resource)
        # The API does not answer once: a 503, so Nuvemshop sends it again; nothing written but the record.
        nuvem.fail_next(500)
        failed = await hooks.post("/nuvemshop/bella", content=body, headers=nuvem_post(body))
        assert failed.status_code == 503 and await count("sales") == 0
        answer = await hooks.post("/nuvemshop/bella", content=body, headers=nuvem_post(body))
        assert answer.status_code == 200 and answer.json()["outcome"] == "accepted"
        asked = [r for r in nuvem.requests if r.path.endswith(f"/orders/{resource['id']}")]
        assert asked and all(r.headers.get("authentication") == "bearer nuvem-token" for r in asked)
    sale = await sale_of(demo, f"nuvemshop:{resource['id']}")
    assert sale["total"] == cents(resource["total"]) and sale["shipping"] == cents(
        resource["shipping_cost_customer"]
    )
    customer = await db.fetch("SELECT cpf, email FROM customers WHERE id = {}", sale["customer"])
    digits = "".join(ch for ch in resource["customer"]["identification"] if ch.isdigit())
    assert customer[0]["cpf"] == digits
    assert await outcomes(demo) == [("failed", "platform_unreachable"), ("accepted", "")]


async def test_a_nuvemshop_partial_refund_is_what_the_shopper_no_longer_paid(hooks, demo, clock, store_api):
    """Nuvemshop lists no refunds: `partially_refunded` and a lower total_paid_by_customer say how
    much went back; the same running total again refunds nothing more."""
    await connect(demo, clock, "nuvemshop", STORE_ID, token="nuvem-token")
    paid = fixture("nuvemshop", "order_resource_paid")
    partial = fixture("nuvemshop", "order_resource_partially_refunded")
    hook = raw({"store_id": int(STORE_ID), "event": "order/updated", "id": paid["id"]})
    async with FakeNuvemshop() as nuvem:
        store_api["nuvemshop"] = nuvem.origin
        nuvem.access_token = "nuvem-token"
        nuvem.add_order(int(STORE_ID), paid)
        await hooks.post("/nuvemshop/bella", content=hook, headers=nuvem_post(hook))
        nuvem.add_order(int(STORE_ID), partial)
        for _ in range(2):
            await hooks.post("/nuvemshop/bella", content=hook, headers=nuvem_post(hook))
    sale = await sale_of(demo, f"nuvemshop:{paid['id']}")
    refunds = await db.fetch("SELECT amount FROM sale_refunds WHERE sale = {}", sale["id"])
    assert [r["amount"] for r in refunds] == [
        cents(partial["total"]) - cents(partial["total_paid_by_customer"])
    ]
    assert await outcomes(demo) == [("accepted", ""), ("accepted", ""), ("duplicate", "unchanged")]


async def test_a_nuvemshop_order_cancelled_is_cancelled(hooks, demo, clock, store_api):
    await connect(demo, clock, "nuvemshop", STORE_ID, token="nuvem-token")
    paid, cancelled = (
        fixture("nuvemshop", "order_resource_paid"),
        fixture("nuvemshop", "order_resource_cancelled"),
    )
    assert paid["id"] == cancelled["id"]
    hook = raw({"store_id": int(STORE_ID), "event": "order/cancelled", "id": paid["id"]})
    async with FakeNuvemshop() as nuvem:
        store_api["nuvemshop"] = nuvem.origin
        nuvem.access_token = "nuvem-token"
        nuvem.add_order(int(STORE_ID), paid)
        await hooks.post("/nuvemshop/bella", content=hook, headers=nuvem_post(hook))
        nuvem.add_order(int(STORE_ID), cancelled)
        await hooks.post("/nuvemshop/bella", content=hook, headers=nuvem_post(hook))
    assert (await sale_of(demo, f"nuvemshop:{paid['id']}"))["cancelled_at"] is not None


# --- checkout codes -------------------------------------------------------------------------------


async def shopper_with(demo, clock, email: str, amount: int) -> tuple[Identity, int]:
    """A shopper of Bella with `amount` available now (a manual credit is usable at once)."""
    from retorno.customers import service as customers
    from retorno.sales import adjustments

    identity = Identity(email=email)
    customer, _ = await db.write(lambda: customers.upsert(demo["bella"].id, identity, now=clock()))
    await adjustments.adjust(
        brand=demo["bella"], customer_id=customer.id, amount=amount, reason="t", now=clock()
    )
    return identity, customer.id


async def available(demo, clock, customer_id: int) -> int:
    return (await balances.balance(brand=demo["bella"], customer_id=customer_id, now=clock())).available


async def test_a_shopify_checkout_code_is_held_then_spent_by_the_paid_order_that_used_it(
    hooks, demo, clock, store_api
):
    order = fixture("shopify", "orders_paid_with_code")
    code_used = order["discount_codes"][0]
    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        shop.customers[order["email"]] = "gid://shopify/Customer/7045"
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
        identity, customer = await shopper_with(demo, clock, order["email"], 5000)
        api = Api.of(None)
        held = await checkout.hold(
            brand=demo["bella"], identity=identity, amount=2000, order_total=10000, now=clock(), api=api
        )
        assert held.platform == "shopify" and held.amount == 2000 and held.code.startswith("RET-")
        assert held.apply_url == f"https://{SHOP}/discount/{held.code}?redirect=/checkout"
        (discount,) = shop.discounts.values()
        assert discount["code"] == held.code and discount["usageLimit"] == 1
        assert discount["customerSelection"] == {"customers": {"add": ["gid://shopify/Customer/7045"]}}
        assert await available(demo, clock, customer) == 3000  # held, not spendable twice
        # The paid order that used it (the fixture's code replaced by the one made).
        used = order | {"discount_codes": [code_used | {"code": held.code}]}
        body = raw(used)
        answer = await hooks.post(
            "/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "k1")
        )
        assert answer.json()["outcome"] == "accepted"
        state = await db.fetch("SELECT state, order_id FROM store_checkout_codes WHERE code = {}", held.code)
        assert state == [{"state": "committed", "order_id": f"shopify:{order['id']}"}]
        redemption = await db.fetch(
            "SELECT order_id, cancelled_at FROM redemptions WHERE redemption_id = {}", f"checkout:{held.code}"
        )
        assert redemption == [{"order_id": f"shopify:{order['id']}", "cancelled_at": None}]
        # Long after its end: a committed code is not released.
        clock.advance(hours=2)
        assert (
            await checkout.release_expired(brands={demo["bella"].id: demo["bella"]}, api=api, now=clock())
            == 0
        )
        assert await available(demo, clock, customer) == 3000
        assert shop.discounts  # not deleted: it was used


async def test_an_unused_code_is_deleted_on_the_platform_and_its_cashback_given_back(demo, clock, store_api):
    async with FakeWooCommerce() as woo:
        await connect(
            demo,
            clock,
            "woocommerce",
            woo.origin,
            token=f"{woo.consumer_key}:{woo.consumer_secret}",
            codes=True,
        )
        identity, customer = await shopper_with(demo, clock, "ana@example.com", 4000)
        api = Api.of(None)
        held = await checkout.hold(
            brand=demo["bella"], identity=identity, amount=1500, order_total=6000, now=clock(), api=api
        )
        (coupon,) = woo.coupons.values()
        assert coupon["code"] == held.code.lower() or coupon["code"] == held.code
        assert coupon["amount"] == "15.00" and coupon["usage_limit"] == 1
        assert coupon["email_restrictions"] == ["ana@example.com"]
        assert await available(demo, clock, customer) == 2500
        everyone = {demo["bella"].id: demo["bella"]}
        clock.advance(minutes=40)  # ended, but within the grace a late order may still come
        assert await checkout.release_expired(brands=everyone, api=api, now=clock()) == 0
        clock.advance(minutes=10)
        woo.fail_next(503)  # the platform does not answer: tried again at the next sweep
        assert await checkout.release_expired(brands=everyone, api=api, now=clock()) == 0
        assert await available(demo, clock, customer) == 2500
        assert await checkout.release_expired(brands=everyone, api=api, now=clock()) == 1
        assert woo.coupons == {} and await available(demo, clock, customer) == 4000
        assert await checkout.release_expired(brands=everyone, api=api, now=clock()) == 0  # once


async def test_two_carts_spending_one_balance_get_one_code(demo, clock, store_api):
    """The holds race (on PostgreSQL, two transactions at once): the second is refused with
    what is left, and the platform made one code only."""
    import asyncio

    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
        identity, customer = await shopper_with(demo, clock, "bia@example.com", 3000)
        api = Api.of(None)
        results = await asyncio.gather(
            *(
                checkout.hold(
                    brand=demo["bella"],
                    identity=identity,
                    amount=2500,
                    order_total=10000,
                    now=clock(),
                    api=api,
                )
                for _ in range(2)
            ),
            return_exceptions=True,
        )
        made = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, NotRedeemable)]
        assert len(made) == 1 and len(refused) == 1 and refused[0].max_amount == 500
        assert len(shop.discounts) == 1 and await available(demo, clock, customer) == 500


async def test_a_platform_that_refuses_the_code_gives_the_cashback_back_at_once(demo, clock, store_api):
    from retorno.errors import Conflict

    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token="a-revoked-token", codes=True)
        identity, customer = await shopper_with(demo, clock, "caio@example.com", 3000)
        with pytest.raises(Conflict):
            await checkout.hold(
                brand=demo["bella"],
                identity=identity,
                amount=1000,
                order_total=9000,
                now=clock(),
                api=Api.of(None),
            )
        assert await available(demo, clock, customer) == 3000 and shop.discounts == {}
        rows = await db.fetch("SELECT state FROM store_checkout_codes")
        assert rows == [{"state": "failed"}]


async def test_the_widget_s_use_button_makes_a_code_through_the_store_s_api(client, demo, clock, store_api):
    from retorno.widget import service as widget

    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
        _, customer = await shopper_with(demo, clock, "dani@example.com", 4000)
        settings = await widget.settings_for(demo["bella"].id, now=clock())
        keyed = await widget.by_key(settings.publishable_key)
        token = widget.sign(keyed.secret, "email:dani@example.com", int(clock().timestamp()) + 600)
        quote = await client.post(
            f"/widget/v1/quote/cart?key={settings.publishable_key}", json={"total": 10000, "token": token}
        )
        assert quote.json()["shopper"]["checkout_codes"] is True
        made = await client.post(
            f"/widget/v1/checkout-code?key={settings.publishable_key}",
            json={"token": token, "amount": 2000, "order_total": 10000},
        )
        assert made.status_code == 201, made.text
        held = made.json()
        assert held["amount"] == 2000 and held["apply_url"].endswith(
            f"/discount/{held['code']}?redirect=/checkout"
        )
        assert shop.discount_for_code(held["code"]) is not None
        assert await available(demo, clock, customer) == 2000
        too_much = await client.post(
            f"/widget/v1/checkout-code?key={settings.publishable_key}&lang=pt-BR",
            json={"token": token, "amount": 2500, "order_total": 10000},
        )
        assert too_much.status_code == 422 and too_much.json()["max_amount"] == 2000
        assert len(shop.discounts) == 1


async def test_two_carts_in_two_app_processes_spend_one_balance_once(
    database_url, engine, demo, clock, tmp_path
):
    """Two app processes, one shopper, two carts asking at the same moment for more than half the
    balance each: one code is made, the other cart is told what is left."""
    import asyncio

    from retorno.widget import service as widget
    from tests.conftest import start_app_processes

    async with FakeShopify() as shop:
        servers = start_app_processes(
            database_url, tmp_path, RETORNO_SHOPIFY_API_URL=shop.origin, RETORNO_WEBHOOKS_ALLOW_PRIVATE="1"
        )
        try:
            await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
            now = dt.datetime.now(dt.UTC)  # the processes keep real time
            from retorno.customers import service as customers
            from retorno.sales import adjustments

            customer, _ = await db.write(
                lambda: customers.upsert(demo["bella"].id, Identity(email="eva@example.com"), now=now)
            )
            await adjustments.adjust(
                brand=demo["bella"], customer_id=customer.id, amount=3000, reason="t", now=now
            )
            settings = await widget.settings_for(demo["bella"].id, now=now)
            keyed = await widget.by_key(settings.publishable_key)
            token = widget.sign(keyed.secret, "email:eva@example.com", int(now.timestamp()) + 600)
            async with httpx.AsyncClient(timeout=20) as http:
                answers = await asyncio.gather(
                    *(
                        http.post(
                            f"http://127.0.0.1:{server.port}/widget/v1/checkout-code?key={settings.publishable_key}",
                            json={"token": token, "amount": 2000, "order_total": 10000},
                            headers={"host": f"bella.localhost:{server.port}"},
                        )
                        for server in servers
                    )
                )
            assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
            refused = next(a for a in answers if a.status_code == 422).json()
            assert refused["max_amount"] == 1000
            assert len(shop.discounts) == 1
            balance = await balances.balance(brand=demo["bella"], customer_id=customer.id, now=now)
            assert balance.available == 1000
        finally:
            for server in servers:
                server.stop()


async def test_product_categories_asked_of_the_platform_earn_the_brand_s_category_rate(
    hooks, demo, clock, store_api
):
    """Neither Shopify's nor WooCommerce's order lines say a product's category: with a token the
    connector asks, and a "Maquiagem" product earns Bella's maquiagem rate (15%) where the rest
    earns 10%. Expected: exact shares of each line, rounded once, half to even."""
    shopify, woo_order = fixture("shopify", "orders_paid"), fixture("woocommerce", "order_processing")
    async with FakeShopify() as shop, FakeWooCommerce() as woo:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token)
        await connect(
            demo, clock, "woocommerce", woo.origin, token=f"{woo.consumer_key}:{woo.consumer_secret}"
        )
        first, second = shopify["line_items"]
        shop.products[f"gid://shopify/Product/{first['product_id']}"] = {"productType": "Maquiagem"}
        shop.products[f"gid://shopify/Product/{second['product_id']}"] = {"productType": "Skincare"}
        woo_first, woo_second = woo_order["line_items"]
        woo.products[woo_first["product_id"]] = {
            "id": woo_first["product_id"],
            "status": "publish",
            "categories": [
                {"id": 9, "name": "Batons", "slug": "batons"},
                {"id": 7, "name": "Maquiagem", "slug": "maquiagem"},
            ],
        }
        body = raw(shopify)
        await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "cat1"))
        body = raw(woo_order)
        await hooks.post("/woocommerce/bella", content=body, headers=woo_post(body, "order.updated", "cat2"))

    def net(li) -> int:
        return cents(li["price"]) * li["quantity"] - sum(
            cents(d["amount"]) for d in li["discount_allocations"]
        )

    exact = Decimal(net(first)) * Decimal("0.15") + Decimal(net(second)) * Decimal("0.10")
    sale = await sale_of(demo, f"shopify:{shopify['id']}")
    assert sale["cashback"] == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    exact = Decimal(cents(woo_first["total"])) * Decimal("0.15") + Decimal(
        cents(woo_second["total"])
    ) * Decimal("0.10")
    sale = await sale_of(demo, f"woocommerce:{woo_order['id']}")
    assert sale["cashback"] == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


async def test_an_order_that_used_a_code_after_its_cashback_came_back_takes_it_again(
    hooks, demo, clock, store_api
):
    order = fixture("shopify", "orders_paid_with_code")
    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
        _, customer = await shopper_with(demo, clock, order["email"], 5000)
        api = Api.of(None)
        held = await checkout.hold(
            brand=demo["bella"],
            identity=Identity(email=order["email"]),
            amount=2000,
            order_total=cents(order["total_price"]) + 2000,
            now=clock(),
            api=api,
        )
        clock.advance(hours=1)
        assert (
            await checkout.release_expired(brands={demo["bella"].id: demo["bella"]}, api=api, now=clock())
            == 1
        )
        assert await available(demo, clock, customer) == 5000
        used = order | {"discount_codes": [order["discount_codes"][0] | {"code": held.code}]}
        body = raw(used)
        await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/paid", "late1"))
        assert await available(demo, clock, customer) == 3000
        rows = await db.fetch("SELECT order_id, amount FROM redemptions WHERE cancelled_at IS NULL")
        assert rows == [{"order_id": f"shopify:{order['id']}", "amount": 2000}]


async def test_the_worker_releases_ended_codes(demo, clock, store_api):
    from retorno.worker import Worker

    async with FakeShopify() as shop:
        store_api["shopify"] = shop.origin
        await connect(demo, clock, "shopify", SHOP, token=shop.access_token, codes=True)
        identity, customer = await shopper_with(demo, clock, "fe@example.com", 3000)
        await checkout.hold(
            brand=demo["bella"],
            identity=identity,
            amount=1000,
            order_total=9000,
            now=clock(),
            api=Api.of(None),
        )
        clock.advance(hours=1)
        worker = Worker(
            clock=clock, webhook_options=Options(allow_private=True, require_https=False), mailer=object()
        )
        worker.store_api = Api.of(None)
        async with worker:
            await worker.run_once()
        assert shop.discounts == {} and await available(demo, clock, customer) == 3000


# --- the admin ------------------------------------------------------------------------------------


async def test_the_integrations_page_connects_a_store_and_shows_its_webhooks_in_words(
    hooks, app, demo, clock
):
    from tests.test_admin_brand import _csrf, _staff

    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    page = await owner.get("/admin/b/bella/integrations")
    assert page.status_code == 200 and "Shopify" in page.text and "Nuvemshop" in page.text
    assert "não conectada" in page.text or "não conectado" in page.text
    form = await owner.get("/admin/b/bella/integrations/shopify")
    assert f"http://{BASE_HOST}/api/hooks/shopify/bella" in form.text
    refused = await owner.post(
        "/admin/b/bella/integrations/shopify",
        data={"shop": "loja.example.com", "secret": SECRET, "_csrf_token": token},
    )
    assert (
        refused.status_code == 422
        and "myshopify.com" in refused.text
        and 'value="loja.example.com"' in refused.text
    )
    saved = await owner.post(
        "/admin/b/bella/integrations/shopify",
        data={"shop": SHOP, "secret": SECRET, "enabled": "1", "_csrf_token": token},
    )
    assert saved.status_code == 303
    body = raw(fixture("shopify", "orders_create_pending"))
    await hooks.post("/shopify/bella", content=body, headers=shopify_post(body, "orders/create", "a1"))
    page = await owner.get("/admin/b/bella/integrations/shopify")
    assert SECRET not in page.text  # never shown back
    assert "o pedido ainda não foi pago" in page.text  # the reason, in Portuguese
    # Mare's owner sees none of it.
    other = await _staff(app, clock, demo, "mare-owner")
    assert (await other.get("/admin/b/bella/integrations/shopify")).status_code == 404
    assert (await other.get("/admin/b/mare/integrations/shopify")).status_code == 200
    assert SHOP not in (await other.get("/admin/b/mare/integrations/shopify")).text
    audit = await owner.get("/admin/b/bella/audit")
    assert SECRET not in audit.text
    await owner.aclose()
    await other.aclose()


async def test_connections_are_kept_apart_between_brands(hooks, demo, clock):
    """Mare connected to the same shop with its own secret: Bella's signature does not open Mare's
    address, and each brand's webhook lands in its own book."""
    await connect(demo, clock, "shopify", SHOP)
    await stores.connect(
        brand_id=demo["mare"].id,
        platform="shopify",
        shop=SHOP,
        secret="mare-secret",
        access_token="",
        checkout_codes=False,
        production=False,
        now=clock(),
    )
    body = raw(fixture("shopify", "orders_paid"))
    wrong = await hooks.post("/shopify/mare", content=body, headers=shopify_post(body, "orders/paid", "i1"))
    assert wrong.status_code == 401
    right = await hooks.post(
        "/shopify/mare", content=body, headers=shopify_post(body, "orders/paid", "i2", secret="mare-secret")
    )
    assert right.json()["outcome"] == "accepted"
    order_id = f"shopify:{json.loads(body)['id']}"
    assert await sale_of(demo, order_id, "mare") and await sale_of(demo, order_id, "bella") is None


async def test_secrets_are_stored_sealed(demo, clock):
    await connect(demo, clock, "shopify", SHOP, token="shpat_token_123")
    row = (await db.fetch("SELECT secret, access_token FROM store_connections"))[0]
    assert SECRET not in row["secret"] and "shpat_token_123" not in row["access_token"]
    assert row["secret"].startswith("sealed:v1:")
    assert await stores.secrets((await stores.connection(demo["bella"].id, "shopify")).id) == (
        SECRET,
        "shpat_token_123",
    )
