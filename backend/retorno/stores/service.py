"""A brand's store platforms: connecting one (its secrets sealed), the deliveries it sent, the
refunds that came before their order, and the rows of the checkout codes (sales/checkout.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

from retorno import db, vault
from retorno.bounds import check_text
from retorno.errors import N_, Field, Invalid, NotFound
from retorno.stores.platforms import PLATFORMS
from retorno.stores.tables import CheckoutCode, Connection, Delivery, HeldRefund

NAMES = {"shopify": "Shopify", "woocommerce": "WooCommerce", "nuvemshop": "Nuvemshop"}
# The platforms whose admin API can make a single-use discount code for cashback.
CODES = ("shopify", "woocommerce")
# The webhooks a manager registers on each platform (the admin page lists them).
TOPICS = {
    "shopify": ("orders/paid", "orders/updated", "orders/cancelled", "refunds/create"),
    "woocommerce": ("order.created", "order.updated", "order.deleted"),
    "nuvemshop": ("order/paid", "order/updated", "order/cancelled"),
}
# Why a delivery was ignored or failed, in words (the admin shows them).
REASONS = {
    "not_paid": N_("the order is not paid yet: it earns when it is"),
    "never_paid": N_("the order was cancelled before it was paid"),
    "no_customer": N_("the order has no e-mail, phone or CPF to find the shopper by"),
    "currency": N_("the order is in another currency than the brand's"),
    "not_an_order": N_("the body is not an order of this platform"),
    "not_a_refund": N_("the body is not a refund of this platform"),
    "bad_amount": N_("an amount in the order could not be read"),
    "other_shop": N_("the webhook came from another shop than the one connected"),
    "topic": N_("this kind of webhook is not used"),
    "unchanged": N_("nothing new: the order was already applied as it is"),
    "refund_before_order": N_("the refund came before its order: it is applied when the order arrives"),
    "no_money": N_("the refund returned no money"),
    "refused": N_("the sale was refused: see the detail"),
    "platform_unreachable": N_("the platform's API did not answer: it will send the webhook again"),
    "platform_refused": N_("the platform's API refused our request: check the access token"),
    "disabled": N_("the connection is switched off"),
}
MAX_DELIVERIES = 50  # shown on the admin page


class ConnectionView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    brand: int
    platform: str
    shop: str
    has_token: bool
    checkout_codes: bool
    enabled: bool
    last_delivery_at: dt.datetime | None


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    topic: str
    delivery_id: str
    order_id: str
    outcome: str
    reason: str
    detail: str
    created_at: dt.datetime


def context(connection_id: int, what: str) -> str:
    return f"store_connections:{connection_id}:{what}"


_COLUMNS = (
    "SELECT id, brand, platform, shop, access_token != '' AS has_token, checkout_codes, enabled, "
    "last_delivery_at FROM store_connections WHERE brand = {}"
)


def _view(row: dict[str, Any]) -> ConnectionView:
    return ConnectionView(**{**row, "has_token": bool(row["has_token"])})


async def connections(brand_id: int) -> list[ConnectionView]:
    rows = await db.fetch(_COLUMNS + " ORDER BY platform", brand_id)
    return [_view(r) for r in rows]


async def connection(brand_id: int, platform: str) -> ConnectionView | None:
    rows = await db.fetch(_COLUMNS + " AND platform = {}", brand_id, platform)
    return _view(rows[0]) if rows else None


async def secrets(connection_id: int) -> tuple[str, str]:
    """(the webhook secret, the access token), unsealed."""
    row = (
        await Connection.select(Connection.secret, Connection.access_token)
        .where(Connection.id == connection_id)
        .first()
    )
    if row is None:
        raise NotFound("no such connection")
    return (
        vault.unseal(row["secret"], context=context(connection_id, "secret")),
        vault.unseal(row["access_token"], context=context(connection_id, "token"))
        if row["access_token"]
        else "",
    )


_SHOPIFY_SHOP = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
_STORE_URL = re.compile(r"https?://[a-z0-9.-]+(:\d+)?(/[\w.~-]+)*", re.IGNORECASE)


def check_shop(platform: str, shop: str, *, production: bool) -> str:
    """The shop as each platform names it: Shopify's myshopify.com domain, WooCommerce's address
    (https in production), Nuvemshop's store id (digits)."""
    shop = shop.strip()
    if platform == "shopify":
        shop = shop.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not _SHOPIFY_SHOP.fullmatch(shop):
            raise Invalid("%(field)s: the shop's address ends in .myshopify.com", field=Field("shop"))
    elif platform == "woocommerce":
        shop = shop.rstrip("/")
        if not _STORE_URL.fullmatch(shop) or (production and not shop.lower().startswith("https://")):
            raise Invalid("%(field)s: the store's address, as https://loja.com.br", field=Field("shop"))
    elif not shop.isdigit() or len(shop) > 20:
        raise Invalid("%(field)s: the store's number (its id), digits only", field=Field("shop"))
    return shop


async def connect(
    *,
    brand_id: int,
    platform: str,
    shop: str,
    secret: str,
    access_token: str,
    checkout_codes: bool,
    enabled: bool = True,
    production: bool,
    now: dt.datetime,
) -> ConnectionView:
    """Create or change the brand's connection to `platform`. An empty secret or token keeps the
    stored one (the form never shows them back)."""
    if platform not in PLATFORMS:
        raise NotFound("no such platform")
    shop = check_shop(platform, shop, production=production)
    secret = check_text("secret", secret.strip(), max_length=500)
    access_token = check_text("access_token", access_token.strip(), max_length=500)
    if platform == "woocommerce" and access_token and ":" not in access_token:
        raise Invalid("%(field)s: the consumer key and secret, as ck_...:cs_...", field=Field("access_token"))
    if checkout_codes and platform not in CODES:
        raise Invalid("%(field)s: this platform cannot make discount codes", field=Field("checkout_codes"))

    async def work() -> ConnectionView:
        found = await connection(brand_id, platform)
        if found is None:
            if not secret:
                raise Invalid("%(field)s: required", field=Field("secret"))
            inserted = await Connection.insert(
                Connection(
                    brand=brand_id,
                    platform=platform,
                    shop=shop,
                    secret="",
                    created_at=now,
                    updated_at=now,
                )
            )
            connection_id = inserted[0]["id"]
        else:
            connection_id = found.id
        changes: dict[Any, Any] = {
            Connection.shop: shop,
            Connection.enabled: enabled,
            Connection.updated_at: now,
        }
        if secret:
            changes[Connection.secret] = vault.seal(secret, context=context(connection_id, "secret"))
        if access_token:
            changes[Connection.access_token] = vault.seal(
                access_token, context=context(connection_id, "token")
            )
        await Connection.update(changes).where(Connection.id == connection_id)
        has_token = bool(access_token) or (found is not None and found.has_token)
        if checkout_codes and not has_token:
            raise Invalid(
                "%(field)s: discount codes need the platform's access token", field=Field("checkout_codes")
            )
        await Connection.update({Connection.checkout_codes: checkout_codes}).where(
            Connection.id == connection_id
        )
        view = await connection(brand_id, platform)
        assert view is not None
        return view

    return await db.write(work)


async def disconnect(*, brand_id: int, platform: str) -> None:
    """Remove the connection; what it recorded stays in the ledger (the sales are the brand's)."""

    async def work() -> None:
        found = await connection(brand_id, platform)
        if found is None:
            raise NotFound("no such connection")
        held = await db.fetch(
            "SELECT id FROM store_checkout_codes WHERE connection = {} AND state IN ('creating', 'held')",
            found.id,
        )
        if held:
            raise Invalid(
                "%(count)s discount codes are still held: try again when they expire", count=len(held)
            )
        await CheckoutCode.delete().where(CheckoutCode.connection == found.id)
        await Connection.delete().where(Connection.id == found.id)

    await db.write(work)


async def checkout_platform(brand_id: int) -> str | None:
    """The platform that makes the brand's checkout codes, if one is connected to."""
    rows = await db.fetch(
        "SELECT platform FROM store_connections WHERE brand = {} AND checkout_codes = {} AND enabled = {} "
        "ORDER BY platform LIMIT 1",
        brand_id,
        True,
        True,
    )
    return rows[0]["platform"] if rows else None


# --- deliveries ---------------------------------------------------------------------------------


async def seen(connection_id: int, delivery_id: str) -> bool:
    """Whether this delivery id was already handled (a redelivery), not counting failures."""
    if not delivery_id:
        return False
    rows = await db.fetch(
        "SELECT 1 FROM store_deliveries WHERE connection = {} AND delivery_id = {} AND outcome != 'failed' "
        "LIMIT 1",
        connection_id,
        delivery_id,
    )
    return bool(rows)


async def record(
    *,
    brand_id: int,
    connection_id: int,
    topic: str,
    delivery_id: str,
    order_id: str,
    outcome: str,
    reason: str = "",
    detail: str = "",
    now: dt.datetime,
) -> None:
    async def work() -> None:
        await Delivery.insert(
            Delivery(
                brand=brand_id,
                connection=connection_id,
                topic=topic[:60],
                delivery_id=delivery_id[:100],
                order_id=order_id[:100],
                outcome=outcome,
                reason=reason,
                detail=detail[:300],
                created_at=now,
            )
        )
        await Connection.update({Connection.last_delivery_at: now}).where(Connection.id == connection_id)

    await db.write(work)


async def deliveries(brand_id: int, connection_id: int, *, limit: int = MAX_DELIVERIES) -> list[DeliveryView]:
    rows = await db.fetch(
        "SELECT id, topic, delivery_id, order_id, outcome, reason, detail, created_at FROM store_deliveries "
        "WHERE brand = {} AND connection = {} ORDER BY id DESC LIMIT {}",
        brand_id,
        connection_id,
        limit,
    )
    return [DeliveryView(**r) for r in rows]


async def purge_deliveries(*, before: dt.datetime) -> int:
    return await db.purge("store_deliveries", "created_at < {}", before)


# --- refunds that came before their order ---------------------------------------------------------


async def hold_refund(
    *, brand_id: int, connection_id: int, order_id: str, refund_id: str, amount: int, now: dt.datetime
) -> None:
    async def work() -> None:
        found = await HeldRefund.exists().where(
            (HeldRefund.connection == connection_id) & (HeldRefund.refund_id == refund_id)
        )
        if not found:
            await HeldRefund.insert(
                HeldRefund(
                    brand=brand_id,
                    connection=connection_id,
                    order_id=order_id,
                    refund_id=refund_id,
                    amount=amount,
                    created_at=now,
                )
            )

    await db.write(work)


async def held_refunds(connection_id: int, order_id: str) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "SELECT refund_id, amount FROM store_held_refunds WHERE connection = {} AND order_id = {} "
        "AND applied_at IS NULL ORDER BY id",
        connection_id,
        order_id,
    )
    return [(r["refund_id"], r["amount"]) for r in rows]


async def refund_applied(connection_id: int, refund_id: str, now: dt.datetime) -> None:
    await db.write(
        lambda: db.fetch(
            "UPDATE store_held_refunds SET applied_at = {} WHERE connection = {} AND refund_id = {} "
            "AND applied_at IS NULL",
            now,
            connection_id,
            refund_id,
        )
    )


async def seal_secrets() -> int:
    """`retorno secrets rotate`: every connection's secret and token sealed again under the current key."""

    async def work() -> int:
        resealed = 0
        for row in await Connection.select(Connection.id, Connection.secret, Connection.access_token):
            changes: dict[Any, Any] = {}
            for column, what in ((Connection.secret, "secret"), (Connection.access_token, "token")):
                value = row[column._meta.name]
                if value and not vault.sealed_with_current(value):
                    where = context(row["id"], what)
                    changes[column] = vault.seal(vault.unseal(value, context=where), context=where)
            if changes:
                await Connection.update(changes).where(Connection.id == row["id"])
                resealed += len(changes)
        return resealed

    return await db.write(work)
