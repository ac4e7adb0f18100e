"""Idempotency-Key: a POST that has no natural id of its own (issuing a voucher) is done once per
key; a retry with the same key and the same request gets the first answer again, byte for byte;
the same key with another request is a conflict. Keys are kept a day (the sweep purges them).

The key's row is written before the work, in the work's own transaction: a second request with
the key waits on the unique index (PostgreSQL) or on the single writer (SQLite) until the first
commits, then finds its answer. Nothing is done twice, even at the same moment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable

from retorno import db
from retorno.bounds import check_text
from retorno.errors import Conflict, Field

KEEP = dt.timedelta(days=1)
_CLAIM = (
    "INSERT INTO api_idempotency (brand, key, request_digest, status, body, created_at) "
    "VALUES ({}, {}, {}, 0, '', {}) ON CONFLICT (brand, key) DO NOTHING RETURNING id"
)
_STORED = "SELECT id, request_digest, status, body FROM api_idempotency WHERE brand = {} AND key = {}"
_ANSWER = "UPDATE api_idempotency SET status = {}, body = {} WHERE id = {}"


def digest(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def once(
    *,
    brand_id: int,
    key: str,
    request_digest: str,
    now: dt.datetime,
    work: Callable[[], Awaitable[tuple[int, bytes]]],
) -> tuple[int, bytes]:
    """(status, body) of the work done under `key`: now, or as it was answered the first time."""
    key = check_text("Idempotency-Key", key, min_length=1, max_length=255)

    async def run() -> tuple[int, bytes]:
        claimed = await db.fetch(_CLAIM, brand_id, key, request_digest, now)
        if not claimed:
            [stored] = await db.fetch(_STORED, brand_id, key)
            if stored["request_digest"] != request_digest:
                raise Conflict(
                    "%(field)s: this key was used for another request", field=Field("Idempotency-Key")
                )
            return stored["status"], stored["body"].encode()
        status, body = await work()
        await db.fetch(_ANSWER, status, body.decode(), claimed[0]["id"])
        return status, body

    return await db.write(run)


async def purge(*, now: dt.datetime) -> int:
    return await db.purge("api_idempotency", "created_at < {}", now - KEEP)
