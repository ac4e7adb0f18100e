"""Invite a friend: a code per shopper, the friends it brought, rewards with fraud checks.

The life of a referral:
- `invited`: someone opened `/r/<code>` on a device (its cookie is kept as a hash);
- `pending`: that person joined; the attribution cookie (30 days) carried the code to `/join`;
- at the friend's first purchase it is decided:
  - `rewarded`: both rewards credited as cashback, available with that purchase's return window;
  - `review` (em análise): held for staff, because the inviter is over `monthly_cap` this month
    (`monthly_cap`) or the friend used a device the inviter signs in from (`same_device`);
  - `not_eligible`: the same person (`same_person`: e-mail equal after normalising case, Gmail
    dots and +tags, the same phone or CPF), a device that already brought another friend of this
    inviter (`device_reused`), someone who was already a customer (`existing_customer`), or a
    first purchase below the minimum (`below_minimum`).
- A refund within the return window that leaves the purchase below the minimum (or a
  cancellation) takes both rewards back (`not_eligible`, `refunded`).
Only a customer's first purchase counts, and a friend is referred at most once per brand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import zoneinfo
from typing import Any

import msgspec

from retorno import db
from retorno.brands.rules import ReferralRules
from retorno.brands.service import BrandView
from retorno.errors import NotFound
from retorno.referrals.tables import Device, Referral, ReferralCode

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEVICE_COOKIE = "retorno_device"
REF_COOKIE = "retorno_ref"
REF_DAYS = 30
STATUSES = ("invited", "pending", "review", "rewarded", "not_eligible")
GMAIL = {"gmail.com", "googlemail.com"}


def device_hash(raw: str | None) -> str:
    return hashlib.sha256(raw.encode()).hexdigest() if raw else ""


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


def normalize_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())[:CODE_LENGTH]


def same_address(a: str | None, b: str | None) -> bool:
    """Equal after normalising: case, and the +tags and (at Gmail) dots that reach one mailbox."""

    def canonical(email: str) -> str:
        local, _, domain = email.strip().lower().rpartition("@")
        local = local.split("+", 1)[0]
        if domain in GMAIL:
            local, domain = local.replace(".", ""), "gmail.com"
        return f"{local}@{domain}"

    if not a or not b:
        return False
    return canonical(a) == canonical(b)


def same_person(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """One mailbox, one phone or one CPF. (Within a brand a phone or CPF belongs to one customer,
    so those two matter when an identifier was moved between accounts.)"""
    return (
        same_address(a.get("email"), b.get("email"))
        or bool(a.get("phone") and a.get("phone") == b.get("phone"))
        or bool(a.get("cpf") and a.get("cpf") == b.get("cpf"))
    )


async def code_of(*, brand_id: int, customer_id: int, now: dt.datetime) -> str:
    """The shopper's referral code, made on first use."""
    rows = await db.fetch(
        "SELECT code FROM referral_codes WHERE brand = {} AND customer = {}", brand_id, customer_id
    )
    if rows:
        return rows[0]["code"]

    async def work() -> str:
        again = await db.fetch(
            "SELECT code FROM referral_codes WHERE brand = {} AND customer = {}", brand_id, customer_id
        )
        if again:
            return again[0]["code"]
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        await db.insert(ReferralCode, brand=brand_id, customer=customer_id, code=code, created_at=now)
        return code

    return await db.write(work)


async def referrer_of(*, brand_id: int, code: str) -> dict[str, Any]:
    """Who owns a code at this brand (a code of another brand means nothing here)."""
    rows = await db.fetch(
        "SELECT c.id, c.name FROM referral_codes r JOIN customers c ON c.id = r.customer "
        "WHERE r.brand = {} AND r.code = {} AND c.forgotten_at IS NULL",
        brand_id,
        normalize_code(code),
    )
    if not rows:
        raise NotFound("this invitation link is not valid")
    return rows[0]


async def opened(*, brand_id: int, code: str, device: str, now: dt.datetime) -> dict[str, Any]:
    """Someone opened an invitation on a device: the inviter sees `invited` (once per device)."""
    referrer = await referrer_of(brand_id=brand_id, code=code)

    async def work() -> None:
        seen = await db.fetch(
            "SELECT id FROM referrals WHERE brand = {} AND referrer = {} AND device = {}",
            brand_id,
            referrer["id"],
            device,
        )
        if not seen:
            await db.insert(
                Referral,
                brand=brand_id,
                referrer=referrer["id"],
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
        updated = await db.fetch(
            "UPDATE customer_devices SET last_seen = {} WHERE customer = {} AND device = {} RETURNING id",
            now,
            customer_id,
            device,
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
    already = await db.fetch("SELECT id FROM referrals WHERE brand = {} AND friend = {}", brand_id, friend_id)
    if already:
        return
    status, reason = "pending", ""
    if referrer["id"] == friend_id:
        status, reason = "not_eligible", "same_person"
    elif existed:
        status, reason = "not_eligible", "existing_customer"
    rows = await db.fetch(
        "SELECT id FROM referrals WHERE brand = {} AND referrer = {} AND device = {} AND friend IS NULL "
        "ORDER BY id LIMIT 1",
        brand_id,
        referrer["id"],
        device,
    )
    decided = now if status == "not_eligible" else None
    if rows and device:
        await db.fetch(
            "UPDATE referrals SET friend = {}, status = {}, reason = {}, joined_at = {}, decided_at = {} "
            "WHERE id = {}",
            friend_id,
            status,
            reason,
            now,
            decided,
            rows[0]["id"],
        )
    else:
        await db.insert(
            Referral,
            brand=brand_id,
            referrer=referrer["id"],
            friend=friend_id,
            device=device,
            status=status,
            reason=reason,
            invited_at=now,
            joined_at=now,
            decided_at=decided,
        )


async def _people(*ids: int) -> dict[int, dict[str, Any]]:
    marks = ", ".join("{}" for _ in ids)
    rows = await db.fetch(f"SELECT id, email, phone, cpf FROM customers WHERE id IN ({marks})", *ids)  # noqa: S608
    return {r["id"]: r for r in rows}


async def _verdict(
    brand: BrandView, rules: ReferralRules, referral: dict[str, Any], purchase: int, at: dt.datetime
) -> tuple[str, str]:
    people = await _people(referral["referrer"], referral["friend"])
    if same_person(people[referral["referrer"]], people[referral["friend"]]):
        return "not_eligible", "same_person"
    if purchase < rules.min_first_purchase:
        return "not_eligible", "below_minimum"
    if referral["device"]:
        reused = await db.fetch(
            "SELECT id FROM referrals WHERE brand = {} AND referrer = {} AND device = {} "
            "AND friend IS NOT NULL AND id < {} LIMIT 1",
            brand.id,
            referral["referrer"],
            referral["device"],
            referral["id"],
        )
        if reused:
            return "not_eligible", "device_reused"
        shared = await db.fetch(
            "SELECT id FROM customer_devices WHERE customer = {} AND device = {}",
            referral["referrer"],
            referral["device"],
        )
        if shared:
            return "review", "same_device"
    if rules.monthly_cap:
        tz = zoneinfo.ZoneInfo(brand.timezone)
        local = at.astimezone(tz)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        month_end = (month_start.astimezone(tz) + dt.timedelta(days=32)).replace(day=1).astimezone(dt.UTC)
        rewarded = await db.fetch(
            "SELECT COUNT(*) AS n FROM referrals WHERE brand = {} AND referrer = {} AND status = 'rewarded' "
            "AND decided_at >= {} AND decided_at < {}",
            brand.id,
            referral["referrer"],
            month_start,
            month_end,
        )
        if rewarded[0]["n"] >= rules.monthly_cap:
            return "review", "monthly_cap"
    return "rewarded", ""


async def pending_referral(*, brand: BrandView, customer_id: int) -> dict[str, Any] | None:
    """The referral a purchase by this customer may decide (still pending, and the brand runs a
    programme): the use case locks its inviter with the buyer before the sale is written, then
    hands it to `on_sale`."""
    if brand.rules().referral is None:
        return None
    rows = await db.fetch(
        "SELECT id, referrer, friend, device FROM referrals "
        "WHERE brand = {} AND friend = {} AND status = 'pending'",
        brand.id,
        customer_id,
    )
    return rows[0] if rows else None


async def parties_of_sale(*, brand_id: int, sale_id: int) -> list[int]:
    """The inviter and friend whose rewards a refund of this sale may take back."""
    rows = await db.fetch(
        "SELECT referrer, friend FROM referrals WHERE brand = {} AND sale = {} "
        "AND status IN ('rewarded', 'review')",
        brand_id,
        sale_id,
    )
    return [r[k] for r in rows for k in ("referrer", "friend")]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A referral's verdict at its friend's first purchase (or a review): who gets what."""

    referral_id: int
    status: str
    reason: str
    referrer: int
    friend: int


async def on_sale(
    *,
    brand: BrandView,
    referral: dict[str, Any],
    customer_id: int,
    sale_id: int,
    purchase: int,
    at: dt.datetime,
    now: dt.datetime,
) -> Decision | None:
    """A sale by a referred friend was recorded (in its transaction, buyer and inviter locked):
    if it is their first, decide. The decision is claimed (the referral must still be pending), so
    a second sale racing the first decides nothing. The caller credits a `rewarded` decision's
    rewards (see `retorno.sales.rewards`)."""
    rules = brand.rules().referral
    if rules is None:
        return None
    earlier = await db.fetch(
        "SELECT id FROM sales WHERE customer = {} AND id <> {} LIMIT 1", customer_id, sale_id
    )
    status, reason = (
        ("not_eligible", "not_first_purchase")
        if earlier
        else await _verdict(brand, rules, referral, purchase, at)
    )
    claimed = await db.fetch(
        "UPDATE referrals SET status = {}, reason = {}, sale = {}, decided_at = {} "
        "WHERE id = {} AND status = 'pending' RETURNING id",
        status,
        reason,
        sale_id,
        now,
        referral["id"],
    )
    if not claimed:  # decided a moment ago by another of this friend's purchases
        return None
    return Decision(
        referral_id=referral["id"],
        status=status,
        reason=reason,
        referrer=referral["referrer"],
        friend=referral["friend"],
    )


def rewards_of(brand: BrandView, decision: Decision) -> list[tuple[str, int, int]]:
    """[(role, customer id, amount)] a rewarded referral credits, by the brand's current rules."""
    rules = brand.rules().referral
    if rules is None:
        return []
    return [
        (role, customer, amount)
        for role, customer, amount in (
            ("referrer", decision.referrer, rules.referrer_reward),
            ("friend", decision.friend, rules.friend_reward),
        )
        if amount > 0
    ]


async def rewarded_with(*, referral_id: int, lots: dict[str, int]) -> None:
    """Remember the lots that paid a referral's rewards, so a refund can take them back."""
    await db.fetch(
        "UPDATE referrals SET referrer_lot = {}, friend_lot = {} WHERE id = {}",
        lots.get("referrer"),
        lots.get("friend"),
        referral_id,
    )


async def under_review(*, brand_id: int, referral_id: int) -> dict[str, Any]:
    """A referral held for review, with its purchase's time: its parties to lock, before deciding."""
    rows = await db.fetch(
        "SELECT r.id, r.referrer, r.friend, r.status, s.occurred_at FROM referrals r "
        "JOIN sales s ON s.id = r.sale WHERE r.brand = {} AND r.id = {}",
        brand_id,
        referral_id,
    )
    if not rows or rows[0]["status"] != "review":
        raise NotFound("no referral under review with this id")
    return rows[0]


async def decide(*, brand: BrandView, referral: dict[str, Any], approve: bool, now: dt.datetime) -> Decision:
    """Staff decide a referral held for review (in the caller's transaction, parties locked):
    rewarded, or not eligible; the caller credits a reward."""
    status, reason = ("rewarded", "") if approve else ("not_eligible", "rejected")
    if approve and brand.rules().referral is None:  # the programme ended while it waited
        status, reason = "not_eligible", "no_programme"
    decided = await db.fetch(
        "UPDATE referrals SET status = {}, reason = {}, decided_at = {} "
        "WHERE id = {} AND status = 'review' RETURNING id",
        status,
        reason,
        now,
        referral["id"],
    )
    if not decided:  # another member of staff decided it a moment ago
        raise NotFound("no referral under review with this id")
    return Decision(
        referral_id=referral["id"],
        status=status,
        reason=reason,
        referrer=referral["referrer"],
        friend=referral["friend"],
    )


async def on_refund(*, brand: BrandView, sale_id: int, kept: int, now: dt.datetime) -> list[tuple[int, int]]:
    """A refund or cancellation of a sale (in its transaction): a referral's first purchase that,
    within its return window, no longer reaches the minimum is no longer eligible. Returns the
    rewards' [(customer id, lot id)] for the caller to take back."""
    rules = brand.rules().referral
    rows = await db.fetch(
        "SELECT r.id, r.referrer, r.friend, r.status, r.referrer_lot, r.friend_lot, l.available_at "
        "FROM referrals r LEFT JOIN ledger_lots l ON l.id = COALESCE(r.friend_lot, r.referrer_lot) "
        "WHERE r.brand = {} AND r.sale = {} AND r.status IN ('rewarded', 'review')",
        brand.id,
        sale_id,
    )
    if not rows or rules is None or kept >= rules.min_first_purchase:
        return []
    referral = rows[0]
    lots: list[tuple[int, int]] = []
    if referral["status"] == "rewarded":
        if referral["available_at"] is not None and referral["available_at"] <= now:
            return []  # after the return window the rewards are the shoppers'
        lots = [
            (customer, lot)
            for customer, lot in (
                (referral["referrer"], referral["referrer_lot"]),
                (referral["friend"], referral["friend_lot"]),
            )
            if lot is not None
        ]
    await db.fetch(
        "UPDATE referrals SET status = 'not_eligible', reason = 'refunded', decided_at = {} WHERE id = {}",
        now,
        referral["id"],
    )
    return lots


async def review_queue(*, brand_id: int) -> list[dict[str, Any]]:
    """Referrals held for review, oldest first, with who invited whom and the purchase."""
    return await db.fetch(
        "SELECT r.id, r.reason, r.decided_at, i.name AS inviter, f.name AS friend, s.total, s.order_id "
        "FROM referrals r JOIN customers i ON i.id = r.referrer LEFT JOIN customers f ON f.id = r.friend "
        "LEFT JOIN sales s ON s.id = r.sale WHERE r.brand = {} AND r.status = 'review' ORDER BY r.id",
        brand_id,
    )


async def status_of(*, brand_id: int, referral_id: int) -> str | None:
    rows = await db.fetch("SELECT status FROM referrals WHERE id = {} AND brand = {}", referral_id, brand_id)
    return rows[0]["status"] if rows else None


async def of_referrer(*, brand_id: int, customer_id: int) -> list[dict[str, Any]]:
    """The inviter's friends, newest first: first name only, status and reason."""
    rows = await db.fetch(
        "SELECT r.id, r.status, r.reason, r.invited_at, r.joined_at, r.decided_at, c.name AS friend_name "
        "FROM referrals r LEFT JOIN customers c ON c.id = r.friend "
        "WHERE r.brand = {} AND r.referrer = {} ORDER BY r.invited_at DESC, r.id DESC",
        brand_id,
        customer_id,
    )
    for row in rows:
        row["friend_name"] = (row["friend_name"] or "").split(" ")[0]
    return rows


async def for_export(*, brand_id: int, customer_id: int) -> dict[str, Any]:
    code = await db.fetch(
        "SELECT code FROM referral_codes WHERE brand = {} AND customer = {}", brand_id, customer_id
    )
    invited_by = await db.fetch(
        "SELECT status, reason, joined_at, decided_at FROM referrals WHERE brand = {} AND friend = {}",
        brand_id,
        customer_id,
    )
    devices = await db.fetch(
        "SELECT first_seen, last_seen FROM customer_devices WHERE brand = {} AND customer = {} ORDER BY id",
        brand_id,
        customer_id,
    )
    return {
        "referral_code": code[0]["code"] if code else None,
        "friends_invited": [
            {k: v for k, v in r.items() if k != "id"}
            for r in await of_referrer(brand_id=brand_id, customer_id=customer_id)
        ],
        "invited_by": invited_by,
        "devices": devices,
    }


async def forget(*, customer_id: int) -> None:
    """Account deletion (in its transaction): the code dies, devices and device hashes go."""
    await db.fetch("DELETE FROM referral_codes WHERE customer = {}", customer_id)
    await db.fetch("DELETE FROM customer_devices WHERE customer = {}", customer_id)
    await db.fetch("UPDATE referrals SET device = '' WHERE friend = {}", customer_id)
