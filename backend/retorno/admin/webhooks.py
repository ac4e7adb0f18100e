"""Webhooks (owner): the brand's endpoints, their signing secrets, recent deliveries, a test
event, resending one delivery and replaying a time range. Every change is audited; the service
(webhooks/service.py) does the work and its checks, the same as through the API."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import Conflict, Field, Invalid
from retorno.outbound import Options
from retorno.web import RowId, error_text, now_of, settings_of
from retorno.webhooks import events as catalogue
from retorno.webhooks import service as webhooks

OWNER = [requires_role("owner")]


def _options(request: Request) -> Options:
    return Options.of(settings_of(request))


async def _list_page(request: Request, status: int = 200, **extra: Any) -> Template:
    brand = admin_of(request)["brand"]
    context = page_context(
        request,
        endpoints=await webhooks.list_endpoints(brand_id=brand.id),
        types=catalogue.TYPES,
        reasons=webhooks.REASONS,
        **extra,
    )
    return Template("admin/webhooks.html", status_code=status, context=context)


@get("/webhooks", guards=OWNER)
async def webhooks_page(request: Request, slug: FromPath[str]) -> Template:
    return await _list_page(request)


@post("/webhooks", guards=OWNER, status_code=200)
async def add_endpoint(request: Request, slug: FromPath[str]) -> Template:
    """A new endpoint; its secret is shown on the page this once."""
    form = await request.form()
    url, description = str(form.get("url", "")).strip(), str(form.get("description", "")).strip()
    events = ["*"] if form.get("all") == "1" else [str(e) for e in form.getall("events", [])]
    brand, now = admin_of(request)["brand"], now_of(request)
    try:
        created = await audited(
            request,
            lambda: webhooks.create_endpoint(
                brand_id=brand.id,
                url=url,
                events=events,
                description=description,
                now=now,
                options=_options(request),
            ),
            action="webhook.create",
            target=url,
            after={"url": url, "events": events, "description": description},
        )
    except Invalid as exc:
        values = {"url": url, "description": description, "events": events}
        return await _list_page(request, status=422, error=error_text(request, exc), values=values)
    return await _list_page(request, new_secret=created.secret, new_endpoint=created.endpoint.id)


@get("/webhooks/{endpoint_id:int}", guards=OWNER)
async def endpoint_page(request: Request, slug: FromPath[str], endpoint_id: RowId) -> Template:
    return await _endpoint_answer(request, endpoint_id)


async def _endpoint_answer(request: Request, endpoint_id: int, status: int = 200, **extra: Any) -> Template:
    brand = admin_of(request)["brand"]
    endpoint = await webhooks.get_endpoint(brand_id=brand.id, endpoint_id=endpoint_id)
    deliveries = await webhooks.deliveries(brand_id=brand.id, endpoint_id=endpoint_id)
    context = page_context(
        request, endpoint=endpoint, deliveries=deliveries, reasons=webhooks.REASONS, **extra
    )
    return Template("admin/webhook.html", status_code=status, context=context)


@post("/webhooks/{endpoint_id:int}/{action:str}", guards=OWNER, status_code=303)
async def endpoint_action(
    request: Request, slug: FromPath[str], endpoint_id: RowId, action: FromPath[str]
) -> Template | Redirect:
    """test, rotate, enable, disable, delete or replay an endpoint."""
    brand, now = admin_of(request)["brand"], now_of(request)
    back = f"/admin/b/{slug}/webhooks/{endpoint_id}"
    try:
        if action == "test":
            await audited(
                request,
                lambda: webhooks.send_test(brand_id=brand.id, endpoint_id=endpoint_id, now=now),
                action="webhook.test",
                target=str(endpoint_id),
            )
            return Redirect(f"{back}?done=test", status_code=303)
        if action == "rotate":
            rotated = await audited(
                request,
                lambda: webhooks.rotate_secret(brand_id=brand.id, endpoint_id=endpoint_id, now=now),
                action="webhook.rotate",
                target=str(endpoint_id),
            )
            return await _endpoint_answer(request, endpoint_id, new_secret=rotated.secret)
        if action in ("enable", "disable"):
            enabled = action == "enable"
            await audited(
                request,
                lambda: webhooks.update_endpoint(
                    brand_id=brand.id,
                    endpoint_id=endpoint_id,
                    now=now,
                    enabled=enabled,
                    options=_options(request),
                ),
                action=f"webhook.{action}",
                target=str(endpoint_id),
                before={"enabled": not enabled},
                after={"enabled": enabled},
            )
            return Redirect(f"{back}?done={action}d", status_code=303)
        if action == "delete":
            await audited(
                request,
                lambda: webhooks.delete_endpoint(brand_id=brand.id, endpoint_id=endpoint_id),
                action="webhook.delete",
                target=str(endpoint_id),
            )
            return Redirect(f"/admin/b/{slug}/webhooks?done=hook_removed", status_code=303)
        if action == "replay":
            form = await request.form()
            since, until = _range(brand.timezone, str(form.get("since", "")), str(form.get("until", "")))
            await audited(
                request,
                lambda: webhooks.replay(
                    brand_id=brand.id, endpoint_id=endpoint_id, since=since, until=until, now=now
                ),
                action="webhook.replay",
                target=str(endpoint_id),
                after={"since": form.get("since"), "until": form.get("until")},
            )
            return Redirect(f"{back}?done=replayed", status_code=303)
    except (Invalid, Conflict) as exc:  # shown on the endpoint's page, in the reader's language
        return await _endpoint_answer(
            request, endpoint_id, status=exc.status_code, error=error_text(request, exc)
        )
    raise Invalid("%(field)s: unknown action", field=Field("action"))


def _range(timezone: str, first: str, last: str) -> tuple[dt.datetime, dt.datetime]:
    """The brand's days from `first` to `last` (both included), as instants."""
    tz = zoneinfo.ZoneInfo(timezone)
    start, end = _date("since", first), _date("until", last)
    return (
        dt.datetime.combine(start, dt.time(), tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz),
    )


def _date(name: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid("%(field)s: a date like 2026-12-01", field=Field(name)) from None


@post("/webhooks/deliveries/{delivery_id:int}/resend", guards=OWNER, status_code=303)
async def resend_delivery(request: Request, slug: FromPath[str], delivery_id: RowId) -> Redirect:
    brand, now = admin_of(request)["brand"], now_of(request)
    delivery = await audited(
        request,
        lambda: webhooks.resend(brand_id=brand.id, delivery_id=delivery_id, now=now),
        action="webhook.resend",
        target=str(delivery_id),
    )
    return Redirect(f"/admin/b/{slug}/webhooks/{delivery.endpoint_id}?done=resent", status_code=303)


routes = [webhooks_page, add_endpoint, endpoint_page, endpoint_action, resend_delivery]
