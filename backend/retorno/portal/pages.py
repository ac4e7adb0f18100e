"""The shopper's pages: the signed-in home, the statement (and its CSV), regulations and help."""

from __future__ import annotations

from typing import Any

import msgspec
from babel.numbers import format_percent
from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Template
from markupsafe import Markup

from retorno import csvfile, i18n
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.club import service as club
from retorno.customers import service as customers
from retorno.errors import Invalid
from retorno.ledger import balances, posting
from retorno.nps import service as nps
from retorno.portal.routes import load_shopper, page_context, requires_brand
from retorno.signin.guards import requires_customer, session_of, signed_in_customer
from retorno.vouchers import service as vouchers
from retorno.web import SharedPage, brand_required, lang_of, now_of

# What the service worker may keep for reading offline (service_worker/sw.js): a signed-in page goes
# to a private cache that sign-out empties; the browser's HTTP cache keeps none of it (no-store).
PRIVATE_OFFLINE = {"cache-control": "no-store, private", "retorno-offline": "private"}
SIGNED_OUT = {"retorno-offline": "signed-out"}

KINDS = ("earn", "redeem", "reverse", "expire", "redemption_cancel", "adjustment", "referral_reward")


def _percent(bp: int, lang: str) -> str:
    """Hundredths (a rate's basis points, a multiplier x100) as the locale writes them: "10", "2,5"
    in pt-BR, "2.5" in English."""
    return i18n.hundredths(bp, lang=lang)


# The counter screen names its sales and redemptions "balcao-<form id>": an id no shopper knows.
COUNTER_ORDER = "balcao-"


def document(line: dict[str, Any], *, lang: str, brand: BrandView) -> str:
    """What a movement comes from, as the shopper knows it: "Order PED-1002", "In-store purchase on
    01/12/2026"; "" when it comes from no order."""
    order = line.get("order_id") or ""
    if not order:
        return ""
    if order.startswith(COUNTER_ORDER):
        when = i18n.date(line["occurred_at"], lang=lang, tz=brand.timezone) if line.get("occurred_at") else ""
        return i18n.gettext(lang, "In-store purchase on %(date)s") % {"date": when}
    return i18n.gettext(lang, "Order %(order)s") % {"order": order}


def explain(line: dict[str, Any], *, lang: str, brand: BrandView) -> str:
    """A movement in plain words, from what the ledger stored (the breakdown of a credit)."""
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    money = lambda centavos: i18n.money(centavos, lang=lang, currency=brand.currency)  # noqa: E731
    kind = line["kind"]
    source = document(line, lang=lang, brand=brand)
    if kind == "earn":
        breakdown = line.get("breakdown") or {}
        parts = []
        for item in breakdown.get("items", []):
            text = _("%(rate)s%% of %(amount)s") % {
                "rate": _percent(item["rate_bp"], lang),
                "amount": money(item["amount"]),
            }
            if item.get("category"):
                text += " " + _("in %(category)s") % {
                    "category": item["category"].replace("_", " ")  # as the brand wrote it, mid-sentence
                }
            if item.get("campaign"):
                text += "; " + _("campaign %(name)s x%(times)s") % {
                    "name": item["campaign"],
                    "times": _percent(item["multiplier_x100"], lang),
                }
            parts.append(text)
        words = source or _("Cashback")
        return f"{words}: {'; '.join(parts)}" if parts else words
    if kind == "referral_reward" and (line.get("breakdown") or {}).get("role") == "friend":
        return _("Welcome reward: you joined through an invitation")
    if kind == "reverse" and line.get("note") == "referral":
        return _("Taken back: the invited friend's purchase was returned")
    if kind == "reverse" and (line.get("order_id") or "").startswith(COUNTER_ORDER):
        text = _("Taken back: an in-store purchase was returned or cancelled")
    else:
        texts = {
            "redeem": _("Used as a discount"),
            "reverse": _("Taken back: order %(order)s was returned or cancelled"),
            "expire": _("Expired: not used in time"),
            "redemption_cancel": _("Given back: a purchase using cashback was cancelled"),
            "adjustment": _("Adjustment by the store"),
            "conversion": _("Points exchanged for cashback"),
            "referral_reward": _("Reward for an invitation"),
        }
        text = texts.get(kind, kind) % {"order": line.get("order_id") or ""}
        if kind in ("redeem", "redemption_cancel") and source:
            text = f"{text} · {source}"
    return f"{text} ({line['note']})" if line.get("note") else text


def _status(line: dict[str, Any], *, lang: str, brand: BrandView) -> str:
    date = lambda value: i18n.date(value, lang=lang, tz=brand.timezone)  # noqa: E731
    status = line.get("status")
    if status == "pending":
        return i18n.gettext(lang, "pending until %(date)s") % {"date": date(line["available_at"])}
    if status == "available" and line.get("expires_at"):
        return i18n.gettext(lang, "available until %(date)s") % {"date": date(line["expires_at"])}
    if status == "available":
        return i18n.gettext(lang, "available")
    if status == "expired":
        return i18n.gettext(lang, "expired")
    return ""


def _lines(entries: list[balances.StatementLine], *, lang: str, brand: BrandView) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        line = {k: v for k, v in msgspec.structs.asdict(entry).items() if v is not msgspec.UNSET}
        if isinstance(line.get("breakdown"), msgspec.Raw):
            line["breakdown"] = msgspec.json.decode(line["breakdown"])
        line["explanation"] = explain(line, lang=lang, brand=brand)
        line["title"] = i18n.gettext(lang, "movement:" + line["kind"])
        line["status_text"] = _status(line, lang=lang, brand=brand)
        out.append(line)
    return out


async def home_page(request: Request) -> Template:
    """The brand's home (app.py routes "/" here on a brand host): the pitch, or the shopper's balance."""
    brand, lang = brand_required(request), lang_of(request)
    cashback = brand.rules().cashback
    await load_shopper(request)
    context = page_context(
        request,
        rate_bp=cashback.rate_bp,
        rate=_percent_label(cashback.rate_bp, lang),
        pending_days=cashback.pending_days,
    )
    context = await _signed_in_home(request, context)
    if context.get("signed_in"):
        return Template("portal/home.html", context=context, headers=PRIVATE_OFFLINE)
    if context["shopper"] is None:  # nobody signed in: the page is the brand's and the language's
        return SharedPage("portal/home.html", key=(brand, lang), context=context, headers=SIGNED_OUT)
    return Template("portal/home.html", context=context, headers=SIGNED_OUT)


def _percent_label(bp: int, lang: str) -> str:
    return format_percent(bp / 10000, locale=i18n.babel_locale(lang), decimal_quantization=False)


async def _signed_in_home(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    """What the home shows a signed-in shopper: balance, what becomes usable and expires, how to use
    it, the next voucher and the latest moves."""
    session = await session_of(request)
    if session is None or session.customer is None:
        return context
    brand, now, lang = brand_required(request), now_of(request), lang_of(request)
    balance = await balances.balance(brand=brand, customer_id=session.customer, now=now, expiring_limit=1)
    entries, _ = await balances.statement(brand_id=brand.id, customer_id=session.customer, now=now, limit=5)
    pending_until = await balances.next_available(brand_id=brand.id, customer_id=session.customer, now=now)
    next_voucher, active_vouchers = await vouchers.next_active(
        brand_id=brand.id, customer_id=session.customer, now=now
    )
    shopper = request.scope["state"].get("customer") or await customers.get(brand.id, session.customer)
    segment = shopper.segment
    benefits = await club.visible(brand_id=brand.id, customer_id=session.customer, segment=segment, now=now)
    redemption = brand.rules().redemption
    return context | {
        "signed_in": True,
        "fetched_at": now,
        "balance": balance,
        "pending_until": pending_until,
        "latest": _lines(entries, lang=lang, brand=brand),
        "min_order": redemption.min_order,
        "max_share": _percent(redemption.max_share_bp, lang) if redemption.max_share_bp < 10000 else None,
        "order_for_all": order_for_all(balance.available, redemption),
        "next_voucher": next_voucher,
        "active_vouchers": active_vouchers,
        "benefits": benefits,
        "points": await balances.balance(
            brand=brand, customer_id=session.customer, now=now, unit=posting.POINTS
        )
        if brand.rules().earns_points
        else None,
        "survey": await nps.pending(brand_id=brand.id, customer_id=session.customer, now=now),
    }


def order_for_all(available: int, redemption: Any) -> int | None:
    """The smallest purchase that can take the whole available balance off (minimum order and the
    most of a purchase cashback may pay, in basis points); None with nothing to use."""
    if available <= 0 or redemption.max_share_bp <= 0:
        return None
    needed = -(-available * 10000 // redemption.max_share_bp)  # rounded up to the centavo
    return max(needed, redemption.min_order)


@get("/statement", guards=[requires_customer])
async def statement_page(request: Request) -> Template:
    brand, lang = brand_required(request), lang_of(request)
    customer_id = await signed_in_customer(request)
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise Invalid("unknown kind of movement")
    entries, next_cursor = await balances.statement(
        brand_id=brand.id,
        customer_id=customer_id,
        now=now_of(request),
        limit=20,
        cursor=request.query_params.get("cursor") or None,
        kinds=[kind] if kind else None,
    )
    return Template(
        "portal/statement.html",
        context=page_context(
            request,
            lines=_lines(entries, lang=lang, brand=brand),
            next_cursor=next_cursor,
            kind=kind,
            kinds=KINDS,
            fetched_at=now_of(request),
        ),
        headers=PRIVATE_OFFLINE,
    )


@get("/statement.csv", guards=[requires_customer])
async def statement_csv(request: Request) -> Response[bytes]:
    """The whole statement, newest first, one row per movement, as a spreadsheet in the shopper's
    language opens it (in pt-BR: `;`, decimal comma, headers and kinds in Portuguese, local times)."""
    brand, lang, now = brand_required(request), lang_of(request), now_of(request)
    customer_id = await signed_in_customer(request)
    rows = []
    cursor = None
    while True:
        entries, cursor = await balances.statement(
            brand_id=brand.id, customer_id=customer_id, now=now, limit=100, cursor=cursor
        )
        for line in _lines(entries, lang=lang, brand=brand):
            rows.append(
                [
                    line["occurred_at"],
                    line["title"],
                    csvfile.Money(line["amount"]),
                    line["status_text"],
                    line.get("available_at") or "",
                    line.get("expires_at") or "",
                    document(line, lang=lang, brand=brand),
                    line["explanation"],
                ]
            )
        if cursor is None:
            break
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    header = [
        _("Date"),
        _("Movement"),
        _("Amount (R$)"),
        _("Status"),
        _("Usable from"),
        _("Expires on"),
        _("Purchase"),
        _("Explanation"),
    ]
    return Response(
        csvfile.write(header, rows, lang=lang, tz=brand.timezone),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="extrato-{brand.slug}.csv"'},
    )


@get("/regulations")
async def regulations_page(request: Request) -> Template:
    current = await brands.current_regulations(brand_required(request).id)
    return Template(
        "portal/regulations.html",
        # The HTML was rendered from Markdown and sanitised by nh3 when it was saved.
        context=page_context(request, regulations=current, html=Markup(current.html) if current else None),  # noqa: S704
    )


@get("/help")
async def help_page(request: Request) -> Template:
    """Contacts, and a short FAQ written from the brand's own rules."""
    brand, lang = brand_required(request), lang_of(request)
    rules = brand.rules()
    money = lambda centavos: i18n.money(centavos, lang=lang, currency=brand.currency)  # noqa: E731
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    cashback = rules.cashback
    faq = [
        (
            _("How much cashback do I get?"),
            _("%(rate)s%% of what you spend, on every purchase.")
            % {"rate": _percent(cashback.rate_bp, lang)},
        )
    ]
    if cashback.min_purchase:
        faq.append(
            (
                _("Is there a minimum purchase?"),
                _("Purchases from %(amount)s earn cashback.") % {"amount": money(cashback.min_purchase)},
            )
        )
    faq.append(
        (
            _("When can I use it?"),
            _("%(days)s days after the purchase, once the return window is over.")
            % {"days": cashback.pending_days},
        )
    )
    faq.append(
        (
            _("Does it expire?"),
            _("Yes, %(days)s days after it becomes available.") % {"days": cashback.expiry_days}
            if cashback.expiry_days
            else _("No, it does not expire."),
        )
    )
    redemption = rules.redemption
    use = _("You can pay up to %(share)s%% of a purchase with cashback.") % {
        "share": _percent(redemption.max_share_bp, lang)
    }
    if redemption.min_order:
        use += " " + _("Purchases from %(amount)s can use it.") % {"amount": money(redemption.min_order)}
    faq.append((_("How do I use it?"), use))
    whatsapp = brand.contact_whatsapp.lstrip("+")
    return Template(
        "portal/help.html",
        context=page_context(
            request,
            faq=faq,
            whatsapp_url=f"https://wa.me/{whatsapp}" if whatsapp else None,
            phone_text=phone_text(brand.contact_phone),
            whatsapp_text=phone_text(brand.contact_whatsapp),
        ),
    )


def phone_text(number: str | None) -> str:
    """A Brazilian number as people write it: "+55 11 98765-4321" -> "(11) 98765-4321"; any other
    number (abroad, 0800) as it was given."""
    given = (number or "").strip()
    digits = "".join(c for c in given if c.isdigit())
    if given.startswith("+"):
        if not digits.startswith("55"):
            return given
        digits = digits[2:]
    if len(digits) not in (10, 11) or digits.startswith("0"):
        return given
    area, rest = digits[:2], digits[2:]
    return f"({area}) {rest[:-4]}-{rest[-4:]}"


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    before_request=load_shopper,
    route_handlers=[
        regulations_page,
        help_page,
        Router(
            path="/",
            cache_control=CacheControlHeader(no_store=True, private=True),
            route_handlers=[statement_page, statement_csv],
        ),
    ],
)
