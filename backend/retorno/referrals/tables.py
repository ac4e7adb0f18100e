"""Referral codes, the friends they brought and what became of each, and the devices shoppers use."""

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer
from retorno.ledger.tables import Lot, Sale


class ReferralCode(Table, tablename="referral_codes"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False)
    code = Varchar(length=12)
    created_at = Timestamptz()
    unique_referral_code = Unique([brand, code])
    unique_referral_customer = Unique([brand, customer])


class Referral(Table, tablename="referrals"):
    """One invitation followed: opened on a device (invited), joined (pending), then decided."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    referrer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    friend = ForeignKey(Customer, on_delete=OnDelete.restrict, null=True, default=None, index=True)
    device = Varchar(length=64, default="")  # SHA-256 of the friend's device cookie
    status = Varchar(length=20)  # invited | pending | review | rewarded | not_eligible
    reason = Varchar(length=40, default="")
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=True, default=None)  # the first purchase
    referrer_lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=True, default=None)
    friend_lot = ForeignKey(Lot, on_delete=OnDelete.restrict, null=True, default=None)
    invited_at = Timestamptz()
    joined_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


class Device(Table, tablename="customer_devices"):
    """A browser a shopper signed in from (a random cookie, kept as its SHA-256)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False, index=True)
    device = Varchar(length=64)
    first_seen = Timestamptz()
    last_seen = Timestamptz()
    unique_customer_device_brand = Unique([customer, device, brand])
