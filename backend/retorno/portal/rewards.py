"""The shopper's vouchers (with QR codes to show at the counter) and invitations to friends."""

from __future__ import annotations

import functools
from urllib.parse import quote

import msgspec
import segno
from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from retorno import i18n
from retorno.portal.pages import PRIVATE_OFFLINE
from retorno.portal.routes import page_context, private_router
from retorno.referrals import invitations
from retorno.referrals import service as referrals
from retorno.signin.guards import device_of, requires_customer, signed_in_customer
from retorno.signin.routes import origin_of
from retorno.vouchers import service as vouchers
from retorno.web import brand_required, lang_of, now_of, settings_of


@functools.lru_cache(maxsize=1024)
def qr_svg(text: str) -> Markup:
    """A regular QR code (never Micro QR, which phone cameras do not read) as inline SVG."""
    svg = segno.make_qr(text, error="m").svg_inline(scale=6, border=4, dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 - segno's own SVG; the text is a voucher code of [A-Z0-9-]


@get("/vouchers", guards=[requires_customer])
async def vouchers_page(request: Request) -> Template:
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    mine = await vouchers.of_customer(brand_id=brand.id, customer_id=customer_id, now=now_of(request))
    active = [msgspec.structs.asdict(v) | {"qr": qr_svg(v.code)} for v in mine if v.status == "active"]
    others = [v for v in mine if v.status != "active"]
    # Kept for reading offline like home and statement: a voucher's QR code is shown at the till.
    return Template(
        "portal/vouchers.html",
        context=page_context(request, active=active, others=others, fetched_at=now_of(request)),
        headers=PRIVATE_OFFLINE,
    )


def _offer(request: Request) -> dict[str, str] | None:
    """The referral rules in plain words, or None when the brand has no referral programme."""
    brand, lang = brand_required(request), lang_of(request)
    rules = brand.rules().referral
    if rules is None:
        return None
    money = lambda centavos: i18n.money(centavos, lang=lang, currency=brand.currency)  # noqa: E731
    return {
        "referrer": money(rules.referrer_reward),
        "friend": money(rules.friend_reward),
        "minimum": money(rules.min_first_purchase),
    }


@get("/invite", guards=[requires_customer])
async def invite_page(request: Request) -> Template:
    brand, customer_id, now = brand_required(request), await signed_in_customer(request), now_of(request)
    offer = _offer(request)
    link = friends = None
    if offer is not None:
        code = await invitations.code_of(brand_id=brand.id, customer_id=customer_id, now=now)
        link = f"{origin_of(request)}/r/{code}"
        friends = await referrals.of_referrer(brand_id=brand.id, customer_id=customer_id)
    text = (
        i18n.gettext(lang_of(request), "Join %(brand)s's cashback programme with my invitation: %(link)s")
        % {"brand": brand.name, "link": link}
        if link
        else ""
    )
    return Template(
        "portal/invite.html",
        context=page_context(
            request,
            offer=offer,
            link=link,
            friends=friends,
            share_text=text,
            whatsapp_url=f"https://wa.me/?text={quote(text)}" if link else None,
        ),
    )


@get("/r/{code:str}")
async def referral_landing(request: Request, code: FromPath[str]) -> Template:
    """An invitation link (public): the friend's offer, a cookie that carries the code to /join."""
    brand, now = brand_required(request), now_of(request)
    offer = _offer(request)
    response = Template("portal/referral.html", context=page_context(request, offer=offer))
    if offer is None:
        response.status_code = 404
        return response
    device = invitations.device_hash(device_of(request, response))
    referrer = await invitations.opened(brand_id=brand.id, code=code, device=device, now=now)
    response.context["inviter"] = (referrer.name or "").split(" ")[0]
    response.set_cookie(
        invitations.REF_COOKIE,
        invitations.normalize_code(code),
        max_age=invitations.REF_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=settings_of(request).production,
        path="/",
    )
    return response


router = private_router(vouchers_page, invite_page, referral_landing)
