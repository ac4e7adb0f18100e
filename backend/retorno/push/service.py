"""Web push for each brand's app: keys, subscriptions, preferences, and turning outbox events into
deliveries (the worker, retorno/worker.py, sends them).

- Each brand has its own VAPID key pair (`push.keys`), made with the brand (or on first use).
- A shopper chooses categories; a subscription is one device. Turning every category off, deleting
  the account or a 404/410 from the push service removes subscriptions.
- `fan_out` claims outbox events (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and, in the same
  transaction, writes one delivery per (event, subscription) - a unique pair - and marks the
  event done. The texts are `push.notices`, in the brand's language, with amounts formatted.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from retorno import db
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.errors import Field, Invalid, NotFound
from retorno.outbox import service as outbox
from retorno.outbox.tables import OutboxEvent
from retorno.push.notices import CAMPAIGN, Notice, notice_for, payload_of
from retorno.push.tables import Delivery, Preference, PushService, Subscription

CATEGORIES = ("cashback", "expiry", "vouchers", "referrals", "campaigns")
DEFAULT_CATEGORIES = CATEGORIES


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """A subscribed device of a shopper, as their lists (and their data export) show it."""

    id: int
    device: str
    created_at: dt.datetime
    last_sent_at: dt.datetime | None


class CampaignSent(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign with its delivery counts (those already purged included)."""

    id: int
    payload: dict[str, Any]
    created_at: dt.datetime
    queued: int
    delivered: int
    failed: int


# --- preferences and subscriptions -----------------------------------------------------------------


# Hand-written: fan_out reads a shopper's categories for every event it turns into deliveries
# (bench/push.py).
_CATEGORIES = "SELECT categories FROM push_preferences WHERE brand = {} AND customer = {}"


async def categories_of(brand_id: int, customer_id: int) -> list[str]:
    rows = await db.fetch(_CATEGORIES, brand_id, customer_id)
    if not rows:
        return list(DEFAULT_CATEGORIES)
    return [c for c in rows[0]["categories"].split(",") if c in CATEGORIES]


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


# Subscriptions of shoppers who opted in to campaigns (no preference row: the default, which
# includes them) and whose latest marketing consent is a yes. Hand-written: fan_out reads it for
# every campaign (bench/push.py), and Piccolo has no correlated subquery for the latest consent.
_CAMPAIGN_AUDIENCE = (
    "FROM push_subscriptions s LEFT JOIN push_preferences p ON p.customer = s.customer "
    "WHERE s.brand = {} AND (p.id IS NULL OR (',' || p.categories || ',') LIKE '%,campaigns,%') "
    "AND (SELECT c.granted FROM consents c WHERE c.customer = s.customer AND c.kind = 'marketing' "
    "ORDER BY c.at DESC, c.id DESC LIMIT 1) = {}"
)


async def campaign_audience(brand_id: int) -> int:
    """How many devices a campaign would reach now."""
    rows = await db.fetch("SELECT COUNT(*) AS n " + _CAMPAIGN_AUDIENCE, brand_id, True)
    return rows[0]["n"]


FINAL = ("sent", "failed", "gone", "unknown")
# Deliveries counted per campaign and state: aggregates over a join, which is what SQL is for.
_COUNTS = (
    "COUNT(d.id) AS queued, SUM(CASE WHEN d.state = 'sent' THEN 1 ELSE 0 END) AS delivered, "
    "SUM(CASE WHEN d.state IN ('failed', 'gone') THEN 1 ELSE 0 END) AS failed "
)
_FINISHED_PER_CAMPAIGN = (
    "SELECT e.id, e.payload, " + _COUNTS + "FROM outbox_events e JOIN push_deliveries d ON d.event = e.id "
    "WHERE e.kind = 'campaign' AND d.state IN (" + ", ".join(f"'{state}'" for state in FINAL) + ") "
    "AND d.done_at < {} GROUP BY e.id, e.payload"
)
_CAMPAIGNS_SENT = (
    "SELECT e.id, e.payload, e.created_at, " + _COUNTS + "FROM outbox_events e "
    "LEFT JOIN push_deliveries d ON d.event = e.id WHERE e.brand = {} AND e.kind = 'campaign' "
    "GROUP BY e.id, e.payload, e.created_at ORDER BY e.id DESC LIMIT {}"
)


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """Deliveries finished `keep` ago go; a campaign's counts are kept on its event first, so the
    campaigns page still says how many it reached."""
    cutoff = now - keep
    final = ", ".join(f"'{state}'" for state in FINAL)

    async def freeze() -> None:
        rows = await db.fetch(_FINISHED_PER_CAMPAIGN, cutoff)
        for row in rows:
            payload = msgspec.json.decode(row["payload"])
            kept = payload.get("purged", {"queued": 0, "delivered": 0, "failed": 0})
            for count in kept:
                kept[count] += row[count] or 0
            await OutboxEvent.update(
                {OutboxEvent.payload: msgspec.json.encode(payload | {"purged": kept}).decode()}
            ).where(OutboxEvent.id == row["id"])
            await Delivery.delete().where(
                (Delivery.event == row["id"])
                & Delivery.state.is_in(list(FINAL))
                & (Delivery.done_at < cutoff)
            )

    await db.write(freeze)  # counted and deleted in one transaction: nothing counted twice
    gone = await db.purge("push_deliveries", f"state IN ({final}) AND done_at < {{}}", cutoff)
    await db.write(lambda: PushService.delete().where(PushService.not_before < cutoff).run())
    return gone


async def campaigns_sent(brand_id: int, limit: int = 20) -> list[CampaignSent]:
    """The latest campaigns with their delivery counts."""
    sent = []
    for row in await db.fetch(_CAMPAIGNS_SENT, brand_id, limit):
        payload = msgspec.json.decode(row["payload"])
        purged = payload.get("purged", {})  # deliveries already purged, counted before they went
        sent.append(
            CampaignSent(
                id=row["id"],
                payload=payload,
                created_at=row["created_at"],
                queued=row["queued"] + purged.get("queued", 0),
                delivered=(row["delivered"] or 0) + purged.get("delivered", 0),
                failed=(row["failed"] or 0) + purged.get("failed", 0),
            )
        )
    return sent


def check_campaign(*, title: str, body: str, url: str) -> None:
    """What a campaign must be to be sent (queue_campaign checks it again): the admin checks it
    before asking for a confirmation."""
    if not title.strip() or len(title) > 120 or len(body) > 500:
        raise Invalid("a campaign needs a title (at most 120 characters) and a text of at most 500")
    if not url.startswith("/") or url.startswith("//"):
        raise Invalid("%(field)s: a path in the app, such as /vouchers", field=Field("url"))


async def queue_campaign(*, brand_id: int, title: str, body: str, url: str, now: dt.datetime) -> None:
    """One notification to every shopper of the brand who opted in to campaigns (and to marketing),
    through the outbox like every other notice."""
    check_campaign(title=title, body=body, url=url)

    async def work() -> None:
        await outbox.emit(
            brand_id=brand_id, kind=CAMPAIGN, now=now, payload={"title": title, "body": body, "url": url}
        )

    await db.write(work)


# --- from events to notifications -------------------------------------------------------------------


# Hand-written, with the delivery writes below: fan_out is the worker's hot loop (bench/push.py).
_CLAIM_EVENTS = (
    "SELECT id, brand, kind, payload FROM outbox_events WHERE done_at IS NULL AND run_after <= {} "
    "ORDER BY id LIMIT {}"
)


async def fan_out(*, now: dt.datetime, limit: int = 200) -> int:
    """Turn up to `limit` due events into deliveries, in one transaction; the number of events done."""

    async def work() -> int:
        sql = _CLAIM_EVENTS + (" FOR UPDATE SKIP LOCKED" if db.is_postgres() else "")
        events = await db.fetch(sql, now, limit)
        for event in events:
            brand = await brands.brand_by_id(event["brand"])
            payload = msgspec.json.decode(event["payload"])
            notice = notice_for(event["kind"], payload, brand) if brand else None
            if brand is not None and notice is not None and await _lot_unspent(event["kind"], payload):
                await _deliveries(event, payload, notice, brand, now)
        if events:
            marks = ", ".join("{}" for _ in events)
            await db.fetch(_MARK_DONE.format(marks=marks), now, *(e["id"] for e in events))
        return len(events)

    return await db.write(work)


_LOT_REMAINING = "SELECT remaining FROM ledger_lots WHERE id = {}"
_MARK_DONE = "UPDATE outbox_events SET done_at = {{}} WHERE id IN ({marks})"
_SUBSCRIPTIONS = "SELECT id, origin FROM push_subscriptions WHERE brand = {} AND customer = {} ORDER BY id"


async def _lot_unspent(kind: str, payload: dict[str, Any]) -> bool:
    """An expiry reminder only for what is still unspent when it goes out."""
    if kind != "cashback.expiring":
        return True
    rows = await db.fetch(_LOT_REMAINING, payload["lot_id"])
    return bool(rows) and rows[0]["remaining"] > 0


_INSERT_DELIVERIES = (
    "INSERT INTO push_deliveries (brand, event, subscription, origin, payload, ttl, urgency, topic, "
    "state, attempts, next_attempt_at, created_at) VALUES {rows} ON CONFLICT DO NOTHING"
)


async def _deliveries(
    event: dict[str, Any], payload: dict[str, Any], notice: Notice, brand: BrandView, now: dt.datetime
) -> None:
    if event["kind"] == CAMPAIGN:
        subs = await db.fetch(
            "SELECT s.id, s.origin " + _CAMPAIGN_AUDIENCE + " ORDER BY s.id", brand.id, True
        )
    else:
        customer = payload.get("customer_id")
        if customer is None or notice.category not in await categories_of(brand.id, customer):
            return
        subs = await db.fetch(_SUBSCRIPTIONS, brand.id, customer)
    text = payload_of(notice, brand)
    for start in range(0, len(subs), 200):
        chunk = subs[start : start + 200]
        rows = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {})" for _ in chunk)
        args: list[Any] = []
        for sub in chunk:
            args += [
                brand.id,
                event["id"],
                sub["id"],
                sub["origin"],
                text,
                notice.ttl,
                notice.urgency,
                notice.topic,
            ]
            args += [now, now]
        await db.fetch(_INSERT_DELIVERIES.format(rows=rows), *args)
