"""Rules (owner, manager): the brand pack's rule sections as forms, and a simulator."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from typing import Any

import msgspec
import tomli_w
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, items_of, page_context, requires_role
from retorno.brands import service as brands
from retorno.brands.pack import check_edited
from retorno.brands.pack_writer import to_toml
from retorno.brands.service import BrandView
from retorno.errors import Field, Invalid
from retorno.ledger import rules as ledger_rules
from retorno.onboarding.brand import import_brand
from retorno.typed import centavos, dotted_reais, when_of
from retorno.web import error_text, lang_of, now_of, problem_texts, settings_of

RULE_SECTIONS = ("cashback", "points", "redemption", "vouchers", "referral", "notifications")


def _rules_toml(pack: Any) -> str:

    doc = to_toml(pack)
    return tomli_w.dumps({k: doc[k] for k in RULE_SECTIONS if k in doc})


def _pack_with_rules(current: Any, sections: dict[str, Any] | str) -> Any:
    """The pack with its rule sections replaced (a dict, or TOML text), read back through every check."""

    if isinstance(sections, str):
        try:
            sections = tomllib.loads(sections)
        except tomllib.TOMLDecodeError as exc:
            raise Invalid("%(field)s: not TOML (%(error)s)", field=Field("rules"), error=exc) from None
    unknown = set(sections) - set(RULE_SECTIONS)
    if unknown:
        raise Invalid(
            "%(field)s: unknown section %(section)r; sections: %(sections)s",
            field=Field("rules"),
            section=sorted(unknown)[0],
            sections=", ".join(RULE_SECTIONS),
        )
    doc = {k: v for k, v in to_toml(current).items() if k not in RULE_SECTIONS} | sections
    return check_edited(doc, base=current)


# --- the rules as forms ---------------------------------------------------------------------------
# The forms only shape what was typed into the pack's document (a comma is a decimal point, a blank
# row is no row); every check is the pack's own, so the forms, the TOML editor, a pack import and
# `retorno brands import` accept and refuse exactly the same rules.

CAMPAIGN_FIELDS = ("name", "starts", "ends", "multiplier", "categories")
VOUCHER_FIELDS = ("min_purchase", "kind", "value", "min_order", "valid_days")
LOCAL_TIME = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> sends


def _shown(value: Any) -> str:
    """A number as the form shows it: 10, 2.5, never 10.0."""
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def _number(text: str) -> Any:
    """What was typed in a number field: "10", "2,5". Not a number: the text, for the pack to refuse."""
    text = text.strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _pairs(text: str, key: Any = str, value: Any = _number) -> list[tuple[Any, Any]]:
    """Lines of "<name> <number>"."""
    pairs = []
    for line in text.splitlines():
        if line.strip():
            *name, number = line.split()
            pairs.append((key(" ".join(name)), value(number)))
    return pairs


def values_of(doc: dict[str, Any], tz: Any, *, comma: bool = False) -> dict[str, Any]:
    """The rule sections of a pack document as the forms show them; with `comma`, numbers as
    Brazilians write them ("0,00", "2,5"). Either way is read back."""

    def n(value: Any) -> str:
        text = _shown(value)
        return text.replace(".", ",") if comma else text

    cb, red = doc["cashback"], doc["redemption"]
    ref = doc.get("referral")
    fields = {
        "cb.rate": n(cb["rate"]),
        "cb.min_purchase": n(cb["min_purchase"]),
        "cb.max_per_order": n(cb["max_per_order"]),
        "cb.pending_days": n(cb["pending_days"]),
        "cb.expiry_days": n(cb["expiry_days"]),
        "cb.refund_policy": cb["refund_policy"],
        "cb.categories": "\n".join(f"{k} {n(v)}" for k, v in cb["categories"].items()),
        "cb.segments": "\n".join(f"{k} {n(v)}" for k, v in cb["segments"].items()),
        "cb.bands": "\n".join(f"{n(b['from'])} {n(b['rate'])}" for b in cb["bands"]),
        "red.min_order": n(red["min_order"]),
        "red.max_share": n(red["max_share"]),
        "ref.enabled": "on" if ref else "",
        "ref.referrer_reward": n(ref["referrer_reward"]) if ref else "",
        "ref.friend_reward": n(ref["friend_reward"]) if ref else "",
        "ref.min_first_purchase": n(ref["min_first_purchase"]) if ref else "",
        "ref.monthly_cap": n(ref["monthly_cap"]) if ref else "",
        "notif.days": ", ".join(str(d) for d in doc["notifications"]["expiry_reminder_days"]),
    }
    pts = doc.get("points")
    fields["pts.program"] = pts["program"] if pts else "cashback"
    for key in ("per_real", "min_purchase", "max_per_order", "pending_days", "expiry_days"):
        fields[f"pts.{key}"] = n(pts[key]) if pts else ""
    fields["pts.categories"] = "\n".join(f"{k} {n(v)}" for k, v in pts["categories"].items()) if pts else ""
    fields["pts.segments"] = "\n".join(f"{k} {n(v)}" for k, v in pts["segments"].items()) if pts else ""
    fields["pts.bands"] = "\n".join(f"{n(b['from'])} {n(b['per_real'])}" for b in pts["bands"]) if pts else ""
    campaigns = [
        {
            "name": c["name"],
            "starts": c["starts"].astimezone(tz).strftime(LOCAL_TIME),
            "ends": c["ends"].astimezone(tz).strftime(LOCAL_TIME),
            "multiplier": n(c["multiplier"]),
            "categories": ", ".join(c["categories"]),
        }
        for c in cb["campaigns"]
    ]
    vouchers = [
        {
            "min_purchase": n(v["min_purchase"]),
            "kind": "amount" if "amount" in v else "percent",
            "value": n(v["amount"]) if "amount" in v else n(v["percent"]),
            "min_order": n(v["min_order"]),
            "valid_days": n(v["valid_days"]),
        }
        for v in doc.get("vouchers", {}).get("rules", [])
    ]
    return {"fields": fields, "campaigns": campaigns, "vouchers": vouchers}


def _rows(form: Any, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """Repeated rows (camp.0.name, camp.1.name...): blank rows and rows marked for removal dropped."""

    numbers = sorted({int(m[1]) for k in form for m in [re.match(rf"^{prefix}\.(\d+)\.", k)] if m})
    rows = []
    for n in numbers:
        row = {name: str(form.get(f"{prefix}.{n}.{name}", "")).strip() for name in names}
        if form.get(f"{prefix}.{n}.remove") or not any(v for k, v in row.items() if k != "kind"):
            continue
        rows.append(row)
    return rows


def values_from(form: Any) -> dict[str, Any]:
    """What was typed, as the forms show it again when something must be fixed."""
    fields = {k: str(v).strip() for k, v in form.items() if k.count(".") == 1}
    return {
        "fields": fields,
        "campaigns": _rows(form, "camp", CAMPAIGN_FIELDS),
        "vouchers": _rows(form, "vr", VOUCHER_FIELDS),
    }


def _instant(text: str, tz: Any) -> Any:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return value if value.tzinfo else value.replace(tzinfo=tz)


def sections_of(values: dict[str, Any], tz: Any) -> dict[str, Any]:
    """The pack's rule sections from the forms' values."""
    f = values["fields"]
    cashback: dict[str, Any] = {
        "rate": _number(f.get("cb.rate", "")),
        "min_purchase": dotted_reais(f.get("cb.min_purchase", "")) or "0.00",
        "max_per_order": dotted_reais(f.get("cb.max_per_order", "")),
        "pending_days": _number(f.get("cb.pending_days", "")),
        "expiry_days": _number(f.get("cb.expiry_days", "")),
        "refund_policy": f.get("cb.refund_policy", ""),
        "categories": dict(_pairs(f.get("cb.categories", ""))),
        "segments": dict(_pairs(f.get("cb.segments", ""))),
        "bands": [{"from": dotted_reais(a), "rate": r} for a, r in _pairs(f.get("cb.bands", ""))],
        "campaigns": [
            {
                "name": c["name"],
                "starts": _instant(c["starts"], tz),
                "ends": _instant(c["ends"], tz),
                "multiplier": _number(c["multiplier"]),
                "categories": [x.strip() for x in c["categories"].split(",") if x.strip()],
            }
            for c in values["campaigns"]
        ],
    }
    sections: dict[str, Any] = {
        "cashback": cashback,
        "redemption": {
            "min_order": dotted_reais(f.get("red.min_order", "")) or "0.00",
            "max_share": _number(f.get("red.max_share", "")),
        },
        "notifications": {
            "expiry_reminder_days": [_number(d) for d in f.get("notif.days", "").replace(",", " ").split()]
        },
    }
    rules = []
    for v in values["vouchers"]:
        kind = "percent" if v["kind"] == "percent" else "amount"
        value = _number(v["value"]) if kind == "percent" else dotted_reais(v["value"])
        rule = {"min_purchase": dotted_reais(v["min_purchase"]) or "0.00", kind: value}
        rule |= {"min_order": dotted_reais(v["min_order"]) or "0.00", "valid_days": _number(v["valid_days"])}
        rules.append(rule)
    if rules:
        sections["vouchers"] = {"rules": rules}
    program = f.get("pts.program", "cashback")
    if program != "cashback":
        cap = f.get("pts.max_per_order", "")
        sections["points"] = {
            "program": program,
            "per_real": _number(f.get("pts.per_real", "") or "1"),
            "min_purchase": dotted_reais(f.get("pts.min_purchase", "")) or "0.00",
            "max_per_order": _number(cap) if cap else "",
            "pending_days": _number(f.get("pts.pending_days", "") or "7"),
            "expiry_days": _number(f.get("pts.expiry_days", "") or "365"),
            "categories": dict(_pairs(f.get("pts.categories", ""))),
            "segments": dict(_pairs(f.get("pts.segments", ""))),
            "bands": [{"from": dotted_reais(a), "per_real": r} for a, r in _pairs(f.get("pts.bands", ""))],
        }
    if f.get("ref.enabled"):
        sections["referral"] = {
            "referrer_reward": dotted_reais(f.get("ref.referrer_reward", "")),
            "friend_reward": dotted_reais(f.get("ref.friend_reward", "")),
            "min_first_purchase": dotted_reais(f.get("ref.min_first_purchase", "")) or "0.00",
            "monthly_cap": _number(f.get("ref.monthly_cap", "")),
        }
    return sections


class SimulationForm(msgspec.Struct):
    total: str
    items: str = ""  # one line per item: "<category> <amount>"
    segment: str = ""
    at: str = ""
    available: str = "0"


def simulate(brand: BrandView, form: SimulationForm, now: dt.datetime) -> dict[str, Any]:
    """What an order would earn (with its breakdown), the vouchers it would issue and how much of it
    a shopper holding `available` could pay with cashback."""

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


async def rules_page_context(request: Request, **extra: Any) -> dict[str, Any]:

    brand = admin_of(request)["brand"]
    pack = await brands.export_pack(brand.slug)
    comma = lang_of(request).startswith("pt")
    extra.setdefault("values", values_of(to_toml(pack), zoneinfo.ZoneInfo(brand.timezone), comma=comma))
    extra.setdefault("rules_text", _rules_toml(pack))
    return page_context(request, timezone=brand.timezone, **extra)


@get("/rules", guards=[requires_role("manager")])
async def rules_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/rules.html", context=await rules_page_context(request))


@post("/rules", guards=[requires_role("manager")], status_code=303)
async def save_rules(request: Request, slug: FromPath[str]) -> Template | Redirect:
    """Save the rules from the forms, or from the TOML editor (a form with `rules`): checked as a
    pack is, every problem listed, nothing saved until all are fixed."""

    now = now_of(request)
    form = await request.form()
    tz = zoneinfo.ZoneInfo(admin_of(request)["brand"].timezone)
    current = await brands.export_pack(slug)
    as_text = "rules" in form
    values = None if as_text else values_from(form)
    try:
        pack = _pack_with_rules(current, str(form["rules"]) if values is None else sections_of(values, tz))
        await audited(
            request,
            lambda: import_brand(pack, base_host=settings_of(request).base_host, now=now),
            action="brand.rules",
            target=slug,
            before=_rules_toml(current),
            after=_rules_toml(pack),
        )
    except Invalid as exc:
        extra: dict[str, Any] = {"error": problem_texts(request, exc)}
        extra |= {"rules_text": str(form["rules"]), "text_open": True} if as_text else {"values": values}
        context = await rules_page_context(request, **extra)
        return Template("admin/rules.html", status_code=422, context=context)
    return Redirect(f"/admin/b/{slug}/rules?done=saved", status_code=303)


@post("/rules/simulate", guards=[requires_role("manager")], status_code=200)
async def simulate_order(
    request: Request, slug: FromPath[str], data: URLEncodedBody[SimulationForm]
) -> Template:
    try:
        result = simulate(admin_of(request)["brand"], data, now_of(request))
    except Invalid as exc:
        context = await rules_page_context(request, sim=data, sim_error=error_text(request, exc))
        return Template("admin/rules.html", status_code=422, context=context)
    return Template("admin/rules.html", context=await rules_page_context(request, sim=data, result=result))


routes = [rules_page, save_rules, simulate_order]
