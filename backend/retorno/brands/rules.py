"""A brand's rules, as the domains use them: cashback, redemption, vouchers, referrals, reminders.

The brand pack's reader (brands/pack.py) builds them from brand.toml, already normalised: amounts
in centavos, rates in basis points (5% = 500), multipliers in hundredths (x2 = 200), datetimes
aware. The ledger computes earnings from them. This module imports nothing of the app, so the
ledger depends on the rules and not on how a pack is read or written.
"""

from __future__ import annotations

import datetime as dt

import msgspec

# What a refund does to cashback of its sale that was already spent (../shared/brand-pack.md).
REFUND_POLICIES = ("write_off", "negative_balance")


class Band(msgspec.Struct, frozen=True):
    from_total: int  # centavos
    rate_bp: int


class Campaign(msgspec.Struct, frozen=True):
    name: str
    starts: dt.datetime
    ends: dt.datetime
    multiplier_x100: int
    categories: list[str] = []


class CashbackRules(msgspec.Struct, frozen=True):
    rate_bp: int = 1000
    min_purchase: int = 0
    max_per_order: int | None = None
    pending_days: int = 7
    expiry_days: int = 90
    refund_policy: str = "write_off"
    categories: dict[str, int] = {}
    segments: dict[str, int] = {}
    bands: list[Band] = []
    campaigns: list[Campaign] = []


class RedemptionRules(msgspec.Struct, frozen=True):
    min_order: int = 0
    max_share_bp: int = 10000


class VoucherRule(msgspec.Struct, frozen=True):
    min_purchase: int
    amount: int | None = None
    percent_bp: int | None = None
    min_order: int = 0
    valid_days: int = 30


class ReferralRules(msgspec.Struct, frozen=True):
    referrer_reward: int
    friend_reward: int
    min_first_purchase: int
    monthly_cap: int


class NotificationRules(msgspec.Struct, frozen=True):
    expiry_reminder_days: list[int] = msgspec.field(default_factory=lambda: [7, 1])


# What a brand's programme gives: cashback, points, or both.
PROGRAMS = ("cashback", "points", "both")


class PointsRules(msgspec.Struct, frozen=True):
    """Points earned by the cashback machinery: `earn` is the cashback's rules with rates in
    points per real x 100 (1 point per real = 100), which the same formula turns into points
    (centavos x rate x multiplier / 10^6), and the cashback's campaigns."""

    earn: CashbackRules = CashbackRules(rate_bp=100, expiry_days=365)


class Rules(msgspec.Struct, frozen=True):
    program: str = "cashback"
    points: PointsRules | None = None
    cashback: CashbackRules = CashbackRules()
    redemption: RedemptionRules = RedemptionRules()
    vouchers: list[VoucherRule] = []
    referral: ReferralRules | None = None
    notifications: NotificationRules = NotificationRules()

    @property
    def earns_cashback(self) -> bool:
        return self.program != "points"

    @property
    def earns_points(self) -> bool:
        return self.program != "cashback" and self.points is not None

    def points_earning(self) -> CashbackRules:
        """The points' rules as `ledger.rules.earn` takes them (the cashback's campaigns apply)."""
        earn = (self.points or PointsRules()).earn
        return msgspec.structs.replace(earn, campaigns=self.cashback.campaigns)
