"""A message's own links on the brand host: the click-through (noted, then on to the app), the
e-mail's open pixel, and unsubscribing - the page a person opens and the one-click POST a mail
client sends (RFC 8058: `List-Unsubscribe=One-Click`, no cookie, no CSRF token)."""

from __future__ import annotations

import base64

from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.errors import NotFound
from retorno.messages import service as messages
from retorno.portal.routes import page_context, requires_brand
from retorno.web import brand_required, now_of

# A transparent 1x1 GIF: what the open pixel answers.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


@get("/m/{token:str}")
async def follow(request: Request, token: FromPath[str]) -> Redirect:
    """The link in a message: noted as clicked, then the page of the app it is about."""
    brand = brand_required(request)
    try:
        url = await messages.clicked(brand_id=brand.id, token=token, now=now_of(request))
    except NotFound:
        url = "/"  # an old or mistyped link still opens the app
    return Redirect(url, status_code=302, headers=NO_STORE)


@get("/m/{token:str}/o.gif")
async def opened(request: Request, token: FromPath[str]) -> Response[bytes]:
    brand = brand_required(request)
    try:
        await messages.opened(brand_id=brand.id, token=token, now=now_of(request))
    except NotFound:
        pass
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@get("/unsubscribe/{token:str}")
async def unsubscribe_page(request: Request, token: FromPath[str]) -> Template:
    brand = brand_required(request)
    try:
        message = await messages.linked(brand_id=brand.id, token=token)
    except NotFound:
        return Template(
            "portal/unsubscribe.html", status_code=404, context=page_context(request, missing=True)
        )
    return Template("portal/unsubscribe.html", context=page_context(request, token=token, message=message))


@post("/unsubscribe/{token:str}", status_code=200)
async def unsubscribe(request: Request, token: FromPath[str]) -> Template | Response[str]:
    """The opt-out, recorded as a consent withdrawn; a mail client's one-click POST gets a short
    answer, a person's form the page saying it is done."""
    brand = brand_required(request)
    body = (await request.body())[:200]
    one_click = b"List-Unsubscribe=One-Click" in body
    try:
        message = await messages.unsubscribe(brand_id=brand.id, token=token, now=now_of(request))
    except NotFound:
        if one_click:
            return Response("", status_code=404, media_type="text/plain")
        return Template(
            "portal/unsubscribe.html", status_code=404, context=page_context(request, missing=True)
        )
    if one_click:
        return Response("", status_code=200, media_type="text/plain")
    return Template("portal/unsubscribe.html", context=page_context(request, message=message, done=True))


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[follow, opened, unsubscribe_page, unsubscribe],
)
