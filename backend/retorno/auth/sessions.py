"""Sessions: a random 256-bit token in a cookie (guards.py reads it).

The database keeps only its SHA-256, with the brand it belongs to (None for the platform host)
and the customer or staff member. The token changes at every sign-in; a shopper's session lasts
SHOPPER_SESSION, a staff member's STAFF_SESSION.
"""

from __future__ import annotations

import datetime as dt
import secrets

import msgspec

from retorno import db
from retorno.auth.common import sha256
from retorno.auth.tables import Session

SHOPPER_SESSION = dt.timedelta(days=60)
STAFF_SESSION = dt.timedelta(hours=12)
# Hand-written: every signed-in request reads its session (Piccolo's query builder would cost more
# than the query, see db.fetch).
_SESSION = (
    "SELECT id, brand, customer, staff, expires_at FROM sessions WHERE token_hash = {} AND expires_at > {}"
)


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """A live session: its brand (None on the platform host) and who it signs in."""

    id: int
    brand: int | None
    customer: int | None
    staff: int | None
    expires_at: dt.datetime


async def start_session(
    *,
    brand_id: int | None,
    now: dt.datetime,
    customer_id: int | None = None,
    staff_id: int | None = None,
    replacing: str | None = None,
) -> str:
    """A new session (the old one, if any, is destroyed: the token changes at every sign-in)."""
    token = secrets.token_urlsafe(32)
    lifetime = STAFF_SESSION if staff_id else SHOPPER_SESSION

    async def work() -> None:
        if replacing:
            await Session.delete().where(Session.token_hash == sha256(replacing))
        await db.insert(
            Session,
            token_hash=sha256(token),
            brand=brand_id,
            customer=customer_id,
            staff=staff_id,
            created_at=now,
            expires_at=now + lifetime,
        )

    await db.write(work)
    return token


async def session_for(token: str, *, now: dt.datetime) -> SessionView | None:
    rows = await db.fetch(_SESSION, sha256(token), now)
    return SessionView(**rows[0]) if rows else None


async def end_session(token: str) -> None:
    await db.write(lambda: Session.delete().where(Session.token_hash == sha256(token)).run())


async def end_all_sessions(*, customer_id: int | None = None, staff_id: int | None = None) -> None:
    whose = Session.customer == customer_id if customer_id is not None else Session.staff == staff_id
    await db.write(lambda: Session.delete().where(whose).run())
