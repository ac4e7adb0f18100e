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

from retorno.errors import N_, Problem, Words
from retorno.money import hundredths

KEY = re.compile(r"^[a-z0-9_-]{1,40}$")
AMOUNT = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


class Checker:
    """Reads values out of the parsed TOML, noting a problem instead of raising at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def problem(self, key: str, message: str, /, **params: Any) -> None:
        """Note what is wrong with `key`: a message id and its parameters (errors.Problem)."""
        self.problems.append(Problem(self.file, key, message, **params))

    def table(self, data: dict, key: str, allowed: set[str]) -> dict:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            self.problem(key, N_("must be a table"))
            return {}
        for unknown in sorted(set(value) - allowed):
            self.problem(f"{key}.{unknown}", N_("unknown key"))
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
        what: str = "",  # what the value should be, a message id: N_("an e-mail address")
    ) -> str:
        value = data.get(key, default)
        if value is None:
            self.problem(path, N_("is required"))
            return ""
        if not isinstance(value, str):
            self.problem(path, N_("must be a string, not %(value)s"), value=repr(value))
            return ""
        value = value.strip()
        if len(value) > max_len:
            self.problem(
                path, N_("must be at most %(max)s characters (has %(count)s)"), max=max_len, count=len(value)
            )
        elif pattern is not None and value and not pattern.match(value):
            self.problem(path, N_("%(value)s is not %(what)s"), value=repr(value), what=Words(what))
        return value

    def amount(
        self, data: dict, key: str, path: str, *, default: int | None = None, allow_empty: bool = False
    ) -> int | None:
        """Reais with a dot ("20.00") to centavos; "" is None where `allow_empty`."""
        if key not in data:
            if default is None and not allow_empty:
                self.problem(path, N_("is required"))
            return default
        value = data[key]
        if allow_empty and value == "":
            return None
        if not isinstance(value, str) or not AMOUNT.match(value):
            self.problem(
                path,
                N_('must be an amount in reais as a string like "20.00", not %(value)s'),
                value=repr(value),
            )
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
                self.problem(path, N_("is required"))
            return default
        value = self.decimal(data[key], path, low, high, N_("a number of percent"))
        return default if value is None else value

    def decimal(self, value: Any, path: str, low: Decimal, high: Decimal, what: str) -> int | None:
        """A TOML number from `low` to `high` with at most two decimals, in hundredths; `what` is
        a message id (N_("a multiplier"))."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._out_of_range(path, low, high, what, value)
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:  # pragma: no cover - str() of an int or float is a number
            number = Decimal("NaN")
        if not number.is_finite() or not (low <= number <= high):  # TOML has nan and inf
            self._out_of_range(path, low, high, what, value)
            return None
        count = hundredths(number)
        if count is None:
            self.problem(path, N_("takes at most two decimals, not %(value)s"), value=repr(value))
        return count

    def _out_of_range(self, path: str, low: Decimal, high: Decimal, what: str, value: Any) -> None:
        self.problem(
            path,
            N_("must be %(what)s between %(low)s and %(high)s, not %(value)s"),
            what=Words(what),
            low=str(low),
            high=str(high),
            value=repr(value),
        )

    def integer(self, data: dict, key: str, path: str, *, default: int | None, low: int, high: int) -> int:
        value = data.get(key, default)
        if value is None:
            self.problem(path, N_("is required"))
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(
                path,
                N_("must be a whole number from %(low)s to %(high)s, not %(value)s"),
                low=low,
                high=high,
                value=repr(value),
            )
            return default or 0
        return value

    def instant(self, data: dict, key: str, path: str) -> dt.datetime | None:
        value = data.get(key)
        if not isinstance(value, dt.datetime):
            self.problem(
                path,
                N_("must be a TOML datetime like 2026-11-27T00:00:00-03:00, not %(value)s"),
                value=repr(value),
            )
            return None
        if value.tzinfo is None:
            self.problem(path, N_("needs an offset (like -03:00) so the instant is not ambiguous"))
            return None
        return value

    def rate_map(self, data: dict, key: str, path: str) -> dict[str, int]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(path, N_("must be a table of name = percent"))
            return {}
        out = {}
        for name in sorted(value):
            if not KEY.match(name):
                self.problem(f"{path}.{name}", N_("names use a-z, 0-9, _ and - only"))
                continue
            rate = self.percent(value, name, f"{path}.{name}")
            if rate is not None:
                out[name] = rate
        return out

    def list_of_tables(self, data: dict, key: str, path: str) -> list[dict]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(path, N_("must be an array of tables ([[%(path)s]])"), path=path)
            return []
        return value
