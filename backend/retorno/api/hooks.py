"""The store platforms' webhooks: POST /api/hooks/<platform>/<brand> on the platform's host.

The signature is checked on the raw body before anything else; a request that is unsigned, wrongly
signed, for an unknown brand or a platform the brand has not connected is a 401 and writes
nothing. A signed one is recorded (what became of it, in words, for the admin) and answered 200,
also when it was ignored: the platform must not send it again. A 503 asks for a retry: the
platform's API (Nuvemshop's order) did not answer.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from retorno.brands import service as brands
from retorno.errors import NotFound, Unauthorized
from retorno.messages import service as messages
from retorno.messages import settings as message_settings
from retorno.messages import whatsapp
from retorno.sales import storefront
from retorno.sales.storefront import Applied
from retorno.stores import clients, platforms
from retorno.stores import service as stores
from retorno.stores.clients import Api, PlatformError
from retorno.stores.service import ConnectionView
from retorno.web import now_of, requires_platform_host, settings_of

MAX_BODY = 1_000_000
# WooCommerce's ping when a webhook is saved: `webhook_id=<n>`, form-encoded and unsigned.
_WOO_PING = re.compile(rb"webhook_id=\d{1,20}")


def _answer(applied: Applied, status: int = 200) -> Response[Any]:
    return Response({"outcome": applied.outcome, "reason": applied.reason}, status_code=status)


async def _connection(platform: str, slug: str) -> tuple[brands.BrandView, ConnectionView] | None:
    """The brand and its connection to `platform`, if both exist."""
    if platform not in platforms.PLATFORMS:
        return None
    try:
        brand = await brands.get_brand(slug)
    except NotFound:
        return None
    connection = await stores.connection(brand.id, platform)
    return (brand, connection) if connection else None


@post("/{platform:str}/{slug:str}", status_code=200)
async def receive(
    request: Request[Any, Any, Any], platform: FromPath[str], slug: FromPath[str]
) -> Response[Any]:
    body = await request.body()
    found = await _connection(platform, slug)
    secret = (await stores.secrets(found[1].id))[0] if found else ""
    signature = request.headers.get(platforms.SIGNATURE_HEADERS.get(platform, "x-none"), "")
    if found is None or not platforms.signed(platform, secret, body, signature):
        ping = platform == "woocommerce" and not signature and _WOO_PING.fullmatch(body)
        if found is not None and ping:
            return Response({"outcome": "ping"}, status_code=200)  # nothing written
        raise Unauthorized("the webhook's signature does not match a connected store")
    brand, connection = found
    now = now_of(request)
    headers = request.headers
    delivery_id = headers.get(platforms.DELIVERY_HEADERS.get(platform, "x-none"), "")
    topic = headers.get(platforms.TOPIC_HEADERS.get(platform, "x-none"), "")
    order_id, status = "", 200
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        payload = None
    if platform == "nuvemshop" and isinstance(payload, dict):
        topic = str(payload.get("event", ""))[:60]
    if isinstance(payload, dict):
        order_id = str(payload.get("order_id" if topic == "refunds/create" else "id", ""))[:100]
    if not connection.enabled:
        applied = Applied(outcome="ignored", reason="disabled")
    elif await stores.seen(connection.id, delivery_id):
        applied = Applied(outcome="duplicate", reason="unchanged")
    elif not isinstance(payload, dict):
        applied = Applied(outcome="ignored", reason="not_an_order")
    else:
        try:
            applied = await _dispatch(request, brand, connection, topic, payload, now)
        except platforms.NotAnOrder as exc:
            applied = Applied(outcome="ignored", reason=exc.reason)
        except PlatformError as exc:
            reason = "platform_unreachable" if exc.kind == "unreachable" else "platform_refused"
            applied, status = Applied(outcome="failed", reason=reason, detail=exc.detail), 503
    await stores.record(
        brand_id=brand.id,
        connection_id=connection.id,
        topic=topic,
        delivery_id=delivery_id,
        order_id=order_id,
        outcome=applied.outcome,
        reason=applied.reason,
        detail=applied.detail,
        now=now,
    )
    return _answer(applied, status)


async def _dispatch(
    request: Request[Any, Any, Any],
    brand: brands.BrandView,
    connection: ConnectionView,
    topic: str,
    payload: dict[str, Any],
    now: Any,
) -> Applied:
    if connection.platform == "shopify":
        if request.headers.get("x-shopify-shop-domain", connection.shop).lower() != connection.shop:
            return Applied(outcome="ignored", reason="other_shop")
        if topic == "refunds/create":
            order_id, refund = platforms.shopify_refund(payload)
            return await storefront.apply_refund(
                brand=brand, connection=connection, order_id=order_id, refund=refund, now=now
            )
        if not topic.startswith("orders/"):
            return Applied(outcome="ignored", reason="topic")
        order = platforms.shopify_order(payload)
    elif connection.platform == "woocommerce":
        if topic not in ("order.created", "order.updated", "order.restored"):
            return Applied(outcome="ignored", reason="topic")
        order = platforms.woocommerce_order(payload)
    else:
        if not topic.startswith("order/"):
            return Applied(outcome="ignored", reason="topic")
        if str(payload.get("store_id", "")) != connection.shop:
            return Applied(outcome="ignored", reason="other_shop")
        _, token = await stores.secrets(connection.id)
        if not token:
            raise PlatformError("refused", "no access token")
        resource = await clients.nuvemshop_order(
            Api.of(settings_of(request)),
            store_id=connection.shop,
            token=token,
            order_id=str(payload.get("id")),
        )
        if resource is None:
            return Applied(outcome="ignored", reason="not_an_order")
        order = platforms.nuvemshop_order(resource)
    api = Api.of(settings_of(request))
    return await storefront.apply_order(brand=brand, connection=connection, order=order, now=now, api=api)


# --- WhatsApp's status callbacks: GET /api/hooks/whatsapp/<brand> (Meta's verification), POST (signed)


async def _whatsapp_brand(slug: str) -> brands.BrandView | None:
    try:
        return await brands.get_brand(slug)
    except NotFound:
        return None


@get("/whatsapp/{slug:str}", media_type="text/plain")
async def whatsapp_verify(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[str]:
    """Meta's handshake when the callback URL is saved: the challenge echoed when the verify
    token is the one the brand's settings page shows; 403 otherwise."""
    brand = await _whatsapp_brand(slug)
    token = (await message_settings.settings_of(brand.id)).whatsapp_verify_token if brand else ""
    challenge = whatsapp.verify_challenge(dict(request.query_params), token) if token else None
    if challenge is None:
        return Response("", status_code=403, media_type="text/plain")
    return Response(challenge, status_code=200, media_type="text/plain")


@post("/whatsapp/{slug:str}", status_code=200)
async def whatsapp_statuses(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
    """Delivery statuses (sent, delivered, read, failed), checked by X-Hub-Signature-256 with the
    brand's app secret on the raw body; unsigned or wrongly signed: 401, nothing written."""
    body = await request.body()
    brand = await _whatsapp_brand(slug)
    credentials = await message_settings.credentials(brand.id) if brand else None
    signature = request.headers.get("x-hub-signature-256")
    if brand is None or credentials is None or not credentials.app_secret:
        raise Unauthorized("the callback's signature does not match a brand's WhatsApp account")
    if not whatsapp.signature_ok(body, signature, credentials.app_secret):
        raise Unauthorized("the callback's signature does not match a brand's WhatsApp account")
    try:
        found = whatsapp.statuses_of(body)
        replies = whatsapp.replies_of(body)
    except ValueError:
        return Response({"updated": 0}, status_code=200)  # signed but not a notification: nothing to do
    changes = [
        messages.StatusChange(
            provider_id=s.wamid,
            status=s.status,
            at=s.at,
            detail=f"{s.error_code} {s.error_title}".strip() if s.error_code else "",
        )
        for s in found
    ]
    now = now_of(request)
    applied = await messages.statuses(brand_id=brand.id, changes=changes, now=now)
    opted_out = 0
    for reply in replies:  # "SAIR": the shopper stops WhatsApp messages by answering one
        if messages.is_stop(reply.text):
            opted_out += await messages.opt_out_by_reply(brand_id=brand.id, phone="+" + reply.sender, now=now)
    if applied.waiting:  # a status of a send still being recorded: Meta sends it again later
        return Response({"updated": applied.updated, "waiting": applied.waiting}, status_code=503)
    return Response({"updated": applied.updated, "opted_out": opted_out}, status_code=200)


router = Router(
    path="/api/hooks",
    guards=[requires_platform_host],
    include_in_schema=False,
    request_max_body_size=MAX_BODY,
    route_handlers=[whatsapp_verify, whatsapp_statuses, receive],
)
