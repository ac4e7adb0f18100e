"""What sign-in forgets: all it kept about a shopper who deleted their account, and what expired.

Sessions, passkeys, WebAuthn challenges, e-mail codes and rate-limit buckets; the worker's sweep
calls `purge`, the account deletion `forget_customer`.
"""

from __future__ import annotations

import datetime as dt

from retorno import db
from retorno.auth.ratelimits import bucket_key
from retorno.auth.tables import Challenge, LoginCode, Passkey, RateLimit, Session


async def forget_customer(*, brand_id: int, customer_id: int, email: str | None) -> None:
    """Everything sign-in kept about a shopper who deleted their account: sessions, passkeys, codes."""

    async def work() -> None:
        await Session.delete().where(Session.customer == customer_id)
        await Passkey.delete().where(Passkey.customer == customer_id)
        await Challenge.delete().where(Challenge.customer == customer_id)
        if email:
            await LoginCode.delete().where((LoginCode.brand == brand_id) & (LoginCode.email == email))
            keys = [
                bucket_key(kind, f"{brand_id}:{email}") for kind in ("code-request:email", "code-guess:email")
            ]
            await RateLimit.delete().where(RateLimit.key.is_in(keys))

    await db.write(work)


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """What sign-in leaves behind, gone `keep` after it stopped mattering: sessions and codes past
    their expiry, WebAuthn challenges, rate-limit buckets long full again."""
    cutoff = now - keep
    gone = await db.purge("sessions", "expires_at < {}", cutoff)
    gone += await db.purge("login_codes", "expires_at < {}", cutoff)
    gone += await db.purge("webauthn_challenges", "expires_at < {}", cutoff)
    gone += await db.purge("rate_limits", "window_start < {}", cutoff)  # a full bucket is no row at all
    return gone
