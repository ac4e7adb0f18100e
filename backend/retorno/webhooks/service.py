"""A brand's webhook endpoints, what the admin and the API do with them, and their deliveries.

Every function takes the brand first and every query is scoped by it: another brand's endpoint
or delivery is simply not found. A secret is `whsec_` + base64 of 32 random bytes, shown once
(when the endpoint is made, and at a rotation) and stored sealed by `retorno.vault`. A rotation
keeps the previous secret signing beside the new one for an overlap (24 hours unless told), so a
receiver can switch without losing a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from html import escape
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from retorno import db, i18n, vault
from retorno.bounds import check_text
from retorno.brands import service as brands
from retorno.errors import N_, Conflict, Field, Invalid, NotFound
from retorno.mail import Message as Mail
from retorno.outbound import Options, check_url
from retorno.staff import service as staff
from retorno.webhooks import events as catalogue
from retorno.webhooks.sender import context
from retorno.webhooks.tables import Delivery, Endpoint

MAX_ENDPOINTS = 20  # per brand
OVERLAP = dt.timedelta(hours=24)
MAX_REPLAY = 10_000  # messages queued again by one replay
REASONS = {
    "gone": N_("it answered 410 Gone, which asks us to stop"),
    "failing": N_("every delivery to it failed for 3 days"),
}


class EndpointView(msgspec.Struct, frozen=True, kw_only=True):
    """An endpoint as the admin and the API show it (never its secret)."""

    id: int
    url: str
    description: str
    events: list[str]  # webhook types, or ["*"]: every type
    enabled: bool
    disabled_reason: str  # "" while enabled; manual, gone (410) or failing
    disabled_at: dt.datetime | None
    previous_secret_until: dt.datetime | None  # the previous secret signs too until then
    failing_since: dt.datetime | None  # the first of the attempts that failed in a row, if any
    failed_attempts: int  # attempts failed in a row (none succeeded since failing_since)
    last_success_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: EndpointView
    secret: str  # whsec_...: shown this once


class SecretRotated(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: EndpointView
    secret: str  # the new whsec_...: shown this once
    previous_valid_until: dt.datetime


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one endpoint, with what its last attempt got back."""

    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    state: str  # pending | sending | failed (to be retried) | delivered | dead
    attempts: int
    next_attempt_at: dt.datetime | None  # while it is to be attempted
    last_status: int | None
    latency_ms: int | None
    last_error: str
    response: str  # the first 4 KB of the last answer
    body: str  # the JSON sent
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class Replayed(msgspec.Struct, frozen=True, kw_only=True):
    queued: int  # messages queued again (those that never reached the endpoint)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _events(wanted: list[str]) -> str:
    if not wanted:
        raise Invalid("%(field)s: choose at least one event type, or * for all", field=Field("events"))
    if catalogue.ALL in wanted:
        return catalogue.ALL
    for type_ in wanted:
        if type_ not in catalogue.TYPES:
            raise Invalid("%(field)s: unknown event type %(type)r", field=Field("events"), type=type_)
    return ",".join(t for t in catalogue.TYPES if t in wanted)


def _view(row: dict[str, Any]) -> EndpointView:
    return EndpointView(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        events=row["event_types"].split(","),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        disabled_at=row["disabled_at"],
        previous_secret_until=row["previous_until"] if row["previous_secret"] else None,
        failing_since=row["failing_since"],
        failed_attempts=row["failed_attempts"],
        last_success_at=row["last_success_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_ENDPOINT_COLUMNS = (
    Endpoint.id,
    Endpoint.url,
    Endpoint.description,
    Endpoint.event_types,
    Endpoint.enabled,
    Endpoint.disabled_reason,
    Endpoint.disabled_at,
    Endpoint.previous_secret,
    Endpoint.previous_until,
    Endpoint.failing_since,
    Endpoint.failed_attempts,
    Endpoint.last_success_at,
    Endpoint.created_at,
    Endpoint.updated_at,
)


async def _row(brand_id: int, endpoint_id: int) -> dict[str, Any]:
    row = await (
        Endpoint.select(*_ENDPOINT_COLUMNS)
        .where((Endpoint.brand == brand_id) & (Endpoint.id == endpoint_id))
        .first()
    )
    if row is None:
        raise NotFound("no such webhook endpoint")
    return row


async def get_endpoint(*, brand_id: int, endpoint_id: int) -> EndpointView:
    return _view(await _row(brand_id, endpoint_id))


async def list_endpoints(*, brand_id: int) -> list[EndpointView]:
    rows = await Endpoint.select(*_ENDPOINT_COLUMNS).where(Endpoint.brand == brand_id).order_by(Endpoint.id)
    return [_view(r) for r in rows]


async def create_endpoint(
    *,
    brand_id: int,
    url: str,
    events: list[str],
    description: str = "",
    now: dt.datetime,
    options: Options | None = None,
) -> EndpointCreated:
    """A new endpoint, enabled, with its secret (shown once)."""
    options = options or Options()
    url = await check_url(url, options)
    wanted = _events(events)
    description = check_text("description", description, max_length=200)
    secret = new_secret()

    async def work() -> int:
        count = await Endpoint.count().where(Endpoint.brand == brand_id)
        if count >= MAX_ENDPOINTS:
            raise Conflict("a brand may have at most %(max)s webhook endpoints", max=MAX_ENDPOINTS)
        endpoint_id = await db.insert(
            Endpoint,
            brand=brand_id,
            url=url,
            description=description,
            event_types=wanted,
            enabled=True,
            disabled_reason="",
            failed_attempts=0,
            secret="",
            created_at=now,
            updated_at=now,
        )
        sealed = vault.seal(secret, context=context(endpoint_id))
        await Endpoint.update({Endpoint.secret: sealed}).where(Endpoint.id == endpoint_id)
        return endpoint_id

    endpoint_id = await db.write(work)
    return EndpointCreated(
        endpoint=await get_endpoint(brand_id=brand_id, endpoint_id=endpoint_id), secret=secret
    )


async def update_endpoint(
    *,
    brand_id: int,
    endpoint_id: int,
    now: dt.datetime,
    url: str | UnsetType = UNSET,
    events: list[str] | UnsetType = UNSET,
    description: str | UnsetType = UNSET,
    enabled: bool | UnsetType = UNSET,
    options: Options | None = None,
) -> EndpointView:
    """Change what is given. Enabling again clears the failure streak; disabling by hand is
    `manual` (messages queued meanwhile are not kept: replay the time range after enabling)."""
    options = options or Options()
    changes: dict[Any, Any] = {Endpoint.updated_at: now}
    if not isinstance(url, UnsetType):
        changes[Endpoint.url] = await check_url(url, options)
    if not isinstance(events, UnsetType):
        changes[Endpoint.event_types] = _events(events)
    if not isinstance(description, UnsetType):
        changes[Endpoint.description] = check_text("description", description, max_length=200)

    async def work() -> None:
        row = await _row(brand_id, endpoint_id)
        if not isinstance(enabled, UnsetType) and enabled != bool(row["enabled"]):
            if enabled:
                changes.update(
                    {
                        Endpoint.enabled: True,
                        Endpoint.disabled_reason: "",
                        Endpoint.disabled_at: None,
                        Endpoint.failing_since: None,
                        Endpoint.failed_attempts: 0,
                    }
                )
            else:
                changes.update(
                    {Endpoint.enabled: False, Endpoint.disabled_reason: "manual", Endpoint.disabled_at: now}
                )
                await db.fetch(
                    "UPDATE webhook_deliveries SET state = 'dead', lease_until = NULL, last_error = {} "
                    "WHERE endpoint = {} AND state IN ('pending', 'failed')",
                    "the endpoint was disabled (manual)",
                    endpoint_id,
                )
        await Endpoint.update(changes).where((Endpoint.brand == brand_id) & (Endpoint.id == endpoint_id))

    await db.write(work)
    return await get_endpoint(brand_id=brand_id, endpoint_id=endpoint_id)


async def delete_endpoint(*, brand_id: int, endpoint_id: int) -> None:
    """The endpoint and its deliveries go."""

    async def work() -> None:
        await _row(brand_id, endpoint_id)
        await Delivery.delete().where((Delivery.brand == brand_id) & (Delivery.endpoint == endpoint_id))
        await Endpoint.delete().where((Endpoint.brand == brand_id) & (Endpoint.id == endpoint_id))

    await db.write(work)


async def rotate_secret(
    *, brand_id: int, endpoint_id: int, now: dt.datetime, overlap: dt.timedelta = OVERLAP
) -> SecretRotated:
    """A new secret (shown once); the current one keeps signing beside it for `overlap`."""
    if not dt.timedelta(0) <= overlap <= dt.timedelta(days=7):
        raise Invalid("%(field)s: from 0 to %(max)s hours", field=Field("overlap"), max=7 * 24)
    secret = new_secret()

    async def work() -> None:
        await _row(brand_id, endpoint_id)
        current = await Endpoint.select(Endpoint.secret).where(Endpoint.id == endpoint_id).first()
        old = vault.unseal(current["secret"] if current else "", context=context(endpoint_id))
        await Endpoint.update(
            {
                Endpoint.secret: vault.seal(secret, context=context(endpoint_id)),
                Endpoint.previous_secret: vault.seal(old, context=context(endpoint_id, previous=True))
                if overlap
                else None,
                Endpoint.previous_until: now + overlap if overlap else None,
                Endpoint.updated_at: now,
            }
        ).where((Endpoint.brand == brand_id) & (Endpoint.id == endpoint_id))

    await db.write(work)
    view = await get_endpoint(brand_id=brand_id, endpoint_id=endpoint_id)
    return SecretRotated(endpoint=view, secret=secret, previous_valid_until=now + overlap)


# --- deliveries ------------------------------------------------------------------------------------

_DELIVERY_COLUMNS = (
    "id, endpoint, message_id, event_type, state, attempts, next_attempt_at, last_status, latency_ms, "
    "last_error, response, body, created_at, delivered_at"
)


def _delivery(row: dict[str, Any]) -> DeliveryView:
    waiting = row["state"] in ("pending", "failed")
    return DeliveryView(
        **{k: v for k, v in row.items() if k not in ("endpoint", "next_attempt_at")},
        endpoint_id=row["endpoint"],
        next_attempt_at=row["next_attempt_at"] if waiting else None,
    )


async def deliveries(
    *, brand_id: int, endpoint_id: int, limit: int = 50, before: int | None = None
) -> list[DeliveryView]:
    """An endpoint's latest deliveries, newest first (`before`: the id to page back from)."""
    await _row(brand_id, endpoint_id)
    limit = max(1, min(limit, 200))
    sql = f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE brand = {{}} AND endpoint = {{}}"  # noqa: S608
    args: list[Any] = [brand_id, endpoint_id]
    if before is not None:
        sql += " AND id < {}"
        args.append(before)
    rows = await db.fetch(sql + " ORDER BY id DESC LIMIT {}", *args, limit)
    return [_delivery(r) for r in rows]


async def get_delivery(*, brand_id: int, delivery_id: int) -> DeliveryView:
    rows = await db.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE brand = {{}} AND id = {{}}",  # noqa: S608
        brand_id,
        delivery_id,
    )
    if not rows:
        raise NotFound("no such webhook delivery")
    return _delivery(rows[0])


async def _enabled(brand_id: int, endpoint_id: int) -> None:
    if not (await _row(brand_id, endpoint_id))["enabled"]:
        raise Conflict("this webhook endpoint is disabled: enable it first")


async def resend(*, brand_id: int, delivery_id: int, now: dt.datetime) -> DeliveryView:
    """The same message (same webhook-id and body) queued again for its endpoint, as a new delivery."""

    async def work() -> int:
        rows = await db.fetch(
            "SELECT endpoint, event, customer, message_id, event_type, body FROM webhook_deliveries "
            "WHERE brand = {} AND id = {}",
            brand_id,
            delivery_id,
        )
        if not rows:
            raise NotFound("no such webhook delivery")
        await _enabled(brand_id, rows[0]["endpoint"])
        return await _queue(brand_id, rows[0], now)

    return await get_delivery(brand_id=brand_id, delivery_id=await db.write(work))


async def _queue(brand_id: int, row: dict[str, Any], now: dt.datetime) -> int:
    return await db.insert(
        Delivery,
        brand=brand_id,
        endpoint=row["endpoint"],
        event=row["event"],
        customer=row["customer"],
        message_id=row["message_id"],
        event_type=row["event_type"],
        body=row["body"],
        state="pending",
        attempts=0,
        next_attempt_at=now,
        retry_until=now + catalogue.RETRY_FOR,
        last_error="",
        response="",
        created_at=now,
    )


_MISSED = (
    "SELECT e.id, e.brand, e.kind, e.payload, e.created_at FROM outbox_events e "
    "WHERE e.brand = {} AND e.created_at >= {} AND e.created_at < {} AND NOT EXISTS "
    "(SELECT 1 FROM webhook_deliveries d WHERE d.endpoint = {} AND d.event = e.id "
    "AND d.state IN ('pending', 'sending', 'failed', 'delivered')) ORDER BY e.id LIMIT {}"
)
_DEAD = (
    "SELECT DISTINCT d.event, d.customer, d.message_id, d.event_type, d.body "
    "FROM webhook_deliveries d WHERE d.brand = {} AND d.endpoint = {} AND d.state = 'dead' "
    "AND d.created_at >= {} AND d.created_at < {} AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o "
    "WHERE o.endpoint = d.endpoint AND o.message_id = d.message_id "
    "AND o.state IN ('pending', 'sending', 'failed', 'delivered')) "
    "ORDER BY d.event LIMIT {}"
)


async def replay(
    *, brand_id: int, endpoint_id: int, since: dt.datetime, until: dt.datetime, now: dt.datetime
) -> Replayed:
    """Queue again what the endpoint should have had from events between `since` and `until` and
    never got: deliveries that died, and events it wants that reached it not at all (while it
    was disabled, or before it existed, as long as the outbox keeps them)."""
    if until <= since:
        raise Invalid("%(field)s: must be after the start of the range", field=Field("until"))

    async def work() -> int:
        endpoint = await _row(brand_id, endpoint_id)
        if not endpoint["enabled"]:
            raise Conflict("this webhook endpoint is disabled: enable it first")
        # Events of the range with no delivery to this endpoint that got there or is on its way.
        rows = await db.fetch(_MISSED, brand_id, since, until, endpoint_id, MAX_REPLAY)
        target = [{"id": endpoint_id, "brand": brand_id, "event_types": endpoint["event_types"]}]
        messages = await catalogue.messages_of(rows, target)
        # Events the outbox no longer keeps: their dead deliveries still hold the message.
        kept = {m.event for m in messages}
        dead = await db.fetch(_DEAD, brand_id, endpoint_id, since, until, MAX_REPLAY)
        messages += [
            catalogue.Message(brand=brand_id, endpoint=endpoint_id, **row)
            for row in dead
            if row["event"] is not None and row["event"] not in kept
        ]
        messages = sorted(messages, key=lambda m: m.event or 0)[:MAX_REPLAY]
        await catalogue.insert(messages, now)
        return len(messages)

    return Replayed(queued=await db.write(work))


async def send_test(*, brand_id: int, endpoint_id: int, now: dt.datetime) -> DeliveryView:
    """A `webhook.test` message queued for the endpoint (the worker sends it on its next pass)."""
    brand = await brands.brand_by_id(brand_id)
    if brand is None:
        raise NotFound("no such brand")
    body = msgspec.json.encode(
        {
            "type": catalogue.TEST,
            "timestamp": catalogue.iso(now),
            "data": {"brand": brand.slug, "endpoint_id": endpoint_id, "test": True},
        }
    ).decode()

    async def work() -> int:
        await _enabled(brand_id, endpoint_id)
        row = {
            "endpoint": endpoint_id,
            "event": None,
            "customer": None,
            "message_id": catalogue.test_message_id(now),
            "event_type": catalogue.TEST,
            "body": body,
        }
        return await _queue(brand_id, row, now)

    return await get_delivery(brand_id=brand_id, delivery_id=await db.write(work))


# --- the worker's chores ---------------------------------------------------------------------------

FINAL = ("delivered", "dead")


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """Deliveries finished `keep` ago go (RETORNO_EVENT_RETENTION_DAYS, as push deliveries)."""
    return await db.purge(
        "webhook_deliveries",
        "state IN ('delivered', 'dead') AND created_at < {}",
        now - keep,
    )


async def seal_secrets() -> int:
    """`retorno secrets rotate`: every secret sealed again under the current data key."""

    async def work() -> int:
        resealed = 0
        rows = await Endpoint.select(Endpoint.id, Endpoint.secret, Endpoint.previous_secret)
        for row in rows:
            changes: dict[Any, Any] = {}
            for column, value, previous in (
                (Endpoint.secret, row["secret"], False),
                (Endpoint.previous_secret, row["previous_secret"], True),
            ):
                if value and not vault.sealed_with_current(value):
                    where = context(row["id"], previous=previous)
                    changes[column] = vault.seal(vault.unseal(value, context=where), context=where)
            if changes:
                await Endpoint.update(changes).where(Endpoint.id == row["id"])
                resealed += len(changes)
        return resealed

    return await db.write(work)


async def notify_disabled(endpoint_ids: list[int], *, mailer: Any, admin_url: str, now: dt.datetime) -> int:
    """E-mail the owners of each endpoint's brand that it was disabled, and why, in the brand's
    language (the endpoint's page in the admin says so too). `admin_url`: the admin's base URL.
    How many messages went."""
    sent = 0
    for endpoint_id in endpoint_ids:
        row = (
            await Endpoint.select(Endpoint.brand, Endpoint.url, Endpoint.disabled_reason)
            .where(Endpoint.id == endpoint_id)
            .first()
        )
        brand = await brands.brand_by_id(row["brand"]) if row else None
        if row is None or brand is None or row["disabled_reason"] not in REASONS:
            continue
        lang = brand.locale
        text = i18n.gettext(
            lang,
            "Retorno stopped sending events to the webhook endpoint %(url)s of %(brand)s: %(reason)s. "
            "When it works again, enable it in the admin (%(admin)s) and replay what it missed.",
        ) % {
            "url": row["url"],
            "brand": brand.name,
            "reason": i18n.gettext(lang, REASONS[row["disabled_reason"]]),
            "admin": f"{admin_url}/admin/b/{brand.slug}/webhooks",
        }
        subject = i18n.gettext(lang, "A webhook endpoint of %(brand)s was disabled") % {"brand": brand.name}
        for member in await staff.members_of(brand.id):
            if member.role == "owner":
                await mailer.send(
                    Mail(
                        to=member.email,
                        subject=subject,
                        text=text,
                        html=f"<p>{escape(text)}</p>",
                        sender_name="Retorno",
                        sent_at=now,
                    )
                )
                sent += 1
    return sent
