"""Sales, credit lots, entries and how entries moved lots, refunds, redemptions, debts, and the
double-entry postings between a brand's accounts that every movement of money is."""

from piccolo.columns import JSONB, BigInt, Boolean, ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer


class Sale(Table, tablename="sales"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    order_id = Varchar(length=100)
    total = BigInt()  # centavos, shipping included
    shipping = BigInt(default=0)
    items = JSONB(default="[]")
    channel = Varchar(length=40, default="api")
    occurred_at = Timestamptz()
    request_digest = Varchar(length=64)  # the same order_id with other content is a conflict
    cashback = BigInt(default=0)
    points = BigInt(default=0)  # what the sale earned in points (brands with a points programme)
    response = Text(default="{}")  # the first answer, replayed byte for byte (JSONB would reorder it)
    cancelled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    # When it last changed (recorded, refunded, cancelled): the API's pages of sales changed since.
    updated_at = Timestamptz(null=True, default=None)
    unique_order = Unique([brand, order_id])


class Lot(Table, tablename="ledger_lots"):
    """A credit: pending until available_at, spendable until expires_at (None: never expires)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=True, default=None)
    source = Varchar(length=20)  # sale | adjustment | referral | points (a conversion)
    unit = Varchar(length=3, default="brl")  # brl: centavos of cashback; pts: points
    amount = BigInt()
    remaining = BigInt()  # amount + the sum of this lot's allocations; never below zero
    available_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    breakdown = JSONB(default="{}")
    announced = Boolean(default=False)  # the "cashback.available" event was written
    created_at = Timestamptz()
    # What is left of it was moved from the shopper's pending account to their available one.
    matured = Boolean(default=False)


class Refund(Table, tablename="sale_refunds"):
    """A refund (refund_id set) or a cancellation (refund_id None) of a sale."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=False, index=True)
    refund_id = Varchar(length=100, null=True, default=None)
    amount = BigInt()
    reversed = BigInt(default=0)  # cashback taken back (from the lot, or carried as debt)
    written_off = BigInt(default=0)  # cashback already spent that the brand chose not to reclaim
    points_reversed = BigInt(default=0)  # the sale's points taken back
    points_written_off = BigInt(default=0)  # its points already spent (never reclaimed)
    created_at = Timestamptz()
    unique_refund = Unique([brand, refund_id])


class Redemption(Table, tablename="redemptions"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    redemption_id = Varchar(length=100)
    order_id = Varchar(length=100, index=True)
    order_total = BigInt()
    amount = BigInt()
    request_digest = Varchar(length=64)
    cancelled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    unique_redemption = Unique([brand, redemption_id])


class Entry(Table, tablename="ledger_entries"):
    """A movement of a customer's balance. Never updated, never deleted: corrections are entries."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False)
    kind = Varchar(length=24)
    unit = Varchar(length=3, default="brl")  # brl | pts: a statement line is in one unit only
    amount = BigInt()  # signed centavos (or points)
    lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=True, default=None)
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=True, default=None)
    refund = ForeignKey(Refund, on_delete=OnDelete.restrict, null=True, default=None)
    redemption = ForeignKey(Redemption, on_delete=OnDelete.restrict, null=True, default=None)
    note = Text(default="")
    occurred_at = Timestamptz()
    created_at = Timestamptz()


class Allocation(Table, tablename="ledger_allocations"):
    """How much an entry took from (negative) or gave back to (positive) one lot."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)  # its entry's (docs/scaling.md)
    entry = ForeignKey(Entry, on_delete=OnDelete.restrict, null=False, index=True)
    lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=False, index=True)
    amount = BigInt()


class Account(Table, tablename="ledger_accounts"):
    """What a customer owes after a refund of spent cashback (negative_balance policy)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False)
    debt = BigInt(default=0)
    # Brand last in every unique that includes it only to be distributable by brand (docs/scaling.md):
    # lookups by the first columns alone still use the index.
    unique_ledger_account = Unique([customer, brand])


class Posting(Table, tablename="ledger_postings"):
    """One side of a balanced movement between a brand's accounts: the postings of an entry (or of
    a lot's maturing, or of a write-off) add up to zero. Shopper accounts (`pending`,
    `available`) carry the customer; brand accounts (`issued`, `redeemed`, `expired`, ...) do not.
    Appended only; a balance as of any moment is the sum of the postings up to it."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    account = Varchar(length=24)
    unit = Varchar(length=3, default="brl")  # an account is (unit, account): money and points never mix
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=True, default=None, index=True)
    amount = BigInt()  # signed centavos; a shopper account's balance is what the brand owes
    occurred_at = Timestamptz()  # when it takes effect (a lot matures at its available_at)
    entry = ForeignKey(Entry, on_delete=OnDelete.restrict, null=True, default=None)
    lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=True, default=None)
    refund = ForeignKey(Refund, on_delete=OnDelete.restrict, null=True, default=None)
    created_at = Timestamptz()
