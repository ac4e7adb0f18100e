"""Reports (manager and up): a period's figures as SVG charts, tables and CSV; the programme's
reports (shoppers using cashback, benefits, recurrence, repurchase, best sellers, campaign return)
each a page of its own with its CSV."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_decimal
from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from retorno import csvfile, i18n
from retorno.admin.common import admin_of, page_context, requires_role
from retorno.errors import N_, Invalid
from retorno.messages import campaigns
from retorno.reports import charts, close, programme
from retorno.reports import service as reports
from retorno.web import error_text, lang_of, now_of


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
    context = page_context(
        request,
        report=data,
        labels=labels,
        chart=Markup(chart),  # noqa: S704 - charts.py escapes every text it draws
        tabs=TABS,
        current_tab="overview",
        nps_url=_nps_url(request),
    )
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


# --- the programme's reports ---------------------------------------------------------------------------

MANAGER = [requires_role("manager")]


def _period(request: Request) -> tuple[Any, dt.date, dt.date]:
    brand, now = admin_of(request)["brand"], now_of(request)
    today = now.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date()
    first, last = reports.period(
        request.query_params.get("start"), request.query_params.get("end"), today=today
    )
    return brand, first, last


def _labels(lang: str, prefix: str, keys: Iterable[str]) -> dict[str, str]:
    return {k: i18n.gettext(lang, f"{prefix}:{k}") for k in keys}


def _money(request: Request) -> Callable[[int], str]:
    lang, brand = lang_of(request), admin_of(request)["brand"]
    return lambda c: i18n.money(c, lang=lang, currency=brand.currency)


def _count(request: Request) -> Callable[[int], str]:
    locale = i18n.babel_locale(lang_of(request))
    return lambda n: format_decimal(n, locale=locale)


def _rate(request: Request) -> Callable[[int], str]:
    lang = lang_of(request)
    return lambda bp: i18n.percent(bp, lang=lang)


def _day_label(request: Request) -> Callable[[dt.date], str]:
    locale = i18n.babel_locale(lang_of(request))
    return lambda d: format_skeleton("dM", d, locale=locale)


def _nps_url(request: Request) -> str:
    """The NPS page of the brand's admin, where the app has one (the reports' NPS tab links to it)."""
    paths = {route.path for route in request.app.routes}
    return f"/admin/b/{admin_of(request)['brand'].slug}/nps" if "/admin/b/{slug:str}/nps" in paths else ""


def _page(request: Request, template: str, *, status: int = 200, **extra: Any) -> Template:
    context = page_context(request, tabs=TABS, nps_url=_nps_url(request), **extra)
    return Template(f"admin/{template}", context=context, status_code=status)


def _csv(
    request: Request, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response[bytes]:
    lang, brand = lang_of(request), admin_of(request)["brand"]
    body = csvfile.write([i18n.gettext(lang, h) for h in header], rows, lang=lang, tz=brand.timezone)
    return Response(
        body, media_type="text/csv", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


def _svg(svg: str) -> Markup:
    return Markup(svg)  # noqa: S704 - charts.py escapes every text it draws


@get("/reports/shoppers", guards=MANAGER)
async def shoppers_page(request: Request, slug: FromPath[str]) -> Template:
    brand, first, last = _period(request)
    data = await programme.shoppers(brand, first, last)
    lang = lang_of(request)
    labels = {
        "buyers": i18n.gettext(lang, "Shoppers who bought"),
        "users": i18n.gettext(lang, "Used cashback"),
    }
    chart = charts.bar_chart(
        [d.day for d in data.days],
        {"buyers": [d.buyers for d in data.days], "users": [d.users for d in data.days]},
        name=i18n.gettext(lang, "Shoppers per day: who bought and who used cashback (figures in the table)"),
        value_label=_count(request),
        day_label=_day_label(request),
        series_labels=labels,
        unit=1,
        palette=True,
    )
    return _page(
        request, "report_shoppers.html", current_tab="shoppers", data=data, labels=labels, chart=_svg(chart)
    )


@get("/reports/shoppers.csv", guards=MANAGER)
async def shoppers_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    brand, first, last = _period(request)
    data = await programme.shoppers(brand, first, last)
    return _csv(
        request,
        f"clientes-cashback-{slug}-{first}-{last}.csv",
        [N_("Day"), N_("Shoppers who bought"), N_("Used cashback"), N_("Cashback used")],
        ([d.day, d.buyers, d.users, csvfile.Money(d.used)] for d in data.days),
    )


@get("/reports/benefits", guards=MANAGER)
async def benefits_page(request: Request, slug: FromPath[str]) -> Template:
    brand, first, last = _period(request)
    data = await programme.benefits(brand, first, last)
    lang = lang_of(request)
    labels = _labels(lang, "benefits", programme.BENEFIT_SERIES)
    chart = charts.bar_chart(
        [d.day for d in data.days],
        {k: [getattr(d, k) for d in data.days] for k in programme.BENEFIT_SERIES},
        name=i18n.gettext(
            lang,
            "Benefits per day in reais: cashback generated and used, vouchers' and coupons' discounts "
            "(figures in the table)",
        ),
        value_label=_money(request),
        day_label=_day_label(request),
        series_labels=labels,
        palette=True,
    )
    names = _labels(lang, "benefit", programme.BENEFITS)
    return _page(
        request,
        "report_benefits.html",
        current_tab="benefits",
        data=data,
        labels=labels,
        names=names,
        chart=_svg(chart),
    )


BENEFITS_CSV = (
    N_("Day"),
    "benefits:cashback_generated",
    "benefits:cashback_used",
    N_("Vouchers issued"),
    N_("Vouchers used"),
    "benefits:voucher_discount",
    N_("Coupons used"),
    "benefits:coupon_discount",
    N_("Club uses"),
)


@get("/reports/benefits.csv", guards=MANAGER)
async def benefits_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    brand, first, last = _period(request)
    data = await programme.benefits(brand, first, last)
    rows = (
        [
            d.day,
            csvfile.Money(d.cashback_generated),
            csvfile.Money(d.cashback_used),
            d.vouchers_issued,
            d.vouchers_used,
            csvfile.Money(d.voucher_discount),
            d.coupons_used,
            csvfile.Money(d.coupon_discount),
            d.club_uses,
        ]
        for d in data.days
    )
    return _csv(request, f"beneficios-{slug}-{first}-{last}.csv", BENEFITS_CSV, rows)


def _bucket_label(lang: str, n: int) -> str:
    if n == programme.RECURRENCE_BUCKETS[-1]:
        return i18n.gettext(lang, "%(n)s or more purchases") % {"n": n}
    if n == 1:
        return i18n.gettext(lang, "1 purchase")
    return i18n.gettext(lang, "%(n)s purchases") % {"n": n}


@get("/reports/recurrence", guards=MANAGER)
async def recurrence_page(request: Request, slug: FromPath[str]) -> Template:
    brand, first, last = _period(request)
    data = await programme.recurrence(brand, first, last)
    lang = lang_of(request)
    names = {b.purchases_min: _bucket_label(lang, b.purchases_min) for b in data.buckets}
    labels = {"shoppers": i18n.gettext(lang, "Shoppers")}
    chart = charts.ranking_chart(
        list(names.values()),
        {"shoppers": [b.shoppers for b in data.buckets]},
        name=i18n.gettext(
            lang, "Shoppers by how many times they bought in the period (figures in the table)"
        ),
        value_label=_count(request),
        series_labels=labels,
        unit=1,
    )
    return _page(
        request, "report_recurrence.html", current_tab="recurrence", data=data, names=names, chart=_svg(chart)
    )


@get("/reports/recurrence.csv", guards=MANAGER)
async def recurrence_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    brand, first, last = _period(request)
    data = await programme.recurrence(brand, first, last)
    lang = lang_of(request)
    rows = (
        [_bucket_label(lang, b.purchases_min), b.shoppers, b.purchases, csvfile.Money(b.revenue)]
        for b in data.buckets
    )
    return _csv(
        request,
        f"recorrencia-{slug}-{first}-{last}.csv",
        [N_("Purchases in the period"), N_("Shoppers"), N_("Purchases"), N_("Revenue")],
        rows,
    )


async def _repurchase(request: Request) -> tuple[programme.Repurchase | None, str, str]:
    """The report, the window as typed, and the window's error (then no report)."""
    brand, first, last = _period(request)
    typed = request.query_params.get("window") or ""
    try:
        window = programme.window_of(typed)
    except Invalid as exc:
        return None, typed, error_text(request, exc)
    data = await programme.repurchase(brand, first, last, window_days=window, now=now_of(request))
    return data, typed or str(window), ""


@get("/reports/repurchase", guards=MANAGER)
async def repurchase_page(request: Request, slug: FromPath[str]) -> Template:
    data, typed, error = await _repurchase(request)
    _, first, last = _period(request)
    lang = lang_of(request)
    names = _labels(lang, "repurchase", programme.REPURCHASE_GROUPS)
    chart = ""
    if data is not None:
        chart = charts.ranking_chart(
            [names[g.key] for g in data.groups],
            {"rate": [g.rate_bp for g in data.groups]},
            name=i18n.gettext(
                lang,
                "Bought again within the window: those who used cashback against those who did not "
                "(figures in the table)",
            ),
            value_label=_rate(request),
            series_labels={"rate": i18n.gettext(lang, "Bought again")},
            top=10000,
        )
    return _page(
        request,
        "report_repurchase.html",
        status=422 if error else 200,
        current_tab="repurchase",
        data=data,
        first=first,
        last=last,
        typed=typed,
        error=error,
        names=names,
        chart=_svg(chart),
    )


@get("/reports/repurchase.csv", guards=MANAGER)
async def repurchase_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    brand, first, last = _period(request)
    window = programme.window_of(request.query_params.get("window"))  # a bad one: the error page
    data = await programme.repurchase(brand, first, last, window_days=window, now=now_of(request))
    lang = lang_of(request)
    names = _labels(lang, "repurchase", programme.REPURCHASE_GROUPS)
    rows = ([names[g.key], g.shoppers, g.again, g.rate_bp / 100, data.window_days] for g in data.groups)
    return _csv(
        request,
        f"recompra-{slug}-{first}-{last}.csv",
        [N_("Group"), N_("Shoppers"), N_("Bought again"), N_("Rate (%)"), N_("Window (days)")],
        rows,
    )


@get("/reports/products", guards=MANAGER)
async def products_page(request: Request, slug: FromPath[str]) -> Template:
    brand, first, last = _period(request)
    categories = await programme.sellers(brand, first, last, by="category")
    products = await programme.sellers(brand, first, last, by="sku")
    lang = lang_of(request)
    none = i18n.gettext(lang, "No category")
    top = categories.rows[:10]
    labels = {"revenue": i18n.gettext(lang, "Revenue"), "cashback": i18n.gettext(lang, "Cashback given")}
    chart = charts.ranking_chart(
        [c.key or none for c in top],
        {"revenue": [c.revenue for c in top], "cashback": [c.cashback for c in top]},
        name=i18n.gettext(lang, "Best-selling categories: revenue and cashback given (figures in the table)"),
        value_label=_money(request),
        series_labels=labels,
    )
    return _page(
        request,
        "report_products.html",
        current_tab="products",
        categories=categories,
        products=products,
        labels=labels,
        none=none,
        chart=_svg(chart),
    )


@get("/reports/products.csv", guards=MANAGER)
async def products_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    brand, first, last = _period(request)
    by = request.query_params.get("by") or "category"
    data = await programme.sellers(brand, first, last, by=by)
    rows = (
        [s.key, csvfile.Money(s.revenue), s.units, s.sales, csvfile.Money(s.cashback), s.cashback_bp / 100]
        for s in data.rows
    )
    what = N_("Category") if by == "category" else N_("Product (SKU)")
    return _csv(
        request,
        f"{'categorias' if by == 'category' else 'produtos'}-{slug}-{first}-{last}.csv",
        [what, N_("Revenue"), N_("Units"), N_("Sales"), N_("Cashback given"), N_("Cashback (% of revenue)")],
        rows,
    )


async def _campaigns(request: Request) -> tuple[dt.date, dt.date, list[campaigns.Report]]:
    """The campaigns sent in the period, each with its holdout comparison (the messages domain's)."""
    brand, first, last = _period(request)
    start, end = programme.period_of(brand, first, last).start, programme.period_of(brand, first, last).end
    now = now_of(request)
    sent = [
        c
        for c in await campaigns.campaigns(brand_id=brand.id, limit=200)
        if c.sent_at is not None and start <= c.sent_at < end
    ]
    found = [await campaigns.report(brand_id=brand.id, campaign_id=c.id, now=now) for c in sent]
    return first, last, sorted(found, key=lambda r: r.campaign.sent_at or now)


@get("/reports/campaigns", guards=MANAGER)
async def campaigns_page(request: Request, slug: FromPath[str]) -> Template:
    first, last, found = await _campaigns(request)
    lang = lang_of(request)
    compared = [r for r in found if r.comparison is not None]
    labels = {"sent": i18n.gettext(lang, "Sent it"), "holdout": i18n.gettext(lang, "Held out")}
    chart = charts.ranking_chart(
        [r.campaign.name for r in compared],
        {
            "sent": [round(10000 * r.comparison.sent.rate) for r in compared if r.comparison],
            "holdout": [round(10000 * r.comparison.holdout.rate) for r in compared if r.comparison],
        },
        name=i18n.gettext(
            lang, "Purchase rate after each campaign: sent it against held out (figures in the table)"
        ),
        value_label=_rate(request),
        series_labels=labels,
        top=10000,
    )
    return _page(
        request,
        "report_campaigns.html",
        current_tab="campaigns",
        first=first,
        last=last,
        found=found,
        labels=labels,
        chart=_svg(chart) if compared else "",
    )


@get("/reports/campaigns.csv", guards=MANAGER)
async def campaigns_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    first, last, found = await _campaigns(request)

    def row(r: campaigns.Report) -> list[Any]:
        c = r.comparison
        if c is None:
            return [r.campaign.name, r.campaign.sent_at, r.campaign.members, r.campaign.held_out, r.days]
        return [
            r.campaign.name,
            r.campaign.sent_at,
            c.sent.shoppers,
            c.holdout.shoppers,
            r.days,
            round(100 * c.sent.rate, 1),
            round(100 * c.holdout.rate, 1),
            round(100 * c.rate.difference, 1),
            round(100 * c.rate.low, 1),
            round(100 * c.rate.high, 1),
            csvfile.Money(round(c.revenue.difference)),
            csvfile.Money(c.incremental_revenue),
        ]

    header = [
        N_("Campaign"),
        N_("Sent at"),
        N_("Sent it"),
        N_("Held out"),
        N_("Days compared"),
        N_("Bought, sent it (%)"),
        N_("Bought, held out (%)"),
        N_("Difference (points)"),
        N_("Lowest (points)"),
        N_("Highest (points)"),
        N_("Revenue per shopper, difference"),
        N_("Incremental revenue"),
    ]
    return _csv(request, f"campanhas-{slug}-{first}-{last}.csv", header, (row(r) for r in found))


# The reports' tabs: (key, path, label); NPS is the NPS page's own when there is one.
TABS = (
    ("overview", "/reports", N_("Overview")),
    ("shoppers", "/reports/shoppers", N_("Shoppers using cashback")),
    ("benefits", "/reports/benefits", N_("Benefits")),
    ("recurrence", "/reports/recurrence", N_("Recurrence")),
    ("repurchase", "/reports/repurchase", N_("Repurchase")),
    ("products", "/reports/products", N_("Best sellers")),
    ("campaigns", "/reports/campaigns", N_("Campaign return")),
)

routes = [
    reports_page,
    reports_csv,
    close_page,
    close_csv,
    shoppers_page,
    shoppers_csv,
    benefits_page,
    benefits_csv,
    recurrence_page,
    recurrence_csv,
    repurchase_page,
    repurchase_csv,
    products_page,
    products_csv,
    campaigns_page,
    campaigns_csv,
]
