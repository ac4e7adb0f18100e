"""Rules (owner, manager): the brand pack's rule sections as forms, and a simulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno.admin.common import (
    admin_of,
    centavos,
    items_of,
    now_of,
    page_context,
    record_change,
    requires_role,
    when_of,
)
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.errors import Invalid

RULE_SECTIONS = ("cashback", "redemption", "vouchers", "referral", "notifications")


def _rules_toml(pack: Any) -> str:
    import tomli_w

    from retorno.brands.pack import to_toml

    doc = to_toml(pack)
    return tomli_w.dumps({k: doc[k] for k in RULE_SECTIONS if k in doc})


def _pack_with_rules(current: Any, text: str) -> Any:
    """The pack with its rule sections replaced by `text` (TOML), read back through every check."""
    import tomllib

    from retorno.brands.pack import check_edited, to_toml

    try:
        sections = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"rules: not TOML ({exc})") from None
    unknown = set(sections) - set(RULE_SECTIONS)
    if unknown:
        raise Invalid(f"rules: unknown section {sorted(unknown)[0]!r}; sections: {', '.join(RULE_SECTIONS)}")
    doc = {k: v for k, v in to_toml(current).items() if k not in RULE_SECTIONS} | sections
    return check_edited(doc, base=current)


class SimulationForm(msgspec.Struct):
    total: str
    items: str = ""  # one line per item: "<category> <amount>"
    segment: str = ""
    at: str = ""
    available: str = "0"


def simulate(brand: BrandView, form: SimulationForm, now: dt.datetime) -> dict[str, Any]:
    """What an order would earn (with its breakdown), the vouchers it would issue and how much of it
    a shopper holding `available` could pay with cashback."""
    from retorno.ledger import rules as ledger_rules

    total = centavos(form.total)
    items = items_of(form.items, total)
    at = when_of(form.at, brand) if form.at.strip() else now
    rules = brand.rules()
    earning = ledger_rules.earn(
        rules.cashback, items=items, total=total, shipping=0, segment=form.segment.strip(), at=at
    )
    available = centavos(form.available) if form.available.strip() not in ("", "0") else 0
    return {
        "earning": earning,
        "vouchers": [v for v in rules.vouchers if total >= v.min_purchase],
        "redeemable": ledger_rules.redeemable(rules.redemption, order_total=total, available=available),
        "available": available,
    }


@get("/rules", guards=[requires_role("manager")])
async def rules_page(request: Request, slug: FromPath[str]) -> Template:
    text = _rules_toml(await brands.export_pack(slug))
    return Template("admin/rules.html", context=page_context(request, rules_text=text))


@post("/rules", guards=[requires_role("manager")], status_code=303)
async def save_rules(request: Request, slug: FromPath[str]) -> Any:
    now = now_of(request)
    form = await request.form()
    text = str(form.get("rules", ""))
    current = await brands.export_pack(slug)
    try:
        pack = _pack_with_rules(current, text)
        await brands.import_pack(pack, base_host=request.app.settings.base_host, now=now)
    except Invalid as exc:
        context = page_context(request, rules_text=text, error=exc.problems)
        return Template("admin/rules.html", status_code=422, context=context)
    await record_change(
        request, action="brand.rules", target=slug, before=_rules_toml(current), after=_rules_toml(pack)
    )
    return Redirect(f"/admin/b/{slug}/rules", status_code=303)


@post("/rules/simulate", guards=[requires_role("manager")], status_code=200)
async def simulate_order(
    request: Request, slug: FromPath[str], data: URLEncodedBody[SimulationForm]
) -> Template:
    admin = admin_of(request)
    text = _rules_toml(await brands.export_pack(slug))
    try:
        result = simulate(admin["brand"], data, now_of(request))
    except Invalid as exc:
        context = page_context(request, rules_text=text, sim=data, sim_error=exc.detail)
        return Template("admin/rules.html", status_code=422, context=context)
    return Template(
        "admin/rules.html", context=page_context(request, rules_text=text, sim=data, result=result)
    )


routes = [rules_page, save_rules, simulate_order]
