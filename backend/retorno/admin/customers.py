"""Customers (manager and up): search, a customer's page, manual adjustments, the referral review
queue."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno import db
from retorno.admin.common import admin_of, audited, page_context, record_change, requires_role
from retorno.admin.messages import CHANNEL_NAMES, REASONS, STATES
from retorno.customers import service as customers
from retorno.errors import Invalid, NotFound
from retorno.ledger import balances, posting
from retorno.messages import service as messages
from retorno.messages import texts
from retorno.points import service as catalogue
from retorno.push import service as push
from retorno.referrals import service as referrals
from retorno.sales import adjustments, rewards
from retorno.typed import centavos
from retorno.vouchers import service as vouchers
from retorno.web import RowId, error_text, now_of


@get("/customers", guards=[requires_role("manager")])
async def customers_page(request: Request, slug: FromPath[str]) -> Template:
    brand = admin_of(request)["brand"]
    query = request.query_params.get("q", "").strip()
    found = await customers.search(brand.id, query) if query else []
    return Template("admin/customers.html", context=page_context(request, q=query, found=found))


async def _customer_context(request: Request, customer_id: int, **extra: Any) -> dict[str, Any]:

    brand, now = admin_of(request)["brand"], now_of(request)
    customer = await customers.get(brand.id, customer_id)  # another brand's customer: 404
    cursor = request.query_params.get("after") or None
    try:
        entries, older = await balances.statement(
            brand_id=brand.id, customer_id=customer_id, now=now, limit=30, cursor=cursor
        )
    except Invalid:  # a cursor that is not ours: the newest page
        entries, older = await balances.statement(
            brand_id=brand.id, customer_id=customer_id, now=now, limit=30
        )
    return page_context(
        request,
        customer=customer,
        cpf=f"***.{customer.cpf[3:6]}.***-**" if customer.cpf else None,
        balance=await balances.balance(brand=brand, customer_id=customer_id, now=now),
        points=await balances.balance(brand=brand, customer_id=customer_id, now=now, unit=posting.POINTS)
        if brand.rules().earns_points
        else None,
        exchanges=await catalogue.redemptions(brand.id, customer_id=customer_id, limit=20),
        entries=entries,
        older=older,
        vouchers=await vouchers.of_customer(brand_id=brand.id, customer_id=customer_id, now=now),
        friends=await referrals.of_referrer(brand_id=brand.id, customer_id=customer_id),
        devices=await push.devices_of(brand.id, customer_id),
        consents=await customers.channel_consents(brand.id, customer_id),
        consent_sources=customers.SOURCE_LABELS,
        sent=await messages.of_customer(brand_id=brand.id, customer_id=customer_id),
        states=STATES,
        reasons=REASONS,
        channel_names=CHANNEL_NAMES,
        labels={kind: spec.label for kind, spec in texts.AUTOMATIONS.items()},
        **extra,
    )


@get("/customers/{customer_id:int}", guards=[requires_role("manager")])
async def customer_page(request: Request, slug: FromPath[str], customer_id: RowId) -> Template:
    return Template("admin/customer.html", context=await _customer_context(request, customer_id))


class AdjustForm(msgspec.Struct):
    amount: str
    reason: str = ""


@post("/customers/{customer_id:int}/adjust", guards=[requires_role("manager")], status_code=303)
async def adjust_balance(
    request: Request, slug: FromPath[str], customer_id: RowId, data: URLEncodedBody[AdjustForm]
) -> Template | Redirect:
    """A manual adjustment with a mandatory reason, in the ledger and in the audit log."""
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    await customers.get(brand.id, customer_id)
    try:
        text = data.amount.strip()
        negative = text.startswith("-")
        amount = centavos(text.lstrip("-").strip()) * (-1 if negative else 1)
        before = await balances.balance(brand=brand, customer_id=customer_id, now=now)
        await audited(
            request,
            lambda: adjustments.adjust(
                brand=brand, customer_id=customer_id, amount=amount, reason=data.reason, now=now
            ),
            action="customer.adjust",
            target=str(customer_id),
            before={"available": before.available},
            after={"amount": amount, "reason": data.reason.strip()[:200]},
        )
    except Invalid as exc:
        context = await _customer_context(request, customer_id, error=error_text(request, exc))
        return Template("admin/customer.html", status_code=422, context=context | {"typed": data})
    return Redirect(f"/admin/b/{slug}/customers/{customer_id}?done=adjusted", status_code=303)


@get("/referrals", guards=[requires_role("manager")])
async def referral_queue(request: Request, slug: FromPath[str]) -> Template:
    """Referrals held for review (same device as the inviter, over the monthly cap)."""
    rows = await referrals.review_queue(brand_id=admin_of(request)["brand"].id)
    return Template("admin/referrals.html", context=page_context(request, queue=rows))


@post("/referrals/{referral_id:int}/{decision:str}", guards=[requires_role("manager")], status_code=303)
async def review_referral(
    request: Request, slug: FromPath[str], referral_id: RowId, decision: FromPath[str]
) -> Redirect:

    if decision not in ("approve", "reject"):
        raise NotFound("no such decision")
    admin, now = admin_of(request), now_of(request)
    status = await referrals.status_of(brand_id=admin["brand"].id, referral_id=referral_id)
    if status is None:
        raise NotFound("no such referral")
    if status != "review":  # decided already (a second click): nothing changes
        return Redirect(f"/admin/b/{slug}/referrals", status_code=303)

    async def decide() -> None:
        status = await rewards.review(
            brand=admin["brand"], referral_id=referral_id, approve=decision == "approve", now=now
        )
        await record_change(
            request,
            action=f"referral.{decision}",
            target=str(referral_id),
            before={"status": "review"},
            after={"status": status},
        )

    await db.write(decide)
    done = "approved" if decision == "approve" else "rejected"
    return Redirect(f"/admin/b/{slug}/referrals?done={done}", status_code=303)


routes = [customers_page, customer_page, adjust_balance, referral_queue, review_referral]
