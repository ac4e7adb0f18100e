"""Public coupons (manager and up): codes any shopper may use (BEMVINDA10), with their limits, and
how much each has been used; the counter and the API use them as they use vouchers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import Field, Invalid
from retorno.typed import as_typed, centavos, dotted_reais
from retorno.vouchers import coupons
from retorno.vouchers.coupons import CouponDraft, CouponView
from retorno.web import error_text, now_of

MANAGER = [requires_role("manager")]
FIELDS = (
    "code", "description", "kind", "value", "min_order", "starts", "ends", "max_uses", "per_customer",
)  # fmt: skip


def _typed(form: Any) -> dict[str, Any]:
    """What the manager typed, as typed (shown again on an error)."""
    typed: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in FIELDS}
    typed["categories"] = [str(c) for c in form.getall("categories", [])] if hasattr(form, "getall") else []
    typed["first_purchase_only"] = bool(form.get("first_purchase_only"))
    typed["active"] = bool(form.get("active")) if "active_shown" in form else True
    return typed


def _typed_of(coupon: CouponView, tz: str) -> dict[str, Any]:
    """A saved coupon as its form shows it: reais, a percentage, days in the brand's zone."""
    zone = zoneinfo.ZoneInfo(tz)
    percent = coupon.percent_bp / 100 if coupon.percent_bp is not None else None
    ends = (
        (dt.datetime.fromisoformat(coupon.ends_at).astimezone(zone) - dt.timedelta(seconds=1))
        .date()
        .isoformat()
        if coupon.ends_at
        else ""
    )
    return {
        "code": coupon.code,
        "description": coupon.description,
        "kind": "amount" if coupon.amount is not None else "percent",
        "value": as_typed(coupon.amount) if coupon.amount is not None else f"{percent:g}".replace(".", ","),
        "min_order": as_typed(coupon.min_order) if coupon.min_order else "",
        "starts": dt.datetime.fromisoformat(coupon.starts_at).astimezone(zone).date().isoformat(),
        "ends": ends,
        "max_uses": str(coupon.max_uses or ""),
        "per_customer": str(coupon.per_customer),
        "categories": coupon.categories,
        "first_purchase_only": coupon.first_purchase_only,
        "active": coupon.active,
    }


def _money(text: str, field: str, *, zero: bool = False) -> int:
    if zero and text in ("", "0", "0,00"):
        return 0
    try:
        return centavos(text)
    except Invalid:
        raise Invalid("%(field)s: an amount in reais, such as 10,00", field=Field(field)) from None


def _whole(text: str, field: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise Invalid("%(field)s: a whole number", field=Field(field))
    return int(text)


def _day(text: str, field: Field, tz: str, *, end: bool = False) -> dt.datetime | None:
    """A day in the brand's zone: from its first moment, or (an end) up to its last."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid("%(field)s: a date", field=field) from None
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(0), zoneinfo.ZoneInfo(tz))
    return start.astimezone(dt.UTC)


def _draft(typed: dict[str, Any], tz: str) -> CouponDraft:
    amount = percent_bp = None
    if typed["kind"] == "percent":
        try:
            percent = Decimal(dotted_reais(typed["value"]))
        except InvalidOperation:
            raise Invalid("%(field)s: a percentage, such as 10 or 12,5", field=Field("percent")) from None
        if percent != percent.quantize(Decimal("0.01")):
            raise Invalid("%(field)s: at most two decimal places", field=Field("percent"))
        percent_bp = int(percent * 100)
    else:
        amount = _money(typed["value"], "amount")
    return CouponDraft(
        code=typed["code"],
        description=typed["description"],
        amount=amount,
        percent_bp=percent_bp,
        min_order=_money(typed["min_order"], "min_order", zero=True),
        starts_at=_day(typed["starts"], Field("starts_at"), tz),
        ends_at=_day(typed["ends"], Field("ends_at"), tz, end=True),
        max_uses=_whole(typed["max_uses"], "max_uses"),
        per_customer=_whole(typed["per_customer"], "per_customer") or 1,
        first_purchase_only=typed["first_purchase_only"],
        categories=typed["categories"],
        active=typed["active"],
    )


def _categories(brand: Any, chosen: list[str]) -> list[str]:
    """The categories a manager may pick: those the brand's cashback rules and campaigns name, and
    any the coupon has already."""
    cashback = brand.rules().cashback
    named = set(cashback.categories) | {c for campaign in cashback.campaigns for c in campaign.categories}
    return sorted(named | set(chosen))


async def _page(request: Request, status: int = 200, **extra: Any) -> Template:
    brand, now = admin_of(request)["brand"], now_of(request)
    template = extra.pop("template", "admin/coupons.html")
    blank = {key: "" for key in FIELDS} | {
        "kind": "amount",
        "per_customer": "1",
        "categories": [],
        "first_purchase_only": False,
        "active": True,
    }
    every = await coupons.of_brand(brand.id, now)
    context = page_context(
        request,
        coupons=every,
        # The end is stored as the first moment after the last day: the list shows the last day.
        last_days={
            c.code: dt.datetime.fromisoformat(c.ends_at) - dt.timedelta(seconds=1) for c in every if c.ends_at
        },
        categories=_categories(brand, extra.get("typed", blank)["categories"]),
        typed=extra.pop("typed", blank),
        **extra,
    )
    return Template(template, status_code=status, context=context)


@get("/coupons", guards=MANAGER)
async def coupons_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@post("/coupons", guards=MANAGER, status_code=303)
async def create_coupon(request: Request, slug: FromPath[str]) -> Template | Redirect:
    brand, now = admin_of(request)["brand"], now_of(request)
    typed = _typed(await request.form())
    try:
        draft = _draft(typed, brand.timezone)
        saved = await audited(
            request,
            lambda: coupons.save(brand_id=brand.id, draft=draft, now=now),
            action="coupon.create",
            target=coupons.normalize_code(typed["code"]),
            after={k: v for k, v in typed.items() if k != "description"},
        )
    except Invalid as exc:
        return await _page(request, status=422, typed=typed, error=error_text(request, exc))
    return Redirect(f"/admin/b/{slug}/coupons/{saved.code}?done=saved", status_code=303)


@get("/coupons/{code:str}", guards=MANAGER)
async def coupon_page(request: Request, slug: FromPath[str], code: FromPath[str]) -> Template:
    brand, now = admin_of(request)["brand"], now_of(request)
    coupon = await coupons.get(brand.id, code, now)  # 404 for another brand's code too
    return await _page(
        request, template="admin/coupon.html", coupon=coupon, typed=_typed_of(coupon, brand.timezone)
    )


@post("/coupons/{code:str}", guards=MANAGER, status_code=303)
async def update_coupon(request: Request, slug: FromPath[str], code: FromPath[str]) -> Template | Redirect:
    brand, now = admin_of(request)["brand"], now_of(request)
    coupon = await coupons.get(brand.id, code, now)
    typed = _typed(await request.form())
    try:
        draft = _draft(typed, brand.timezone)
        saved = await audited(
            request,
            lambda: coupons.save(brand_id=brand.id, draft=draft, now=now, code=coupon.code),
            action="coupon.update",
            target=coupon.code,
            before=_typed_of(coupon, brand.timezone),
            after={k: v for k, v in typed.items() if k != "description"},
        )
    except Invalid as exc:
        return await _page(
            request,
            status=422,
            template="admin/coupon.html",
            coupon=coupon,
            typed=typed,
            error=error_text(request, exc),
        )
    return Redirect(f"/admin/b/{slug}/coupons/{saved.code}?done=saved", status_code=303)


routes = [coupons_page, create_coupon, coupon_page, update_coupon]
