"""From an outbox event to the notice a shopper's phone shows: the text in the brand's language,
amounts formatted, the tag that groups it, and the payload that fits a push message."""

from __future__ import annotations

from typing import Any

import msgspec

from retorno import i18n
from retorno.brands.service import BrandView

MAX_PAYLOAD = 3993  # bytes a push service must accept, with aes128gcm's overhead taken out
CAMPAIGN = "campaign"


class Notice(msgspec.Struct, kw_only=True):
    category: str
    title: str
    body: str
    url: str
    tag: str
    ttl: int  # seconds the push service keeps it for an offline phone (never 0)
    urgency: str = "normal"
    topic: str = ""  # notices with the same topic replace each other at the push service


def notice_for(kind: str, event: dict[str, Any], brand: BrandView) -> Notice | None:
    """What a shopper reads for an event, in the brand's language; None: this event notifies no one."""
    lang = brand.locale
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    money = lambda centavos: i18n.money(centavos, lang=lang, currency=brand.currency)  # noqa: E731
    date = lambda value: i18n.date(value, lang=lang, tz=brand.timezone)  # noqa: E731
    day = 86400
    if kind == "cashback.credited":
        return Notice(
            category="cashback",
            title=_("%(amount)s of cashback credited") % {"amount": money(event["amount"])},
            body=_("You can use it from %(date)s.") % {"date": date(event["available_at"])},
            url="/statement",
            tag="cashback",
            ttl=7 * day,
            topic="balance",
        )
    if kind == "cashback.available":
        return Notice(
            category="cashback",
            title=_("%(amount)s of cashback ready to use") % {"amount": money(event["amount"])},
            body=_("Use it on your next purchase at %(brand)s.") % {"brand": brand.name},
            url="/",
            tag="cashback",
            ttl=7 * day,
            topic="balance",
        )
    if kind == "cashback.expiring":
        return Notice(
            category="expiry",
            title=_("%(amount)s expire in %(days)s days")
            % {"amount": money(event["amount"]), "days": event["days"]}
            if event["days"] != 1
            else _("%(amount)s expire tomorrow") % {"amount": money(event["amount"])},
            body=_("Use your cashback by %(date)s.") % {"date": date(event["expires_at"])},
            url="/",
            tag="expiring",
            ttl=day if event["days"] == 1 else 3 * day,
            urgency="high" if event["days"] == 1 else "normal",
        )
    if kind == "voucher.issued":
        value = (
            money(event["amount"]) if event.get("amount") is not None else f"{event['percent_bp'] / 100:g}%"
        )
        return Notice(
            category="vouchers",
            title=_("You got a %(value)s voucher") % {"value": value},
            body=_("Use it by %(date)s.") % {"date": date(event["expires_at"])},
            url="/vouchers",
            tag="voucher",
            ttl=7 * day,
        )
    if kind == "voucher.expiring":
        return Notice(
            category="vouchers",
            title=_("Your voucher expires in %(days)s days") % {"days": event["days"]},
            body=_("Use it by %(date)s.") % {"date": date(event["expires_at"])},
            url="/vouchers",
            tag="voucher",
            ttl=day,
        )
    if kind == "referral.rewarded":
        friend = event.get("role") == "friend"
        return Notice(
            category="referrals",
            title=(_("Welcome: %(amount)s of cashback") if friend else _("Your invitation earned %(amount)s"))
            % {"amount": money(event["amount"])},
            body=_("It becomes usable with the purchase's return window."),
            url="/statement" if friend else "/invite",
            tag="referral",
            ttl=7 * day,
        )
    if kind == CAMPAIGN:
        return Notice(
            category="campaigns",
            title=event["title"],
            body=event["body"],
            url=event["url"],
            tag="campaign",
            ttl=2 * day,
            urgency="low",
        )
    return None


def payload_of(notice: Notice, brand: BrandView) -> str:
    """The JSON the service worker shows; cut to fit a push message."""
    icon = f"/assets/icon-192.png?v={brand.app_version}"
    data = {
        "title": notice.title[:120],
        "body": notice.body[:500],
        "url": notice.url,
        "tag": notice.tag,
        "icon": icon,
        "badge": f"/assets/badge-96.png?v={brand.app_version}",
        "lang": brand.locale,
    }
    text = msgspec.json.encode(data).decode()
    while len(text.encode()) > MAX_PAYLOAD - 100:  # room for the aes128gcm header and padding
        data["body"] = data["body"][: len(data["body"]) // 2]
        text = msgspec.json.encode(data).decode()
    return text
