"""The store counter, made for a phone or a tablet at the till: find or register a customer, record a
sale, redeem cashback (quote, then confirm), use a voucher typed or scanned, undo the last action.

Every write goes through the same idempotent domain functions as the API, keyed by an id the form
carries (a double tap records one sale), and is written to the audit log. The audit log is also what
"undo" reads: a clerk may undo their own latest counter action for UNDO_MINUTES after it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno import db
from retorno.admin.common import admin_of, identity_of, items_of, page_context, record_change, requires_role
from retorno.audit import service as audit
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import DomainError, Field, Invalid
from retorno.ledger import balances
from retorno.onboarding import shoppers
from retorno.sales import orders, redemptions
from retorno.sales.requests import SaleIn
from retorno.typed import centavos
from retorno.vouchers import service as vouchers
from retorno.web import error_text, now_of

UNDO_MINUTES = 5
ACTIONS = ("counter.sale", "counter.redeem", "counter.voucher")


class LastAction(msgspec.Struct, frozen=True, kw_only=True):
    """A clerk's latest counter action still within the undo window."""

    id: int
    action: str
    target: str
    after: Any
    until: dt.datetime


async def last_action(request: Request) -> LastAction | None:
    """This clerk's latest counter action at this brand, if it is still within the undo window."""
    admin, now = admin_of(request), now_of(request)
    row = await audit.latest_of(
        brand_id=admin["brand"].id, staff_id=admin["staff"].id, actions=(*ACTIONS, "counter.undo")
    )
    if row is None or row.action == "counter.undo":
        return None
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
    if now - at > dt.timedelta(minutes=UNDO_MINUTES):
        return None
    return LastAction(
        id=row.id,
        action=row.action,
        target=row.target,
        after=row.after,
        until=at + dt.timedelta(minutes=UNDO_MINUTES),
    )


def _keep(request: Request, form: str, data: msgspec.Struct) -> None:
    """What the clerk typed in `form`, shown again in it if the action fails (a total typed at a busy
    till is not to be typed twice)."""
    request.scope["state"]["counter_typed"] = {form: msgspec.structs.asdict(data)}


async def _counter(request: Request, *, status: int = 200, **extra: Any) -> Template:
    typed = request.scope["state"].get("counter_typed") if status >= 400 else None
    return Template(
        "admin/counter.html",
        status_code=status,
        context=page_context(
            request,
            form_id=secrets.token_urlsafe(12),
            last=await last_action(request),
            undo_minutes=UNDO_MINUTES,
            typed=typed or {},
            by=request.query_params.get("by", ""),
            **extra,
        ),
    )


async def _customer_panel(brand: BrandView, customer_id: int, now: dt.datetime) -> dict[str, Any]:
    customer = await customers.get(brand.id, customer_id)
    return {
        "customer": customer,
        "balance": await balances.balance(brand=brand, customer_id=customer_id, now=now),
        "vouchers": [
            v
            for v in await vouchers.of_customer(brand_id=brand.id, customer_id=customer_id, now=now)
            if v.status == "active"
        ],
    }


async def _done(request: Request, customer_id: int, **shown: Any) -> Template:
    """The counter after an action, with the customer's panel as it now is."""
    panel = await _customer_panel(admin_of(request)["brand"], customer_id, now_of(request))
    return await _counter(request, **shown, **panel)


async def _panel_for(request: Request, query: str) -> dict[str, Any]:
    """The customer the clerk is serving, found again from what they typed ({} if none)."""
    if not query.strip():
        return {}
    brand = admin_of(request)["brand"]
    try:
        customer = await customers.lookup(brand.id, customers.normalize(identity_of(query)))
    except DomainError:
        return {}
    return await _customer_panel(brand, customer.id, now_of(request)) if customer else {}


@get("/counter", guards=[requires_role("operator")])
async def counter_page(request: Request, slug: FromPath[str]) -> Template:
    brand, now = admin_of(request)["brand"], now_of(request)
    query = request.query_params.get("q", "").strip()
    if not query:
        return await _counter(request)
    try:
        customer = await customers.lookup(brand.id, customers.normalize(identity_of(query)))
    except Invalid as exc:
        return await _counter(request, status=422, error=error_text(request, exc), q=query)
    if customer is None:
        return await _counter(request, status=404, error="not_found", q=query, register=identity_of(query))
    return await _counter(request, q=query, **await _customer_panel(brand, customer.id, now))


class CustomerForm(msgspec.Struct):
    name: str = ""
    cpf: str = ""
    email: str = ""
    phone: str = ""
    # What the shopper said at the till about messages: recorded as consents from the counter.
    whatsapp_ok: str = ""
    email_ok: str = ""


@post("/counter/customer", guards=[requires_role("operator")], status_code=303)
async def register_customer(
    request: Request, slug: FromPath[str], data: URLEncodedBody[CustomerForm]
) -> Template | Redirect:
    """Register a shopper at the till (or complete one found by any of these details)."""
    brand, now = admin_of(request)["brand"], now_of(request)
    _keep(request, "register", data)
    given = {
        k: v.strip() or None
        for k, v in msgspec.structs.asdict(data).items()
        if k not in ("whatsapp_ok", "email_ok")
    }
    identity = Identity(**given)
    choices = {
        channel: True
        for channel, ticked in (("whatsapp", data.whatsapp_ok), ("email", data.email_ok))
        if ticked
    }

    async def register() -> Any:
        customer, created = await shoppers.register(brand_id=brand.id, identity=identity, now=now)
        if choices:
            await customers.record_consents(brand.id, customer.id, choices, source="counter", now=now)
        if created or choices:  # the shopper, customer.created and the audit record commit together
            after = given | {f"consent_{c}": True for c in choices}
            await record_change(request, action="counter.customer", target=str(customer.id), after=after)
        return customer

    try:
        customer = await db.write(register)
    except DomainError as exc:
        return await _counter(
            request, status=exc.status_code, error=error_text(request, exc), register=identity
        )
    q = customer.cpf or customer.email or customer.phone or ""  # a phone's "+" must stay a "+"
    return Redirect(
        f"/admin/b/{slug}/counter?q={quote(q, safe='')}&registered=1#counter-result", status_code=303
    )


class SaleForm(msgspec.Struct):
    form_id: str
    customer: str
    total: str
    items: str = ""
    q: str = ""


@post("/counter/sale", guards=[requires_role("operator")], status_code=200)
async def counter_sale(request: Request, slug: FromPath[str], data: URLEncodedBody[SaleForm]) -> Template:
    """Record a sale at the till, idempotent by the form's id (a double tap records one sale)."""
    brand, now = admin_of(request)["brand"], now_of(request)
    _keep(request, "sale", data)
    try:
        total = centavos(data.total)
        sale = SaleIn(
            order_id=f"balcao-{data.form_id}",
            customer=identity_of(data.customer),
            total=total,
            items=items_of(data.items, total),
            channel="counter",
        )

        async def record() -> orders.SaleAnswer:
            body, created = await orders.record(brand=brand, sale=sale, now=now)
            if created:  # not a double tap: the audit record (which undo reads) in the sale's transaction
                after = {
                    "total": total,
                    "cashback": body.cashback.amount,
                    "customer_id": body.customer_id,
                }
                await record_change(request, action="counter.sale", target=sale.order_id, after=after)
            return body

        body = await db.write(record)
    except DomainError as exc:
        panel = await _panel_for(request, data.q)
        return await _counter(
            request, status=exc.status_code, error=error_text(request, exc), q=data.q, **panel
        )
    return await _done(request, body.customer_id, q=data.q or data.customer, recorded=body)


class RedeemForm(msgspec.Struct):
    form_id: str
    customer: str
    order_total: str
    amount: str = ""
    action: str = "quote"  # quote | confirm
    q: str = ""


@post("/counter/redeem", guards=[requires_role("operator")], status_code=200)
async def counter_redeem(request: Request, slug: FromPath[str], data: URLEncodedBody[RedeemForm]) -> Template:
    """Pay part of an order with cashback: first the quote (how much may be used on this order), then
    the confirmation, idempotent by the form's id (the quote keeps it)."""
    brand, now = admin_of(request)["brand"], now_of(request)
    _keep(request, "redeem", data)
    panel = await _panel_for(request, data.q or data.customer)
    try:
        identity = identity_of(data.customer)
        total = centavos(data.order_total)
        quote = await redemptions.quote(brand=brand, identity=identity, total=total, now=now)
        if quote.customer_id is None:
            raise Invalid("%(field)s: no customer with these details", field=Field("customer"))
        if data.action != "confirm":
            form = {"form_id": data.form_id, "customer": data.customer, "order_total": data.order_total}
            return await _counter(request, q=data.q, quote=quote, quote_form=form, **panel)
        redemption = redemptions.RedemptionIn(
            redemption_id=f"balcao-{data.form_id}",
            order_id=f"balcao-{data.form_id}",
            customer=identity,
            order_total=total,
            amount=centavos(data.amount),
        )

        async def redeem() -> redemptions.RedemptionAnswer:
            body, created = await redemptions.redeem(brand=brand, request=redemption, now=now)
            if created:
                after = {
                    "amount": redemption.amount,
                    "order_total": total,
                    "customer_id": quote.customer_id,
                }
                await record_change(
                    request, action="counter.redeem", target=redemption.redemption_id, after=after
                )
            return body

        body = await db.write(redeem)
    except DomainError as exc:
        return await _counter(
            request, status=exc.status_code, error=error_text(request, exc), q=data.q, **panel
        )
    return await _done(request, quote.customer_id, q=data.q or data.customer, redeemed=body)


class VoucherForm(msgspec.Struct):
    form_id: str
    code: str
    order_total: str
    action: str = "use"  # check | use
    q: str = ""


@post("/counter/voucher", guards=[requires_role("operator")], status_code=200)
async def counter_voucher(
    request: Request, slug: FromPath[str], data: URLEncodedBody[VoucherForm]
) -> Template:
    """Validate and redeem a voucher typed or scanned at the till, or a public coupon for the
    shopper being served (idempotent by the form's id)."""
    brand, now = admin_of(request)["brand"], now_of(request)
    _keep(request, "voucher", data)
    panel = await _panel_for(request, data.q)
    serving = panel["customer"].id if panel else None  # the shopper a coupon is used by
    try:
        total = centavos(data.order_total)
        if data.action == "check":  # whether it applies and how much it takes off; nothing changes
            check = await vouchers.validate(
                brand=brand, code=data.code, order_total=total, identity=None, customer_id=serving, now=now
            )
            form = {"form_id": data.form_id, "code": check.code, "order_total": data.order_total}
            return await _counter(request, q=data.q, voucher_check=check, voucher_form=form, **panel)

        async def use() -> vouchers.VoucherUsed:
            used, created = await vouchers.redeem(
                brand=brand,
                code=data.code,
                order_id=f"balcao-{data.form_id}",
                order_total=total,
                customer_id=serving,
                now=now,
            )
            if created:
                await record_change(request, action="counter.voucher", target=used.code, after=used)
            return used

        used = await db.write(use)
    except DomainError as exc:
        reason = getattr(exc, "reason", None)
        status = 422 if exc.status_code == 404 else exc.status_code  # an unknown code, not a missing page
        return await _counter(
            request, status=status, error=error_text(request, exc), reason=reason, q=data.q, **panel
        )
    return await _counter(request, q=data.q, voucher_used=used, **await _panel_for(request, data.q))


class UndoForm(msgspec.Struct):
    event: int
    q: str = ""


@post("/counter/undo", guards=[requires_role("operator")], status_code=200)
async def counter_undo(request: Request, slug: FromPath[str], data: URLEncodedBody[UndoForm]) -> Template:
    """Undo this clerk's latest counter action within UNDO_MINUTES: the sale is cancelled (its
    cashback reversed), the redemption cancelled (the cashback goes back), the voucher released.
    A second click finds nothing left to undo and changes nothing."""
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]

    async def undo() -> LastAction | None:
        # One undo at a time per clerk (two taps, two tabs): the latest action is read under a lock
        # on the clerk's row, and the undo and its record commit together.
        await db.lock_row("staff", admin["staff"].id)
        last = await last_action(request)
        if last is None or last.id != data.event:
            return None
        target, after = last.target, last.after
        if last.action == "counter.sale":
            await orders.cancel(brand=brand, order_id=target, now=now)
        elif last.action == "counter.redeem":
            await redemptions.cancel(brand=brand, redemption_id=target, now=now)
        else:
            await vouchers.release(brand=brand, code=target, order_id=after["order_id"], now=now)
        await record_change(
            request, action="counter.undo", target=str(last.id), before={"action": last.action, **after}
        )
        return last

    last = await db.write(undo)
    if last is None:
        panel = await _panel_for(request, data.q)
        return await _counter(request, status=409, error="undo_expired", q=data.q, **panel)
    panel = await _panel_for(request, data.q)
    return await _counter(request, q=data.q, undone=last, **panel)


routes = [
    counter_page,
    register_customer,
    counter_sale,
    counter_redeem,
    counter_voucher,
    counter_undo,
]
