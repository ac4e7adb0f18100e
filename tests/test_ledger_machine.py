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
from retorno.ledger import balances, rules
from retorno.ledger import sweep as ledger_sweep
from retorno.ledger.tables import Account, Allocation, Entry, Lot, Posting, Redemption, Refund, Sale
from retorno.onboarding.brand import import_brand
from retorno.sales import orders, redemptions
from retorno.sales.orders import SaleIn
from retorno.sales.redemptions import NotRedeemable, RedemptionIn
from tests.conftest import BASE_HOST, PG_URL, demo_pack

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CUSTOMERS = [Identity(email="ana@example.com"), Identity(email="bia@example.com", segment="vip")]


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
        earning = rules.earn(
            self.bella.rules().cashback,
            items=request.items,
            total=total,
            shipping=shipping,
            segment=CUSTOMERS[who].segment or "",
            at=self.now,
        )
        assert body.cashback.amount == earning.amount
        self.sales.append(
            {
                "order_id": request.order_id,
                "request": request,
                "total": total,
                "refunded": 0,
                "cancelled": False,
                "response": body,
                "cashback": earning.amount,
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
                    assert request.redemption_id in answer.redemptions_cancelled
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
        spendable = self.spendable(customer)
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
        else:
            with pytest.raises(NotRedeemable):
                self.run(redemptions.redeem(brand=self.bella, request=request, now=self.now))

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data())
    def cancel_redemption(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.redemptions) - 1))
        request, cancelled = self.redemptions[index]
        before = self.snapshot()
        self.run(redemptions.cancel(brand=self.bella, redemption_id=request.redemption_id, now=self.now))
        if cancelled:
            assert self.snapshot() == before
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
            assert settled == rules.half_even(sale["cashback"] * refunded, sale["total"])


def test_the_ledger_always_adds_up(migrated):
    template = migrated.removeprefix("sqlite:///")
    run_state_machine_as_test(
        lambda: LedgerMachine(template),
        settings=settings(
            max_examples=25 if PG_URL else 40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
