"""Reading what people type and spreadsheets hold: amounts in reais ("1.234,56", "150.00") and the
day or moment of a sale. Used by the counter, the rules' forms and the CSV import alike; the
arithmetic from reais to centavos is money.py's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from retorno.bounds import MAX_AMOUNT
from retorno.brands.service import BrandView
from retorno.errors import Amount, Field, Invalid
from retorno.money import hundredths


def dotted_reais(text: str) -> str:
    """Reais as typed, with a decimal point and no grouping: "R$ 1.234,56" is "1234.56", "150,00" is
    "150.00" (a comma is the decimal separator, and dots group thousands); "150.00" stays as it is."""
    text = text.strip().replace("R$", "").strip()
    return text.replace(".", "").replace(",", ".") if "," in text else text


def as_typed(value: int | None) -> str:
    """Centavos as a form shows them for editing, the way a person types them: "1234,56" (and
    nothing for no amount)."""
    return "" if value is None else f"{value // 100},{value % 100:02d}"


def centavos(text: str) -> int:
    """ "150", "150,00", "1.234,56" or "150.00" to centavos (a clerk types reais)."""
    text = dotted_reais(text)
    try:
        value = hundredths(Decimal(text))
    except InvalidOperation:  # not a number, or one like 1E+999999 that no amount is
        raise Invalid(
            "%(field)s: %(value)r is not an amount in reais", field=Field("total"), value=text
        ) from None
    if value is None:
        raise Invalid(
            "%(field)s: %(value)r is not an amount in reais and centavos", field=Field("total"), value=text
        )
    if value <= 0:
        raise Invalid("%(field)s: must be more than zero", field=Field("total"))
    if value > MAX_AMOUNT:
        raise Invalid("%(field)s: at most %(max)s", field=Field("total"), max=Amount(MAX_AMOUNT))
    return value


def when_of(text: str, brand: BrandView) -> dt.datetime:
    """2026-11-10 (noon in the brand's time zone) or an ISO datetime with an offset."""
    import zoneinfo

    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(12), zoneinfo.ZoneInfo(brand.timezone)).astimezone(dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "%(field)s: %(value)r is not a date (2026-11-10) or a datetime",
            field=Field("occurred_at"),
            value=text,
        ) from None
    if value.tzinfo is None:
        raise Invalid("%(field)s: a datetime needs its offset (…-03:00)", field=Field("occurred_at"))
    return value
