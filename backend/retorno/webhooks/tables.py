"""A brand's webhook endpoints and the deliveries of events to them.

A delivery is one message (one `webhook-id`) to one endpoint: pending -> sending -> delivered, or
failed (an attempt failed; retried at next_attempt_at) -> ... -> dead (given up, or the endpoint
was disabled). `sending` carries a lease: a worker that dies leaves it so, and once the lease is
over the delivery is retried (at least once; receivers deduplicate by webhook-id)."""

from piccolo.columns import (
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from retorno.brands.tables import Brand


class Endpoint(Table, tablename="webhook_endpoints"):
    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    url = Varchar(length=2000)
    description = Varchar(length=200, default="")
    event_types = Text(default="*")  # comma-separated webhook types, or * for every type
    enabled = Boolean(default=True)
    disabled_reason = Varchar(length=20, default="")  # manual | gone (410) | failing
    disabled_at = Timestamptz(null=True, default=None)
    secret = Text()  # whsec_..., sealed by retorno.vault
    previous_secret = Text(null=True, default=None)  # the one before a rotation, sealed; signs too
    previous_until = Timestamptz(null=True, default=None)  # ...until then
    failing_since = Timestamptz(null=True, default=None)  # first failed attempt since the last success
    failed_attempts = Integer(default=0)  # attempts failed in a row (the streak failing_since began)
    last_success_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Delivery(Table, tablename="webhook_deliveries"):
    id = BigSerial(primary_key=True)  # many rows a day: 64-bit
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    endpoint = ForeignKey(Endpoint, on_delete=OnDelete.cascade, null=False)
    event = BigInt(null=True, default=None)  # the outbox event; none for a test message
    customer = Integer(null=True, default=None)  # whose event: one at a time per endpoint and customer
    message_id = Varchar(length=40)  # webhook-id, the same on every attempt, resend and replay
    event_type = Varchar(length=40)
    body = Text()  # the JSON sent, exactly (UTF-8)
    state = Varchar(length=10)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    retry_until = Timestamptz()  # after this, a failed attempt is the last (dead)
    lease_until = Timestamptz(null=True, default=None)
    last_status = Integer(null=True, default=None)
    latency_ms = Integer(null=True, default=None)
    last_error = Varchar(length=300, default="")
    response = Text(default="")  # the first 4 KB of the last answer, for the admin
    created_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
