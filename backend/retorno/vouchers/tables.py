"""Personal vouchers and their uses. A voucher is used by at most one open use (an order) at a time."""

from piccolo.columns import BigInt, ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
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
