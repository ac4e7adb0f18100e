"""The value checks of brand.toml: each value's type, form and bounds, every problem collected.

The pack's reader (brands/pack.py) asks a `Checker` for each value; a wrong value becomes one line
naming the file, the key and what is wrong, and reading goes on, so the author sees every problem
at once. Amounts are reais written with a dot ("20.00") and come out in centavos; percentages and
multipliers take at most two decimals and come out in hundredths, so nothing is rounded.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from retorno.money import hundredths

KEY = re.compile(r"^[a-z0-9_-]{1,40}$")
AMOUNT = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


class Checker:
    """Reads values out of the parsed TOML, noting a problem instead of raising at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.file}: {key}: {message}")

    def table(self, data: dict, key: str, allowed: set[str]) -> dict:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        for unknown in sorted(set(value) - allowed):
            self.problem(f"{key}.{unknown}", "unknown key")
        return value

    def text(
        self,
        data: dict,
        key: str,
        path: str,
        *,
        default: str | None = None,
        max_len: int = 200,
        pattern: re.Pattern | None = None,
        what: str = "",
    ) -> str:
        value = data.get(key, default)
        if value is None:
            self.problem(path, "is required")
            return ""
        if not isinstance(value, str):
            self.problem(path, f"must be a string, not {value!r}")
            return ""
        value = value.strip()
        if len(value) > max_len:
            self.problem(path, f"must be at most {max_len} characters (has {len(value)})")
        elif pattern is not None and value and not pattern.match(value):
            self.problem(path, f"{value!r} is not {what}")
        return value

    def amount(
        self, data: dict, key: str, path: str, *, default: int | None = None, allow_empty: bool = False
    ) -> int | None:
        """Reais with a dot ("20.00") to centavos; "" is None where `allow_empty`."""
        if key not in data:
            if default is None and not allow_empty:
                self.problem(path, "is required")
            return default
        value = data[key]
        if allow_empty and value == "":
            return None
        if not isinstance(value, str) or not AMOUNT.match(value):
            self.problem(path, f'must be an amount in reais as a string like "20.00", not {value!r}')
            return default
        return hundredths(Decimal(value))  # AMOUNT allows two decimals at most: never None

    def percent(
        self,
        data: dict,
        key: str,
        path: str,
        *,
        default: int | None = None,
        low: Decimal = Decimal(0),
        high: Decimal = Decimal(100),
    ) -> int | None:
        """A percentage (10, 2.5) to basis points; at most two decimals so no rounding happens."""
        if key not in data:
            if default is None:
                self.problem(path, "is required")
            return default
        value = self.decimal(data[key], path, low, high, "a number of percent")
        return default if value is None else value

    def decimal(self, value: Any, path: str, low: Decimal, high: Decimal, what: str) -> int | None:
        """A TOML number from `low` to `high` with at most two decimals, in hundredths."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(path, f"must be {what} between {low} and {high}, not {value!r}")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:  # pragma: no cover - str() of an int or float is a number
            number = Decimal("NaN")
        if not number.is_finite() or not (low <= number <= high):  # TOML has nan and inf
            self.problem(path, f"must be {what} between {low} and {high}, not {value!r}")
            return None
        count = hundredths(number)
        if count is None:
            self.problem(path, f"takes at most two decimals, not {value!r}")
        return count

    def integer(self, data: dict, key: str, path: str, *, default: int | None, low: int, high: int) -> int:
        value = data.get(key, default)
        if value is None:
            self.problem(path, "is required")
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}, not {value!r}")
            return default or 0
        return value

    def instant(self, data: dict, key: str, path: str) -> dt.datetime | None:
        value = data.get(key)
        if not isinstance(value, dt.datetime):
            self.problem(path, f"must be a TOML datetime like 2026-11-27T00:00:00-03:00, not {value!r}")
            return None
        if value.tzinfo is None:
            self.problem(path, "needs an offset (like -03:00) so the instant is not ambiguous")
            return None
        return value

    def rate_map(self, data: dict, key: str, path: str) -> dict[str, int]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(path, "must be a table of name = percent")
            return {}
        out = {}
        for name in sorted(value):
            if not KEY.match(name):
                self.problem(f"{path}.{name}", "names use a-z, 0-9, _ and - only")
                continue
            rate = self.percent(value, name, f"{path}.{name}")
            if rate is not None:
                out[name] = rate
        return out

    def list_of_tables(self, data: dict, key: str, path: str) -> list[dict]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(path, f"must be an array of tables ([[{path}]])")
            return []
        return value
