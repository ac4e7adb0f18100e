"""Languages, money and dates: Babel's catalogues and formats, one place for every surface.

Messages are written in English in the code and templates; `locale/<lang>/LC_MESSAGES/messages.po` holds the
translations, compiled in memory at start-up (no build step). Money is integer centavos until
the moment it is shown, and is shown only through `money()`.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import NullTranslations, Translations

from retorno.errors import Amount, DomainError, Field, Number, Problem, Words

LANGUAGES = ("pt-BR", "en")
ZONE = "America/Sao_Paulo"  # times of pages that belong to no brand (the platform's, a staff member's)
LANGUAGE_NAMES = {"pt-BR": "Português", "en": "English"}
_LOCALE_DIR = Path(__file__).parent / "locale"


@functools.cache
def babel_locale(lang: str) -> Locale:
    return Locale.parse(lang.replace("-", "_"))


@functools.cache
def translations(lang: str) -> NullTranslations:
    po = _LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang.replace("-", "_"))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


def money(centavos: int, *, lang: str, currency: str = "BRL") -> str:
    """R$ 1.234,56 in pt-BR, R$1,234.56 in English: exact, from integer centavos.

    Babel's format_currency costs ~100 µs a call, and a statement shows dozens of amounts; so Babel
    formats one sample per language and currency, and the shape it shows is reused (the same
    result, checked against Babel by a property test)."""
    shape = _money_shape(lang, currency)
    if shape is None:
        return format_currency(Decimal(centavos) / 100, currency, locale=babel_locale(lang))
    prefix, suffix, group, decimal = shape[centavos < 0]
    reais, cents = divmod(abs(centavos), 100)
    return f"{prefix}{reais:,}".replace(",", group) + f"{decimal}{cents:02d}{suffix}"


_SAMPLE = "1234567.89"


@functools.cache
def _money_shape(lang: str, currency: str) -> tuple[tuple[str, str, str, str], ...] | None:
    """(prefix, suffix, group separator, decimal separator) for positive and negative amounts, read
    off Babel's rendering of a sample; None when the sample does not have the expected shape."""
    shapes = []
    for sign in ("", "-"):
        text = format_currency(Decimal(sign + _SAMPLE), currency, locale=babel_locale(lang))
        start, end = text.find("1"), text.rfind("9") + 1
        digits = text[start:end]
        if start < 0 or len(digits) != 12 or digits[1] != digits[5] or not digits.endswith("89"):
            return None
        if digits.replace(digits[1], "").replace(digits[9], "") != "123456789":
            return None
        shapes.append((text[:start], text[end:], digits[1], digits[9]))
    return tuple(shapes)


def percent(value: int | float, *, lang: str, per: int = 10000) -> str:
    """A rate as the locale writes it, by default from hundredths of a percent (basis points):
    1000 is 10% in both languages, 250 is 2,5% in pt-BR and 2.5% in English; `per=100` for a
    value already in percent (33.3)."""
    fraction = Decimal(str(value)) / per
    return format_percent(fraction, locale=babel_locale(lang), decimal_quantization=False)


def points(value: int, *, lang: str) -> str:
    """A number of points as the locale writes it, with its word: "1.500 pontos", "1 ponto", and
    "0 pontos" (Brazilians say zero in the plural, though gettext's pt_BR rule puts it with one)."""
    number = format_decimal(value, locale=babel_locale(lang))
    return ngettext(lang, "%(n)s point", "%(n)s points", abs(value) or 2) % {"n": number}


def hundredths(value: int, *, lang: str) -> str:
    """A number kept in hundredths (a campaign's multiplier x100) as the locale writes it: 1,5."""
    return format_decimal(Decimal(value) / 100, locale=babel_locale(lang), decimal_quantization=False)


def signed(value: float, *, lang: str) -> str:
    """A difference with its sign and one decimal, as the locale writes it: +4,0 or -1,5."""
    return format_decimal(round(value, 1), format="+#,##0.0;-#,##0.0", locale=babel_locale(lang))


def date(value: dt.date | dt.datetime | str, *, lang: str, tz: str = ZONE, fmt: str = "short") -> str:
    """A day as the shopper reads it (10/05/2026 in pt-BR); instants are taken in the brand's time zone."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        value = value.astimezone(zoneinfo.ZoneInfo(tz)).date() if value.tzinfo else value.date()
    return format_date(value, format=fmt, locale=babel_locale(lang))


def moment(value: dt.datetime, *, lang: str, tz: str = ZONE) -> str:
    """A date and time in the brand's time zone (23/11/2026 01:02 in pt-BR)."""
    return format_datetime(value.astimezone(zoneinfo.ZoneInfo(tz)), format="short", locale=babel_locale(lang))


def choose(requested: str | None, default: str, accept: str | None = None) -> str:
    """The shopper's choice when it is a language we have; on a first visit (no choice yet) what
    the browser asks for (`Accept-Language`) when we have it; else the brand's language."""
    if requested in LANGUAGES:
        return requested
    return from_accept_language(accept) or default


@functools.lru_cache(maxsize=512)  # lang_of asks on every translated word of a page
def from_accept_language(header: str | None) -> str | None:
    """The language of an `Accept-Language` header's most wanted tag, when we have it: en, en-US
    and en-GB are English, pt and pt-BR Portuguese; anything else is None."""
    best, best_q = None, 0.0
    for part in (header or "")[:500].split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = tag.strip().lower(), q
    if best is None:
        return None
    primary = best.split("-")[0]
    return {"en": "en", "pt": "pt-BR"}.get(primary)


def pgettext(lang: str, context: str, message: str) -> str:
    return str(translations(lang).pgettext(context, message))


def error_text(lang: str, error: DomainError, *, api: bool = False) -> str:
    """A domain error in the reader's language: its message id through the catalogue, then its
    parameters as the locale writes them. On a page a field is its label and an amount is money;
    in the API (`api`) a field is its JSON name and an amount its centavos, as the JSON has them."""
    return _message_text(lang, error.message, error.params, error.detail, api=api)


def problem_text(
    lang: str, problem: str, *, api: bool = False, labels: Mapping[str, str] | None = None
) -> str:
    """One of several problems (errors.Problem) in the reader's language: "file: key: what is
    wrong". Where `labels` names the key (a form's label for "theme.primary"), the label replaces
    the file and key. Plain text (a problem with no message id) is given back as it is."""
    if not isinstance(problem, Problem):
        return problem
    if labels and problem.key in labels:
        # A form's field holds the file itself: a refused picture reads "Logo: why", not its name.
        shown = problem.params.get("refusal", problem)
        text = _message_text(lang, shown.message, shown.params, str(shown), api=api)
        return f"{gettext(lang, labels[problem.key])}: {text}"
    text = _message_text(lang, problem.message, problem.params, str(problem), api=api)
    return ": ".join(part for part in (problem.file, problem.key, text) if part)


def _message_text(lang: str, message: str, params: Mapping[str, Any], english: str, *, api: bool) -> str:
    translated = gettext(lang, message)
    if not params:
        return translated
    shown: dict[str, object] = {}
    for name, value in params.items():
        if isinstance(value, Field):
            shown[name] = str(value) if api else pgettext(lang, "field", value)
        elif isinstance(value, Amount):
            shown[name] = f"{int(value)} centavos" if api else money(value, lang=lang)
        elif isinstance(value, Words):
            shown[name] = gettext(lang, value)
        elif isinstance(value, Problem):  # a refusal inside a problem ("logo.png: %(refusal)s")
            shown[name] = _message_text(lang, value.message, value.params, str(value), api=api)
        elif isinstance(value, Number):
            shown[name] = format_decimal(value, "0.00", locale=babel_locale(lang))
        else:
            shown[name] = value
    try:
        return translated % shown
    except (KeyError, ValueError, TypeError):  # a translation that lost a parameter: English, whole
        return english
