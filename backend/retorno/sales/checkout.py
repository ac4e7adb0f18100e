"""Spending cashback at a store platform's checkout: a single-use discount code on the platform,
its amount held as a redemption until a paid order uses it, or released when it expires unused."""

from __future__ import annotations

import msgspec


class CodeHeld(msgspec.Struct, kw_only=True):
    code: str  # what the shopper types (or the widget applies) at the platform's checkout
    amount: int  # centavos held
    expires_at: str  # ISO 8601; unused by then, the amount returns to the balance
    platform: str  # shopify | woocommerce
    apply_url: str | None = None  # a link that applies the code in the store (Shopify's /discount/<code>)
