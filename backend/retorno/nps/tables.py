"""NPS: a brand's survey settings, and the surveys asked after purchases.

A survey follows one sale (unique: the sweep that asks may run any number of times, on any number
of workers) and is answered once, through its unguessable token, on the brand's host.
"""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer
from retorno.ledger.tables import Sale


class NpsSettings(Table, tablename="nps_settings"):
    """Whether a brand asks, how many days after a purchase, and how often a shopper at most."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, unique=True)
    enabled = Boolean(default=False)
    delay_days = Integer(default=3)  # days after the purchase
    period_days = Integer(default=90)  # a shopper is asked at most once in this many days
    updated_at = Timestamptz()


class Survey(Table, tablename="nps_surveys"):
    """One question asked after one purchase; score and comment once answered."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    sale = ForeignKey(Sale, on_delete=OnDelete.restrict, null=False)
    token = Varchar(length=40)  # its link, on its brand's host
    channel = Varchar(length=40, default="")  # the sale's channel (counter, api, a store's platform)
    asked_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)
    score = Integer(null=True, default=None)  # 0 to 10
    comment = Text(default="")
    created_at = Timestamptz()
    unique_nps_sale = Unique([sale, brand])  # one question per purchase
    unique_nps_token = Unique([token, brand])
