"""Shoppers sign in and out on their brand's host: e-mail codes, joining, passkeys, security page."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from retorno import bounds, i18n
from retorno.auth import codes, passkeys, ratelimits, sessions
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.club import service as club
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Invalid
from retorno.ledger import balances
from retorno.mail import Message
from retorno.nps import service as nps
from retorno.onboarding import shoppers
from retorno.points import service as points
from retorno.portal.routes import page_context, private_router, requires_brand
from retorno.push import service as push
from retorno.referrals import invitations
from retorno.referrals import service as referrals
from retorno.signin.guards import (
    DEVICE_COOKIE,
    clear_session_cookie,
    client_address,
    device_of,
    requires_customer,
    session_cookie,
    set_session_cookie,
    signed_in_customer,
)
from retorno.signin.routes import account_routes, origin_of, owner_of, passkey_router, safe_next
from retorno.vouchers import service as vouchers
from retorno.web import brand_required, error_text, lang_of, now_of, settings_of


async def _mail_code(request: Request, brand: BrandView, email: str, code: str | None) -> None:
    """The code, or (for an address with no account) a note saying how to join; same for the asker."""
    lang = lang_of(request)
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    origin = origin_of(request)
    if code is not None:
        subject = _("Your sign-in code: %(code)s") % {"code": code}
        text = _(
            "Your code to sign in to %(brand)s is %(code)s. It is valid for 10 minutes. "
            "If you did not ask for it, ignore this message."
        ) % {"brand": brand.name, "code": code}
    else:
        subject = _("Sign-in attempt at %(brand)s") % {"brand": brand.name}
        text = _(
            "Someone asked to sign in to %(brand)s with this address, but it has no account yet. "
            "To join, open %(url)s"
        ) % {"brand": brand.name, "url": f"{origin}/join"}
    html = f"<p>{text.replace('&', '&amp;').replace('<', '&lt;')}</p>"
    await request.app.state.mailer.send(
        Message(
            to=email, subject=subject, text=text, html=html, sender_name=brand.name, sent_at=now_of(request)
        )
    )


class EmailForm(msgspec.Struct):
    email: str
    next: str = "/"


class CodeForm(msgspec.Struct):
    email: str
    code: str
    next: str = "/"
    # After /join, the code page carries what the join form said, so that it can send a new code.
    flow: str = "login"
    name: str = ""
    accept: str = ""
    marketing: str = ""


class JoinForm(msgspec.Struct):
    name: str
    email: str
    accept: str = ""
    marketing: str = ""


def _verify_page(
    request: Request,
    email: str,
    next_path: str,
    error: str | None = None,
    status: int = 200,
    join: JoinForm | None = None,
) -> Template:
    """The code page; `join` when the code was asked by /join (a new one is asked there again)."""
    return Template(
        "portal/verify.html",
        status_code=status,
        context=page_context(request, email=email, next=next_path, error=error, join=join),
    )


@get("/login")
async def login_page(request: Request) -> Template:
    return Template(
        "portal/login.html", context=page_context(request, next=safe_next(request.query_params.get("next")))
    )


@post("/login", status_code=200)
async def request_login_code(request: Request, data: URLEncodedBody[EmailForm]) -> Template:
    """Send a code if the address has an account; the answer is the same either way."""
    brand = brand_required(request)
    try:
        email = customers.normalize_email(data.email)
    except Invalid as exc:
        return Template(
            "portal/login.html",
            status_code=422,
            context=page_context(request, next=safe_next(data.next), error=error_text(request, exc)),
        )
    now = now_of(request)
    await ratelimits.hit("code-request:addr", client_address(request), now=now)
    await ratelimits.hit("code-request:email", f"{brand.id}:{email}", now=now)
    customer = await customers.lookup(brand.id, Identity(email=email))
    code = None
    if customer is not None:
        code = await codes.new_code(
            brand_id=brand.id, email=email, purpose="login", secret=settings_of(request).secret_key, now=now
        )
    await _mail_code(request, brand, email, code)
    return _verify_page(request, email, safe_next(data.next))


@post("/login/verify", status_code=303)
async def verify_login_code(request: Request, data: URLEncodedBody[CodeForm]) -> Response:
    brand = brand_required(request)
    settings, now = settings_of(request), now_of(request)
    await ratelimits.hit("code-attempt:addr", client_address(request), now=now)
    try:
        customer_id = await shoppers.sign_in_with_code(
            brand=brand, email=data.email, code=data.code, secret=settings.secret_key, now=now
        )
    except Invalid as exc:
        join = (
            JoinForm(name=data.name, email=data.email, accept=data.accept, marketing=data.marketing)
            if data.flow == "join"
            else None
        )
        return _verify_page(
            request, data.email, safe_next(data.next), error_text(request, exc), status=422, join=join
        )
    token = await sessions.start_session(
        brand_id=brand.id,
        customer_id=customer_id,
        now=now,
        replacing=request.cookies.get(session_cookie(settings)),
    )
    has_passkey = bool(await passkeys.passkeys_of(passkeys.Owner(brand_id=brand.id, customer_id=customer_id)))
    # After the first sign-in by code, offer a passkey for the next ones.
    response = Redirect(safe_next(data.next) if has_passkey else "/account/security?offer=1", status_code=303)
    set_session_cookie(response, settings, token, int(sessions.SHOPPER_SESSION.total_seconds()))
    device = invitations.device_hash(device_of(request, response))
    await invitations.note_device(brand_id=brand.id, customer_id=customer_id, device=device, now=now)
    await customers.set_language(brand.id, customer_id, lang_of(request))  # their messages' language
    return response


@get("/join")
async def join_page(request: Request) -> Template:
    regulations = await brands.current_regulations(brand_required(request).id)
    return Template("portal/join.html", context=page_context(request, regulations=regulations))


@post("/join", status_code=200)
async def join(request: Request, data: URLEncodedBody[JoinForm]) -> Template:
    """Ask for a code to create (or claim) an account; the account exists once the code is used."""
    brand = brand_required(request)
    regulations = await brands.current_regulations(brand.id)
    try:
        email = customers.normalize_email(data.email)
        if not data.name.strip():
            raise Invalid("Tell us your name.")
        name = bounds.check_text("name", " ".join(data.name.split()), max_length=customers.MAX_NAME)
        if regulations is not None and data.accept != "yes":
            raise Invalid("To join, accept the programme's regulations.")
    except Invalid as exc:
        return Template(
            "portal/join.html",
            status_code=422,
            context=page_context(request, regulations=regulations, error=error_text(request, exc), form=data),
        )
    now = now_of(request)
    await ratelimits.hit("code-request:addr", client_address(request), now=now)
    await ratelimits.hit("code-request:email", f"{brand.id}:{email}", now=now)
    join_data = {
        "name": name,
        "marketing": data.marketing == "yes",
        "regulations_version": regulations.version if regulations else None,
        "referral": request.cookies.get(invitations.REF_COOKIE) or None,
        "device": invitations.device_hash(
            request.cookies.get(settings_of(request).cookie_prefix + DEVICE_COOKIE)
        ),
    }
    code = await codes.new_code(
        brand_id=brand.id,
        email=email,
        purpose="join",
        data=join_data,
        secret=settings_of(request).secret_key,
        now=now,
    )
    await _mail_code(request, brand, email, code)
    return _verify_page(request, email, "/", join=data)


@get("/account/security", guards=[requires_customer])
async def security_page(request: Request) -> Template:
    keys = await passkeys.passkeys_of(await owner_of(request))
    return Template(
        "portal/security.html",
        context=page_context(
            request, passkeys=keys, offer=request.query_params.get("offer") == "1" and not keys
        ),
    )


# --- the account and the shopper's data rights (LGPD) ----------------------------------------------


def _mask_cpf(cpf: str | None) -> str:
    return f"***.{cpf[3:6]}.***-{cpf[9:]}" if cpf else ""


@get("/account", guards=[requires_customer])
async def account_page(request: Request) -> Template:
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    customer = await customers.get(brand.id, customer_id)
    return Template(
        "portal/account.html",
        context=page_context(
            request,
            customer=customer,
            cpf=_mask_cpf(customer.cpf),
            consents=await customers.channel_consents(brand.id, customer.id),
            consent_sources=customers.SOURCE_LABELS,
            saved=request.query_params.get("saved") == "1",
            club_open=bool(
                await club.visible(
                    brand_id=brand.id, customer_id=customer.id, segment=customer.segment, now=now_of(request)
                )
            ),
        ),
    )


class ConsentForm(msgspec.Struct):
    push: str = ""
    email: str = ""
    whatsapp: str = ""


@post("/account/consents", guards=[requires_customer], status_code=303)
async def change_consents(request: Request, data: URLEncodedBody[ConsentForm]) -> Redirect:
    """Each channel's consent as the shopper ticked it (only the ones that change are recorded)."""
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    choices = {channel: getattr(data, channel) == "yes" for channel in customers.CHANNELS}
    await customers.set_consents(brand.id, customer_id, choices, source="app", now=now_of(request))
    return Redirect("/account?saved=1", status_code=303)


@get("/account/data.json", guards=[requires_customer])
async def export_data(request: Request) -> Response[bytes]:
    """Everything the programme holds about the shopper, in one file."""
    brand, owner = brand_required(request), await owner_of(request)
    customer = await customers.get(brand.id, await signed_in_customer(request))
    devices = await passkeys.passkeys_of(owner)
    data = {
        "brand": brand.name,
        "exported_at": now_of(request),
        "profile": {k: v for k, v in msgspec.structs.asdict(customer).items() if k not in ("id", "brand")},
        "consents": await customers.consents(brand.id, customer.id),
        **await balances.history(brand_id=brand.id, customer_id=customer.id),
        "vouchers": [
            {k: v for k, v in msgspec.structs.asdict(voucher).items() if k != "raw_code"}
            for voucher in await vouchers.of_customer(
                brand_id=brand.id, customer_id=customer.id, now=now_of(request)
            )
        ],
    }
    invitations = await referrals.for_export(brand_id=brand.id, customer_id=customer.id)
    data["referrals"] = {k: invitations[k] for k in ("referral_code", "friends_invited", "invited_by")}
    data["devices"] = (
        [{"kind": "passkey", **msgspec.structs.asdict(d)} for d in devices]
        + [{"kind": "browser", **d} for d in invitations["devices"]]
        + [
            {"kind": "notifications", **{k: v for k, v in msgspec.structs.asdict(d).items() if k != "id"}}
            for d in await push.devices_of(brand.id, customer.id)
        ]
    )
    data["notification_categories"] = await push.categories_of(brand.id, customer.id)
    data["club_uses"] = await club.uses_of(brand_id=brand.id, customer_id=customer.id)
    data["nps_answers"] = await nps.of_customer(brand_id=brand.id, customer_id=customer.id)
    data["reward_exchanges"] = [
        {k: v for k, v in msgspec.structs.asdict(r).items() if k not in ("customer_id", "customer_name")}
        for r in await points.redemptions(brand.id, customer_id=customer.id, limit=10_000)
    ]
    return Response(
        msgspec.json.encode(data),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="meus-dados-{brand.slug}.json"'},
    )


@get("/account/delete", guards=[requires_customer])
async def delete_page(request: Request) -> Template:
    return Template("portal/delete.html", context=page_context(request))


class DeleteForm(msgspec.Struct):
    confirm: str = ""


@post("/account/delete", guards=[requires_customer], status_code=303)
async def delete_account(request: Request, data: URLEncodedBody[DeleteForm]) -> Response:
    """Erase the person at once; keep the money records without them (what was earned and spent)."""
    if data.confirm != "yes":
        return Template(
            "portal/delete.html",
            status_code=422,
            context=page_context(request, error=i18n.gettext(lang_of(request), "Tick the box to confirm.")),
        )
    brand, customer_id = brand_required(request), await signed_in_customer(request)
    await shoppers.erase(brand_id=brand.id, customer_id=customer_id, now=now_of(request))
    response = Redirect("/?deleted=1", status_code=303, headers={"clear-site-data": '"cache"'})
    clear_session_cookie(response, settings_of(request))
    return response


# Nothing here may be kept by a browser or the service worker: it is someone's account.
router = private_router(
    login_page,
    request_login_code,
    verify_login_code,
    join_page,
    join,
    security_page,
    account_page,
    change_consents,
    export_data,
    delete_page,
    delete_account,
    *account_routes(signed_in=requires_customer),
    passkey_router(path="/passkeys", signed_in=requires_customer, host_guard=requires_brand),
)
