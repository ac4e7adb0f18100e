"""A brand's customer: one person as the brand's systems know them."""

from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Serial, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand


class Customer(Table, tablename="customers"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    external_id = Varchar(length=100, null=True, default=None)
    cpf = Varchar(length=11, null=True, default=None)  # 11 digits, check digits verified
    email = Varchar(length=254, null=True, default=None)  # lower-cased
    phone = Varchar(length=16, null=True, default=None)  # E.164
    name = Varchar(length=200, default="")
    segment = Varchar(length=40, default="")
    language = Varchar(
        length=10, default=""
    )  # the app's language they chose (their messages'); "": the brand's
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # Set when the shopper deleted their account: identifiers and name are gone, money records stay.
    forgotten_at = Timestamptz(null=True, default=None)
    unique_external_id = Unique([brand, external_id])
    unique_cpf = Unique([brand, cpf])
    unique_email = Unique([brand, email])
    unique_phone = Unique([brand, phone])


class Consent(Table, tablename="consents"):
    """Each change of a consent is a new row: what was accepted, which version, when."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False, index=True)
    kind = Varchar(length=20)  # regulations | push | email | whatsapp (a channel's messages)
    granted = Boolean(default=True)
    version = Integer(null=True, default=None)  # the regulations version accepted
    at = Timestamptz()
    source = Varchar(length=20, default="app")  # app | counter | import | api | admin | unsubscribe
