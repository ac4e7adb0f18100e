"""The words and bounds of the API's OpenAPI document for the domains' own structs.

The API sends and takes structs that the domains define (a sale, a balance, a voucher); their
descriptions, examples and bounds for integrators live here, beside the API, rather than in the
domains. `describe` writes them into the document Litestar generates; `tests/test_api_docs.py`
fails when a field of any schema has no description. The bounds are those `retorno.bounds` and
the services enforce.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example, OpenAPI, OpenAPIType, Schema

from retorno.api.reference import example_of
from retorno.bounds import KEY, MAX_ITEMS, MONEY

_CENTAVOS = "in centavos"
_UTC = "ISO 8601, in UTC"
_LINE = {"min_length": 0, "max_length": 100}

# schema -> field -> (description, example, bounds)
FIELDS: dict[str, dict[str, tuple[str, Any, dict[str, Any]]]] = {
    "Identity": {
        "external_id": ("Your own id for the customer (empty: none).", "CLI-0042", {"max_length": 100}),
        "cpf": (
            "The CPF, with or without dots and dash (its check digits are checked).",
            "529.982.247-25",
            {},
        ),
        "email": ("An e-mail address (kept in lower case).", "ana@example.com", {"max_length": 254}),
        "phone": ("A phone number; without a country code it is Brazilian (+55).", "+5511999990000", {}),
        "name": ("The customer's name.", "Ana Souza", {"max_length": 200}),
        "segment": ("A segment the brand's rules may give a rate (a-z, 0-9, _ and -).", "vip", {}),
    },
    "Item": {
        "sku": ("Your product's code.", "BAT-01", _LINE),
        "category": ("The product's category, as the brand's rules name it.", "maquiagem", _LINE),
        "amount": (f"The unit price, {_CENTAVOS}.", 4990, MONEY),
        "quantity": ("How many.", 2, {"minimum": 1, "maximum": 100_000}),
    },
    "SaleIn": {
        "order_id": ("Your order's id: a retry with it is recorded once.", "PED-1002", KEY),
        "customer": ("Who bought: any one identifier is enough; a new one becomes a customer.", None, {}),
        "total": (f"The order's total, {_CENTAVOS}, shipping included.", 18990, MONEY),
        "shipping": (f"Shipping, {_CENTAVOS} (earns no cashback).", 0, MONEY),
        "items": (
            "The order's lines, for rates by category; they must add up to total - shipping.",
            None,
            {"max_items": MAX_ITEMS},
        ),
        "occurred_at": (
            "When it was sold, with an offset: at most 5 years back and a day ahead; now when left out.",
            "2026-12-01T14:30:00-03:00",
            {},
        ),
        "channel": (
            "Where it was sold (api, store, site, app...).",
            "site",
            {"min_length": 1, "max_length": 40},
        ),
    },
    "RedemptionIn": {
        "redemption_id": (
            "Your id for this use of cashback: a retry with it is answered once.",
            "RED-1",
            KEY,
        ),
        "order_id": ("The order the cashback pays part of.", "PED-1003", KEY),
        "customer": ("Whose cashback.", None, {}),
        "order_total": (f"The order's total, {_CENTAVOS}.", 15000, MONEY),
        "amount": (
            f"How much cashback to use, {_CENTAVOS}.",
            2000,
            {"minimum": 1, "maximum": MONEY["maximum"]},
        ),
    },
    "CustomerView": {
        "id": ("Retorno's id for the customer (a reference on its own).", 17, {}),
        "brand": ("The brand's id.", 1, {}),
        "external_id": ("Your own id for the customer.", "CLI-0042", {}),
        "cpf": ("The CPF, digits only.", "52998224725", {}),
        "email": ("The e-mail address.", "ana@example.com", {}),
        "phone": ("The phone number, E.164.", "+5511999990000", {}),
        "name": ("The customer's name (empty when not known).", "Ana Souza", {}),
        "segment": ("The customer's segment (empty when none).", "vip", {}),
    },
    "Balance": {
        "available": (f"Cashback that can be used now, {_CENTAVOS}.", 4600, {}),
        "pending": (f"Cashback still in its return window, {_CENTAVOS}.", 4590, {}),
        "expiring": ("Available credits by expiry date, soonest first.", None, {}),
        "currency": ("ISO 4217.", "BRL", {}),
        "debt": (f"What the customer owes after a refund of cashback already spent, {_CENTAVOS}.", 0, {}),
    },
    "Expiring": {
        "amount": (f"What expires then, {_CENTAVOS}.", 3200, {}),
        "expires_at": (f"When, {_UTC}.", "2027-01-17T03:00:00Z", {}),
    },
    "StatementLine": {
        "id": ("The movement's id.", 88, {}),
        "kind": (
            "earn, redeem, redemption_cancel, reverse, expire, adjustment or referral_reward.",
            "earn",
            {},
        ),
        "amount": (f"Signed, {_CENTAVOS}: a credit is positive, a use or reversal negative.", 1899, {}),
        "occurred_at": (f"When it happened, {_UTC}.", "2026-10-27T15:00:00Z", {}),
        "order_id": ("The order it belongs to, if any.", "PED-1002", {}),
        "status": ("A credit's: pending, available or expired.", "available", {}),
        "available_at": (f"When a credit becomes usable, {_UTC}.", "2026-11-03T15:00:00Z", {}),
        "expires_at": (f"When a credit expires, {_UTC} (null: never).", "2027-02-01T15:00:00Z", {}),
        "breakdown": ("How a credit was worked out, line by line.", None, {}),
        "note": ("The reason given for a manual adjustment.", "Brinde de Natal", {}),
    },
    "SaleAnswer": {
        "sale_id": ("Retorno's id for the sale.", 301, {}),
        "order_id": ("Your order's id.", "PED-1002", {}),
        "customer_id": ("Retorno's id for the buyer.", 17, {}),
        "cashback": ("The cashback the sale earned.", None, {}),
        "points": ("The points the sale earned, where the brand's programme gives points.", None, {}),
        "vouchers": ("Vouchers this purchase earned, if any.", None, {}),
    },
    "PointsAnswer": {
        "amount": ("Points earned (whole points).", 250, {}),
        "status": ("pending (in its return window), available, or none.", "pending", {}),
        "available_at": (f"When they become usable, {_UTC}.", "2026-12-08T17:30:00Z", {}),
        "expires_at": (f"When they expire, {_UTC} (null: never).", "2027-12-08T17:30:00Z", {}),
    },
    "CashbackAnswer": {
        "amount": (f"Cashback earned, {_CENTAVOS}.", 1899, {}),
        "breakdown": ("How it was worked out, line by line.", None, {}),
        "status": ("pending (in its return window), available, or none.", "pending", {}),
        "available_at": (f"When it becomes usable, {_UTC}.", "2026-12-08T17:30:00Z", {}),
        "expires_at": (f"When it expires, {_UTC} (null: never).", "2027-03-08T17:30:00Z", {}),
        "capped": ("Whether the brand's cap per order cut it.", False, {}),
        "reason": ("Why none was earned: below_min_purchase.", "below_min_purchase", {}),
    },
    "ItemEarning": {
        "sku": ("The line's product code.", "BAT-01", {}),
        "category": ("The line's category.", "maquiagem", {}),
        "amount": (f"The line's total, {_CENTAVOS}.", 9980, {}),
        "rate_bp": ("The rate applied, in basis points (1,000 = 10%).", 1500, {}),
        "rule": ("Which rule gave the rate: rate (the base), band, category or segment.", "category", {}),
        "band_from": (f"The band's start, {_CENTAVOS}, when a band gave it.", 30000, {}),
        "segment": ("The segment that gave the rate.", "vip", {}),
        "campaign": ("The campaign that multiplied it.", "Black Friday", {}),
        "multiplier_x100": ("The campaign's multiplier in hundredths (200 = x2).", 200, {}),
        "cashback": (f"The line's cashback, {_CENTAVOS}.", 1497, {}),
    },
    "RefundAnswer": {
        "refund_id": ("Your refund's id.", "DEV-1", {}),
        "order_id": ("The order refunded.", "PED-1002", {}),
        "amount": (f"The amount refunded, {_CENTAVOS}.", 5000, {}),
        "cashback_reversed": (f"Cashback taken back, {_CENTAVOS}.", 499, {}),
        "cashback_written_off": (f"Cashback already spent that the brand absorbs, {_CENTAVOS}.", 0, {}),
    },
    "CancelAnswer": {
        "order_id": ("The order cancelled.", "PED-1002", {}),
        "status": ("cancelled.", "cancelled", {}),
        "cashback_reversed": (f"Cashback taken back, {_CENTAVOS}.", 1899, {}),
        "redemptions_cancelled": ("The redemptions on this order given back.", ["RED-1"], {}),
    },
    "Quote": {
        "customer_id": ("The customer found, or null.", 17, {}),
        "earn": ("What the cart would earn.", None, {}),
        "redeemable": ("How much cashback may be used on it, and why not more.", None, {}),
        "available": (f"The customer's available cashback, {_CENTAVOS}.", 4600, {}),
        "vouchers": ("The customer's vouchers that apply to this cart.", None, {}),
        "currency": ("ISO 4217.", "BRL", {}),
    },
    "EarnQuote": {
        "amount": (f"Cashback the cart would earn, {_CENTAVOS}.", 1500, {}),
        "breakdown": ("Line by line.", None, {}),
    },
    "Redeemable": {
        "max_amount": (f"The most cashback that may be used on this cart, {_CENTAVOS}.", 4600, {}),
        "reason": (
            "What limits it: no_balance, below_min_order, max_share, balance; null if nothing.",
            "max_share",
            {},
        ),
    },
    "RedemptionAnswer": {
        "redemption_id": ("Your redemption's id.", "RED-1", {}),
        "order_id": ("The order.", "PED-1003", {}),
        "amount": (f"Cashback used, {_CENTAVOS}.", 2000, {}),
        "status": ("committed or cancelled.", "committed", {}),
    },
    "Applicable": {
        "code": ("The voucher's code.", "BELA-7K2M-9QXD", {}),
        "discount": (f"The discount it gives this cart, {_CENTAVOS}.", 1000, {}),
        "expires_at": (f"When it expires, {_UTC}.", "2026-12-31T03:00:00Z", {}),
    },
    "VoucherIssued": {
        "code": ("The voucher's code.", "BELA-7K2M-9QXD", {}),
        "amount": (f"Its discount, {_CENTAVOS} (null for a percentage).", 1000, {}),
        "percent_bp": ("Its discount in basis points (null for an amount).", None, {}),
        "expires_at": (f"When it expires, {_UTC}.", "2026-12-31T03:00:00Z", {}),
    },
    "VoucherView": {
        "code": ("The voucher's code.", "BELA-7K2M-9QXD", {}),
        "status": ("active, used, expired or cancelled.", "active", {}),
        "amount": (f"Its discount, {_CENTAVOS} (null for a percentage).", 1000, {}),
        "percent": ("Its discount in percent (null for an amount).", 10.0, {}),
        "min_order": (f"The smallest order it applies to, {_CENTAVOS}.", 5000, {}),
        "source": ("What issued it: rule (the brand's rules, on a purchase), referral or api.", "rule", {}),
        "issued_at": (f"When it was issued, {_UTC}.", "2026-12-01T15:00:00Z", {}),
        "expires_at": (f"When it expires, {_UTC}.", "2026-12-31T03:00:00Z", {}),
        "used_on_order": ("The order that used it, if any.", None, {}),
    },
    "VoucherCheck": {
        "code": ("The code as checked.", "BELA-7K2M-9QXD", {}),
        "applies": ("Whether it applies to this order.", True, {}),
        "discount": (f"The discount it gives, {_CENTAVOS} (0 when it does not apply).", 1000, {}),
        "reason": (
            "Why not: not_found, cancelled, used, expired, below_min_order, other_customer; for a "
            "coupon also not_started, used_up, already_used, not_first_purchase, customer_required, "
            "no_eligible_items.",
            None,
            {},
        ),
        "voucher": ("The voucher, when found.", None, {}),
        "coupon": ("The public coupon, when the code is one.", None, {}),
    },
    "CouponView": {
        "code": ("The coupon's code, as shoppers type it.", "BEMVINDA10", {}),
        "description": ("What the brand says of it.", "R$ 10 na primeira compra", {}),
        "amount": (f"Its discount, {_CENTAVOS} (null for a percentage).", 1000, {}),
        "percent_bp": ("Its discount in basis points (null for an amount).", None, {}),
        "min_order": (f"The smallest order it applies to, {_CENTAVOS}.", 5000, {}),
        "starts_at": (f"From when it may be used, {_UTC}.", "2026-12-01T03:00:00Z", {}),
        "ends_at": (f"Until when, {_UTC} (null: no end).", None, {}),
        "max_uses": ("How many times it may be used in all (null: no limit).", None, {}),
        "per_customer": ("How many times one customer may use it.", 1, {}),
        "first_purchase_only": ("Whether it is for a customer's first purchase only.", False, {}),
        "categories": ("The categories whose items it discounts (empty: the whole order).", [], {}),
        "active": ("Whether the brand has it switched on.", True, {}),
        "status": ("active, scheduled, expired, used_up or off.", "active", {}),
        "uses": ("Its uses so far (orders not cancelled).", 0, {}),
        "discount_given": (f"What those uses took off, {_CENTAVOS}.", 0, {}),
    },
    "VoucherUsed": {
        "code": ("The voucher's code.", "BELA-7K2M-9QXD", {}),
        "order_id": ("The order it was used on.", "PED-1004", {}),
        "discount": (f"The discount given, {_CENTAVOS}.", 1000, {}),
        "status": ("used.", "used", {}),
        "used_at": (f"When, {_UTC}.", "2026-12-01T15:00:00Z", {}),
        "kind": ("voucher, or coupon (a public coupon's use).", "voucher", {}),
    },
    "VoucherReleased": {
        "code": ("The voucher's code.", "BELA-7K2M-9QXD", {}),
        "order_id": ("The order that had used it.", "PED-1004", {}),
        "status": ("active again (or expired, if its date has passed).", "active", {}),
    },
    "SaleView": {
        "sale_id": ("Retorno's id for the sale.", 301, {}),
        "order_id": ("Your order's id.", "PED-1002", {}),
        "customer_id": ("Retorno's id for the buyer.", 17, {}),
        "status": ("recorded, or cancelled.", "recorded", {}),
        "total": (f"The order's total, {_CENTAVOS}.", 18990, {}),
        "shipping": (f"Shipping, {_CENTAVOS}.", 0, {}),
        "channel": ("Where it was sold.", "site", {}),
        "occurred_at": (f"When it was sold, {_UTC}.", "2026-12-01T17:30:00Z", {}),
        "cancelled_at": (f"When it was cancelled, {_UTC} (null: it was not).", None, {}),
        "cashback": (f"Cashback it earned when recorded, {_CENTAVOS}.", 1899, {}),
        "cashback_reversed": (
            f"Cashback taken back since by refunds and a cancellation, {_CENTAVOS}.",
            0,
            {},
        ),
        "breakdown": ("How its cashback was worked out, line by line.", None, {}),
        "refunds": ("Its refunds, oldest first; a cancellation is one with no refund_id.", None, {}),
        "redemptions": ("Cashback used on its order.", None, {}),
        "vouchers": ("Vouchers the purchase earned.", None, {}),
    },
    "RefundLine": {
        "refund_id": ("Your refund's id (null: the cancellation).", "DEV-1", {}),
        "amount": (f"The amount refunded, {_CENTAVOS}.", 5000, {}),
        "cashback_reversed": (f"Cashback taken back, {_CENTAVOS}.", 499, {}),
        "cashback_written_off": (f"Cashback already spent that the brand absorbed, {_CENTAVOS}.", 0, {}),
        "refunded_at": (f"When, {_UTC}.", "2026-12-05T12:00:00Z", {}),
    },
    "RedemptionLine": {
        "redemption_id": ("Your redemption's id.", "RED-1", {}),
        "amount": (f"Cashback used, {_CENTAVOS}.", 2000, {}),
        "status": ("committed or cancelled.", "committed", {}),
        "redeemed_at": (f"When, {_UTC}.", "2026-12-05T12:00:00Z", {}),
    },
    "SaleChange": {
        "sale_id": ("Retorno's id for the sale.", 301, {}),
        "order_id": ("Your order's id.", "PED-1002", {}),
        "customer_id": ("Retorno's id for the buyer.", 17, {}),
        "status": ("recorded, or cancelled.", "recorded", {}),
        "total": (f"The order's total, {_CENTAVOS}.", 18990, {}),
        "cashback": (f"Cashback it earned, {_CENTAVOS}.", 1899, {}),
        "refunded": (f"What refunds gave back so far, {_CENTAVOS}.", 0, {}),
        "occurred_at": (f"When it was sold, {_UTC}.", "2026-12-01T17:30:00Z", {}),
        "updated_at": (f"When it last changed, {_UTC}.", "2026-12-01T17:30:00Z", {}),
    },
    "SalePage": {
        "sales": ("The page's sales, oldest change first.", None, {}),
        "next_cursor": ("Pass it back as `cursor` for the next page; null on the last.", None, {}),
    },
    "CustomerPage": {
        "customers": ("The page's customers, oldest change first.", None, {}),
        "next_cursor": ("Pass it back as `cursor` for the next page; null on the last.", None, {}),
    },
    "EndpointView": {
        "id": ("The endpoint's id.", 3, {}),
        "url": ("Where events are sent.", "https://loja.example/hooks/retorno", {}),
        "description": ("What it is for.", "ERP", {}),
        "events": ('The event types it gets, or ["*"]: every type.', ["sale.recorded"], {}),
        "enabled": ("Whether events are sent to it.", True, {}),
        "disabled_reason": (
            "Why it was disabled: manual, gone (it answered 410) or failing; empty while enabled.",
            "",
            {},
        ),
        "disabled_at": (f"When it was disabled, {_UTC}.", None, {}),
        "previous_secret_until": (f"Until when the previous secret signs too, {_UTC}.", None, {}),
        "failing_since": (f"The first of the attempts that failed in a row, {_UTC}.", None, {}),
        "failed_attempts": ("Attempts failed in a row.", 0, {}),
        "last_success_at": (f"Its last delivery that got a 2xx, {_UTC}.", None, {}),
        "created_at": (f"When it was added, {_UTC}.", "2026-12-01T17:30:00Z", {}),
        "updated_at": (f"When it last changed, {_UTC}.", "2026-12-01T17:30:00Z", {}),
    },
    "EndpointCreated": {
        "endpoint": ("The endpoint.", None, {}),
        "secret": (
            "Its signing secret (whsec_...): shown this once.",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            {},
        ),
    },
    "SecretRotated": {
        "endpoint": ("The endpoint.", None, {}),
        "secret": ("The new signing secret: shown this once.", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", {}),
        "previous_valid_until": (f"Until when the old secret signs too, {_UTC}.", "2026-12-02T17:30:00Z", {}),
    },
    "DeliveryView": {
        "id": ("The delivery's id.", 41, {}),
        "endpoint_id": ("The endpoint.", 3, {}),
        "message_id": ("The webhook-id header: the same on every retry.", "msg_2Kq8v1", {}),
        "event_type": ("The event's type.", "sale.recorded", {}),
        "state": ("pending, sending, failed (to be retried), delivered or dead.", "delivered", {}),
        "attempts": ("Attempts so far.", 1, {}),
        "next_attempt_at": (f"When it is tried next, {_UTC}.", None, {}),
        "last_status": ("The HTTP status of the last answer.", 200, {}),
        "latency_ms": ("How long the last attempt took, in milliseconds.", 84, {}),
        "last_error": ("What went wrong on the last attempt.", "", {}),
        "response": ("The first 4 KB of the last answer.", "ok", {}),
        "body": ("The JSON sent.", None, {}),
        "created_at": (f"When it was queued, {_UTC}.", "2026-12-01T17:30:00Z", {}),
        "delivered_at": (f"When it was delivered, {_UTC}.", None, {}),
    },
    "Replayed": {"queued": ("Messages queued again.", 4, {})},
    "FieldError": {
        "message": ("What is wrong with the field.", "Expected `int`, got `str`", {}),
        "key": ("The field.", "total", {}),
        "source": ("Where it was: body, query, path or header.", "body", {}),
    },
}


# The request bodies: a field they do not name is refused (their structs forbid unknown fields).
REQUESTS = (
    "EndpointIn",
    "EndpointChange",
    "ReplayIn",
    "CustomerPatch",
    "VoucherIn",
    "Identity",
    "Item",
    "SaleIn",
    "RedemptionIn",
    "RefundIn",
    "QuoteIn",
    "VoucherCheckIn",
    "VoucherUseIn",
    "VoucherReleaseIn",
)
IDENTIFIERS = ("external_id", "cpf", "email", "phone")  # a customer needs one of them


FIELDS["CustomerChange"] = FIELDS["CustomerView"] | {
    "created_at": ("When the customer was created, ISO 8601, in UTC.", "2026-11-02T13:00:00Z", {}),
    "updated_at": ("When the customer last changed, ISO 8601, in UTC.", "2026-12-01T17:30:00Z", {}),
    "erased": ("Whether the customer was erased (their identifiers are gone).", False, {}),
}


def describe(document: OpenAPI) -> OpenAPI:
    """Write FIELDS into the generated document's component schemas (in place; returned)."""
    schemas = document.components.schemas if document.components else None
    for name in REQUESTS:
        if isinstance(request := (schemas or {}).get(name), Schema):
            request.additional_properties = False
    if isinstance(identity := (schemas or {}).get("Identity"), Schema):
        identity.any_of = [
            Schema(required=[field], properties={field: Schema(type=OpenAPIType.STRING, min_length=1)})
            for field in IDENTIFIERS
        ]
    for name, fields in FIELDS.items():
        schema = (schemas or {}).get(name)
        if not isinstance(schema, Schema) or not schema.properties:
            continue
        for field, (description, example, bounds) in fields.items():
            prop = schema.properties.get(field)
            if not isinstance(prop, Schema):
                continue
            target = _value_schema(prop)
            prop.description = description
            if example is not None:
                prop.examples = [example]
            for key, value in bounds.items():
                setattr(target, key, value)
    _body_examples(document)
    return document


def _body_examples(document: OpenAPI) -> None:
    """An example body on every operation that takes one, made of its fields' examples (the same
    body the reference page's curl line sends)."""
    written = document.to_schema()
    schemas = written.get("components", {}).get("schemas", {})
    for path, item in (document.paths or {}).items():
        for method in ("post", "patch", "put"):
            operation = getattr(item, method, None)
            body = getattr(operation, "request_body", None)
            media = (
                body.content.get("application/json")
                if body is not None and hasattr(body, "content")
                else None
            )
            if media is None:
                continue
            schema = written["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            media.examples = {"example": Example(summary="An example", value=example_of(schema, schemas))}


def _value_schema(prop: Schema) -> Schema:
    """Where a field's bounds go: the string or number itself, inside a nullable one's oneOf."""
    for option in prop.one_of or []:
        if isinstance(option, Schema) and option.type not in (None, "null"):
            return option
    return prop
