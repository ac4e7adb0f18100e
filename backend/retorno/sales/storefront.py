"""A store platform's order, applied as sales, refunds and cancellations (the connectors).

An order is applied whole, from what its payload says now, through the same use cases as the API:
paid and not yet recorded -> a sale (`shopify:<id>` is its order_id); each refund it lists, and
each that came before it (held), -> a refund (`shopify:<refund id>`); cancelled -> a cancellation;
a checkout code it used -> committed. Each step is idempotent by the platform's ids, so a
redelivered, retried or reordered webhook comes to the same book: an older payload never undoes
what a newer one did (a sale is never un-cancelled, a refund never taken back).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec

from retorno import db, i18n
from retorno.brands.service import BrandView
from retorno.cache import TTLCache
from retorno.errors import Conflict, DomainError
from retorno.ledger.rules import Item
from retorno.sales import checkout, orders
from retorno.sales.requests import SaleIn
from retorno.stores import clients
from retorno.stores import service as stores
from retorno.stores.clients import Api, PlatformError
from retorno.stores.platforms import PlatformOrder, PlatformRefund, category_key
from retorno.stores.service import ConnectionView

log = logging.getLogger("retorno.stores")


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    outcome: str  # accepted | ignored | duplicate | held | failed
    reason: str = ""  # stores.service.REASONS
    detail: str = ""  # a refused step's error, in the brand's language


def _ignored(reason: str) -> Applied:
    return Applied(outcome="ignored", reason=reason)


async def _sale(brand_id: int, order_id: str) -> dict[str, Any] | None:
    rows = await db.fetch(
        "SELECT id, total, cancelled_at FROM sales WHERE brand = {} AND order_id = {}", brand_id, order_id
    )
    return rows[0] if rows else None


async def _refunded(sale_id: int) -> int:
    rows = await db.fetch("SELECT COALESCE(SUM(amount), 0) AS s FROM sale_refunds WHERE sale = {}", sale_id)
    return int(rows[0]["s"])


async def _refunded_by_total(sale_id: int, key: str) -> int:
    """What the running-total refunds of a sale (`<key>:refunded:<n>`) have refunded so far."""
    rows = await db.fetch(
        "SELECT COALESCE(SUM(amount), 0) AS s FROM sale_refunds WHERE sale = {} AND refund_id LIKE {}",
        sale_id,
        f"{key}:refunded:%",
    )
    return int(rows[0]["s"])


async def apply_order(
    *,
    brand: BrandView,
    connection: ConnectionView,
    order: PlatformOrder,
    now: dt.datetime,
    api: Api | None = None,
) -> Applied:
    key = f"{connection.platform}:{order.order_id}"
    if order.currency and order.currency.upper() != brand.currency:
        return _ignored("currency")
    try:
        return await _apply(brand, connection, order, key, now, api)
    except DomainError as exc:
        return Applied(outcome="failed", reason="refused", detail=i18n.error_text(brand.locale, exc))


async def _apply(
    brand: BrandView,
    connection: ConnectionView,
    order: PlatformOrder,
    key: str,
    now: dt.datetime,
    api: Api | None,
) -> Applied:
    sale = await _sale(brand.id, key)
    changed = False
    if sale is None:
        if not order.paid:
            return _ignored("never_paid" if order.cancelled else "not_paid")
        if order.identity is None:
            return _ignored("no_customer")
        try:
            _, changed = await orders.record(
                brand=brand,
                sale=SaleIn(
                    order_id=key,
                    customer=order.identity,
                    total=order.total,
                    shipping=order.shipping,
                    items=await _categorised(brand, connection, order, api) or None,
                    occurred_at=order.occurred_at if order.occurred_at and order.occurred_at <= now else None,
                    channel=connection.platform,
                ),
                now=now,
            )
        except Conflict:  # recorded a moment ago by another delivery of this order
            changed = False
        sale = await _sale(brand.id, key)
        if sale is None:
            raise RuntimeError(f"the sale {key} was recorded and is not there")
    for code in order.codes:
        if not checkout.made_here(code):  # the store's own coupons: no write for them
            continue
        changed |= await checkout.commit(
            brand=brand,
            connection_id=connection.id,
            code=code,
            order_id=key,
            order_total=order.total,
            now=now,
        )
    if sale["cancelled_at"] is None:
        held = [
            PlatformRefund(refund_id=r, amount=a)
            for r, a in await stores.held_refunds(connection.id, order.order_id)
        ]
        # A refund is applied once, by its id; what the platform returned beyond what remains of
        # the sale (a cancellation's refund listing what was already refunded) is not refunded twice.
        done = {
            r["refund_id"]
            for r in await db.fetch("SELECT refund_id FROM sale_refunds WHERE sale = {}", sale["id"])
        }
        for refund in [*order.refunds, *held]:
            refund_id = f"{connection.platform}:{refund.refund_id}"
            rest = sale["total"] - await _refunded(sale["id"])
            if refund_id in done or refund.amount <= 0 or rest <= 0:
                continue
            _, created = await orders.refund(
                brand=brand, order_id=key, refund_id=refund_id, amount=min(refund.amount, rest), now=now
            )
            done.add(refund_id)
            changed |= created
        for refund in held:
            await stores.refund_applied(connection.id, refund.refund_id, now)
        if order.refunded_total and not order.cancelled:
            # Refunded in all so far, as the platform counts it: what is new is one refund, named
            # by that running total (the same total again is the same refund).
            rest = sale["total"] - await _refunded(sale["id"])
            refund_id = f"{key}:refunded:{order.refunded_total}"
            due = min(order.refunded_total - await _refunded_by_total(sale["id"], key), rest)
            if refund_id not in done and due > 0:
                await orders.refund(brand=brand, order_id=key, refund_id=refund_id, amount=due, now=now)
                changed = True
        if order.cancelled:
            await orders.cancel(brand=brand, order_id=key, now=now)
            changed = True
    return Applied(outcome="accepted") if changed else Applied(outcome="duplicate", reason="unchanged")


_categories = TTLCache(seconds=600)  # (connection, product id) -> the product's categories


async def _categorised(
    brand: BrandView, connection: ConnectionView, order: PlatformOrder, api: Api | None
) -> list[Item]:
    """The order's lines with their products' categories, asked of the platform where its order
    lines do not say them (Shopify's product type, WooCommerce's categories): of a product's
    categories, the one the brand rates highest, else its first. A platform that refuses (a token
    without the scope) leaves the lines at the base rate; one that does not answer is retried."""
    if api is None or not connection.has_token or connection.platform not in ("shopify", "woocommerce"):
        return order.items
    rates = brand.rules().cashback.categories
    token = ""
    named: list[Item] = []
    for item, product in zip(order.items, order.products, strict=True):
        if item.category is not None or not product:
            named.append(item)
            continue
        names = _categories.get((connection.id, product))
        if names is None:
            token = token or (await stores.secrets(connection.id))[1]
            ask = (
                clients.shopify_product_categories
                if connection.platform == "shopify"
                else clients.woocommerce_product_categories
            )
            try:
                names = await ask(api, shop=connection.shop, token=token, product_id=product)
            except PlatformError as exc:
                if exc.kind == "unreachable":
                    raise
                log.warning("no categories from %s for %s: %s", connection.platform, brand.slug, exc.detail)
                names = []
            _categories.put((connection.id, product), names)
        keys = [k for k in (category_key(n) for n in names) if k]
        rated = [k for k in keys if k in rates]
        best = max(rated, key=lambda k: rates[k]) if rated else (keys[0] if keys else None)
        named.append(msgspec.structs.replace(item, category=best))
    return named


async def apply_refund(
    *, brand: BrandView, connection: ConnectionView, order_id: str, refund: PlatformRefund, now: dt.datetime
) -> Applied:
    """A refund sent on its own (Shopify's refunds/create): applied, or held until its order comes."""
    if refund.amount <= 0:
        return _ignored("no_money")
    key = f"{connection.platform}:{order_id}"
    sale = await _sale(brand.id, key)
    if sale is None:
        await stores.hold_refund(
            brand_id=brand.id,
            connection_id=connection.id,
            order_id=order_id,
            refund_id=refund.refund_id,
            amount=refund.amount,
            now=now,
        )
        return Applied(outcome="held", reason="refund_before_order")
    if sale["cancelled_at"] is not None:
        return Applied(outcome="duplicate", reason="unchanged")
    try:
        _, created = await orders.refund(
            brand=brand,
            order_id=key,
            refund_id=f"{connection.platform}:{refund.refund_id}",
            amount=refund.amount,
            now=now,
        )
    except DomainError as exc:
        return Applied(outcome="failed", reason="refused", detail=i18n.error_text(brand.locale, exc))
    return Applied(outcome="accepted") if created else Applied(outcome="duplicate", reason="unchanged")
