"""The shopper's points: the balance, the rewards catalogue and what they redeemed from it (a
voucher or a pick-up code with its QR code), and the points' own statement. Every page works
without JavaScript; a form carries a token, so sending it twice redeems once."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from retorno import i18n
from retorno.brands.service import BrandView
from retorno.ledger import balances, posting
from retorno.points import service as points
from retorno.portal.rewards import qr_svg
from retorno.portal.routes import page_context, private_router
from retorno.signin.guards import requires_customer, signed_in_customer
from retorno.vouchers.service import grouped
from retorno.web import RowId, brand_required, error_text, lang_of, now_of

SIGNED_IN = [requires_customer]


def _line(entry: balances.StatementLine, *, lang: str, brand: BrandView) -> dict[str, Any]:
    """A movement of points as the page lists it: what, how many, when, and a credit's status."""
    when = lambda value: i18n.date(value, lang=lang, tz=brand.timezone)  # noqa: E731
    status = ""
    if entry.status == "pending" and isinstance(entry.available_at, dt.datetime):
        status = i18n.gettext(lang, "pending until %(date)s") % {"date": when(entry.available_at)}
    elif entry.status == "available" and isinstance(entry.expires_at, dt.datetime):
        status = i18n.gettext(lang, "available until %(date)s") % {"date": when(entry.expires_at)}
    elif entry.status == "expired":
        status = i18n.gettext(lang, "expired")
    title = i18n.gettext(lang, "points:" + entry.kind)
    note = entry.note if isinstance(entry.note, str) else ""
    return {
        "kind": entry.kind,
        "title": f"{title} · {note}" if note and entry.kind in ("reward", "reward_cancel") else title,
        "amount": entry.amount,
        "occurred_at": entry.occurred_at,
        "status_text": status,
        "order_id": entry.order_id,
    }


async def _context(request: Request, **extra: object) -> dict[str, object]:
    brand, customer_id, now = brand_required(request), await signed_in_customer(request), now_of(request)
    if not brand.rules().earns_points:
        raise NotFoundException()
    balance = await points.balance(brand=brand, customer_id=customer_id, now=now)
    catalogue = await points.of_brand(brand.id, enabled_only=True, customer_id=customer_id)
    mine = await points.redemptions(brand.id, customer_id=customer_id, limit=10)
    entries, _ = await balances.statement(
        brand_id=brand.id, customer_id=customer_id, now=now, limit=10, unit=posting.POINTS
    )
    pending_until = await balances.next_available(
        brand_id=brand.id, customer_id=customer_id, now=now, unit=posting.POINTS
    )
    return page_context(
        request,
        balance=balance,
        pending_until=pending_until,
        catalogue=catalogue,
        mine=[r for r in mine if r.state != "undone"],
        lines=[_line(e, lang=lang_of(request), brand=brand) for e in entries],
        key=secrets.token_urlsafe(16),
        back="/",
        **extra,
    )


@get("/points", guards=SIGNED_IN)
async def points_page(request: Request) -> Template:
    return Template("portal/points.html", context=await _context(request))


@post("/points/rewards/{reward_id:int}", guards=SIGNED_IN, status_code=303)
async def redeem(request: Request, reward_id: RowId) -> Template | Redirect:
    """Exchange points for a reward; then its page (with the QR code), or the catalogue saying why not."""
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    if not brand.rules().earns_points:
        raise NotFoundException()
    form = await request.form()
    try:
        done = await points.redeem(
            brand=brand,
            customer_id=customer_id,
            reward_id=reward_id,
            request_key=str(form.get("key", "")),
            now=now_of(request),
        )
    except points.RewardRefused as refused:
        context = await _context(request, error=error_text(request, refused), refused=reward_id)
        return Template("portal/points.html", context=context, status_code=refused.status_code)
    return Redirect(f"/points/redeemed/{done.redemption_id}", status_code=303)


@get("/points/redeemed/{redemption_id:int}", guards=SIGNED_IN)
async def redeemed_page(request: Request, redemption_id: RowId) -> Template:
    """One redemption: the voucher or the pick-up code to show at the till, or the cashback credited."""
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    found = [
        r
        for r in await points.redemptions(brand.id, customer_id=customer_id, limit=200)
        if r.id == redemption_id
    ]
    if not found:
        raise NotFoundException()
    done = found[0]
    code = grouped(done.code) if done.code else ""
    context = page_context(
        request,
        done=done,
        code=code,
        qr=qr_svg(code) if code else None,
        back="/points",
        tab="home",
        tab_page=False,
    )
    return Template("portal/points_redeemed.html", context=context)


router = private_router(points_page, redeem, redeemed_page)
