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
from piccolo.engine.postgres import PostgresEngine

from retorno import db
from retorno.brands import service as brands
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Conflict, Invalid
from retorno.ledger import balances
from retorno.ledger import sweep as ledger_sweep
from retorno.ledger.tables import Account, Allocation, Entry, Lot, Posting, Redemption, Refund, Sale
from retorno.onboarding.brand import import_brand
from retorno.sales import orders, redemptions
from retorno.sales.orders import SaleIn
from retorno.sales.redemptions import NotRedeemable, RedemptionIn
from tests.conftest import BASE_HOST, PG_URL, demo_pack

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CUSTOMERS = [Identity(email="ana@example.com"), Identity(email="bia@example.com", segment="vip")]


def half_even(numerator: int, denominator: int) -> int:
    """The model's own rounding: Python rounds a Fraction half to even."""
    return round(Fraction(numerator, denominator))


@dataclass
class ModelLot:
    who: int
    amount: int
    remaining: int
    available_at: dt.datetime
    expires_at: dt.datetime | None

    def spendable(self, now: dt.datetime) -> bool:
        return self.available_at <= now and (self.expires_at is None or self.expires_at > now)


@dataclass
class Model:
    """What the ledger must hold, worked out here from the requests alone, as brand-pack.md says
    cashback is computed: the test's own arithmetic, none of the ledger's helpers."""

    pending_days: int
    expiry_days: int
    negative_balance: bool
    lots: list[ModelLot] = field(default_factory=list)
    debt: list[int] = field(default_factory=lambda: [0, 0])
    sales: dict[str, dict] = field(default_factory=dict)
    taken: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # redemption -> (lot, amount)
    expired: int = 0
    reversed: int = 0
    written_off: int = 0
    redeemed: int = 0

    @staticmethod
    def cashback(who: int, merchandise: int, items: list[dict] | None) -> int:
        """Bella: 10%; 15% for maquiagem and for the vip segment (bia); the highest rate wins."""
        lines = items or [{"amount": merchandise}]
        numerator = 0
        for line in lines:
            rates = [1000, *([1500] if line.get("category") == "maquiagem" else []), *([1500] if who else [])]
            numerator += line["amount"] * max(rates)
        return half_even(numerator, 10_000)

    def sale(self, order_id: str, who: int, total: int, cashback: int, now: dt.datetime) -> None:
        lot = None
        if cashback > 0:
            available = now + dt.timedelta(days=self.pending_days)
            expires = available + dt.timedelta(days=self.expiry_days) if self.expiry_days else None
            self.lots.append(ModelLot(who, cashback, cashback, available, expires))
            lot = len(self.lots) - 1
            paid = min(self.debt[who], cashback)
            self.lots[lot].remaining -= paid
            self.debt[who] -= paid
        self.sales[order_id] = {
            "who": who,
            "total": total,
            "cashback": cashback,
            "lot": lot,
            "refunded": 0,
            "settled": 0,
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
        sale["refunded"] += amount
        sale["settled"] += due

    def spendable(self, who: int, now: dt.datetime) -> int:
        return (
            sum(lot.remaining for lot in self.lots if lot.who == who and lot.spendable(now)) - self.debt[who]
        )

    def pending(self, who: int, now: dt.datetime) -> int:
        return sum(
            lot.remaining
            for lot in self.lots
            if lot.who == who and lot.available_at > now and (lot.expires_at is None or lot.expires_at > now)
        )

    def redeem(self, redemption_id: str, who: int, amount: int, now: dt.datetime) -> None:
        mine = [
            i for i, lot in enumerate(self.lots) if lot.who == who and lot.remaining and lot.spendable(now)
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
        self.taken[redemption_id] = taken
        self.redeemed += amount

    def cancel_redemption(self, redemption_id: str) -> None:
        for i, part in self.taken.pop(redemption_id):
            self.lots[i].remaining += part
            self.redeemed -= part

    def sweep(self, now: dt.datetime) -> None:
        for lot in self.lots:
            if lot.expires_at is not None and lot.expires_at <= now and lot.remaining > 0:
                self.expired += lot.remaining
                lot.remaining = 0


class LedgerMachine(RuleBasedStateMachine):
    """One fresh database per run; every step is a real service call on it."""

    def __init__(self, template: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp())
        if PG_URL:
            self.engine = PostgresEngine(config={"dsn": PG_URL})
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

    @initialize(policy=st.sampled_from(["write_off", "negative_balance"]), expiry=st.sampled_from([0, 5, 9]))
    def brand(self, policy: str, expiry: int) -> None:
        pack = demo_pack("bella")
        cashback = msgspec.structs.replace(
            pack.rules.cashback, refund_policy=policy, pending_days=2, expiry_days=expiry, max_per_order=None
        )
        redemption = msgspec.structs.replace(pack.rules.redemption, min_order=0, max_share_bp=10000)
        pack = msgspec.structs.replace(
            pack, rules=msgspec.structs.replace(pack.rules, cashback=cashback, redemption=redemption)
        )
        self.run(import_brand(pack, base_host=BASE_HOST))
        self.bella = self.run(brands.get_brand("bella"))
        self.model = Model(pending_days=2, expiry_days=expiry, negative_balance=policy == "negative_balance")

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
        assert body.cashback.amount == cashback
        self.model.sale(request.order_id, who, total, cashback, self.now)
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

    # --- what must always hold ----------------------------------------------------------------

    def customer_id(self, who: int) -> int | None:
        found = self.run(customers.lookup(self.bella.id, CUSTOMERS[who]))
        return found.id if found else None

    def spendable(self, customer_id: int) -> int:
        """What the lots say is spendable now, computed here rather than by the service."""
        lots = self.run(Lot.select().where(Lot.customer == customer_id))
        debt = self.run(Account.select(Account.debt).where(Account.customer == customer_id).first())
        total = sum(
            lot["remaining"]
            for lot in lots
            if lot["available_at"] <= self.now and (lot["expires_at"] is None or lot["expires_at"] > self.now)
        )
        return total - (debt["debt"] if debt else 0)

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
            )

        return self.run(read())

    @invariant()
    def money_adds_up(self) -> None:
        if not hasattr(self, "bella"):
            return
        lots = self.run(Lot.select())
        for lot in lots:
            assert 0 <= lot["remaining"] <= lot["amount"], lot
            moved = self.run(Allocation.select().where(Allocation.lot == lot["id"]))
            assert lot["remaining"] == lot["amount"] + sum(m["amount"] for m in moved)
            if self.swept_at == self.now and lot["expires_at"] is not None and lot["expires_at"] <= self.now:
                assert lot["remaining"] == 0, "an expired lot kept money after the sweep"
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            entries = self.run(Entry.select(Entry.amount).where(Entry.customer == customer))
            debt = self.run(Account.select(Account.debt).where(Account.customer == customer).first())
            debt = debt["debt"] if debt else 0
            assert debt >= 0
            own = [lot for lot in lots if lot["customer"] == customer]
            assert sum(e["amount"] for e in entries) == sum(lot["remaining"] for lot in own) - debt
            balance = self.run(balances.balance(brand=self.bella, customer_id=customer, now=self.now))
            assert balance.available == self.spendable(customer)
            assert (
                self.run(balances.available(customer, self.now, brand_id=self.bella.id)) == balance.available
            )
            assert balance.pending == sum(
                lot["remaining"]
                for lot in own
                if lot["available_at"] > self.now
                and (lot["expires_at"] is None or lot["expires_at"] > self.now)
            )

    @invariant()
    def the_ledger_holds_what_the_model_says(self) -> None:
        if not hasattr(self, "bella"):
            return
        lots = self.run(Lot.select().order_by(Lot.id))
        assert [
            (lot["amount"], lot["remaining"], lot["available_at"], lot["expires_at"]) for lot in lots
        ] == [(m.amount, m.remaining, m.available_at, m.expires_at) for m in self.model.lots]
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            balance = self.run(balances.balance(brand=self.bella, customer_id=customer, now=self.now))
            assert (balance.available, balance.pending, balance.debt) == (
                self.model.spendable(who, self.now),
                self.model.pending(who, self.now),
                self.model.debt[who],
            )
        books = self.run(
            balances.accounts_at(brand_id=self.bella.id, at=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        )
        if self.swept_at == self.now:
            assert books["expired"] == self.model.expired
        assert (books["reversed"], -books["written_off"], books["redeemed"]) == (
            self.model.reversed,
            self.model.written_off,
            self.model.redeemed,
        )

    @invariant()
    def the_books_balance(self) -> None:
        if not hasattr(self, "bella"):
            return
        postings = self.run(Posting.select())
        assert sum(p["amount"] for p in postings) == 0
        movements: dict[tuple, int] = {}
        for p in postings:
            key = (
                p["entry"],
                p["lot"] if p["entry"] is None else None,
                p["refund"] if p["entry"] is None else None,
            )
            movements[key] = movements.get(key, 0) + p["amount"]
        assert all(total == 0 for total in movements.values()), movements
        accounts: dict[tuple, int] = {}
        for p in postings:
            key = (p["account"], p["customer"])
            accounts[key] = accounts.get(key, 0) + p["amount"]
        lots = self.run(Lot.select())
        for who in (0, 1):
            customer = self.customer_id(who)
            if customer is None:
                continue
            debt = self.run(Account.select(Account.debt).where(Account.customer == customer).first())
            own = [lot for lot in lots if lot["customer"] == customer]
            unmatured = sum(lot["remaining"] for lot in own if not lot["matured"])
            matured = sum(lot["remaining"] for lot in own if lot["matured"])
            assert accounts.get(("pending", customer), 0) == unmatured
            assert accounts.get(("available", customer), 0) == matured - (debt["debt"] if debt else 0)
            for lot in own:  # matured exactly when it became usable, by the sweep or when touched
                if self.swept_at == self.now:
                    assert lot["matured"] == (lot["available_at"] <= self.now), lot
        brand = {account: total for (account, customer), total in accounts.items() if customer is None}
        issued = sum(s["cashback"] for s in self.sales)
        settled = sum(round(Fraction(s["cashback"] * s["refunded"], s["total"])) for s in self.sales)
        redeemed = sum(r.amount for r, cancelled in self.redemptions if not cancelled)
        assert -brand.get("issued", 0) - brand.get("written_off", 0) == issued
        assert brand.get("reversed", 0) - brand.get("written_off", 0) == settled
        assert brand.get("redeemed", 0) == redeemed
        assert brand.get("expired", 0) >= 0

    @invariant()
    def reversals_are_proportional(self) -> None:
        for sale in self.sales:
            row = self.run(Sale.select(Sale.id).where(Sale.order_id == sale["order_id"]).first())
            refunds = self.run(Refund.select().where(Refund.sale == row["id"]))
            refunded = sum(r["amount"] for r in refunds)
            assert refunded == sale["refunded"]
            settled = sum(r["reversed"] + r["written_off"] for r in refunds)
            assert settled == half_even(sale["cashback"] * refunded, sale["total"])


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
