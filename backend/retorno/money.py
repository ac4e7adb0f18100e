"""Exact money arithmetic in integers, shared by the rules, the brand packs, the forms and the CSVs.

Amounts are centavos, rates basis points (5% = 500), multipliers hundredths (x2 = 200): all three
are counts of hundredths of the number a person writes, so one pair of conversions serves them.
Only the standard library is imported, so any module may use this one.
"""

from __future__ import annotations

from decimal import Decimal

_CENT = Decimal("0.01")


def half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even, in integers (both >= 0)."""
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def hundredths(number: Decimal) -> int | None:
    """`number` x 100 when that is whole (12.5 -> 1250: reais to centavos, a percent to basis points,
    a multiplier to hundredths); None when `number` has more than two decimals or is not finite.

    Raises decimal.InvalidOperation when `number` has more digits than the context holds (1E+999999).
    """
    if not number.is_finite() or number != number.quantize(_CENT):
        return None
    return int(number * 100)


def from_hundredths(count: int) -> int | float:
    """The number a count of hundredths stands for: 10 for 1000, 2.5 for 250. A whole number stays an
    int; otherwise a float, whose shortest form is the two-decimal number itself (2.05, never 2.0499)."""
    return count // 100 if count % 100 == 0 else float(Decimal(count) / 100)


def reais(centavos: int) -> str:
    """An amount as a pack file and a spreadsheet write it: "1234.56", "-12.50" (no grouping)."""
    return f"{'-' if centavos < 0 else ''}{abs(centavos) // 100}.{abs(centavos) % 100:02d}"
