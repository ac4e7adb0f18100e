"""What each platform sends, read into one shape: its webhook signature, and an order as a sale.

An order is read whole (every platform's order payload carries its state: paid, refunds,
cancelled), so applying it twice or out of order comes to the same sale (sales/storefront.py).

Amounts: the platforms send decimal strings ("199.90"); a sale's total is what the shopper paid,
shipping included; its lines are what each product line cost after its discounts, scaled so they
add up to the total less shipping (an order-wide discount or a tax not in the lines spreads over
the lines in proportion, the remainder of a centavo to the largest lines). Cashback is then earned
as the brand's rules say, never on shipping.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from retorno.customers.service import Identity, normalize
from retorno.errors import Invalid
from retorno.ledger.rules import Item

PLATFORMS = ("shopify", "woocommerce", "nuvemshop")
# The header each signs its webhooks in, and how the HMAC-SHA256 of the raw body is written.
SIGNATURE_HEADERS = {
    "shopify": "x-shopify-hmac-sha256",  # base64
    "woocommerce": "x-wc-webhook-signature",  # base64
    "nuvemshop": "x-linkedstore-hmac-sha256",  # hex
}
# The header carrying the platform's id of one delivery (a redelivery repeats it).
DELIVERY_HEADERS = {"shopify": "x-shopify-webhook-id", "woocommerce": "x-wc-webhook-delivery-id"}
TOPIC_HEADERS = {"shopify": "x-shopify-topic", "woocommerce": "x-wc-webhook-topic"}


class NotAnOrder(ValueError):
    """A payload that does not read as the platform's order (its `reason` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signed(platform: str, secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is the platform's HMAC-SHA256 of the raw body; compared in constant time."""
    if not secret or not signature:
        return False
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    expected = mac.hex() if platform == "nuvemshop" else base64.b64encode(mac).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


class PlatformRefund(msgspec.Struct, frozen=True, kw_only=True):
    refund_id: str
    amount: int


class PlatformOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str  # the platform's id
    name: str  # what the store calls it (#1001)
    paid: bool  # it was paid at some point (refunded and cancelled orders too)
    cancelled: bool
    # What the platform says was refunded in all, where it keeps no refund records (Nuvemshop: the
    # total less what the shopper has paid now); None where refunds are listed one by one.
    refunded_total: int | None
    currency: str
    identity: Identity | None
    total: int
    shipping: int
    items: list[Item]
    products: list[str]  # each item's product id on the platform ("" if none): its category is asked
    occurred_at: dt.datetime | None
    refunds: list[PlatformRefund]
    codes: list[str]  # discount codes the order used


def centavos(value: Any) -> int:
    """ "199.90", 199.9 or "-10.00" as centavos (the sign dropped); NotAnOrder when not a number."""
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise NotAnOrder("bad_amount") from None
    if not amount.is_finite():
        raise NotAnOrder("bad_amount")
    return abs(int((amount * 100).to_integral_value()))


def _moment(value: Any) -> dt.datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(value: Any, limit: int = 200) -> str | None:
    return str(value).strip()[:limit] or None if value not in (None, "") else None


def _identity(email: Any, phone: Any, cpf: Any, name: Any) -> Identity | None:
    """Who bought, by what the platform knows that passes our checks: a malformed phone or CPF is
    left out (the sale is not lost over it) and the shopper is found by the rest."""
    given = {"email": _text(email, 254), "phone": _text(phone, 30), "cpf": _text(cpf, 20)}
    kept: dict[str, str] = {}
    for field, value in given.items():
        if value:
            try:
                normalize(Identity(**{field: value}))
            except Invalid:
                continue
            kept[field] = value
    return Identity(**kept, name=_text(name, 200)) if kept else None


def lines(given: Sequence[tuple[str, str | None, int, str]], target: int) -> list[tuple[Item, str]]:
    """Lines (sku, category, what the line cost, product id) scaled to add up to `target`, largest
    remainder; each with its product's id on the platform."""
    gross = [g for g in given if g[2] > 0]
    whole = sum(g[2] for g in gross)
    if not gross or whole <= 0 or target <= 0:
        return []
    shares = [(g[2] * target) // whole for g in gross]
    rest = target - sum(shares)
    by_remainder = sorted(range(len(gross)), key=lambda i: (-((gross[i][2] * target) % whole), i))
    for i in by_remainder[:rest]:
        shares[i] += 1
    return [
        (Item(sku=sku[:100], category=category[:100] if category else None, amount=share), product)
        for (sku, category, _, product), share in zip(gross, shares, strict=True)
        if share > 0
    ]


def _items(gross: Sequence[tuple[str, str | None, int, str]], target: int) -> dict[str, Any]:
    scaled = lines(gross, target)
    return {"items": [item for item, _ in scaled], "products": [product for _, product in scaled]}


def category_key(name: str) -> str:
    """A platform's category or product type as a brand pack names one: "Maquiagem" and
    "maquiagem" alike, accents and spaces aside ("Cuidados com a Pele" -> cuidados-com-a-pele)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[a-z0-9_]+", plain.lower()))[:100]


def _finish(order: PlatformOrder) -> PlatformOrder:
    if order.shipping > order.total:
        raise NotAnOrder("bad_amount")
    return order


# --- Shopify ------------------------------------------------------------------------------------

SHOPIFY_PAID = {"paid", "partially_refunded", "refunded"}


def shopify_refund(body: dict[str, Any]) -> tuple[str, PlatformRefund]:
    """A refunds/create payload: (its order's id, the refund: what its successful transactions returned)."""
    if "order_id" not in body or "id" not in body:
        raise NotAnOrder("not_a_refund")
    returned = sum(
        centavos(t.get("amount"))
        for t in body.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") == "success"
    )
    return str(body["order_id"]), PlatformRefund(refund_id=str(body["id"]), amount=returned)


def shopify_order(body: dict[str, Any]) -> PlatformOrder:
    if "id" not in body or "line_items" not in body:
        raise NotAnOrder("not_an_order")
    customer = body.get("customer") or {}
    address = body.get("billing_address") or {}
    shipping = sum(
        centavos(s.get("discounted_price", s.get("price"))) for s in body.get("shipping_lines") or []
    )
    total = centavos(body.get("total_price"))
    gross = [
        (
            str(li.get("sku") or li.get("product_id") or li.get("id") or ""),
            category_key(str(li["product_type"])) or None if li.get("product_type") else None,
            centavos(li.get("price")) * int(li.get("quantity") or 0)
            - sum(centavos(d.get("amount")) for d in li.get("discount_allocations") or []),
            str(li.get("product_id") or ""),
        )
        for li in body["line_items"]
    ]
    name = " ".join(filter(None, (customer.get("first_name"), customer.get("last_name"))))
    return _finish(
        PlatformOrder(
            order_id=str(body["id"]),
            name=str(body.get("name") or body["id"]),
            paid=body.get("financial_status") in SHOPIFY_PAID,
            cancelled=bool(body.get("cancelled_at")),
            refunded_total=None,
            currency=str(body.get("currency") or ""),
            identity=_identity(
                body.get("email") or customer.get("email"),
                body.get("phone") or customer.get("phone") or address.get("phone"),
                None,
                name or address.get("name"),
            ),
            total=total,
            shipping=shipping,
            **_items(gross, total - shipping),
            occurred_at=_moment(body.get("processed_at") or body.get("created_at")),
            refunds=[shopify_refund(r | {"order_id": body["id"]})[1] for r in body.get("refunds") or []],
            codes=[str(c.get("code")) for c in body.get("discount_codes") or [] if c.get("code")],
        )
    )


# --- WooCommerce --------------------------------------------------------------------------------

WOO_UNPAID = {"pending", "failed", "checkout-draft", "on-hold"}


def _woo_meta(body: dict[str, Any], *keys: str) -> Any:
    for meta in body.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") in keys:
            return meta.get("value")
    return None


def woocommerce_order(body: dict[str, Any]) -> PlatformOrder:
    if "id" not in body or "line_items" not in body or "status" not in body:
        raise NotAnOrder("not_an_order")
    billing = body.get("billing") or {}
    status = str(body["status"])
    # Paid: it has a payment date, or a status only a paid order reaches (a cancelled order that
    # was never paid has none).
    paid = bool(body.get("date_paid")) or status in ("processing", "completed", "refunded")
    total = centavos(body.get("total"))
    shipping = centavos(body.get("shipping_total")) + centavos(body.get("shipping_tax"))
    gross = [
        (
            str(li.get("sku") or li.get("product_id") or li.get("id") or ""),
            None,
            centavos(li.get("total")) + centavos(li.get("total_tax")),
            str(li.get("product_id") or ""),
        )
        for li in body["line_items"]
    ]
    name = " ".join(filter(None, (billing.get("first_name"), billing.get("last_name"))))
    cpf = billing.get("cpf") or _woo_meta(body, "_billing_cpf", "billing_cpf")
    return _finish(
        PlatformOrder(
            order_id=str(body["id"]),
            name=f"#{body.get('number') or body['id']}",
            paid=paid and status not in WOO_UNPAID,
            cancelled=status == "cancelled",
            refunded_total=None,
            currency=str(body.get("currency") or ""),
            identity=_identity(billing.get("email"), billing.get("phone"), cpf, name),
            total=total,
            shipping=shipping,
            **_items(gross, total - shipping),
            occurred_at=_moment(body.get("date_paid_gmt") or body.get("date_created_gmt")),
            refunds=[
                PlatformRefund(refund_id=str(r["id"]), amount=centavos(r.get("total")))
                for r in body.get("refunds") or []
                if isinstance(r, dict) and "id" in r
            ],
            codes=[str(c.get("code")) for c in body.get("coupon_lines") or [] if c.get("code")],
        )
    )


# --- Nuvemshop ----------------------------------------------------------------------------------

NUVEMSHOP_PAID = {"paid", "refunded", "partially_refunded"}


def nuvemshop_order(body: dict[str, Any]) -> PlatformOrder:
    """The order resource from Nuvemshop's API (its webhook carries only the id)."""
    if "id" not in body or "products" not in body:
        raise NotAnOrder("not_an_order")
    customer = body.get("customer") or {}
    total = centavos(body.get("total"))
    shipping = centavos(body.get("shipping_cost_customer"))
    gross = [
        (
            str(p.get("sku") or p.get("product_id") or p.get("id") or ""),
            None,
            centavos(p.get("price")) * int(p.get("quantity") or 0),
            str(p.get("product_id") or ""),
        )
        for p in body["products"]
    ]
    payment = str(body.get("payment_status") or "")
    refunded: int | None = None
    if payment == "refunded":
        refunded = total
    elif payment == "partially_refunded" and body.get("total_paid_by_customer") not in (None, ""):
        refunded = max(0, total - centavos(body.get("total_paid_by_customer")))
    coupons = body.get("coupon") or []
    return _finish(
        PlatformOrder(
            order_id=str(body["id"]),
            name=f"#{body.get('number') or body['id']}",
            paid=payment in NUVEMSHOP_PAID or bool(body.get("paid_at")),
            cancelled=body.get("status") == "cancelled",
            refunded_total=refunded,
            currency=str(body.get("currency") or ""),
            identity=_identity(
                customer.get("email") or body.get("contact_email"),
                customer.get("phone") or body.get("contact_phone"),
                customer.get("identification") or body.get("contact_identification"),
                customer.get("name") or body.get("contact_name"),
            ),
            total=total,
            shipping=shipping,
            **_items(gross, total - shipping),
            occurred_at=_moment(body.get("paid_at") or body.get("created_at")),
            refunds=[],
            codes=[str(c.get("code")) for c in coupons if isinstance(c, dict) and c.get("code")],
        )
    )


READERS = {"shopify": shopify_order, "woocommerce": woocommerce_order, "nuvemshop": nuvemshop_order}
