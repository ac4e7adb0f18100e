"""The month's close, as a brand's accountant asks for it: what the brand owed its shoppers at the
start of the month, what was issued, redeemed, expired, reversed and written off in it, and what
it owed at the end, from the ledger's postings alone. It reconciles to the centavo:

    closing = opening + issued + referral rewards + adjustments - redeemed - reversed - expired

Written off is cashback a refund would have taken back that the shopper had already spent: a cost,
not a change in what is owed, so it is shown beside the reconciliation, not in it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import msgspec

from retorno.brands.service import BrandView
from retorno.errors import N_, Invalid
from retorno.ledger import balances, posting
from retorno.ledger.balances import Liability

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
LINES = ("issued", "referral", "adjustments", "redeemed", "reversed", "expired", "written_off")
# Every line's label, looked up as "close:<line>" (marked here for the catalogue).
LABELS = (
    N_("close:opening"),
    N_("close:opening_pending"),
    N_("close:issued"),
    N_("close:referral"),
    N_("close:adjustments"),
    N_("close:redeemed"),
    N_("close:reversed"),
    N_("close:expired"),
    N_("close:written_off"),
    N_("close:closing"),
    N_("close:closing_pending"),
)


class MonthClose(msgspec.Struct, frozen=True, kw_only=True):
    month: str  # 2026-10
    start: dt.datetime  # the first instant of the month in the brand's zone
    end: dt.datetime  # the first instant of the next month
    opening: Liability
    closing: Liability
    issued: int
    referral: int
    adjustments: int  # net: credits less debits
    redeemed: int  # net of cancelled redemptions
    reversed: int
    expired: int
    written_off: int

    @property
    def reconciles(self) -> bool:
        moved = self.issued + self.referral + self.adjustments - self.redeemed - self.reversed - self.expired
        return self.opening.total + moved == self.closing.total


def month_of(text: str | None, *, today: dt.date) -> tuple[int, int]:
    """ "2026-10" to (2026, 10); none given: the month before today's (the one to close)."""
    if not text:
        first = today.replace(day=1) - dt.timedelta(days=1)
        return first.year, first.month
    found = MONTH.match(text.strip())
    if not found:
        raise Invalid("month: a month like 2026-10")
    return int(found[1]), int(found[2])


def bounds(brand: BrandView, year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    tz = zoneinfo.ZoneInfo(brand.timezone)
    start = dt.datetime(year, month, 1, tzinfo=tz)
    following = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(dt.UTC), following.astimezone(dt.UTC)


async def month_close(brand: BrandView, year: int, month: int) -> MonthClose:
    start, end = bounds(brand, year, month)
    moved = await balances.flows(brand_id=brand.id, start=start, end=end)
    written_off = -moved[posting.WRITTEN_OFF]
    return MonthClose(
        month=f"{year:04d}-{month:02d}",
        start=start,
        end=end,
        opening=await balances.liability_at(brand_id=brand.id, at=start),
        closing=await balances.liability_at(brand_id=brand.id, at=end),
        # what write-offs moved out of issued was earned all the same
        issued=-moved[posting.ISSUED] + written_off,
        referral=-moved[posting.REFERRAL],
        adjustments=-moved[posting.ADJUSTMENTS],
        redeemed=moved[posting.REDEEMED],
        reversed=moved[posting.REVERSED],
        expired=moved[posting.EXPIRED],
        written_off=written_off,
    )


async def liability_on(brand: BrandView, day: dt.date) -> Liability:
    """What the brand owed at the end of one of its calendar days."""
    tz = zoneinfo.ZoneInfo(brand.timezone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return await balances.liability_at(brand_id=brand.id, at=end)
