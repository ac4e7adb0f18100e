"""A hypothesis state machine over the ledger: whatever happens, the money adds up.

Steps: sales, repeated sales, partial and full refunds, cancels, redemptions and their cancels,
clock advances and expiry sweeps, for two customers, under either refund policy. After every
step: no lot below zero or above what it was credited; each lot's remainder is its credit plus
its allocations; a customer's entries add up to their lots less their debt; the balance the
service reports is what the lots say (nothing expired or pending counts); after a sweep nothing
expired holds money; reversals are exactly proportional; a repeated request changes nothing.

And as double entry: every movement's postings, and so each brand's, add up to zero; each
shopper's pending and available accounts are what remains of their lots not yet matured and
matured (less their debt); the brand's issued, redeemed and reversed accounts hold what this
test's own model of the requests says (rounded here with `fractions`, not by the ledger).

And in points (the brand's programme is "both"): sales earn points lots beside their cashback
(their own pending days, validity, category and segment rates), refunds take them back in
proportion (what was spent written off), they mature and expire per lot; shoppers exchange them
for the rewards catalogue (a voucher, a product handed over, a conversion into cashback), and
staff undo some. Every invariant above holds per unit, and: no account or lot of points goes
below zero (points carry no debt), every posting, allocation and lot of an entry is in the
entry's unit, and the points' brand accounts hold what the model says.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from retorno import db
from retorno.brands import service as brands
from retorno.brands.rules import CashbackRules, PointsRules
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Conflict, Invalid
from retorno.ledger import balances, posting
from retorno.ledger import sweep as ledger_sweep
from retorno.ledger.tables import Account, Allocation, Entry, Lot, Posting, Redemption, Refund, Sale
from retorno.onboarding.brand import import_brand
from retorno.points import service as catalogue
from retorno.points.service import RewardRefused
from retorno.points.tables import RewardRedemption
from retorno.sales import orders, redemptions
from retorno.sales.orders import SaleIn
from retorno.sales.redemptions import NotRedeemable, RedemptionIn
from retorno.vouchers.tables import Voucher
from tests.conftest import BASE_HOST, PG_URL, demo_pack, pg_engine

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CUSTOMERS = [Identity(email="ana@example.com"), Identity(email="bia@example.com", segment="vip")]


def half_even(numerator: int, denominator: int) -> int:
    """The model's own rounding: Python rounds a Fraction half to even."""
    return round(Fraction(numerator, denominator))


MONEY, POINTS = "brl", "pts"


@dataclass
class ModelLot:
    who: int
    amount: int
    remaining: int
    available_at: dt.datetime
    expires_at: dt.datetime | None
    unit: str = MONEY

    def spendable(self, now: dt.datetime) -> bool:
        return self.available_at <= now and (self.expires_at is None or self.expires_at > now)


@dataclass
class ModelReward:
    kind: str  # voucher | product | cashback
    points: int
    value: int | None
    stock: int | None
    per_shopper: int | None
    enabled: bool = True


@dataclass
class ModelExchange:
    """A redemption of the catalogue: who, which reward, the points it took from which lots."""

    who: int
    reward: int  # index in Model.rewards
    key: str
    taken: list[tuple[int, int]]
    lot: int | None  # a conversion's money lot
    state: str = "issued"  # issued | fulfilled | undone


@dataclass
class Model:
    """What the ledger must hold, worked out here from the requests alone, as brand-pack.md says
    cashback is computed: the test's own arithmetic, none of the ledger's helpers."""

    pending_days: int
    expiry_days: int
    negative_balance: bool
    points_pending_days: int = 2
    points_expiry_days: int = 0
    lots: list[ModelLot] = field(default_factory=list)  # both units, in the order they were made
    debt: list[int] = field(default_factory=lambda: [0, 0])
    sales: dict[str, dict] = field(default_factory=dict)
    taken: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # redemption -> (lot, amount)
    expired: dict[str, int] = field(default_factory=lambda: {MONEY: 0, POINTS: 0})
    reversed: int = 0
    written_off: int = 0
    redeemed: int = 0
    conversions_reversed: int = 0  # money: conversion lots taken back when their exchange was undone
    points_reversed: int = 0
    points_written_off: int = 0
    rewards: list[ModelReward] = field(default_factory=list)
    exchanges: list[ModelExchange] = field(default_factory=list)

    @staticmethod
    def cashback(who: int, merchandise: int, items: list[dict] | None) -> int:
        """Bella: 10%; 15% for maquiagem and for the vip segment (bia); the highest rate wins."""
        lines = items or [{"amount": merchandise}]
        numerator = 0
        for line in lines:
            rates = [1000, *([1500] if line.get("category") == "maquiagem" else []), *([1500] if who else [])]
            numerator += line["amount"] * max(rates)
        return half_even(numerator, 10_000)

    @staticmethod
    def points(who: int, merchandise: int, items: list[dict] | None) -> int:
        """POINTS_RULES: 1 point per real; 2 on maquiagem; 1.5 for the vip segment; the highest wins."""
        lines = items or [{"amount": merchandise}]
        numerator = 0
        for line in lines:
            rates = [100, *([200] if line.get("category") == "maquiagem" else []), *([150] if who else [])]
            numerator += line["amount"] * max(rates)
        return half_even(numerator, 10_000)

    def credit(
        self, who: int, amount: int, unit: str, now: dt.datetime, pending_days: int, expiry: int
    ) -> int:
        """A new lot; money pays down the shopper's debt first (points carry none)."""
        available = now + dt.timedelta(days=pending_days)
        expires = available + dt.timedelta(days=expiry) if expiry else None
        self.lots.append(ModelLot(who, amount, amount, available, expires, unit))
        if unit == MONEY:
            paid = min(self.debt[who], amount)
            self.lots[-1].remaining -= paid
            self.debt[who] -= paid
        return len(self.lots) - 1

    def sale(self, order_id: str, who: int, total: int, cashback: int, points: int, now: dt.datetime) -> None:
        lot = (
            self.credit(who, cashback, MONEY, now, self.pending_days, self.expiry_days)
            if cashback > 0
            else None
        )
        points_lot = (
            self.credit(who, points, POINTS, now, self.points_pending_days, self.points_expiry_days)
            if points > 0
            else None
        )
        self.sales[order_id] = {
            "who": who,
            "total": total,
            "cashback": cashback,
            "points": points,
            "lot": lot,
            "points_lot": points_lot,
            "refunded": 0,
            "settled": 0,
            "points_settled": 0,
            "cancelled": False,
        }

    def refund(self, order_id: str, amount: int) -> None:
        sale = self.sales[order_id]
        due = half_even(sale["cashback"] * (sale["refunded"] + amount), sale["total"]) - sale["settled"]
        lot = self.lots[sale["lot"]] if sale["lot"] is not None else None
        from_lot = min(due, lot.remaining) if lot else 0
        if lot:
            lot.remaining -= from_lot
        rest = due - from_lot
        if self.negative_balance:
            self.debt[sale["who"]] += rest
            self.reversed += from_lot + rest
        else:
            self.reversed += from_lot
            self.written_off += rest
        sale["settled"] += due
        # Points in the same proportion: from their lot what is left there, the rest written off
        # whatever the policy (points carry no debt).
        due = half_even(sale["points"] * (sale["refunded"] + amount), sale["total"]) - sale["points_settled"]
        points_lot = self.lots[sale["points_lot"]] if sale["points_lot"] is not None else None
        from_lot = min(due, points_lot.remaining) if points_lot else 0
        if points_lot:
            points_lot.remaining -= from_lot
        self.points_reversed += from_lot
        self.points_written_off += due - from_lot
        sale["points_settled"] += due
        sale["refunded"] += amount

    def spendable(self, who: int, now: dt.datetime, unit: str = MONEY) -> int:
        held = sum(
            lot.remaining for lot in self.lots if lot.who == who and lot.unit == unit and lot.spendable(now)
        )
        return held - (self.debt[who] if unit == MONEY else 0)

    def pending(self, who: int, now: dt.datetime, unit: str = MONEY) -> int:
        return sum(
            lot.remaining
            for lot in self.lots
            if lot.who == who
            and lot.unit == unit
            and lot.available_at > now
            and (lot.expires_at is None or lot.expires_at > now)
        )

    def take(self, who: int, amount: int, now: dt.datetime, unit: str) -> list[tuple[int, int]]:
        """From the spendable lots of `unit`, what expires first first (never-expiring last)."""
        mine = [
            i
            for i, lot in enumerate(self.lots)
            if lot.who == who and lot.unit == unit and lot.remaining and lot.spendable(now)
        ]
        mine.sort(
            key=lambda i: (
                self.lots[i].expires_at is None,
                self.lots[i].expires_at or now,
                self.lots[i].available_at,
                i,
            )
        )
        taken, left = [], amount
        for i in mine:
            part = min(left, self.lots[i].remaining)
            if part:
                self.lots[i].remaining -= part
                taken.append((i, part))
                left -= part
        assert left == 0
        return taken

    def redeem(self, redemption_id: str, who: int, amount: int, now: dt.datetime) -> None:
        self.taken[redemption_id] = self.take(who, amount, now, MONEY)
        self.redeemed += amount

    def cancel_redemption(self, redemption_id: str) -> None:
        for i, part in self.taken.pop(redemption_id):
            self.lots[i].remaining += part
            self.redeemed -= part

    def sweep(self, now: dt.datetime) -> None:
        for lot in self.lots:
            if lot.expires_at is not None and lot.expires_at <= now and lot.remaining > 0:
                self.expired[lot.unit] += lot.remaining
                lot.remaining = 0

    # --- the rewards catalogue -----------------------------------------------------------------

    def live(self, reward: int, who: int | None = None) -> int:
        """Exchanges of a reward not undone (a shopper's, if `who`): what stock and limits count."""
        return sum(
            1
            for x in self.exchanges
            if x.reward == reward and x.state != "undone" and (who is None or x.who == who)
        )

    def refusal(self, who: int, reward: int, now: dt.datetime) -> str | None:
        """Why an exchange is refused, checked in the catalogue's order; None: it goes through."""
        if reward >= len(self.rewards):
            return "not_found"
        wanted = self.rewards[reward]
        if not wanted.enabled:
            return "off"
        if wanted.stock is not None and self.live(reward) >= wanted.stock:
            return "out_of_stock"
        if wanted.per_shopper is not None and self.live(reward, who) >= wanted.per_shopper:
            return "limit"
        if self.spendable(who, now, POINTS) < wanted.points:
            return "not_enough_points"
        return None

    def exchange(self, who: int, reward: int, key: str, now: dt.datetime, expiry_days: int) -> ModelExchange:
        wanted = self.rewards[reward]
        taken = self.take(who, wanted.points, now, POINTS)
        lot = None
        if wanted.kind == "cashback":  # available at once, valid as the brand's cashback is
            lot = self.credit(who, wanted.value or 0, MONEY, now, 0, expiry_days)
        self.exchanges.append(ModelExchange(who, reward, key, taken, lot))
        return self.exchanges[-1]

    def undo_refusal(self, exchange: ModelExchange) -> bool:
        """Whether staff are refused: a product handed over, or a conversion's cashback touched."""
        if exchange.state == "undone":
            return False
        if exchange.state == "fulfilled":
            return True
        lot = self.lots[exchange.lot] if exchange.lot is not None else None
        return lot is not None and lot.remaining < lot.amount

    def undo(self, exchange: ModelExchange) -> None:
        if exchange.state == "undone":
            return
        if exchange.lot is not None:
            lot = self.lots[exchange.lot]
            self.reversed += lot.remaining
            self.conversions_reversed += lot.remaining
            lot.remaining = 0
        for i, part in exchange.taken:
            self.lots[i].remaining += part
        exchange.state = "undone"

    def books(self) -> dict[str, dict[str, int]]:
        """The brand accounts the model expects, per unit (brand.toml's signs: issued negative)."""
        issued = sum(s["cashback"] for s in self.sales.values())
        points = sum(s["points"] for s in self.sales.values())
        exchanged = [(x, self.rewards[x.reward]) for x in self.exchanges]
        return {
            MONEY: {
                "issued": -issued + self.written_off,
                "written_off": -self.written_off,
                "reversed": self.reversed,
                "redeemed": self.redeemed,
                "converted": -sum(r.value or 0 for x, r in exchanged if r.kind == "cashback"),
            },
            POINTS: {
                "issued": -points + self.points_written_off,
                "written_off": -self.points_written_off,
                "reversed": self.points_reversed,
                "redeemed": sum(r.points for x, r in exchanged if x.state != "undone"),
                "converted": 0,
                "adjustments": 0,
                "referral": 0,
            },
        }


class LedgerMachine(RuleBasedStateMachine):
    """One fresh database per run; every step is a real service call on it."""

    def __init__(self, template: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp())
        if PG_URL:
            self.engine = pg_engine()
        else:
            shutil.copyfile(template, self.tmp / "db.sqlite3")
            self.engine = db.LocalSQLiteEngine(str(self.tmp / "db.sqlite3"))
        self.run(self._open())
        self.now = START
        self.sales: list[dict] = []  # {order_id, request, total, refunded, cancelled, response}
        self.refunds: list[tuple[str, str, int]] = []  # (order_id, refund_id, amount)
        self.redemptions: list[tuple[RedemptionIn, bool]] = []  # (request, cancelled)
        self.counter = 0
        self.swept_at: dt.datetime | None = None
        self.customers: dict[int, int] = {}  # who -> customer id

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def _open(self) -> None:
        db.use(self.engine)
        await db.open_engine(self.engine)
        if PG_URL:
            tables = [t._meta.tablename for t in db.table_classes() if t._meta.tablename != "migration"]
            await self.engine._run_in_pool(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")

    def teardown(self) -> None:
        self.run(db.close_engine(self.engine))
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(
        policy=st.sampled_from(["write_off", "negative_balance"]),
        expiry=st.sampled_from([0, 5, 9]),
        points_pending=st.sampled_from([0, 2, 3]),
        points_expiry=st.sampled_from([0, 4, 9]),
        costs=st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300)),
        stock=st.integers(0, 4),
        per_shopper=st.sampled_from([None, 1, 2]),
    )
    def brand(
        self,
        policy: str,
        expiry: int,
        points_pending: int,
        points_expiry: int,
        costs: tuple[int, int, int],
        stock: int,
        per_shopper: int | None,
    ) -> None:
        pack = demo_pack("bella")
        cashback = msgspec.structs.replace(
            pack.rules.cashback, refund_policy=policy, pending_days=2, expiry_days=expiry, max_per_order=None
        )
        redemption = msgspec.structs.replace(pack.rules.redemption, min_order=0, max_share_bp=10000)
        earn = CashbackRules(
            rate_bp=100,
            pending_days=points_pending,
            expiry_days=points_expiry,
            categories={"maquiagem": 200},
            segments={"vip": 150},
        )
        rules = msgspec.structs.replace(
            pack.rules,
            cashback=cashback,
            redemption=redemption,
            program="both",
            points=PointsRules(earn=earn),
        )
        self.run(import_brand(msgspec.structs.replace(pack, rules=rules), base_host=BASE_HOST))
        self.bella = self.run(brands.get_brand("bella"))
        self.model = Model(
            pending_days=2,
            expiry_days=expiry,
            negative_balance=policy == "negative_balance",
            points_pending_days=points_pending,
            points_expiry_days=points_expiry,
        )
        self.model.rewards = [
            ModelReward("voucher", costs[0], 1000, None, None),
            ModelReward("product", costs[1], None, stock, per_shopper),
            ModelReward("cashback", costs[2], 500, None, per_shopper),
            ModelReward("voucher", 1, 100, None, None, enabled=False),
        ]
        drafts = [
            catalogue.Draft(
                kind=r.kind,
                title=f"Prêmio {i}",
                points=str(r.points),
                value=str(r.value or ""),
                stock="" if r.stock is None else str(r.stock),
                per_shopper="" if r.per_shopper is None else str(r.per_shopper),
                enabled=r.enabled,
            )
            for i, r in enumerate(self.model.rewards)
        ]
        self.reward_ids = [
            self.run(catalogue.save(brand_id=self.bella.id, draft=draft, now=self.now)) for draft in drafts
        ]
        self.exchange_ids: list[int] = []  # the catalogue's id of each of self.model.exchanges

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    # --- steps ---------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        total=st.integers(1, 50_000),
        shipping=st.integers(0, 1000),
        split=st.booleans(),
    )
    def sale(self, who: int, total: int, shipping: int, split: bool) -> None:
        shipping = min(shipping, total - 1)
        merchandise = total - shipping
        items = None
        if split and merchandise >= 2:
            items = [
                {"sku": "a", "category": "maquiagem", "amount": merchandise // 2},
                {"sku": "b", "amount": merchandise - merchandise // 2},
            ]
        request = msgspec.convert(
            {
                "order_id": self.next_id("o"),
                "customer": CUSTOMERS[who],
                "total": total,
                "shipping": shipping,
                "items": items,
                "occurred_at": self.now,
            },
            SaleIn,
        )
        body, created = self.run(orders.record(brand=self.bella, sale=request, now=self.now))
        assert created
        cashback = Model.cashback(who, merchandise, items)
        points = Model.points(who, merchandise, items)
        assert body.cashback.amount == cashback
        assert body.points and body.points.amount == points
        self.model.sale(request.order_id, who, total, cashback, points, self.now)
        self.sales.append(
            {
                "order_id": request.order_id,
                "request": request,
                "total": total,
                "refunded": 0,
                "cancelled": False,
                "response": body,
                "cashback": cashback,
            }
        )

    @precondition(lambda self: self.sales)
    @rule(data=st.data())
    def repeat_sale(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from(self.sales))
        before = self.snapshot()
        body, created = self.run(orders.record(brand=self.bella, sale=sale["request"], now=self.now))
        assert not created and body == sale["response"]
        assert self.snapshot() == before

    @precondition(lambda self: any(not s["cancelled"] and s["refunded"] < s["total"] for s in self.sales))
    @rule(data=st.data(), share=st.floats(0.01, 1.0))
    def refund(self, data: st.DataObject, share: float) -> None:
        sale = data.draw(
            st.sampled_from([s for s in self.sales if not s["cancelled"] and s["refunded"] < s["total"]])
        )
        left = sale["total"] - sale["refunded"]
        amount = max(1, min(left, round(left * share)))
        refund_id = self.next_id("r")
        self.run(
            orders.refund(
                brand=self.bella, order_id=sale["order_id"], refund_id=refund_id, amount=amount, now=self.now
            )
        )
        sale["refunded"] += amount
        self.model.refund(sale["order_id"], amount)
        self.refunds.append((sale["order_id"], refund_id, amount))
        with pytest.raises(Invalid):  # more than what is left of the sale
            self.run(
                orders.refund(
                    brand=self.bella,
                    order_id=sale["order_id"],
                    refund_id=self.next_id("r"),
                    amount=sale["total"] - sale["refunded"] + 1,
                    now=self.now,
                )
            )

    @precondition(lambda self: hasattr(self, "model") and self.model.negative_balance)
    @rule(who=st.integers(0, 1), total=st.integers(2_000, 50_000), again=st.integers(1, 50_000))
    def spend_then_return_then_buy(self, who: int, total: int, again: int) -> None:
        """The debt's whole life: a purchase, its cashback spent once usable, the purchase returned
        (the spent part becomes a debt), then another purchase that pays it down."""
        self.sale(who, total, 0, False)
        self.advance(2, 1)
        if self.model.spendable(who, self.now) > 0:
            self.spend_all(who)
        sale = self.sales[-1]
        if sale["refunded"] < sale["total"]:
            refund_id = self.next_id("r")
            self.run(
                orders.refund(
                    brand=self.bella,
                    order_id=sale["order_id"],
                    refund_id=refund_id,
                    amount=sale["total"] - sale["refunded"],
                    now=self.now,
                )
            )
            self.model.refund(sale["order_id"], sale["total"] - sale["refunded"])
            self.refunds.append((sale["order_id"], refund_id, sale["total"] - sale["refunded"]))
            sale["refunded"] = sale["total"]
        self.sale(who, again, 0, False)

    def spend_all(self, who: int) -> None:
        self.spend_amount(who, self.model.spendable(who, self.now), "none")

    def spend_amount(self, who: int, amount: int, order_id: str) -> None:
        """A redemption the model says is allowed: it is committed, and the model follows it."""
        request = RedemptionIn(
            redemption_id=self.next_id("x"),
            order_id=order_id,
            customer=CUSTOMERS[who],
            order_total=10_000_000,
            amount=amount,
        )
        _, created = self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))
        assert created
        self.redemptions.append((request, False))
        self.model.redeem(request.redemption_id, who, amount, self.now)

    def spent_sales(self) -> list[dict]:
        """Open sales whose credit was partly spent: refunding them carries a debt or writes off."""
        return [
            s
            for s in self.sales
            if not s["cancelled"]
            and s["refunded"] < s["total"]
            and (lot := self.model.sales[s["order_id"]]["lot"]) is not None
            and self.model.lots[lot].remaining < self.model.lots[lot].amount
        ]

    @precondition(lambda self: self.spent_sales())
    @rule(data=st.data())
    def refund_what_was_spent(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from(self.spent_sales()))
        amount, refund_id = sale["total"] - sale["refunded"], self.next_id("r")
        self.run(
            orders.refund(
                brand=self.bella, order_id=sale["order_id"], refund_id=refund_id, amount=amount, now=self.now
            )
        )
        sale["refunded"] += amount
        self.model.refund(sale["order_id"], amount)
        self.refunds.append((sale["order_id"], refund_id, amount))

    @precondition(lambda self: self.refunds)
    @rule(data=st.data())
    def repeat_refund(self, data: st.DataObject) -> None:
        order_id, refund_id, amount = data.draw(st.sampled_from(self.refunds))
        before = self.snapshot()
        _, created = self.run(
            orders.refund(
                brand=self.bella, order_id=order_id, refund_id=refund_id, amount=amount, now=self.now
            )
        )
        assert not created and self.snapshot() == before
        with pytest.raises(Conflict):
            self.run(
                orders.refund(
                    brand=self.bella, order_id=order_id, refund_id=refund_id, amount=amount + 1, now=self.now
                )
            )

    @precondition(lambda self: self.sales)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from(self.sales))
        answer = self.run(orders.cancel(brand=self.bella, order_id=sale["order_id"], now=self.now))
        if not sale["cancelled"]:
            for i, (request, cancelled) in enumerate(self.redemptions):
                if request.order_id == sale["order_id"] and not cancelled:
                    self.redemptions[i] = (request, True)
                    self.model.cancel_redemption(request.redemption_id)
                    assert request.redemption_id in answer.redemptions_cancelled
            if sale["total"] > sale["refunded"]:
                self.model.refund(sale["order_id"], sale["total"] - sale["refunded"])
        sale["cancelled"], sale["refunded"] = True, sale["total"]
        self.swept_at = None

    @rule(
        who=st.integers(0, 1),
        pick=st.sampled_from(["all", "one more", "any"]),
        amount=st.integers(1, 6000),
        order=st.integers(0, 3),
    )
    def redeem(self, who: int, pick: str, amount: int, order: int) -> None:
        """Spend exactly the balance, one centavo more than it, or any amount."""
        customer = self.customer_id(who)
        if customer is None:
            return
        spendable = self.model.spendable(who, self.now)
        assert spendable == self.spendable(customer)
        amount = {"all": max(spendable, 1), "one more": max(spendable + 1, 1), "any": amount}[pick]
        chosen = self.sales[order % len(self.sales)] if self.sales else None
        order_id = chosen["order_id"] if chosen else "none"
        request = RedemptionIn(
            redemption_id=self.next_id("x"),
            order_id=order_id,
            customer=CUSTOMERS[who],
            order_total=10_000_000,
            amount=amount,
        )
        if chosen is not None and chosen["cancelled"]:  # a cancelled order takes no more cashback
            with pytest.raises(Conflict):
                self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))
        elif amount <= spendable:
            _, created = self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))
            assert created
            self.redemptions.append((request, False))
            self.model.redeem(request.redemption_id, who, amount, self.now)
        else:
            with pytest.raises(NotRedeemable):
                self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))

    @precondition(lambda self: any(self.model.spendable(w, self.now) > 0 for w in (0, 1)))
    @rule(data=st.data(), share=st.floats(0.01, 1.0))
    def spend(self, data: st.DataObject, share: float) -> None:
        """Spend part of what a shopper has (the case `redeem` reaches least by chance)."""
        who = data.draw(st.sampled_from([w for w in (0, 1) if self.model.spendable(w, self.now) > 0]))
        amount = max(1, round(self.model.spendable(who, self.now) * share))
        open_orders = [s["order_id"] for s in self.sales if not s["cancelled"]]
        self.spend_amount(who, amount, data.draw(st.sampled_from([*open_orders, "none"])))

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data())
    def cancel_redemption(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.redemptions) - 1))
        request, cancelled = self.redemptions[index]
        before = self.snapshot()
        self.run(redemptions.cancel(brand=self.bella, redemption_id=request.redemption_id, now=self.now))
        if cancelled:
            assert self.snapshot() == before
        else:
            self.model.cancel_redemption(request.redemption_id)
        self.redemptions[index] = (request, True)
        self.swept_at = None  # money given back to an expired credit waits for the next sweep
        _, created = self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))
        assert not created  # replaying a cancelled redemption does not spend again

    @rule(days=st.integers(0, 4), hours=st.integers(0, 23))
    def advance(self, days: int, hours: int) -> None:
        self.now += dt.timedelta(days=days, hours=hours)

    @rule()
    def sweep(self) -> None:
        self.run(ledger_sweep.sweep(brands=[self.bella], now=self.now))
        self.model.sweep(self.now)
        before = self.snapshot()
        self.run(ledger_sweep.sweep(brands=[self.bella], now=self.now))
        assert self.snapshot() == before
        self.swept_at = self.now

    # --- the rewards catalogue ----------------------------------------------------------------

    @rule(who=st.integers(0, 1), reward=st.integers(0, 4))
    def exchange(self, who: int, reward: int) -> None:
        """A shopper takes a reward for points (reward 4 is not in the catalogue, 3 is off)."""
        customer = self.customer_id(who)
        if customer is None:
            return
        assert self.model.spendable(who, self.now, POINTS) == self.spendable(customer, POINTS)
        refused = self.model.refusal(who, reward, self.now)
        key = self.next_id("k")
        reward_id = self.reward_ids[reward] if reward < len(self.reward_ids) else 10**6
        call = catalogue.redeem(
            brand=self.bella, customer_id=customer, reward_id=reward_id, request_key=key, now=self.now
        )
        if refused is not None:
            before = self.snapshot()
            with pytest.raises(RewardRefused) as caught:
                self.run(call)
            assert caught.value.reason == refused
            assert self.snapshot() == before
            return
        done = self.run(call)
        assert done.created and done.points == self.model.rewards[reward].points
        self.model.exchange(who, reward, key, self.now, self.model.expiry_days)
        self.exchange_ids.append(done.redemption_id)

    def affordable(self) -> list[tuple[int, int]]:
        """(shopper, reward) pairs the model says go through."""
        if not hasattr(self, "model"):
            return []
        return [
            (who, reward)
            for who in (0, 1)
            for reward in range(len(self.model.rewards))
            if who in self.customers and self.model.refusal(who, reward, self.now) is None
        ]

    @precondition(lambda self: self.affordable())
    @rule(data=st.data())
    def exchange_what_they_can(self, data: st.DataObject) -> None:
        """A reward the shopper's points cover (the case `exchange` reaches least by chance)."""
        self.exchange(*data.draw(st.sampled_from(self.affordable())))

    @rule(who=st.integers(0, 1), total=st.integers(5_000, 50_000), data=st.data())
    def earn_then_exchange(self, who: int, total: int, data: st.DataObject) -> None:
        """Points' whole life: a purchase, its points usable, a reward taken for them."""
        self.sale(who, total, 0, data.draw(st.booleans()))
        self.advance(self.model.points_pending_days, 1)
        mine = [reward for w, reward in self.affordable() if w == who]
        if mine:
            self.exchange(who, data.draw(st.sampled_from(mine)))

    @precondition(lambda self: hasattr(self, "model") and self.model.exchanges)
    @rule(data=st.data())
    def repeat_exchange(self, data: st.DataObject) -> None:
        """The same form sent again (even after staff undid it) is the same exchange."""
        index = data.draw(st.integers(0, len(self.model.exchanges) - 1))
        exchange = self.model.exchanges[index]
        before = self.snapshot()
        again = self.run(
            catalogue.redeem(
                brand=self.bella,
                customer_id=self.customers[exchange.who],
                reward_id=self.reward_ids[exchange.reward],
                request_key=exchange.key,
                now=self.now,
            )
        )
        assert not again.created and again.redemption_id == self.exchange_ids[index]
        assert self.snapshot() == before

    @precondition(lambda self: hasattr(self, "model") and self.model.exchanges)
    @rule(data=st.data())
    def undo_exchange(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.model.exchanges) - 1))
        exchange = self.model.exchanges[index]
        call = catalogue.undo(
            brand=self.bella,
            redemption_id=self.exchange_ids[index],
            by="gerente",
            reason="engano",
            now=self.now,
        )
        before = self.snapshot()
        if self.model.undo_refusal(exchange):
            with pytest.raises(Conflict):
                self.run(call)
            assert self.snapshot() == before
            return
        was = exchange.state
        assert self.run(call).state == "undone"
        if was == "undone":
            assert self.snapshot() == before
        self.model.undo(exchange)
        self.swept_at = None  # points given back to an expired lot wait for the next sweep

    @precondition(lambda self: hasattr(self, "model") and self.model.exchanges)
    @rule(data=st.data())
    def hand_over(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.model.exchanges) - 1))
        exchange = self.model.exchanges[index]
        call = catalogue.fulfil(brand_id=self.bella.id, redemption_id=self.exchange_ids[index], now=self.now)
        if self.model.rewards[exchange.reward].kind != "product" or exchange.state == "undone":
            with pytest.raises(Conflict):
                self.run(call)
            return
        assert self.run(call).state == "fulfilled"
        exchange.state = "fulfilled"

    # --- what must always hold ----------------------------------------------------------------

    def customer_id(self, who: int) -> int | None:
        if who not in self.customers:  # a shopper's id never changes once they exist
            found = self.run(customers.lookup(self.bella.id, CUSTOMERS[who]))
            if found is None:
                return None
            self.customers[who] = found.id
        return self.customers[who]

    def spendable(self, customer_id: int, unit: str = MONEY) -> int:
        """What the lots say is spendable now, computed here rather than by the service."""
        lots = self.run(Lot.select().where((Lot.customer == customer_id) & (Lot.unit == unit)))
        debt = self.run(Account.select(Account.debt).where(Account.customer == customer_id).first())
        total = sum(
            lot["remaining"]
            for lot in lots
            if lot["available_at"] <= self.now and (lot["expires_at"] is None or lot["expires_at"] > self.now)
        )
        return total - (debt["debt"] if debt and unit == MONEY else 0)

    def snapshot(self) -> tuple:
        async def read():
            return (
                await Entry.count(),
                await Posting.count(),
                await Lot.select().order_by(Lot.id),
                await Account.select().order_by(Account.id),
                await Refund.count(),
                await Redemption.count(),
                await Sale.count(),
                await RewardRedemption.select().order_by(RewardRedemption.id),
                await Voucher.select(Voucher.id, Voucher.cancelled_at).order_by(Voucher.id),
            )

        return self.run(read())

    def read(self) -> dict[str, list[dict]]:
        """Everything the invariants look at, read once after each step."""

        async def read():
            return {
                "lots": await Lot.select().order_by(Lot.id),
                "allocations": await Allocation.select(),
                "entries": await Entry.select(
                    Entry.id, Entry.customer, Entry.kind, Entry.unit, Entry.amount, Entry.lot
                ),
                "postings": await Posting.select(),
                "accounts": await Account.select(Account.customer, Account.debt),
            }

        return self.run(read())

    @invariant()
    def everything_adds_up(self) -> None:
        if not hasattr(self, "bella"):
            return
        state = self.read()
        self.money_adds_up(state)
        self.the_ledger_holds_what_the_model_says(state)
        self.the_books_balance(state)
        self.units_never_mix(state)
        self.the_catalogue_holds_what_the_model_says()

    def money_adds_up(self, state: dict[str, list[dict]]) -> None:
        lots = state["lots"]
        moved: dict[int, int] = {}
        for m in state["allocations"]:
            moved[m["lot"]] = moved.get(m["lot"], 0) + m["amount"]
        for lot in lots:
            assert 0 <= lot["remaining"] <= lot["amount"], lot
            assert lot["remaining"] == lot["amount"] + moved.get(lot["id"], 0)
            if self.swept_at == self.now and lot["expires_at"] is not None and lot["expires_at"] <= self.now:
                assert lot["remaining"] == 0, "an expired lot kept money after the sweep"
        debts = {a["customer"]: a["debt"] for a in state["accounts"]}
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            debt = debts.get(customer, 0)
            assert debt >= 0
            for unit in (MONEY, POINTS):
                owed = debt if unit == MONEY else 0
                own = [lot for lot in lots if lot["customer"] == customer and lot["unit"] == unit]
                entries = [e for e in state["entries"] if e["customer"] == customer and e["unit"] == unit]
                assert sum(e["amount"] for e in entries) == sum(lot["remaining"] for lot in own) - owed
                balance = self.run(
                    balances.balance(brand=self.bella, customer_id=customer, now=self.now, unit=unit)
                )
                usable = sum(
                    lot["remaining"]
                    for lot in own
                    if lot["available_at"] <= self.now
                    and (lot["expires_at"] is None or lot["expires_at"] > self.now)
                )
                assert balance.available == usable - owed
                assert (
                    self.run(balances.available(customer, self.now, brand_id=self.bella.id, unit=unit))
                    == balance.available
                )
                assert balance.pending == sum(
                    lot["remaining"]
                    for lot in own
                    if lot["available_at"] > self.now
                    and (lot["expires_at"] is None or lot["expires_at"] > self.now)
                )
                if unit == POINTS:  # no overdraft: points never go below zero, nor carry a debt
                    assert balance.available >= 0 and balance.pending >= 0 and balance.debt == 0

    def the_ledger_holds_what_the_model_says(self, state: dict[str, list[dict]]) -> None:
        assert [
            (lot["unit"], lot["amount"], lot["remaining"], lot["available_at"], lot["expires_at"])
            for lot in state["lots"]
        ] == [(m.unit, m.amount, m.remaining, m.available_at, m.expires_at) for m in self.model.lots]
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            for unit in (MONEY, POINTS):
                balance = self.run(
                    balances.balance(brand=self.bella, customer_id=customer, now=self.now, unit=unit)
                )
                assert (balance.available, balance.pending, balance.debt) == (
                    self.model.spendable(who, self.now, unit),
                    self.model.pending(who, self.now, unit),
                    self.model.debt[who] if unit == MONEY else 0,
                ), unit
        expected = self.model.books()
        for unit in (MONEY, POINTS):
            books = self.run(
                balances.accounts_at(
                    brand_id=self.bella.id, at=dt.datetime(2100, 1, 1, tzinfo=dt.UTC), unit=unit
                )
            )
            if self.swept_at == self.now:
                assert books["expired"] == self.model.expired[unit], unit
            assert {account: books[account] for account in expected[unit]} == expected[unit], unit

    def the_books_balance(self, state: dict[str, list[dict]]) -> None:
        postings = state["postings"]
        assert {p["unit"] for p in postings} <= {MONEY, POINTS}
        for unit in (MONEY, POINTS):  # zero-sum per (brand, unit)
            assert sum(p["amount"] for p in postings if p["unit"] == unit) == 0, unit
        movements: dict[tuple, int] = {}
        for p in postings:
            key = (
                p["entry"],
                p["lot"] if p["entry"] is None else None,
                p["refund"] if p["entry"] is None else None,
                p["unit"],
            )
            movements[key] = movements.get(key, 0) + p["amount"]
        assert all(total == 0 for total in movements.values()), movements
        accounts: dict[tuple, int] = {}
        for p in postings:
            account = (p["unit"], p["account"], p["customer"])
            accounts[account] = accounts.get(account, 0) + p["amount"]
        debts = {a["customer"]: a["debt"] for a in state["accounts"]}
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            for unit in (MONEY, POINTS):
                own = [lot for lot in state["lots"] if lot["customer"] == customer and lot["unit"] == unit]
                unmatured = sum(lot["remaining"] for lot in own if not lot["matured"])
                matured = sum(lot["remaining"] for lot in own if lot["matured"])
                owed = debts.get(customer, 0) if unit == MONEY else 0
                assert accounts.get((unit, "pending", customer), 0) == unmatured, unit
                assert accounts.get((unit, "available", customer), 0) == matured - owed, unit
                if unit == POINTS:
                    assert accounts.get((unit, "pending", customer), 0) >= 0
                    assert accounts.get((unit, "available", customer), 0) >= 0
                for lot in own:  # matured exactly when it became usable, by the sweep or when touched
                    if self.swept_at == self.now:
                        assert lot["matured"] == (lot["available_at"] <= self.now), lot
        money = {
            account: total
            for (unit, account, customer), total in accounts.items()
            if customer is None and unit == MONEY
        }
        issued = sum(s["cashback"] for s in self.sales)
        settled = sum(round(Fraction(s["cashback"] * s["refunded"], s["total"])) for s in self.sales)
        redeemed = sum(r.amount for r, cancelled in self.redemptions if not cancelled)
        assert -money.get("issued", 0) - money.get("written_off", 0) == issued
        assert (
            money.get("reversed", 0) - money.get("written_off", 0)
            == settled + self.model.conversions_reversed
        )
        assert money.get("redeemed", 0) == redeemed
        assert money.get("expired", 0) >= 0
        points = {
            account: total
            for (unit, account, customer), total in accounts.items()
            if customer is None and unit == POINTS
        }
        earned = sum(s["points"] for s in self.model.sales.values())
        settled = sum(
            round(Fraction(s["points"] * s["refunded"], s["total"])) for s in self.model.sales.values()
        )
        assert -points.get("issued", 0) - points.get("written_off", 0) == earned
        assert points.get("reversed", 0) - points.get("written_off", 0) == settled
        assert points.get("expired", 0) >= 0

    def units_never_mix(self, state: dict[str, list[dict]]) -> None:
        """A lot, its entries, their allocations and postings, and a lot's maturing: one unit."""
        lot_unit = {lot["id"]: lot["unit"] for lot in state["lots"]}
        entry_unit = {e["id"]: e["unit"] for e in state["entries"]}
        for e in state["entries"]:
            assert e["kind"] in (posting.ENTRY_KINDS if e["unit"] == MONEY else posting.POINTS_KINDS), e
            if e["lot"] is not None:
                assert lot_unit[e["lot"]] == e["unit"], e
        for m in state["allocations"]:
            assert lot_unit[m["lot"]] == entry_unit[m["entry"]], m
        for p in state["postings"]:
            if p["entry"] is not None:
                assert p["unit"] == entry_unit[p["entry"]], p
            elif p["lot"] is not None:
                assert p["unit"] == lot_unit[p["lot"]], p
        for lot in state["lots"]:  # a conversion's lot is money; points are earned by sales only
            assert lot["unit"] == MONEY if lot["source"] == "points" else lot["source"] == "sale", lot

    def the_catalogue_holds_what_the_model_says(self) -> None:
        rows = self.run(RewardRedemption.select().order_by(RewardRedemption.id))
        assert [(r["id"], r["state"], r["points"]) for r in rows] == [
            (i, x.state, self.model.rewards[x.reward].points)
            for i, x in zip(self.exchange_ids, self.model.exchanges, strict=True)
        ]
        vouchers = {
            v["id"]: v for v in self.run(Voucher.select(Voucher.id, Voucher.cancelled_at, Voucher.amount))
        }
        for row, x in zip(rows, self.model.exchanges, strict=True):
            if self.model.rewards[x.reward].kind == "voucher":
                voucher = vouchers[row["voucher"]]
                assert voucher["amount"] == self.model.rewards[x.reward].value
                assert (voucher["cancelled_at"] is not None) == (x.state == "undone")
            else:
                assert row["voucher"] is None
        for i, reward in enumerate(self.model.rewards):
            if reward.stock is not None:
                assert self.model.live(i) <= reward.stock


def test_the_ledger_always_adds_up(migrated):
    template = migrated.removeprefix("sqlite:///")
    run_state_machine_as_test(
        lambda: LedgerMachine(template),
        settings=settings(
            max_examples=25 if PG_URL else 40,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
