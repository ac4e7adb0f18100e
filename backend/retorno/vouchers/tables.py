"""Personal vouchers and their uses (a voucher is used by at most one open use, an order, at a
time), and public coupons (a code anyone may use, within its limits) and theirs."""

from piccolo.columns import (
    JSONB,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer
from retorno.ledger.tables import Sale


class Voucher(Table, tablename="vouchers"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    code = Varchar(length=10)  # 10 characters of an unambiguous alphabet, shown as XXXX-XXXX-XX
    amount = BigInt(null=True, default=None)  # centavos off; or
    percent_bp = Integer(null=True, default=None)  # basis points off the order total
    min_order = BigInt(default=0)
    source = Varchar(length=20)  # rule | referral | staff | campaign
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=True, default=None)  # the sale that issued it
    note = Text(default="")
    issued_at = Timestamptz()
    expires_at = Timestamptz()
    cancelled_at = Timestamptz(null=True, default=None)
    unique_voucher_code = Unique([brand, code])


class VoucherUse(Table, tablename="voucher_uses"):
    """An order that used a voucher; released (given back) when that order was cancelled."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    voucher = ForeignKey(Voucher, on_delete=OnDelete.restrict, null=False, index=True)
    order_id = Varchar(length=100)
    order_total = BigInt()
    discount = BigInt()
    used_at = Timestamptz()
    released_at = Timestamptz(null=True, default=None)


class Coupon(Table, tablename="coupons"):
    """A public code (BEMVINDA10): a fixed amount or a percentage off, within its limits. Uses are
    counted from coupon_uses (open ones only: a cancelled order gives its use back)."""

    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    code = Varchar(length=40)  # as normalize_code reads it: letters and digits, upper case
    description = Text(default="")
    amount = BigInt(null=True, default=None)  # centavos off; or
    percent_bp = Integer(null=True, default=None)  # basis points off (of the eligible items)
    min_order = BigInt(default=0)
    starts_at = Timestamptz()
    ends_at = Timestamptz(null=True, default=None)  # None: until switched off
    max_uses = Integer(null=True, default=None)  # in all; None: no limit
    per_customer = Integer(default=1)
    first_purchase_only = Boolean(default=False)
    categories = JSONB(default="[]")  # [] = the whole order; else only these categories' items
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    unique_coupon_code = Unique([brand, code])


class CouponUse(Table, tablename="coupon_uses"):
    """An order that used a coupon, by whom; released when that order was cancelled."""

    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    coupon = ForeignKey(Coupon, on_delete=OnDelete.restrict, null=False, index=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    order_id = Varchar(length=100)
    order_total = BigInt()
    discount = BigInt()
    used_at = Timestamptz()
    released_at = Timestamptz(null=True, default=None)
