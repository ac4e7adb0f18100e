"""Earning and redemption rules, each alone and combined, against amounts worked out by hand.

The spec is ../shared/brand-pack.md, "How a sale's cashback is computed". Amounts are centavos,
rates basis points (10% = 1000), multipliers hundredths (x2 = 200). Every expected amount below is
worked out by hand in the comment next to it, never by calling the code under test.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retorno.brands.rules import Band, Campaign, CashbackRules, RedemptionRules
from retorno.ledger import rules
from retorno.ledger.rules import Item, redeemable
from retorno.money import half_even
from retorno.onboarding.brand import import_brand
from tests.conftest import demo_pack

BRT = dt.timezone(dt.timedelta(hours=-3))
ORDINARY_DAY = dt.datetime(2026, 11, 10, 12, 0, tzinfo=BRT)

BLACK_FRIDAY = Campaign(
    name="Black Friday",
    starts=dt.datetime(2026, 11, 27, 0, 0, 0, tzinfo=BRT),
    ends=dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BRT),
    multiplier_x100=200,
)
INSIDE_BLACK_FRIDAY = dt.datetime(2026, 11, 28, 15, 0, tzinfo=BRT)

TEN_PERCENT = CashbackRules(rate_bp=1000)
# the seed "5% for purchases up to R$100, 10% above R$200": from R$ 0,00 5%, from R$ 200,00 10%
PROGRESSIVE = CashbackRules(rate_bp=1000, bands=[Band(0, 500), Band(20000, 1000)])


def earn(
    cashback: CashbackRules,
    *,
    items: list[Item] | None = None,
    total: int | None = None,
    shipping: int = 0,
    segment: str = "",
    at: dt.datetime = ORDINARY_DAY,
) -> rules.Earning:
    """rules.earn with the total taken from the items (plus shipping) when not given."""
    if total is None:
        assert items is not None
        total = sum(item.line_total for item in items) + shipping
    return rules.earn(cashback, items=items, total=total, shipping=shipping, segment=segment, at=at)


# --- the base rate ----------------------------------------------------------------------------------


def test_ten_percent_everywhere_seed_example():
    # 10% of R$ 150,00 = R$ 15,00
    e = earn(TEN_PERCENT, items=[Item(sku="batom", category="maquiagem", amount=15000)])
    assert e.amount == 1500
    assert e.merchandise == 15000
    assert not e.capped and not e.below_min_purchase
    [line] = e.breakdown
    assert (line.sku, line.category, line.amount) == ("batom", "maquiagem", 15000)
    assert (line.rule, line.rate_bp, line.campaign, line.multiplier_x100) == ("rate", 1000, None, 100)
    assert line.band_from is None and line.segment is None


def test_ten_percent_over_several_items():
    # 10% of (R$ 80,00 + R$ 45,50 + R$ 12,35 = R$ 137,85) = R$ 13,785 = 1378,5 centavos -> 1378 (even)
    items = [Item(amount=8000), Item(amount=4550, category="perfumaria"), Item(amount=1235)]
    e = earn(TEN_PERCENT, items=items)
    assert e.amount == 1378
    assert [line.amount for line in e.breakdown] == [8000, 4550, 1235]
    assert {line.rule for line in e.breakdown} == {"rate"}


def test_no_items_is_one_item_of_total_minus_shipping():
    # total R$ 165,00 - shipping R$ 15,00 = one uncategorised item of R$ 150,00; 10% = R$ 15,00
    e = earn(TEN_PERCENT, items=None, total=16500, shipping=1500)
    assert e.amount == 1500
    assert e.merchandise == 15000
    [line] = e.breakdown
    assert (line.sku, line.category, line.amount, line.rule) == ("", None, 15000, "rate")


def test_an_empty_item_list_is_treated_as_no_items():
    # items=[] -> one item of R$ 100,00 - R$ 0,00; 10% = R$ 10,00
    e = earn(TEN_PERCENT, items=[], total=10000)
    assert e.amount == 1000
    assert [line.amount for line in e.breakdown] == [10000]


def test_shipping_is_not_part_of_the_base():
    # items R$ 150,00 + shipping R$ 20,00 = total R$ 170,00; 10% only of R$ 150,00 = R$ 15,00 (not R$ 17,00)
    e = earn(TEN_PERCENT, items=[Item(amount=15000)], shipping=2000)
    assert e.amount == 1500
    assert e.merchandise == 15000


def test_zero_rate_earns_nothing():
    # 0% of R$ 150,00 = R$ 0,00 (an order with nothing to earn is not "below min purchase")
    e = earn(CashbackRules(rate_bp=0), items=[Item(amount=15000)])
    assert e.amount == 0
    assert not e.below_min_purchase
    assert e.breakdown[0].rule == "rate" and e.breakdown[0].rate_bp == 0


# --- progressive bands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected", "band_from", "rate_bp"),
    [
        # 5% of R$ 99,99 = 499,95 centavos -> 500 (R$ 5,00)
        (9999, 500, 0, 500),
        # 5% of R$ 100,00 = R$ 5,00
        (10000, 500, 0, 500),
        # 5% of R$ 150,00 = R$ 7,50
        (15000, 750, 0, 500),
        # 5% of R$ 199,99 = 999,95 centavos -> 1000 (R$ 10,00)
        (19999, 1000, 0, 500),
        # R$ 200,00 reaches the second band: 10% of R$ 200,00 = R$ 20,00
        (20000, 2000, 20000, 1000),
        # 10% of R$ 350,00 = R$ 35,00
        (35000, 3500, 20000, 1000),
    ],
)
def test_progressive_bands(total, expected, band_from, rate_bp):
    e = earn(PROGRESSIVE, items=None, total=total)
    assert e.amount == expected
    [line] = e.breakdown
    assert (line.rule, line.band_from, line.rate_bp) == ("band", band_from, rate_bp)


def test_the_highest_band_start_not_above_the_total_wins_whatever_the_listing_order():
    # bands listed out of order: from R$ 500,00 12%, from R$ 0,00 5%, from R$ 200,00 10%
    cashback = CashbackRules(bands=[Band(50000, 1200), Band(0, 500), Band(20000, 1000)])
    # R$ 350,00: starts 0 and 200,00 are not above it, 500,00 is; highest is 200,00 -> 10% = R$ 35,00
    assert earn(cashback, total=35000).amount == 3500
    # R$ 500,00: 500,00 is not above it -> 12% of R$ 500,00 = R$ 60,00
    assert earn(cashback, total=50000).amount == 6000
    # R$ 150,00: only 0 -> 5% of R$ 150,00 = R$ 7,50
    assert earn(cashback, total=15000).amount == 750


def test_a_band_replaces_a_higher_base_rate():
    # base 10%, bands 5% from R$ 0,00 / 10% from R$ 200,00: the band, not the base, gives the rate
    # 5% of R$ 150,00 = R$ 7,50 (not 10% = R$ 15,00)
    e = earn(PROGRESSIVE, total=15000)
    assert e.amount == 750
    assert e.breakdown[0].rule == "band"


def test_bands_are_measured_on_the_total_without_shipping():
    # total R$ 210,00 with R$ 20,00 shipping: merchandise R$ 190,00 is below the R$ 200,00 band
    # 5% of R$ 190,00 = R$ 9,50
    e = earn(PROGRESSIVE, items=[Item(amount=19000)], shipping=2000)
    assert e.amount == 950
    assert e.breakdown[0].band_from == 0


def test_when_no_band_applies_the_base_rate_does():
    # base 2%, bands from R$ 50,00 5% and from R$ 200,00 10%
    cashback = CashbackRules(rate_bp=200, bands=[Band(5000, 500), Band(20000, 1000)])
    # R$ 40,00 is below the first band: base 2% of R$ 40,00 = R$ 0,80
    e = earn(cashback, total=4000)
    assert e.amount == 80
    assert (e.breakdown[0].rule, e.breakdown[0].rate_bp, e.breakdown[0].band_from) == ("rate", 200, None)
    # R$ 49,99: still below; 2% of R$ 49,99 = 99,98 centavos -> 100
    assert earn(cashback, total=4999).amount == 100
    # R$ 50,00 reaches the first band: 5% of R$ 50,00 = R$ 2,50
    e = earn(cashback, total=5000)
    assert e.amount == 250
    assert (e.breakdown[0].rule, e.breakdown[0].band_from) == ("band", 5000)


# --- category rates ---------------------------------------------------------------------------------


def test_only_selected_categories_earn():
    # base 0%, maquiagem 15%
    cashback = CashbackRules(rate_bp=0, categories={"maquiagem": 1500})
    items = [
        Item(sku="batom", category="maquiagem", amount=10000),
        Item(sku="shampoo", category="cabelo", amount=5000),
        Item(sku="brinde", amount=3000),
    ]
    # 15% of R$ 100,00 (maquiagem) + 0% of R$ 50,00 (cabelo) + 0% of R$ 30,00 (no category) = R$ 15,00
    e = earn(cashback, items=items)
    assert e.amount == 1500
    assert [(line.rule, line.rate_bp) for line in e.breakdown] == [
        ("category", 1500),
        ("rate", 0),
        ("rate", 0),
    ]


def test_an_order_without_the_selected_categories_earns_nothing():
    # base 0%, maquiagem 15%; only cabelo R$ 200,00: 0% = R$ 0,00
    cashback = CashbackRules(rate_bp=0, categories={"maquiagem": 1500})
    assert earn(cashback, items=[Item(category="cabelo", amount=20000)]).amount == 0


def test_a_lower_category_rate_does_not_lower_the_base():
    # base 10%, perfumaria 5%: the item keeps the higher base; 10% of R$ 80,00 = R$ 8,00
    cashback = CashbackRules(rate_bp=1000, categories={"perfumaria": 500})
    e = earn(cashback, items=[Item(category="perfumaria", amount=8000)])
    assert e.amount == 800
    assert (e.breakdown[0].rule, e.breakdown[0].rate_bp) == ("rate", 1000)


def test_category_against_bands_the_higher_wins():
    # bands 5% from R$ 0,00 / 10% from R$ 200,00; maquiagem 8%
    cashback = msgspec.structs.replace(PROGRESSIVE, categories={"maquiagem": 800})
    # order R$ 150,00 (band 5%): maquiagem R$ 100,00 at 8% = R$ 8,00; cabelo R$ 50,00 at 5% = R$ 2,50
    # total R$ 10,50
    e = earn(cashback, items=[Item(category="maquiagem", amount=10000), Item(category="cabelo", amount=5000)])
    assert e.amount == 1050
    assert [(line.rule, line.rate_bp) for line in e.breakdown] == [("category", 800), ("band", 500)]
    # order R$ 250,00 (band 10% > 8%): 10% of R$ 250,00 = R$ 25,00
    e = earn(
        cashback, items=[Item(category="maquiagem", amount=10000), Item(category="cabelo", amount=15000)]
    )
    assert e.amount == 2500
    assert [(line.rule, line.rate_bp) for line in e.breakdown] == [("band", 1000), ("band", 1000)]


# --- segment rates ----------------------------------------------------------------------------------

SEGMENTED = CashbackRules(rate_bp=1000, categories={"maquiagem": 1200}, segments={"vip": 1500})
MIXED_ORDER = [Item(sku="batom", category="maquiagem", amount=10000), Item(sku="escova", amount=5000)]


def test_vip_beats_base_and_category():
    # VIP 15% > category 12% > base 10%: 15% of (R$ 100,00 + R$ 50,00) = R$ 22,50
    e = earn(SEGMENTED, items=MIXED_ORDER, segment="vip")
    assert e.amount == 2250
    assert [(line.rule, line.rate_bp, line.segment) for line in e.breakdown] == [
        ("segment", 1500, "vip"),
        ("segment", 1500, "vip"),
    ]


def test_the_same_order_without_the_segment():
    # maquiagem 12% of R$ 100,00 = R$ 12,00; base 10% of R$ 50,00 = R$ 5,00; total R$ 17,00
    e = earn(SEGMENTED, items=MIXED_ORDER, segment="")
    assert e.amount == 1700
    assert [(line.rule, line.rate_bp) for line in e.breakdown] == [("category", 1200), ("rate", 1000)]
    # a segment the brand gives no rate to changes nothing: R$ 17,00
    assert earn(SEGMENTED, items=MIXED_ORDER, segment="gold").amount == 1700


def test_a_category_above_vip_beats_vip():
    # maquiagem 20% > VIP 15%: 20% of R$ 100,00 = R$ 20,00; other item VIP 15% of R$ 50,00 = R$ 7,50
    # total R$ 27,50
    cashback = msgspec.structs.replace(SEGMENTED, categories={"maquiagem": 2000})
    e = earn(cashback, items=MIXED_ORDER, segment="vip")
    assert e.amount == 2750
    assert [(line.rule, line.rate_bp) for line in e.breakdown] == [("category", 2000), ("segment", 1500)]


def test_seed_vip_customers_receive_15_percent_on_any_purchase():
    # "VIP customers receive 15% cashback on any purchase", over bands 5% / 10%
    cashback = msgspec.structs.replace(PROGRESSIVE, segments={"vip": 1500})
    # R$ 80,00 (band 5%) for a VIP: 15% = R$ 12,00
    assert earn(cashback, total=8000, segment="vip").amount == 1200
    # R$ 300,00 (band 10%) for a VIP: 15% = R$ 45,00
    assert earn(cashback, total=30000, segment="vip").amount == 4500


# --- campaigns --------------------------------------------------------------------------------------

DOUBLE_ON_BLACK_FRIDAY = CashbackRules(rate_bp=1000, campaigns=[BLACK_FRIDAY])


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # inside: 10% x 2 = 20% of R$ 150,00 = R$ 30,00
        (INSIDE_BLACK_FRIDAY, 3000),
        # exactly at starts (27/11 00:00:00 -03:00): active, R$ 30,00
        (dt.datetime(2026, 11, 27, 0, 0, 0, tzinfo=BRT), 3000),
        # the same instant in UTC (27/11 03:00:00Z): active, R$ 30,00
        (dt.datetime(2026, 11, 27, 3, 0, 0, tzinfo=dt.UTC), 3000),
        # exactly at ends (30/11 23:59:59 -03:00): active, R$ 30,00
        (dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BRT), 3000),
        # one second before starts (26/11 23:59:59 -03:00): 10% of R$ 150,00 = R$ 15,00
        (dt.datetime(2026, 11, 26, 23, 59, 59, tzinfo=BRT), 1500),
        # the same instant in UTC (27/11 02:59:59Z): inactive, R$ 15,00
        (dt.datetime(2026, 11, 27, 2, 59, 59, tzinfo=dt.UTC), 1500),
        # one second after ends (01/12 00:00:00 -03:00): R$ 15,00
        (dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=BRT), 1500),
    ],
)
def test_double_cashback_on_black_friday(at, expected):
    e = earn(DOUBLE_ON_BLACK_FRIDAY, items=[Item(amount=15000)], at=at)
    assert e.amount == expected
    [line] = e.breakdown
    assert line.rate_bp == 1000  # the rule's rate, before the campaign
    if expected == 3000:
        assert (line.campaign, line.multiplier_x100) == ("Black Friday", 200)
    else:
        assert (line.campaign, line.multiplier_x100) == (None, 100)


def test_a_campaign_limited_to_categories_multiplies_only_those_lines():
    makeup_x2 = msgspec.structs.replace(BLACK_FRIDAY, name="Maquiagem em dobro", categories=["maquiagem"])
    cashback = CashbackRules(rate_bp=1000, campaigns=[makeup_x2])
    items = [
        Item(category="maquiagem", amount=10000),
        Item(category="cabelo", amount=5000),
        Item(amount=2000),
    ]
    # maquiagem 10% x 2 = 20% of R$ 100,00 = R$ 20,00; cabelo 10% of R$ 50,00 = R$ 5,00;
    # uncategorised 10% of R$ 20,00 = R$ 2,00; total R$ 27,00
    e = earn(cashback, items=items, at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 2700
    assert [(line.campaign, line.multiplier_x100) for line in e.breakdown] == [
        ("Maquiagem em dobro", 200),
        (None, 100),
        (None, 100),
    ]


def test_overlapping_campaigns_the_largest_multiplier_wins():
    triple = Campaign(
        name="Fim de semana triplo",
        starts=dt.datetime(2026, 11, 28, 0, 0, tzinfo=BRT),
        ends=dt.datetime(2026, 11, 29, 23, 59, 59, tzinfo=BRT),
        multiplier_x100=300,
    )
    cashback = CashbackRules(rate_bp=1000, campaigns=[BLACK_FRIDAY, triple])
    # both active on 28/11: x3 (not x2, not x2 x3 = x6): 10% x 3 = 30% of R$ 150,00 = R$ 45,00
    e = earn(cashback, items=[Item(amount=15000)], at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 4500
    assert (e.breakdown[0].campaign, e.breakdown[0].multiplier_x100) == ("Fim de semana triplo", 300)
    # 27/11 only Black Friday is active: 20% of R$ 150,00 = R$ 30,00
    e = earn(cashback, items=[Item(amount=15000)], at=dt.datetime(2026, 11, 27, 12, 0, tzinfo=BRT))
    assert e.amount == 3000
    assert e.breakdown[0].campaign == "Black Friday"


def test_overlapping_campaigns_each_line_takes_the_largest_that_covers_it():
    makeup_x3 = Campaign(
        name="Maquiagem triplo",
        starts=BLACK_FRIDAY.starts,
        ends=BLACK_FRIDAY.ends,
        multiplier_x100=300,
        categories=["maquiagem"],
    )
    cashback = CashbackRules(rate_bp=1000, campaigns=[BLACK_FRIDAY, makeup_x3])
    items = [Item(category="maquiagem", amount=10000), Item(category="cabelo", amount=5000)]
    # maquiagem: x3 -> 30% of R$ 100,00 = R$ 30,00; cabelo: only x2 covers it -> 20% of R$ 50,00 = R$ 10,00
    # total R$ 40,00
    e = earn(cashback, items=items, at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 4000
    assert [(line.campaign, line.multiplier_x100) for line in e.breakdown] == [
        ("Maquiagem triplo", 300),
        ("Black Friday", 200),
    ]


def test_a_fractional_multiplier():
    one_and_a_half = msgspec.structs.replace(BLACK_FRIDAY, multiplier_x100=150)
    cashback = CashbackRules(rate_bp=1000, campaigns=[one_and_a_half])
    # 10% x 1.5 = 15% of R$ 150,00 = R$ 22,50
    e = earn(cashback, items=[Item(amount=15000)], at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 2250
    assert e.breakdown[0].multiplier_x100 == 150
    # 5% x 1.5 = 7.5% of R$ 99,99 = 749,925 centavos -> 750
    cashback = CashbackRules(rate_bp=500, campaigns=[one_and_a_half])
    assert earn(cashback, total=9999, at=INSIDE_BLACK_FRIDAY).amount == 750
    # 2.5% x 1.5 = 3.75% of R$ 0,40 = 1,5 centavo -> 2 (half-even); of R$ 1,20 = 4,5 -> 4
    cashback = CashbackRules(rate_bp=250, campaigns=[one_and_a_half])
    assert earn(cashback, total=40, at=INSIDE_BLACK_FRIDAY).amount == 2
    assert earn(cashback, total=120, at=INSIDE_BLACK_FRIDAY).amount == 4


def test_a_campaign_multiplies_the_winning_rate():
    # maquiagem 15%, VIP 12%, base 10%, Black Friday x2; a VIP buys maquiagem R$ 100,00 and other R$ 50,00
    cashback = CashbackRules(
        rate_bp=1000, categories={"maquiagem": 1500}, segments={"vip": 1200}, campaigns=[BLACK_FRIDAY]
    )
    # maquiagem 15% x 2 = 30% of R$ 100,00 = R$ 30,00; other VIP 12% x 2 = 24% of R$ 50,00 = R$ 12,00
    # total R$ 42,00
    e = earn(cashback, items=MIXED_ORDER, segment="vip", at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 4200
    assert [(line.rule, line.rate_bp, line.multiplier_x100) for line in e.breakdown] == [
        ("category", 1500, 200),
        ("segment", 1200, 200),
    ]


# --- minimum purchase -------------------------------------------------------------------------------

MIN_50 = CashbackRules(rate_bp=1000, min_purchase=5000)


def test_below_min_purchase_earns_nothing():
    # R$ 49,99 < R$ 50,00 -> R$ 0,00
    e = earn(MIN_50, items=[Item(amount=4999)])
    assert e.amount == 0
    assert e.below_min_purchase
    assert not e.capped


def test_exactly_min_purchase_earns():
    # R$ 50,00 = R$ 50,00 -> 10% = R$ 5,00
    e = earn(MIN_50, items=[Item(amount=5000)])
    assert e.amount == 500
    assert not e.below_min_purchase


def test_min_purchase_is_measured_without_shipping():
    # total R$ 60,00 with R$ 15,00 shipping: merchandise R$ 45,00 < R$ 50,00 -> R$ 0,00
    e = earn(MIN_50, items=[Item(amount=4500)], shipping=1500)
    assert e.amount == 0
    assert e.below_min_purchase
    # the same with no items: total R$ 60,00 - R$ 15,00 = R$ 45,00 -> R$ 0,00
    e = earn(MIN_50, items=None, total=6000, shipping=1500)
    assert e.amount == 0
    assert e.below_min_purchase
    # total R$ 65,00 with R$ 15,00 shipping: R$ 50,00 -> 10% = R$ 5,00
    assert earn(MIN_50, items=[Item(amount=5000)], shipping=1500).amount == 500


def test_min_purchase_with_a_campaign_and_a_category():
    # seed voucher threshold "purchases above R$ 20,00" used as min_purchase; maquiagem 15%, Black Friday x2
    cashback = CashbackRules(
        rate_bp=1000, min_purchase=2000, categories={"maquiagem": 1500}, campaigns=[BLACK_FRIDAY]
    )
    # R$ 19,99 of maquiagem on Black Friday: below R$ 20,00 -> R$ 0,00
    assert earn(cashback, items=[Item(category="maquiagem", amount=1999)], at=INSIDE_BLACK_FRIDAY).amount == 0
    # R$ 20,00 of maquiagem: 15% x 2 = 30% of R$ 20,00 = R$ 6,00
    assert (
        earn(cashback, items=[Item(category="maquiagem", amount=2000)], at=INSIDE_BLACK_FRIDAY).amount == 600
    )


# --- cap per order ----------------------------------------------------------------------------------

CAP_20 = CashbackRules(rate_bp=1000, max_per_order=2000)


def test_max_per_order_caps():
    # 10% of R$ 300,00 = R$ 30,00 > cap R$ 20,00 -> R$ 20,00
    e = earn(CAP_20, items=[Item(amount=30000)])
    assert e.amount == 2000
    assert e.capped


def test_max_per_order_not_capped_when_equal():
    # 10% of R$ 200,00 = R$ 20,00 = cap -> R$ 20,00, not capped
    e = earn(CAP_20, items=[Item(amount=20000)])
    assert e.amount == 2000
    assert not e.capped
    # 10% of R$ 199,99 = 1999,9 centavos -> 2000 (rounded before the cap) = cap, not capped
    e = earn(CAP_20, items=[Item(amount=19999)])
    assert e.amount == 2000
    assert not e.capped
    # 10% of R$ 150,00 = R$ 15,00 < cap
    e = earn(CAP_20, items=[Item(amount=15000)])
    assert e.amount == 1500
    assert not e.capped


def test_the_cap_applies_after_the_campaign():
    cashback = msgspec.structs.replace(CAP_20, campaigns=[BLACK_FRIDAY])
    # 10% x 2 = 20% of R$ 150,00 = R$ 30,00 > R$ 20,00 -> R$ 20,00, capped (outside: R$ 15,00, not capped)
    e = earn(cashback, items=[Item(amount=15000)], at=INSIDE_BLACK_FRIDAY)
    assert (e.amount, e.capped) == (2000, True)
    e = earn(cashback, items=[Item(amount=15000)], at=ORDINARY_DAY)
    assert (e.amount, e.capped) == (1500, False)


def test_every_rule_at_once():
    # base 10%, bands 5% from R$ 0,00 / 10% from R$ 200,00, maquiagem 15%, VIP 12%, Black Friday x2
    # only on maquiagem, min purchase R$ 50,00, cap R$ 60,00; R$ 25,00 of shipping
    cashback = CashbackRules(
        rate_bp=1000,
        min_purchase=5000,
        max_per_order=6000,
        categories={"maquiagem": 1500},
        segments={"vip": 1200},
        bands=[Band(0, 500), Band(20000, 1000)],
        campaigns=[msgspec.structs.replace(BLACK_FRIDAY, categories=["maquiagem"])],
    )
    items = [
        Item(sku="paleta", category="maquiagem", amount=4000, quantity=3),  # R$ 120,00
        Item(sku="secador", category="cabelo", amount=9000),  # R$ 90,00
    ]
    # merchandise R$ 210,00 (>= R$ 50,00; band from R$ 200,00 -> 10%)
    # a non-VIP: paleta 15% x 2 = 30% of R$ 120,00 = R$ 36,00; secador 10% of R$ 90,00 = R$ 9,00
    # total R$ 45,00 (below the R$ 60,00 cap)
    e = earn(cashback, items=items, shipping=2500, at=INSIDE_BLACK_FRIDAY)
    assert (e.amount, e.capped, e.merchandise) == (4500, False, 21000)
    assert [(line.rule, line.rate_bp, line.multiplier_x100) for line in e.breakdown] == [
        ("category", 1500, 200),
        ("band", 1000, 100),
    ]
    # a VIP: paleta still 15% x 2 = R$ 36,00; secador VIP 12% of R$ 90,00 = R$ 10,80; total R$ 46,80
    e = earn(cashback, items=items, shipping=2500, segment="vip", at=INSIDE_BLACK_FRIDAY)
    assert e.amount == 4680
    assert e.breakdown[1].rule == "segment"
    # with 5 paletas (R$ 200,00) + secador = R$ 290,00: 30% of R$ 200,00 = R$ 60,00 + R$ 10,80 = R$ 70,80
    # > cap R$ 60,00 -> R$ 60,00, capped
    items[0] = Item(sku="paleta", category="maquiagem", amount=4000, quantity=5)
    e = earn(cashback, items=items, shipping=2500, segment="vip", at=INSIDE_BLACK_FRIDAY)
    assert (e.amount, e.capped) == (6000, True)


# --- rounding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate_bp", "total", "expected"),
    [
        # 10% of R$ 0,05 = 0,5 centavo -> 0 (half to even)
        (1000, 5, 0),
        # 10% of R$ 0,15 = 1,5 centavo -> 2
        (1000, 15, 2),
        # 10% of R$ 0,25 = 2,5 centavos -> 2
        (1000, 25, 2),
        # 10% of R$ 0,35 = 3,5 centavos -> 4
        (1000, 35, 4),
        # 10% of R$ 0,16 = 1,6 centavo -> 2 (not a tie: nearest)
        (1000, 16, 2),
        # 10% of R$ 0,14 = 1,4 centavo -> 1
        (1000, 14, 1),
        # 2.5% of R$ 150,00 = R$ 3,75
        (250, 15000, 375),
        # 2.5% of R$ 0,20 = 0,5 centavo -> 0
        (250, 20, 0),
        # 2.5% of R$ 0,60 = 1,5 centavo -> 2
        (250, 60, 2),
        # 2.5% of R$ 1,00 = 2,5 centavos -> 2
        (250, 100, 2),
        # 2.5% of R$ 1,40 = 3,5 centavos -> 4
        (250, 140, 4),
        # 2.5% of R$ 99,99 = 249,975 centavos -> 250
        (250, 9999, 250),
        # 2.5% of R$ 10,10 = 25,25 centavos -> 25
        (250, 1010, 25),
    ],
)
def test_half_even_rounding_of_the_total(rate_bp, total, expected):
    assert earn(CashbackRules(rate_bp=rate_bp), total=total).amount == expected


def test_rounding_happens_once_on_the_total_not_per_item():
    # 10% of R$ 0,05 = 0,5 centavo and 10% of R$ 0,25 = 2,5 centavos
    # exact sum 0,5 + 2,5 = 3 centavos -> 3
    # (per item half-even would be 0 + 2 = 2; per item half-up 1 + 3 = 4)
    e = earn(TEN_PERCENT, items=[Item(sku="a", amount=5), Item(sku="b", amount=25)])
    assert e.amount == 3
    # each line's own (display) share is rounded on its own: 0 and 2, which do not add up to the total
    assert [line.cashback for line in e.breakdown] == [0, 2]


def test_rounding_once_across_different_rates():
    cashback = CashbackRules(rate_bp=1000, categories={"maquiagem": 1500})
    # maquiagem 15% of R$ 0,30 = 4,5 centavos; base 10% of R$ 0,05 = 0,5 centavo
    # exact sum 5 centavos -> 5 (per item half-even: 4 + 0 = 4; per item half-up: 5 + 1 = 6)
    e = earn(cashback, items=[Item(category="maquiagem", amount=30), Item(amount=5)])
    assert e.amount == 5
    assert [line.cashback for line in e.breakdown] == [4, 0]


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 7, 0),  # 0
        (5, 10, 0),  # 0.5 -> 0
        (15, 10, 2),  # 1.5 -> 2
        (25, 10, 2),  # 2.5 -> 2
        (35, 10, 4),  # 3.5 -> 4
        (14, 10, 1),  # 1.4 -> 1
        (16, 10, 2),  # 1.6 -> 2
        (7, 2, 4),  # 3.5 -> 4
        (9, 2, 4),  # 4.5 -> 4
        (10, 4, 2),  # 2.5 -> 2
        (11, 4, 3),  # 2.75 -> 3
        (9, 4, 2),  # 2.25 -> 2
        (1, 3, 0),  # 0.33 -> 0
        (2, 3, 1),  # 0.67 -> 1
        (12, 3, 4),  # 4 exactly
        (1_500_000, 1_000_000, 2),  # 1.5 -> 2
        (2_500_000, 1_000_000, 2),  # 2.5 -> 2
        (2_500_001, 1_000_000, 3),  # 2.500001 -> 3
    ],
)
def test_half_even(numerator, denominator, expected):
    assert half_even(numerator, denominator) == expected


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**9))
def test_half_even_matches_exact_rounding(numerator, denominator):
    # round() of a Fraction rounds ties to even, exactly
    assert half_even(numerator, denominator) == round(Fraction(numerator, denominator))


@given(
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=10000),
)
def test_a_single_rate_is_the_exact_sum_rounded_once(lines, rate_bp):
    # whatever the items, with one rate the cashback is the exact rate x merchandise, rounded half-even once
    e = earn(CashbackRules(rate_bp=rate_bp), items=[Item(amount=a) for a in lines])
    assert e.amount == round(Fraction(sum(lines) * rate_bp, 10000))


# --- quantity ---------------------------------------------------------------------------------------


def test_item_amount_is_the_unit_price():
    # 4 x R$ 25,00 = R$ 100,00; 10% = R$ 10,00
    e = earn(TEN_PERCENT, items=[Item(sku="sabonete", amount=2500, quantity=4)])
    assert e.amount == 1000
    assert e.breakdown[0].amount == 10000


def test_quantity_counts_towards_bands_and_categories():
    cashback = msgspec.structs.replace(PROGRESSIVE, categories={"maquiagem": 1500})
    # 3 x R$ 70,00 = R$ 210,00 reaches the R$ 200,00 band: 10% of R$ 210,00 = R$ 21,00
    assert earn(cashback, items=[Item(amount=7000, quantity=3)]).amount == 2100
    # 2 x R$ 0,05 of maquiagem = R$ 0,10 at 15% = 1,5 centavo, plus 1 x R$ 0,15 at 5% = 0,75 centavo
    # exact 2,25 centavos -> 2 (per item half-even would be 2 + 1 = 3)
    items = [Item(category="maquiagem", amount=5, quantity=2), Item(amount=15)]
    assert earn(cashback, items=items).amount == 2


# --- redemption -------------------------------------------------------------------------------------

SEED_REDEMPTION = RedemptionRules(min_order=10000, max_share_bp=3000)  # min order R$ 100,00, 30% of it


def test_redemption_below_min_order():
    # R$ 99,99 < R$ 100,00 -> nothing can be used
    r = redeemable(SEED_REDEMPTION, order_total=9999, available=5000)
    assert (r.max_amount, r.reason) == (0, "below_min_order")


def test_redemption_at_min_order():
    # R$ 100,00 = min order: 30% of R$ 100,00 = R$ 30,00 < balance R$ 50,00 -> R$ 30,00, limited by share
    r = redeemable(SEED_REDEMPTION, order_total=10000, available=5000)
    assert (r.max_amount, r.reason) == (3000, "max_share")


def test_redemption_share_floors():
    # 30% of R$ 100,01 = 3000,3 centavos -> 3000 (floor)
    r = redeemable(SEED_REDEMPTION, order_total=10001, available=5000)
    assert (r.max_amount, r.reason) == (3000, "max_share")
    # 30% of R$ 100,33 = 3009,9 centavos -> 3009 (floor, not 3010)
    r = redeemable(SEED_REDEMPTION, order_total=10033, available=5000)
    assert (r.max_amount, r.reason) == (3009, "max_share")


def test_redemption_without_balance():
    # balance R$ 0,00 -> nothing, whatever the order
    r = redeemable(SEED_REDEMPTION, order_total=20000, available=0)
    assert (r.max_amount, r.reason) == (0, "no_balance")


def test_redemption_balance_smaller_than_the_share():
    # 30% of R$ 200,00 = R$ 60,00 > balance R$ 10,00 -> the whole balance, R$ 10,00
    r = redeemable(SEED_REDEMPTION, order_total=20000, available=1000)
    assert (r.max_amount, r.reason) == (1000, None)


def test_redemption_balance_equal_to_the_share():
    # 30% of R$ 100,00 = R$ 30,00 = balance R$ 30,00 -> R$ 30,00, nothing withheld
    r = redeemable(SEED_REDEMPTION, order_total=10000, available=3000)
    assert (r.max_amount, r.reason) == (3000, None)


def test_redemption_defaults_allow_the_whole_order():
    # min order R$ 0,00 and 100%: order R$ 50,00 with balance R$ 80,00 -> R$ 50,00 (share limits)
    r = redeemable(RedemptionRules(), order_total=5000, available=8000)
    assert (r.max_amount, r.reason) == (5000, "max_share")
    # order R$ 50,00 with balance R$ 12,34 -> R$ 12,34
    r = redeemable(RedemptionRules(), order_total=5000, available=1234)
    assert (r.max_amount, r.reason) == (1234, None)


# --- validity, through the API ----------------------------------------------------------------------


def _sale(order_id: str, occurred_at: str, items: list[dict], shipping: int = 0) -> dict:
    total = sum(i["amount"] * i.get("quantity", 1) for i in items) + shipping
    return {
        "order_id": order_id,
        "customer": {"email": "ana@example.com"},
        "total": total,
        "shipping": shipping,
        "items": items,
        "occurred_at": occurred_at,
    }


async def test_bella_sale_is_pending_7_days_then_valid_90_days(api, demo):
    sale = _sale("B-1", "2026-11-10T15:00:00Z", [{"sku": "x", "category": "maquiagem", "amount": 15000}])
    response = await api.post("/sales", json=sale)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["order_id"] == "B-1"
    cashback = body["cashback"]
    # bella: maquiagem 15% (> base 10%) of R$ 150,00 = R$ 22,50
    assert cashback["amount"] == 2250
    assert cashback["breakdown"][0]["rule"] == "category"
    assert cashback["status"] == "pending"
    # 10/11 15:00Z + 7 days = 17/11 15:00Z
    assert cashback["available_at"] == "2026-11-17T15:00:00Z"
    # 17/11 + 90 days: 13 days to 30/11, 31 in December, 31 in January, 15 in February = 15/02/2027
    assert cashback["expires_at"] == "2027-02-15T15:00:00Z"


@pytest.mark.parametrize(
    ("expiry_days", "expires_at"),
    [
        # seed rule 1 "Balance valid for 60 days": 17/11 + 60 days: 13 to 30/11, 31 in December, 16 in
        # January = 16/01/2027
        (60, "2027-01-16T15:00:00Z"),
        # seed "Cashback expires in 90 days": 17/11 + 90 days = 15/02/2027
        (90, "2027-02-15T15:00:00Z"),
        # 0 = never expires
        (0, None),
    ],
)
async def test_validity_of_a_modified_brand(api, demo, settings, expiry_days, expires_at):
    # seed rule 1: "10% cashback across the store [...] Balance valid for 60 days"
    pack = demo_pack("bella")
    cashback_rules = msgspec.structs.replace(
        pack.rules.cashback, rate_bp=1000, categories={}, segments={}, expiry_days=expiry_days
    )
    pack = msgspec.structs.replace(pack, rules=msgspec.structs.replace(pack.rules, cashback=cashback_rules))
    await import_brand(pack, base_host=settings.base_host)

    # 12:00 at -03:00 is 15:00Z
    sale = _sale(
        "B-60", "2026-11-10T12:00:00-03:00", [{"sku": "x", "category": "maquiagem", "amount": 15000}]
    )
    response = await api.post("/sales", json=sale)
    assert response.status_code == 201, response.text
    cashback = response.json()["cashback"]
    # 10% of R$ 150,00 = R$ 15,00 (the category rate was removed)
    assert cashback["amount"] == 1500
    # 10/11 15:00Z + 7 days = 17/11 15:00Z
    assert cashback["available_at"] == "2026-11-17T15:00:00Z"
    assert cashback["expires_at"] == expires_at


async def test_mare_black_friday_through_the_api(api, api_keys, clock):
    # mare: bands 5% from R$ 0,00 and 8% from R$ 300,00; calcados 7%; Black Friday x2 on everything;
    # pending 30 days, valid 180 days
    mare = {"authorization": f"Bearer {api_keys['mare']}"}
    clock.advance(days=18)  # 28/11/2026 15:00Z, during Black Friday
    at = "2026-11-28T12:00:00-03:00"  # = 15:00Z

    # calcados 2 x R$ 100,00 + acessorios R$ 50,00 = R$ 250,00 (+ R$ 10,00 shipping): band 5%
    # calcados 7% (> 5%) x 2 = 14% of R$ 200,00 = R$ 28,00; acessorios 5% x 2 = 10% of R$ 50,00 = R$ 5,00
    # total R$ 33,00
    items = [
        {"sku": "tenis", "category": "calcados", "amount": 10000, "quantity": 2},
        {"sku": "bone", "category": "acessorios", "amount": 5000},
    ]
    response = await api.post("/sales", json=_sale("M-1", at, items, shipping=1000), headers=mare)
    assert response.status_code == 201, response.text
    cashback = response.json()["cashback"]
    assert cashback["amount"] == 3300
    assert [
        (b["rule"], b["rate_bp"], b["campaign"], b["multiplier_x100"]) for b in cashback["breakdown"]
    ] == [
        ("category", 700, "Black Friday", 200),
        ("band", 500, "Black Friday", 200),
    ]
    # 28/11 15:00Z + 30 days = 28/12 15:00Z; + 180 days: 3 to 31/12, then 31+28+31+30+31 = 151 to 31/05,
    # 26 more = 26/06/2027
    assert cashback["available_at"] == "2026-12-28T15:00:00Z"
    assert cashback["expires_at"] == "2027-06-26T15:00:00Z"

    # calcados R$ 200,00 + vestuario R$ 150,00 = R$ 350,00: band 8% (> calcados 7%) for both, x 2 = 16%
    # 16% of R$ 350,00 = R$ 56,00
    items = [
        {"sku": "bota", "category": "calcados", "amount": 20000},
        {"sku": "vestido", "category": "vestuario", "amount": 15000},
    ]
    response = await api.post("/sales", json=_sale("M-2", at, items), headers=mare)
    assert response.status_code == 201, response.text
    cashback = response.json()["cashback"]
    assert cashback["amount"] == 5600
    assert [(b["rule"], b["rate_bp"], b["band_from"]) for b in cashback["breakdown"]] == [
        ("band", 800, 30000),
        ("band", 800, 30000),
    ]

    # the first order again one second after Black Friday (01/12 00:00:00 -03:00): no multiplier
    clock.advance(days=3)  # a sale may be dated at most a day ahead
    # calcados 7% of R$ 200,00 = R$ 14,00; acessorios 5% of R$ 50,00 = R$ 2,50; total R$ 16,50
    items = [
        {"sku": "tenis", "category": "calcados", "amount": 10000, "quantity": 2},
        {"sku": "bone", "category": "acessorios", "amount": 5000},
    ]
    response = await api.post("/sales", json=_sale("M-3", "2026-12-01T00:00:00-03:00", items), headers=mare)
    assert response.status_code == 201, response.text
    assert response.json()["cashback"]["amount"] == 1650
