"""From outbox events to webhook messages: the catalogue of types, the body, the fan-out.

A message is Standard Webhooks' JSON: `{"type", "timestamp", "data"}`, where timestamp is when the
event happened (ISO-8601, UTC) and data holds the brand's slug, the customer (`id`, and the
`external_id` the brand's systems gave, where known) and amounts in centavos. Its `webhook-id` is
made from the event (`msg_` + the event's time and id), so a retry, a resend and a replay of the
same event carry the same id: receivers deduplicate by it.

`fan_out` turns due outbox events into one delivery per enabled endpoint that wants the type, in
one transaction, and marks the events with `webhooks_done_at` (push has its own `done_at`). On
PostgreSQL one worker fans out at a time (a transaction-level advisory lock, taken or skipped):
deliveries then get their ids in event order, the order in which the sender takes a customer's
messages to an endpoint.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import msgspec

from retorno import db
from retorno.brands import service as brands
from retorno.customers import service as customers

TYPES = (
    "sale.recorded",
    "sale.refunded",
    "sale.cancelled",
    "cashback.credited",
    "cashback.available",
    "cashback.expiring",
    "cashback.expired",
    "cashback.reversed",
    "points.credited",
    "reward.redeemed",
    "reward.cancelled",
    "redemption.committed",
    "redemption.cancelled",
    "voucher.issued",
    "voucher.redeemed",
    "voucher.released",
    "coupon.redeemed",
    "coupon.released",
    "referral.rewarded",
    "customer.created",
    "customer.erased",
)
TEST = "webhook.test"
ALL = "*"
# Outbox kinds that push named before webhooks existed; every other type is its own kind.
_KIND_TYPES = {
    "cashback.redeemed": "redemption.committed",
    "voucher.used": "voucher.redeemed",
    "coupon.used": "coupon.redeemed",
}
_RENAMED = {"days": "days_left"}
RETRY_FOR = dt.timedelta(days=3)
FAN_OUT_LOCK = 7_221_001  # pg_try_advisory_xact_lock's key: one webhooks fan-out at a time


def type_of(kind: str) -> str | None:
    """The webhook type of an outbox kind; None: not sent as a webhook (a push campaign...)."""
    kind = _KIND_TYPES.get(kind, kind)
    return kind if kind in TYPES else None


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def body_of(
    *, type_: str, at: dt.datetime, brand_slug: str, payload: dict[str, Any], external_id: str | None
) -> str:
    """The JSON text of a message (what is signed and sent, byte for byte, on every attempt)."""
    data: dict[str, Any] = {"brand": brand_slug}
    customer_id = payload.get("customer_id")
    if customer_id is not None:
        data["customer"] = {"id": customer_id, "external_id": payload.get("external_id", external_id)}
    for key, value in payload.items():
        if key not in ("customer_id", "external_id"):
            data[_RENAMED.get(key, key)] = value
    return msgspec.json.encode({"type": type_, "timestamp": iso(at), "data": data}).decode()


def message_id(event_id: int, at: dt.datetime) -> str:
    """`msg_` + the event's time (ms, hex) + its id: unique, and sortable by time."""
    return f"msg_{int(at.timestamp() * 1000):011x}{event_id:x}"


def test_message_id(at: dt.datetime) -> str:
    return f"msg_{int(at.timestamp() * 1000):011x}t{secrets.token_hex(6)}"


def wants(event_types: str, type_: str) -> bool:
    return event_types == ALL or type_ in event_types.split(",")


_CLAIM_EVENTS = (
    "SELECT id, brand, kind, payload, created_at FROM outbox_events "
    "WHERE webhooks_done_at IS NULL AND run_after <= {} ORDER BY id LIMIT {}"
)
_ENDPOINTS = (
    "SELECT id, brand, event_types FROM webhook_endpoints WHERE enabled = {{}} AND brand IN ({marks}) "
    "ORDER BY id"
)
_MARK_DONE = "UPDATE outbox_events SET webhooks_done_at = {{}} WHERE id IN ({marks})"
_INSERT = (
    "INSERT INTO webhook_deliveries (brand, endpoint, event, customer, message_id, event_type, body, "
    "state, attempts, next_attempt_at, retry_until, last_error, response, created_at) VALUES {rows}"
)
_ROW = "({}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {}, '', '', {})"


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One message for one endpoint, before it is stored."""

    brand: int
    endpoint: int
    event: int | None
    customer: int | None
    message_id: str
    event_type: str
    body: str


async def insert(messages: list[Message], now: dt.datetime) -> None:
    """Store deliveries of these messages, pending from now, in the caller's transaction."""
    for start in range(0, len(messages), 100):
        chunk = messages[start : start + 100]
        args: list[Any] = []
        for m in chunk:
            args += [m.brand, m.endpoint, m.event, m.customer, m.message_id, m.event_type, m.body]
            args += [now, now + RETRY_FOR, now]
        await db.fetch(_INSERT.format(rows=", ".join(_ROW for _ in chunk)), *args)


async def messages_of(events: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> list[Message]:
    """The messages these events make for these endpoints (each endpoint of the event's brand that
    wants its type), in event order."""
    per_brand: dict[int, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        per_brand.setdefault(endpoint["brand"], []).append(endpoint)
    wanted: list[tuple[dict[str, Any], str, dict[str, Any], list[dict[str, Any]]]] = []
    customers_of: dict[int, set[int]] = {}
    for event in events:
        type_ = type_of(event["kind"])
        targets = [e for e in per_brand.get(event["brand"], []) if type_ and wants(e["event_types"], type_)]
        if type_ is None or not targets:
            continue
        payload = event["payload"]
        payload = msgspec.json.decode(payload) if isinstance(payload, str | bytes) else payload
        wanted.append((event, type_, payload, targets))
        if payload.get("customer_id") is not None:
            customers_of.setdefault(event["brand"], set()).add(payload["customer_id"])
    external: dict[tuple[int, int | None], str | None] = {
        (brand_id, customer_id): ext
        for brand_id, ids in customers_of.items()
        for customer_id, ext in (await customers.external_ids(brand_id, sorted(ids))).items()
    }
    messages = []
    for event, type_, payload, targets in wanted:
        brand = await brands.brand_by_id(event["brand"])
        if brand is None:
            continue
        customer_id = payload.get("customer_id")
        body = body_of(
            type_=type_,
            at=event["created_at"],
            brand_slug=brand.slug,
            payload=payload,
            external_id=external.get((event["brand"], customer_id)),
        )
        msg_id = message_id(event["id"], event["created_at"])
        messages += [
            Message(
                brand=event["brand"],
                endpoint=target["id"],
                event=event["id"],
                customer=customer_id,
                message_id=msg_id,
                event_type=type_,
                body=body,
            )
            for target in targets
        ]
    return messages


async def fan_out(*, now: dt.datetime, limit: int = 500) -> int:
    """Turn up to `limit` due events into deliveries, in one transaction; the number of events
    done (0 on PostgreSQL when another worker is fanning out)."""

    async def work() -> int:
        if db.is_postgres():
            locked = await db.fetch("SELECT pg_try_advisory_xact_lock({}) AS ok", FAN_OUT_LOCK)
            if not locked[0]["ok"]:
                return 0
        events = await db.fetch(_CLAIM_EVENTS, now, limit)
        if not events:
            return 0
        brand_ids = sorted({e["brand"] for e in events})
        endpoints = await db.fetch(
            _ENDPOINTS.format(marks=", ".join("{}" for _ in brand_ids)), True, *brand_ids
        )
        if endpoints:
            await insert(await messages_of(events, endpoints), now)
        marks = ", ".join("{}" for _ in events)
        await db.fetch(_MARK_DONE.format(marks=marks), now, *(e["id"] for e in events))
        return len(events)

    return await db.write(work)
