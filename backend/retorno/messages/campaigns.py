"""Campaigns: an audience the manager builds, a holdout group chosen at random and not sent it,
any channel, sent now or at a set time, and a report of what it really brought back.

The report compares, over the days after sending, the purchase rate and the revenue per shopper
of those who were sent it against the holdout: the difference is the campaign's effect (the
holdout bought too, without it), with a 95% confidence interval from the normal approximation
(difference of two proportions; Welch's for the difference of two means).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import msgspec

from retorno import db
from retorno.errors import Conflict, Field, Invalid, NotFound
from retorno.messages import settings as message_settings
from retorno.messages import texts
from retorno.messages.tables import Campaign
from retorno.outbox import service as outbox

Z95 = 1.959964  # the standard normal's 97.5th percentile
_random = random.SystemRandom()


class Audience(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who a campaign is for; every rule given must hold (an empty audience is every shopper)."""

    min_balance: int | None = None  # centavos of available cashback, at least
    bought_more_than: int | None = None  # days since the last purchase, more than
    bought_less_than: int | None = None  # days since the last purchase, fewer than
    segment: str = ""
    category: str = ""  # bought something of this category, ever
    channel: str = ""  # consented to this channel (push: has a device)


class CampaignView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    channels: list[str]
    texts: dict[str, dict[str, str]]
    url: str
    audience: Audience
    holdout_bp: int
    state: str
    send_at: dt.datetime
    sent_at: dt.datetime | None
    members: int
    held_out: int
    created_at: dt.datetime


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """One side of the comparison: shoppers, how many bought, revenue and its sum of squares."""

    shoppers: int
    buyers: int
    revenue: int  # centavos
    revenue_squares: int  # sum over shoppers of (their revenue)^2, for the variance

    @property
    def rate(self) -> float:
        return self.buyers / self.shoppers if self.shoppers else 0.0

    @property
    def mean(self) -> float:
        return self.revenue / self.shoppers if self.shoppers else 0.0

    @property
    def variance(self) -> float:
        """The sample variance of revenue per shopper."""
        n = self.shoppers
        if n < 2:
            return 0.0
        return max(0.0, (self.revenue_squares - self.revenue**2 / n) / (n - 1))


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    """A difference (sent minus holdout) with its 95% confidence interval."""

    difference: float
    low: float
    high: float

    @property
    def certain(self) -> bool:
        """The interval leaves out zero: the effect is unlikely to be chance."""
        return self.low > 0 or self.high < 0


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    sent: Group
    holdout: Group
    rate: Effect  # purchase rate, as a fraction
    revenue: Effect  # revenue per shopper, centavos
    incremental_revenue: int  # the revenue effect times the shoppers sent it, centavos


def compare(sent: Group, holdout: Group) -> Comparison:
    """The campaign's effect: purchase rate and revenue per shopper, sent against holdout."""
    p1, p0 = sent.rate, holdout.rate
    rate_se = (
        math.sqrt(p1 * (1 - p1) / sent.shoppers + p0 * (1 - p0) / holdout.shoppers)
        if sent.shoppers and holdout.shoppers
        else 0.0
    )
    m1, m0 = sent.mean, holdout.mean
    mean_se = (
        math.sqrt(sent.variance / sent.shoppers + holdout.variance / holdout.shoppers)
        if sent.shoppers and holdout.shoppers
        else 0.0
    )
    rate = Effect(difference=p1 - p0, low=p1 - p0 - Z95 * rate_se, high=p1 - p0 + Z95 * rate_se)
    revenue = Effect(difference=m1 - m0, low=m1 - m0 - Z95 * mean_se, high=m1 - m0 + Z95 * mean_se)
    return Comparison(
        sent=sent,
        holdout=holdout,
        rate=rate,
        revenue=revenue,
        incremental_revenue=round((m1 - m0) * sent.shoppers),
    )


# --- the audience --------------------------------------------------------------------------------


def _audience_sql(brand_id: int, audience: Audience, now: dt.datetime) -> tuple[str, list[Any]]:
    """The shoppers of an audience, as a SELECT of ids (conditions appended, values as parameters)."""
    sql = "SELECT c.id FROM customers c WHERE c.brand = {} AND c.forgotten_at IS NULL"
    args: list[Any] = [brand_id]
    if audience.segment:
        sql += " AND c.segment = {}"
        args.append(audience.segment)
    if audience.min_balance is not None:
        sql += (
            " AND (SELECT COALESCE(SUM(l.remaining), 0) FROM ledger_lots l WHERE l.customer = c.id "
            "AND l.unit = 'brl' AND l.available_at <= {} "
            "AND (l.expires_at IS NULL OR l.expires_at > {})) >= {}"
        )
        args += [now, now, audience.min_balance]
    last = "(SELECT MAX(s.occurred_at) FROM sales s WHERE s.customer = c.id AND s.cancelled_at IS NULL)"
    if audience.bought_more_than is not None:
        sql += f" AND {last} < {{}}"
        args.append(now - dt.timedelta(days=audience.bought_more_than))
    if audience.bought_less_than is not None:
        sql += f" AND {last} > {{}}"
        args.append(now - dt.timedelta(days=audience.bought_less_than))
    if audience.category:
        items = "s.items::text" if db.is_postgres() else "s.items"
        pattern = msgspec.json.encode(audience.category).decode()
        pattern = ('%"category": ' if db.is_postgres() else '%"category":') + pattern + "%"
        sql += (
            f" AND EXISTS (SELECT 1 FROM sales s WHERE s.customer = c.id AND s.cancelled_at IS NULL "  # noqa: S608
            f"AND {items} LIKE {{}})"
        )
        args.append(pattern)
    if audience.channel == "push":
        sql += " AND EXISTS (SELECT 1 FROM push_subscriptions p WHERE p.customer = c.id)"
    if audience.channel in ("push", "email", "whatsapp"):
        sql += (
            " AND (SELECT k.granted FROM consents k WHERE k.customer = c.id AND k.kind = {} "
            "ORDER BY k.id DESC LIMIT 1) = {}"
        )
        args += [audience.channel, True]
    return sql, args


def check_audience(audience: Audience) -> Audience:
    for name in ("min_balance", "bought_more_than", "bought_less_than"):
        value = getattr(audience, name)
        if value is not None and not 0 <= value <= 10**10:
            raise Invalid("%(field)s: a number from 0", field=Field(name))
    if audience.channel not in ("", "push", "email", "whatsapp"):
        raise Invalid("%(field)s: push, e-mail or WhatsApp", field=Field("channel"))
    if len(audience.segment) > 40 or len(audience.category) > 100:
        raise Invalid("%(field)s: too long", field=Field("segment"))
    return audience


async def audience_size(*, brand_id: int, audience: Audience, now: dt.datetime) -> int:
    sql, args = _audience_sql(brand_id, check_audience(audience), now)
    rows = await db.fetch_heavy(f"SELECT COUNT(*) AS n FROM ({sql}) a", *args)  # noqa: S608 - ours
    return rows[0]["n"]


# --- composing and sending ---------------------------------------------------------------------


def check_texts(written: dict[str, dict[str, str]], channels: list[str]) -> dict[str, dict[str, str]]:
    clean = texts.check(texts.CAMPAIGN, written, channels)
    return {channel: fields for channel, fields in clean.items() if channel in channels}


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign as the manager composed it, before it is checked and saved."""

    name: str
    channels: list[str]
    written: dict[str, dict[str, str]]  # {channel: {field: text}}, in the brand's language
    url: str = "/"
    audience: Audience = Audience()
    holdout_bp: int = 1000
    send_at: dt.datetime | None = None  # None: at the worker's next pass


def check(draft: Draft, *, now: dt.datetime) -> Draft:
    """The draft as it may be saved (the admin checks it before asking for a confirmation), its
    name trimmed and its texts kept to its channels; Invalid naming the field otherwise."""
    name = draft.name.strip()
    if not name or len(name) > 120:
        raise Invalid("%(field)s: a name of at most 120 characters", field=Field("name"))
    chosen = message_settings.check_channels(draft.channels)
    clean = check_texts(draft.written, chosen)
    url = draft.url
    if not url.startswith("/") or url.startswith("//") or len(url) > 200:
        raise Invalid("%(field)s: a path in the app, such as /vouchers", field=Field("url"))
    if not 0 <= draft.holdout_bp <= 5000:
        raise Invalid("%(field)s: from 0%% to 50%%", field=Field("holdout"))
    if draft.send_at is not None and draft.send_at < now - dt.timedelta(minutes=1):
        raise Invalid("%(field)s: a time still to come", field=Field("send_at"))
    check_audience(draft.audience)
    return msgspec.structs.replace(draft, name=name, channels=chosen, written=clean)


async def create(*, brand_id: int, draft: Draft, now: dt.datetime) -> int:
    """A campaign, checked, to go at its time."""
    clean = check(draft, now=now)

    async def work() -> int:
        return await db.insert(
            Campaign,
            brand=brand_id,
            name=clean.name,
            channels=",".join(clean.channels),
            texts=msgspec.json.encode(clean.written).decode(),
            url=clean.url,
            audience=msgspec.json.encode(clean.audience).decode(),
            holdout_bp=clean.holdout_bp,
            state="scheduled",
            send_at=clean.send_at or now,
            members=0,
            held_out=0,
            created_at=now,
        )

    return await db.write(work)


async def cancel(*, brand_id: int, campaign_id: int) -> None:
    """A scheduled campaign will not go (cancelling it again changes nothing); a sent one cannot be
    taken back."""
    done = await db.fetch(
        "UPDATE message_campaigns SET state = 'cancelled' WHERE id = {} AND brand = {} "
        "AND state IN ('scheduled', 'cancelled') RETURNING id",
        campaign_id,
        brand_id,
    )
    if not done:
        await campaign(brand_id=brand_id, campaign_id=campaign_id)  # another brand's: NotFound
        raise Conflict("campaign %(id)s was already sent", id=campaign_id)


async def send_due(*, now: dt.datetime) -> int:
    """Campaigns whose time came: the audience as it is now, a random holdout kept out, the rest
    fanned out through the outbox. One transaction each; a campaign is claimed by one UPDATE, so
    two workers never send it twice."""
    due = await db.fetch(
        "SELECT id FROM message_campaigns WHERE state = 'scheduled' AND send_at <= {} ORDER BY id", now
    )
    sent = 0
    for row in due:

        async def work(campaign_id: int = row["id"]) -> bool:
            claimed = await db.fetch(
                "UPDATE message_campaigns SET state = 'sent', sent_at = {} WHERE id = {} "
                "AND state = 'scheduled' "
                "RETURNING brand, audience, holdout_bp",
                now,
                campaign_id,
            )
            if not claimed:
                return False
            campaign = claimed[0]
            audience = msgspec.json.decode(campaign["audience"], type=Audience)
            sql, args = _audience_sql(campaign["brand"], audience, now)
            ids = [r["id"] for r in await db.fetch(sql + " ORDER BY c.id", *args)]
            held = set(_random.sample(ids, round(len(ids) * campaign["holdout_bp"] / 10000)))
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                await db.fetch(
                    "INSERT INTO message_campaign_members (brand, campaign, customer, holdout) VALUES "  # noqa: S608
                    + ", ".join("({}, {}, {}, {})" for _ in chunk),
                    *(v for c in chunk for v in (campaign["brand"], campaign_id, c, c in held)),
                )
            await outbox.emit(
                brand_id=campaign["brand"], kind="campaign", now=now, payload={"campaign_id": campaign_id}
            )
            await db.fetch(
                "UPDATE message_campaigns SET members = {}, held_out = {} WHERE id = {}",
                len(ids),
                len(held),
                campaign_id,
            )
            return True

        sent += await db.write(work)
    return sent


# --- reading -----------------------------------------------------------------------------------


def _view(row: dict[str, Any]) -> CampaignView:
    return CampaignView(
        id=row["id"],
        name=row["name"],
        channels=row["channels"].split(","),
        texts=msgspec.json.decode(row["texts"]),
        url=row["url"],
        audience=msgspec.json.decode(row["audience"], type=Audience),
        holdout_bp=row["holdout_bp"],
        state=row["state"],
        send_at=row["send_at"],
        sent_at=row["sent_at"],
        members=row["members"],
        held_out=row["held_out"],
        created_at=row["created_at"],
    )


_COLUMNS = (
    "SELECT id, name, channels, texts, url, audience, holdout_bp, state, send_at, sent_at, members, "
    "held_out, "
    "created_at FROM message_campaigns WHERE brand = {}"
)


async def campaigns(*, brand_id: int, limit: int = 30) -> list[CampaignView]:
    return [_view(r) for r in await db.fetch(_COLUMNS + " ORDER BY id DESC LIMIT {}", brand_id, limit)]


async def campaign(*, brand_id: int, campaign_id: int) -> CampaignView:
    rows = await db.fetch(_COLUMNS + " AND id = {}", brand_id, campaign_id)
    if not rows:
        raise NotFound("no campaign %(id)s", id=campaign_id)
    return _view(rows[0])


class ChannelCounts(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    sent: int
    delivered: int
    read: int
    failed: int
    opened: int
    clicked: int
    unsubscribed: int


_COUNTS = (
    "SELECT channel, SUM(CASE WHEN state IN ('sent', 'delivered', 'read') THEN 1 ELSE 0 END) AS sent, "
    "SUM(CASE WHEN state IN ('delivered', 'read') THEN 1 ELSE 0 END) AS delivered, "
    "SUM(CASE WHEN state = 'read' THEN 1 ELSE 0 END) AS read, "
    "SUM(CASE WHEN state IN ('failed', 'unknown') THEN 1 ELSE 0 END) AS failed, "
    "SUM(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened, "
    "SUM(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked, "
    "SUM(CASE WHEN unsubscribed_at IS NOT NULL THEN 1 ELSE 0 END) AS unsubscribed "
    "FROM messages WHERE brand = {} AND campaign = {} GROUP BY channel ORDER BY channel"
)
_SKIPPED = (
    "SELECT reason, COUNT(*) AS n FROM messages WHERE brand = {} AND campaign = {} AND state = 'skipped' "
    "GROUP BY reason ORDER BY reason"
)
# Per group, over the shoppers of the campaign: how many, how many bought in the window, the
# revenue of the window and its sum of squares (each shopper's revenue first, then summed).
_GROUPS = (
    "SELECT holdout, COUNT(*) AS shoppers, SUM(CASE WHEN revenue > 0 THEN 1 ELSE 0 END) AS buyers, "
    "COALESCE(SUM(revenue), 0) AS revenue, COALESCE(SUM(revenue * revenue), 0) AS squares FROM ("
    "SELECT m.holdout, m.customer, COALESCE(SUM(s.total), 0) AS revenue FROM message_campaign_members m "
    "LEFT JOIN sales s ON s.customer = m.customer AND s.brand = m.brand AND s.cancelled_at IS NULL "
    "AND s.occurred_at > {} AND s.occurred_at <= {} WHERE m.campaign = {} AND m.brand = {} "
    "GROUP BY m.holdout, m.customer) r GROUP BY holdout"
)


class Report(msgspec.Struct, frozen=True, kw_only=True):
    campaign: CampaignView
    channels: list[ChannelCounts]
    skipped: dict[str, int]
    days: int  # the window compared, in days after sending (so far)
    comparison: Comparison | None  # None until it is sent, or with no holdout


async def report(*, brand_id: int, campaign_id: int, now: dt.datetime, window_days: int = 14) -> Report:
    view = await campaign(brand_id=brand_id, campaign_id=campaign_id)
    counts = [
        ChannelCounts(channel=row["channel"], **{k: v or 0 for k, v in row.items() if k != "channel"})
        for row in await db.fetch(_COUNTS, brand_id, campaign_id)
        if row["channel"]
    ]
    skipped = {r["reason"]: r["n"] for r in await db.fetch(_SKIPPED, brand_id, campaign_id)}
    comparison, days = None, 0
    if view.sent_at is not None:
        end = min(now, view.sent_at + dt.timedelta(days=window_days))
        days = max(0, (end - view.sent_at).days)
        # SQLite looks each member's sales up by customer with `+s.brand` (not by brand and time,
        # most of the table); PostgreSQL's planner needs no such hint and is slower with it.
        sql = _GROUPS if db.is_postgres() else _GROUPS.replace("AND s.brand", "AND +s.brand", 1)
        rows = await db.fetch_heavy(sql, view.sent_at, end, campaign_id, brand_id)
        groups = {
            bool(r["holdout"]): Group(
                shoppers=r["shoppers"],
                buyers=r["buyers"] or 0,
                revenue=int(r["revenue"]),
                revenue_squares=int(r["squares"]),
            )
            for r in rows
        }
        if True in groups and False in groups:
            comparison = compare(groups[False], groups[True])
    return Report(campaign=view, channels=counts, skipped=skipped, days=days, comparison=comparison)
