"""A brand in the admin, under /admin/b/<slug>: today's figures, the store counter, API keys, the
audit log. Every route names the role it needs; a staff member with no role at that brand gets a
404 (another brand's objects do not exist for them), one whose role is too low a 403.

Every write at the counter goes through the same idempotent domain functions as the API, keyed by
an id the form carries (a double tap records one sale), and is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno import db
from retorno.apikeys import service as apikeys
from retorno.audit import service as audit
from retorno.auth import service as auth
from retorno.auth.guards import Forbidden, requires_staff, session_of
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import DomainError, Invalid, NotFound
from retorno.ledger import service as ledger
from retorno.platform.routes import requires_platform_host
from retorno.vouchers import service as vouchers
from retorno.web import lang_of


def requires_role(role: str):
    """A guard: the signed-in staff member holds `role` (or a higher one) at the brand in the path."""

    async def guard(connection: ASGIConnection, _: Any) -> None:
        await requires_staff()(connection, _)
        session = await session_of(connection)
        member = await auth.staff_member(session["staff"])
        slug = connection.path_params.get("slug", "")
        held = next((r["role"] for r in member["roles"] if r["slug"] == slug), None)
        if held is None and not member["platform_admin"]:
            raise NotFound("no such brand")
        try:
            brand = await brands.get_brand(slug)
        except NotFound:
            raise NotFound("no such brand") from None
        if not member["platform_admin"] and not auth.role_allows(held, role):
            raise Forbidden("Your role does not allow this page.")
        connection.scope["state"]["admin"] = {"brand": brand, "staff": member, "role": held or "owner"}

    return guard


def _admin(request: Request) -> dict[str, Any]:
    return request.scope["state"]["admin"]


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    admin = _admin(request)
    return {"brand": None, "lang": lang_of(request), "b": admin["brand"], "role": admin["role"], **extra}


def _now(request: Request) -> dt.datetime:
    return request.app.state.clock()


async def _audit(request: Request, action: str, **change: Any) -> None:
    """Write what this staff member just changed at this brand to the audit log."""
    admin = _admin(request)
    await db.write(
        lambda: audit.record(
            brand_id=admin["brand"].id,
            staff_id=admin["staff"]["id"],
            action=action,
            now=_now(request),
            **change,
        )
    )


async def figures(brand: BrandView, now: dt.datetime) -> dict[str, int]:
    """Today's key figures (the brand's calendar day) and what the brand owes its shoppers."""
    import zoneinfo

    local = now.astimezone(zoneinfo.ZoneInfo(brand.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    sales = await db.fetch(
        "SELECT COUNT(*) AS n, COALESCE(SUM(total), 0) AS total, COALESCE(SUM(cashback), 0) AS cashback "
        "FROM sales WHERE brand = {} AND occurred_at >= {} AND cancelled_at IS NULL",
        brand.id,
        start,
    )
    owed = await db.fetch(
        "SELECT COALESCE(SUM(remaining), 0) AS owed FROM ledger_lots WHERE brand = {} "
        "AND (expires_at IS NULL OR expires_at > {})",
        brand.id,
        now,
    )
    shoppers = await db.fetch(
        "SELECT COUNT(*) AS n FROM customers WHERE brand = {} AND forgotten_at IS NULL", brand.id
    )
    return {
        "sales": sales[0]["n"],
        "revenue": sales[0]["total"],
        "cashback": sales[0]["cashback"],
        "owed": owed[0]["owed"],
        "shoppers": shoppers[0]["n"],
    }


@get("/", guards=[requires_role("operator")])
async def brand_home(request: Request, slug: FromPath[str]) -> Template:
    admin = _admin(request)
    return Template(
        "admin/brand_home.html",
        context=_context(request, figures=await figures(admin["brand"], _now(request))),
    )


# --- the counter --------------------------------------------------------------------------------


def _identity(text: str) -> Identity:
    """What the clerk typed: an e-mail, a CPF (11 digits) or a phone."""
    text = text.strip()
    if "@" in text:
        return Identity(email=text)
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 11 and not text.startswith("+"):
        try:
            return Identity(cpf=customers.normalize_cpf(digits))
        except Invalid:
            pass  # 11 digits that are no CPF: a phone with its area code
    return Identity(phone=text)


async def _counter(request: Request, *, status: int = 200, **extra: Any) -> Template:
    return Template(
        "admin/counter.html",
        status_code=status,
        context=_context(request, form_id=secrets.token_urlsafe(12), **extra),
    )


async def _customer_panel(brand: BrandView, customer_id: int, now: dt.datetime) -> dict[str, Any]:
    customer = await customers.get(brand.id, customer_id)
    return {
        "customer": customer,
        "balance": await ledger.balance(brand=brand, customer_id=customer_id, now=now),
        "vouchers": [
            v
            for v in await vouchers.of_customer(brand_id=brand.id, customer_id=customer_id, now=now)
            if v["status"] == "active"
        ],
    }


@get("/counter", guards=[requires_role("operator")])
async def counter_page(request: Request, slug: FromPath[str]) -> Template:
    brand, now = _admin(request)["brand"], _now(request)
    query = request.query_params.get("q", "").strip()
    if not query:
        return await _counter(request)
    try:
        customer = await customers.lookup(brand.id, customers.normalize(_identity(query)))
    except Invalid as exc:
        return await _counter(request, status=422, error=exc.detail, q=query)
    if customer is None:
        return await _counter(request, status=404, error="not_found", q=query)
    return await _counter(request, q=query, **await _customer_panel(brand, customer.id, now))


class SaleForm(msgspec.Struct):
    form_id: str
    customer: str
    total: str
    q: str = ""


def _centavos(text: str) -> int:
    """ "150", "150,00", "1.234,56" or "150.00" to centavos (a clerk types reais)."""
    text = text.strip().replace("R$", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid(f"total: {text!r} is not an amount in reais") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise Invalid(f"total: {text!r} is not an amount in reais and centavos")
    value = int(amount * 100)
    if value <= 0 or value > ledger.MAX_AMOUNT:
        raise Invalid("total: must be more than zero")
    return value


@post("/counter/sale", guards=[requires_role("operator")], status_code=200)
async def counter_sale(request: Request, slug: FromPath[str], data: URLEncodedBody[SaleForm]) -> Template:
    """Record a sale at the till, idempotent by the form's id (a double tap records one sale)."""
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    try:
        total = _centavos(data.total)
        sale = ledger.SaleIn(
            order_id=f"balcao-{data.form_id}",
            customer=_identity(data.customer),
            total=total,
            channel="counter",
        )
        body, created = await ledger.record_sale(brand=brand, sale=sale, now=now)
    except DomainError as exc:
        return await _counter(request, status=exc.status_code, error=exc.detail, q=data.q)
    if created:
        after = {"total": total, "cashback": body["cashback"]["amount"], "customer_id": body["customer_id"]}
        await _audit(request, action="counter.sale", target=sale.order_id, after=after)
    panel = await _customer_panel(brand, body["customer_id"], now)
    return await _counter(request, q=data.q or data.customer, recorded=body, **panel)


class VoucherForm(msgspec.Struct):
    form_id: str
    code: str
    order_total: str
    q: str = ""


@post("/counter/voucher", guards=[requires_role("operator")], status_code=200)
async def counter_voucher(
    request: Request, slug: FromPath[str], data: URLEncodedBody[VoucherForm]
) -> Template:
    """Validate and redeem a voucher typed or scanned at the till (idempotent by the form's id)."""
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    try:
        total = _centavos(data.order_total)
        used, created = await vouchers.redeem(
            brand=brand, code=data.code, order_id=f"balcao-{data.form_id}", order_total=total, now=now
        )
    except DomainError as exc:
        reason = getattr(exc, "reason", None)
        status = 422 if exc.status_code == 404 else exc.status_code  # an unknown code, not a missing page
        return await _counter(request, status=status, error=exc.detail, reason=reason, q=data.q)
    if created:
        await _audit(request, action="counter.voucher", target=used["code"], after=used)
    return await _counter(request, q=data.q, voucher_used=used)


# --- customers ------------------------------------------------------------------------------------


@get("/customers", guards=[requires_role("manager")])
async def customers_page(request: Request, slug: FromPath[str]) -> Template:
    brand = _admin(request)["brand"]
    query = request.query_params.get("q", "").strip()
    found: list[dict[str, Any]] = []
    if query:
        like = f"%{query.lower()}%"
        digits = "".join(ch for ch in query if ch.isdigit())
        found = await db.fetch(
            "SELECT id, name, email, phone FROM customers WHERE brand = {} AND forgotten_at IS NULL AND "
            "(LOWER(name) LIKE {} OR email LIKE {} OR (phone LIKE {} AND {} <> '') OR cpf = {}) "
            "ORDER BY name, id LIMIT 50",
            brand.id,
            like,
            like,
            f"%{digits}%",
            digits,
            digits,
        )
    return Template("admin/customers.html", context=_context(request, q=query, found=found))


async def _customer_context(request: Request, customer_id: int, **extra: Any) -> dict[str, Any]:
    from retorno.push import service as push
    from retorno.referrals import service as referrals

    brand, now = _admin(request)["brand"], _now(request)
    customer = await customers.get(brand.id, customer_id)  # another brand's customer: 404
    entries, _ = await ledger.statement(brand_id=brand.id, customer_id=customer_id, now=now, limit=30)
    return _context(
        request,
        customer=customer,
        cpf=f"***.{customer.cpf[3:6]}.***-**" if customer.cpf else None,
        balance=await ledger.balance(brand=brand, customer_id=customer_id, now=now),
        entries=entries,
        vouchers=await vouchers.of_customer(brand_id=brand.id, customer_id=customer_id, now=now),
        friends=await referrals.of_referrer(brand_id=brand.id, customer_id=customer_id),
        devices=await push.devices_of(brand.id, customer_id),
        **extra,
    )


@get("/customers/{customer_id:int}", guards=[requires_role("manager")])
async def customer_page(request: Request, slug: FromPath[str], customer_id: FromPath[int]) -> Template:
    return Template("admin/customer.html", context=await _customer_context(request, customer_id))


class AdjustForm(msgspec.Struct):
    amount: str
    reason: str = ""


@post("/customers/{customer_id:int}/adjust", guards=[requires_role("manager")], status_code=303)
async def adjust_balance(
    request: Request, slug: FromPath[str], customer_id: FromPath[int], data: URLEncodedBody[AdjustForm]
) -> Any:
    """A manual adjustment with a mandatory reason, in the ledger and in the audit log."""
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    await customers.get(brand.id, customer_id)
    try:
        text = data.amount.strip()
        negative = text.startswith("-")
        amount = _centavos(text.lstrip("-").strip()) * (-1 if negative else 1)
        before = await ledger.balance(brand=brand, customer_id=customer_id, now=now)
        await ledger.adjust(brand=brand, customer_id=customer_id, amount=amount, reason=data.reason, now=now)
    except Invalid as exc:
        context = await _customer_context(request, customer_id, error=exc.detail)
        return Template("admin/customer.html", status_code=422, context=context)
    await _audit(
        request,
        action="customer.adjust",
        target=str(customer_id),
        before={"available": before.available},
        after={"amount": amount, "reason": data.reason.strip()[:200]},
    )
    return Redirect(f"/admin/b/{slug}/customers/{customer_id}", status_code=303)


@get("/referrals", guards=[requires_role("manager")])
async def referral_queue(request: Request, slug: FromPath[str]) -> Template:
    """Referrals held for review (same device as the inviter, over the monthly cap)."""
    rows = await db.fetch(
        "SELECT r.id, r.reason, r.decided_at, i.name AS inviter, f.name AS friend, s.total, s.order_id "
        "FROM referrals r JOIN customers i ON i.id = r.referrer LEFT JOIN customers f ON f.id = r.friend "
        "LEFT JOIN sales s ON s.id = r.sale WHERE r.brand = {} AND r.status = 'review' ORDER BY r.id",
        _admin(request)["brand"].id,
    )
    return Template("admin/referrals.html", context=_context(request, queue=rows))


@post("/referrals/{referral_id:int}/{decision:str}", guards=[requires_role("manager")], status_code=303)
async def review_referral(
    request: Request, slug: FromPath[str], referral_id: FromPath[int], decision: FromPath[str]
) -> Redirect:
    from retorno.referrals import service as referrals

    if decision not in ("approve", "reject"):
        raise NotFound("no such decision")
    admin, now = _admin(request), _now(request)
    found = await db.fetch(
        "SELECT status FROM referrals WHERE id = {} AND brand = {}", referral_id, admin["brand"].id
    )
    if not found:
        raise NotFound("no such referral")
    if found[0]["status"] != "review":  # decided already (a second click): nothing changes
        return Redirect(f"/admin/b/{slug}/referrals", status_code=303)
    status = await referrals.review(
        brand=admin["brand"], referral_id=referral_id, approve=decision == "approve", now=now
    )
    await _audit(
        request,
        action=f"referral.{decision}",
        target=str(referral_id),
        before={"status": "review"},
        after={"status": status},
    )
    return Redirect(f"/admin/b/{slug}/referrals", status_code=303)


# --- campaigns ------------------------------------------------------------------------------------


async def _campaigns_context(request: Request, **extra: Any) -> dict[str, Any]:
    from retorno.push import service as push

    brand_id = _admin(request)["brand"].id
    return _context(
        request,
        audience=await push.campaign_audience(brand_id),
        sent=await push.campaigns_sent(brand_id),
        **extra,
    )


@get("/campaigns", guards=[requires_role("manager")])
async def campaigns_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/campaigns.html", context=await _campaigns_context(request))


class CampaignForm(msgspec.Struct):
    title: str
    body: str = ""
    url: str = "/"
    action: str = "preview"  # preview | send


@post("/campaigns", guards=[requires_role("manager")], status_code=200)
async def send_campaign(request: Request, slug: FromPath[str], data: URLEncodedBody[CampaignForm]) -> Any:
    """Preview a notification as the phone shows it, or send it to everyone who opted in."""
    from retorno.push import service as push

    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    form = {"title": data.title.strip(), "body": data.body.strip(), "url": data.url.strip() or "/"}
    if data.action != "send":
        return Template("admin/campaigns.html", context=await _campaigns_context(request, preview=form))
    try:
        await push.queue_campaign(brand_id=brand.id, now=now, **form)
    except Invalid as exc:
        context = await _campaigns_context(request, preview=form, error=exc.detail)
        return Template("admin/campaigns.html", status_code=422, context=context)
    await _audit(request, action="campaign.send", after=form)
    return Redirect(f"/admin/b/{slug}/campaigns", status_code=303)


# --- branding -------------------------------------------------------------------------------------

BRANDING_FIELDS = (
    "name",
    "short_name",
    "primary",
    "accent",
    "background",
    "email",
    "whatsapp",
    "phone",
    "hours",
)
AA = 4.5  # WCAG AA contrast for text
BEST = "at best {ratio:.2f}:1; AA: 4.5:1"


def _branded_pack(current: Any, form: dict[str, str], logo: bytes | None, regulations: str | None) -> Any:
    """The brand's pack with the form's changes, read back through the pack checks (colours, lengths,
    the logo by its content); an Invalid lists every problem. Also refuses colours that fail AA."""
    from retorno.brands import images
    from retorno.brands.pack import check_edited, to_toml

    doc = to_toml(current)
    doc["name"], doc["short_name"] = form["name"], form["short_name"]
    doc.setdefault("theme", {}).update({k: form[k] for k in ("primary", "accent", "background")})
    doc.setdefault("contact", {}).update({k: form[k] for k in ("email", "whatsapp", "phone", "hours")})
    files = {}
    if logo is not None:
        files["upload"], doc["theme"]["logo"] = logo, "upload"
    if regulations is not None:
        files["regulations.md"], doc["theme"]["regulations"] = regulations.encode(), "regulations.md"
    pack = check_edited(doc, base=current, files=files)
    problems = []
    for name, colour in (("primary", pack.theme.primary), ("accent", pack.theme.accent)):
        ratio = images.contrast(colour, images.text_on(colour))
        if ratio < AA:
            problems.append(
                f"theme.{name}: no text colour reads on {colour} (at best {ratio:.2f}:1; AA: 4.5:1)"
            )
    ratio = images.contrast(pack.theme.background, "#111111")
    if ratio < AA:
        problems.append(
            f"theme.background: text on {pack.theme.background} has contrast {ratio:.2f}:1, AA needs 4.5:1"
        )
    if problems:
        raise Invalid("; ".join(problems), problems)
    return pack


async def _branding_context(request: Request, **extra: Any) -> dict[str, Any]:
    brand = _admin(request)["brand"]
    current = await brands.current_regulations(brand.id)
    values = extra.pop("values", None) or {
        "name": brand.name,
        "short_name": brand.short_name,
        "primary": brand.primary_color,
        "accent": brand.accent_color,
        "background": brand.background_color,
        "email": brand.contact_email,
        "whatsapp": brand.contact_whatsapp,
        "phone": brand.contact_phone,
        "hours": brand.contact_hours,
    }
    return _context(request, values=values, regulations=current, **extra)


@get("/branding", guards=[requires_role("manager")])
async def branding_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/branding.html", context=await _branding_context(request))


@post("/branding", guards=[requires_role("manager")], status_code=303)
async def save_branding(request: Request, slug: FromPath[str]) -> Any:
    """Save name, colours, contacts, the logo (PNG, JPEG or WebP) and the regulations (a new version
    when they change); the app's version goes up, so installed apps fetch the new theme."""
    now = _now(request)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in BRANDING_FIELDS}
    upload = form.get("logo")
    logo = await upload.read() if upload is not None and hasattr(upload, "read") else None
    regulations = str(form.get("regulations", "")).strip() or None
    try:
        pack = _branded_pack(await brands.export_pack(slug), values, logo or None, regulations)
        before = (await _branding_context(request))["values"]
        await brands.import_pack(pack, base_host=request.app.settings.base_host, now=now)
    except Invalid as exc:
        context = await _branding_context(request, error=exc.problems, values=values)
        return Template("admin/branding.html", status_code=422, context=context)
    await _audit(
        request,
        action="brand.branding",
        target=slug,
        before=before,
        after=values | {"logo": "new" if logo else "kept"},
    )
    return Redirect(f"/admin/b/{slug}/branding", status_code=303)


# --- rules and the simulator ------------------------------------------------------------------------

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

    total = _centavos(form.total)
    items = []
    for number, line in enumerate(form.items.splitlines(), start=1):
        if not line.strip():
            continue
        *category, amount = line.split()
        items.append(ledger_rules.Item(category=" ".join(category) or None, amount=_centavos(amount)))
        if not items[-1].amount:
            raise Invalid(f"items, line {number}: an amount is needed")
    if items and sum(i.amount for i in items) != total:
        raise Invalid("items: they must add up to the total")
    at = _when(form.at, brand) if form.at.strip() else now
    rules = brand.rules()
    earning = ledger_rules.earn(
        rules.cashback, items=items or None, total=total, shipping=0, segment=form.segment.strip(), at=at
    )
    available = _centavos(form.available) if form.available.strip() not in ("", "0") else 0
    return {
        "earning": earning,
        "vouchers": [v for v in rules.vouchers if total >= v.min_purchase],
        "redeemable": ledger_rules.redeemable(rules.redemption, order_total=total, available=available),
        "available": available,
    }


@get("/rules", guards=[requires_role("manager")])
async def rules_page(request: Request, slug: FromPath[str]) -> Template:
    text = _rules_toml(await brands.export_pack(slug))
    return Template("admin/rules.html", context=_context(request, rules_text=text))


@post("/rules", guards=[requires_role("manager")], status_code=303)
async def save_rules(request: Request, slug: FromPath[str]) -> Any:
    now = _now(request)
    form = await request.form()
    text = str(form.get("rules", ""))
    current = await brands.export_pack(slug)
    try:
        pack = _pack_with_rules(current, text)
        await brands.import_pack(pack, base_host=request.app.settings.base_host, now=now)
    except Invalid as exc:
        context = _context(request, rules_text=text, error=exc.problems)
        return Template("admin/rules.html", status_code=422, context=context)
    await _audit(
        request, action="brand.rules", target=slug, before=_rules_toml(current), after=_rules_toml(pack)
    )
    return Redirect(f"/admin/b/{slug}/rules", status_code=303)


@post("/rules/simulate", guards=[requires_role("manager")], status_code=200)
async def simulate_order(
    request: Request, slug: FromPath[str], data: URLEncodedBody[SimulationForm]
) -> Template:
    admin = _admin(request)
    text = _rules_toml(await brands.export_pack(slug))
    try:
        result = simulate(admin["brand"], data, _now(request))
    except Invalid as exc:
        context = _context(request, rules_text=text, sim=data, sim_error=exc.detail)
        return Template("admin/rules.html", status_code=422, context=context)
    return Template("admin/rules.html", context=_context(request, rules_text=text, sim=data, result=result))


@get("/pack.toml", guards=[requires_role("manager")])
async def export_brand_toml(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """The brand as its pack's brand.toml (logo and regulations stay in the admin)."""
    import tomli_w

    from retorno.brands.pack import to_toml

    text = tomli_w.dumps(to_toml(await brands.export_pack(slug)))
    return Response(
        text.encode(),
        media_type="application/toml",
        headers={"content-disposition": f'attachment; filename="{slug}-brand.toml"'},
    )


# --- import ---------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("order_id", "occurred_at", "total", "shipping", "cpf", "email", "phone", "name")
IMPORT_MAX_ROWS = 5000


def _when(text: str, brand: BrandView) -> dt.datetime:
    """2026-11-10 (noon in the brand's time zone) or an ISO datetime with an offset."""
    import zoneinfo

    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(12), zoneinfo.ZoneInfo(brand.timezone)).astimezone(dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"occurred_at: {text!r} is not a date (2026-11-10) or a datetime") from None
    if value.tzinfo is None:
        raise Invalid("occurred_at: a datetime needs its offset (…-03:00)")
    return value


async def import_sales(brand: BrandView, text: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Each row through the same idempotent ledger.record_sale as the API: a row already imported
    (same order_id, same content) is skipped; a row with a problem is rejected with the reason."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"order_id", "total"} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(
            f"the CSV needs the columns {', '.join(sorted(missing))} (and one of cpf, email, phone)"
        )
    report = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > IMPORT_MAX_ROWS:
            raise Invalid(f"at most {IMPORT_MAX_ROWS} rows in one file; split it")
        order_id = (row.get("order_id") or "").strip()
        try:
            identity = Identity(
                cpf=(row.get("cpf") or "").strip() or None,
                email=(row.get("email") or "").strip() or None,
                phone=(row.get("phone") or "").strip() or None,
                name=(row.get("name") or "").strip() or None,
            )
            if not (identity.cpf or identity.email or identity.phone):
                raise Invalid("a cpf, an email or a phone is needed")
            shipping = (row.get("shipping") or "").strip()
            when = (row.get("occurred_at") or "").strip()
            sale = ledger.SaleIn(
                order_id=order_id,
                customer=identity,
                total=_centavos(row.get("total") or ""),
                shipping=_centavos(shipping) if shipping and shipping not in ("0", "0,00", "0.00") else 0,
                occurred_at=_when(when, brand) if when else None,
                channel="import",
            )
            body, created = await ledger.record_sale(brand=brand, sale=sale, now=now)
            outcome = {"status": "imported" if created else "skipped", "cashback": body["cashback"]["amount"]}
        except DomainError as exc:
            outcome = {"status": "rejected", "reason": exc.detail}
        report.append({"line": number, "order_id": order_id, **outcome})
    return report


@get("/import", guards=[requires_role("manager")])
async def import_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/import.html", context=_context(request, columns=IMPORT_COLUMNS))


@post("/import", guards=[requires_role("manager")], status_code=200)
async def import_upload(request: Request, slug: FromPath[str]) -> Template:
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    form = await request.form()
    upload = form.get("file")
    raw = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # spreadsheets saved in Windows-1252
    try:
        report = await import_sales(brand, text, now)
    except Invalid as exc:
        context = _context(request, columns=IMPORT_COLUMNS, error=exc.detail)
        return Template("admin/import.html", status_code=422, context=context)
    counts = {k: sum(1 for r in report if r["status"] == k) for k in ("imported", "skipped", "rejected")}
    await _audit(request, action="sales.import", after=counts)
    context = _context(request, columns=IMPORT_COLUMNS, report=report, counts=counts)
    return Template("admin/import.html", context=context)


# --- reports --------------------------------------------------------------------------------------


async def _report(request: Request) -> dict[str, Any]:
    import zoneinfo

    from retorno.reports import service as reports

    brand, now = _admin(request)["brand"], _now(request)
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
    chart = reports.bar_chart(data["days"], reports.SERIES, labels)
    context = _context(request, report=data, labels=labels, chart=Markup(chart))  # noqa: S704 - numbers only
    return Template("admin/reports.html", context=context)


@get("/reports.csv", guards=[requires_role("manager")])
async def reports_csv(request: Request, slug: FromPath[str]) -> Response[bytes]:
    import csv
    import io

    data = await _report(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "earned", "used", "reversed", "expired"])
    for day in data["days"]:
        writer.writerow(
            [day["day"].isoformat()]
            + [f"{day[k] / 100:.2f}" for k in ("earned", "used", "reversed", "expired")]
        )
    name = f"relatorio-{slug}-{data['first']}-{data['last']}.csv"
    return Response(
        out.getvalue().encode(),
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# --- staff ----------------------------------------------------------------------------------------


@get("/staff", guards=[requires_role("owner")])
async def staff_page(request: Request, slug: FromPath[str]) -> Template:
    members = await _members(_admin(request)["brand"].id)
    return Template("admin/staff.html", context=_context(request, members=members, roles=auth.ROLES))


async def _members(brand_id: int) -> list[dict[str, Any]]:
    return await db.fetch(
        "SELECT s.id, s.email, r.role FROM staff_roles r JOIN staff s ON s.id = r.staff "
        "WHERE r.brand = {} ORDER BY s.email",
        brand_id,
    )


class StaffForm(msgspec.Struct):
    email: str
    role: str


@post("/staff", guards=[requires_role("owner")], status_code=303)
async def invite_staff(request: Request, slug: FromPath[str], data: URLEncodedBody[StaffForm]) -> Any:
    """Give someone a role at this brand (or change theirs); they sign in at /admin/login by code."""
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    try:
        email = customers.normalize_email(data.email)
        if data.role not in auth.ROLES:
            raise Invalid(f"role: one of {', '.join(auth.ROLES)}")
        before = [m for m in await _members(brand.id) if m["email"] == email]
        await auth.add_staff(email=email, brand_id=brand.id, role=data.role, now=now)
    except Invalid as exc:
        context = _context(request, members=await _members(brand.id), roles=auth.ROLES, error=exc.detail)
        return Template("admin/staff.html", status_code=422, context=context)
    await _audit(
        request,
        action="staff.role",
        target=email,
        before={"role": before[0]["role"]} if before else None,
        after={"role": data.role},
    )
    return Redirect(f"/admin/b/{slug}/staff", status_code=303)


@post("/staff/{staff_id:int}/remove", guards=[requires_role("owner")], status_code=303)
async def remove_staff(request: Request, slug: FromPath[str], staff_id: FromPath[int]) -> Redirect:
    admin = _admin(request)
    brand = admin["brand"]
    if staff_id == admin["staff"]["id"]:
        raise Invalid("you cannot remove yourself; ask another owner")
    removed = await db.write(
        lambda: db.fetch(
            "DELETE FROM staff_roles WHERE staff = {} AND brand = {} RETURNING role", staff_id, brand.id
        )
    )
    if not removed:
        raise NotFound("no such staff member at this brand")
    await _audit(request, action="staff.remove", target=str(staff_id), before={"role": removed[0]["role"]})
    return Redirect(f"/admin/b/{slug}/staff", status_code=303)


# --- API keys -----------------------------------------------------------------------------------


@get("/keys", guards=[requires_role("owner")])
async def keys_page(request: Request, slug: FromPath[str]) -> Template:
    return Template(
        "admin/keys.html",
        context=_context(request, keys=await apikeys.list_keys(_admin(request)["brand"].id)),
    )


class KeyForm(msgspec.Struct):
    name: str = ""


@post("/keys", guards=[requires_role("owner")], status_code=200)
async def create_key(request: Request, slug: FromPath[str], data: URLEncodedBody[KeyForm]) -> Template:
    """A new key, shown this once."""
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    name = data.name.strip()[:100]
    created = await apikeys.create(brand_id=brand.id, name=name, now=now)
    await _audit(
        request,
        action="apikey.create",
        target=created.key.split("_")[1] if "_" in created.key else "",
        after={"name": name},
    )
    return Template(
        "admin/keys.html",
        context=_context(request, keys=await apikeys.list_keys(brand.id), new_key=created.key),
    )


@post("/keys/{key_id:int}/revoke", guards=[requires_role("owner")], status_code=303)
async def revoke_key(request: Request, slug: FromPath[str], key_id: FromPath[int]) -> Redirect:
    admin, now = _admin(request), _now(request)
    brand = admin["brand"]
    before = next((k for k in await apikeys.list_keys(brand.id) if k["id"] == key_id), None)
    if before is None:
        raise NotFound("no such key")
    if before["revoked_at"] is not None:  # already revoked: nothing changes
        return Redirect(f"/admin/b/{slug}/keys", status_code=303)
    await apikeys.revoke(brand_id=brand.id, key_id=key_id, now=now)
    await _audit(
        request,
        action="apikey.revoke",
        target=before["prefix"],
        before={"name": before["name"], "revoked": False},
        after={"name": before["name"], "revoked": True},
    )
    return Redirect(f"/admin/b/{slug}/keys", status_code=303)


@get("/audit", guards=[requires_role("owner")])
async def audit_page(request: Request, slug: FromPath[str]) -> Template:
    return Template(
        "admin/audit.html",
        context=_context(request, events=await audit.events(brand_id=_admin(request)["brand"].id)),
    )


router = Router(
    path="/admin/b/{slug:str}",
    guards=[requires_platform_host],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[
        brand_home,
        counter_page,
        counter_sale,
        counter_voucher,
        customers_page,
        customer_page,
        adjust_balance,
        referral_queue,
        review_referral,
        branding_page,
        save_branding,
        rules_page,
        save_rules,
        simulate_order,
        export_brand_toml,
        import_page,
        import_upload,
        reports_page,
        reports_csv,
        campaigns_page,
        send_campaign,
        staff_page,
        invite_staff,
        remove_staff,
        keys_page,
        create_key,
        revoke_key,
        audit_page,
    ],
)
