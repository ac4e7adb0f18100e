"""Sending webhook deliveries: claimed with a lease, signed, posted, recorded, retried.

One pass (`Sender.run`, called by the worker):
1. deliveries left `sending` by a worker that stopped (lease over) are due again: at least once,
   and receivers deduplicate by webhook-id;
2. lanes claim batches of due deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers never
   hold the same one), mark them `sending` with a lease and commit, post them all at once through
   one aiohttp session, then record every answer in one transaction.

Order: a delivery is claimed only when no earlier delivery to the same endpoint for the same
customer is still pending, in flight or waiting for a retry, so an endpoint sees a customer's
events in the order they were fanned out, one at a time (other customers' events go on).

Each request: `webhook-id`, `webhook-timestamp` (now, Unix seconds), `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the endpoint's secret, and during a
rotation's overlap a second `v1,...` with the previous secret, space-separated). No redirects
are followed (a 3xx is a failure), timeouts are a few seconds, and the answer is read up to 4 KB.

Answers: 2xx delivered; 410 Gone disables the endpoint at once (its open deliveries die);
anything else (3xx, 4xx, 5xx, no answer, a refused address) is retried with exponential backoff
and jitter (30 s, 1 min, 2 min... capped at 12 h, each +-25 %; Retry-After respected), the
last attempt 3 days after the delivery was queued; if that fails too, it is dead. An endpoint
whose every attempt has failed for 3 days is disabled; `Sender.disabled` lists the endpoints a
pass disabled, for the worker to tell the brand's owners.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from retorno import db, metrics, vault
from retorno.outbound import CheckedResolver, Options, refusal_of_host

log = logging.getLogger("retorno.webhooks")

USER_AGENT = "Retorno-Webhooks/1.0 (+https://www.standardwebhooks.com/)"
KEEP_RESPONSE = 4096
DISABLE_AFTER = dt.timedelta(days=3)
MAX_DELAY = dt.timedelta(hours=12)
OPEN = ("pending", "sending", "failed")


def context(endpoint_id: int, previous: bool = False) -> str:
    """What a sealed secret is bound to (vault.py): its endpoint's row."""
    return f"webhook_endpoints:{endpoint_id}" + (":previous" if previous else "")


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    )


class Outcome(msgspec.Struct, kw_only=True):
    status: int | None = None
    latency_ms: int | None = None
    error: str = ""
    response: str = ""
    retry_after: float | None = None


_CLAIM = (
    "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint "
    "WHERE d.state IN ('pending', 'failed') AND d.next_attempt_at <= {} AND e.enabled = {} "
    "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint = d.endpoint "
    "AND p.customer = d.customer AND p.id < d.id AND p.state IN ('pending', 'sending', 'failed')) "
    "ORDER BY d.id LIMIT {}"
)
_MARK_SENDING = (
    "UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, lease_until = {{}} "
    "WHERE id IN ({marks})"
)
_CLAIMED = (
    "SELECT d.id, d.endpoint, d.message_id, d.body, d.attempts, d.retry_until, e.url, e.secret, "
    "e.previous_secret, e.previous_until FROM webhook_deliveries d JOIN webhook_endpoints e "
    "ON e.id = d.endpoint WHERE d.id IN ({marks}) ORDER BY d.id"
)
_STALE = (
    "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = {}, lease_until = NULL, "
    "last_error = 'the worker sending it stopped before its answer was recorded' "
    "WHERE state = 'sending' AND lease_until < {} RETURNING id"
)
_DELIVERED = (
    "UPDATE webhook_deliveries SET state = 'delivered', last_status = {}, latency_ms = {}, last_error = '', "
    "response = {}, delivered_at = {}, lease_until = NULL WHERE id = {}"
)
_FAILED = (
    "UPDATE webhook_deliveries SET state = {}, last_status = {}, latency_ms = {}, last_error = {}, "
    "response = {}, next_attempt_at = {}, lease_until = NULL WHERE id = {} AND state = 'sending'"
)
_SUCCEEDED = (
    "UPDATE webhook_endpoints SET failing_since = NULL, failed_attempts = 0, last_success_at = {} "
    "WHERE id = {}"
)
_FAILING = (
    "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, {}), "
    "failed_attempts = failed_attempts + 1 WHERE id = {}"
)
_DISABLE = (
    "UPDATE webhook_endpoints SET enabled = {}, disabled_reason = {}, disabled_at = {}, updated_at = {} "
    "WHERE id = {} AND enabled = {} AND ({} OR failing_since <= {}) RETURNING id"
)
_KILL_OPEN = (
    "UPDATE webhook_deliveries SET state = 'dead', lease_until = NULL, last_error = {} "
    "WHERE endpoint = {} AND state IN ('pending', 'sending', 'failed')"
)


async def disable(
    endpoint_id: int, *, reason: str, now: dt.datetime, at_once: bool, cutoff: dt.datetime
) -> bool:
    """Disable an enabled endpoint (at once, or if it has been failing since `cutoff`) and let its
    open deliveries die; whether it was disabled now. In the caller's transaction."""
    rows = await db.fetch(_DISABLE, False, reason, now, now, endpoint_id, True, at_once, cutoff)
    if rows:
        await db.fetch(_KILL_OPEN, f"the endpoint was disabled ({reason})", endpoint_id)
    return bool(rows)


class Sender:
    def __init__(
        self,
        *,
        options: Options,
        clock: Callable[[], dt.datetime],
        wall: Callable[[], float] = time.time,
        batch: int = 100,
        lanes: int = 2,
        lease: float = 60.0,
        timeout: float = 5.0,
        backoff: float = 30.0,
        disable_after: dt.timedelta = DISABLE_AFTER,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.options, self.clock, self.wall, self.rng = options, clock, wall, rng
        self.batch, self.lanes, self.lease = batch, lanes, lease
        self.timeout, self.backoff, self.disable_after = min(timeout, 10.0), backoff, disable_after
        self.disabled: list[int] = []  # endpoints disabled by passes since the worker last asked
        self._session: aiohttp.ClientSession | None = None
        self._keys: dict[tuple[int, str, str | None], tuple[bytes, bytes | None]] = {}

    async def __aenter__(self) -> Sender:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.batch * self.lanes, resolver=CheckedResolver(self.options), ttl_dns_cache=10
            ),
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 3.0)),
            headers={"User-Agent": USER_AGENT},
            auto_decompress=False,
            trust_env=False,  # no proxy from the environment: the addresses checked are the ones reached
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def run(self, now: dt.datetime) -> tuple[int, int]:
        """One pass: stale leases back to due, then lanes until nothing is due; (claimed, delivered)."""
        stale = await db.write(lambda: db.fetch(_STALE, now, now))
        if stale:
            log.warning(
                "%d webhook deliveries were being sent by a worker that stopped; sent again", len(stale)
            )
        lanes = await asyncio.gather(*(self._lane(now) for _ in range(self.lanes)))
        return sum(c for c, _ in lanes), sum(d for _, d in lanes)

    async def _lane(self, now: dt.datetime) -> tuple[int, int]:
        claimed_total = delivered = 0
        while claimed := await self.claim(now):
            outcomes = await asyncio.gather(*(self.send(d) for d in claimed))
            await self.record(claimed, outcomes, self.clock())
            claimed_total += len(claimed)
            delivered += sum(1 for o in outcomes if o.status is not None and 200 <= o.status < 300)
            now = self.clock()
        return claimed_total, delivered

    async def claim(self, now: dt.datetime) -> list[dict[str, Any]]:
        lease_until = now + dt.timedelta(seconds=self.lease)

        async def work() -> list[dict[str, Any]]:
            sql = _CLAIM + (" FOR UPDATE OF d SKIP LOCKED" if db.is_postgres() else "")
            ids = [r["id"] for r in await db.fetch(sql, now, True, self.batch)]
            if not ids:
                return []
            marks = ", ".join("{}" for _ in ids)
            await db.fetch(_MARK_SENDING.format(marks=marks), lease_until, *ids)
            return await db.fetch(_CLAIMED.format(marks=marks), *ids)

        return await db.write(work)

    def _keys_of(self, d: dict[str, Any]) -> list[bytes]:
        """The endpoint's HMAC keys (the previous one too during a rotation's overlap), unsealed
        once per sealed value."""
        cache_key = (d["endpoint"], d["secret"], d["previous_secret"])
        keys = self._keys.get(cache_key)
        if keys is None:
            current = key_of(vault.unseal(d["secret"], context=context(d["endpoint"])))
            previous = (
                key_of(vault.unseal(d["previous_secret"], context=context(d["endpoint"], previous=True)))
                if d["previous_secret"]
                else None
            )
            keys = self._keys[cache_key] = (current, previous)
        overlap = (
            keys[1] is not None and d["previous_until"] is not None and d["previous_until"] > self.clock()
        )
        return [keys[0], keys[1]] if overlap and keys[1] is not None else [keys[0]]

    async def send(self, d: dict[str, Any]) -> Outcome:
        if self._session is None:
            raise RuntimeError("the sender is used outside `async with`")
        why = refusal_of_host(_host(d["url"]), allow_private=self.options.allow_private)
        if why is not None:
            return Outcome(error=f"refused: the endpoint's address is {why}")
        if self.options.require_https and not d["url"].startswith("https://"):
            return Outcome(error="refused: https is required")
        body = d["body"].encode()
        timestamp = int(self.wall())
        headers = {
            "content-type": "application/json",
            "webhook-id": d["message_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._keys_of(d), d["message_id"], timestamp, body),
        }
        started = time.perf_counter()
        try:
            async with self._session.post(d["url"], data=body, headers=headers, allow_redirects=False) as r:
                kept = await _read_at_most(r.content, KEEP_RESPONSE)
                status, retry_after = r.status, retry_after_seconds(r.headers.get("Retry-After"))
        except TimeoutError:
            return Outcome(latency_ms=_ms(started), error="timeout: no answer in time")
        except aiohttp.ClientConnectorError as exc:
            return Outcome(latency_ms=_ms(started), error=f"could not connect: {exc.os_error}"[:300])
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(latency_ms=_ms(started), error=f"{type(exc).__name__}: {exc}"[:300])
        response = kept.decode("utf-8", "replace")
        error = "" if 200 <= status < 300 else f"answered {status}"
        if 300 <= status < 400:
            error += " (a redirect: not followed)"
        return Outcome(
            status=status, latency_ms=_ms(started), error=error, response=response, retry_after=retry_after
        )

    def delay(self, attempts: int, retry_after: float | None) -> dt.timedelta:
        """Exponential backoff with jitter after `attempts` failed attempts."""
        seconds = min(MAX_DELAY.total_seconds(), self.backoff * 2 ** max(0, attempts - 1))
        seconds *= 0.75 + 0.5 * self.rng()
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, MAX_DELAY.total_seconds()))
        return dt.timedelta(seconds=seconds)

    async def record(self, claimed: list[dict[str, Any]], outcomes: list[Outcome], now: dt.datetime) -> None:
        async def work() -> tuple[list[int], list[str]]:
            disabled: list[int] = []
            succeeded: set[int] = set()
            decided: list[str] = []  # for /metrics: delivered, retry or dead
            for d, o in zip(claimed, outcomes, strict=True):
                if o.status is not None and 200 <= o.status < 300:
                    await db.fetch(_DELIVERED, o.status, o.latency_ms, o.response, now, d["id"])
                    succeeded.add(d["endpoint"])
                    decided.append("delivered")
                    continue
                # The last attempt is at retry_until: 3 days of retries, then dead.
                next_at = min(now + self.delay(d["attempts"], o.retry_after), d["retry_until"])
                dead = o.status == 410 or now >= d["retry_until"]
                decided.append("dead" if dead else "retry")
                await db.fetch(
                    _FAILED,
                    "dead" if dead else "failed",
                    o.status,
                    o.latency_ms,
                    o.error[:300],
                    o.response,
                    next_at,
                    d["id"],
                )
                await db.fetch(_FAILING, now, d["endpoint"])
                gone = o.status == 410
                if await disable(
                    d["endpoint"],
                    reason="gone" if gone else "failing",
                    now=now,
                    at_once=gone,
                    cutoff=now - self.disable_after,
                ):
                    disabled.append(d["endpoint"])
            for endpoint in succeeded:
                await db.fetch(_SUCCEEDED, now, endpoint)
            return disabled, decided

        disabled, decided = await db.write(work)
        metrics.delivered("webhook", decided)
        for endpoint in disabled:
            log.warning("webhook endpoint %s disabled: it keeps failing or answered 410 Gone", endpoint)
        self.disabled += disabled


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=4096)
def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (a number of seconds, or an HTTP date); push's sender reads it too."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - dt.datetime.now(dt.UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
