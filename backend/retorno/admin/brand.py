"""A brand in the admin, under /admin/b/<slug>. Every route names the role it needs; a staff member
with no role at that brand gets a 404 (another brand's objects do not exist for them), one whose
role is too low a 403. The pages live in the modules beside this one; this one holds the brand's
home and gathers them into one router."""

from __future__ import annotations

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from retorno.admin import (
    branding,
    campaigns,
    club,
    counter,
    coupons,
    customers,
    imports,
    integrations,
    messages,
    nps,
    points,
    reports,
    rules,
    team,
    webhooks,
    widget,
)
from retorno.admin.common import admin_of, page_context, requires_role
from retorno.brands import service as brands
from retorno.brands.pack import BANNER_FILE
from retorno.reports import charts
from retorno.reports.service import home_figures
from retorno.web import now_of, requires_platform_host


@get("/", guards=[requires_role("operator")])
async def brand_home(request: Request, slug: FromPath[str]) -> Template:
    admin = admin_of(request)
    figures = await home_figures(admin["brand"], now_of(request))
    sparks = {  # one trend a figure a period of more than a day: numbers only, no text
        (p.days, key): Markup(charts.sparkline([getattr(d, key) for d in p.trend]))  # noqa: S704
        for p in figures.periods
        if p.days > 1
        for key in ("sales", "revenue", "issued", "redeemed", "active", "owed")
    }
    return Template("admin/brand_home.html", context=page_context(request, figures=figures, sparks=sparks))


@get("/logo.png", guards=[requires_role("operator")])
async def brand_logo(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """The brand's logo for the admin's sidebar and the branding preview: its assets live on the
    brand's own host, which the admin's CSP (img-src 'self') does not reach."""
    return await _asset(request, "logo-120.png")


@get("/banner.png", guards=[requires_role("manager")])
async def brand_banner(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """The brand's banner, shown on the branding page."""
    return await _asset(request, BANNER_FILE)


async def _asset(request: Request, name: str) -> Response[bytes]:
    found = await brands.asset(admin_of(request)["brand"].id, name)
    if found is None:
        raise NotFoundException()
    data, content_type, _ = found
    return Response(data, media_type=content_type)


router = Router(
    path="/admin/b/{slug:str}",
    guards=[requires_platform_host],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[
        brand_home,
        brand_logo,
        brand_banner,
        *counter.routes,
        *customers.routes,
        *branding.routes,
        *rules.routes,
        *imports.routes,
        *reports.routes,
        *campaigns.routes,
        *club.routes,
        *points.routes,
        *nps.routes,
        *coupons.routes,
        *messages.routes,
        *team.routes,
        *webhooks.routes,
        *integrations.routes,
        *widget.routes,
    ],
)
