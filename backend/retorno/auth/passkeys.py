"""Passkeys (WebAuthn, py_webauthn): registering them, signing in with them, listing and removing.

A passkey belongs to a shopper of a brand or to a staff member (`Owner`). The relying party is
the host it was made on, so a passkey made at one brand is useless at another. Challenges are
32 random bytes kept server-side (found by their hash), used once, valid 5 minutes. Nothing here
logs key material.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
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
from retorno.auth.common import PasskeyRefused, sha256
from retorno.auth.tables import Challenge, Passkey
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import Invalid, NotFound

log = logging.getLogger("retorno.auth")

CHALLENGE_TTL = dt.timedelta(minutes=5)


class Owner(msgspec.Struct, frozen=True):
    """Whose passkeys: a shopper of a brand (on its host), or a staff member (on the platform host)."""

    brand_id: int | None = None
    customer_id: int | None = None
    staff_id: int | None = None

    @property
    def id(self) -> int:
        # An Owner holds one of the two ids (customer_id or staff_id), so this is never None.
        return self.customer_id if self.customer_id is not None else self.staff_id  # type: ignore[return-value]

    @property
    def user_handle(self) -> bytes:
        """WebAuthn's user.id: no personal data, and a staff handle never equals a shopper's."""
        return (
            str(self.customer_id).encode()
            if self.customer_id is not None
            else f"staff:{self.staff_id}".encode()
        )


class PasskeyView(msgspec.Struct, frozen=True, kw_only=True):
    """A passkey as its owner sees it in their list (and in their data export)."""

    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def _owned_by(owner: Owner) -> Any:
    """The passkeys of this owner (the shopper's, or the staff member's)."""
    return Passkey.customer == owner.id if owner.customer_id is not None else Passkey.staff == owner.id


def _of_brand(column: Any, brand_id: int | None) -> Any:
    """Rows of this brand, or of the platform host (no brand) when brand_id is None."""
    return column.is_null() if not brand_id else column == brand_id


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
            challenge_hash=sha256(challenge),
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
    rows = await db.write(  # one statement: two responses to one challenge cannot both take it
        lambda: (
            Challenge.update({Challenge.used_at: now})
            .where(
                (Challenge.challenge_hash == sha256(challenge))
                & Challenge.used_at.is_null()
                & (Challenge.expires_at > now)
                & _of_brand(Challenge.brand, brand_id)
                & (Challenge.purpose == purpose)
            )
            .returning(Challenge.customer, Challenge.staff)
            .run()
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
    existing = await Passkey.select(Passkey.credential_id).where(_owned_by(owner))
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
        if await Passkey.exists().where(Passkey.credential_id == credential_id):
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
    key = (
        await Passkey.select(
            Passkey.id, Passkey.customer, Passkey.staff, Passkey.public_key, Passkey.sign_count
        )
        .where(
            (Passkey.credential_id == str(credential.get("rawId") or credential.get("id") or ""))
            & _of_brand(Passkey.brand, brand_id)
        )
        .first()
    )
    if key is None:
        raise PasskeyRefused()
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
        lambda: (
            Passkey.update({Passkey.sign_count: verified.new_sign_count, Passkey.last_used_at: now})
            .where(Passkey.id == key["id"])
            .run()
        )
    )
    return owner


async def passkeys_of(owner: Owner) -> list[PasskeyView]:
    rows = (
        await Passkey.select(Passkey.id, Passkey.name, Passkey.created_at, Passkey.last_used_at)
        .where(_owned_by(owner))
        .order_by(Passkey.id)
    )
    return [PasskeyView(**row) for row in rows]


async def rename_passkey(*, owner: Owner, passkey_id: int, name: str) -> None:
    name = name.strip()[:60]
    if not name:
        raise Invalid("Give the passkey a name.")
    renamed = db.write(
        lambda: (
            Passkey.update({Passkey.name: name})
            .where((Passkey.id == passkey_id) & _owned_by(owner))
            .returning(Passkey.id)
            .run()
        )
    )
    if not await renamed:
        raise NotFound("no such passkey")


async def remove_passkey(*, owner: Owner, passkey_id: int) -> None:
    removed = db.write(
        lambda: (
            Passkey.delete().where((Passkey.id == passkey_id) & _owned_by(owner)).returning(Passkey.id).run()
        )
    )
    if not await removed:
        raise NotFound("no such passkey")
