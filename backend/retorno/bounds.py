"""What every input from outside must fit before it reaches a service's logic or a column.

Text has no control characters (PostgreSQL refuses a NUL in `text`, SQLite stores it: one engine
would fail with a 500) and fits its column; an id is stripped once, then checked, then stored as
checked; money is whole centavos within MAX_AMOUNT (BIGINT columns hold far more, so every sum
stays exact); a time carries its offset and lies between OLDEST ago and a day ahead. Every check
raises Invalid naming the field, the same on both engines.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

from retorno.errors import Field, Invalid

MAX_AMOUNT = 10**11  # R$ 1 billion: beyond any real order, well inside 64-bit sums
MAX_ITEMS = 1000  # lines in one sale
MAX_KEY = 100  # order, refund, redemption and external ids
OLDEST = dt.timedelta(days=5 * 365 + 1)  # a sale, refund or import may be dated 5 years back
AHEAD = dt.timedelta(days=1)  # ...and a day ahead (clocks and time zones disagree)

CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL: never in a one-line value


def doc(description: str, *, example: Any = None, **bounds: Any) -> msgspec.Meta:
    """A field's description, example and bounds for the API's OpenAPI document, as
    `Annotated[int, doc("...", example=15000, **MONEY)]`. Documentation only: the checks below
    enforce the same bounds, with messages in the reader's language (bounds use the names of
    litestar's Schema: minimum, maximum, min_length, max_length, max_items)."""
    schema: dict[str, Any] = {"description": description}
    if example is not None:
        schema["examples"] = [example]
    if bounds:
        schema["extra"] = bounds
    return msgspec.Meta(extra_json_schema=schema)


MONEY = {"minimum": 0, "maximum": MAX_AMOUNT}  # centavos
KEY = {"min_length": 1, "max_length": MAX_KEY}  # an id, stripped: at most MAX_KEY characters after
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # ...but tabs and line breaks


def check_text(
    name: str, value: str, *, max_length: int, min_length: int = 0, multiline: bool = False
) -> str:
    """`value` stripped, without control characters, from `min_length` to `max_length` long."""
    value = value.strip()
    if (CONTROL_IN_TEXT if multiline else CONTROL).search(value):
        raise Invalid(
            "%(field)s: control characters (such as NUL or a line break) are not allowed", field=Field(name)
        )
    if not min_length <= len(value) <= max_length:
        if min_length:
            raise Invalid(
                "%(field)s: %(min)s to %(max)s characters", field=Field(name), min=min_length, max=max_length
            )
        raise Invalid("%(field)s: at most %(max)s characters", field=Field(name), max=max_length)
    return value


def check_key(name: str, value: str) -> str:
    """An idempotency key or external id: 1 to 100 printable characters, stored stripped."""
    value = check_text(name, value, max_length=MAX_KEY, min_length=1)
    if not value.isprintable():
        raise Invalid("%(field)s: 1 to %(max)s printable characters", field=Field(name), max=MAX_KEY)
    return value


def check_amount(name: str, value: int, *, minimum: int = 0) -> int:
    if not minimum <= value <= MAX_AMOUNT:
        raise Invalid(
            "%(field)s: must be a whole number of centavos from %(min)s to %(max)s",
            field=Field(name),
            min=minimum,
            max=MAX_AMOUNT,
        )
    return value


def check_moment_text(name: str, value: str) -> dt.datetime:
    """A time written in ISO 8601 with its offset (a query's `updated_since`), in UTC."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(
            "%(field)s: give the time in ISO 8601 with its offset (like 2026-12-01T10:00:00-03:00)",
            field=Field(name),
        )
    return moment.astimezone(dt.UTC)


def check_moment(name: str, value: dt.datetime, *, now: dt.datetime) -> dt.datetime:
    """A time with its offset, from OLDEST ago to AHEAD from now, in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid("%(field)s: give an offset (2026-11-27T15:04:05-03:00 or ...Z)", field=Field(name))
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        utc = None
    if utc is None or not now - OLDEST <= utc <= now + AHEAD:
        raise Invalid("%(field)s: must be within the last 5 years and at most a day ahead", field=Field(name))
    return utc


def control_character_at(value: Any, path: str = "") -> str | None:
    """The path (`customer.name`, `items[3].sku`) of the first string, or key, in decoded JSON
    that holds a control character; None if there is none."""
    if isinstance(value, str):
        return path or "body" if CONTROL.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and CONTROL.search(key):
                return where
            if (found := control_character_at(item, where)) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := control_character_at(item, f"{path}[{i}]")) is not None:
                return found
    return None


# A JSON string escape of a control character (\u0000-\u001f, \u007f, \n, \t, ...), not preceded
# by an escaped backslash, or a raw DEL. Raw C0 bytes cannot be inside a JSON string at all.
_ESCAPED_CONTROL = re.compile(rb"\x7f|(?<!\\)(?:\\\\)*\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bfnrt])")


def control_character_in_json(raw: bytes) -> bool:
    """A quick look at JSON text (C speed): could a string in it hold a control character?"""
    return _ESCAPED_CONTROL.search(raw) is not None
