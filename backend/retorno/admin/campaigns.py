"""Campaigns (manager and up): compose for any channel, build the audience (its size shown before
sending), keep a holdout group out, send now or at a set time; each campaign's report says what
it reached per channel and what it really brought back against the holdout."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.admin.messages import CHANNEL_NAMES, REASONS
from retorno.errors import Field, Invalid
from retorno.messages import campaigns, texts
from retorno.messages import service as messages
from retorno.messages.campaigns import Audience
from retorno.typed import centavos
from retorno.web import RowId, error_text, now_of, origin_of, settings_of

MANAGER = [requires_role("manager")]


def _form_of(form: Any) -> dict[str, Any]:
    """What the manager typed, kept as typed (shown again on an error)."""
    keys = (
        "name", "url", "min_balance", "bought_more_than", "bought_less_than", "segment", "category",
        "audience_channel", "holdout", "send_at",
    )  # fmt: skip
    typed: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in keys}
    typed["channels"] = [str(form.get(f"channel_{i}", "")) for i in range(3)]
    typed["texts"] = {
        channel: {name: str(form.get(f"{channel}_{name}", "")) for name in texts.FIELDS[channel]}
        for channel in texts.CHANNELS
    }
    return typed


def _number(text: str, field: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise Invalid("%(field)s: a whole number", field=Field(field))
    return int(text)


def _parsed(typed: dict[str, Any], tz: str) -> dict[str, Any]:
    """The form as the campaign's values: the audience, the holdout in basis points, the time."""
    audience = Audience(
        min_balance=centavos(typed["min_balance"]) if typed["min_balance"] else None,
        bought_more_than=_number(typed["bought_more_than"], "bought_more_than"),
        bought_less_than=_number(typed["bought_less_than"], "bought_less_than"),
        segment=typed["segment"],
        category=typed["category"],
        channel=typed["audience_channel"],
    )
    holdout = _number(typed["holdout"] or "10", "holdout")
    send_at = None
    if typed["send_at"]:
        try:
            local = dt.datetime.fromisoformat(typed["send_at"])
        except ValueError:
            raise Invalid("%(field)s: a date and time", field=Field("send_at")) from None
        send_at = local.replace(tzinfo=zoneinfo.ZoneInfo(tz)).astimezone(dt.UTC)
    return {
        "audience": campaigns.check_audience(audience),
        "holdout_bp": (holdout or 0) * 100,
        "send_at": send_at,
    }


async def _rendered(
    request: Request, written: dict[str, dict[str, str]], channels: list[str]
) -> dict[str, Any]:
    """The texts of the chosen channels as the brand's latest shopper would read them."""
    brand, now = admin_of(request)["brand"], now_of(request)
    person = await messages.sample_shopper(brand.id)
    link = f"{origin_of(brand, settings_of(request))}/m/preview"
    values = await messages.values_of(brand=brand, person=person, data={}, link=link, now=now)
    rendered = {
        channel: {name: texts.render(text, values) for name, text in written.get(channel, {}).items()}
        for channel in channels
        if channel in texts.CHANNELS
    }
    return {"who": person["name"] if person else "", "channels": rendered}


async def _page(request: Request, status: int = 200, **extra: Any) -> Template:
    brand = admin_of(request)["brand"]
    blank = {
        "channels": ["push", "", ""],  # the manager adds the channels it writes texts for
        "texts": {ch: dict.fromkeys(texts.FIELDS[ch], "") for ch in texts.CHANNELS},
        "url": "/",
        "holdout": "10",
    }
    context = page_context(
        request,
        sent=await campaigns.campaigns(brand_id=brand.id),
        typed=extra.pop("typed", blank),
        channel_names=CHANNEL_NAMES,
        fields=texts.FIELDS,
        variables=sorted(texts.COMMON),
        **extra,
    )
    return Template("admin/campaigns.html", status_code=status, context=context)


@get("/campaigns", guards=MANAGER)
async def campaigns_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@post("/campaigns", guards=MANAGER, status_code=200)
async def send_campaign(request: Request, slug: FromPath[str]) -> Template | Redirect:
    """ "preview" shows the audience's size and the texts; "send" asks for a confirmation with how
    many will get it and how many are held out; "confirm" schedules it (now, or at its time)."""
    form = await request.form()
    brand, now = admin_of(request)["brand"], now_of(request)
    typed, action = _form_of(form), str(form.get("action", "preview"))
    try:
        values = _parsed(typed, brand.timezone)
        size = await campaigns.audience_size(brand_id=brand.id, audience=values["audience"], now=now)
        held = round(size * values["holdout_bp"] / 10000)
        previews = await _rendered(request, typed["texts"], [c for c in typed["channels"] if c])
        if action == "preview":
            return await _page(request, typed=typed, audience_size=size, held=held, previews=previews)
        chosen = [c for c in typed["channels"] if c]
        draft = campaigns.Draft(
            name=typed["name"], channels=chosen, written=typed["texts"], url=typed["url"] or "/", **values
        )
        campaigns.check(draft, now=now)
        if size == 0:
            return await _page(request, status=422, typed=typed, audience_size=0, held=0, error="no_audience")
        if action == "send":
            return await _page(
                request, typed=typed, audience_size=size, held=held, confirm=True, previews=previews
            )
        campaign_id = await audited(
            request,
            lambda: campaigns.create(brand_id=brand.id, draft=draft, now=now),
            action="campaign.send",
            target=typed["name"][:120],
            after={
                "channels": chosen,
                "audience": size,
                "holdout_bp": values["holdout_bp"],
                "send_at": typed["send_at"],
            },
        )
    except Invalid as exc:
        return await _page(request, status=422, typed=typed, error=error_text(request, exc))
    return Redirect(f"/admin/b/{slug}/campaigns/{campaign_id}?done=saved", status_code=303)


@get("/campaigns/{campaign_id:int}", guards=MANAGER)
async def campaign_report(request: Request, slug: FromPath[str], campaign_id: RowId) -> Template:
    brand = admin_of(request)["brand"]
    report = await campaigns.report(brand_id=brand.id, campaign_id=campaign_id, now=now_of(request))
    context = page_context(request, report=report, channel_names=CHANNEL_NAMES, reasons=REASONS)
    return Template("admin/campaign.html", context=context)


@post("/campaigns/{campaign_id:int}/cancel", guards=MANAGER, status_code=303)
async def cancel_campaign(request: Request, slug: FromPath[str], campaign_id: RowId) -> Redirect:
    brand = admin_of(request)["brand"]
    await audited(
        request,
        lambda: campaigns.cancel(brand_id=brand.id, campaign_id=campaign_id),
        action="campaign.cancel",
        target=str(campaign_id),
    )
    return Redirect(f"/admin/b/{slug}/campaigns/{campaign_id}?done=cancelled", status_code=303)


routes = [campaigns_page, send_campaign, campaign_report, cancel_campaign]
