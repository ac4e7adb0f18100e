"""Local fakes of the store platforms' APIs, and their webhook signatures, for the connector tests.

Each fake is an aiohttp server on 127.0.0.1 (a free port), started inside the test's own loop:
`async with FakeShopify() as shop:`, then point the connector at `shop.origin`. Each records every
request (`.requests`), keeps its state in plain dicts the test can read or seed (`.discounts`,
`.coupons`, `.orders`), and answers from a script first when one is queued: `.fail_next(status,
body, headers)` (or `.script.append(Scripted(...))`), `FakeShopify.throttle_next()`,
`FakeNuvemshop.rate_limit_next()`.

Shapes follow each platform's public documentation; where the documentation gives no example
(an error body, a validation message) the answer is inferred and says so beside it. Sources:
tests/fixtures/platforms/README.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Self

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def fixture(platform: str, name: str) -> bytes:
    """The raw bytes of tests/fixtures/platforms/<platform>/<name>: what a platform would post."""
    return (FIXTURES / platform / name).read_bytes()


def fixture_json(platform: str, name: str) -> Any:
    return json.loads(fixture(platform, name))


# ---------------------------------------------------------------------------------------------
# Webhook signing, as each platform signs: an HMAC-SHA256 of the raw body with the shared secret.


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def shopify_headers(
    body: bytes,
    secret: str,
    topic: str,
    shop_domain: str,
    webhook_id: str | None = None,
    *,
    event_id: str | None = None,
    triggered_at: str | None = None,
    api_version: str = "2025-01",
) -> dict[str, str]:
    """Shopify's headers: X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body keyed
    with the app's client secret. X-Shopify-Webhook-Id is the same on a retry of one delivery;
    X-Shopify-Event-Id is the same for every delivery of one event (to any subscription)."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(_mac(secret, body)).decode(),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": triggered_at
        or _now().isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def woocommerce_headers(
    body: bytes,
    secret: str,
    topic: str = "order.updated",
    delivery_id: str | None = None,
    webhook_id: int | str = 7,
    source: str = "https://loja.exemplo.com.br/",
) -> dict[str, str]:
    """WooCommerce's headers (WC_Webhook::deliver): X-WC-Webhook-Signature is the base64
    HMAC-SHA256 of the raw body keyed with the webhook's secret; Resource and Event are the two
    halves of the topic; Source is the site's home URL with its trailing slash."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.6.2 Hookshot (WordPress/6.7.2)",
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": base64.b64encode(_mac(secret, body)).decode(),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery_id or secrets.token_hex(16),
    }


def nuvemshop_headers(body: bytes, secret: str) -> dict[str, str]:
    """Nuvemshop/Tiendanube's header: X-Linkedstore-HMAC-SHA256 is the hex HMAC-SHA256 of the raw
    body keyed with the app's secret (the docs' PHP: hash_hmac('sha256', $data, APP_SECRET))."""
    return {"Content-Type": "application/json", "x-linkedstore-hmac-sha256": _mac(secret, body).hex()}


# ---------------------------------------------------------------------------------------------
# What the fakes share: the server, the record of requests, the script of answers.


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any = None  # the parsed body, None when it was not JSON


@dataclass
class Scripted:
    """An answer given instead of the fake's own, to the next request."""

    status: int
    body: Any = None  # a dict/list (sent as JSON), a str, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


def _respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(
        body, status=status, headers=headers, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


class _FakePlatform:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.script.append(Scripted(status, body, dict(headers or {})))

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        recorded = Recorded(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            parsed,
        )
        self.requests.append(recorded)
        if self.script:
            answer = self.script.pop(0)
            return _respond(answer.status, answer.body, answer.headers)
        return await self._route(request, recorded)

    async def _route(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        raise NotImplementedError


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# Shopify: the Admin GraphQL API.

SHOPIFY_GRAPHQL = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")
SHOPIFY_BAD_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
# The code discount ids Shopify hands out look like gid://shopify/DiscountCodeNode/1057371200.
_SHOPIFY_FIRST_ID = 1057371200


class FakeShopify(_FakePlatform):
    """POST /admin/api/<version>/graphql.json with X-Shopify-Access-Token; answers the root fields
    discountCodeBasicCreate, discountCodeDelete and product (from `.products`, keyed by gid)."""

    def __init__(
        self,
        access_token: str = "shpat_fake_0123456789abcdef",
        shop_domain: str = "loja-retorno.myshopify.com",
    ):
        super().__init__()
        self.access_token = access_token
        self.shop_domain = shop_domain
        self.discounts: dict[str, dict[str, Any]] = {}  # node gid -> what was created
        self.products: dict[str, dict[str, Any]] = {}  # gid://shopify/Product/<id> -> {"productType": ...}
        self.customers: dict[str, str] = {}  # e-mail -> gid://shopify/Customer/<id>
        self._next_id = _SHOPIFY_FIRST_ID
        self.available = 1990.0  # the cost bucket reported in extensions.cost

    def discount_for_code(self, code: str) -> dict[str, Any] | None:
        return next((d for d in self.discounts.values() if d["code"].lower() == code.lower()), None)

    def throttle_next(self, requested_cost: int = 10, currently_available: float = 2.0) -> None:
        """Shopify's answer when the cost bucket is empty: HTTP 200, no data, a THROTTLED error.
        (The shape as Shopify sends it, quoted in the Shopify community thread in the README.)"""
        self.fail_next(
            200,
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested_cost,
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": 2000.0,
                            "currentlyAvailable": currently_available,
                            "restoreRate": 100.0,
                        },
                    }
                },
            },
        )

    def _cost(self, cost: int) -> dict[str, Any]:
        self.available = max(self.available - cost, 0.0)
        return {
            "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": cost,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": self.available,
                    "restoreRate": 100.0,
                },
            }
        }

    async def _route(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        if request.method != "POST" or not SHOPIFY_GRAPHQL.match(request.path):
            return _respond(404, {"errors": "Not Found"})
        if rec.headers.get("x-shopify-access-token") != self.access_token:
            return _respond(401, SHOPIFY_BAD_TOKEN)
        payload = rec.json
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            # Inferred: Shopify's answer to a body without a query.
            return _respond(400, {"errors": {"query": "Required parameter missing or invalid"}})
        query: str = payload["query"]
        variables = payload.get("variables") or {}
        if re.search(r"\bdiscountCodeBasicCreate\s*\(", query):
            return self._create(variables)
        if re.search(r"\bdiscountCodeDelete\s*\(", query):
            return self._delete(variables)
        if re.search(r"\bcustomers\s*\(", query):  # customers(first:, query: "email:...")
            wanted = str(variables.get("query", "")).removeprefix("email:").strip().lower()
            found = self.customers.get(wanted)
            nodes = [{"id": found}] if found else []
            return _respond(200, {"data": {"customers": {"nodes": nodes}}, "extensions": self._cost(2)})
        if re.search(r"\bproduct\s*\(", query):
            found = self.products.get(str(variables.get("id")))
            return _respond(200, {"data": {"product": found}, "extensions": self._cost(2)})
        # Inferred wording, Shopify's shape: a GraphQL error for a field it does not know.
        return _respond(
            200, {"errors": [{"message": "FakeShopify does not answer this query", "locations": []}]}
        )

    @staticmethod
    def _missing_variable(name: str, type_name: str) -> web.Response:
        # GraphQL's answer to a required variable left out (graphql-ruby's wording, as Shopify sends it).
        return _respond(
            200,
            {
                "errors": [
                    {
                        "message": f"Variable ${name} of type {type_name}! was provided invalid value",
                        "locations": [{"line": 1, "column": 10}],
                        "extensions": {
                            "value": None,
                            "problems": [{"path": [], "explanation": "Expected value to not be null"}],
                        },
                    }
                ]
            },
        )

    def _create(self, variables: dict[str, Any]) -> web.Response:
        given = variables.get("basicCodeDiscount")
        if not isinstance(given, dict):
            return self._missing_variable("basicCodeDiscount", "DiscountCodeBasicInput")
        errors = self._validate(given)
        if errors:
            return _respond(
                200,
                {
                    "data": {"discountCodeBasicCreate": {"codeDiscountNode": None, "userErrors": errors}},
                    "extensions": self._cost(10),
                },
            )
        gid = f"gid://shopify/DiscountCodeNode/{self._next_id}"
        self._next_id += 1
        value = given["customerGets"]["value"]
        amount = value.get("discountAmount") or {}
        starts, ends = _iso(given["startsAt"]), _iso(given.get("endsAt"))
        now = _now()
        status = "SCHEDULED" if starts and starts > now else "EXPIRED" if ends and ends <= now else "ACTIVE"
        stored = {
            "id": gid,
            "title": given["title"],
            "code": given["code"],
            "amount": str(_decimal(amount["amount"])) if amount else None,
            "appliesOnEachItem": bool(amount.get("appliesOnEachItem", False)) if amount else None,
            "percentage": value.get("percentage"),
            "items": given["customerGets"].get("items"),
            "startsAt": given["startsAt"],
            "endsAt": given.get("endsAt"),
            "usageLimit": given.get("usageLimit"),
            "customerSelection": given.get("customerSelection"),
            "context": given.get("context"),
            "appliesOncePerCustomer": bool(given.get("appliesOncePerCustomer", False)),
            "combinesWith": given.get("combinesWith"),
            "minimumRequirement": given.get("minimumRequirement"),
            "status": status,
            "createdAt": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        self.discounts[gid] = stored
        return _respond(
            200,
            {
                "data": {
                    "discountCodeBasicCreate": {
                        "codeDiscountNode": {"id": gid, "codeDiscount": self._code_discount(stored)},
                        "userErrors": [],
                    }
                },
                "extensions": self._cost(10),
            },
        )

    @staticmethod
    def _code_discount(d: dict[str, Any]) -> dict[str, Any]:
        """The DiscountCodeBasic object. Shopify answers only the fields the query selected; this
        fake answers this superset whatever was selected (read only what you asked for)."""
        if d["amount"] is not None:
            value: dict[str, Any] = {
                "__typename": "DiscountAmount",
                "amount": {"amount": d["amount"], "currencyCode": "BRL"},
                "appliesOnEachItem": d["appliesOnEachItem"],
            }
        else:
            value = {"__typename": "DiscountPercentage", "percentage": d["percentage"]}
        everyone = (d.get("customerSelection") or {}).get("all") or (d.get("context") or {}).get(
            "all"
        ) == "ALL"
        return {
            "__typename": "DiscountCodeBasic",
            "title": d["title"],
            "status": d["status"],
            "startsAt": d["startsAt"],
            "endsAt": d["endsAt"],
            "usageLimit": d["usageLimit"],
            "appliesOncePerCustomer": d["appliesOncePerCustomer"],
            "asyncUsageCount": 0,
            "createdAt": d["createdAt"],
            "codes": {"nodes": [{"code": d["code"]}]},
            "customerGets": {"value": value, "items": {"__typename": "AllDiscountItems", "allItems": True}},
            "customerSelection": {"__typename": "DiscountCustomerAll", "allCustomers": True}
            if everyone
            else None,
        }

    def _validate(self, given: dict[str, Any]) -> list[dict[str, Any]]:
        """DiscountUserErrors as Shopify words them where known (TAKEN is Shopify's own message);
        the others are inferred: field path, code and a message of Shopify's style."""

        def error(path: list[str], code: str, message: str) -> dict[str, Any]:
            return {
                "field": ["basicCodeDiscount", *path],
                "code": code,
                "message": message,
                "extraInfo": None,
            }

        errors = []
        code = given.get("code")
        if not isinstance(code, str) or not code.strip():
            errors.append(error(["code"], "BLANK", "Code can't be blank"))
        elif len(code) > 255:
            errors.append(error(["code"], "TOO_LONG", "Code is too long (maximum is 255 characters)"))
        elif self.discount_for_code(code):
            errors.append(error(["code"], "TAKEN", "Code must be unique. Please try a different code."))
        if not isinstance(given.get("title"), str) or not given["title"].strip():
            errors.append(error(["title"], "BLANK", "Title can't be blank"))
        starts = _iso(given.get("startsAt"))
        if starts is None:
            errors.append(error(["startsAt"], "BLANK", "Starts at can't be blank"))
        if given.get("endsAt") is not None:
            ends = _iso(given["endsAt"])
            if ends is None or (starts is not None and ends <= starts):
                errors.append(error(["endsAt"], "INVALID", "Ends at needs to be after starts_at"))
        if given.get("customerSelection") is None and given.get("context") is None:
            errors.append(error(["context"], "BLANK", "Context can't be blank"))
        limit = given.get("usageLimit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            errors.append(error(["usageLimit"], "GREATER_THAN", "Usage limit must be greater than 0"))
        gets = given.get("customerGets")
        gets = gets if isinstance(gets, dict) else {}
        value = gets.get("value")
        if not isinstance(value, dict) or not isinstance(gets.get("items"), dict):
            errors.append(error(["customerGets"], "INVALID", "Customer gets is invalid"))
        elif "discountAmount" in value:
            amount = _decimal((value["discountAmount"] or {}).get("amount"))
            if amount is None or amount <= 0:
                errors.append(
                    error(
                        ["customerGets", "value", "discountAmount", "amount"],
                        "GREATER_THAN",
                        "Value must be greater than 0",
                    )
                )
        elif "percentage" in value:
            percentage = _decimal(value["percentage"])
            if percentage is None or not 0 < percentage <= 1:
                errors.append(
                    error(
                        ["customerGets", "value", "percentage"],
                        "VALUE_OUTSIDE_RANGE",
                        "Value must be between 0.0 and 1.0",
                    )
                )
        else:
            errors.append(error(["customerGets", "value"], "INVALID", "Value is invalid"))
        return errors

    def _delete(self, variables: dict[str, Any]) -> web.Response:
        gid = variables.get("id")
        if not isinstance(gid, str):
            return self._missing_variable("id", "ID")
        payload: dict[str, Any]
        if self.discounts.pop(gid, None) is None:
            # Inferred wording: the userError for an id that names no code discount.
            payload = {
                "deletedCodeDiscountId": None,
                "userErrors": [
                    {
                        "field": ["id"],
                        "code": "INVALID",
                        "message": "Discount does not exist",
                        "extraInfo": None,
                    }
                ],
            }
        else:
            payload = {"deletedCodeDiscountId": gid, "userErrors": []}
        return _respond(200, {"data": {"discountCodeDelete": payload}, "extensions": self._cost(10)})


# ---------------------------------------------------------------------------------------------
# WooCommerce: the REST API v3 (wp-json/wc/v3), HTTP Basic consumer_key:consumer_secret.

WOO_BASE = "/wp-json/wc/v3"
WOO_DISCOUNT_TYPES = ("percent", "fixed_cart", "fixed_product")


def _woo_error(code: str, message: str, status: int, **data: Any) -> web.Response:
    return _respond(status, {"code": code, "message": message, "data": {"status": status, **data}})


class FakeWooCommerce(_FakePlatform):
    """POST /wp-json/wc/v3/coupons, GET /coupons (?code=), GET/DELETE /coupons/<id> (?force=true
    deletes; without it the coupon goes to the trash), GET /orders/<id> and /products/<id> from
    `.orders` and `.products`. The site's timezone is taken as UTC (date_* equal date_*_gmt)."""

    def __init__(self, consumer_key: str = "ck_" + "a1" * 20, consumer_secret: str = "cs_" + "b2" * 20):
        super().__init__()
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.coupons: dict[int, dict[str, Any]] = {}  # id -> the coupon as Woo answers it
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self._next_id = 1873

    def coupon_for_code(self, code: str) -> dict[str, Any] | None:
        code = code.lower()
        return next((c for c in self.coupons.values() if c["code"] == code and c["status"] != "trash"), None)

    def _auth(self, rec: Recorded) -> str | None:
        """None when the key and secret are right; else the error WC_REST_Authentication leaves.
        An unknown key leaves none (the request goes on as nobody and the permission check
        refuses it); a known key with a wrong secret is woocommerce_rest_authentication_error."""
        header = rec.headers.get("authorization", "")
        key = secret = None
        if header.startswith("Basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                key = secret = None
        else:  # Woo also takes them as query parameters over HTTPS
            key, secret = rec.query.get("consumer_key"), rec.query.get("consumer_secret")
        if key != self.consumer_key:
            return "nobody"
        if not hmac.compare_digest(secret or "", self.consumer_secret):
            return "bad_secret"
        return None

    async def _route(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if not path.startswith(WOO_BASE):
            return _woo_error("rest_no_route", "No route was found matching the URL and request method.", 404)
        rest = path[len(WOO_BASE) :]
        method = request.method
        refused = {
            "POST": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
            "DELETE": (
                "woocommerce_rest_cannot_delete",
                "Sorry, you are not allowed to delete this resource.",
            ),
        }.get(method, ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."))
        if rest in ("/coupons", "/orders", "/products") and method == "GET":
            refused = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        problem = self._auth(rec)
        if problem == "bad_secret":
            return _woo_error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
        if problem:
            return _woo_error(*refused, 401)
        if rest == "/coupons" and method == "POST":
            return self._create(rec.json)
        if rest == "/coupons" and method == "GET":
            found = [c for c in self.coupons.values() if c["status"] != "trash"]
            if "code" in rec.query:
                found = [c for c in found if c["code"] == rec.query["code"].lower()]
            return _respond(200, found, {"X-WP-Total": str(len(found)), "X-WP-TotalPages": "1"})
        match = re.fullmatch(r"/(coupons|orders|products)/(\d+)", rest)
        if not match:
            return _woo_error("rest_no_route", "No route was found matching the URL and request method.", 404)
        kind, ident = match.group(1), int(match.group(2))
        store = {"coupons": self.coupons, "orders": self.orders, "products": self.products}[kind]
        post_type = {"coupons": "shop_coupon", "orders": "shop_order", "products": "product"}[kind]
        item = store.get(ident)
        if item is None:
            return _woo_error(f"woocommerce_rest_{post_type}_invalid_id", "Invalid ID.", 404)
        if method == "GET":
            return _respond(200, item)
        if method == "DELETE" and kind == "coupons":
            if rec.query.get("force") in ("true", "1"):
                del store[ident]
                return _respond(200, item)
            if item["status"] == "trash":
                return _woo_error(
                    "woocommerce_rest_already_trashed", "The coupon has already been deleted.", 410
                )
            item["status"] = "trash"
            return _respond(200, item)
        return _woo_error("rest_no_route", "No route was found matching the URL and request method.", 404)

    def _create(self, given: Any) -> web.Response:
        if not isinstance(given, dict) or not given.get("code"):
            return _woo_error(
                "rest_missing_callback_param", "Missing parameter(s): code", 400, params=["code"]
            )
        if "discount_type" in given and given["discount_type"] not in WOO_DISCOUNT_TYPES:
            reason = "discount_type is not one of percent, fixed_cart, and fixed_product."
            return _woo_error(
                "rest_invalid_param",
                "Invalid parameter(s): discount_type",
                400,
                params={"discount_type": reason},
            )
        # The woocommerce_coupon_code filters (html_entity_decode, wc_sanitize_coupon_code, wc_strtolower):
        # Woo keeps and answers codes lower-cased, and finds them so.
        code = str(given["code"]).strip().lower()
        if self.coupon_for_code(code):
            return _woo_error(
                "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists", 400
            )
        amount = _decimal(given.get("amount", "0")) or Decimal(0)
        expires = given.get("date_expires")
        moment = _iso(expires) if expires else None
        if expires and moment is None:
            return _woo_error(
                "rest_invalid_param",
                "Invalid parameter(s): date_expires",
                400,
                params={"date_expires": "Invalid date."},
            )
        now = _now().strftime("%Y-%m-%dT%H:%M:%S")
        when = moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else None
        ident = self._next_id
        self._next_id += 1
        coupon = {
            "id": ident,
            "code": code,
            "amount": f"{amount:.2f}",
            "status": given.get("status", "publish"),
            "date_created": now,
            "date_created_gmt": now,
            "date_modified": now,
            "date_modified_gmt": now,
            "discount_type": given.get("discount_type", "fixed_cart"),
            "description": given.get("description", ""),
            "date_expires": when,
            "date_expires_gmt": when,
            "usage_count": 0,
            "individual_use": bool(given.get("individual_use", False)),
            "product_ids": list(given.get("product_ids", [])),
            "excluded_product_ids": list(given.get("excluded_product_ids", [])),
            "usage_limit": given.get("usage_limit"),
            "usage_limit_per_user": given.get("usage_limit_per_user"),
            "limit_usage_to_x_items": given.get("limit_usage_to_x_items"),
            "free_shipping": bool(given.get("free_shipping", False)),
            "product_categories": list(given.get("product_categories", [])),
            "excluded_product_categories": list(given.get("excluded_product_categories", [])),
            "exclude_sale_items": bool(given.get("exclude_sale_items", False)),
            "minimum_amount": f"{_decimal(given.get('minimum_amount', '0')) or 0:.2f}",
            "maximum_amount": f"{_decimal(given.get('maximum_amount', '0')) or 0:.2f}",
            "email_restrictions": list(given.get("email_restrictions", [])),
            "used_by": [],
            "meta_data": [
                {"id": ident * 10 + i, "key": m["key"], "value": m["value"]}
                for i, m in enumerate(given.get("meta_data", []))
            ],
            "_links": {
                "self": [{"href": f"{self.origin}{WOO_BASE}/coupons/{ident}"}],
                "collection": [{"href": f"{self.origin}{WOO_BASE}/coupons"}],
            },
        }
        self.coupons[ident] = coupon
        return _respond(201, coupon, {"Location": f"{self.origin}{WOO_BASE}/coupons/{ident}"})


# ---------------------------------------------------------------------------------------------
# Nuvemshop / Tiendanube: the REST API, https://api.nuvemshop.com.br/{version}/{store_id}/...

NUVEMSHOP_ORDER = re.compile(
    r"^/(?P<version>v1|\d{4}-\d{2})/(?P<store>\d+)/orders/(?P<order>\d+)(?P<history>/history/values)?/?$"
)
# Inferred (the docs show no error bodies): the {"code","message","description"} shape.
NUVEMSHOP_UNAUTHORIZED = {"code": 401, "message": "Unauthorized", "description": "Invalid access token"}
NUVEMSHOP_NOT_FOUND = {
    "code": 404,
    "message": "Not Found",
    "description": "Order with such id does not exist",
}
NUVEMSHOP_NO_USER_AGENT = {
    "code": 400,
    "message": "Bad Request",
    "description": "A User-Agent header with your app's name and a contact is required",
}
NUVEMSHOP_TOO_MANY = {"code": 429, "message": "Too Many Requests", "description": "Rate limit exceeded"}
# "User-Agent: MyApp (name@email.com)" or "Super app (http://superapp.com/contact)", as the docs ask.
NUVEMSHOP_USER_AGENT = re.compile(r"\S.*\((?:[^()\s]+@[^()\s]+|https?://[^()\s]+)\)")


class FakeNuvemshop(_FakePlatform):
    """GET /v1/<store_id>/orders/<id> (or /2025-03/<store_id>/orders/<id>) and its
    /history/values, with `Authentication: bearer <token>` and a User-Agent naming the app and a
    contact, as the docs ask. Orders come from `.orders[store_id][order_id]`."""

    LIMIT = 40  # the bucket reported in X-Rate-Limit-* (inferred size)

    def __init__(self, access_token: str = "nuvem_fake_token_0123456789", *, strict_user_agent: bool = True):
        super().__init__()
        self.access_token = access_token
        self.strict_user_agent = strict_user_agent  # refuse a library's default User-Agent too
        self.also_authorization_bearer = True  # one page of the docs shows `Authorization: Bearer`
        self.orders: dict[int, dict[int, dict[str, Any]]] = {}
        self.history: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self.remaining = self.LIMIT

    def add_order(self, store_id: int, order: dict[str, Any]) -> None:
        self.orders.setdefault(store_id, {})[int(order["id"])] = order

    def rate_limit_next(self, reset: int = 2) -> None:
        self.fail_next(429, NUVEMSHOP_TOO_MANY, self._limits(0, reset))

    def _limits(self, remaining: int, reset: int = 0) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.LIMIT),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset),
        }

    def _token(self, rec: Recorded) -> str | None:
        given = rec.headers.get("authentication", "")
        if not given and self.also_authorization_bearer:
            given = rec.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    async def _route(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        agent = rec.headers.get("user-agent", "")
        if not agent or (self.strict_user_agent and not NUVEMSHOP_USER_AGENT.fullmatch(agent)):
            return _respond(400, NUVEMSHOP_NO_USER_AGENT)
        token = self._token(rec)
        if token is None or not hmac.compare_digest(token, self.access_token):
            return _respond(401, NUVEMSHOP_UNAUTHORIZED)
        self.remaining = max(self.remaining - 1, 1)
        limits = self._limits(self.remaining)
        match = NUVEMSHOP_ORDER.match(request.path)
        if request.method != "GET" or not match:
            return _respond(404, {"code": 404, "message": "Not Found", "description": "Not Found"}, limits)
        store, order = int(match.group("store")), int(match.group("order"))
        found = self.orders.get(store, {}).get(order)
        if found is None:
            return _respond(404, NUVEMSHOP_NOT_FOUND, limits)
        if match.group("history"):
            return _respond(200, self.history.get(store, {}).get(order, []), limits)
        return _respond(200, found, limits)
