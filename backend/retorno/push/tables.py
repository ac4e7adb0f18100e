"""Web push: each brand's VAPID keys, shoppers' subscriptions and preferences, and deliveries."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer


class VapidKey(Table, tablename="push_vapid_keys"):
    """A brand's VAPID key pair. The private key never leaves the server (nor reaches a log)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, unique=True)
    private_key = Text()  # the raw P-256 private value (base64url), sealed by retorno.vault
    public_key = Varchar(length=100)  # base64url of the uncompressed point (applicationServerKey)
    created_at = Timestamptz()


class Subscription(Table, tablename="push_subscriptions"):
    """One browser's push subscription (a device) for a shopper."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False, index=True)
    endpoint = Text(unique=True)
    origin = Varchar(length=200)  # the push service (scheme://host:port of the endpoint)
    p256dh = Varchar(length=200)
    auth = Varchar(length=64)
    device = Varchar(length=120, default="")  # what the shopper sees: "Chrome no Android"
    created_at = Timestamptz()
    last_sent_at = Timestamptz(null=True, default=None)


class Preference(Table, tablename="push_preferences"):
    """Which kinds of notice a shopper wants (comma-separated categories)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False)
    categories = Varchar(length=200)
    updated_at = Timestamptz()
    unique_push_preference = Unique([customer, brand])


class Delivery(Table, tablename="push_deliveries"):
    """One notification for one subscription: pending -> sending -> sent | failed | gone | unknown.

    `sending` is written before the request goes out; a worker that dies leaves it so, and the
    next worker marks it `unknown` instead of sending again (at most once)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    event = Integer()  # the outbox event
    subscription = Integer(index=True)  # kept when the subscription is deleted (the delivery is history)
    origin = Varchar(length=200)
    payload = Text()
    ttl = Integer()
    urgency = Varchar(length=10)
    topic = Varchar(length=32, default="")
    state = Varchar(length=10)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    lease_until = Timestamptz(null=True, default=None)
    last_status = Integer(null=True, default=None)
    created_at = Timestamptz()
    done_at = Timestamptz(null=True, default=None)
    unique_push_delivery_brand = Unique([event, subscription, brand])


class PushService(Table, tablename="push_services"):
    """A push service that asked us to wait (429 Retry-After): nothing goes to it before not_before."""

    id: Serial  # added by Piccolo; declared for the type checker

    origin = Varchar(length=200, unique=True)
    not_before = Timestamptz()
