"""The benefits club: partner benefits a brand curates, the ones a shopper sees, and their uses.

- A benefit is used in one of three ways (`HOW`): a code the app shows the shopper, a link to the
  partner's site, or a pass the shopper shows at the partner (their name and member number).
- A shopper sees a benefit that is on, within its dates (from its first day to the end of its last,
  in the brand's time zone) and meant for their segment (no segment chosen: every shopper).
- A use is recorded once per shopper and benefit (a unique pair; a second tap or a race inserts
  nothing), so the admin's count is of shoppers who used it.
- Every query names the brand: another brand's benefit id is not found.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

import msgspec

from retorno import db
from retorno.bounds import CONTROL, CONTROL_IN_TEXT
from retorno.brands import images
from retorno.brands.pack import REFUSED
from retorno.brands.service import BrandView
from retorno.club.tables import Benefit
from retorno.customers import service as customers
from retorno.errors import N_, Invalid, NotFound, Problem

HOW = ("code", "link", "show")
HOW_NAMES = {
    "code": N_("A code shown in the app"),
    "link": N_("A link to the partner's site"),
    "show": N_("Show the app at the partner"),
}
MAX_TITLE, MAX_PARTNER, MAX_DESCRIPTION, MAX_CODE, MAX_URL = 80, 80, 600, 40, 500
MAX_POSITION = 9999
_SEGMENT = re.compile(r"^[a-z0-9_-]{1,40}$")
_CODE = re.compile(r"^[A-Za-z0-9._@#*+/-]+$")


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A benefit as the manager typed it (dates as the brand's days, YYYY-MM-DD; empty: open)."""

    title: str = ""
    partner: str = ""
    description: str = ""
    how: str = "code"
    code: str = ""
    url: str = ""
    valid_from: str = ""
    valid_until: str = ""
    segments: tuple[str, ...] = ()
    position: str = "0"
    enabled: bool = True


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """A draft read into what is stored."""

    title: str
    partner: str
    description: str
    how: str
    code: str
    url: str
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    segments: str
    position: int
    enabled: bool


class BenefitView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    title: str
    partner: str
    description: str
    how: str
    code: str
    url: str
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None  # exclusive
    segments: tuple[str, ...]
    enabled: bool
    position: int
    image_digest: str  # "": no picture
    image_width: int
    image_height: int

    @property
    def last_day(self) -> dt.datetime | None:
        """An instant on the last day it is valid (`valid_until` is the start of the day after)."""
        return self.valid_until - dt.timedelta(days=1) if self.valid_until is not None else None

    def shown_to(self, segment: str, now: dt.datetime) -> bool:
        """Whether a shopper of `segment` sees this benefit at `now`."""
        return (
            self.enabled
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
            and (not self.segments or segment in self.segments)
        )

    def state(self, now: dt.datetime) -> str:
        """on, off, scheduled (not yet begun) or ended: what the admin's list says of it."""
        if not self.enabled:
            return "off"
        if self.valid_until is not None and now >= self.valid_until:
            return "ended"
        if self.valid_from is not None and now < self.valid_from:
            return "scheduled"
        return "on"


class AdminBenefit(BenefitView, frozen=True, kw_only=True):
    """A benefit in the admin's list, with how many shoppers used it."""

    uses: int


class ShopperBenefit(BenefitView, frozen=True, kw_only=True):
    """A benefit in a shopper's club: whether they used it already (a code once seen stays shown)."""

    used: bool


_COLUMNS = (
    "id, title, partner, description, how, code, url, valid_from, valid_until, segments, enabled, "
    "position, image_digest, image_width, image_height"
)


def _view(row: dict[str, Any], kind: type[Any] = BenefitView, **extra: Any) -> Any:
    values = {k: row[k] for k in _COLUMNS.split(", ")}
    values["segments"] = tuple(row["segments"].split())
    values["enabled"] = bool(row["enabled"])
    return kind(**values, **extra)


# --- the manager's side ----------------------------------------------------------------------------


def _day(text: str, key: str, problems: list[str]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(Problem("", key, N_("a date like 2026-12-31")))
        return None


def check(draft: Draft, *, timezone: str) -> Checked:
    """A draft as it is stored, or Invalid naming every field that is wrong (each a Problem whose
    key is the form's field)."""
    problems: list[str] = []

    def text(key: str, value: str, maximum: int, *, required: bool = False, lines: bool = False) -> str:
        value = value.strip()
        if (CONTROL_IN_TEXT if lines else CONTROL).search(value):
            problems.append(Problem("", key, N_("remove the control characters (such as a tab)")))
        elif required and not value:
            problems.append(Problem("", key, N_("this is needed")))
        elif len(value) > maximum:
            problems.append(Problem("", key, N_("at most %(max)s characters"), max=maximum))
        return value

    title = text("title", draft.title, MAX_TITLE, required=True)
    partner = text("partner", draft.partner, MAX_PARTNER, required=True)
    description = text("description", draft.description, MAX_DESCRIPTION, lines=True)
    how = draft.how if draft.how in HOW else ""
    if not how:
        problems.append(Problem("", "how", N_("choose how the shopper uses it")))
    code = text("code", draft.code, MAX_CODE, required=how == "code") if how == "code" else ""
    if code and not _CODE.match(code):
        problems.append(Problem("", "code", N_("letters, digits and . _ - @ # * + / only, no spaces")))
    url = text("url", draft.url, MAX_URL, required=how == "link") if how == "link" else ""
    if url and not _https(url):
        problems.append(Problem("", "url", N_("an address starting with https:// (https://parceiro.com.br)")))
    zone = zoneinfo.ZoneInfo(timezone)
    first = _day(draft.valid_from, "valid_from", problems)
    last = _day(draft.valid_until, "valid_until", problems)
    if first and last and last < first:
        problems.append(Problem("", "valid_until", N_("the last day comes before the first")))
    segments = sorted({s.strip().lower() for s in draft.segments if s.strip()})
    if any(not _SEGMENT.match(s) for s in segments):
        problems.append(Problem("", "segments", N_("a segment uses a-z, 0-9, _ and - only")))
    position = 0
    if draft.position.strip():
        if not draft.position.strip().isdigit() or int(draft.position) > MAX_POSITION:
            problems.append(Problem("", "position", N_("a whole number from 0 to %(max)s"), max=MAX_POSITION))
        else:
            position = int(draft.position)
    if problems:
        raise Invalid("%(count)s problem(s) in the benefit", problems, count=len(problems))
    return Checked(
        title=title,
        partner=partner,
        description=description,
        how=how,
        code=code,
        url=url,
        valid_from=dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC) if first else None,
        valid_until=(
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
            if last
            else None
        ),
        segments=" ".join(segments),
        position=position,
        enabled=draft.enabled,
    )


def _https(url: str) -> bool:
    if any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and "." in (parts.hostname or "")


def picture(data: bytes) -> tuple[bytes, int, int]:
    """An uploaded picture checked and re-encoded (brands.images, as a logo is), or Invalid naming
    the picture field."""
    try:
        return images.reencode_picture(data)
    except images.ImageRefused as exc:
        raise Invalid(
            "%(count)s problem(s) in the benefit",
            [Problem("", "image", REFUSED, name="image", refusal=exc.problem)],
            count=1,
        ) from None


def draft_of(benefit: BenefitView, *, timezone: str) -> Draft:
    """A stored benefit as the form shows it: its dates as the brand's days (the last one included)."""
    zone = zoneinfo.ZoneInfo(timezone)

    def day(value: dt.datetime | None, back: int = 0) -> str:
        return (value.astimezone(zone) - dt.timedelta(days=back)).date().isoformat() if value else ""

    return Draft(
        title=benefit.title,
        partner=benefit.partner,
        description=benefit.description,
        how=benefit.how,
        code=benefit.code,
        url=benefit.url,
        valid_from=day(benefit.valid_from),
        valid_until=day(benefit.valid_until, back=1),
        segments=benefit.segments,
        position=str(benefit.position),
        enabled=benefit.enabled,
    )


def _image_values(image: tuple[bytes, int, int] | None) -> dict[str, Any]:
    if image is None:
        return {}
    data, width, height = image
    digest = hashlib.sha256(data).hexdigest()[:32]
    return {"image": data, "image_digest": digest, "image_width": width, "image_height": height}


async def create(
    *, brand_id: int, benefit: Checked, image: tuple[bytes, int, int] | None, now: dt.datetime
) -> int:
    """A new benefit; its id."""
    values = msgspec.structs.asdict(benefit) | _image_values(image)
    return await db.insert(Benefit, brand=brand_id, **values, created_at=now, updated_at=now)


async def update(
    *,
    brand_id: int,
    benefit_id: int,
    benefit: Checked,
    image: tuple[bytes, int, int] | None,
    remove_image: bool = False,
    now: dt.datetime,
) -> None:
    """Change a benefit: a new picture replaces the old one, `remove_image` takes it away."""
    await get(brand_id=brand_id, benefit_id=benefit_id)
    values: dict[Any, Any] = msgspec.structs.asdict(benefit) | _image_values(image)
    if image is None and remove_image:
        values |= {"image": None, "image_digest": "", "image_width": 0, "image_height": 0}
    await Benefit.update(values | {"updated_at": now}, force=True).where(
        (Benefit.brand == brand_id) & (Benefit.id == benefit_id)
    )


async def set_enabled(*, brand_id: int, benefit_id: int, enabled: bool, now: dt.datetime) -> None:
    """Switch a benefit on or off (off: no shopper sees it; its uses stay counted)."""
    await get(brand_id=brand_id, benefit_id=benefit_id)
    await Benefit.update({Benefit.enabled: enabled, Benefit.updated_at: now}).where(
        (Benefit.brand == brand_id) & (Benefit.id == benefit_id)
    )


async def get(*, brand_id: int, benefit_id: int) -> BenefitView:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM club_benefits WHERE brand = {{}} AND id = {{}}",  # noqa: S608 - our columns
        brand_id,
        benefit_id,
    )
    if not rows:
        raise NotFound("no such benefit")
    return _view(rows[0])


async def benefits(*, brand_id: int) -> list[AdminBenefit]:
    """Every benefit of the brand, in the club's order, with how many shoppers used each."""
    rows = await db.fetch(
        f"SELECT {', '.join('b.' + c for c in _COLUMNS.split(', '))}, "  # noqa: S608 - our columns
        "(SELECT COUNT(*) FROM club_uses u WHERE u.benefit = b.id) AS uses "
        "FROM club_benefits b WHERE b.brand = {} ORDER BY b.position, b.id",
        brand_id,
    )
    return [_view(r, AdminBenefit, uses=int(r["uses"])) for r in rows]


async def next_position(*, brand_id: int) -> int:
    """Where a new benefit goes by default: after the last one."""
    rows = await db.fetch("SELECT MAX(position) AS last FROM club_benefits WHERE brand = {}", brand_id)
    last = rows[0]["last"] if rows else None
    return min((last or 0) + 10, MAX_POSITION) if last is not None else 10


async def known_segments(brand: BrandView) -> list[str]:
    """The segments a manager can choose from: those the cashback rules name and those the brand's
    customers are in."""
    return sorted(set(brand.rules().cashback.segments) | set(await customers.segments(brand.id)))


async def image(*, brand_id: int, benefit_id: int) -> tuple[bytes, str] | None:
    """A benefit's picture (JPEG bytes) and its digest (the ETag), or None without one."""
    rows = await db.fetch(
        "SELECT image, image_digest FROM club_benefits WHERE brand = {} AND id = {}", brand_id, benefit_id
    )
    if not rows or rows[0]["image"] is None:
        return None
    return bytes(rows[0]["image"]), rows[0]["image_digest"]


# --- the shopper's side ----------------------------------------------------------------------------


async def visible(*, brand_id: int, customer_id: int, segment: str, now: dt.datetime) -> list[ShopperBenefit]:
    """The benefits this shopper sees now, in the club's order, each saying whether they used it."""
    rows = await db.fetch(
        f"SELECT {', '.join('b.' + c for c in _COLUMNS.split(', '))}, u.id AS use_id "  # noqa: S608
        "FROM club_benefits b LEFT JOIN club_uses u ON u.benefit = b.id AND u.customer = {} "
        "WHERE b.brand = {} AND b.enabled = {} AND (b.valid_from IS NULL OR b.valid_from <= {}) "
        "AND (b.valid_until IS NULL OR b.valid_until > {}) ORDER BY b.position, b.id",
        customer_id,
        brand_id,
        True,
        now,
        now,
    )
    found = [_view(r, ShopperBenefit, used=r["use_id"] is not None) for r in rows]
    return [b for b in found if not b.segments or segment in b.segments]


async def shown(*, brand_id: int, benefit_id: int, segment: str, now: dt.datetime) -> BenefitView:
    """A benefit this shopper may see now; another brand's, one switched off, out of its dates or
    for another segment is not found."""
    benefit = await get(brand_id=brand_id, benefit_id=benefit_id)
    if not benefit.shown_to(segment, now):
        raise NotFound("no such benefit")
    return benefit


async def use(
    *, brand_id: int, benefit_id: int, customer_id: int, segment: str, now: dt.datetime
) -> BenefitView:
    """Record that this shopper used the benefit (its code seen, its link followed, its pass shown):
    once, however often they tap; the benefit back."""
    benefit = await shown(brand_id=brand_id, benefit_id=benefit_id, segment=segment, now=now)
    await db.write(
        lambda: db.fetch(
            "INSERT INTO club_uses (brand, benefit, customer, used_at) VALUES ({}, {}, {}, {}) "
            "ON CONFLICT (benefit, customer, brand) DO NOTHING RETURNING id",
            brand_id,
            benefit_id,
            customer_id,
            now,
        )
    )
    return benefit


async def used(*, brand_id: int, benefit_id: int, customer_id: int) -> bool:
    rows = await db.fetch(
        "SELECT id FROM club_uses WHERE brand = {} AND benefit = {} AND customer = {}",
        brand_id,
        benefit_id,
        customer_id,
    )
    return bool(rows)


async def uses_of(*, brand_id: int, customer_id: int) -> list[dict[str, Any]]:
    """A shopper's uses, for their data export: which benefit and when."""
    return await db.fetch(
        "SELECT b.title, b.partner, u.used_at FROM club_uses u JOIN club_benefits b ON b.id = u.benefit "
        "WHERE u.brand = {} AND u.customer = {} ORDER BY u.used_at",
        brand_id,
        customer_id,
    )


def member_number(brand: BrandView, customer_id: int) -> str:
    """What a partner writes down to tell members apart: the brand and the shopper's number
    (BELLA-000042)."""
    return f"{brand.slug.upper()[:8]}-{customer_id:06d}"
