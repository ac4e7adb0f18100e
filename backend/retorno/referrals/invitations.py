"""Invitations: a shopper's code, a link opened on a device (its cookie kept as a hash), and the
friend who joined through it (`attach`, in the join's transaction). What the friend's first
purchase decides is `referrals.service`."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import msgspec

from retorno import db
from retorno.errors import NotFound
from retorno.outbox import service as outbox
from retorno.referrals.tables import Device, Referral, ReferralCode

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEVICE_COOKIE = "retorno_device"
REF_COOKIE = "retorno_ref"
REF_DAYS = 30


def device_hash(raw: str | None) -> str:
    return hashlib.sha256(raw.encode()).hexdigest() if raw else ""


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


def normalize_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())[:CODE_LENGTH]


class Referrer(msgspec.Struct, frozen=True, kw_only=True):
    """The shopper who owns an invitation code."""

    id: int
    name: str


async def code_of(*, brand_id: int, customer_id: int, now: dt.datetime) -> str:
    """The shopper's referral code, made on first use."""
    mine = ReferralCode.select(ReferralCode.code).where(
        (ReferralCode.brand == brand_id) & (ReferralCode.customer == customer_id)
    )
    row = await mine.first()
    if row is not None:
        return row["code"]

    async def work() -> str:
        again = await mine.first()
        if again is not None:
            return again["code"]
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        await db.insert(ReferralCode, brand=brand_id, customer=customer_id, code=code, created_at=now)
        return code

    return await db.write(work)


async def referrer_of(*, brand_id: int, code: str) -> Referrer:
    """Who owns a code at this brand (a code of another brand means nothing here)."""
    row = await (
        ReferralCode.select(ReferralCode.customer.as_alias("id"), ReferralCode.customer.name.as_alias("name"))
        .where(
            (ReferralCode.brand == brand_id)
            & (ReferralCode.code == normalize_code(code))
            & ReferralCode.customer.forgotten_at.is_null()
        )
        .first()
    )
    if row is None:
        raise NotFound("this invitation link is not valid")
    return msgspec.convert(row, Referrer)


async def opened(*, brand_id: int, code: str, device: str, now: dt.datetime) -> Referrer:
    """Someone opened an invitation on a device: the inviter sees `invited` (once per device)."""
    referrer = await referrer_of(brand_id=brand_id, code=code)

    async def work() -> None:
        seen = await (
            Referral.select(Referral.id)
            .where(
                (Referral.brand == brand_id)
                & (Referral.referrer == referrer.id)
                & (Referral.device == device)
            )
            .first()
        )
        if seen is None:
            await db.insert(
                Referral,
                brand=brand_id,
                referrer=referrer.id,
                device=device,
                status="invited",
                invited_at=now,
            )

    if device:
        await db.write(work)
    return referrer


async def note_device(*, brand_id: int, customer_id: int, device: str, now: dt.datetime) -> None:
    """Remember that a shopper signed in from this device (for the same-device check)."""
    if not device:
        return

    async def work() -> None:
        updated = await (
            Device.update({Device.last_seen: now})
            .where((Device.customer == customer_id) & (Device.device == device))
            .returning(Device.id)
        )
        if not updated:
            await db.insert(
                Device, brand=brand_id, customer=customer_id, device=device, first_seen=now, last_seen=now
            )

    await db.write(work)


async def attach(
    *, brand_id: int, code: str, friend_id: int, existed: bool, device: str, now: dt.datetime
) -> None:
    """A friend joined through an invitation (in the join's transaction)."""
    try:
        referrer = await referrer_of(brand_id=brand_id, code=code)
    except NotFound:
        return
    already = await Referral.select(Referral.id).where(
        (Referral.brand == brand_id) & (Referral.friend == friend_id)
    )
    if already:
        return
    status, reason = "pending", ""
    if referrer.id == friend_id:
        status, reason = "not_eligible", "same_person"
    elif existed:
        status, reason = "not_eligible", "existing_customer"
    opened_here = await (
        Referral.select(Referral.id)
        .where(
            (Referral.brand == brand_id)
            & (Referral.referrer == referrer.id)
            & (Referral.device == device)
            & Referral.friend.is_null()
        )
        .order_by(Referral.id)
        .first()
    )
    decided = now if status == "not_eligible" else None
    if opened_here is not None and device:
        await Referral.update(
            {
                Referral.friend: friend_id,
                Referral.status: status,
                Referral.reason: reason,
                Referral.joined_at: now,
                Referral.decided_at: decided,
            }
        ).where(Referral.id == opened_here["id"])
    else:
        await db.insert(
            Referral,
            brand=brand_id,
            referrer=referrer.id,
            friend=friend_id,
            device=device,
            status=status,
            reason=reason,
            invited_at=now,
            joined_at=now,
            decided_at=decided,
        )
    if status == "pending":  # the referrer hears of it (retorno/messages: "A friend joined")
        await outbox.emit(
            brand_id=brand_id,
            kind="referral.joined",
            now=now,
            dedupe_key=f"referral-joined:{friend_id}",
            payload={"customer_id": referrer.id, "friend_id": friend_id},
        )
