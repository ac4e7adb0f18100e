"""The rewards catalogue and its redemptions."""

from piccolo.columns import BigInt, Boolean, ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer
from retorno.ledger.tables import Entry, Lot
from retorno.vouchers.tables import Voucher


class Reward(Table, tablename="rewards"):
    """Something a shopper may take for points: a voucher of `value` centavos, a product or service
    handed over at the counter, or `value` centavos of cashback (a conversion)."""

    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    kind = Varchar(length=10)  # voucher | product | cashback
    title = Varchar(length=80)
    description = Text(default="")
    points = BigInt()  # what it costs
    value = BigInt(null=True, default=None)  # centavos: the voucher's or the cashback's
    min_order = BigInt(default=0)  # a voucher's minimum order
    valid_days = Integer(default=30)  # a voucher's (or a product's code's) validity
    stock = Integer(null=True, default=None)  # None: unlimited; counts redemptions not undone
    per_shopper = Integer(null=True, default=None)  # None: no limit
    position = Integer(default=0)
    enabled = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RewardRedemption(Table, tablename="reward_redemptions"):
    """A shopper's exchange of points for a reward: `entry` took the points; the voucher, the
    money lot or the code is what they got. Undone by staff with a reason (the points go back)."""

    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    reward = ForeignKey(Reward, on_delete=OnDelete.restrict, null=False, index=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    request_key = Varchar(length=64)  # the app's form token: a resubmission is the same redemption
    points = BigInt()
    entry = ForeignKey(Entry, on_delete=OnDelete.restrict, null=True, default=None)
    voucher = ForeignKey(Voucher, on_delete=OnDelete.restrict, null=True, default=None)
    lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=True, default=None)
    code = Varchar(length=10, default="")  # a product's pick-up code, shown as a QR code
    state = Varchar(length=10, default="issued")  # issued | fulfilled | undone
    created_at = Timestamptz()
    fulfilled_at = Timestamptz(null=True, default=None)
    undone_at = Timestamptz(null=True, default=None)
    undone_by = Varchar(length=200, default="")
    reason = Text(default="")
    unique_request = Unique([brand, customer, request_key])
