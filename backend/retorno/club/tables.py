"""The benefits club: a brand's partner benefits, and the shoppers who used each one.

A use is recorded once per shopper and benefit (a unique pair): tapping "see the code" twice,
or following a partner's link again, counts once.
"""

from piccolo.columns import Boolean, Bytea, ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer


class Benefit(Table, tablename="club_benefits"):
    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    title = Varchar(length=80)
    partner = Varchar(length=80)
    description = Text(default="")
    how = Varchar(length=8)  # code (shown to the shopper) | link (to the partner) | show (at the partner)
    code = Varchar(length=40, default="")
    url = Varchar(length=500, default="")  # https only
    valid_from = Timestamptz(null=True, default=None)  # None: from the start
    valid_until = Timestamptz(null=True, default=None)  # exclusive; None: no end
    segments = Text(default="")  # segment names, space-separated; "": every shopper
    enabled = Boolean(default=True)
    position = Integer(default=0)  # the list's order, lowest first
    # A re-encoded JPEG (brands.images.reencode_picture), served from the brand's own host.
    image = Bytea(null=True, default=None)
    image_digest = Varchar(length=32, default="")
    image_width = Integer(default=0)
    image_height = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class BenefitUse(Table, tablename="club_uses"):
    """A shopper's first use of a benefit: its code seen, its link followed or its pass shown."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    benefit = ForeignKey(Benefit, on_delete=OnDelete.restrict, null=False, index=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict, null=False, index=True)
    used_at = Timestamptz()
    unique_club_use_brand = Unique([benefit, customer, brand])
