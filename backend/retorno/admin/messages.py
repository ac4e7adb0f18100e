"""Messages (manager and up): the automatic messages the brand writes, per channel and language,
with a preview for a real shopper; quiet hours, the weekly cap and the WhatsApp account."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno import i18n
from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import N_, Invalid
from retorno.messages import email as message_email
from retorno.messages import service as messages
from retorno.messages import settings as message_settings
from retorno.messages import texts
from retorno.web import error_text, now_of, origin_of, settings_of

MANAGER = [requires_role("manager")]
REASONS = {  # why a message did not go, as the admin reads it
    "no_customer": N_("the shopper's account was deleted"),
    "disabled": N_("the automation is off"),
    "spent": N_("nothing left to remind of"),
    "capped": N_("the weekly limit was reached"),
    "quiet_hours": N_("held for the quiet hours"),
    "no_consent": N_("no consent for any of its channels"),
    "no_device": N_("no device with notifications"),
    "no_address": N_("no address for its channels"),
    "not_set_up": N_("WhatsApp is not set up"),
    "no_channel": N_("no channel could take it"),
    "failed_every_channel": N_("every channel failed"),
}
STATES = {
    "queued": N_("queued"),
    "held": N_("held"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "read": N_("read"),
    "failed": N_("failed"),
    "skipped": N_("not sent"),
    "unknown": N_("unknown"),
}
CHANNEL_NAMES = {"push": N_("Push"), "whatsapp": N_("WhatsApp"), "email": N_("E-mail")}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def _page(request: Request, status: int = 200, **extra: Any) -> Template:
    brand, settings = admin_of(request)["brand"], settings_of(request)
    current = await message_settings.settings_of(brand.id)
    context = page_context(
        request,
        automations=await message_settings.automations(brand.id, (brand.locale,)),
        settings=current,
        quiet_start=_hhmm(current.quiet_start),
        quiet_end=_hhmm(current.quiet_end),
        callback_url=f"{settings.scheme}://{settings.base_host}/api/hooks/whatsapp/{brand.slug}",
        channel_names=CHANNEL_NAMES,
        **extra,
    )
    return Template("admin/messages.html", status_code=status, context=context)


@get("/messages", guards=MANAGER)
async def messages_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@post("/messages/settings", guards=MANAGER, status_code=303)
async def save_settings(request: Request, slug: FromPath[str]) -> Template | Redirect:
    form = await request.form()
    brand, now = admin_of(request)["brand"], now_of(request)
    values = {
        "quiet_start": str(form.get("quiet_start", "21:00")),
        "quiet_end": str(form.get("quiet_end", "09:00")),
        "whatsapp_number_id": str(form.get("whatsapp_number_id", "")),
    }
    try:
        cap = int(str(form.get("weekly_cap", "3")) or "0")
    except ValueError:
        cap = -1
    try:
        await audited(
            request,
            lambda: message_settings.save_settings(
                brand_id=brand.id,
                weekly_cap=cap,
                whatsapp_token=str(form.get("whatsapp_token", "")),
                whatsapp_app_secret=str(form.get("whatsapp_app_secret", "")),
                forget_whatsapp=form.get("forget_whatsapp") == "1",
                now=now,
                **values,
            ),
            action="messages.settings",
            target=brand.slug,
            after=values | {"weekly_cap": cap, "token_changed": bool(form.get("whatsapp_token"))},
        )
    except Invalid as exc:
        return await _page(request, status=422, error=error_text(request, exc), typed=values)
    return Redirect(f"/admin/b/{slug}/messages?done=saved", status_code=303)


# --- one automation ------------------------------------------------------------------------------


async def _preview(
    request: Request, kind: str, written: dict[str, dict[str, str]], ref: str, lang: str
) -> dict[str, Any]:
    """The texts as a real shopper of the brand would get them (the one asked for, or the latest)."""
    brand, now = admin_of(request)["brand"], now_of(request)
    person = await messages.sample_shopper(brand.id, ref)
    sample = messages.sample_data(kind, now)
    origin = origin_of(brand, settings_of(request))
    link = f"{origin}/m/preview"
    person = (person or {}) | {"language": lang}  # the texts' language, whatever the shopper's
    values = await messages.values_of(brand=brand, person=person, data=sample, link=link, now=now)
    rendered = {ch: {f: texts.render(t, values) for f, t in fields.items()} for ch, fields in written.items()}
    return {
        "person": person if person.get("id") else None,
        "rendered": rendered,
        "origin": origin,
        "link": link,
        "template_body": texts.template_body(written["whatsapp"]["body"]),
        "parameters": texts.parameters(written["whatsapp"]["body"], values),
    }


def _spec(kind: str) -> texts.Spec:
    if kind not in texts.AUTOMATIONS:
        raise NotFoundException()
    return texts.AUTOMATIONS[kind]


def _text_lang(request: Request, asked: str | None) -> str:
    """The language of the texts being edited: the brand's unless another one is asked for."""
    brand = admin_of(request)["brand"]
    return asked if asked in i18n.LANGUAGES else brand.locale


async def _automation_page(
    request: Request, kind: str, status: int = 200, written: dict[str, Any] | None = None, **extra: Any
) -> Template:
    brand = admin_of(request)["brand"]
    spec = _spec(kind)
    lang = extra.pop("text_lang", None) or _text_lang(request, request.query_params.get("lang"))
    current = await message_settings.automation(brand.id, kind, i18n.LANGUAGES)
    shown = written or current.texts[lang]
    try:
        preview = await _preview(request, kind, shown, request.query_params.get("shopper", ""), lang)
    except Exception:  # a text that cannot be shown yet (being edited): the form still opens
        preview = None
    context = page_context(
        request,
        spec=spec,
        automation=current,
        shown=shown,
        preview=preview,
        variables=sorted(set(texts.COMMON) | set(spec.variables)),
        channel_names=CHANNEL_NAMES,
        fields=texts.FIELDS,
        text_lang=lang,
        languages=i18n.LANGUAGE_NAMES,
        **extra,
    )
    return Template("admin/automation.html", status_code=status, context=context)


@get("/messages/{kind:str}", guards=MANAGER)
async def automation_page(request: Request, slug: FromPath[str], kind: FromPath[str]) -> Template:
    return await _automation_page(request, kind)


@post("/messages/{kind:str}", guards=MANAGER, status_code=303)
async def save_automation(request: Request, slug: FromPath[str], kind: FromPath[str]) -> Template | Redirect:
    """Save on/off, the channels in order, the days and every channel's texts in the brand's
    language; an unknown variable or an empty text of a chosen channel is refused, all kept."""
    _spec(kind)
    form = await request.form()
    brand, now = admin_of(request)["brand"], now_of(request)
    channels = [str(form.get(f"channel_{i}", "")) for i in range(3)]
    written = {
        channel: {name: str(form.get(f"{channel}_{name}", "")) for name in texts.FIELDS[channel]}
        for channel in texts.CHANNELS
    }
    days = str(form.get("days", ""))
    enabled = form.get("enabled") == "1"
    lang = _text_lang(request, str(form.get("lang", "")))
    try:
        await audited(
            request,
            lambda: message_settings.save_automation(
                brand_id=brand.id,
                kind=kind,
                enabled=enabled,
                channels=channels,
                days=days,
                lang=lang,
                written=written,
                now=now,
            ),
            action="messages.automation",
            target=kind,
            after={"enabled": enabled, "channels": [c for c in channels if c], "days": days, "lang": lang},
        )
    except Invalid as exc:
        return await _automation_page(
            request,
            kind,
            status=422,
            written=written,
            error=error_text(request, exc),
            typed_days=days,
            text_lang=lang,
        )
    return Redirect(f"/admin/b/{slug}/messages/{kind}?lang={lang}&done=saved", status_code=303)


# The e-mail as a mail client shows it: its inline styles and the brand's images allowed, nothing
# else (no script, no form), framed only by the admin's own page.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' http: https: data:; frame-ancestors 'self'"
)


@get("/messages/{kind:str}/email", guards=MANAGER)
async def automation_email(request: Request, slug: FromPath[str], kind: FromPath[str]) -> Response[str]:
    """The saved e-mail of an automation for a real shopper, for the page's preview frame."""
    brand = admin_of(request)["brand"]
    _spec(kind)
    lang = _text_lang(request, request.query_params.get("lang"))
    current = await message_settings.automation(brand.id, kind, (lang,))
    preview = await _preview(
        request, kind, current.texts[lang], request.query_params.get("shopper", ""), lang
    )
    origin = preview["origin"]
    mail = message_email.build(  # only here: the page itself shows the e-mail through this frame
        brand=brand,
        origin=origin,
        to=str((preview["person"] or {}).get("email") or ""),
        subject=preview["rendered"]["email"]["subject"],
        body=preview["rendered"]["email"]["body"],
        link=preview["link"],
        unsubscribe=f"{origin}/unsubscribe/preview",
        now=now_of(request),
        lang=lang,
    )
    return Response(
        mail.html,
        media_type="text/html",
        headers={"content-security-policy": EMAIL_CSP, "cache-control": "no-store"},
    )


routes = [messages_page, save_settings, automation_page, save_automation, automation_email]
