"""Rate limits: GCRA buckets in the database, so every app process shares them.

One that is hit costs a wait of one interval (a minute or two), never a long lock-out. A bucket
is named by a kind (LIMITS) and a subject: an e-mail (with its brand, or `staff`) or a client
address.
"""

from __future__ import annotations

import datetime as dt
import math

from retorno import db
from retorno.auth.common import TooManyRequests

# (burst, one more every): a limit refills steadily (GCRA), so hitting it costs at most one
# interval's wait, never a long lock-out; keys name an e-mail or a client address.
LIMITS = {
    "code-request:email": (3, dt.timedelta(seconds=60)),  # the owner waits a minute at most
    "code-guess:email": (10, dt.timedelta(minutes=2)),  # at most 40 tries an hour for one address
    "code-request:addr": (30, dt.timedelta(seconds=30)),
    "code-attempt:addr": (30, dt.timedelta(seconds=30)),
    "passkey:addr": (60, dt.timedelta(seconds=5)),
    "api-auth:addr": (20, dt.timedelta(seconds=3)),  # wrong API keys from one address
    "widget-auth:addr": (20, dt.timedelta(seconds=3)),  # wrong widget keys or shopper tokens
    "widget-code:addr": (10, dt.timedelta(seconds=30)),  # checkout codes asked for from one address
    "tls-ask:addr": (60, dt.timedelta(seconds=1)),  # Caddy asking whether a name is ours
}


# Hand-written: GCRA is right only if the bucket's row is made, locked and moved on atomically
# (FOR UPDATE on PostgreSQL, the write lock on SQLite), and every code request and guess hits it.
_MAKE_BUCKET = (
    "INSERT INTO rate_limits (key, window_start, count) VALUES ({}, {}, 0) ON CONFLICT (key) DO NOTHING"
)
_BUCKET = "SELECT id, window_start FROM rate_limits WHERE key = {}"
_MOVE_ON = "UPDATE rate_limits SET window_start = {}, count = count + 1 WHERE id = {}"


def bucket_key(kind: str, subject: str) -> str:
    """The `rate_limits.key` of one kind's bucket for one subject."""
    return f"{kind}:{subject}"[:300]


async def hit(kind: str, subject: str, *, now: dt.datetime) -> None:
    """Count one attempt; TooManyRequests (with the seconds to wait) past the kind's limit.

    GCRA: the row keeps the time at which the bucket would be full again (`window_start`); an
    attempt moves it one interval on, and is refused when that would go past `burst` intervals
    ahead of now. The row is locked (FOR UPDATE on PostgreSQL, the write lock on SQLite), so
    concurrent attempts from any number of processes are counted exactly."""
    burst, interval = LIMITS[kind]
    key = bucket_key(kind, subject)

    async def work() -> int:
        await db.fetch(_MAKE_BUCKET, key, now)
        row = (await db.fetch(_BUCKET + db.for_update(), key))[0]
        full_at = max(row["window_start"], now) + interval
        if full_at - now > burst * interval:
            return max(1, math.ceil((full_at - now - burst * interval).total_seconds()))
        await db.fetch(_MOVE_ON, full_at, row["id"])
        return 0

    wait = await db.write(work)
    if wait:
        raise TooManyRequests(wait)
