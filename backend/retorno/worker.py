"""The worker: the background work of every domain, beside app.py as its composition root (the
domains never call each other; the worker calls each in turn). It imports large CSV files, sweeps,
turns outbox events into push deliveries and sends them with pywebpush (its WebPusher with the
aes128gcm body of push/ece.py, bench/README.md), and into webhook
deliveries, which `webhooks.sender` sends (signed, retried, at least once).

One pass (`Worker.run_once`):
0. a chunk of a large CSV import (imports.work), so imports move on between pushes;
1. now and then, the time-based work (`retorno sweep`: expiries, availability, reminders);
2. `messages.fan_out`: due outbox events become messages to shoppers (retorno/messages), and
   campaigns whose time came are sent; the messages' sender decides each (channel, consent,
   quiet hours, the weekly cap) and sends e-mail and WhatsApp, handing push to the deliveries;
3. deliveries that were `sending` when their worker died (lease over) become `unknown`, never
   sent again: each (event, subscription) goes out at most once;
4. a batch of due deliveries is claimed (`FOR UPDATE SKIP LOCKED` on PostgreSQL), skipping push
   services that asked us to wait (429), marked `sending` and committed; then all of them are
   sent at once through one shared aiohttp session; then the answers are recorded:
   201 done; 404/410 the subscription is deleted; 429 that service waits `Retry-After`; 5xx and
   timeouts retried with exponential backoff, a bounded number of times; 400/403/413 given up.
5. beside the push lanes, `webhooks.events.fan_out` turns due events into webhook deliveries and
   the webhook sender's lanes send them (see retorno/webhooks/sender.py); the owners of a brand
   whose endpoint a pass disabled are told by e-mail.
Every request has an explicit TTL (pywebpush's default, 0, would drop it for an offline phone),
an Urgency, a Topic where notices replace each other, and a timeout of at most 10 s. VAPID claims
are a fresh dict for every signature (pywebpush writes into the dict it is given).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from retorno import db, metrics, web
from retorno.apikeys import idempotency
from retorno.auth import retention as sign_in
from retorno.brands import service as brands
from retorno.imports import service as imports
from retorno.ledger import sweep as ledger
from retorno.mail import make_mailer
from retorno.messages import campaigns
from retorno.messages import service as messages
from retorno.messages import settings as message_settings
from retorno.messages.sender import Sender as MessageSender
from retorno.messages.whatsapp import Client as WhatsApp
from retorno.nps import service as nps
from retorno.outbound import Options as WebhookOptions
from retorno.outbox import service as outbox
from retorno.push import keys as push_keys
from retorno.push import service as push
from retorno.push.ece import Pusher
from retorno.sales import checkout
from retorno.settings import Settings, load_settings
from retorno.stores import service as stores
from retorno.stores.clients import Api
from retorno.vouchers import service as vouchers
from retorno.webhooks import events as webhook_events
from retorno.webhooks import service as webhooks
from retorno.webhooks.sender import Sender, retry_after_seconds

log = logging.getLogger("retorno.push")

GONE = (404, 410)
GIVE_UP = (400, 403, 413)


_SENT = "UPDATE push_deliveries SET state = 'sent', last_status = {{}}, done_at = {{}} WHERE id IN ({marks})"
_LAST_SENT = "UPDATE push_subscriptions SET last_sent_at = {{}} WHERE id IN ({marks})"
_MARK_SENDING = (
    "UPDATE push_deliveries SET state = 'sending', attempts = attempts + 1, lease_until = {{}} "
    "WHERE id IN ({marks})"
)
_CLAIMED = (
    "SELECT d.id, d.brand, d.subscription, d.origin, d.payload, d.ttl, d.urgency, d.topic, d.attempts, "
    "s.endpoint, s.p256dh, s.auth FROM push_deliveries d LEFT JOIN push_subscriptions s "
    "ON s.id = d.subscription WHERE d.id IN ({marks}) ORDER BY d.id"
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    """How long finished rows are kept before the sweep purges them (RETORNO_*_RETENTION_DAYS)."""

    sign_in: dt.timedelta = dt.timedelta(days=30)  # expired sessions, codes, challenges, rate limits
    events: dt.timedelta = dt.timedelta(days=90)  # delivered outbox events and push deliveries

    @classmethod
    def of(cls, settings: Any) -> Retention:
        return cls(
            sign_in=dt.timedelta(days=settings.retention_days),
            events=dt.timedelta(days=settings.event_retention_days),
        )


async def sweep(now: dt.datetime, retention: Retention | None = None) -> dict[str, int]:
    """The time-based work: credits expired, announced and reminded of, voucher reminders, and
    what is no longer needed purged. The ledger is never purged. Idempotent."""

    retention = retention or Retention()
    every = await brands.list_brands()
    days = {brand.id: await message_settings.reminder_days(brand.id) for brand in every}
    lots = {b: d["cashback.expiring"] for b, d in days.items() if "cashback.expiring" in d}
    result = await ledger.sweep(brands=every, now=now, reminder_days=lots)
    held = {b: d["voucher.expiring"] for b, d in days.items() if "voucher.expiring" in d}
    voucher_reminders = await vouchers.sweep(brands=every, now=now, reminder_days=held)
    returns = await messages.remind_to_return(brands_=every, now=now)
    surveys = await nps.sweep(brands=every, now=now)
    purged = await sign_in.purge(now=now, keep=retention.sign_in)
    purged += await push.purge(now=now, keep=retention.events)
    purged += await webhooks.purge(now=now, keep=retention.events)
    purged += await outbox.purge(now=now, keep=retention.events)
    purged += await messages.purge(now=now, keep=retention.events)
    purged += await idempotency.purge(now=now)
    purged += await stores.purge_deliveries(before=now - retention.events)
    return {
        "expired": result.expired,
        "available": result.available,
        "reminders": result.reminders,
        "voucher_reminders": voucher_reminders,
        "return_reminders": returns,
        "nps_asked": surveys,
        "purged": purged,
    }


HEARTBEAT_EVERY = 5.0  # seconds between a running worker's heartbeats


class Worker:
    def __init__(
        self,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        batch: int = 100,
        lease: float = 60.0,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 30.0,
        sweep_every: float = 60.0,
        sweep: bool = True,
        lanes: int = 2,
        retention: Retention | None = None,
        settings: Settings | None = None,
        webhook_options: WebhookOptions | None = None,
        webhook_backoff: float = 30.0,
        webhook_timeout: float = 5.0,
        webhook_lanes: int | None = None,
        wall: Callable[[], float] = time.time,
        mailer: Any = None,
    ) -> None:
        """Webhooks: where they may go and the mailer that tells owners of a disabled endpoint
        come from `settings` (RETORNO_WEBHOOKS_ALLOW_PRIVATE, RETORNO_SMTP_URL), or from the
        environment's settings when none are given; `wall` gives webhook-timestamp (real time:
        receivers check it against theirs, whatever `clock` says)."""
        self.retention = retention or Retention()
        if settings is None and (webhook_options is None or mailer is None):
            settings = load_settings()  # the environment's, as `retorno serve` and `retorno worker` run
        self.admin_url = f"{settings.scheme}://{settings.base_host}" if settings else ""
        self.mailer = mailer if mailer is not None else make_mailer(settings) if settings else None
        self.webhooks = Sender(
            options=webhook_options or WebhookOptions.of(settings),
            clock=clock,
            wall=wall,
            batch=batch,
            lanes=webhook_lanes or lanes,
            lease=lease,
            timeout=webhook_timeout,
            backoff=webhook_backoff,
        )
        self.store_api = Api.of(settings) if settings else Api(options=self.webhooks.options)
        self.whatsapp = WhatsApp(settings.whatsapp_api_url if settings else "https://graph.facebook.com")
        self.messages = MessageSender(
            mailer=self.mailer,
            whatsapp=self.whatsapp,
            # The links in a message lead to the brand's host, as the app builds it.
            origin_of=functools.partial(web.origin_of, settings=settings)
            if settings
            else (lambda brand: f"http://{brand.slug}.localhost:8000"),
            clock=clock,
            batch=batch,
            lanes=lanes,
        )
        self.clock, self.batch, self.lease, self.lanes = clock, batch, lease, lanes
        self.timeout = min(timeout, 10.0)
        self.max_attempts, self.backoff = max_attempts, backoff
        self.sweep_every, self.do_sweep = sweep_every, sweep
        self._last_sweep = -1e18
        self._session: aiohttp.ClientSession | None = None
        self._vapid_headers: dict[tuple[int, str], tuple[float, dict[str, str]]] = {}

    async def __aenter__(self) -> Worker:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=self.batch * self.lanes),
        )
        await self.webhooks.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.webhooks.__aexit__(*exc)
        await self.whatsapp.close()
        close = getattr(self.mailer, "close", None)
        if close is not None:
            await close()  # the pooled SMTP connections say QUIT
        if self._session is not None:
            await self._session.close()

    # --- one pass ---------------------------------------------------------------------------

    async def run_once(self) -> dict[str, int]:
        """One pass: sweep if due, fan out, then `lanes` batches sent side by side (while one lane
        waits for push services, another encrypts and records)."""
        counts = {"events": 0, "sent": 0, "unknown": 0}
        now = self.clock()
        started = time.perf_counter()
        counts["imported"] = await imports.work(now)
        if counts["imported"]:
            metrics.worked("import_chunk", time.perf_counter() - started)
        if self.do_sweep and time.monotonic() - self._last_sweep >= self.sweep_every:
            await self._sweep(now)
            self._last_sweep = time.monotonic()
        counts["events"] += await campaigns.send_due(now=now)
        while done := await messages.fan_out(now=now):
            counts["events"] += done
        await messages.abandon_stale(now)
        counts["messages"] = await self.messages.run(now)
        while done := await webhook_events.fan_out(now=now):
            counts["events"] += done
        counts["unknown"] = await self._abandon_stale(now)
        # Push lanes and webhook lanes side by side: while one waits for answers, another works.
        lanes, (hooks_claimed, hooks_delivered) = await asyncio.gather(
            asyncio.gather(*(self._lane(now) for _ in range(self.lanes))), self.webhooks.run(now)
        )
        counts["claimed"] = sum(claimed for claimed, _ in lanes) + hooks_claimed + counts["messages"]
        counts["sent"] = sum(sent for _, sent in lanes)
        counts["webhooks_delivered"] = hooks_delivered
        await self._tell_owners(self.clock())
        return counts

    async def _tell_owners(self, now: dt.datetime) -> None:
        """E-mail the owners of brands whose webhook endpoint was disabled (a mail that fails is
        logged; the endpoint's page says it anyway)."""
        disabled, self.webhooks.disabled = self.webhooks.disabled, []
        if disabled and self.mailer is not None:
            try:
                await webhooks.notify_disabled(
                    disabled, mailer=self.mailer, admin_url=self.admin_url, now=now
                )
            except Exception:
                log.exception("the owners of a disabled webhook endpoint could not be told")

    async def _lane(self, now: dt.datetime) -> tuple[int, int]:
        """Claim, send and record batches until none is due; (claimed, sent)."""
        claimed_total = sent = 0
        while claimed := await self._claim(now):
            results = await asyncio.gather(*(self._send(d) for d in claimed))
            await self._record(claimed, results, self.clock())
            claimed_total += len(claimed)
            sent += sum(1 for status, _ in results if status is not None and status < 300)
            now = self.clock()
        return claimed_total, sent

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Until `stop` is set; a pass that found nothing to do waits `idle` seconds."""
        beaten = -1e18
        while not stop.is_set():
            try:
                counts = await self.run_once()
                if time.monotonic() - beaten >= HEARTBEAT_EVERY:  # /readyz reads it
                    await outbox.heartbeat(self.clock())
                    beaten = time.monotonic()
            except Exception:  # a bad pass must not end the worker
                log.exception("worker pass failed")
                counts = {"claimed": 0, "events": 0, "imported": 0}
            if not counts["claimed"] and not counts["events"] and not counts["imported"]:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle)
                except TimeoutError:
                    pass

    async def drain(self) -> None:
        """Pass after pass until nothing is due (tests, `retorno worker --until-idle`)."""
        while True:
            counts = await self.run_once()
            if not counts["claimed"] and not counts["events"] and not counts["imported"]:
                return

    # --- the steps ----------------------------------------------------------------------------

    async def _sweep(self, now: dt.datetime) -> None:
        started = time.perf_counter()
        await sweep(now, self.retention)
        # Checkout codes that ended unused: deleted on the store's platform, the cashback given back.
        every = {b.id: b for b in await brands.list_brands()}
        await checkout.release_expired(brands=every, api=self.store_api, now=now)
        metrics.worked("sweep", time.perf_counter() - started)

    async def _abandon_stale(self, now: dt.datetime) -> int:
        rows = await db.write(
            lambda: db.fetch(
                "UPDATE push_deliveries SET state = 'unknown', done_at = {} "
                "WHERE state = 'sending' AND lease_until < {} RETURNING id",
                now,
                now,
            )
        )
        if rows:
            log.warning("%d deliveries were being sent by a worker that stopped; not sent again", len(rows))
        return len(rows)

    async def _claim(self, now: dt.datetime) -> list[dict[str, Any]]:
        lease_until = now + dt.timedelta(seconds=self.lease)

        async def work() -> list[dict[str, Any]]:
            sql = (
                "SELECT d.id FROM push_deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= {} "
                "AND NOT EXISTS (SELECT 1 FROM push_services ps WHERE ps.origin = d.origin "
                "AND ps.not_before > {}) ORDER BY d.id LIMIT {}"
            )
            if db.is_postgres():
                sql += " FOR UPDATE SKIP LOCKED"
            ids = [r["id"] for r in await db.fetch(sql, now, now, self.batch)]
            if not ids:
                return []
            marks = ", ".join("{}" for _ in ids)
            await db.fetch(_MARK_SENDING.format(marks=marks), lease_until, *ids)
            return await db.fetch(_CLAIMED.format(marks=marks), *ids)

        return await db.write(work)

    async def _headers(self, brand_id: int, origin: str) -> dict[str, str]:
        """The VAPID Authorization header for a push service, signed at most once an hour."""
        cached = self._vapid_headers.get((brand_id, origin))
        if cached is not None and cached[0] > time.time():
            return cached[1]

        vapid = await push_keys.vapid_of(brand_id)
        brand = await brands.brand_by_id(brand_id)
        contact = brand.contact_email if brand and brand.contact_email else "push@retorno.invalid"
        claims = {"aud": origin, "exp": int(time.time()) + 12 * 3600, "sub": f"mailto:{contact}"}
        headers = vapid.sign(claims)  # a fresh dict each time: pywebpush's dicts are written into
        self._vapid_headers[(brand_id, origin)] = (time.time() + 3600, headers)
        return headers

    async def _send(self, delivery: dict[str, Any]) -> tuple[int | None, float | None]:
        """(HTTP status or None for no answer, Retry-After seconds)."""
        if delivery["endpoint"] is None:  # the subscription went away meanwhile
            return 410, None
        headers = dict(await self._headers(delivery["brand"], delivery["origin"]))
        headers["Urgency"] = delivery["urgency"]
        if delivery["topic"]:
            headers["Topic"] = delivery["topic"]
        subscription = {
            "endpoint": delivery["endpoint"],
            "keys": {"p256dh": delivery["p256dh"], "auth": delivery["auth"]},
        }
        try:
            response = await Pusher(subscription, aiohttp_session=self._session).send_async(
                data=delivery["payload"],
                headers=headers,
                ttl=max(1, delivery["ttl"]),
                content_encoding="aes128gcm",
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("push to %s: no answer (%s)", delivery["origin"], type(exc).__name__)
            return None, None
        retry_after = response.headers.get("Retry-After")
        return response.status, retry_after_seconds(retry_after)

    async def _record(
        self, claimed: list[dict[str, Any]], results: list[tuple[int | None, float | None]], now: dt.datetime
    ) -> None:
        async def work() -> list[str]:
            # The usual answer, 201, recorded for the whole batch in two statements (a pair per
            # delivery was half the worker's database time, bench/push.py); the rest one by one.
            sent: dict[int, list[dict[str, Any]]] = {}
            outcomes = []
            for delivery, (status, retry_after) in zip(claimed, results, strict=True):
                if status is not None and 200 <= status < 300:
                    sent.setdefault(status, []).append(delivery)
                    outcomes.append("sent")
                else:
                    outcomes.append(await self._record_one(delivery, status, retry_after, now))
            for status, deliveries in sent.items():
                marks = ", ".join("{}" for _ in deliveries)
                await db.fetch(
                    _SENT.format(marks=marks),
                    status,
                    now,
                    *(d["id"] for d in deliveries),
                )
                await db.fetch(
                    _LAST_SENT.format(marks=marks),
                    now,
                    *(d["subscription"] for d in deliveries),
                )
            return outcomes

        metrics.delivered("push", await db.write(work))

    async def _record_one(
        self, delivery: dict[str, Any], status: int | None, retry_after: float | None, now: dt.datetime
    ) -> str:
        """Record an answer other than success; the outcome, for /metrics: gone, throttled, refused,
        failed or retry."""
        did = delivery["id"]
        if status in GONE:
            await db.fetch("DELETE FROM push_subscriptions WHERE id = {}", delivery["subscription"])
            await db.fetch(
                "UPDATE push_deliveries SET state = 'gone', last_status = {}, done_at = {} "
                "WHERE subscription = {} AND state IN ('pending', 'sending')",
                status,
                now,
                delivery["subscription"],
            )
            return "gone"
        if status == 429:
            wait_until = now + dt.timedelta(seconds=retry_after if retry_after is not None else self.backoff)
            updated = await db.fetch(
                "UPDATE push_services SET not_before = {} WHERE origin = {} RETURNING id",
                wait_until,
                delivery["origin"],
            )
            if not updated:
                await db.fetch(
                    "INSERT INTO push_services (origin, not_before) VALUES ({}, {}) "
                    "ON CONFLICT (origin) DO UPDATE SET not_before = excluded.not_before",
                    delivery["origin"],
                    wait_until,
                )
            # Not the subscription's fault: asked again once the service allows, attempt not counted.
            await db.fetch(
                "UPDATE push_deliveries SET state = 'pending', attempts = attempts - 1, last_status = 429, "
                "next_attempt_at = {}, lease_until = NULL WHERE id = {}",
                wait_until,
                did,
            )
            return "throttled"
        if status in GIVE_UP or (status is not None and 400 <= status < 500):
            log.warning("push to %s refused with %s; not retried", delivery["origin"], status)
            await db.fetch(
                "UPDATE push_deliveries SET state = 'failed', last_status = {}, done_at = {} WHERE id = {}",
                status,
                now,
                did,
            )
            return "refused"
        if delivery["attempts"] >= self.max_attempts:  # 5xx or no answer, too many times
            log.warning(
                "push to %s failed %d times (last %s)", delivery["origin"], delivery["attempts"], status
            )
            await db.fetch(
                "UPDATE push_deliveries SET state = 'failed', last_status = {}, done_at = {} WHERE id = {}",
                status,
                now,
                did,
            )
            return "failed"
        delay = self.backoff * 2 ** (delivery["attempts"] - 1)
        await db.fetch(
            "UPDATE push_deliveries SET state = 'pending', last_status = {}, next_attempt_at = {}, "
            "lease_until = NULL WHERE id = {}",
            status,
            now + dt.timedelta(seconds=delay),
            did,
        )
        return "retry"
