"""Web push for each brand's app: keys, subscriptions, preferences, and turning outbox events into
deliveries (the worker, retorno/worker.py, sends them).

- Each brand has its own VAPID key pair (`push.keys`), made with the brand (or on first use).
- A shopper chooses categories; a subscription is one device. Turning every category off, deleting
  the account or a 404/410 from the push service removes subscriptions.
- `deliver` writes one delivery per (event, subscription) - a unique pair - for a notice the
  messages' dispatch (retorno/messages) decided goes by push; the worker sends them.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from retorno import db
from retorno.brands.service import BrandView
from retorno.errors import Field, Invalid, NotFound
from retorno.push.notices import Notice, payload_of
from retorno.push.tables import Preference, PushService, Subscription

CATEGORIES = ("cashback", "expiry", "vouchers", "referrals", "campaigns")
DEFAULT_CATEGORIES = CATEGORIES


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """A subscribed device of a shopper, as their lists (and their data export) show it."""

    id: int
    device: str
    created_at: dt.datetime
    last_sent_at: dt.datetime | None


# --- preferences and subscriptions -----------------------------------------------------------------


# Hand-written: the messages' dispatch reads the categories of a batch of shoppers at once
# (bench/push.py).
_CATEGORIES = "SELECT customer, categories FROM push_preferences WHERE brand = {} AND customer IN (%s)"


async def categories_by_customer(brand_id: int, customer_ids: list[int]) -> dict[int, list[str]]:
    """Each shopper's push categories (the defaults for one who never chose), in one query."""
    found = {customer: list(DEFAULT_CATEGORIES) for customer in customer_ids}
    if customer_ids:
        marks = ", ".join("{}" for _ in customer_ids)
        for row in await db.fetch(_CATEGORIES % marks, brand_id, *customer_ids):
            found[row["customer"]] = [c for c in row["categories"].split(",") if c in CATEGORIES]
    return found


async def categories_of(brand_id: int, customer_id: int) -> list[str]:
    return (await categories_by_customer(brand_id, [customer_id]))[customer_id]


async def set_categories(*, brand_id: int, customer_id: int, categories: list[str], now: dt.datetime) -> None:
    """Save the shopper's choice; with every category off, this device list is emptied too."""
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise Invalid(
            "%(field)s: unknown %(category)r", field=Field("categories"), category=sorted(unknown)[0]
        )
    chosen = ",".join(c for c in CATEGORIES if c in categories)

    async def work() -> None:
        updated = (
            await Preference.update({Preference.categories: chosen, Preference.updated_at: now})
            .where(Preference.customer == customer_id)
            .returning(Preference.id)
        )
        if not updated:
            await db.insert(
                Preference, brand=brand_id, customer=customer_id, categories=chosen, updated_at=now
            )
        if not chosen:
            await Subscription.delete().where(Subscription.customer == customer_id)

    await db.write(work)


class SubscriptionIn(msgspec.Struct, kw_only=True):
    endpoint: str
    keys: dict[str, str]
    device: str = ""


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(endpoint) > 2000:
        raise Invalid("%(field)s: not a push service URL", field=Field("endpoint"))
    return f"{parts.scheme}://{parts.netloc}"


def _check_keys(keys: dict[str, str]) -> tuple[str, str]:
    p256dh, auth = keys.get("p256dh", ""), keys.get("auth", "")
    try:
        point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError):
        raise Invalid("%(field)s: p256dh is not a P-256 public key", field=Field("keys")) from None
    if len(secret) != 16:
        raise Invalid("%(field)s: auth must be 16 bytes", field=Field("keys"))
    return p256dh, auth


async def subscribe(*, brand_id: int, customer_id: int, data: SubscriptionIn, now: dt.datetime) -> int:
    """Store this device's subscription for the shopper (a device that changed hands moves over)."""
    origin = _origin(data.endpoint)
    p256dh, auth = _check_keys(data.keys)

    async def work() -> int:
        await Subscription.delete().where(Subscription.endpoint == data.endpoint)
        return await db.insert(
            Subscription,
            brand=brand_id,
            customer=customer_id,
            endpoint=data.endpoint,
            origin=origin,
            p256dh=p256dh,
            auth=auth,
            device=data.device[:120],
            created_at=now,
        )

    return await db.write(work)


async def renew(*, brand_id: int, old_endpoint: str, data: SubscriptionIn, now: dt.datetime) -> None:
    """pushsubscriptionchange: the service worker got a new subscription for the same device.
    Knowing the old endpoint (a secret URL) is what authorises the swap; no session is needed."""
    found = (
        await Subscription.select(Subscription.customer)
        .where((Subscription.brand == brand_id) & (Subscription.endpoint == old_endpoint))
        .first()
    )
    if found is None:
        raise NotFound("no such subscription")
    await db.write(lambda: Subscription.delete().where(Subscription.endpoint == old_endpoint).run())
    await subscribe(brand_id=brand_id, customer_id=found["customer"], data=data, now=now)


async def devices_of(brand_id: int, customer_id: int) -> list[Device]:
    rows = (
        await Subscription.select(
            Subscription.id, Subscription.device, Subscription.created_at, Subscription.last_sent_at
        )
        .where((Subscription.brand == brand_id) & (Subscription.customer == customer_id))
        .order_by(Subscription.id)
    )
    return [Device(**row) for row in rows]


async def remove_device(*, brand_id: int, customer_id: int, subscription_id: int) -> None:
    removed = await db.write(
        lambda: (
            Subscription.delete()
            .where(
                (Subscription.id == subscription_id)
                & (Subscription.brand == brand_id)
                & (Subscription.customer == customer_id)
            )
            .returning(Subscription.id)
            .run()
        )
    )
    if not removed:
        raise NotFound("no such device")


async def forget(*, customer_id: int) -> None:
    """Account deletion (in its transaction): every subscription and preference goes."""
    await Subscription.delete().where(Subscription.customer == customer_id)
    await Preference.delete().where(Preference.customer == customer_id)


FINAL = ("sent", "failed", "gone", "unknown")


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """Deliveries finished `keep` ago go (a campaign's counts are its messages', not these)."""
    final = ", ".join(f"'{state}'" for state in FINAL)
    gone = await db.purge("push_deliveries", f"state IN ({final}) AND done_at < {{}}", now - keep)
    await db.write(lambda: PushService.delete().where(PushService.not_before < now - keep).run())
    return gone


# --- a notice to a shopper's devices --------------------------------------------------------------

# Hand-written, with the delivery writes below: the messages' dispatch hands every push here, a
# batch of notices at a time (bench/push.py).
_SUBSCRIPTIONS = (
    "SELECT id, customer, origin FROM push_subscriptions WHERE brand = {{}} AND customer IN ({marks}) "
    "ORDER BY customer, id"
)
_INSERT_DELIVERIES = (
    "INSERT INTO push_deliveries (brand, event, subscription, origin, payload, ttl, urgency, topic, "
    "state, attempts, next_attempt_at, created_at) VALUES {rows} ON CONFLICT DO NOTHING"
)
_ROWS_A_STATEMENT = 500


class Handed(msgspec.Struct, frozen=True):
    """A notice for a shopper's devices, from one outbox event."""

    event_id: int
    customer_id: int
    notice: Notice


async def deliver(*, brand: BrandView, handed: list[Handed], now: dt.datetime) -> int:
    """One delivery per device of each shopper (in the caller's transaction): the worker sends
    them; (event, device) is unique, so a notice reaches a device once. How many deliveries."""
    customers = sorted({h.customer_id for h in handed})
    if not customers:
        return 0
    devices: dict[int, list[dict[str, Any]]] = {}
    marks = ", ".join("{}" for _ in customers)
    for sub in await db.fetch(_SUBSCRIPTIONS.format(marks=marks), brand.id, *customers):
        devices.setdefault(sub["customer"], []).append(sub)
    rows: list[list[Any]] = []
    for h in handed:
        subs = devices.get(h.customer_id, [])
        if subs:
            text = payload_of(h.notice, brand)
            n = h.notice
            rows += [
                [brand.id, h.event_id, sub["id"], sub["origin"], text, n.ttl, n.urgency, n.topic, now, now]
                for sub in subs
            ]
    for start in range(0, len(rows), _ROWS_A_STATEMENT):
        chunk = rows[start : start + _ROWS_A_STATEMENT]
        marks = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {})" for _ in chunk)
        await db.fetch(_INSERT_DELIVERIES.format(rows=marks), *(value for row in chunk for value in row))
    return len(rows)
