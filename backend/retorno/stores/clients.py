"""Calls to the platforms' admin APIs: Nuvemshop's order (its webhook carries only the id), and the
single-use discount codes of Shopify (GraphQL Admin API) and WooCommerce (REST API v3).

Every call goes through `retorno.outbound` (no private network unless allowed), times out in
10 s, and fails as `PlatformError`: `unreachable` (no answer, 5xx, 429: try again later) or
`refused` (the platform said no: a bad token, a refused code)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from retorno.outbound import CheckedResolver, Options, refusal_of_host

SHOPIFY_VERSION = "2025-01"
TIMEOUT = 10.0


class PlatformError(Exception):
    def __init__(self, kind: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.status = kind, detail[:300], status


class Api(msgspec.Struct, frozen=True, kw_only=True):
    """Where the platforms' APIs are (settings; a test's fakes) and what may be reached."""

    options: Options
    shopify_url: str = ""  # empty: https://<shop>
    nuvemshop_url: str = "https://api.nuvemshop.com.br"
    user_agent: str = "Retorno (https://localhost)"  # Nuvemshop wants a contact in it

    @classmethod
    def of(cls, settings: Any) -> Api:
        return cls(
            options=Options.of(settings),
            shopify_url=settings.shopify_api_url,
            nuvemshop_url=settings.nuvemshop_api_url,
            user_agent=f"Retorno (https://{settings.base_host})",
        )


async def _call(
    api: Api, method: str, url: str, *, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    host = urlsplit(url).hostname or ""
    why = refusal_of_host(host, allow_private=api.options.allow_private)
    if why is not None:
        raise PlatformError("refused", f"the platform's address is {why}")
    if api.options.require_https and not url.startswith("https://"):
        raise PlatformError("refused", "https is required")
    try:
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=CheckedResolver(api.options)),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT, connect=3.0),
                headers={"User-Agent": api.user_agent, "Accept": "application/json"},
                trust_env=False,
            ) as session,
            session.request(
                method,
                url,
                headers=headers,
                data=msgspec.json.encode(body) if body is not None else None,
                allow_redirects=False,
            ) as response,
        ):
            raw = await response.content.read(1_000_000)
            status = response.status
    except TimeoutError:
        raise PlatformError("unreachable", "no answer in time") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise PlatformError("unreachable", f"could not connect: {exc}") from None
    try:
        data = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        data = None
    if status == 429 or status >= 500:
        raise PlatformError("unreachable", f"answered {status}", status)
    if status >= 400 and status != 404:
        raise PlatformError("refused", f"answered {status}: {raw[:200].decode('utf-8', 'replace')}", status)
    return status, data


# --- Nuvemshop ----------------------------------------------------------------------------------


async def nuvemshop_order(api: Api, *, store_id: str, token: str, order_id: str) -> dict[str, Any] | None:
    """The order resource (None if Nuvemshop has no such order)."""
    url = f"{api.nuvemshop_url}/v1/{store_id}/orders/{order_id}"
    status, data = await _call(
        api, "GET", url, headers={"Authentication": f"bearer {token}", "Content-Type": "application/json"}
    )
    if status == 404:
        return None
    if not isinstance(data, dict):
        raise PlatformError("unreachable", "the order is not JSON")
    return data


# --- Shopify: GraphQL Admin API -----------------------------------------------------------------

_CUSTOMER = "query customerByEmail($query: String!) { customers(first: 1, query: $query) { nodes { id } } }"
_CREATE = """mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""
_DELETE = """mutation discountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } }
}"""


async def _shopify(api: Api, shop: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    base = api.shopify_url or f"https://{shop}"
    _, data = await _call(
        api,
        "POST",
        f"{base}/admin/api/{SHOPIFY_VERSION}/graphql.json",
        headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
        body={"query": query, "variables": variables},
    )
    if not isinstance(data, dict):
        raise PlatformError("unreachable", "Shopify's answer is not JSON")
    errors = data.get("errors")
    if errors:  # THROTTLED and the like come with 200 and `errors`
        codes = [str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)]
        kind = "unreachable" if "THROTTLED" in codes else "refused"
        raise PlatformError(kind, f"Shopify: {errors if isinstance(errors, str) else codes or errors}")
    result = data.get("data")
    if not isinstance(result, dict):
        raise PlatformError("unreachable", "Shopify's answer has no data")
    return result


def _user_errors(result: dict[str, Any] | None) -> None:
    errors = (result or {}).get("userErrors") or []
    if errors:
        raise PlatformError("refused", "Shopify: " + "; ".join(str(e.get("message")) for e in errors))


def _decimal(amount: int) -> str:
    """Centavos as the platforms write money: 2000 -> "20.00"."""
    return f"{amount // 100}.{amount % 100:02d}"


async def shopify_create_code(
    api: Api,
    *,
    shop: str,
    token: str,
    code: str,
    amount: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    email: str | None,
    title: str,
) -> str:
    """A fixed-amount code for one use, for this shopper when Shopify knows their e-mail; its node id."""
    selection: dict[str, Any] = {"all": True}
    if email:
        found = await _shopify(api, shop, token, _CUSTOMER, {"query": f"email:{email}"})
        nodes = ((found.get("customers") or {}).get("nodes")) or []
        if nodes:
            selection = {"customers": {"add": [nodes[0]["id"]]}}
    result = await _shopify(
        api,
        shop,
        token,
        _CREATE,
        {
            "basicCodeDiscount": {
                "title": title,
                "code": code,
                "startsAt": starts_at.isoformat(),
                "endsAt": ends_at.isoformat(),
                "customerSelection": selection,
                "customerGets": {
                    "value": {"discountAmount": {"amount": _decimal(amount), "appliesOnEachItem": False}},
                    "items": {"all": True},
                },
                "appliesOncePerCustomer": True,
                "usageLimit": 1,
            }
        },
    )
    created = result.get("discountCodeBasicCreate")
    _user_errors(created)
    node = (created or {}).get("codeDiscountNode") or {}
    if not node.get("id"):
        raise PlatformError("unreachable", "Shopify made no discount")
    return str(node["id"])


async def shopify_delete_code(api: Api, *, shop: str, token: str, ref: str) -> None:
    result = await _shopify(api, shop, token, _DELETE, {"id": ref})
    deleted = result.get("discountCodeDelete") or {}
    errors = deleted.get("userErrors") or []
    # Already gone (deleted by hand in Shopify's admin): what we wanted.
    if errors and not any("not exist" in str(e.get("message", "")).lower() for e in errors):
        _user_errors(deleted)


_PRODUCT = "query productType($id: ID!) { product(id: $id) { productType } }"


async def shopify_product_categories(api: Api, *, shop: str, token: str, product_id: str) -> list[str]:
    """The product's type, which Shopify's order lines do not carry (scope read_products)."""
    result = await _shopify(api, shop, token, _PRODUCT, {"id": f"gid://shopify/Product/{product_id}"})
    found = (result.get("product") or {}).get("productType")
    return [str(found)] if found else []


# --- WooCommerce: REST API v3 -------------------------------------------------------------------


def _woo_headers(token: str) -> dict[str, str]:
    key, _, secret = token.partition(":")
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}


async def woocommerce_create_code(
    api: Api,
    *,
    shop: str,
    token: str,
    code: str,
    amount: int,
    ends_at: dt.datetime,
    email: str | None,
    title: str,
) -> str:
    """A fixed-cart coupon for one use (by this e-mail when known); its id."""
    status, data = await _call(
        api,
        "POST",
        f"{shop}/wp-json/wc/v3/coupons",
        headers=_woo_headers(token),
        body={
            "code": code,
            "discount_type": "fixed_cart",
            "amount": _decimal(amount),
            "individual_use": False,
            "usage_limit": 1,
            "usage_limit_per_user": 1,
            "email_restrictions": [email] if email else [],
            "date_expires_gmt": ends_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
            "description": title,
        },
    )
    if status == 404 or not isinstance(data, dict) or "id" not in data:
        raise PlatformError(
            "refused", f"WooCommerce answered {status} without a coupon (is the address right?)"
        )
    return str(data["id"])


async def woocommerce_product_categories(api: Api, *, shop: str, token: str, product_id: str) -> list[str]:
    """The product's categories (slug, or name), which WooCommerce's order lines do not carry."""
    status, data = await _call(
        api, "GET", f"{shop}/wp-json/wc/v3/products/{product_id}", headers=_woo_headers(token)
    )
    if status == 404 or not isinstance(data, dict):
        return []
    return [
        str(c.get("slug") or c.get("name"))
        for c in data.get("categories") or []
        if isinstance(c, dict) and (c.get("slug") or c.get("name"))
    ]


async def woocommerce_delete_code(api: Api, *, shop: str, token: str, ref: str) -> None:
    await _call(api, "DELETE", f"{shop}/wp-json/wc/v3/coupons/{ref}?force=true", headers=_woo_headers(token))
