"""A sale as an integrator or a clerk sends it, and how it is checked and normalised before it is
stored and compared with a retry (also for a quote, which is a sale not yet made)."""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno.bounds import MAX_ITEMS, check_amount, check_key, check_moment, check_text
from retorno.customers.service import Identity
from retorno.errors import Amount, Field, Invalid
from retorno.ledger.rules import Item


class SaleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: str
    customer: Identity
    total: int
    shipping: int = 0
    items: list[Item] | None = None
    occurred_at: dt.datetime | None = None
    channel: str = "api"


def normalized(sale: SaleIn, now: dt.datetime) -> SaleIn:
    """The sale as it is checked, stored and compared on a retry: ids and texts stripped once and
    bounded, amounts in range, items that add up, a time with its offset near now."""
    check_amount("total", sale.total)
    check_amount("shipping", sale.shipping)
    if sale.shipping > sale.total:
        raise Invalid("%(field)s: cannot be more than the total", field=Field("shipping"))
    items = checked_items(sale.items)
    if items is not None:
        lines = sum(item.line_total for item in items)
        if items and lines != sale.total - sale.shipping:
            raise Invalid(
                "items add up to %(lines)s, but total minus shipping is %(rest)s",
                lines=Amount(lines),
                rest=Amount(sale.total - sale.shipping),
            )
    if sale.occurred_at is not None:
        # Checked, but kept as given, offset and all: a retry's digest is compared with the one
        # taken of it so (a sale recorded before this check existed must still match its retry).
        check_moment("occurred_at", sale.occurred_at, now=now)
    return msgspec.structs.replace(
        sale,
        order_id=check_key("order_id", sale.order_id),
        channel=check_text("channel", sale.channel, max_length=40, min_length=1),
        items=items,
    )


def checked_items(items: list[Item] | None) -> list[Item] | None:
    """An order's lines bounded and tidied: at most MAX_ITEMS, amounts in range, texts stripped."""
    if items is None:
        return None
    if len(items) > MAX_ITEMS:
        raise Invalid("%(field)s: at most %(max)s lines in one sale", field=Field("items"), max=MAX_ITEMS)
    return [_normalized_item(i, item) for i, item in enumerate(items)]


def _normalized_item(i: int, item: Item) -> Item:
    check_amount(f"items[{i}].amount", item.amount)
    if not 1 <= item.quantity <= 100_000:
        raise Invalid("%(field)s: must be from 1 to 100000", field=Field(f"items[{i}].quantity"))
    category = item.category
    if category is not None:
        category = check_text(f"items[{i}].category", category, max_length=100)
    return msgspec.structs.replace(
        item, sku=check_text(f"items[{i}].sku", item.sku, max_length=100), category=category
    )
