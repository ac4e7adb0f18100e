"""The programme's reports beyond cashback per day, as the product's documents list them: shoppers
using cashback, benefits generated and used, recurrence, repurchase after using cashback, and the
best-selling categories and products. (Campaign return composes the messages domain's holdout
comparison in the admin, above both; NPS has a page of its own.)

Every figure is an aggregate the database computes over a period of the brand's calendar days.
A time's day in the brand's zone is worked out in SQL: its whole seconds since 1970 plus the
zone's offset, divided by a day. The offset is constant between the zone's transitions, so the
expression has one CASE branch per transition inside the period (none at all for São Paulo since
2019): exact days, and a COUNT(DISTINCT ...) per day that sums per quarter of an hour cannot give.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import zoneinfo
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.errors import N_, Field, Invalid
from retorno.reports.service import _bounds

# The ledger's units: cashback (centavos) and points. Every ledger query below says which it counts
# with one of these fragments.
CASHBACK_ONLY = " AND unit = 'brl'"
POINTS_ONLY = " AND unit = 'pts'"
EPOCH_DAY = dt.date(1970, 1, 1)
REPURCHASE_DAYS = 30  # the repurchase window's default, in days
MAX_REPURCHASE_DAYS = 365
TOP_PRODUCTS = 20
RECURRENCE_BUCKETS = (1, 2, 3, 4, 5)  # purchases in the period; the last is "5 or more"
# Labels of the benefits table's rows, looked up as "benefit:<key>".
BENEFITS = ("cashback", "points", "vouchers", "coupons", "club")
BENEFIT_LABELS = (
    N_("benefit:cashback"),
    N_("benefit:points"),
    N_("benefit:vouchers"),
    N_("benefit:coupons"),
    N_("benefit:club"),
)


# --- a brand's days in SQL --------------------------------------------------------------------------


def _segments(tz: zoneinfo.ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """The zone's offset (seconds) over [start, end): [(from, offset), ...], the first from start.
    Found hour by hour, each change then narrowed to its second (tzdata changes on whole minutes)."""

    def offset(at: dt.datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset(start))]
    at = start
    while at < end:
        step = min(at + dt.timedelta(hours=1), end)
        if offset(step) != segments[-1][1]:
            low, high = at, step  # offset(low) is the old one, offset(high) the new one
            while (high - low) > dt.timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == segments[-1][1] else (low, mid)
            segments.append((high.replace(microsecond=0), offset(step)))
        at = step
    return segments


def _day_sql(column: str, segments: list[tuple[dt.datetime, int]]) -> tuple[str, list[Any]]:
    """SQL for the number of the brand's day (days since 1970-01-01 there) a time falls on, and
    the parameters it takes (the instants where the zone's offset changes)."""
    epoch = db.epoch_of(column)
    if len(segments) == 1:
        return f"(({epoch} + {segments[0][1]}) / 86400)", []
    branches = " ".join(
        f"WHEN {column} < {{}} THEN {before}" for (_, before), _ in itertools.pairwise(segments)
    )
    return f"(({epoch} + CASE {branches} ELSE {segments[-1][1]} END) / 86400)", [at for at, _ in segments[1:]]


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """A period of the brand's days, [first, last], and its bounds in UTC."""

    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime
    segments: list[tuple[dt.datetime, int]]

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def day_sql(self, column: str) -> tuple[str, list[Any]]:
        return _day_sql(column, self.segments)


def period_of(brand: BrandView, first: dt.date, last: dt.date) -> Period:
    start, end = _bounds(brand, first, last)
    return Period(
        first=first,
        last=last,
        start=start,
        end=end,
        segments=_segments(zoneinfo.ZoneInfo(brand.timezone), start, end),
    )


async def _per_day(sql: str, period: Period, column: str, *args: Any) -> dict[dt.date, dict[str, Any]]:
    """Run `sql` (its first column `{day}`, grouped by `d`) and key its rows by the brand's day."""
    day, day_args = period.day_sql(column)
    rows = await db.fetch_heavy(sql.replace("{day}", day), *day_args, *args)
    return {EPOCH_DAY + dt.timedelta(days=int(r["d"])): r for r in rows}


# --- shoppers using cashback --------------------------------------------------------------------------

_BUYERS_BY_DAY = (
    "SELECT {day} AS d, COUNT(DISTINCT customer) AS n, COUNT(*) AS sales FROM sales WHERE brand = {} "
    "AND cancelled_at IS NULL AND occurred_at >= {} AND occurred_at < {} GROUP BY d"
)
_BUYERS = (
    "SELECT COUNT(DISTINCT customer) AS n, COUNT(*) AS sales FROM sales WHERE brand = {} "
    "AND cancelled_at IS NULL AND occurred_at >= {} AND occurred_at < {}"
)
_USERS_BY_DAY = (
    "SELECT {day} AS d, COUNT(DISTINCT customer) AS n, CAST(SUM(amount) AS BIGINT) AS amount "
    "FROM redemptions "
    "WHERE brand = {} AND cancelled_at IS NULL AND created_at >= {} AND created_at < {} GROUP BY d"
)
_USERS = (
    "SELECT COUNT(DISTINCT customer) AS n, COUNT(*) AS redemptions, CAST(COALESCE(SUM(amount), 0) AS BIGINT) "
    "AS amount FROM redemptions WHERE brand = {} AND cancelled_at IS NULL AND created_at >= {} "
    "AND created_at < {}"
)
_EARNERS = (
    "SELECT COUNT(DISTINCT customer) AS n FROM ledger_entries WHERE brand = {} "  # noqa: S608
    "AND kind IN ('earn', 'referral_reward') AND occurred_at >= {} AND occurred_at < {}" + CASHBACK_ONLY
)


_POINTS_USERS = (
    "SELECT COUNT(DISTINCT customer) AS n FROM ledger_entries WHERE brand = {} AND kind = 'reward' "  # noqa: S608
    "AND occurred_at >= {} AND occurred_at < {}" + POINTS_ONLY
)


class ShoppersDay(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    buyers: int  # shoppers who bought that day
    users: int  # shoppers who used cashback that day (redemptions in force)
    used: int  # centavos of cashback used


class Shoppers(msgspec.Struct, frozen=True, kw_only=True):
    """Shoppers using cashback in a period (`shoppers`)."""

    first: dt.date
    last: dt.date
    days: list[ShoppersDay]
    buyers: int  # distinct shoppers who bought in the period
    earners: int  # distinct shoppers credited cashback (sales, referrals)
    users: int  # distinct shoppers who used cashback
    points_users: int  # distinct shoppers who spent points on the rewards catalogue
    redemptions: int
    used: int  # centavos

    @property
    def share_bp(self) -> int:
        """Of the shoppers who bought, those who used cashback, in basis points."""
        return round(10000 * self.users / self.buyers) if self.buyers else 0


async def shoppers(brand: BrandView, first: dt.date, last: dt.date) -> Shoppers:
    p = period_of(brand, first, last)
    bought = await _per_day(_BUYERS_BY_DAY, p, "occurred_at", brand.id, p.start, p.end)
    used = await _per_day(_USERS_BY_DAY, p, "created_at", brand.id, p.start, p.end)
    [buyers] = await db.fetch_heavy(_BUYERS, brand.id, p.start, p.end)
    [users] = await db.fetch_heavy(_USERS, brand.id, p.start, p.end)
    [earners] = await db.fetch_heavy(_EARNERS, brand.id, p.start, p.end)
    [points] = await db.fetch_heavy(_POINTS_USERS, brand.id, p.start, p.end)
    return Shoppers(
        first=first,
        last=last,
        days=[
            ShoppersDay(
                day=d,
                buyers=bought.get(d, {}).get("n", 0),
                users=used.get(d, {}).get("n", 0),
                used=int(used.get(d, {}).get("amount") or 0),
            )
            for d in p.days
        ],
        buyers=buyers["n"],
        earners=earners["n"],
        users=users["n"],
        points_users=points["n"],
        redemptions=users["redemptions"],
        used=int(users["amount"]),
    )


# --- benefits generated and used ------------------------------------------------------------------------

_CASHBACK_BY_DAY = (
    "SELECT {day} AS d, kind, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS amount "
    "FROM ledger_entries "
    "WHERE brand = {} AND kind IN ('earn', 'referral_reward', 'redeem', 'redemption_cancel') "
    "AND occurred_at >= {} AND occurred_at < {}" + CASHBACK_ONLY + " GROUP BY d, kind"
)
_POINTS = (
    "SELECT kind, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS amount "
    "FROM ledger_entries WHERE brand = {} "
    "AND kind IN ('earn', 'reward', 'reward_cancel') AND occurred_at >= {} AND occurred_at < {}"
    + POINTS_ONLY
    + " GROUP BY kind"
)
_VOUCHERS_ISSUED_BY_DAY = (
    "SELECT {day} AS d, COUNT(*) AS n FROM vouchers WHERE brand = {} AND issued_at >= {} AND issued_at < {} "
    "GROUP BY d"
)
_VOUCHERS_USED_BY_DAY = (
    "SELECT {day} AS d, COUNT(*) AS n, CAST(SUM(discount) AS BIGINT) AS amount FROM voucher_uses "
    "WHERE brand = {} "
    "AND released_at IS NULL AND used_at >= {} AND used_at < {} GROUP BY d"
)
_COUPONS_USED_BY_DAY = (
    "SELECT {day} AS d, COUNT(*) AS n, CAST(SUM(discount) AS BIGINT) AS amount FROM coupon_uses "
    "WHERE brand = {} "
    "AND released_at IS NULL AND used_at >= {} AND used_at < {} GROUP BY d"
)
_CLUB_USES_BY_DAY = (
    "SELECT {day} AS d, COUNT(*) AS n FROM club_uses WHERE brand = {} AND used_at >= {} "
    "AND used_at < {} GROUP BY d"
)
BENEFIT_SERIES = ("cashback_generated", "cashback_used", "voucher_discount", "coupon_discount")
BENEFIT_SERIES_LABELS = (
    N_("benefits:cashback_generated"),
    N_("benefits:cashback_used"),
    N_("benefits:voucher_discount"),
    N_("benefits:coupon_discount"),
)


class BenefitsDay(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    cashback_generated: int  # centavos credited (sales, referrals)
    cashback_used: int  # centavos used (redemptions, less those cancelled)
    vouchers_issued: int
    vouchers_used: int
    voucher_discount: int  # centavos
    coupons_used: int
    coupon_discount: int  # centavos
    club_uses: int


class BenefitLine(msgspec.Struct, frozen=True, kw_only=True):
    """One benefit over the period: how many were generated and used, and their value (None where
    the benefit has no such figure: a public coupon is not generated per shopper, a club benefit
    has no value)."""

    key: str
    unit: str  # brl: values in centavos; pts: in points
    generated: int | None
    generated_value: int | None
    used: int
    used_value: int | None


class Benefits(msgspec.Struct, frozen=True, kw_only=True):
    first: dt.date
    last: dt.date
    days: list[BenefitsDay]
    lines: list[BenefitLine]


async def benefits(brand: BrandView, first: dt.date, last: dt.date) -> Benefits:
    p = period_of(brand, first, last)
    args = (brand.id, p.start, p.end)
    day, day_args = p.day_sql("occurred_at")
    cashback: dict[dt.date, dict[str, int]] = {}
    counts = dict.fromkeys(("generated", "used"), 0)
    for row in await db.fetch_heavy(_CASHBACK_BY_DAY.replace("{day}", day), *day_args, *args):
        d = cashback.setdefault(EPOCH_DAY + dt.timedelta(days=int(row["d"])), {"generated": 0, "used": 0})
        generated = row["kind"] in ("earn", "referral_reward")
        d["generated" if generated else "used"] += row["amount"] if generated else -row["amount"]
        # A cancelled redemption's entry takes one use back.
        counts["generated" if generated else "used"] += row["n"] * (
            -1 if row["kind"] == "redemption_cancel" else 1
        )
    issued = await _per_day(_VOUCHERS_ISSUED_BY_DAY, p, "issued_at", *args)
    vouchers = await _per_day(_VOUCHERS_USED_BY_DAY, p, "used_at", *args)
    coupons = await _per_day(_COUPONS_USED_BY_DAY, p, "used_at", *args)
    club = await _per_day(_CLUB_USES_BY_DAY, p, "used_at", *args)
    days = [
        BenefitsDay(
            day=d,
            cashback_generated=cashback.get(d, {}).get("generated", 0),
            cashback_used=cashback.get(d, {}).get("used", 0),
            vouchers_issued=issued.get(d, {}).get("n", 0),
            vouchers_used=vouchers.get(d, {}).get("n", 0),
            voucher_discount=int(vouchers.get(d, {}).get("amount") or 0),
            coupons_used=coupons.get(d, {}).get("n", 0),
            coupon_discount=int(coupons.get(d, {}).get("amount") or 0),
            club_uses=club.get(d, {}).get("n", 0),
        )
        for d in p.days
    ]
    lines = [
        BenefitLine(
            key="cashback",
            unit="brl",
            generated=counts["generated"],
            generated_value=sum(x.cashback_generated for x in days),
            used=counts["used"],
            used_value=sum(x.cashback_used for x in days),
        ),
        BenefitLine(
            key="vouchers",
            unit="brl",
            generated=sum(x.vouchers_issued for x in days),
            generated_value=None,
            used=sum(x.vouchers_used for x in days),
            used_value=sum(x.voucher_discount for x in days),
        ),
        BenefitLine(
            key="coupons",
            unit="brl",
            generated=None,
            generated_value=None,
            used=sum(x.coupons_used for x in days),
            used_value=sum(x.coupon_discount for x in days),
        ),
        BenefitLine(
            key="club",
            unit="brl",
            generated=None,
            generated_value=None,
            used=sum(x.club_uses for x in days),
            used_value=None,
        ),
    ]
    points = {r["kind"]: r for r in await db.fetch_heavy(_POINTS, *args)}
    if points:  # a brand with a points programme: what it earned and spent on the catalogue

        def of(kind: str, key: str) -> int:
            return int(points.get(kind, {}).get(key) or 0)

        lines.insert(
            1,
            BenefitLine(
                key="points",
                unit="pts",
                generated=of("earn", "n"),
                generated_value=of("earn", "amount"),
                used=of("reward", "n") - of("reward_cancel", "n"),
                used_value=-(of("reward", "amount") + of("reward_cancel", "amount")),
            ),
        )
    return Benefits(first=first, last=last, days=days, lines=lines)


# --- recurrence ---------------------------------------------------------------------------------------

_RECURRENCE = (
    "SELECT CASE WHEN c >= {} THEN {} ELSE c END AS bucket, COUNT(*) AS shoppers, SUM(c) AS purchases, "
    "CAST(SUM(revenue) AS BIGINT) AS revenue FROM (SELECT customer, COUNT(*) AS c, SUM(total) AS revenue "
    "FROM sales WHERE brand = {} AND cancelled_at IS NULL AND occurred_at >= {} AND occurred_at < {} "
    "GROUP BY customer) t GROUP BY bucket"
)


class RecurrenceBucket(msgspec.Struct, frozen=True, kw_only=True):
    purchases_min: int  # shoppers who bought this many times in the period (the last: or more)
    shoppers: int
    purchases: int
    revenue: int  # centavos


class Recurrence(msgspec.Struct, frozen=True, kw_only=True):
    """Purchases per active shopper (who bought in the period), and how many bought once, twice..."""

    first: dt.date
    last: dt.date
    buckets: list[RecurrenceBucket]
    shoppers: int
    purchases: int
    revenue: int

    @property
    def per_shopper(self) -> float:
        return round(self.purchases / self.shoppers, 2) if self.shoppers else 0.0


async def recurrence(brand: BrandView, first: dt.date, last: dt.date) -> Recurrence:
    start, end = _bounds(brand, first, last)
    top = RECURRENCE_BUCKETS[-1]
    rows = {r["bucket"]: r for r in await db.fetch_heavy(_RECURRENCE, top, top, brand.id, start, end)}
    buckets = [
        RecurrenceBucket(
            purchases_min=n,
            shoppers=rows.get(n, {}).get("shoppers", 0),
            purchases=int(rows.get(n, {}).get("purchases") or 0),
            revenue=int(rows.get(n, {}).get("revenue") or 0),
        )
        for n in RECURRENCE_BUCKETS
    ]
    return Recurrence(
        first=first,
        last=last,
        buckets=buckets,
        shoppers=sum(b.shoppers for b in buckets),
        purchases=sum(b.purchases for b in buckets),
        revenue=sum(b.revenue for b in buckets),
    )


# --- repurchase after using cashback ------------------------------------------------------------------

# Those who used cashback in the period, from their first use in it: did they buy again (another
# order than the one the cashback paid) within N days? Those who bought in the period without
# using cashback in it, from their first purchase in it: did they buy again within N days?
# (`+s.brand`: SQLite then looks the shopper's sales up by customer, a few rows, instead of by
# brand and time, most of the table; PostgreSQL reads it the same.)
_REDEEMERS_AGAIN = (
    "SELECT COUNT(*) AS shoppers, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM sales s "
    "WHERE +s.brand = a.brand "
    "AND s.customer = a.customer AND s.cancelled_at IS NULL AND s.order_id <> a.order_id "
    "AND s.occurred_at > a.at AND {s_epoch} <= {a_epoch} + {}) THEN 1 ELSE 0 END), 0) AS again FROM ("
    "SELECT brand, customer, order_id, created_at AS at, ROW_NUMBER() OVER (PARTITION BY customer "
    "ORDER BY created_at, id) AS k FROM redemptions WHERE brand = {} AND cancelled_at IS NULL "
    "AND created_at >= {} AND created_at < {}) a WHERE a.k = 1"
)
_OTHERS_AGAIN = (
    "SELECT COUNT(*) AS shoppers, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM sales s "
    "WHERE +s.brand = a.brand "
    "AND s.customer = a.customer AND s.cancelled_at IS NULL AND s.id <> a.id AND s.occurred_at >= a.at "
    "AND {s_epoch} <= {a_epoch} + {}) THEN 1 ELSE 0 END), 0) AS again FROM ("
    "SELECT brand, customer, id, occurred_at AS at, ROW_NUMBER() OVER (PARTITION BY customer "
    "ORDER BY occurred_at, id) AS k FROM sales WHERE brand = {} AND cancelled_at IS NULL "
    "AND occurred_at >= {} AND occurred_at < {} AND customer NOT IN (SELECT customer FROM redemptions "
    "WHERE brand = {} AND cancelled_at IS NULL AND created_at >= {} AND created_at < {})) a WHERE a.k = 1"
)


class RepurchaseGroup(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # used | not_used
    shoppers: int
    again: int  # bought again within the window

    @property
    def rate_bp(self) -> int:
        return round(10000 * self.again / self.shoppers) if self.shoppers else 0


REPURCHASE_GROUPS = ("used", "not_used")
REPURCHASE_LABELS = (N_("repurchase:used"), N_("repurchase:not_used"))


class Repurchase(msgspec.Struct, frozen=True, kw_only=True):
    first: dt.date
    last: dt.date
    window_days: int
    groups: list[RepurchaseGroup]
    open_windows: bool  # some windows end after now: what they show is so far

    @property
    def lift_bp(self) -> int:
        """The rate of those who used cashback less that of those who did not, in basis points."""
        return self.groups[0].rate_bp - self.groups[1].rate_bp


def window_of(text: str | None) -> int:
    """The repurchase window from the form: a whole number of days, 1 to 365; 30 when not given."""
    if text is None or not text.strip():
        return REPURCHASE_DAYS
    try:
        days = int(text.strip())
    except ValueError:
        raise Invalid("%(field)s: a whole number of days", field=Field("window")) from None
    if not 1 <= days <= MAX_REPURCHASE_DAYS:
        raise Invalid("%(field)s: from 1 to %(max)s days", field=Field("window"), max=MAX_REPURCHASE_DAYS)
    return days


async def repurchase(
    brand: BrandView, first: dt.date, last: dt.date, *, window_days: int, now: dt.datetime
) -> Repurchase:
    start, end = _bounds(brand, first, last)

    def epochs(sql: str) -> str:
        return sql.replace("{s_epoch}", db.epoch_of("s.occurred_at")).replace(
            "{a_epoch}", db.epoch_of("a.at")
        )

    seconds = window_days * 86400
    [used] = await db.fetch_heavy(epochs(_REDEEMERS_AGAIN), seconds, brand.id, start, end)
    [others] = await db.fetch_heavy(
        epochs(_OTHERS_AGAIN), seconds, brand.id, start, end, brand.id, start, end
    )
    return Repurchase(
        first=first,
        last=last,
        window_days=window_days,
        groups=[
            RepurchaseGroup(key="used", shoppers=used["shoppers"], again=int(used["again"])),
            RepurchaseGroup(key="not_used", shoppers=others["shoppers"], again=int(others["again"])),
        ],
        open_windows=end + dt.timedelta(days=window_days) > now,
    )


# --- best-selling categories and products ----------------------------------------------------------------


def _items_sql(key: str) -> tuple[str, str]:
    """What the sales of the period sold per `key` (category or sku), and the cashback their lines
    earned (from each sale's credit: its lines' shares)."""
    line = db.json_rows("s.items", "i")
    shares = db.json_rows("l.breakdown", "i", "items")
    name = db.json_field("i", key)
    amount, quantity = db.json_field("i", "amount", number=True), db.json_field("i", "quantity", number=True)
    sold = (
        f"SELECT COALESCE({name}, '') AS k, "  # noqa: S608
        f"CAST(SUM({amount} * COALESCE({quantity}, 1)) AS BIGINT) AS revenue, "
        f"CAST(SUM(COALESCE({quantity}, 1)) AS BIGINT) AS units, COUNT(DISTINCT s.id) AS sales "
        f"FROM sales s, {line} "
        "WHERE s.brand = {} AND s.cancelled_at IS NULL AND s.occurred_at >= {} AND s.occurred_at < {} "
        "GROUP BY k"
    )
    cashback = db.json_field("i", "cashback", number=True)
    given = (
        f"SELECT COALESCE({name}, '') AS k, CAST(SUM({cashback}) AS BIGINT) AS cashback "  # noqa: S608
        # The brand's lots first, each sale found by its id (ledger_lots has no index on sale):
        # CROSS JOIN keeps SQLite to that order; a sale's lot is available at its time or later,
        # so the brand's older lots are passed over. PostgreSQL plans it freely.
        f"FROM ledger_lots l CROSS JOIN sales s, {shares} "
        "WHERE l.brand = {} AND l.source = 'sale' AND l.available_at >= {}"
        + CASHBACK_ONLY.replace("unit", "l.unit", 1)
        + " AND s.id = l.sale AND s.brand = l.brand AND s.cancelled_at IS NULL AND s.items <> '[]' "
        "AND s.occurred_at >= {} "
        "AND s.occurred_at < {} GROUP BY k"
    )
    return sold, given


class Seller(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # the category or the sku ("" when the lines had none)
    revenue: int  # centavos: unit price times quantity
    units: int
    sales: int  # sales with a line of it
    cashback: int  # centavos its lines earned

    @property
    def cashback_bp(self) -> int:
        return round(10000 * self.cashback / self.revenue) if self.revenue else 0


class Sellers(msgspec.Struct, frozen=True, kw_only=True):
    first: dt.date
    last: dt.date
    by: str  # category | sku
    rows: list[Seller]  # by revenue, largest first (products: the first TOP_PRODUCTS)
    revenue: int  # every row's, the products beyond the top ones too
    units: int
    cashback: int


async def sellers(brand: BrandView, first: dt.date, last: dt.date, *, by: str) -> Sellers:
    """The period's sales by category (`by="category"`) or product (`by="sku"`), from their lines."""
    if by not in ("category", "sku"):
        raise Invalid("%(field)s: category or sku", field=Field("by"))
    start, end = _bounds(brand, first, last)
    sold_sql, given_sql = _items_sql(by)
    # The lines and their cashback at once (on SQLite, each on a connection of its own).
    sold, credited = await asyncio.gather(
        db.fetch_heavy(sold_sql, brand.id, start, end), db.fetch_heavy(given_sql, brand.id, start, start, end)
    )
    given = {r["k"]: int(r["cashback"] or 0) for r in credited}
    rows = sorted(
        (
            Seller(
                key=r["k"],
                revenue=int(r["revenue"] or 0),
                units=int(r["units"] or 0),
                sales=r["sales"],
                cashback=given.get(r["k"], 0),
            )
            for r in sold
        ),
        key=lambda s: (-s.revenue, s.key),
    )
    return Sellers(
        first=first,
        last=last,
        by=by,
        rows=rows[:TOP_PRODUCTS] if by == "sku" else rows,
        revenue=sum(s.revenue for s in rows),
        units=sum(s.units for s in rows),
        cashback=sum(given.values()),
    )
