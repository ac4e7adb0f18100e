"""CSV files the app writes (a shopper's statement, a brand's report, an import's rejected rows),
safe to open in a spreadsheet: a cell that begins with = + - @, a tab or a carriage return would
be read as a formula (`=HYPERLINK(...)` in an order id is a phishing link; `=cmd|...` ran
programs in old Excel), so such a cell is prefixed with a single quote, as OWASP recommends. A
plain number (-12.50, as money.reais writes an amount) stays a number."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+([.,][0-9]+)?$")


def cell(value: Any) -> Any:
    """One cell as it goes into the file."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def write(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue().encode()
