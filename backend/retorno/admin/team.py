"""The brand's team and its keys (owner): staff roles, API keys, the audit log."""

from __future__ import annotations

from html import escape

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from retorno import db, i18n
from retorno.admin.common import admin_of, audited, page_context, record_change, requires_role
from retorno.apikeys import service as apikeys
from retorno.audit import service as audit
from retorno.customers import service as customers
from retorno.errors import Field, Invalid, NotFound
from retorno.mail import Message
from retorno.staff import service as staff
from retorno.web import RowId, error_text, lang_of, now_of, settings_of


@get("/staff", guards=[requires_role("owner")])
async def staff_page(request: Request, slug: FromPath[str]) -> Template:
    members = await staff.members_of(admin_of(request)["brand"].id)
    return Template("admin/staff.html", context=page_context(request, members=members, roles=staff.ROLES))


async def _invite(request: Request, email: str, role: str) -> None:

    admin, settings = admin_of(request), settings_of(request)
    lang, brand = lang_of(request), admin["brand"].name
    text = i18n.gettext(
        lang,
        "%(who)s gave you the role %(role)s at %(brand)s in Retorno. Sign in with this e-mail address "
        "at %(url)s: a code will be sent to you.",
    ) % {
        "who": admin["staff"].email,
        "role": i18n.gettext(lang, role),
        "brand": brand,
        "url": f"{settings.scheme}://{settings.base_host}/admin/login",
    }
    await request.app.state.mailer.send(
        Message(
            to=email,
            subject=i18n.gettext(lang, "You are invited to the %(brand)s admin")
            % {"brand": admin["brand"].name},
            text=text,
            html=f"<p>{escape(text)}</p>",
            sender_name="Retorno",
            sent_at=now_of(request),
        )
    )


class StaffForm(msgspec.Struct):
    email: str
    role: str


@post("/staff", guards=[requires_role("owner")], status_code=303)
async def invite_staff(
    request: Request, slug: FromPath[str], data: URLEncodedBody[StaffForm]
) -> Template | Redirect:
    """Give someone a role at this brand (or change theirs); they sign in at /admin/login by code."""
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    try:
        email = customers.normalize_email(data.email)
        if data.role not in staff.ROLES:
            raise Invalid("%(field)s: one of %(roles)s", field=Field("role"), roles=", ".join(staff.ROLES))
        before = [m for m in await staff.members_of(brand.id) if m.email == email]
        await audited(
            request,
            lambda: staff.add_staff(email=email, brand_id=brand.id, role=data.role, now=now),
            action="staff.role",
            target=email,
            before={"role": before[0].role} if before else None,
            after={"role": data.role},
        )
    except Invalid as exc:
        context = page_context(
            request,
            members=await staff.members_of(brand.id),
            roles=staff.ROLES,
            error=error_text(request, exc),
        )
        return Template("admin/staff.html", status_code=422, context=context | {"typed": data})
    if not before:  # someone new to this brand: tell them where to sign in (once it is saved)
        await _invite(request, email, data.role)
    return Redirect(f"/admin/b/{slug}/staff?done=access", status_code=303)


@post("/staff/{staff_id:int}/remove", guards=[requires_role("owner")], status_code=303)
async def remove_staff(request: Request, slug: FromPath[str], staff_id: RowId) -> Redirect:
    admin = admin_of(request)
    brand = admin["brand"]
    if staff_id == admin["staff"].id:
        raise Invalid("you cannot remove yourself; ask another owner")

    async def remove() -> None:
        role = await staff.remove_role(brand_id=brand.id, staff_id=staff_id)
        if role is None:
            raise NotFound("no such staff member at this brand")
        await record_change(request, action="staff.remove", target=str(staff_id), before={"role": role})

    await db.write(remove)
    return Redirect(f"/admin/b/{slug}/staff?done=removed", status_code=303)


# --- API keys -----------------------------------------------------------------------------------


@get("/keys", guards=[requires_role("owner")])
async def keys_page(request: Request, slug: FromPath[str]) -> Template:
    return Template(
        "admin/keys.html",
        context=page_context(request, keys=await apikeys.list_keys(admin_of(request)["brand"].id)),
    )


AUDIT_PAGE = 100
AUDIT_KINDS = (
    "counter.",
    "customer.",
    "brand.",
    "sales.",
    "campaign.",
    "messages.",
    "referral.",
    "coupon.",
    "club.",
    "nps.",
    "staff.",
    "apikey.",
    "webhook.",
    "store.",
)


class KeyForm(msgspec.Struct):
    name: str = ""


@post("/keys", guards=[requires_role("owner")], status_code=200)
async def create_key(request: Request, slug: FromPath[str], data: URLEncodedBody[KeyForm]) -> Template:
    """A new key, shown this once."""
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    name = data.name.strip()[:100]

    async def create() -> apikeys.Created:
        created = await apikeys.create(brand_id=brand.id, name=name, now=now)
        await record_change(
            request, action="apikey.create", target=created.key.split("_")[1], after={"name": name}
        )
        return created

    created = await db.write(create)
    return Template(
        "admin/keys.html",
        context=page_context(request, keys=await apikeys.list_keys(brand.id), new_key=created.key),
    )


@post("/keys/{key_id:int}/revoke", guards=[requires_role("owner")], status_code=303)
async def revoke_key(request: Request, slug: FromPath[str], key_id: RowId) -> Redirect:
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    before = next((k for k in await apikeys.list_keys(brand.id) if k.id == key_id), None)
    if before is None:
        raise NotFound("no such key")
    if before.revoked_at is not None:  # already revoked: nothing changes
        return Redirect(f"/admin/b/{slug}/keys", status_code=303)
    await audited(
        request,
        lambda: apikeys.revoke(brand_id=brand.id, key_id=key_id, now=now),
        action="apikey.revoke",
        target=before.prefix,
        before={"name": before.name, "revoked": False},
        after={"name": before.name, "revoked": True},
    )
    apikeys.clear_cache()  # again, once committed: no request in between may have cached it as valid
    return Redirect(f"/admin/b/{slug}/keys?done=revoked", status_code=303)


@get("/audit", guards=[requires_role("owner")])
async def audit_page(request: Request, slug: FromPath[str]) -> Template:
    """The audit log, newest first, a page of AUDIT_PAGE at a time, filtered by kind of action."""
    query = request.query_params
    before = query.get("before", "")
    action = query.get("action", "")
    events = await audit.events(
        brand_id=admin_of(request)["brand"].id,
        limit=AUDIT_PAGE + 1,
        before=int(before) if before.isdigit() else None,
        action=action if action in AUDIT_KINDS else "",
    )
    older = events[AUDIT_PAGE - 1].id if len(events) > AUDIT_PAGE else None
    context = page_context(request, events=events[:AUDIT_PAGE], older=older, action=action, kinds=AUDIT_KINDS)
    return Template("admin/audit.html", context=context)


routes = [staff_page, invite_staff, remove_staff, keys_page, create_key, revoke_key, audit_page]
