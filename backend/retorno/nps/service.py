"""NPS, the Net Promoter Score: after a purchase, "from 0 to 10, how likely are you to recommend us
to a friend?", and an optional comment.

- `sweep` (the worker's time-based work) asks: for each brand that switched it on, a shopper whose
  latest purchase is `delay_days` old (and not cancelled), and who was not asked in the last
  `period_days`, gets one survey for that sale, in one set-based query per brand; a survey is
  unique per sale, so sweeps on many workers ask once. Each new survey writes an `nps.asked`
  outbox event, which the messages' `nps.ask` automation sends by push, WhatsApp or e-mail with
  the survey's own link (/nps/<token> on the brand's host).
- `answer` records a score once: a second answer finds the survey answered and is refused.
- The admin's figures: promoters score 9-10, passives 7-8, detractors 0-6; the NPS is promoters
  less detractors as a whole percentage of the answers (-100 to 100), per period, per month (the
  brand's months, cut in its own zone) and per sales channel.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from typing import Any

import msgspec

from retorno import db
from retorno.brands.service import BrandView
from retorno.errors import Conflict, Field, Invalid, NotFound
from retorno.outbox import service as outbox

EVENT = "nps.asked"
COMMENT_MAX = 1000
WINDOW = dt.timedelta(days=7)  # a purchase older than its delay by more than this is not asked about
DELAY_RANGE = (0, 60)
PERIOD_RANGE = (7, 365)
BATCH = 500


class NpsSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = False
    delay_days: int = 3
    period_days: int = 90


class SurveyView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    customer_id: int
    sale_id: int
    token: str
    channel: str
    asked_at: dt.datetime
    answered_at: dt.datetime | None
    score: int | None
    comment: str


class Split(msgspec.Struct, frozen=True, kw_only=True):
    """Answers of a group (a period, a month, a channel) by kind, and the score they give."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> int | None:
        """Promoters less detractors, a whole percentage of the answers; None: no answer."""
        n = self.answers
        return _percent(self.promoters - self.detractors, n) if n else None

    def share(self, kind: str) -> int:
        """The percentage of the answers of a kind, whole; 0 with no answer."""
        n = self.answers
        return _percent(getattr(self, kind), n) if n else 0


class Month(msgspec.Struct, frozen=True, kw_only=True):
    first: dt.date
    split: Split


class Channel(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    split: Split


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """An answer as the admin lists it: the shopper and the purchase it followed."""

    survey_id: int
    score: int
    comment: str
    answered_at: dt.datetime
    channel: str
    customer_id: int
    name: str
    email: str
    order_id: str
    occurred_at: dt.datetime
    total: int


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    first: dt.date
    last: dt.date
    split: Split
    asked: int  # surveys asked in the period
    answered_of_asked: int  # of those, answered (any time)
    months: list[Month]
    channels: list[Channel]

    @property
    def response_rate(self) -> int | None:
        """The whole percentage of the period's surveys answered; None when none was asked."""
        if not self.asked:
            return None
        return _percent(self.answered_of_asked, self.asked)


def _percent(part: int, whole: int) -> int:
    """part/whole as a whole percentage, half away from zero (-12.5 is -13, as +12.5 is +13)."""
    sign = -1 if part < 0 else 1
    quotient, rest = divmod(abs(part) * 100, whole)
    return sign * (quotient + (1 if 2 * rest >= whole else 0))


def kind_of(score: int) -> str:
    return "promoters" if score >= 9 else "passives" if score >= 7 else "detractors"


# --- settings ------------------------------------------------------------------------------------


async def settings_of(brand_id: int) -> NpsSettings:
    rows = await db.fetch(
        "SELECT enabled, delay_days, period_days FROM nps_settings WHERE brand = {}", brand_id
    )
    if not rows:
        return NpsSettings()
    row = rows[0]
    return NpsSettings(
        enabled=bool(row["enabled"]), delay_days=row["delay_days"], period_days=row["period_days"]
    )


# The settings' fields, each named once as a Field (the catalogue holds its label).
_FIELDS = {"delay_days": Field("delay_days"), "period_days": Field("period_days")}


def _whole(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not low <= value <= high:
        raise Invalid(
            "%(field)s: a whole number from %(min)s to %(max)s", field=_FIELDS[name], min=low, max=high
        )
    return value


class SettingsInvalid(Invalid):
    """The settings' form with mistakes: `each` holds one error per field (a form shows each beside
    its field)."""

    def __init__(self, each: list[Invalid]) -> None:
        super().__init__(
            "%(count)s problem(s) in the survey's settings", [e.detail for e in each], count=len(each)
        )
        self.each = each


def check_settings(*, enabled: bool, delay_days: str, period_days: str) -> NpsSettings:
    """The form's values checked, every problem at once (days as whole numbers within range)."""
    problems: list[Invalid] = []
    values: dict[str, int] = {}
    for name, text, (low, high) in (
        ("delay_days", delay_days, DELAY_RANGE),
        ("period_days", period_days, PERIOD_RANGE),
    ):
        try:
            values[name] = _whole(name, text, low, high)
        except Invalid as exc:
            problems.append(exc)
    if problems:
        raise SettingsInvalid(problems)
    return NpsSettings(enabled=enabled, **values)


async def save_settings(*, brand_id: int, settings: NpsSettings, now: dt.datetime) -> None:
    async def work() -> None:
        await db.fetch(
            "INSERT INTO nps_settings (brand, enabled, delay_days, period_days, updated_at) "
            "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (brand) DO UPDATE SET enabled = excluded.enabled, "
            "delay_days = excluded.delay_days, period_days = excluded.period_days, "
            "updated_at = excluded.updated_at",
            brand_id,
            settings.enabled,
            settings.delay_days,
            settings.period_days,
            now,
        )

    await db.write(work)


# --- asking --------------------------------------------------------------------------------------

# Each shopper's latest purchase old enough, not cancelled, of a shopper not asked in the period.
_CANDIDATES = (
    "SELECT s.id, s.customer, s.channel FROM sales s WHERE s.id IN ("
    "SELECT MAX(x.id) FROM sales x JOIN customers c ON c.id = x.customer "
    "WHERE x.brand = {} AND x.cancelled_at IS NULL AND x.occurred_at <= {} AND x.occurred_at > {} "
    "AND c.forgotten_at IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM nps_surveys n WHERE n.customer = x.customer AND n.asked_at > {}) "
    "AND NOT EXISTS (SELECT 1 FROM nps_surveys n WHERE n.sale = x.id) "
    "GROUP BY x.customer) ORDER BY s.id LIMIT {}"
)
_INSERT = (
    "INSERT INTO nps_surveys (brand, customer, sale, token, channel, asked_at, score, comment, created_at) "
    "VALUES {rows} ON CONFLICT (sale, brand) DO NOTHING RETURNING id, customer, sale, token"
)
_ROW = "({}, {}, {}, {}, {}, {}, NULL, '', {})"


async def ask_brand(*, brand_id: int, settings: NpsSettings, now: dt.datetime) -> int:
    """Surveys for this brand's shoppers due one now, and their `nps.asked` events, in one
    transaction; how many were asked."""
    due_before = now - dt.timedelta(days=settings.delay_days)
    since = now - dt.timedelta(days=settings.period_days)

    async def work() -> int:
        found = await db.fetch(_CANDIDATES, brand_id, due_before, due_before - WINDOW, since, BATCH)
        if not found:
            return 0
        values: list[Any] = []
        for row in found:
            token = secrets.token_urlsafe(24)
            values += [brand_id, row["customer"], row["id"], token, row["channel"] or "", now, now]
        made = await db.fetch(_INSERT.format(rows=", ".join(_ROW for _ in found)), *values)
        for survey in made:
            await outbox.emit(
                brand_id=brand_id,
                kind=EVENT,
                payload={
                    "customer_id": survey["customer"],
                    "survey_id": survey["id"],
                    "sale_id": survey["sale"],
                    "token": survey["token"],
                },
                now=now,
                dedupe_key=f"nps:{survey['id']}",
            )
        return len(made)

    return await db.write(work)


async def sweep(*, brands: list[BrandView], now: dt.datetime) -> int:
    """The surveys due now, for every brand that asks (idempotent: a survey is unique per sale)."""
    rows = await db.fetch(
        "SELECT brand, enabled, delay_days, period_days FROM nps_settings WHERE enabled = {}", True
    )
    by_brand = {
        r["brand"]: NpsSettings(enabled=True, delay_days=r["delay_days"], period_days=r["period_days"])
        for r in rows
    }
    asked = 0
    for brand in brands:
        settings = by_brand.get(brand.id)
        if settings is None:
            continue
        while True:  # in batches, so a large brand's first day does not hold one long transaction
            done = await ask_brand(brand_id=brand.id, settings=settings, now=now)
            asked += done
            if done < BATCH:
                break
    return asked


# --- answering -----------------------------------------------------------------------------------

_SURVEY = (
    "SELECT id, customer, sale, token, channel, asked_at, answered_at, score, comment FROM nps_surveys "
    "WHERE brand = {} AND token = {}"
)


def _view(row: dict[str, Any]) -> SurveyView:
    return SurveyView(
        id=row["id"],
        customer_id=row["customer"],
        sale_id=row["sale"],
        token=row["token"],
        channel=row["channel"],
        asked_at=row["asked_at"],
        answered_at=row["answered_at"],
        score=row["score"],
        comment=row["comment"] or "",
    )


async def survey(*, brand_id: int, token: str) -> SurveyView:
    """A brand's survey by its token; NotFound for an unknown one or another brand's."""
    rows = await db.fetch(_SURVEY, brand_id, token[:64])
    if not rows:
        raise NotFound("This survey does not exist")
    return _view(rows[0])


def check_answer(*, score: str, comment: str) -> tuple[int, str]:
    """A score from 0 to 10 and a comment within its length."""
    try:
        value = int(score.strip())
    except ValueError:
        value = -1
    if not 0 <= value <= 10:
        raise Invalid("%(field)s: choose a number from 0 to 10", field=Field("score"))
    text = comment.strip()
    if len(text) > COMMENT_MAX:
        raise Invalid("%(field)s: at most %(n)s characters", field=Field("comment"), n=COMMENT_MAX)
    return value, text


async def answer(*, brand_id: int, token: str, score: str, comment: str, now: dt.datetime) -> SurveyView:
    """Record the answer, once: a survey answered already (a second tab, a second tap) is a
    Conflict and keeps its first answer."""
    value, text = check_answer(score=score, comment=comment)

    async def work() -> SurveyView:
        rows = await db.fetch(
            "UPDATE nps_surveys SET score = {}, comment = {}, answered_at = {} "
            "WHERE brand = {} AND token = {} AND answered_at IS NULL RETURNING id",
            value,
            text,
            now,
            brand_id,
            token[:64],
        )
        found = await survey(brand_id=brand_id, token=token)
        if not rows:
            raise Conflict("You answered this survey already. Thank you!")
        return found

    return await db.write(work)


async def pending(*, brand_id: int, customer_id: int, now: dt.datetime) -> SurveyView | None:
    """The shopper's latest survey still unanswered, asked in the last 30 days (the app's card)."""
    rows = await db.fetch(
        _SURVEY.replace("AND token = {}", "AND customer = {} AND answered_at IS NULL AND asked_at > {}")
        + " ORDER BY asked_at DESC, id DESC LIMIT 1",
        brand_id,
        customer_id,
        now - dt.timedelta(days=30),
    )
    return _view(rows[0]) if rows else None


async def of_customer(*, brand_id: int, customer_id: int) -> list[dict[str, Any]]:
    """A shopper's answers, for their data export."""
    rows = await db.fetch(
        "SELECT n.asked_at, n.answered_at, n.score, n.comment, s.order_id FROM nps_surveys n "
        "JOIN sales s ON s.id = n.sale WHERE n.brand = {} AND n.customer = {} ORDER BY n.id",
        brand_id,
        customer_id,
    )
    return [
        {
            "order_id": r["order_id"],
            "asked_at": r["asked_at"].isoformat(),
            "answered_at": r["answered_at"].isoformat() if r["answered_at"] else None,
            "score": r["score"],
            "comment": r["comment"] or "",
        }
        for r in rows
    ]


async def forget(*, customer_id: int) -> None:
    """A shopper who deleted their account: their comments go (their own words); the scores stay,
    of no one now (the customer row keeps no name), so the brand's NPS does not change."""
    await db.fetch("UPDATE nps_surveys SET comment = '' WHERE customer = {}", customer_id)


# --- the admin's figures -------------------------------------------------------------------------


def _start_of(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(tz)).astimezone(dt.UTC)


def period(start: str | None, end: str | None, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days a page shows: as asked (ISO dates), else the last 90 days to today; at most 2 years."""

    def day(text: str | None) -> dt.date | None:
        try:
            return dt.date.fromisoformat(text) if text else None
        except ValueError:
            return None

    last = day(end) or today
    first = day(start) or last - dt.timedelta(days=89)
    if first > last:
        first, last = last, first
    return max(first, last - dt.timedelta(days=730)), last


def _split(row: dict[str, Any]) -> Split:
    return Split(
        promoters=int(row["promoters"] or 0),
        passives=int(row["passives"] or 0),
        detractors=int(row["detractors"] or 0),
    )


_KINDS = (
    "SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS promoters, "
    "SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END) AS passives, "
    "SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS detractors"
)


def _months_back(last: dt.date, count: int) -> list[dt.date]:
    """The first days of `count` months, the last one `last`'s month."""
    year, month = last.year, last.month
    out = []
    for _ in range(count):
        out.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


async def summary(*, brand: BrandView, first: dt.date, last: dt.date, months: int = 12) -> Summary:
    """The period's NPS (answers given in it), its surveys' response rate, the NPS of each of the
    `months` months to the period's end, and per sales channel; each a query, on both engines."""
    tz = brand.timezone
    start, end = _start_of(first, tz), _start_of(last + dt.timedelta(days=1), tz)
    where = "brand = {} AND answered_at >= {} AND answered_at < {}"
    total = await db.fetch_heavy(
        f"SELECT {_KINDS} FROM nps_surveys WHERE {where}",  # noqa: S608 - our own SQL
        brand.id,
        start,
        end,
    )
    asked = await db.fetch_heavy(
        "SELECT COUNT(*) AS asked, SUM(CASE WHEN answered_at IS NULL THEN 0 ELSE 1 END) AS answered "
        "FROM nps_surveys WHERE brand = {} AND asked_at >= {} AND asked_at < {}",
        brand.id,
        start,
        end,
    )
    firsts = _months_back(last, months)
    # Each month ends where the next begins; the last one at the first instant of the month after.
    next_month = dt.date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    bounds = [_start_of(d, tz) for d in firsts[1:]] + [_start_of(next_month, tz)]
    case = db.interval_of("answered_at", len(bounds))
    by_month = await db.fetch_heavy(
        f"SELECT {case} AS m, {_KINDS} FROM nps_surveys WHERE brand = {{}} AND answered_at >= {{}} "  # noqa: S608
        f"AND answered_at < {{}} GROUP BY m",
        *bounds,
        brand.id,
        _start_of(firsts[0], tz),
        bounds[-1],
    )
    month_rows = {r["m"]: _split(r) for r in by_month if r["m"] is not None}
    by_channel = await db.fetch_heavy(
        f"SELECT channel, {_KINDS} FROM nps_surveys WHERE {where} GROUP BY channel",  # noqa: S608
        brand.id,
        start,
        end,
    )
    channels = sorted(
        (Channel(channel=r["channel"] or "", split=_split(r)) for r in by_channel),
        key=lambda c: (-c.split.answers, c.channel),
    )
    return Summary(
        first=first,
        last=last,
        split=_split(total[0]) if total else Split(),
        asked=int(asked[0]["asked"] or 0) if asked else 0,
        answered_of_asked=int(asked[0]["answered"] or 0) if asked else 0,
        months=[Month(first=d, split=month_rows.get(i, Split())) for i, d in enumerate(firsts)],
        channels=channels,
    )


_ANSWERS = (
    "SELECT n.id, n.score, n.comment, n.answered_at, n.channel, n.customer, c.name, c.email, "
    "s.order_id, s.occurred_at, s.total FROM nps_surveys n JOIN customers c ON c.id = n.customer "
    "JOIN sales s ON s.id = n.sale WHERE n.brand = {} AND n.answered_at >= {} AND n.answered_at < {} "
)


async def answers(
    *, brand: BrandView, first: dt.date, last: dt.date, with_comment: bool = False, limit: int | None = None
) -> list[Answer]:
    """The period's answers, newest first, with the shopper and the purchase each followed."""
    tz = brand.timezone
    sql = (
        _ANSWERS + ("AND n.comment <> '' " if with_comment else "") + "ORDER BY n.answered_at DESC, n.id DESC"
    )
    args: list[Any] = [brand.id, _start_of(first, tz), _start_of(last + dt.timedelta(days=1), tz)]
    if limit is not None:
        sql += " LIMIT {}"
        args.append(limit)
    rows = await db.fetch_heavy(sql, *args)
    return [
        Answer(
            survey_id=r["id"],
            score=r["score"],
            comment=r["comment"] or "",
            answered_at=r["answered_at"],
            channel=r["channel"] or "",
            customer_id=r["customer"],
            name=r["name"] or "",
            email=r["email"] or "",
            order_id=r["order_id"],
            occurred_at=r["occurred_at"],
            total=int(r["total"]),
        )
        for r in rows
    ]
