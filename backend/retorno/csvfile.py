"""CSV files the app writes (a shopper's statement, a brand's report, an import's rejected rows),
safe to open in a spreadsheet: a cell that begins with = + - @, a tab or a carriage return would
be read as a formula (`=HYPERLINK(...)` in an order id is a phishing link; `=cmd|...` ran
programs in old Excel), so such a cell is prefixed with a single quote, as OWASP recommends. A
plain number (-12.50, as money.reais writes an amount) stays a number.

Each file is written as a spreadsheet in the reader's language opens it without a wizard: in
pt-BR, `;` between cells and a decimal comma (Excel in Portuguese reads `,` as the decimal
separator); always UTF-8 with a byte-order mark, so accents survive; an amount given as `Money`
is written in the locale's decimals, an instant as a local time to the second."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from retorno import money

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+([.,][0-9]+)?$")


def cell(value: Any) -> Any:
    """One cell as it goes into the file."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


class Money(int):
    """Centavos, written as the locale's spreadsheet reads an amount (12,50 in pt-BR)."""


def write(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, lang: str = "en", tz: str = "UTC"
) -> bytes:
    comma = lang.startswith("pt")
    zone = zoneinfo.ZoneInfo(tz)

    def shown(value: Any) -> Any:
        if isinstance(value, Money):
            text = money.reais(value)
            return text.replace(".", ",") if comma else text
        if isinstance(value, dt.datetime):
            local = value.astimezone(zone) if value.tzinfo else value
            return local.replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
        if isinstance(value, dt.date):
            return value.isoformat()
        return cell(value)

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if comma else ",", lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([shown(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode()
