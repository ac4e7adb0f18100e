"""Reports (manager and up): a period's figures as SVG charts, tables and CSV."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Template

from retorno.admin.common import (
    admin_of,
    now_of,
    page_context,
    requires_role,
)
from retorno.web import lang_of


async def _report(request: Request) -> dict[str, Any]:
    import zoneinfo

    from retorno.reports import service as reports

    brand, now = admin_of(request)["brand"], now_of(request)
    today = now.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date()
    first, last = reports.period(
        request.query_params.get("start"), request.query_params.get("end"), today=today
    )
    return await reports.report(brand, first, last, now=now)


@get("/reports", guards=[requires_role("manager")])
async def reports_page(request: Request, slug: FromPath[str]) -> Template:
    from markupsafe import Markup

    from retorno import i18n
    from retorno.reports import service as reports

    data = await _report(request)
    lang = lang_of(request)
    labels = {k: i18n.gettext(lang, f"report:{k}") for k in reports.SERIES}
    name = i18n.gettext(lang, "Cashback per day: earned, used, reversed and expired (figures in the table)")
    chart = reports.bar_chart(data["days"], reports.SERIES, labels, name=name)
    context = page_context(request, report=data, labels=labels, chart=Markup(chart))  # noqa: S704 - numbers only
    return Template("admin/reports.html", context=context)


@get("/reports.csv", guards=[requires_role("manager")])
async def reports_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    from retorno import csvfile

    data = await _report(request)
    body = csvfile.write(
        ["day", "earned", "used", "reversed", "expired"],
        (
            [day["day"].isoformat()]
            + [csvfile.reais(day[k]) for k in ("earned", "used", "reversed", "expired")]
            for day in data["days"]
        ),
    )
    name = f"relatorio-{slug}-{data['first']}-{data['last']}.csv"
    return Response(
        body,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes = [reports_page, reports_csv]
