"""E-mail codes: a 6-digit code by e-mail proves an address.

A code is stored as an HMAC (keyed with the secret key, so a stolen table cannot be brute-forced
offline), valid 10 minutes, used once, dead after 5 tries, counted atomically before comparing.
A new code leaves the last 3 working. The same answer is given whether or not an address has an
account (the routes that ask for a code see to that).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import msgspec

from retorno import db
from retorno.auth.common import CodeUsedUp, WrongCode
from retorno.auth.ratelimits import hit
from retorno.auth.tables import LoginCode

CODE_TTL = dt.timedelta(minutes=10)
CODE_TRIES = 5
LIVE_CODES = 3  # asking for a new code leaves the last ones working: nobody can void the owner's


def _code_hash(secret: str, email: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


async def new_code(
    *,
    brand_id: int | None,
    email: str,
    purpose: str,
    secret: str,
    now: dt.datetime,
    data: dict[str, Any] | None = None,
) -> str:
    """A fresh code for this address; the caller mails it. Earlier codes keep working (the newest
    LIVE_CODES of them), so someone asking for codes in the owner's name voids nothing."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    await db.write(
        lambda: db.insert(
            LoginCode,
            brand=brand_id,
            email=email,
            code_hash=_code_hash(secret, email, code),
            purpose=purpose,
            data=msgspec.json.encode(data or {}).decode(),
            attempts=0,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    return code


class UsedCode(msgspec.Struct, frozen=True, kw_only=True):
    """What a used code was asked for (login | join | staff), and the data stored with it."""

    purpose: str
    data: dict[str, Any]


# Hand-written: the point is one atomic statement that counts the try (only on codes with tries
# left) and hands back the codes it took, however many guesses arrive at once.
_TRY_CODES = (
    "UPDATE login_codes SET attempts = attempts + 1 WHERE attempts < {} AND id IN ("
    "SELECT id FROM login_codes WHERE email = {} AND used_at IS NULL AND expires_at > {} "
    "AND COALESCE(brand, 0) = {} ORDER BY id DESC LIMIT {}) RETURNING id, code_hash, purpose, data"
)


async def _spent_codes(brand_id: int | None, email: str, now: dt.datetime) -> bool:
    """Whether the address has live codes whose tries are all used (so none was compared)."""
    brand = LoginCode.brand.is_null() if not brand_id else LoginCode.brand == brand_id
    return await LoginCode.exists().where(
        (LoginCode.email == email)
        & brand
        & LoginCode.used_at.is_null()
        & (LoginCode.expires_at > now)
        & (LoginCode.attempts >= CODE_TRIES)
    )


async def use_code(*, brand_id: int | None, email: str, code: str, secret: str, now: dt.datetime) -> UsedCode:
    """The code's row if `code` is one of the live codes for this address; WrongCode otherwise.

    The try is counted first, in one atomic UPDATE that only takes codes with tries left, and
    committed; only the codes it took are compared. So no code is ever compared more than
    CODE_TRIES times, however many guesses arrive at once, from however many processes."""
    await hit("code-guess:email", f"{brand_id or 'staff'}:{email}", now=now)
    rows = await db.write(lambda: db.fetch(_TRY_CODES, CODE_TRIES, email, now, brand_id or 0, LIVE_CODES))
    guess = _code_hash(secret, email, code.strip())
    match = next((r for r in rows if hmac.compare_digest(r["code_hash"], guess)), None)
    if match is None:
        raise CodeUsedUp() if not rows and await _spent_codes(brand_id, email, now) else WrongCode()
    brand = LoginCode.brand.is_null() if not brand_id else LoginCode.brand == brand_id
    used = await db.write(
        lambda: (
            LoginCode.update({LoginCode.used_at: now})
            .where((LoginCode.email == email) & brand & LoginCode.used_at.is_null())
            .returning(LoginCode.id)
            .run()
        )
    )  # this code and the others still live: one sign-in spends them all
    if match["id"] not in {r["id"] for r in used}:
        raise WrongCode()  # another request used it a moment ago
    return UsedCode(purpose=match["purpose"], data=msgspec.json.decode(match["data"] or "{}"))
