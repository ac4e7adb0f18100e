"""Signing in without passwords.

- A 6-digit code by e-mail proves an address: stored as an HMAC (keyed with the secret key, so a
  stolen table cannot be brute-forced offline), valid 10 minutes, used once, dead after 5 tries,
  counted atomically before comparing. A new code leaves the last 3 working. The same answer is
  given whether or not an address has an account.
- Passkeys (WebAuthn, py_webauthn) then sign a shopper in. The relying party is the brand's host,
  so a passkey made at one brand is useless at another. Challenges are 32 random bytes kept
  server-side (found by their hash), used once, valid 5 minutes.
- A session is a random 256-bit token in a cookie; the database keeps only its SHA-256, with the
  brand it belongs to (None for the platform host) and the customer or staff member.
- Rate limits are GCRA buckets in the database, so every app process shares them, and one that
  is hit costs a wait of one interval (a minute or two), never a long lock-out.
Nothing here logs a code, a token or key material.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import secrets
from typing import Any

import msgspec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from retorno import db
from retorno.auth.tables import Challenge, LoginCode, Passkey, Session, Staff, StaffRole
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.customers.tables import Consent
from retorno.errors import DomainError, Invalid, NotFound
from retorno.referrals import service as referrals

log = logging.getLogger("retorno.auth")

CODE_TTL = dt.timedelta(minutes=10)
CODE_TRIES = 5
LIVE_CODES = 3  # asking for a new code leaves the last ones working: nobody can void the owner's
CHALLENGE_TTL = dt.timedelta(minutes=5)
SHOPPER_SESSION = dt.timedelta(days=60)
STAFF_SESSION = dt.timedelta(hours=12)
ROLES = ("owner", "manager", "operator")  # each includes the ones after it

# (burst, one more every): a limit refills steadily (GCRA), so hitting it costs at most one
# interval's wait, never a long lock-out; keys name an e-mail or a client address.
LIMITS = {
    "code-request:email": (3, dt.timedelta(seconds=60)),  # the owner waits a minute at most
    "code-guess:email": (10, dt.timedelta(minutes=2)),  # at most 40 tries an hour for one address
    "code-request:addr": (30, dt.timedelta(seconds=30)),
    "code-attempt:addr": (30, dt.timedelta(seconds=30)),
    "passkey:addr": (60, dt.timedelta(seconds=5)),
    "api-auth:addr": (20, dt.timedelta(seconds=3)),  # wrong API keys from one address
}


class TooManyRequests(DomainError):
    status_code = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many attempts. Wait a few minutes and try again.")
        self.retry_after = retry_after


class WrongCode(Invalid):
    def __init__(self) -> None:
        super().__init__("The code is wrong or has expired. Ask for a new one.")


class PasskeyRefused(Invalid):
    def __init__(self) -> None:
        super().__init__("This passkey could not be verified.")


def _sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def _code_hash(secret: str, email: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


# --- rate limits --------------------------------------------------------------------------------


async def hit(kind: str, subject: str, *, now: dt.datetime) -> None:
    """Count one attempt; TooManyRequests (with the seconds to wait) past the kind's limit.

    GCRA: the row keeps the time at which the bucket would be full again (`window_start`); an
    attempt moves it one interval on, and is refused when that would go past `burst` intervals
    ahead of now. The row is locked (FOR UPDATE on PostgreSQL, the write lock on SQLite), so
    concurrent attempts from any number of processes are counted exactly."""
    burst, interval = LIMITS[kind]
    key = f"{kind}:{subject}"[:300]

    async def work() -> int:
        await db.fetch(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ({}, {}, 0) "
            "ON CONFLICT (key) DO NOTHING",
            key,
            now,
        )
        sql = f"SELECT id, window_start FROM rate_limits WHERE key = {{}}{db.for_update()}"  # noqa: S608
        row = (await db.fetch(sql, key))[0]
        full_at = max(row["window_start"], now) + interval
        if full_at - now > burst * interval:
            return max(1, math.ceil((full_at - now - burst * interval).total_seconds()))
        await db.fetch(
            "UPDATE rate_limits SET window_start = {}, count = count + 1 WHERE id = {}", full_at, row["id"]
        )
        return 0

    wait = await db.write(work)
    if wait:
        raise TooManyRequests(wait)


# --- e-mail codes -------------------------------------------------------------------------------


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


_TRY_CODES = (
    "UPDATE login_codes SET attempts = attempts + 1 WHERE attempts < {} AND id IN ("
    "SELECT id FROM login_codes WHERE email = {} AND used_at IS NULL AND expires_at > {} "
    "AND COALESCE(brand, 0) = {} ORDER BY id DESC LIMIT {}) RETURNING id, code_hash, purpose, data"
)


async def use_code(*, brand_id: int | None, email: str, code: str, secret: str, now: dt.datetime) -> dict:
    """The code's row if `code` is one of the live codes for this address; WrongCode otherwise.

    The try is counted first, in one atomic UPDATE that only takes codes with tries left, and
    committed; only the codes it took are compared. So no code is ever compared more than
    CODE_TRIES times, however many guesses arrive at once, from however many processes."""
    await hit("code-guess:email", f"{brand_id or 'staff'}:{email}", now=now)
    rows = await db.write(lambda: db.fetch(_TRY_CODES, CODE_TRIES, email, now, brand_id or 0, LIVE_CODES))
    guess = _code_hash(secret, email, code.strip())
    match = next((r for r in rows if hmac.compare_digest(r["code_hash"], guess)), None)
    if match is None:
        raise WrongCode()
    used = await db.write(
        lambda: db.fetch(
            "UPDATE login_codes SET used_at = {} WHERE email = {} AND COALESCE(brand, 0) = {} "
            "AND used_at IS NULL RETURNING id",
            now,
            email,
            brand_id or 0,
        )
    )  # this code and the others still live: one sign-in spends them all
    if match["id"] not in {r["id"] for r in used}:
        raise WrongCode()  # another request used it a moment ago
    return {"purpose": match["purpose"], "data": msgspec.json.decode(match["data"] or "{}")}


# --- sessions -----------------------------------------------------------------------------------


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
            await db.fetch("DELETE FROM sessions WHERE token_hash = {}", _sha256(replacing))
        await db.insert(
            Session,
            token_hash=_sha256(token),
            brand=brand_id,
            customer=customer_id,
            staff=staff_id,
            created_at=now,
            expires_at=now + lifetime,
        )

    await db.write(work)
    return token


async def session_for(token: str, *, now: dt.datetime) -> dict | None:
    rows = await db.fetch(
        "SELECT id, brand, customer, staff, expires_at FROM sessions WHERE token_hash = {} "
        "AND expires_at > {}",
        _sha256(token),
        now,
    )
    return rows[0] if rows else None


async def end_session(token: str) -> None:
    await db.write(lambda: db.fetch("DELETE FROM sessions WHERE token_hash = {}", _sha256(token)))


async def end_all_sessions(*, customer_id: int | None = None, staff_id: int | None = None) -> None:
    column, value = ("customer", customer_id) if customer_id is not None else ("staff", staff_id)
    await db.write(lambda: db.fetch(f"DELETE FROM sessions WHERE {column} = {{}}", value))  # noqa: S608


# --- shoppers -----------------------------------------------------------------------------------


class JoinData(msgspec.Struct, kw_only=True):
    name: str
    marketing: bool = False
    regulations_version: int | None = None
    referral: str | None = None  # the invitation code the attribution cookie carried
    device: str = ""  # the hash of the joining browser's device cookie


async def sign_in_with_code(*, brand: BrandView, email: str, code: str, secret: str, now: dt.datetime) -> int:
    """The customer a correct code signs in: an existing one, or one /join asked to create (or claim)."""
    email = customers.normalize_email(email)
    used = await use_code(brand_id=brand.id, email=email, code=code, secret=secret, now=now)

    async def work() -> int:
        if used["purpose"] == "join":
            join = msgspec.convert(used["data"], JoinData)
            existing = await customers.lookup(brand.id, Identity(email=email))
            identity = Identity(email=email, name=join.name if not (existing and existing.name) else None)
            customer, _ = await customers.upsert(brand.id, identity, now=now)
            if join.regulations_version is not None:
                await db.insert(
                    Consent,
                    brand=brand.id,
                    customer=customer.id,
                    kind="regulations",
                    granted=True,
                    version=join.regulations_version,
                    at=now,
                )
            await db.insert(
                Consent,
                brand=brand.id,
                customer=customer.id,
                kind="marketing",
                granted=join.marketing,
                at=now,
            )
            if join.referral:
                await referrals.attach(
                    brand_id=brand.id,
                    code=join.referral,
                    friend_id=customer.id,
                    existed=existing is not None,
                    device=join.device,
                    now=now,
                )
            return customer.id
        customer = await customers.lookup(brand.id, Identity(email=email))
        if customer is None:  # codes are only sent for known addresses; a deleted one lands here
            raise WrongCode()
        return customer.id

    return await db.write(work)


# --- passkeys -----------------------------------------------------------------------------------


class Owner(msgspec.Struct, frozen=True):
    """Whose passkeys: a shopper of a brand (on its host), or a staff member (on the platform host)."""

    brand_id: int | None = None
    customer_id: int | None = None
    staff_id: int | None = None

    @property
    def column(self) -> str:
        return "customer" if self.customer_id is not None else "staff"

    @property
    def id(self) -> int:
        return self.customer_id if self.customer_id is not None else self.staff_id  # type: ignore[return-value]

    @property
    def user_handle(self) -> bytes:
        """WebAuthn's user.id: no personal data, and a staff handle never equals a shopper's."""
        return (
            str(self.customer_id).encode()
            if self.customer_id is not None
            else f"staff:{self.staff_id}".encode()
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _new_challenge(
    *, brand_id: int | None, purpose: str, now: dt.datetime, owner: Owner | None = None
) -> bytes:
    challenge = secrets.token_bytes(32)
    await db.write(
        lambda: db.insert(
            Challenge,
            brand=brand_id,
            customer=owner.customer_id if owner else None,
            staff=owner.staff_id if owner else None,
            purpose=purpose,
            challenge_hash=_sha256(challenge),
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    return challenge


async def _take_challenge(
    credential: dict, *, brand_id: int | None, purpose: str, now: dt.datetime
) -> tuple[bytes, dict]:
    """The challenge this response answers, consumed: unknown, used, expired or foreign ones are refused."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        challenge = _unb64url(client_data["challenge"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PasskeyRefused() from None
    rows = await db.write(
        lambda: db.fetch(
            "UPDATE webauthn_challenges SET used_at = {} WHERE challenge_hash = {} AND used_at IS NULL "
            "AND expires_at > {} AND COALESCE(brand, 0) = {} AND purpose = {} RETURNING customer, staff",
            now,
            _sha256(challenge),
            now,
            brand_id or 0,
            purpose,
        )
    )
    if not rows:
        log.info("passkey %s refused: unknown, used or expired challenge", purpose)
        raise PasskeyRefused()
    return challenge, rows[0]


def rp_id_of(origin: str) -> str:
    """The relying party id: the host without scheme or port."""
    return origin.split("://", 1)[-1].split(":", 1)[0]


async def registration_options(
    *, owner: Owner, rp_name: str, user_name: str, display_name: str, origin: str, now: dt.datetime
) -> str:
    existing = await db.fetch(f"SELECT credential_id FROM passkeys WHERE {owner.column} = {{}}", owner.id)  # noqa: S608
    challenge = await _new_challenge(brand_id=owner.brand_id, purpose="register", now=now, owner=owner)
    options = generate_registration_options(
        rp_id=rp_id_of(origin),
        rp_name=rp_name,
        user_id=owner.user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=_unb64url(r["credential_id"])) for r in existing
        ],
    )
    return options_to_json(options)


async def shopper_registration_options(
    *, brand: BrandView, customer_id: int, origin: str, now: dt.datetime
) -> str:
    customer = await customers.get(brand.id, customer_id)
    return await registration_options(
        owner=Owner(brand_id=brand.id, customer_id=customer_id),
        rp_name=brand.name,
        user_name=customer.email or f"cliente-{customer_id}",
        display_name=customer.name or customer.email or "",
        origin=origin,
        now=now,
    )


async def register_passkey(
    *, owner: Owner, credential: dict, origin: str, now: dt.datetime, name: str = ""
) -> int:
    challenge, row = await _take_challenge(credential, brand_id=owner.brand_id, purpose="register", now=now)
    if (row["customer"], row["staff"]) != (owner.customer_id, owner.staff_id):
        raise PasskeyRefused()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id_of(origin),
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        log.info("passkey registration refused: %s", type(exc).__name__)
        raise PasskeyRefused() from None
    credential_id = _b64url(verified.credential_id)

    async def work() -> int:
        # A credential id names one credential: one already registered (here or elsewhere) is refused.
        if await db.fetch("SELECT id FROM passkeys WHERE credential_id = {}", credential_id):
            log.info("passkey registration refused: the credential id is already registered")
            raise PasskeyRefused()
        return await db.insert(
            Passkey,
            brand=owner.brand_id,
            customer=owner.customer_id,
            staff=owner.staff_id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=(name or "Passkey")[:60],
            created_at=now,
        )

    return await db.write(work)


async def authentication_options(*, brand_id: int | None, origin: str, now: dt.datetime) -> str:
    challenge = await _new_challenge(brand_id=brand_id, purpose="authenticate", now=now)
    options = generate_authentication_options(
        rp_id=rp_id_of(origin), challenge=challenge, user_verification=UserVerificationRequirement.REQUIRED
    )
    return options_to_json(options)


async def authenticate_passkey(
    *, brand_id: int | None, credential: dict, origin: str, now: dt.datetime
) -> Owner:
    """Whose passkey (registered on this very host) signed this challenge."""
    challenge, _ = await _take_challenge(credential, brand_id=brand_id, purpose="authenticate", now=now)
    rows = await db.fetch(
        "SELECT id, customer, staff, public_key, sign_count FROM passkeys WHERE credential_id = {} "
        "AND COALESCE(brand, 0) = {}",
        str(credential.get("rawId") or credential.get("id") or ""),
        brand_id or 0,
    )
    if not rows:
        raise PasskeyRefused()
    key = rows[0]
    owner = Owner(brand_id=brand_id, customer_id=key["customer"], staff_id=key["staff"])
    handle = (credential.get("response") or {}).get("userHandle")
    if handle is not None:
        try:
            claimed = _unb64url(handle) if isinstance(handle, str) else None
        except ValueError:
            claimed = None
        if claimed != owner.user_handle:
            raise PasskeyRefused()
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id_of(origin),
            expected_origin=origin,
            credential_public_key=bytes(key["public_key"]),
            credential_current_sign_count=key["sign_count"],
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        if "sign count" in str(exc):
            log.warning("passkey %s: sign counter did not increase (a cloned authenticator?)", key["id"])
        else:
            log.info("passkey sign-in refused: %s", type(exc).__name__)
        raise PasskeyRefused() from None
    await db.write(
        lambda: db.fetch(
            "UPDATE passkeys SET sign_count = {}, last_used_at = {} WHERE id = {}",
            verified.new_sign_count,
            now,
            key["id"],
        )
    )
    return owner


async def passkeys_of(owner: Owner) -> list[dict]:
    return await db.fetch(
        f"SELECT id, name, created_at, last_used_at FROM passkeys WHERE {owner.column} = {{}} ORDER BY id",  # noqa: S608
        owner.id,
    )


async def rename_passkey(*, owner: Owner, passkey_id: int, name: str) -> None:
    name = name.strip()[:60]
    if not name:
        raise Invalid("Give the passkey a name.")
    sql = f"UPDATE passkeys SET name = {{}} WHERE id = {{}} AND {owner.column} = {{}} RETURNING id"  # noqa: S608
    if not await db.write(lambda: db.fetch(sql, name, passkey_id, owner.id)):
        raise NotFound("no such passkey")


async def remove_passkey(*, owner: Owner, passkey_id: int) -> None:
    sql = f"DELETE FROM passkeys WHERE id = {{}} AND {owner.column} = {{}} RETURNING id"  # noqa: S608
    if not await db.write(lambda: db.fetch(sql, passkey_id, owner.id)):
        raise NotFound("no such passkey")


async def forget_customer(*, brand_id: int, customer_id: int, email: str | None) -> None:
    """Everything sign-in kept about a shopper who deleted their account: sessions, passkeys, codes."""

    async def work() -> None:
        await db.fetch("DELETE FROM sessions WHERE customer = {}", customer_id)
        await db.fetch("DELETE FROM passkeys WHERE customer = {}", customer_id)
        await db.fetch("DELETE FROM webauthn_challenges WHERE customer = {}", customer_id)
        if email:
            await db.fetch("DELETE FROM login_codes WHERE brand = {} AND email = {}", brand_id, email)
            for kind in ("code-request:email", "code-guess:email"):
                await db.fetch("DELETE FROM rate_limits WHERE key = {}", f"{kind}:{brand_id}:{email}"[:300])

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


# --- staff --------------------------------------------------------------------------------------


async def add_staff(
    *,
    email: str,
    now: dt.datetime,
    brand_id: int | None = None,
    role: str | None = None,
    platform_admin: bool = False,
    name: str = "",
) -> int:
    email = customers.normalize_email(email)
    if role is not None and role not in ROLES:
        raise Invalid(f"role: one of {', '.join(ROLES)}")

    async def work() -> int:
        rows = await db.fetch("SELECT id, platform_admin FROM staff WHERE email = {}", email)
        staff_id = (
            rows[0]["id"]
            if rows
            else await db.insert(Staff, email=email, name=name, platform_admin=platform_admin, created_at=now)
        )
        if rows and platform_admin and not rows[0]["platform_admin"]:
            await db.fetch("UPDATE staff SET platform_admin = {} WHERE id = {}", True, staff_id)
        if brand_id is not None and role is not None:
            await db.fetch("DELETE FROM staff_roles WHERE staff = {} AND brand = {}", staff_id, brand_id)
            await db.insert(StaffRole, staff=staff_id, brand=brand_id, role=role)
        return staff_id

    return await db.write(work)


async def staff_by_email(email: str) -> dict | None:
    rows = await db.fetch(
        "SELECT id, email, name, platform_admin FROM staff WHERE email = {}", customers.normalize_email(email)
    )
    return rows[0] if rows else None


async def staff_member(staff_id: int) -> dict:
    rows = await db.fetch("SELECT id, email, name, platform_admin FROM staff WHERE id = {}", staff_id)
    if not rows:
        raise NotFound("no such staff member")
    roles = await db.fetch(
        "SELECT b.slug AS slug, b.name AS brand_name, r.role AS role FROM staff_roles r "
        "JOIN brands b ON b.id = r.brand WHERE r.staff = {} ORDER BY b.name",
        staff_id,
    )
    return rows[0] | {"roles": roles}


def role_allows(held: str, needed: str) -> bool:
    """owner > manager > operator: a role may do what the roles after it may."""
    return ROLES.index(held) <= ROLES.index(needed)
