"""One row per domain event; a worker claims and processes them (see the push domain)."""

from piccolo.columns import JSONB, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand


class OutboxEvent(Table, tablename="outbox_events"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    kind = Varchar(length=40, index=True)
    payload = JSONB(default="{}")
    # Events that must happen once (a reminder per credit and day) carry a key the database keeps
    # unique (with the brand: docs/scaling.md).
    dedupe_key = Varchar(length=200, null=True, default=None)
    created_at = Timestamptz()
    run_after = Timestamptz()
    done_at = Timestamptz(null=True, default=None, index=True)  # push fanned it out
    webhooks_done_at = Timestamptz(null=True, default=None)  # webhooks fanned it out (their own marker)
    unique_outbox_dedupe = Unique([dedupe_key, brand])


class WorkerHeartbeat(Table, tablename="worker_heartbeats"):
    """When each worker (a `retorno worker` or the one inside `retorno serve`) last finished a
    pass: `/readyz` says not ready when none has for a while."""

    id: Serial  # added by Piccolo; declared for the type checker
    name = Varchar(length=200, unique=True)  # host:pid
    beat_at = Timestamptz()
