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
from markupsafe import escape

from retorno import db
from retorno.brands.service import BrandView
from retorno.errors import Invalid
from retorno.ledger import balances

KINDS = {
    "earn": "earned",
    "referral_reward": "earned",
    "redeem": "used",
    "reverse": "reversed",
    "expire": "expired",
}
SERIES = ("earned", "used", "reversed", "expired")
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
# The brand home's figures: aggregates on every visit of the admin's first page (bench/reports.py
# times them beside the reports).
_TODAY_SALES = (
    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS total, "
    "CAST(COALESCE(SUM(cashback), 0) AS BIGINT) AS cashback "
    "FROM sales WHERE brand = {} AND occurred_at >= {} AND cancelled_at IS NULL"
)
_SHOPPERS = "SELECT COUNT(*) AS n FROM customers WHERE brand = {} AND forgotten_at IS NULL"


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
    repurchase_rate: float
    referrals_joined: int
    referrals_rewarded: int


class HomeFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Today's key figures on the brand's home (`home_figures`)."""

    sales: int
    revenue: int
    cashback: int
    owed: int
    shoppers: int


def period(start: str | None, end: str | None, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end] as dates (end included); the last 30 days by default."""
    try:
        last = dt.date.fromisoformat(end) if end else today
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=29)
    except ValueError:
        raise Invalid("start, end: dates as YYYY-MM-DD") from None
    if first > last:
        raise Invalid("start: must not be after end")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"a period of at most {MAX_DAYS} days")
    return first, last


def _bounds(brand: BrandView, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return start, end


async def report(brand: BrandView, first: dt.date, last: dt.date, *, now: dt.datetime) -> Report:
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start, end = _bounds(brand, first, last)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    daily = {day: {"earned": 0, "used": 0, "reversed": 0, "expired": 0} for day in days}
    engine = "postgres" if db.is_postgres() else "sqlite"
    for row in await db.fetch_heavy(_QUARTERS[engine], brand.id, start, end, *KINDS):
        at = dt.datetime.fromtimestamp(row["quarter"] * QUARTER, dt.UTC)
        daily[at.astimezone(tz).date()][KINDS[row["kind"]]] += row["total"]

    async def count(sql: str, *args: Any) -> int:
        return (await db.fetch_heavy(sql, *args))[0]["n"]

    def active(days_back: int) -> Any:
        return count(_ACTIVE, brand.id, end - dt.timedelta(days=days_back), end)

    buyers = await count(_BUYERS, brand.id)
    repeat = await count(_REPEAT_BUYERS, brand.id)
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
        repurchase_rate=round(100 * repeat / buyers, 1) if buyers else 0.0,
        referrals_joined=joined,
        referrals_rewarded=rewarded,
    )


def bar_chart(
    days: list[ReportDay], series: tuple[str, ...], labels: dict[str, str], *, name: str = ""
) -> str:
    """A grouped bar chart of centavos per day, as SVG; `name` is what a screen reader says of it
    (the table beside it holds the figures)."""
    width, height, pad = 640, 220, 30
    peak = max([getattr(d, s) for d in days for s in series] + [1])
    slot = (width - 2 * pad) / max(len(days), 1)
    bar = max(slot / (len(series) + 1), 1)
    colours = {"earned": "#2E7D32", "used": "#1565C0", "reversed": "#EF6C00", "expired": "#6D4C41"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{escape(name)}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
    ]
    for i, day in enumerate(days):
        for j, name in enumerate(series):
            h = (height - 2 * pad) * getattr(day, name) / peak
            x = pad + i * slot + j * bar
            title = f"{day.day.isoformat()} {escape(labels[name])}: {getattr(day, name) / 100:.2f}"
            parts.append(
                f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[name]}"><title>{title}</title></rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


async def home_figures(brand: BrandView, now: dt.datetime) -> HomeFigures:
    """Today's key figures (the brand's calendar day) and what the brand owes its shoppers."""

    local = now.astimezone(zoneinfo.ZoneInfo(brand.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    [sales] = await db.fetch(_TODAY_SALES, brand.id, start)
    owed = await balances.liability_now(brand_id=brand.id, now=now)
    [shoppers] = await db.fetch(_SHOPPERS, brand.id)
    return HomeFigures(
        sales=sales["n"],
        revenue=sales["total"],
        cashback=sales["cashback"],
        owed=owed.total,
        shoppers=shoppers["n"],
    )
