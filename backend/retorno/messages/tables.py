"""A brand's messaging settings and automations, each message to a shopper with its delivery
state, and campaigns with their audience and holdout group."""

from piccolo.columns import (
    JSONB,
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


class Settings(Table, tablename="message_settings"):
    """Quiet hours, the weekly cap and the brand's WhatsApp Business account (secrets sealed)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, unique=True)
    quiet_start = Integer(default=21 * 60)  # minutes after midnight, in the brand's time zone
    quiet_end = Integer(default=9 * 60)
    weekly_cap = Integer(default=3)  # capped messages per shopper per 7 days, every channel together
    whatsapp_number_id = Varchar(length=40, default="")
    whatsapp_token = Text(default="")  # sealed by retorno.vault
    whatsapp_app_secret = Text(default="")  # sealed: checks X-Hub-Signature-256 of status callbacks
    whatsapp_verify_token = Varchar(length=64, default="")
    updated_at = Timestamptz()


class Automation(Table, tablename="message_automations"):
    """One automatic message as the brand wrote it; a kind without a row uses the defaults."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    kind = Varchar(length=40)
    enabled = Boolean(default=True)
    channels = Varchar(length=40, default="push,whatsapp,email")  # in order of preference
    days = Varchar(length=40, default="")  # "7,1" before expiry; "30" after the last purchase
    texts = JSONB(default="{}")  # {channel: {language: {field: text}}}
    updated_at = Timestamptz()
    unique_message_automation = Unique([brand, kind])


class Campaign(Table, tablename="message_campaigns"):
    """A campaign: its texts per channel, the audience's rules, the holdout share, when it goes."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    name = Varchar(length=120)
    channels = Varchar(length=40)
    texts = JSONB(default="{}")
    url = Varchar(length=200, default="/")
    audience = JSONB(default="{}")
    holdout_bp = Integer(default=1000)  # basis points of the audience kept out (1000 = 10%)
    state = Varchar(length=12, default="scheduled")  # scheduled | sent | cancelled
    send_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    event = Integer(null=True, default=None)  # the outbox event that fans it out
    members = Integer(default=0)
    held_out = Integer(default=0)
    created_at = Timestamptz()


class Member(Table, tablename="message_campaign_members"):
    """A shopper of a campaign's audience, sent it or held out (chosen at random when it went)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    campaign = Integer(index=True)
    customer = Integer()
    holdout = Boolean(default=False)
    unique_campaign_member_brand = Unique([campaign, customer, brand])


class Message(Table, tablename="messages"):
    """One notice for one shopper: queued -> (held) -> sending -> sent -> delivered -> read, or
    skipped (why in `reason`) or failed; `channel` is the one it went by, `tried` those before."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=False, index=True)
    event = Integer(null=True, default=None)
    campaign = Integer(null=True, default=None, index=True)
    kind = Varchar(length=40)
    key = Varchar(length=80)  # never the same notice twice: event (or campaign) and shopper
    token = Varchar(length=32)  # its links: unsubscribe, click-through, opened (on its brand's host)
    state = Varchar(length=12, default="queued", index=True)
    channel = Varchar(length=10, default="")
    tried = Varchar(length=40, default="")
    reason = Varchar(length=40, default="")
    detail = Varchar(length=300, default="")
    url = Varchar(length=200, default="/")
    data = JSONB(default="{}")  # what the event said (amounts, dates) for the texts' variables
    provider_id = Varchar(length=200, null=True, default=None, index=True)
    attempts = Integer(default=0)
    due_at = Timestamptz()
    lease_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)
    clicked_at = Timestamptz(null=True, default=None)
    unsubscribed_at = Timestamptz(null=True, default=None)
    unique_message_key = Unique([key, brand])
    unique_message_token = Unique([token, brand])
