"""Brand packs: a folder (brand.toml, logo, regulations) read into one checked `Pack`.

Reading collects every problem before refusing, so a pack author fixes them all in one go:
each problem is one line naming the file, the key and what is wrong (the value checks are in
pack_checker.py). The result is normalised for the domains: amounts in centavos, rates in basis
points (5% = 500), multipliers in hundredths (x2 = 200), datetimes aware; its rule sections are the
structs of brands/rules.py. Sections a later domain implements are checked here too. What the admin
edits or uploads (a brand.toml, or a .zip of the folder) goes through the same checks; writing a
pack back is pack_writer.py's.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import tomllib
import zipfile
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import tomli_w
from babel.numbers import list_currencies

from retorno.brands import images
from retorno.brands.pack_checker import KEY, Checker
from retorno.brands.rules import (
    PROGRAMS,
    REFUND_POLICIES,
    Band,
    Campaign,
    CashbackRules,
    NotificationRules,
    PointsRules,
    RedemptionRules,
    ReferralRules,
    Rules,
    VoucherRule,
)
from retorno.errors import N_, Invalid, Problem

LOCALES = ("pt-BR", "en")
SLUG = re.compile(r"^[a-z0-9-]{2,32}$")
COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
A_COLOUR = N_("a colour like #8E2453")
PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_REGULATIONS_BYTES = 200_000
LOGO_FILE, REGULATIONS_FILE = "logo.png", "regulations.md"  # their names in a folder the app writes
BANNER_FILE = "banner.png"
# The type a brand's app is set in: the device's own, or one of a few open-licence (OFL) faces the
# app serves itself (frontend/fonts/; no font service). The corner style of cards, buttons, fields.
FONTS = ("system", "inter", "nunito", "lora")
CORNERS = ("round", "soft", "square")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ARCHIVE_MAX_FILES = 10
ARCHIVE_MAX_BYTES = 8 * 1024 * 1024  # uncompressed, all files together
ONE_OF = N_("must be one of %(allowed)s, not %(value)s")
NO_SUCH_FILE = N_("%(name)s: no such file in the pack")
REFUSED = N_("%(name)s: %(refusal)s")


class Theme(msgspec.Struct, frozen=True):
    primary: str = "#1F4E79"
    accent: str = "#F4B942"
    background: str = "#FFFFFF"
    font: str = "system"
    corners: str = "round"


class Contact(msgspec.Struct, frozen=True):
    email: str = ""
    whatsapp: str = ""
    phone: str = ""
    hours: str = ""


class Pack(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    name: str
    short_name: str
    locale: str = "pt-BR"
    currency: str = "BRL"
    timezone: str = "America/Sao_Paulo"
    hosts: list[str] = []
    theme: Theme = Theme()
    contact: Contact = Contact()
    rules: Rules = Rules()
    logo_png: bytes | None = None  # re-encoded; None: a monogram is drawn from the name
    regulations_md: str = ""
    banner_png: bytes | None = None  # re-encoded, at most images.BANNER_WIDTH px wide

    def digest(self) -> str:
        return hashlib.sha256(msgspec.msgpack.encode(self)).hexdigest()

    def files(self) -> dict[str, bytes]:
        """The files of the pack's folder besides brand.toml, by name (none where there is nothing)."""
        files = {}
        if self.logo_png is not None:
            files[LOGO_FILE] = self.logo_png
        if self.regulations_md:
            files[REGULATIONS_FILE] = self.regulations_md.encode()
        if self.banner_png is not None:
            files[BANNER_FILE] = self.banner_png
        return files


# --- reading -------------------------------------------------------------------------------------


def _read_cashback(c: Checker, data: dict) -> CashbackRules:
    allowed = {
        "rate",
        "min_purchase",
        "max_per_order",
        "pending_days",
        "expiry_days",
        "refund_policy",
        "categories",
        "segments",
        "bands",
        "campaigns",
    }
    t = c.table(data, "cashback", allowed)
    bands = []
    for i, band in enumerate(c.list_of_tables(t, "bands", "cashback.bands")):
        p = f"cashback.bands[{i}]"
        for unknown in sorted(set(band) - {"from", "rate"}):
            c.problem(f"{p}.{unknown}", N_("unknown key"))
        start, rate = c.amount(band, "from", f"{p}.from"), c.percent(band, "rate", f"{p}.rate")
        if start is not None and rate is not None:
            bands.append(Band(from_total=start, rate_bp=rate))
    starts = [b.from_total for b in bands]
    if len(set(starts)) != len(starts):
        c.problem("cashback.bands", N_("two bands start at the same amount"))
    campaigns = []
    for i, camp in enumerate(c.list_of_tables(t, "campaigns", "cashback.campaigns")):
        p = f"cashback.campaigns[{i}]"
        for unknown in sorted(set(camp) - {"name", "starts", "ends", "multiplier", "categories"}):
            c.problem(f"{p}.{unknown}", N_("unknown key"))
        name = c.text(camp, "name", f"{p}.name", max_len=80)
        begin, end = c.instant(camp, "starts", f"{p}.starts"), c.instant(camp, "ends", f"{p}.ends")
        if begin and end and end <= begin:
            c.problem(f"{p}.ends", N_("must be after starts"))
        multiplier = c.decimal(
            camp.get("multiplier", 1), f"{p}.multiplier", Decimal(1), Decimal(10), N_("a multiplier")
        )
        categories = camp.get("categories", [])
        if not isinstance(categories, list) or not all(
            isinstance(x, str) and KEY.match(x) for x in categories
        ):
            c.problem(f"{p}.categories", N_("must be a list of category names ([] = every category)"))
            categories = []
        if name and begin and end and end > begin and multiplier:
            campaigns.append(
                Campaign(
                    name=name,
                    starts=begin,
                    ends=end,
                    multiplier_x100=multiplier,
                    categories=sorted(categories),
                )
            )
    policy = c.text(t, "refund_policy", "cashback.refund_policy", default="write_off")
    if policy and policy not in REFUND_POLICIES:
        c.problem("cashback.refund_policy", ONE_OF, allowed=", ".join(REFUND_POLICIES), value=repr(policy))
    return CashbackRules(
        rate_bp=c.percent(t, "rate", "cashback.rate", default=1000) or 0,
        min_purchase=c.amount(t, "min_purchase", "cashback.min_purchase", default=0) or 0,
        max_per_order=c.amount(t, "max_per_order", "cashback.max_per_order", allow_empty=True),
        pending_days=c.integer(t, "pending_days", "cashback.pending_days", default=7, low=0, high=365),
        expiry_days=c.integer(t, "expiry_days", "cashback.expiry_days", default=90, low=0, high=3650),
        refund_policy=policy,
        categories=c.rate_map(t, "categories", "cashback.categories"),
        segments=c.rate_map(t, "segments", "cashback.segments"),
        bands=sorted(bands, key=lambda b: b.from_total),
        campaigns=campaigns,
    )


POINTS_KEYS = {
    "program",
    "per_real",
    "min_purchase",
    "max_per_order",
    "pending_days",
    "expiry_days",
    "categories",
    "segments",
    "bands",
}
PER_REAL = N_("a number of points per real")


def _per_real_map(c: Checker, t: dict, key: str) -> dict[str, int]:
    value = t.get(key, {})
    if not isinstance(value, dict):
        c.problem(f"points.{key}", N_("must be a table of name = points per real"))
        return {}
    out = {}
    for name in sorted(value):
        if not KEY.match(name):
            c.problem(f"points.{key}.{name}", N_("names use a-z, 0-9, _ and - only"))
            continue
        rate = c.decimal(value[name], f"points.{key}.{name}", Decimal(0), Decimal(1000), PER_REAL)
        if rate is not None:
            out[name] = rate
    return out


def _read_points(c: Checker, data: dict) -> tuple[str, PointsRules | None]:
    """The [points] table: which programme the brand runs, and how points are earned (the
    cashback's formula with points per real in place of percent)."""
    if "points" not in data:
        return "cashback", None
    t = c.table(data, "points", POINTS_KEYS)
    program = c.text(t, "program", "points.program", default="both")
    if program and program not in PROGRAMS:
        c.problem("points.program", ONE_OF, allowed=", ".join(PROGRAMS), value=repr(program))
    bands = []
    for i, band in enumerate(c.list_of_tables(t, "bands", "points.bands")):
        p = f"points.bands[{i}]"
        for unknown in sorted(set(band) - {"from", "per_real"}):
            c.problem(f"{p}.{unknown}", N_("unknown key"))
        start = c.amount(band, "from", f"{p}.from")
        rate = c.decimal(band.get("per_real"), f"{p}.per_real", Decimal(0), Decimal(1000), PER_REAL)
        if start is not None and rate is not None:
            bands.append(Band(from_total=start, rate_bp=rate))
    if len({b.from_total for b in bands}) != len(bands):
        c.problem("points.bands", N_("two bands start at the same amount"))
    cap = t.get("max_per_order", "")
    if cap != "" and (isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 10**9):
        c.problem(
            "points.max_per_order",
            N_('must be a whole number of points or "" for no cap, not %(value)s'),
            value=repr(cap),
        )
        cap = ""
    per_real = c.decimal(t.get("per_real", 1), "points.per_real", Decimal(0), Decimal(1000), PER_REAL)
    earn = CashbackRules(
        rate_bp=per_real or 0,
        min_purchase=c.amount(t, "min_purchase", "points.min_purchase", default=0) or 0,
        max_per_order=None if cap == "" else cap,
        pending_days=c.integer(t, "pending_days", "points.pending_days", default=7, low=0, high=365),
        expiry_days=c.integer(t, "expiry_days", "points.expiry_days", default=365, low=0, high=3650),
        categories=_per_real_map(c, t, "categories"),
        segments=_per_real_map(c, t, "segments"),
        bands=sorted(bands, key=lambda b: b.from_total),
    )
    return program if program in PROGRAMS else "both", PointsRules(earn=earn)


def _read_rules(c: Checker, data: dict) -> Rules:
    cashback = _read_cashback(c, data)
    program, points = _read_points(c, data)
    t = c.table(data, "redemption", {"min_order", "max_share"})
    redemption = RedemptionRules(
        min_order=c.amount(t, "min_order", "redemption.min_order", default=0) or 0,
        max_share_bp=c.percent(t, "max_share", "redemption.max_share", default=10000, low=Decimal(1))
        or 10000,
    )
    vouchers = []
    v = c.table(data, "vouchers", {"rules"})
    for i, rule in enumerate(c.list_of_tables(v, "rules", "vouchers.rules")):
        p = f"vouchers.rules[{i}]"
        allowed = {"min_purchase", "amount", "percent", "min_order", "valid_days"}
        for unknown in sorted(set(rule) - allowed):
            c.problem(f"{p}.{unknown}", N_("unknown key"))
        if ("amount" in rule) == ("percent" in rule):
            c.problem(p, N_("needs exactly one of amount or percent"))
        amount = c.amount(rule, "amount", f"{p}.amount") if "amount" in rule else None
        percent = (
            c.percent(rule, "percent", f"{p}.percent", low=Decimal("0.01")) if "percent" in rule else None
        )
        vouchers.append(
            VoucherRule(
                min_purchase=c.amount(rule, "min_purchase", f"{p}.min_purchase") or 0,
                amount=amount,
                percent_bp=percent,
                min_order=c.amount(rule, "min_order", f"{p}.min_order", default=0) or 0,
                valid_days=c.integer(rule, "valid_days", f"{p}.valid_days", default=30, low=1, high=3650),
            )
        )
    referral = None
    if "referral" in data:
        r = c.table(
            data, "referral", {"referrer_reward", "friend_reward", "min_first_purchase", "monthly_cap"}
        )
        referral = ReferralRules(
            referrer_reward=c.amount(r, "referrer_reward", "referral.referrer_reward") or 0,
            friend_reward=c.amount(r, "friend_reward", "referral.friend_reward") or 0,
            min_first_purchase=c.amount(r, "min_first_purchase", "referral.min_first_purchase", default=0)
            or 0,
            monthly_cap=c.integer(r, "monthly_cap", "referral.monthly_cap", default=None, low=1, high=10000),
        )
    n = c.table(data, "notifications", {"expiry_reminder_days"})
    days = n.get("expiry_reminder_days", [7, 1])
    if (
        not isinstance(days, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 365 for d in days)
        or len(set(days)) != len(days)
    ):
        c.problem(
            "notifications.expiry_reminder_days",
            N_("must be a list of distinct whole days from 1 to 365, not %(value)s"),
            value=repr(days),
        )
        days = [7, 1]
    return Rules(
        program=program,
        points=points,
        cashback=cashback,
        redemption=redemption,
        vouchers=vouchers,
        referral=referral,
        notifications=NotificationRules(expiry_reminder_days=sorted(days, reverse=True)),
    )


TOP_KEYS = {
    "slug",
    "name",
    "short_name",
    "locale",
    "currency",
    "timezone",
    "hosts",
    "theme",
    "contact",
    "cashback",
    "points",
    "redemption",
    "vouchers",
    "referral",
    "notifications",
}


def _file_name(c: Checker, theme: dict, key: str) -> str | None:
    """A file the pack names: a plain name inside its own folder, never a path (a brand.toml
    uploaded by a manager must not read /etc/passwd or ../anything into the brand)."""
    name = c.text(theme, key, f"theme.{key}")
    if not PLAIN_NAME.match(name) or ".." in name:
        example = {"logo": LOGO_FILE, "banner": BANNER_FILE}.get(key, REGULATIONS_FILE)
        c.problem(
            f"theme.{key}",
            N_("%(name)s: name a file in the pack's folder, like %(example)s"),
            name=repr(name),
            example=example,
        )
        return None
    return name


def read_pack(folder: Path) -> Pack:
    """Read and check a brand pack folder; raise Invalid listing every problem found."""
    folder = Path(folder)
    toml_path = folder / "brand.toml"
    file = str(toml_path)
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = Problem(file, "", N_("no such file"))
        raise Invalid(problem, [problem]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problem = Problem(file, "", N_("not valid TOML: %(error)s"), error=str(exc))
        raise Invalid(problem, [problem]) from None

    c = Checker(file)
    for unknown in sorted(set(data) - TOP_KEYS):
        c.problem(unknown, N_("unknown key"))
    slug = c.text(data, "slug", "slug", pattern=SLUG, what=N_("a slug of 2-32 characters a-z, 0-9, -"))
    name = c.text(data, "name", "name", max_len=100)
    short_name = c.text(data, "short_name", "short_name", default=name[:12], max_len=12)
    locale = c.text(data, "locale", "locale", default="pt-BR")
    if locale and locale not in LOCALES:
        c.problem("locale", ONE_OF, allowed=", ".join(LOCALES), value=repr(locale))
    currency = c.text(data, "currency", "currency", default="BRL")
    if currency and currency not in list_currencies():
        c.problem("currency", N_("%(value)s is not an ISO 4217 currency code"), value=repr(currency))
    timezone = c.text(data, "timezone", "timezone", default="America/Sao_Paulo")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        c.problem(
            "timezone", N_("%(value)s is not an IANA time zone like America/Sao_Paulo"), value=repr(timezone)
        )
    hosts = data.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        c.problem("hosts", N_("must be a list of host names"))
        hosts = []
    hosts = sorted({h.strip().lower() for h in hosts})
    for host in hosts:
        if not HOSTNAME.match(host):
            c.problem(
                "hosts", N_("%(value)s is not a host name like fidelidade.bella.com.br"), value=repr(host)
            )

    t = c.table(
        data, "theme", {"primary", "accent", "background", "font", "corners", "logo", "banner", "regulations"}
    )
    colours = {
        k: c.text(t, k, f"theme.{k}", default=getattr(Theme(), k), pattern=COLOUR, what=A_COLOUR)
        for k in ("primary", "accent", "background")
    }
    for k, value in colours.items():
        if not value and k in t:
            c.problem(f"theme.{k}", N_("is empty; give a colour like #8E2453"))
    styles = {}
    for key, allowed in (("font", FONTS), ("corners", CORNERS)):
        value = c.text(t, key, f"theme.{key}", default=allowed[0])
        if isinstance(t.get(key, ""), str) and value not in allowed:  # a non-string is told already
            c.problem(f"theme.{key}", ONE_OF, allowed=", ".join(allowed), value=repr(value))
            value = allowed[0]
        styles[key] = value
    theme = Theme(**{k: (v or getattr(Theme(), k)).upper() for k, v in colours.items()}, **styles)
    logo_png = None
    if "logo" in t and (logo_name := _file_name(c, t, "logo")):
        try:
            logo_png = images.reencode_logo((folder / logo_name).read_bytes())
        except OSError:
            c.problem("theme.logo", NO_SUCH_FILE, name=logo_name)
        except images.ImageRefused as exc:
            c.problem("theme.logo", REFUSED, name=logo_name, refusal=exc.problem)
    banner_png = None
    if "banner" in t and (banner_name := _file_name(c, t, "banner")):
        try:
            banner_png = images.reencode_banner((folder / banner_name).read_bytes())[0]
        except OSError:
            c.problem("theme.banner", NO_SUCH_FILE, name=banner_name)
        except images.ImageRefused as exc:
            c.problem("theme.banner", REFUSED, name=banner_name, refusal=exc.problem)
    regulations = ""
    if "regulations" in t and (reg_name := _file_name(c, t, "regulations")):
        try:
            raw = (folder / reg_name).read_bytes()
            if len(raw) > MAX_REGULATIONS_BYTES:
                c.problem(
                    "theme.regulations",
                    N_("%(name)s: larger than %(max)s KB"),
                    name=reg_name,
                    max=MAX_REGULATIONS_BYTES // 1000,
                )
            regulations = raw.decode("utf-8").replace("\r\n", "\n").strip() + "\n"
        except OSError:
            c.problem("theme.regulations", NO_SUCH_FILE, name=reg_name)
        except UnicodeDecodeError:
            c.problem("theme.regulations", N_("%(name)s: not UTF-8 text"), name=reg_name)

    ct = c.table(data, "contact", {"email", "whatsapp", "phone", "hours"})
    contact = Contact(
        email=c.text(
            ct, "email", "contact.email", default="", pattern=EMAIL, what=N_("an e-mail address")
        ).lower(),
        whatsapp=c.text(
            ct,
            "whatsapp",
            "contact.whatsapp",
            default="",
            pattern=PHONE,
            what=N_("a phone number in E.164 form like +5511999990000"),
        ),
        phone=c.text(
            ct,
            "phone",
            "contact.phone",
            default="",
            pattern=PHONE,
            what=N_("a phone number in E.164 form like +551133330000"),
        ),
        hours=c.text(ct, "hours", "contact.hours", default=""),
    )
    rules = _read_rules(c, data)
    if c.problems:
        raise Invalid(
            "%(folder)s: the brand pack has %(count)s problem(s)",
            c.problems,
            folder=folder,
            count=len(c.problems),
        )
    return Pack(
        slug=slug,
        name=name,
        short_name=short_name,
        locale=locale,
        currency=currency,
        timezone=timezone,
        hosts=hosts,
        theme=theme,
        contact=contact,
        rules=rules,
        logo_png=logo_png,
        regulations_md=regulations,
        banner_png=banner_png,
    )


# --- edits and uploads ---------------------------------------------------------------------------


def check_edited(
    doc: dict[str, Any], *, base: Pack | None = None, files: dict[str, bytes] | None = None
) -> Pack:
    """A pack from an edited brand.toml document (the admin's forms), through every check of
    `read_pack`. `base` supplies the files of the pack it edits (its logo, its regulations), `files`
    adds or replaces some; problems name files as the pack does, never a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        for name, data in (base.files() if base is not None else {}).items():
            (Path(folder) / name).write_bytes(data)
        for name, data in (files or {}).items():
            if not PLAIN_NAME.match(name):  # a name from an upload never reaches outside the folder
                raise Invalid("%(name)r: a pack's files are plain names like logo.png", name=name)
            (Path(folder) / name).write_bytes(data)
        (Path(folder) / "brand.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
        try:
            return read_pack(Path(folder))
        except Invalid as exc:
            problems = [_outside(p, folder) for p in exc.problems]
            raise Invalid("%(count)s problem(s) in the brand pack", problems, count=len(problems)) from None


def _outside(problem: str, folder: str) -> str:
    """A problem of a pack read from a temporary folder, naming its files as the pack does."""
    if isinstance(problem, Problem):
        return problem.in_file(problem.file.replace(folder + "/", ""))
    return problem.replace(folder + "/", "")


def from_upload(data: bytes, *, base: Pack | None = None) -> Pack:
    """A pack uploaded as a .zip of its folder, or as its brand.toml alone (then the logo and the
    regulations it names come from `base`). Every check of read_pack applies."""
    doc, files = unpack(data)
    return check_edited(doc, base=base, files=files)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """An upload's brand.toml (parsed) and other files. A .zip's entries are read by plain name only
    (one folder around them is allowed), with limits on their count and size."""
    files: dict[str, bytes] = {}
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            entries = [e for e in archive.infolist() if not e.is_dir()]
        except (zipfile.BadZipFile, OSError):
            raise Invalid("pack: the .zip cannot be read") from None
        if len(entries) > ARCHIVE_MAX_FILES:
            raise Invalid("pack: at most %(max)s files in a pack's .zip", max=ARCHIVE_MAX_FILES)
        if sum(e.file_size for e in entries) > ARCHIVE_MAX_BYTES:
            raise Invalid("pack: the files add up to more than %(max)s MB", max=ARCHIVE_MAX_BYTES // 2**20)
        for entry in entries:
            name = entry.filename.rsplit("/", 1)[-1]
            if entry.filename.count("/") > 1 or ".." in entry.filename or not PLAIN_NAME.match(name):
                raise Invalid("pack: %(name)r is not a file of a pack's folder", name=entry.filename)
            try:
                files[name] = archive.read(entry)[: ARCHIVE_MAX_BYTES + 1]
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):
                raise Invalid("pack: %(name)r cannot be read from the .zip", name=entry.filename) from None
        if "brand.toml" not in files:
            raise Invalid("pack: the .zip has no brand.toml")
        data = files.pop("brand.toml")
    try:
        return tomllib.loads(data.decode("utf-8")), files
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Invalid("brand.toml: not a TOML file (%(error)s)", error=exc) from None
