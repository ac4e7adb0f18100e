"""Integrations (owner): the brand's store platforms. Pick one, paste its secret (and its access
token where it needs one), register the webhook address shown on the platform, and see what each
webhook it sent became. Every change is audited; secrets are never shown back."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import Invalid, NotFound
from retorno.stores import service as stores
from retorno.stores.platforms import PLATFORMS
from retorno.web import error_text, now_of, settings_of

OWNER = [requires_role("owner")]


def _hook_url(request: Request, platform: str) -> str:
    settings = settings_of(request)
    return f"{settings.scheme}://{settings.base_host}/api/hooks/{platform}/{admin_of(request)['brand'].slug}"


@get("/integrations", guards=OWNER)
async def integrations_page(request: Request, slug: FromPath[str]) -> Template:
    brand = admin_of(request)["brand"]
    connected = {c.platform: c for c in await stores.connections(brand.id)}
    context = page_context(request, platforms=PLATFORMS, names=stores.NAMES, connected=connected)
    return Template("admin/integrations.html", context=context)


async def _platform_page(request: Request, platform: str, status: int = 200, **extra: Any) -> Template:
    if platform not in PLATFORMS:
        raise NotFoundException()
    brand = admin_of(request)["brand"]
    connection = await stores.connection(brand.id, platform)
    context = page_context(
        request,
        platform=platform,
        name=stores.NAMES[platform],
        connection=connection,
        hook_url=_hook_url(request, platform),
        topics=stores.TOPICS[platform],
        takes_codes=platform in stores.CODES,
        deliveries=await stores.deliveries(brand.id, connection.id) if connection else [],
        reasons=stores.REASONS,
        **extra,
    )
    return Template("admin/integration.html", status_code=status, context=context)


@get("/integrations/{platform:str}", guards=OWNER)
async def platform_page(request: Request, slug: FromPath[str], platform: FromPath[str]) -> Template:
    return await _platform_page(request, platform)


@post("/integrations/{platform:str}", guards=OWNER, status_code=303)
async def connect(request: Request, slug: FromPath[str], platform: FromPath[str]) -> Template | Redirect:
    if platform not in PLATFORMS:
        raise NotFoundException()
    form = await request.form()
    brand, now = admin_of(request)["brand"], now_of(request)
    shop = str(form.get("shop", "")).strip()
    # The form sends enabled=0 always, and enabled=1 too when the box is ticked.
    codes, enabled = form.get("checkout_codes") == "1", "1" in form.getall("enabled", ["1"])
    try:
        await audited(
            request,
            lambda: stores.connect(
                brand_id=brand.id,
                platform=platform,
                shop=shop,
                secret=str(form.get("secret", "")),
                access_token=str(form.get("access_token", "")),
                checkout_codes=codes,
                enabled=enabled,
                production=settings_of(request).production,
                now=now,
            ),
            action="store.connect",
            target=platform,
            # Which secrets changed, never their values.
            after={
                "platform": platform,
                "shop": shop,
                "checkout_codes": codes,
                "enabled": enabled,
                "secret": bool(form.get("secret")),
                "access_token": bool(form.get("access_token")),
            },
        )
    except Invalid as exc:
        values = {"shop": shop, "checkout_codes": codes, "enabled": enabled}
        return await _platform_page(
            request, platform, status=422, error=error_text(request, exc), values=values
        )
    return Redirect(f"/admin/b/{brand.slug}/integrations/{platform}?done=saved", status_code=303)


@post("/integrations/{platform:str}/disconnect", guards=OWNER, status_code=303)
async def disconnect(request: Request, slug: FromPath[str], platform: FromPath[str]) -> Template | Redirect:
    brand = admin_of(request)["brand"]
    try:
        await audited(
            request,
            lambda: stores.disconnect(brand_id=brand.id, platform=platform),
            action="store.disconnect",
            target=platform,
            before={"platform": platform},
        )
    except NotFound:
        raise NotFoundException() from None
    except Invalid as exc:
        return await _platform_page(request, platform, status=409, error=error_text(request, exc))
    return Redirect(f"/admin/b/{brand.slug}/integrations?done=store_removed", status_code=303)


routes = [integrations_page, platform_page, connect, disconnect]
