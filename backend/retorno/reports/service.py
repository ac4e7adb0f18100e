"""Reports for a brand and a period: what the programme earned, cost and owes, day by day.

Days are the brand's calendar days. The database sums the period's movements per kind and quarter
of an hour (UTC); each quarter then goes to its day in the brand's time zone, which is exact for
every zone (all offsets are whole quarters of an hour) without the database knowing the zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.errors import N_, Field, Invalid
from retorno.ledger import balances

KINDS = {
    "earn": "earned",
    "referral_reward": "earned",
    "redeem": "used",
    "reverse": "reversed",
    "expire": "expired",
}
SERIES = ("earned", "used", "reversed", "expired")
# Their labels, looked up as "report:<series>" (marked here for the catalogue).
LABELS = (N_("report:earned"), N_("report:used"), N_("report:reversed"), N_("report:expired"))
QUARTER = 900  # seconds: every time zone's offset is a whole number of quarters of an hour
_IN_PERIOD = (
    "CAST(SUM(ABS(amount)) AS BIGINT) AS total FROM ledger_entries WHERE brand = {} AND occurred_at >= {} "
    "AND occurred_at < {} AND kind IN (" + ", ".join("{}" for _ in KINDS) + ") GROUP BY kind, quarter"
)
# The quarter of an hour since 1970 (UTC) in which a movement happened. SQLite's unixepoch() is
# faster but needs SQLite 3.38; strftime('%s') is in every version.
_QUARTERS = {
    "postgres": "SELECT kind, FLOOR(EXTRACT(EPOCH FROM occurred_at) / 900)::bigint AS quarter, "  # noqa: S608
    + _IN_PERIOD,
    "sqlite": "SELECT kind, CAST(strftime('%s', occurred_at) AS INTEGER) / 900 AS quarter, " + _IN_PERIOD,
}
MAX_DAYS = 366

# The report's other aggregates: hand-written counts over a period (COUNT(DISTINCT ...), a
# GROUP BY ... HAVING), read off the event loop by `db.fetch_heavy`; bench/reports.py measures them.
_ACTIVE = (
    "SELECT COUNT(DISTINCT customer) AS n FROM sales WHERE brand = {} AND cancelled_at IS NULL "
    "AND occurred_at >= {} AND occurred_at < {}"
)
_BUYERS = "SELECT COUNT(DISTINCT customer) AS n FROM sales WHERE brand = {} AND cancelled_at IS NULL"
_REPEAT_BUYERS = (
    "SELECT COUNT(*) AS n FROM (SELECT customer FROM sales WHERE brand = {} AND cancelled_at IS NULL "
    "GROUP BY customer HAVING COUNT(*) >= 2) t"
)
_REFERRALS_JOINED = (
    "SELECT COUNT(*) AS n FROM referrals WHERE brand = {} AND joined_at >= {} AND joined_at < {}"
)
_REFERRALS_REWARDED = (
    "SELECT COUNT(*) AS n FROM referrals WHERE brand = {} AND status = 'rewarded' AND decided_at >= {} "
    "AND decided_at < {}"
)
_NEW_CUSTOMERS = (
    "SELECT COUNT(*) AS n FROM customers WHERE brand = {} AND created_at >= {} AND created_at < {}"
)
_VOUCHERS_ISSUED = (
    "SELECT COUNT(*) AS n FROM vouchers WHERE brand = {} AND issued_at >= {} AND issued_at < {}"
)
_VOUCHERS_USED = (
    "SELECT COUNT(*) AS n FROM voucher_uses WHERE brand = {} AND released_at IS NULL "
    "AND used_at >= {} AND used_at < {}"
)
_COUPONS_USED = (
    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(discount), 0) AS BIGINT) AS given FROM coupon_uses "
    "WHERE brand = {} AND released_at IS NULL AND used_at >= {} AND used_at < {}"
)
# The brand home's figures: aggregates on every visit of the admin's first page (bench/reports.py
# times them beside the reports). Sales per quarter of an hour, like the ledger's movements above.
_SALES_IN_PERIOD = (
    "COUNT(*) AS n, CAST(SUM(total) AS BIGINT) AS total FROM sales WHERE brand = {} "
    "AND cancelled_at IS NULL AND occurred_at >= {} AND occurred_at < {} GROUP BY quarter"
)
_SALES_QUARTERS = {
    "postgres": "SELECT FLOOR(EXTRACT(EPOCH FROM occurred_at) / 900)::bigint AS quarter, "  # noqa: S608
    + _SALES_IN_PERIOD,
    "sqlite": "SELECT CAST(strftime('%s', occurred_at) AS INTEGER) / 900 AS quarter, " + _SALES_IN_PERIOD,
}
_ACTIVE_BY_DAY = (
    "SELECT {interval} AS i, COUNT(DISTINCT customer) AS n FROM sales WHERE brand = {{}} "
    "AND cancelled_at IS NULL AND occurred_at >= {{}} AND occurred_at < {{}} GROUP BY i"
)
_SHOPPERS = "SELECT COUNT(*) AS n FROM customers WHERE brand = {} AND forgotten_at IS NULL"
HOME_PERIODS = (1, 7, 30)  # today, the last 7 days, the last 30 days (today included)


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """Centavos per series (SERIES) over a period or a day."""

    earned: int
    used: int
    reversed: int
    expired: int


class ReportDay(Totals, frozen=True, kw_only=True):
    """One of the brand's calendar days in a report."""

    day: dt.date


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """A brand's report for [first, last] (`report`)."""

    first: dt.date
    last: dt.date
    days: list[ReportDay]
    totals: Totals
    active_30: int
    active_90: int
    new_customers: int
    owed: int
    vouchers_issued: int
    vouchers_used: int
    coupons_used: int  # public coupons' uses in the period (orders not cancelled)
    coupon_discount: int  # what those uses took off, in centavos
    repurchase_rate: float
    referrals_joined: int
    referrals_rewarded: int


class HomeDay(msgspec.Struct, frozen=True, kw_only=True):
    """One of the brand's calendar days on its home: sales (count), revenue, cashback issued (earned
    and referral rewards) and redeemed, in centavos."""

    day: dt.date
    sales: int
    revenue: int
    issued: int
    redeemed: int
    active: int  # shoppers who bought that day
    owed: int  # what the brand owed its shoppers at the end of the day (now, for today)


class HomePeriod(msgspec.Struct, frozen=True, kw_only=True):
    """The home's figures over the last `days` days (1: today), with one point a day for trends."""

    days: int
    sales: int
    revenue: int
    issued: int
    redeemed: int
    active: int  # shoppers who bought in the period
    trend: list[HomeDay]


class HomeFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The brand home's key figures (`home_figures`): today, the last 7 and 30 days, and what the
    brand owes its shoppers now."""

    periods: list[HomePeriod]
    owed: int
    pending: int
    shoppers: int


def period(start: str | None, end: str | None, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end] as dates (end included); the last 30 days by default."""
    try:
        last = dt.date.fromisoformat(end) if end else today
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=29)
    except ValueError:
        raise Invalid("start, end: dates as YYYY-MM-DD") from None
    if first > last:
        raise Invalid("%(field)s: must not be after end", field=Field("start"))
    if (last - first).days >= MAX_DAYS:
        raise Invalid("a period of at most %(max)s days", max=MAX_DAYS)
    return first, last


def _bounds(brand: BrandView, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return start, end


def _day_of(quarter: int, tz: zoneinfo.ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(quarter * QUARTER, dt.UTC).astimezone(tz).date()


async def _movements_by_day(brand: BrandView, first: dt.date, last: dt.date) -> dict[dt.date, dict[str, int]]:
    """Centavos per series (SERIES) on each of the brand's days in [first, last]."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start, end = _bounds(brand, first, last)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    daily = {day: dict.fromkeys(SERIES, 0) for day in days}
    engine = "postgres" if db.is_postgres() else "sqlite"
    for row in await db.fetch_heavy(_QUARTERS[engine], brand.id, start, end, *KINDS):
        daily[_day_of(row["quarter"], tz)][KINDS[row["kind"]]] += row["total"]
    return daily


async def report(brand: BrandView, first: dt.date, last: dt.date, *, now: dt.datetime) -> Report:
    start, end = _bounds(brand, first, last)
    daily = await _movements_by_day(brand, first, last)
    days = list(daily)

    async def count(sql: str, *args: Any) -> int:
        return (await db.fetch_heavy(sql, *args))[0]["n"]

    def active(days_back: int) -> Any:
        return count(_ACTIVE, brand.id, end - dt.timedelta(days=days_back), end)

    buyers = await count(_BUYERS, brand.id)
    repeat = await count(_REPEAT_BUYERS, brand.id)
    (coupons,) = await db.fetch_heavy(_COUPONS_USED, brand.id, start, end)
    joined = await count(_REFERRALS_JOINED, brand.id, start, end)
    rewarded = await count(_REFERRALS_REWARDED, brand.id, start, end)
    return Report(
        first=first,
        last=last,
        days=[ReportDay(day=day, **daily[day]) for day in days],
        totals=Totals(**{k: sum(d[k] for d in daily.values()) for k in SERIES}),
        active_30=await active(30),
        active_90=await active(90),
        new_customers=await count(_NEW_CUSTOMERS, brand.id, start, end),
        owed=(await balances.liability_now(brand_id=brand.id, now=now)).total,
        vouchers_issued=await count(_VOUCHERS_ISSUED, brand.id, start, end),
        vouchers_used=await count(_VOUCHERS_USED, brand.id, start, end),
        coupons_used=coupons["n"],
        coupon_discount=coupons["given"],
        repurchase_rate=round(100 * repeat / buyers, 1) if buyers else 0.0,
        referrals_joined=joined,
        referrals_rewarded=rewarded,
    )


async def home_figures(brand: BrandView, now: dt.datetime) -> HomeFigures:
    """Today's, the last 7 and the last 30 days' key figures (the brand's calendar days, one point a
    day for the trends) and what the brand owes its shoppers now."""

    tz = zoneinfo.ZoneInfo(brand.timezone)
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=max(HOME_PERIODS) - 1)
    start, end = _bounds(brand, first, today)
    movements = await _movements_by_day(brand, first, today)
    sales = {day: [0, 0] for day in movements}
    engine = "postgres" if db.is_postgres() else "sqlite"
    for row in await db.fetch_heavy(_SALES_QUARTERS[engine], brand.id, start, end):
        day = sales[_day_of(row["quarter"], tz)]
        day[0] += row["n"]
        day[1] += row["total"] or 0
    dates = list(movements)
    ends = [_bounds(brand, day, day)[1] for day in dates]
    ends[-1] = min(ends[-1], now + dt.timedelta(microseconds=1))  # today: what is owed now
    buyers = dict.fromkeys(range(len(dates)), 0)
    sql = _ACTIVE_BY_DAY.format(interval=db.interval_of("occurred_at", len(ends)))
    for row in await db.fetch_heavy(sql, *ends, brand.id, start, end):
        buyers[row["i"]] = row["n"]
    owed_by_day = await balances.owed_at(brand_id=brand.id, ends=ends)
    trend = [
        HomeDay(
            day=day,
            sales=sales[day][0],
            revenue=sales[day][1],
            issued=movements[day]["earned"],
            redeemed=movements[day]["used"],
            active=buyers[i],
            owed=owed_by_day[i],
        )
        for i, day in enumerate(dates)
    ]
    periods = []
    for days in HOME_PERIODS:
        since, _ = _bounds(brand, today - dt.timedelta(days=days - 1), today)
        [active] = await db.fetch_heavy(_ACTIVE, brand.id, since, end)
        last = trend[-days:]
        periods.append(
            HomePeriod(
                days=days,
                sales=sum(d.sales for d in last),
                revenue=sum(d.revenue for d in last),
                issued=sum(d.issued for d in last),
                redeemed=sum(d.redeemed for d in last),
                active=active["n"],
                trend=last,
            )
        )
    owed = await balances.liability_now(brand_id=brand.id, now=now)
    [shoppers] = await db.fetch(_SHOPPERS, brand.id)
    return HomeFigures(periods=periods, owed=owed.total, pending=owed.pending, shoppers=shoppers["n"])
