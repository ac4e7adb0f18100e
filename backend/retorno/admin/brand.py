"""A brand in the admin, under /admin/b/<slug>. Every route names the role it needs; a staff member
with no role at that brand gets a 404 (another brand's objects do not exist for them), one whose
role is too low a 403. The pages live in the modules beside this one; this one holds the brand's
home and gathers them into one router."""

from __future__ import annotations

import datetime as dt

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Template

from retorno import db
from retorno.admin import branding, campaigns, counter, customers, imports, reports, rules, team
from retorno.admin.common import admin_of, page_context, requires_role
from retorno.brands.service import BrandView
from retorno.ledger import balances
from retorno.web import now_of, requires_platform_host


async def figures(brand: BrandView, now: dt.datetime) -> dict[str, int]:
    """Today's key figures (the brand's calendar day) and what the brand owes its shoppers."""
    import zoneinfo

    local = now.astimezone(zoneinfo.ZoneInfo(brand.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    sales = await db.fetch(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS total, "
        "CAST(COALESCE(SUM(cashback), 0) AS BIGINT) AS cashback "
        "FROM sales WHERE brand = {} AND occurred_at >= {} AND cancelled_at IS NULL",
        brand.id,
        start,
    )
    owed = await balances.liability_now(brand_id=brand.id, now=now)
    shoppers = await db.fetch(
        "SELECT COUNT(*) AS n FROM customers WHERE brand = {} AND forgotten_at IS NULL", brand.id
    )
    return {
        "sales": sales[0]["n"],
        "revenue": sales[0]["total"],
        "cashback": sales[0]["cashback"],
        "owed": owed.total,
        "shoppers": shoppers[0]["n"],
    }


@get("/", guards=[requires_role("operator")])
async def brand_home(request: Request, slug: FromPath[str]) -> Template:
    admin = admin_of(request)
    return Template(
        "admin/brand_home.html",
        context=page_context(request, figures=await figures(admin["brand"], now_of(request))),
    )


router = Router(
    path="/admin/b/{slug:str}",
    guards=[requires_platform_host],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[
        brand_home,
        *counter.routes,
        *customers.routes,
        *branding.routes,
        *rules.routes,
        *imports.routes,
        *reports.routes,
        *campaigns.routes,
        *team.routes,
    ],
)
