"""The notice a shopper's phone shows: its text (written by the brand's automations), the tag that
groups it, and the payload that fits a push message."""

from __future__ import annotations

from typing import Any

import msgspec

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


DAY = 86400


def shape_of(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """How a kind of notice behaves at the push service: the tag that groups it on the phone, how
    long an offline phone may still get it, its urgency, and the topic under which a newer one
    replaces it (the words come from the brand's automations, retorno/messages)."""
    if kind in ("cashback.credited", "cashback.available", "points.credited"):
        return {"tag": "cashback", "ttl": 7 * DAY, "topic": "balance"}
    if kind == "cashback.expiring":
        tomorrow = data.get("days") == 1
        return {
            "tag": "expiring",
            "ttl": DAY if tomorrow else 3 * DAY,
            "urgency": "high" if tomorrow else "normal",
        }
    if kind == "voucher.issued":
        return {"tag": "voucher", "ttl": 7 * DAY}
    if kind == "voucher.expiring":
        return {"tag": "voucher", "ttl": DAY}
    if kind.startswith("referral."):
        return {"tag": "referral", "ttl": 7 * DAY}
    if kind == CAMPAIGN:
        return {"tag": "campaign", "ttl": 2 * DAY, "urgency": "low"}
    return {"tag": "reminder", "ttl": 2 * DAY}


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
