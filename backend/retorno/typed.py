"""Reading what people type and spreadsheets hold: amounts in reais ("1.234,56", "150.00") and the
day or moment of a sale. Used by the counter, the rules' forms and the CSV import alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from retorno.bounds import MAX_AMOUNT
from retorno.brands.service import BrandView
from retorno.errors import Invalid


def centavos(text: str) -> int:
    """ "150", "150,00", "1.234,56" or "150.00" to centavos (a clerk types reais)."""
    text = text.strip().replace("R$", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(text)
        whole = amount.is_finite() and amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # not a number, or one like 1E+999999 that no amount is
        raise Invalid(f"total: {text!r} is not an amount in reais") from None
    if not whole:
        raise Invalid(f"total: {text!r} is not an amount in reais and centavos")
    value = int(amount * 100)
    if value <= 0:
        raise Invalid("total: must be more than zero")
    if value > MAX_AMOUNT:
        raise Invalid("total: at most R$ 1.000.000.000,00")
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
        raise Invalid(f"occurred_at: {text!r} is not a date (2026-11-10) or a datetime") from None
    if value.tzinfo is None:
        raise Invalid("occurred_at: a datetime needs its offset (…-03:00)")
    return value
