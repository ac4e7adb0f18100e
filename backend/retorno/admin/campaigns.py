"""Push campaigns (manager and up): compose, preview as the phone shows it, audience, send, counts."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import Invalid
from retorno.push import service as push
from retorno.web import error_text, now_of


async def _campaigns_context(request: Request, **extra: Any) -> dict[str, Any]:

    brand_id = admin_of(request)["brand"].id
    return page_context(
        request,
        audience=await push.campaign_audience(brand_id),
        sent=await push.campaigns_sent(brand_id),
        **extra,
    )


@get("/campaigns", guards=[requires_role("manager")])
async def campaigns_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/campaigns.html", context=await _campaigns_context(request))


class CampaignForm(msgspec.Struct):
    title: str
    body: str = ""
    url: str = "/"
    action: str = "preview"  # preview | send


@post("/campaigns", guards=[requires_role("manager")], status_code=200)
async def send_campaign(
    request: Request, slug: FromPath[str], data: URLEncodedBody[CampaignForm]
) -> Template | Redirect:
    """Preview a notification as the phone shows it, or send it to everyone who opted in: "send"
    asks for a confirmation showing how many devices will receive it, "confirm" sends."""

    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    form = {"title": data.title.strip(), "body": data.body.strip(), "url": data.url.strip() or "/"}
    if data.action not in ("send", "confirm"):
        return Template("admin/campaigns.html", context=await _campaigns_context(request, preview=form))
    if await push.campaign_audience(brand.id) == 0:  # nobody would receive it: say so, send nothing
        context = await _campaigns_context(request, preview=form, error="no_audience")
        return Template("admin/campaigns.html", status_code=422, context=context)
    try:
        if data.action == "send":  # first a confirmation, with how many devices will receive it
            push.check_campaign(**form)
            context = await _campaigns_context(request, preview=form, confirm=True)
            return Template("admin/campaigns.html", context=context)
        await audited(
            request,
            lambda: push.queue_campaign(brand_id=brand.id, now=now, **form),
            "campaign.send",
            after=form,
        )
    except Invalid as exc:
        context = await _campaigns_context(request, preview=form, error=error_text(request, exc))
        return Template("admin/campaigns.html", status_code=422, context=context)
    return Redirect(f"/admin/b/{slug}/campaigns?sent=1", status_code=303)


routes = [campaigns_page, send_campaign]
