"""Staff sign in on the platform host with an e-mail code, and see their brands and roles."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from retorno import db, i18n
from retorno.admin.common import uploaded
from retorno.audit import service as audit
from retorno.auth import codes, passkeys, ratelimits, sessions
from retorno.auth.common import WrongCode
from retorno.brands import service as brands
from retorno.brands.pack import check_edited, unpack
from retorno.brands.pack_writer import to_toml
from retorno.customers import service as customers
from retorno.errors import Field, Invalid
from retorno.mail import Message
from retorno.onboarding import brand as onboarding
from retorno.signin.guards import (
    Forbidden,
    client_address,
    requires_staff,
    session_cookie,
    set_session_cookie,
    signed_in_staff,
)
from retorno.signin.routes import account_routes, owner_of, passkey_router
from retorno.staff import service as staff
from retorno.web import error_text, lang_of, now_of, problem_texts, requires_platform_host, settings_of


def _context(request: Request, **extra) -> dict:
    return {"brand": None, "lang": lang_of(request), **extra}


class EmailForm(msgspec.Struct):
    email: str


class CodeForm(msgspec.Struct):
    email: str
    code: str


@get("/login")
async def login_page(request: Request) -> Template:
    return Template("admin/login.html", context=_context(request))


@post("/login", status_code=200)
async def request_code(request: Request, data: URLEncodedBody[EmailForm]) -> Template:
    """A code for a staff address; the same answer for any other address."""
    now = now_of(request)
    try:
        email = customers.normalize_email(data.email)
    except Invalid as exc:
        return Template(
            "admin/login.html", status_code=422, context=_context(request, error=error_text(request, exc))
        )
    await ratelimits.hit("code-request:addr", client_address(request), now=now)
    await ratelimits.hit("code-request:email", f"staff:{email}", now=now)
    if await staff.staff_by_email(email) is not None:
        code = await codes.new_code(
            brand_id=None, email=email, purpose="staff", secret=settings_of(request).secret_key, now=now
        )
        lang = lang_of(request)
        text = i18n.gettext(
            lang, "Your code to sign in to the Retorno admin is %(code)s. It is valid for 10 minutes."
        )
        text %= {"code": code}
        await request.app.state.mailer.send(
            Message(
                to=email,
                subject=i18n.gettext(lang, "Your sign-in code: %(code)s") % {"code": code},
                text=text,
                html=f"<p>{text}</p>",
                sender_name="Retorno",
                sent_at=now,
            )
        )
    return Template("admin/verify.html", context=_context(request, email=email))


@post("/login/verify", status_code=303)
async def verify_code(request: Request, data: URLEncodedBody[CodeForm]) -> Response:
    settings, now = settings_of(request), now_of(request)
    await ratelimits.hit("code-attempt:addr", client_address(request), now=now)
    try:
        email = customers.normalize_email(data.email)
        await codes.use_code(brand_id=None, email=email, code=data.code, secret=settings.secret_key, now=now)
        member = await staff.staff_by_email(email)
        if member is None:
            raise WrongCode()
    except Invalid as exc:
        return Template(
            "admin/verify.html",
            status_code=422,
            context=_context(request, email=data.email, error=error_text(request, exc)),
        )
    token = await sessions.start_session(
        brand_id=None, staff_id=member.id, now=now, replacing=request.cookies.get(session_cookie(settings))
    )
    response = Redirect("/admin", status_code=303)
    set_session_cookie(response, settings, token, int(sessions.STAFF_SESSION.total_seconds()))
    return response


@get("/", guards=[requires_staff()])
async def home(request: Request) -> Template:
    member = await staff.staff_member(await signed_in_staff(request))
    return Template("admin/home.html", context=_context(request, staff=member))


async def requires_platform_admin(connection: Any, _: Any) -> None:
    """Only the platform's administrators (retorno staff add --platform-admin) see every brand."""
    await requires_staff()(connection, _)
    member = await staff.staff_member(await signed_in_staff(connection))
    if not member.platform_admin:
        raise Forbidden("Only platform administrators may do this.")
    connection.scope["state"]["staff_member"] = member


async def _brands_page(request: Request, status: int = 200, **extra: Any) -> Template:
    every = await brands.list_brands()
    return Template("admin/brands.html", status_code=status, context=_context(request, brands=every, **extra))


@get("/brands", guards=[requires_platform_admin])
async def brands_page(request: Request) -> Template:
    return await _brands_page(request)


class NewBrandForm(msgspec.Struct):
    slug: str
    name: str


def _pack_for(slug: str, name: str) -> Any:
    """A new brand's pack (default rules, a monogram logo), checked as any pack is."""
    return check_edited({"slug": slug, "name": name})


async def _audit_brand(request: Request, slug: str, *, action: str, **change: Any) -> None:
    """What a platform admin is doing to a brand, in that brand's audit log (in the change's
    transaction, after the brand exists)."""

    brand = await brands.get_brand(slug)
    member = request.scope["state"]["staff_member"]
    now = now_of(request)
    await audit.record(brand_id=brand.id, staff_id=member.id, action=action, target=slug, now=now, **change)


@post("/brands", guards=[requires_platform_admin], status_code=303)
async def create_brand(request: Request, data: URLEncodedBody[NewBrandForm]) -> Template | Redirect:
    """A new brand with the default rules and a monogram logo: the same checks as a brand pack."""

    now = now_of(request)
    slug, name = data.slug.strip().lower(), data.name.strip()
    try:
        pack = _pack_for(slug, name)
        if any(b.slug == slug for b in await brands.list_brands()):
            raise Invalid("%(field)s: %(slug)r is taken", field=Field("slug"), slug=slug)

        async def create() -> None:
            await onboarding.import_brand(pack, base_host=settings_of(request).base_host, now=now)
            await _audit_brand(request, slug, action="brand.create", after={"name": name})

        await db.write(create)
    except Invalid as exc:
        return await _brands_page(request, status=422, error=error_text(request, exc), form=data)
    return Redirect("/admin/brands?done=created", status_code=303)


@post("/brands/import", guards=[requires_platform_admin], status_code=303)
async def import_brand_page(request: Request) -> Template | Redirect:
    """A brand from an uploaded pack (.zip of its folder, or a brand.toml): created, or updated when
    its slug exists, exactly as `retorno brands import` does."""

    now = now_of(request)
    data = await uploaded(await request.form(), "pack")
    try:
        doc, files = unpack(data)
        slug = doc.get("slug")
        known = isinstance(slug, str) and slug in {b.slug for b in await brands.list_brands()}
        # a brand.toml alone keeps the logo
        base = await brands.export_pack(slug) if known and isinstance(slug, str) else None
        pack = check_edited(doc, base=base, files=files)

        async def write() -> None:
            result = await onboarding.import_brand(pack, base_host=settings_of(request).base_host, now=now)
            before = to_toml(base) if base else None
            await _audit_brand(
                request, pack.slug, action="brand.pack_import", before=before, after={"status": result.status}
            )

        await db.write(write)
    except Invalid as exc:
        return await _brands_page(request, status=422, pack_error=problem_texts(request, exc))
    return Redirect("/admin/brands?done=imported", status_code=303)


@get("/account/security", guards=[requires_staff()])
async def security_page(request: Request) -> Template:
    keys = await passkeys.passkeys_of(await owner_of(request))
    return Template("admin/security.html", context=_context(request, passkeys=keys))


router = Router(
    path="/admin",
    guards=[requires_platform_host],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_store=True, private=True),
    route_handlers=[
        login_page,
        request_code,
        verify_code,
        home,
        brands_page,
        create_brand,
        import_brand_page,
        security_page,
        *account_routes(signed_in=requires_staff()),
        passkey_router(path="/passkeys", signed_in=requires_staff(), host_guard=requires_platform_host),
    ],
)
