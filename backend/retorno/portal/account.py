"""Shoppers sign in and out on their brand's host: e-mail codes, joining, passkeys, security page."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from retorno import i18n
from retorno.auth import service as auth
from retorno.auth.guards import (
    client_address,
    requires_customer,
    session_cookie,
    set_session_cookie,
)
from retorno.auth.routes import account_routes, now_of, origin_of, owner_of, passkey_router, safe_next
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Invalid
from retorno.mail import Message
from retorno.portal.routes import page_context, requires_brand
from retorno.web import brand_of, lang_of


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


class JoinForm(msgspec.Struct):
    name: str
    email: str
    accept: str = ""
    marketing: str = ""


def _verify_page(
    request: Request, email: str, next_path: str, error: str | None = None, status: int = 200
) -> Template:
    return Template(
        "portal/verify.html",
        status_code=status,
        context=page_context(request, email=email, next=next_path, error=error),
    )


@get("/login")
async def login_page(request: Request) -> Template:
    return Template(
        "portal/login.html", context=page_context(request, next=safe_next(request.query_params.get("next")))
    )


@post("/login", status_code=200)
async def request_login_code(request: Request, data: URLEncodedBody[EmailForm]) -> Template:
    """Send a code if the address has an account; the answer is the same either way."""
    brand = brand_of(request)
    try:
        email = customers.normalize_email(data.email)
    except Invalid as exc:
        return Template(
            "portal/login.html",
            status_code=422,
            context=page_context(request, next=safe_next(data.next), error=exc.detail),
        )
    now = now_of(request)
    await auth.hit("code-request:addr", client_address(request), now=now)
    await auth.hit("code-request:email", f"{brand.id}:{email}", now=now)
    customer = await customers.lookup(brand.id, Identity(email=email))
    code = None
    if customer is not None:
        code = await auth.new_code(
            brand_id=brand.id, email=email, purpose="login", secret=request.app.settings.secret_key, now=now
        )
    await _mail_code(request, brand, email, code)
    return _verify_page(request, email, safe_next(data.next))


@post("/login/verify", status_code=303)
async def verify_login_code(request: Request, data: URLEncodedBody[CodeForm]) -> Response:
    brand = brand_of(request)
    settings, now = request.app.settings, now_of(request)
    await auth.hit("code-attempt:addr", client_address(request), now=now)
    try:
        customer_id = await auth.sign_in_with_code(
            brand=brand, email=data.email, code=data.code, secret=settings.secret_key, now=now
        )
    except Invalid as exc:
        return _verify_page(request, data.email, safe_next(data.next), exc.detail, status=422)
    token = await auth.start_session(
        brand_id=brand.id,
        customer_id=customer_id,
        now=now,
        replacing=request.cookies.get(session_cookie(settings)),
    )
    has_passkey = bool(await auth.passkeys_of(auth.Owner(brand_id=brand.id, customer_id=customer_id)))
    # After the first sign-in by code, offer a passkey for the next ones.
    response = Redirect(safe_next(data.next) if has_passkey else "/account/security?offer=1", status_code=303)
    set_session_cookie(response, settings, token, int(auth.SHOPPER_SESSION.total_seconds()))
    return response


@get("/join")
async def join_page(request: Request) -> Template:
    regulations = await brands.current_regulations(brand_of(request).id)
    return Template("portal/join.html", context=page_context(request, regulations=regulations))


@post("/join", status_code=200)
async def join(request: Request, data: URLEncodedBody[JoinForm]) -> Template:
    """Ask for a code to create (or claim) an account; the account exists once the code is used."""
    brand = brand_of(request)
    regulations = await brands.current_regulations(brand.id)
    try:
        email = customers.normalize_email(data.email)
        if not data.name.strip():
            raise Invalid("Tell us your name.")
        if regulations is not None and data.accept != "yes":
            raise Invalid("To join, accept the programme's regulations.")
    except Invalid as exc:
        return Template(
            "portal/join.html",
            status_code=422,
            context=page_context(request, regulations=regulations, error=exc.detail, form=data),
        )
    now = now_of(request)
    await auth.hit("code-request:addr", client_address(request), now=now)
    await auth.hit("code-request:email", f"{brand.id}:{email}", now=now)
    join_data = {
        "name": data.name.strip()[:200],
        "marketing": data.marketing == "yes",
        "regulations_version": regulations["version"] if regulations else None,
    }
    code = await auth.new_code(
        brand_id=brand.id,
        email=email,
        purpose="join",
        data=join_data,
        secret=request.app.settings.secret_key,
        now=now,
    )
    await _mail_code(request, brand, email, code)
    return _verify_page(request, email, "/")


@get("/account/security", guards=[requires_customer])
async def security_page(request: Request) -> Template:
    keys = await auth.passkeys_of(await owner_of(request))
    return Template(
        "portal/security.html",
        context=page_context(
            request, passkeys=keys, offer=request.query_params.get("offer") == "1" and not keys
        ),
    )


router = Router(
    path="/",
    guards=[requires_brand],
    include_in_schema=False,
    # Nothing here may be kept by a browser or the service worker: it is someone's account.
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[
        login_page,
        request_login_code,
        verify_login_code,
        join_page,
        join,
        security_page,
        *account_routes(signed_in=requires_customer),
        passkey_router(path="/passkeys", signed_in=requires_customer, host_guard=requires_brand),
    ],
)
