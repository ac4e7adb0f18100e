"""The shopper's push notifications: the brand's public key, this device's subscription, the
per-category switches and the list of devices at /account/notifications."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from retorno.portal.routes import page_context, private_router
from retorno.push import keys as push_keys
from retorno.push import service as push
from retorno.signin.guards import requires_customer, signed_in_customer
from retorno.web import RowId, brand_required, decode_body, json_response, now_of


@get("/push/key")
async def public_key(request: Request) -> Response[bytes]:
    """The brand's VAPID public key (applicationServerKey); the private key never leaves the server."""
    return json_response({"key": await push_keys.public_key(brand_required(request).id)})


@post("/push/subscriptions", guards=[requires_customer], status_code=201)
async def subscribe(request: Request) -> Response[bytes]:
    data = await decode_body(request, push.SubscriptionIn)
    customer_id = await signed_in_customer(request)
    await push.subscribe(
        brand_id=brand_required(request).id, customer_id=customer_id, data=data, now=now_of(request)
    )
    return json_response({"subscribed": True}, 201)


class RenewIn(msgspec.Struct, kw_only=True):
    old_endpoint: str
    subscription: push.SubscriptionIn


@post("/push/renew", status_code=200)
async def renew(request: Request) -> Response[bytes]:
    """From the service worker's pushsubscriptionchange: no session nor CSRF token there; knowing
    the old endpoint (an unguessable URL) is what allows the swap."""
    data = await decode_body(request, RenewIn)
    await push.renew(
        brand_id=brand_required(request).id,
        old_endpoint=data.old_endpoint,
        data=data.subscription,
        now=now_of(request),
    )
    return json_response({"renewed": True})


@get("/account/notifications", guards=[requires_customer])
async def notifications_page(request: Request) -> Template:
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    return Template(
        "portal/notifications.html",
        context=page_context(
            request,
            categories=push.CATEGORIES,
            chosen=await push.categories_of(brand.id, customer_id),
            devices=await push.devices_of(brand.id, customer_id),
            saved=request.query_params.get("saved") == "1",
        ),
    )


@post("/account/notifications", guards=[requires_customer], status_code=303)
async def save_notifications(request: Request) -> Redirect:
    form = await request.form()
    chosen = [c for c in push.CATEGORIES if form.get(c) == "on"]
    customer_id = await signed_in_customer(request)
    await push.set_categories(
        brand_id=brand_required(request).id, customer_id=customer_id, categories=chosen, now=now_of(request)
    )
    return Redirect("/account/notifications?saved=1", status_code=303)


@post(
    "/account/notifications/devices/{subscription_id:int}/remove", guards=[requires_customer], status_code=303
)
async def remove_device(request: Request, subscription_id: RowId) -> Redirect:
    customer_id = await signed_in_customer(request)
    await push.remove_device(
        brand_id=brand_required(request).id, customer_id=customer_id, subscription_id=subscription_id
    )
    return Redirect("/account/notifications", status_code=303)


router = private_router(public_key, subscribe, renew, notifications_page, save_notifications, remove_device)
