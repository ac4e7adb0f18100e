"""Reports (manager and up): a period's figures as SVG charts, tables and CSV."""

from __future__ import annotations

import zoneinfo
from typing import Any

from babel.dates import format_skeleton
from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from retorno import csvfile, i18n
from retorno.admin.common import admin_of, page_context, requires_role
from retorno.reports import charts, close
from retorno.reports import service as reports
from retorno.web import lang_of, now_of


async def _report(request: Request) -> reports.Report:

    brand, now = admin_of(request)["brand"], now_of(request)
    today = now.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date()
    first, last = reports.period(
        request.query_params.get("start"), request.query_params.get("end"), today=today
    )
    return await reports.report(brand, first, last, now=now)


@get("/reports", guards=[requires_role("manager")])
async def reports_page(request: Request, slug: FromPath[str]) -> Template:

    data = await _report(request)
    lang, brand = lang_of(request), admin_of(request)["brand"]
    labels = {k: i18n.gettext(lang, f"report:{k}") for k in reports.SERIES}
    name = i18n.gettext(lang, "Cashback per day: earned, used, reversed and expired (figures in the table)")
    chart = charts.bar_chart(
        [d.day for d in data.days],
        {k: [getattr(d, k) for d in data.days] for k in reports.SERIES},
        name=name,
        value_label=lambda c: i18n.money(c, lang=lang, currency=brand.currency),
        day_label=lambda d: format_skeleton("dM", d, locale=i18n.babel_locale(lang)),
        series_labels=labels,
    )
    context = page_context(request, report=data, labels=labels, chart=Markup(chart))  # noqa: S704 - escaped
    return Template("admin/reports.html", context=context)


@get("/reports.csv", guards=[requires_role("manager")])
async def reports_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:

    data = await _report(request)
    lang, brand = lang_of(request), admin_of(request)["brand"]
    body = csvfile.write(
        [i18n.gettext(lang, "Day")] + [i18n.gettext(lang, f"report:{k}") for k in reports.SERIES],
        ([day.day] + [csvfile.Money(getattr(day, k)) for k in reports.SERIES] for day in data.days),
        lang=lang,
        tz=brand.timezone,
    )
    name = f"relatorio-{slug}-{data.first}-{data.last}.csv"
    return Response(
        body,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def _close(request: Request) -> tuple[Any, list[tuple[str, str, int]]]:

    brand, now = admin_of(request)["brand"], now_of(request)
    year, month = close.month_of(
        request.query_params.get("month"), today=now.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date()
    )
    report = await close.month_close(brand, year, month)
    lang = lang_of(request)
    lines = [
        ("opening", i18n.gettext(lang, "close:opening"), report.opening.total),
        ("opening_pending", i18n.gettext(lang, "close:opening_pending"), report.opening.pending),
        *((key, i18n.gettext(lang, f"close:{key}"), getattr(report, key)) for key in close.LINES),
        ("closing", i18n.gettext(lang, "close:closing"), report.closing.total),
        ("closing_pending", i18n.gettext(lang, "close:closing_pending"), report.closing.pending),
    ]
    return report, lines


@get("/reports/close", guards=[requires_role("manager")])
async def close_page(request: Request, slug: FromPath[str]) -> Template:
    report, lines = await _close(request)
    return Template("admin/close.html", context=page_context(request, close=report, lines=lines))


@get("/reports/close.csv", guards=[requires_role("manager")])
async def close_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:

    report, lines = await _close(request)
    lang = lang_of(request)
    body = csvfile.write(
        [i18n.gettext(lang, "Line"), i18n.gettext(lang, "Description"), i18n.gettext(lang, "Centavos"), "R$"],
        ([key, label, amount, csvfile.Money(amount)] for key, label, amount in lines),
        lang=lang,
    )
    return Response(
        body,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="fechamento-{slug}-{report.month}.csv"'},
    )


routes = [reports_page, reports_csv, close_page, close_csv]
