"""NPS (manager and up): a period's score (promoters less detractors), its answers and response
rate, the trend by month as an SVG chart, the split by sales channel, the comments with the shopper
and the purchase they followed, a CSV of every answer; and the survey's settings (on or off, days
after a purchase, how often a shopper at most), audited, with Portuguese errors beside each field."""

from __future__ import annotations

import zoneinfo

from babel.dates import format_skeleton
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from markupsafe import Markup

from retorno import csvfile, i18n
from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import N_
from retorno.nps import service as nps
from retorno.reports import charts
from retorno.web import error_text, lang_of, now_of

MANAGER = [requires_role("manager")]
KINDS = ("promoters", "passives", "detractors")
KIND_LABELS = {
    "promoters": N_("Promoters (9-10)"),
    "passives": N_("Passives (7-8)"),
    "detractors": N_("Detractors (0-6)"),
}
CSV_HEADER = (
    N_("Answered at"),
    N_("Score"),
    N_("Group"),
    N_("Comment"),
    N_("Customer"),
    N_("E-mail"),
    N_("Order"),
    N_("Purchase date"),
    N_("Total"),
    N_("Channel"),
)


async def _summary(request: Request) -> nps.Summary:
    brand, now = admin_of(request)["brand"], now_of(request)
    today = now.astimezone(zoneinfo.ZoneInfo(brand.timezone)).date()
    first, last = nps.period(request.query_params.get("start"), request.query_params.get("end"), today=today)
    return await nps.summary(brand=brand, first=first, last=last)


def _chart(request: Request, summary: nps.Summary) -> Markup:
    """The months' shares of promoters, passives and detractors as grouped bars (a percentage is
    drawn as hundredths, the unit the chart's round steps are in)."""
    lang = lang_of(request)
    locale = i18n.babel_locale(lang)
    chart = charts.bar_chart(
        [m.first for m in summary.months],
        {k: [m.split.share(k) * 100 for m in summary.months] for k in KINDS},
        name=i18n.gettext(
            lang, "Share of promoters, passives and detractors per month (figures in the table)"
        ),
        value_label=lambda v: f"{v // 100}%",
        day_label=lambda d: format_skeleton("MMMyy", d, locale=locale),
        series_labels={k: i18n.gettext(lang, KIND_LABELS[k]) for k in KINDS},
    )
    return Markup(chart)  # noqa: S704 - the chart escapes its labels


async def _page(request: Request, *, status: int = 200, **extra: object) -> Template:
    brand = admin_of(request)["brand"]
    summary = await _summary(request)
    comments = await nps.answers(
        brand=brand, first=summary.first, last=summary.last, with_comment=True, limit=50
    )
    context = page_context(
        request,
        summary=summary,
        chart=_chart(request, summary),
        comments=comments,
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        kind_of=nps.kind_of,
        **{"settings": await nps.settings_of(brand.id), "field_errors": {}, "summary_errors": [], "typed": {}}
        | extra,
    )
    return Template("admin/nps.html", status_code=status, context=context)


@get("/nps", guards=MANAGER)
async def nps_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@get("/nps.csv", guards=MANAGER)
async def nps_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """Every answer of the period, with the shopper and the purchase (CSV cells guarded against
    formulas: a comment is the shopper's own text)."""
    brand, lang = admin_of(request)["brand"], lang_of(request)
    summary = await _summary(request)
    rows = await nps.answers(brand=brand, first=summary.first, last=summary.last)
    body = csvfile.write(
        [i18n.gettext(lang, h) for h in CSV_HEADER],
        (
            [
                r.answered_at,
                r.score,
                i18n.gettext(lang, KIND_LABELS[nps.kind_of(r.score)]),
                r.comment,
                r.name,
                r.email,
                r.order_id,
                r.occurred_at,
                csvfile.Money(r.total),
                r.channel,
            ]
            for r in rows
        ),
        lang=lang,
        tz=brand.timezone,
    )
    name = f"nps-{slug}-{summary.first}-{summary.last}.csv"
    return Response(
        body, media_type="text/csv", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


@post("/nps/settings", guards=MANAGER, status_code=303)
async def save_settings(request: Request, slug: FromPath[str]) -> Template | Redirect:
    brand, lang = admin_of(request)["brand"], lang_of(request)
    form = await request.form()
    typed = {k: str(form.get(k, "")) for k in ("delay_days", "period_days")}
    enabled = form.get("enabled") == "1"
    try:
        checked = nps.check_settings(enabled=enabled, **typed)
    except nps.SettingsInvalid as exc:
        problems = exc.each
        by_field: dict[str, str] = {}
        lines: list[tuple[str, str]] = []
        for problem in problems:
            key = str(problem.params.get("field", ""))
            text = error_text(request, problem)
            by_field.setdefault(key, text)
            lines.append((key, text))
        return await _page(
            request,
            status=422,
            field_errors=by_field,
            summary_errors=lines,
            typed=typed | {"enabled": enabled},
        )
    before = await nps.settings_of(brand.id)
    await audited(
        request,
        lambda: nps.save_settings(brand_id=brand.id, settings=checked, now=now_of(request)),
        action="nps.settings",
        target=i18n.gettext(lang, "NPS survey"),
        before={
            "enabled": before.enabled,
            "delay_days": before.delay_days,
            "period_days": before.period_days,
        },
        after={
            "enabled": checked.enabled,
            "delay_days": checked.delay_days,
            "period_days": checked.period_days,
        },
    )
    return Redirect(f"/admin/b/{slug}/nps?done=saved#nps-settings", status_code=303)


routes = [nps_page, nps_csv, save_settings]
