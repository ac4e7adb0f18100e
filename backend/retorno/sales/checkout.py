"""Spending cashback at a store platform's checkout: a single-use discount code on the platform,
its amount held as a redemption until a paid order uses it, or released when it expires unused.

    hold     the redemption (from the lots that expire first) and the code's row, in one
             transaction, `creating`; then the platform makes the code (outside any transaction:
             a slow platform holds no lock) and the row is `held`, or the redemption is
             cancelled and the row `failed`.
    commit   a paid order that used the code arrives (sales/storefront.py): the redemption now
             belongs to that order (cancelling the order gives the cashback back), the row is
             `committed`.
    release  the code expired unused (`release_expired`, from the worker): it is deleted on the
             platform and the redemption cancelled; the row is `released`.

Commit and release each claim the row with one conditional UPDATE, so a paid order and the
expiry racing for the same code end one way only. Two carts spending one balance: each hold
locks the shopper and checks what is available, so the second gets what is left, or a refusal.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

import msgspec

from retorno import db, i18n
from retorno.bounds import check_amount
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Conflict, NotFound
from retorno.ledger.balances import iso
from retorno.sales import redemptions
from retorno.sales.redemptions import NotRedeemable, RedemptionIn
from retorno.stores import clients
from retorno.stores import service as stores
from retorno.stores.clients import Api, PlatformError
from retorno.stores.tables import CheckoutCode

log = logging.getLogger("retorno.stores")

VALID_FOR = dt.timedelta(minutes=30)  # what a code is good for on the platform
# After a code's end, how long a paid order that used it may still arrive (a webhook retried)
# before the cashback is given back.
GRACE = dt.timedelta(minutes=15)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: it may be typed by hand


class CodeHeld(msgspec.Struct, kw_only=True):
    code: str  # what the shopper types (or the widget applies) at the platform's checkout
    amount: int  # centavos held
    expires_at: str  # ISO 8601; unused by then, the amount returns to the balance
    platform: str  # shopify | woocommerce
    apply_url: str | None = None  # a link that applies the code in the store (Shopify's /discount/<code>)


PREFIX = "RET-"


def new_code() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def made_here(code: str) -> bool:
    """Whether a code an order used may be one of ours (WooCommerce hands codes back lower-cased)."""
    return code.strip().upper().startswith(PREFIX)


async def hold(
    *,
    brand: BrandView,
    identity: Identity,
    amount: int,
    order_total: int,
    now: dt.datetime,
    api: Api,
) -> CodeHeld:
    """Hold `amount` of the shopper's cashback for a discount code on the brand's platform."""
    check_amount("amount", amount, minimum=1)
    check_amount("order_total", order_total, minimum=1)
    platform = await stores.checkout_platform(brand.id)
    connection = await stores.connection(brand.id, platform) if platform else None
    if connection is None:
        raise NotFound("cashback cannot be used at this store's checkout")
    customer = await customers.lookup(brand.id, identity)
    if customer is None:
        raise NotRedeemable("no_balance", 0)
    code = new_code()
    expires_at = now + VALID_FOR

    async def take() -> int:
        await redemptions.redeem(
            brand=brand,
            request=RedemptionIn(
                redemption_id=f"checkout:{code}",
                order_id=f"checkout:{code}",
                customer=identity,
                order_total=order_total,
                amount=amount,
            ),
            now=now,
        )
        inserted = await CheckoutCode.insert(
            CheckoutCode(
                brand=brand.id,
                connection=connection.id,
                customer=customer.id,
                code=code,
                amount=amount,
                redemption_id=f"checkout:{code}",
                state="creating",
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
            )
        )
        return int(inserted[0]["id"])

    row_id = await db.write(take)
    _, token = await stores.secrets(connection.id)
    title = i18n.gettext(brand.locale, "Cashback of %(brand)s") % {"brand": brand.name}
    try:
        if connection.platform == "shopify":
            ref = await clients.shopify_create_code(
                api,
                shop=connection.shop,
                token=token,
                code=code,
                amount=amount,
                starts_at=now,
                ends_at=expires_at,
                email=customer.email,
                title=title,
            )
        else:
            ref = await clients.woocommerce_create_code(
                api,
                shop=connection.shop,
                token=token,
                code=code,
                amount=amount,
                ends_at=expires_at,
                email=customer.email,
                title=title,
            )
    except PlatformError as exc:
        log.warning(
            "the %s store of %s made no discount code: %s", connection.platform, brand.slug, exc.detail
        )
        await _give_back(brand, row_id, "failed", now)
        raise Conflict("the store could not make the discount code now; please try again") from None
    await db.write(
        lambda: db.fetch(
            "UPDATE store_checkout_codes SET state = 'held', platform_ref = {}, updated_at = {} "
            "WHERE id = {} AND state = 'creating'",
            ref,
            now,
            row_id,
        )
    )
    apply_url = (
        f"https://{connection.shop}/discount/{code}?redirect=/checkout" if platform == "shopify" else None
    )
    return CodeHeld(
        code=code,
        amount=amount,
        expires_at=iso(expires_at) or "",
        platform=connection.platform,
        apply_url=apply_url,
    )


async def _give_back(brand: BrandView, row_id: int, state: str, now: dt.datetime) -> bool:
    """The code's cashback back to the shopper, if the row is still held (claimed in one UPDATE)."""

    async def work() -> bool:
        claimed = await db.fetch(
            "UPDATE store_checkout_codes SET state = {}, updated_at = {} "
            "WHERE id = {} AND state IN ('creating', 'held') RETURNING redemption_id",
            state,
            now,
            row_id,
        )
        if not claimed:
            return False
        await redemptions.cancel_in_transaction(
            brand=brand, redemption_id=claimed[0]["redemption_id"], now=now
        )
        return True

    return await db.write(work)


async def commit(
    *, brand: BrandView, connection_id: int, code: str, order_id: str, order_total: int, now: dt.datetime
) -> bool:
    """A paid order (`order_id`, ours: `shopify:123`) used `code`: its held cashback is spent on
    that order. Whether anything changed (a code not ours, or committed already: nothing)."""
    code = code.strip().upper()

    async def work() -> bool:
        claimed = await db.fetch(
            "UPDATE store_checkout_codes SET state = 'committed', order_id = {}, updated_at = {} "
            "WHERE brand = {} AND connection = {} AND code = {} AND state IN ('creating', 'held') "
            "RETURNING redemption_id",
            order_id,
            now,
            brand.id,
            connection_id,
            code,
        )
        if not claimed:
            return await _late(brand, connection_id, code, order_id, order_total, now)
        # The redemption now belongs to the order: its cancellation gives the cashback back.
        await db.fetch(
            "UPDATE redemptions SET order_id = {} WHERE brand = {} AND redemption_id = {}",
            order_id,
            brand.id,
            claimed[0]["redemption_id"],
        )
        return True

    return await db.write(work)


async def _late(
    brand: BrandView, connection_id: int, code: str, order_id: str, order_total: int, now: dt.datetime
) -> bool:
    """A paid order used a code whose cashback was already given back (its webhook came after
    the grace): the amount is taken again for that order if the shopper still has it."""
    rows = await db.fetch(
        "SELECT customer, amount FROM store_checkout_codes WHERE brand = {} AND connection = {} "
        "AND code = {} AND state IN ('released', 'failed')",
        brand.id,
        connection_id,
        code,
    )
    if not rows:
        return False  # not ours, or committed already
    customer = await customers.get(brand.id, rows[0]["customer"])
    identity = Identity(
        external_id=customer.external_id, cpf=customer.cpf, email=customer.email, phone=customer.phone
    )
    try:
        _, created = await redemptions.redeem(
            brand=brand,
            request=RedemptionIn(
                redemption_id=f"checkout:{code}:late",
                order_id=order_id,
                customer=identity,
                # What the order came to before the code took its part off.
                order_total=order_total + rows[0]["amount"],
                amount=rows[0]["amount"],
            ),
            now=now,
        )
    except NotRedeemable:
        log.warning(
            "the order %s of %s used an ended code; the cashback is no longer there", order_id, brand.slug
        )
        return False
    if created:
        await db.write(
            lambda: db.fetch(
                "UPDATE store_checkout_codes SET state = 'committed', order_id = {}, updated_at = {} "
                "WHERE brand = {} AND connection = {} AND code = {}",
                order_id,
                now,
                brand.id,
                connection_id,
                code,
            )
        )
    return created


async def release_expired(
    *, brands: dict[int, BrandView], api: Api, now: dt.datetime, limit: int = 100
) -> int:
    """Codes past their end and the grace: deleted on the platform, their cashback given back.
    How many were released. Idempotent; a platform that does not answer is tried again next time
    (its code has ended there anyway)."""
    rows = await db.fetch(
        "SELECT c.id, c.brand, c.platform_ref, n.platform, n.shop, n.id AS connection "
        "FROM store_checkout_codes c JOIN store_connections n ON n.id = c.connection "
        "WHERE c.state IN ('creating', 'held') AND c.expires_at < {} ORDER BY c.expires_at LIMIT {}",
        now - GRACE,
        limit,
    )
    released = 0
    for row in rows:
        brand = brands.get(row["brand"])
        if brand is None:
            continue
        if row["platform_ref"]:
            try:
                _, token = await stores.secrets(row["connection"])
                await _delete(api, row, token)
            except PlatformError as exc:
                log.warning("could not delete an ended discount code on %s: %s", row["platform"], exc.detail)
                if exc.kind == "unreachable":
                    continue
        released += await _give_back(brand, row["id"], "released", now)
    return released


async def _delete(api: Api, row: dict[str, Any], token: str) -> None:
    if row["platform"] == "shopify":
        await clients.shopify_delete_code(api, shop=row["shop"], token=token, ref=row["platform_ref"])
    else:
        await clients.woocommerce_delete_code(api, shop=row["shop"], token=token, ref=row["platform_ref"])
