"""A brand's connection to a store platform, the webhooks it received, the refunds that arrived
before their order, and the single-use discount codes that spend cashback at the platform's checkout."""

from piccolo.columns import (
    BigInt,
    BigSerial,
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


class Connection(Table, tablename="store_connections"):
    """One per brand and platform (shopify | woocommerce | nuvemshop)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    platform = Varchar(length=16)
    # Shopify: the shop's myshopify.com domain; WooCommerce: the store's address; Nuvemshop: its store id.
    shop = Varchar(length=253)
    secret = Text()  # verifies the platform's webhook signatures; sealed by retorno.vault
    access_token = Text(default="")  # the platform's admin API (Woo: "key:secret"); sealed; "" = none
    checkout_codes = Boolean(default=False)  # shoppers may turn cashback into a discount code
    enabled = Boolean(default=True)
    last_delivery_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    unique_store_connection = Unique([brand, platform])


class Delivery(Table, tablename="store_deliveries"):
    """A webhook as received (its signature already checked) and what became of it."""

    id = BigSerial(primary_key=True)
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    connection = ForeignKey(Connection, on_delete=OnDelete.cascade, null=False, index=True)
    topic = Varchar(length=60)
    delivery_id = Varchar(length=100, default="")  # the platform's id of this webhook, if it sends one
    order_id = Varchar(length=100, default="")  # the platform's order id
    outcome = Varchar(length=12)  # accepted | ignored | duplicate | held | failed
    reason = Varchar(length=40, default="")  # stores.service.REASONS
    detail = Varchar(length=300, default="")
    created_at = Timestamptz()


class HeldRefund(Table, tablename="store_held_refunds"):
    """A refund that arrived before its order: applied when the order arrives."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    connection = ForeignKey(Connection, on_delete=OnDelete.cascade, null=False)
    order_id = Varchar(length=100)  # the platform's order id
    refund_id = Varchar(length=100)  # the platform's refund id
    amount = BigInt()
    created_at = Timestamptz()
    applied_at = Timestamptz(null=True, default=None)
    unique_store_held_refund_brand = Unique([connection, refund_id, brand])


class CheckoutCode(Table, tablename="store_checkout_codes"):
    """Cashback held for a discount code on the platform: creating -> held -> committed (a paid
    order used it) or released (it expired unused, or the platform refused it: failed)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    connection = ForeignKey(Connection, on_delete=OnDelete.restrict, null=False)
    customer = Integer(index=True)
    code = Varchar(length=40)
    amount = BigInt()
    redemption_id = Varchar(length=100)
    platform_ref = Varchar(length=200, default="")  # Shopify's discount node id, Woo's coupon id
    state = Varchar(length=10)
    order_id = Varchar(length=100, default="")
    expires_at = Timestamptz()
    created_at = Timestamptz()
    updated_at = Timestamptz()
    unique_store_checkout_code = Unique([brand, code])
