"""How much a sale earns and how much an order may redeem: pure functions of the brand's rules.

Follows ../shared/brand-pack.md, "How a sale's cashback is computed". Amounts are centavos,
rates basis points, multipliers hundredths; the only rounding is half-even, once, on the total.
The rules come from brands/rules.py (not the pack's reader) and the rounding from money.py.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno.brands.rules import CashbackRules, RedemptionRules
from retorno.money import half_even


class Item(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A line of an order: `amount` is the unit price in centavos; the line is amount x quantity."""

    sku: str = ""
    category: str | None = None
    amount: int
    quantity: int = 1

    @property
    def line_total(self) -> int:
        return self.amount * self.quantity


class ItemEarning(msgspec.Struct, kw_only=True):
    """Why one line earned what it did; kept with the credit so the statement can explain it."""

    sku: str
    category: str | None
    amount: int  # the line total
    rate_bp: int  # the rate the rule gave, before any campaign
    rule: str  # rate | band | category | segment
    band_from: int | None = None
    segment: str | None = None
    campaign: str | None = None
    multiplier_x100: int = 100
    cashback: int = 0  # this line's share, rounded on its own (for display; the total is rounded once)


class Earning(msgspec.Struct, kw_only=True):
    amount: int
    merchandise: int  # the order without shipping
    breakdown: list[ItemEarning]
    capped: bool = False
    below_min_purchase: bool = False


def _order_rate(rules: CashbackRules, merchandise: int) -> tuple[int, str, int | None]:
    """The band for the order's total (the highest `from` not above it), else the base rate."""
    bands = [b for b in rules.bands if b.from_total <= merchandise]
    if bands:
        band = max(bands, key=lambda b: b.from_total)
        return band.rate_bp, "band", band.from_total
    return rules.rate_bp, "rate", None


def earn(
    rules: CashbackRules,
    *,
    items: list[Item] | None,
    total: int,
    shipping: int,
    segment: str,
    at: dt.datetime,
) -> Earning:
    merchandise = total - shipping
    lines = items or [Item(amount=merchandise)]
    if merchandise < rules.min_purchase or merchandise <= 0:
        return Earning(amount=0, merchandise=merchandise, breakdown=[], below_min_purchase=merchandise > 0)
    order_rate, order_rule, band_from = _order_rate(rules, merchandise)
    campaigns = [c for c in rules.campaigns if c.starts <= at <= c.ends]
    breakdown, numerator = [], 0
    for item in lines:
        rate, rule = order_rate, order_rule
        if item.category is not None and rules.categories.get(item.category, -1) >= rate:
            rate, rule = rules.categories[item.category], "category"
        if segment and rules.segments.get(segment, -1) >= rate:
            rate, rule = rules.segments[segment], "segment"
        covering = [c for c in campaigns if not c.categories or item.category in c.categories]
        campaign = max(covering, key=lambda c: c.multiplier_x100, default=None)
        multiplier = campaign.multiplier_x100 if campaign else 100
        line_numerator = item.line_total * rate * multiplier
        numerator += line_numerator
        breakdown.append(
            ItemEarning(
                sku=item.sku,
                category=item.category,
                amount=item.line_total,
                rate_bp=rate,
                rule=rule,
                band_from=band_from if rule == "band" else None,
                segment=segment if rule == "segment" else None,
                campaign=campaign.name if campaign else None,
                multiplier_x100=multiplier,
                cashback=half_even(line_numerator, 1_000_000),
            )
        )
    amount = half_even(numerator, 1_000_000)  # centavos x basis points x hundredths
    cap = rules.max_per_order
    capped = cap is not None and amount > cap
    return Earning(
        amount=cap if cap is not None and capped else amount,
        merchandise=merchandise,
        breakdown=breakdown,
        capped=capped,
    )


class Redeemable(msgspec.Struct, kw_only=True):
    max_amount: int
    reason: str | None = None  # no_balance | below_min_order | max_share


def redeemable(rules: RedemptionRules, *, order_total: int, available: int) -> Redeemable:
    """At most the balance and `max_share` of the order, and nothing below `min_order`."""
    if available <= 0:
        return Redeemable(max_amount=0, reason="no_balance")
    if order_total < rules.min_order or order_total <= 0:
        return Redeemable(max_amount=0, reason="below_min_order")
    share_cap = order_total * rules.max_share_bp // 10000  # floor: never more than the share
    if share_cap < available:
        return Redeemable(max_amount=share_cap, reason="max_share")
    return Redeemable(max_amount=available)
