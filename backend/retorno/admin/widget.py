"""The site widget (owner): the script tag to copy, the publishable key, the store's origins,
the launcher, the widget secret (rotated, shown once) and how a store's backend signs a shopper
token. Every change is audited; widget/service.py checks what is saved."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.brands import service as brands
from retorno.errors import Invalid
from retorno.web import error_text, now_of, origin_of, settings_of
from retorno.widget import service as widget

OWNER = [requires_role("owner")]


async def _page(request: Request, status: int = 200, **extra: Any) -> Template:
    brand, settings = admin_of(request)["brand"], settings_of(request)
    current = await widget.settings_for(brand.id, now=now_of(request))
    custom = await brands.custom_hosts(brand.id)
    host = f"{settings.scheme}://{custom[0]}" if custom else origin_of(brand, settings)
    context = page_context(
        request,
        widget=current,
        script_src=f"{host}/widget.js",
        platform_origin=None if settings.production else f"{settings.scheme}://{settings.base_host}",
        **extra,
    )
    return Template("admin/widget.html", status_code=status, context=context)


@get("/widget", guards=OWNER)
async def widget_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@post("/widget", guards=OWNER, status_code=303)
async def save_widget(request: Request, slug: FromPath[str]) -> Template | Redirect:
    """The store's origins (one a line) and the launcher, saved together."""
    form = await request.form()
    text = str(form.get("origins", ""))
    launcher = form.get("launcher") == "1"
    brand, now, production = admin_of(request)["brand"], now_of(request), settings_of(request).production
    before = await widget.settings_for(brand.id, now=now)
    try:
        origins = widget.check_origins(text.splitlines(), production=production)
        await audited(
            request,
            lambda: widget.update(
                brand_id=brand.id, now=now, production=production, origins=origins, launcher=launcher
            ),
            action="widget.update",
            target=brand.slug,
            before={"origins": before.origins, "launcher": before.launcher},
            after={"origins": origins, "launcher": launcher},
        )
    except Invalid as exc:
        return await _page(request, status=422, error=error_text(request, exc), typed=text)
    return Redirect(f"/admin/b/{slug}/widget?done=saved", status_code=303)


@post("/widget/rotate", guards=OWNER, status_code=200)
async def rotate_widget_secret(request: Request, slug: FromPath[str]) -> Template:
    """A new widget secret, shown this once: tokens signed with the old one stop working."""
    brand, now = admin_of(request)["brand"], now_of(request)
    secret = await audited(
        request,
        lambda: widget.rotate_secret(brand_id=brand.id, now=now),
        action="widget.rotate",
        target=brand.slug,
    )
    return await _page(request, new_secret=secret)


routes = [widget_page, save_widget, rotate_widget_secret]
