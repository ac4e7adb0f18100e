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
import zoneinfo
from typing import Any

import msgspec

from retorno import db
from retorno.brands.rules import ReferralRules
from retorno.brands.service import BrandView
from retorno.customers.tables import Customer
from retorno.errors import NotFound
from retorno.referrals.tables import Device, Referral, ReferralCode

# Hot paths (every sale by a customer, every refund), hand-written: building a query costs more
# than running it (see retorno.db.fetch).
_PENDING = (  # pending_referral, on every sale by a known customer
    "SELECT id, referrer, friend, device FROM referrals "
    "WHERE brand = {} AND friend = {} AND status = 'pending'"
)
_PARTIES = (  # parties_of_sale, on every refund and cancellation
    "SELECT referrer, friend FROM referrals "
    "WHERE brand = {} AND sale = {} AND status IN ('rewarded', 'review')"
)
_EARLIER_SALE = "SELECT id FROM sales WHERE customer = {} AND id <> {} LIMIT 1"  # on_sale
# on_sale's claim: the UPDATE decides only a still pending referral, so of two racing purchases
# one decides (RETURNING says which).
_CLAIM = (
    "UPDATE referrals SET status = {}, reason = {}, sale = {}, decided_at = {} "
    "WHERE id = {} AND status = 'pending' RETURNING id"
)

STATUSES = ("invited", "pending", "review", "rewarded", "not_eligible")
GMAIL = {"gmail.com", "googlemail.com"}


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


class PendingReferral(msgspec.Struct, frozen=True, kw_only=True):
    """A referral waiting for its friend's first purchase."""

    id: int
    referrer: int
    friend: int
    device: str


class UnderReview(msgspec.Struct, frozen=True, kw_only=True):
    """A referral held for review, with the time of the purchase that would reward it."""

    id: int
    referrer: int
    friend: int
    status: str
    occurred_at: dt.datetime


class ReviewItem(msgspec.Struct, frozen=True, kw_only=True):
    """A line of the review queue: who invited whom, and the purchase."""

    id: int
    reason: str
    decided_at: dt.datetime | None
    inviter: str
    friend: str | None
    total: int | None
    order_id: str | None


class FriendInvited(msgspec.Struct, frozen=True, kw_only=True):
    """One of an inviter's friends: first name only, status and reason."""

    id: int
    status: str
    reason: str
    invited_at: dt.datetime
    joined_at: dt.datetime | None
    decided_at: dt.datetime | None
    friend_name: str


def same_person(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """One mailbox, one phone or one CPF. (Within a brand a phone or CPF belongs to one customer,
    so those two matter when an identifier was moved between accounts.)"""
    return (
        same_address(a.get("email"), b.get("email"))
        or bool(a.get("phone") and a.get("phone") == b.get("phone"))
        or bool(a.get("cpf") and a.get("cpf") == b.get("cpf"))
    )


async def _people(*ids: int) -> dict[int, dict[str, Any]]:
    rows = await Customer.select(Customer.id, Customer.email, Customer.phone, Customer.cpf).where(
        Customer.id.is_in(list(ids))
    )
    return {r["id"]: r for r in rows}


async def _verdict(
    brand: BrandView, rules: ReferralRules, referral: PendingReferral, purchase: int, at: dt.datetime
) -> tuple[str, str]:
    """Once per referral (its friend's first purchase): the query builder's cost does not matter."""
    people = await _people(referral.referrer, referral.friend)
    if same_person(people[referral.referrer], people[referral.friend]):
        return "not_eligible", "same_person"
    if purchase < rules.min_first_purchase:
        return "not_eligible", "below_minimum"
    if referral.device:
        reused = await (
            Referral.select(Referral.id)
            .where(
                (Referral.brand == brand.id)
                & (Referral.referrer == referral.referrer)
                & (Referral.device == referral.device)
                & Referral.friend.is_not_null()
                & (Referral.id < referral.id)
            )
            .first()
        )
        if reused is not None:
            return "not_eligible", "device_reused"
        shared = await Device.select(Device.id).where(
            (Device.customer == referral.referrer) & (Device.device == referral.device)
        )
        if shared:
            return "review", "same_device"
    if rules.monthly_cap:
        tz = zoneinfo.ZoneInfo(brand.timezone)
        local = at.astimezone(tz)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        month_end = (month_start.astimezone(tz) + dt.timedelta(days=32)).replace(day=1).astimezone(dt.UTC)
        rewarded = await Referral.count().where(
            (Referral.brand == brand.id)
            & (Referral.referrer == referral.referrer)
            & (Referral.status == "rewarded")
            & (Referral.decided_at >= month_start)
            & (Referral.decided_at < month_end)
        )
        if rewarded >= rules.monthly_cap:
            return "review", "monthly_cap"
    return "rewarded", ""


async def pending_referral(*, brand: BrandView, customer_id: int) -> PendingReferral | None:
    """The referral a purchase by this customer may decide (still pending, and the brand runs a
    programme): the use case locks its inviter with the buyer before the sale is written, then
    hands it to `on_sale`."""
    if brand.rules().referral is None:
        return None
    rows = await db.fetch(_PENDING, brand.id, customer_id)
    return msgspec.convert(rows[0], PendingReferral) if rows else None


async def parties_of_sale(*, brand_id: int, sale_id: int) -> list[int]:
    """The inviter and friend whose rewards a refund of this sale may take back."""
    rows = await db.fetch(_PARTIES, brand_id, sale_id)
    return [r[k] for r in rows for k in ("referrer", "friend")]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A referral's verdict at its friend's first purchase (or a review): who gets what."""

    referral_id: int
    status: str
    reason: str
    referrer: int
    friend: int

    @classmethod
    def of(cls, referral: PendingReferral | UnderReview, status: str, reason: str) -> Decision:
        return cls(
            referral_id=referral.id,
            status=status,
            reason=reason,
            referrer=referral.referrer,
            friend=referral.friend,
        )


async def on_sale(
    *,
    brand: BrandView,
    referral: PendingReferral,
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
    earlier = await db.fetch(_EARLIER_SALE, customer_id, sale_id)
    status, reason = (
        ("not_eligible", "not_first_purchase")
        if earlier
        else await _verdict(brand, rules, referral, purchase, at)
    )
    claimed = await db.fetch(_CLAIM, status, reason, sale_id, now, referral.id)
    if not claimed:  # decided a moment ago by another of this friend's purchases
        return None
    return Decision.of(referral, status, reason)


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
    await Referral.update(
        {Referral.referrer_lot: lots.get("referrer"), Referral.friend_lot: lots.get("friend")}
    ).where(Referral.id == referral_id)


async def under_review(*, brand_id: int, referral_id: int) -> UnderReview:
    """A referral held for review, with its purchase's time: its parties to lock, before deciding."""
    row = await (
        Referral.select(
            Referral.id,
            Referral.referrer,
            Referral.friend,
            Referral.status,
            Referral.sale.occurred_at.as_alias("occurred_at"),
        )
        .where((Referral.brand == brand_id) & (Referral.id == referral_id) & Referral.sale.is_not_null())
        .first()
    )
    if row is None or row["status"] != "review":
        raise NotFound("no referral under review with this id")
    return msgspec.convert(row, UnderReview)


async def decide(*, brand: BrandView, referral: UnderReview, approve: bool, now: dt.datetime) -> Decision:
    """Staff decide a referral held for review (in the caller's transaction, parties locked):
    rewarded, or not eligible; the caller credits a reward."""
    status, reason = ("rewarded", "") if approve else ("not_eligible", "rejected")
    if approve and brand.rules().referral is None:  # the programme ended while it waited
        status, reason = "not_eligible", "no_programme"
    # A claim: only a referral still under review is decided (UPDATE ... RETURNING says if it was).
    decided = await (
        Referral.update({Referral.status: status, Referral.reason: reason, Referral.decided_at: now})
        .where((Referral.id == referral.id) & (Referral.status == "review"))
        .returning(Referral.id)
    )
    if not decided:  # another member of staff decided it a moment ago
        raise NotFound("no referral under review with this id")
    return Decision.of(referral, status, reason)


async def on_refund(*, brand: BrandView, sale_id: int, kept: int, now: dt.datetime) -> list[tuple[int, int]]:
    """A refund or cancellation of a sale (in its transaction): a referral's first purchase that,
    within its return window, no longer reaches the minimum is no longer eligible. Returns the
    rewards' [(customer id, lot id)] for the caller to take back."""
    rules = brand.rules().referral
    rows = await Referral.select(
        Referral.id,
        Referral.referrer,
        Referral.friend,
        Referral.status,
        Referral.referrer_lot,
        Referral.friend_lot,
        Referral.referrer_lot.available_at.as_alias("referrer_available_at"),
        Referral.friend_lot.available_at.as_alias("friend_available_at"),
    ).where(
        (Referral.brand == brand.id)
        & (Referral.sale == sale_id)
        & Referral.status.is_in(["rewarded", "review"])
    )
    if not rows or rules is None or kept >= rules.min_first_purchase:
        return []
    referral = rows[0]
    lots: list[tuple[int, int]] = []
    if referral["status"] == "rewarded":
        # The friend's lot's return window if there is one, else the inviter's.
        available_at = (
            referral["friend_available_at"]
            if referral["friend_lot"] is not None
            else referral["referrer_available_at"]
        )
        if available_at is not None and available_at <= now:
            return []  # after the return window the rewards are the shoppers'
        lots = [
            (customer, lot)
            for customer, lot in (
                (referral["referrer"], referral["referrer_lot"]),
                (referral["friend"], referral["friend_lot"]),
            )
            if lot is not None
        ]
    await Referral.update(
        {Referral.status: "not_eligible", Referral.reason: "refunded", Referral.decided_at: now}
    ).where(Referral.id == referral["id"])
    return lots


async def review_queue(*, brand_id: int) -> list[ReviewItem]:
    """Referrals held for review, oldest first, with who invited whom and the purchase."""
    rows = await (
        Referral.select(
            Referral.id,
            Referral.reason,
            Referral.decided_at,
            Referral.referrer.name.as_alias("inviter"),
            Referral.friend.name.as_alias("friend"),
            Referral.sale.total.as_alias("total"),
            Referral.sale.order_id.as_alias("order_id"),
        )
        .where((Referral.brand == brand_id) & (Referral.status == "review"))
        .order_by(Referral.id)
    )
    return msgspec.convert(rows, list[ReviewItem])


async def status_of(*, brand_id: int, referral_id: int) -> str | None:
    row = await (
        Referral.select(Referral.status)
        .where((Referral.id == referral_id) & (Referral.brand == brand_id))
        .first()
    )
    return row["status"] if row is not None else None


async def of_referrer(*, brand_id: int, customer_id: int) -> list[FriendInvited]:
    """The inviter's friends, newest first: first name only, status and reason."""
    rows = await (
        Referral.select(
            Referral.id,
            Referral.status,
            Referral.reason,
            Referral.invited_at,
            Referral.joined_at,
            Referral.decided_at,
            Referral.friend.name.as_alias("friend_name"),
        )
        .where((Referral.brand == brand_id) & (Referral.referrer == customer_id))
        .order_by(Referral.invited_at, Referral.id, ascending=False)
    )
    return [
        msgspec.convert(row | {"friend_name": (row["friend_name"] or "").split(" ")[0]}, FriendInvited)
        for row in rows
    ]


async def for_export(*, brand_id: int, customer_id: int) -> dict[str, Any]:
    """What the programme holds about a shopper's referrals: a JSON dump by nature (the shopper's
    data export), so plain dicts."""
    code = await (
        ReferralCode.select(ReferralCode.code)
        .where((ReferralCode.brand == brand_id) & (ReferralCode.customer == customer_id))
        .first()
    )
    invited_by = await Referral.select(
        Referral.status, Referral.reason, Referral.joined_at, Referral.decided_at
    ).where((Referral.brand == brand_id) & (Referral.friend == customer_id))
    devices = await (
        Device.select(Device.first_seen, Device.last_seen)
        .where((Device.brand == brand_id) & (Device.customer == customer_id))
        .order_by(Device.id)
    )
    return {
        "referral_code": code["code"] if code is not None else None,
        "friends_invited": [
            {k: v for k, v in msgspec.structs.asdict(r).items() if k != "id"}
            for r in await of_referrer(brand_id=brand_id, customer_id=customer_id)
        ],
        "invited_by": invited_by,
        "devices": devices,
    }


async def forget(*, customer_id: int) -> None:
    """Account deletion (in its transaction): the code dies, devices and device hashes go."""
    await ReferralCode.delete().where(ReferralCode.customer == customer_id)
    await Device.delete().where(Device.customer == customer_id)
    await Referral.update({Referral.device: ""}).where(Referral.friend == customer_id)
