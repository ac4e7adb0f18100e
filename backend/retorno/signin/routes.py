"""Sign-in routes both hosts share: the shopper's app (brand host) and the admin (platform host).

passkey.js calls four JSON routes under `/passkeys` or `/admin/passkeys` with the CSRF header;
the account forms (rename or remove a passkey, sign out everywhere) and signing out are the same
too. What differs between the hosts is whose passkeys they are (`owner_of`) and where to go next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.datastructures import CacheControlHeader
from litestar.params import URLEncodedBody
from litestar.response import Redirect

from retorno import i18n
from retorno.auth import passkeys, ratelimits, sessions
from retorno.customers import service as customers
from retorno.errors import Invalid
from retorno.referrals import invitations
from retorno.signin.guards import (
    clear_session_cookie,
    client_address,
    device_of,
    session_cookie,
    set_session_cookie,
    signed_in_customer,
    signed_in_staff,
)
from retorno.staff import service as staff
from retorno.web import RowId, brand_of, json_response, lang_of, now_of, safe_path, settings_of


def origin_of(request: Request) -> str:
    """This host's origin: a passkey belongs to the exact host it was made on."""
    return f"{settings_of(request).scheme}://{request.headers.get('host', '')}"


def safe_next(path: str | None, default: str = "/") -> str:
    """Only a path on this host is followed after signing in (web.safe_path)."""
    return safe_path(path, default)


async def owner_of(request: Request) -> passkeys.Owner:
    """The signed-in shopper (brand host) or staff member (platform host) of this request; the
    routes that ask are guarded by their host's `signed_in` guard."""
    brand = brand_of(request)
    if brand is not None:
        return passkeys.Owner(brand_id=brand.id, customer_id=await signed_in_customer(request))
    return passkeys.Owner(staff_id=await signed_in_staff(request))


async def _credential(request: Request) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise Invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Invalid("the body is not a credential")
    return body


@post("/register/options", status_code=200)
async def register_options(request: Request) -> Response[bytes]:
    owner, now = await owner_of(request), now_of(request)
    await ratelimits.hit("passkey:addr", client_address(request), now=now)
    brand = brand_of(request)
    if brand is not None:
        customer = await customers.get(brand.id, await signed_in_customer(request))
        rp_name, user = brand.name, (customer.email or f"cliente-{customer.id}", customer.name or "")
    else:
        member = await staff.staff_member(await signed_in_staff(request))
        rp_name, user = "Retorno", (member.email, member.name or member.email)
    return json_response(
        await passkeys.registration_options(
            owner=owner,
            rp_name=rp_name,
            user_name=user[0],
            display_name=user[1],
            origin=origin_of(request),
            now=now,
        )
    )


@post("/register", status_code=201)
async def register(request: Request) -> Response[bytes]:
    credential = await _credential(request)
    passkey_id = await passkeys.register_passkey(
        owner=await owner_of(request),
        credential=credential,
        origin=origin_of(request),
        now=now_of(request),
        name=device_name(request.headers.get("user-agent", ""), lang_of(request)),
    )
    return json_response({"id": passkey_id}, 201)


# What a User-Agent says, first match wins (Edge and Opera also say Chrome; Chrome says Safari).
_BROWSERS = (
    ("Edg/", "Edge"),
    ("SamsungBrowser", "Samsung Internet"),
    ("OPR/", "Opera"),
    ("FxiOS", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_DEVICES = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "Chromebook"),
    ("Macintosh", "Mac"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str, lang: str) -> str:
    """A new passkey's name as its owner knows the device: "Chrome no Android", "Safari no
    iPhone" (the account page lets them rename it)."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    device = next((name for mark, name in _DEVICES if mark in user_agent), None)
    if browser and device:
        return i18n.gettext(lang, "%(browser)s on %(device)s") % {"browser": browser, "device": device}
    return browser or device or i18n.gettext(lang, "Passkey")


@post("/authenticate/options", status_code=200)
async def authenticate_options(request: Request) -> Response[bytes]:
    await ratelimits.hit("passkey:addr", client_address(request), now=now_of(request))
    brand = brand_of(request)
    return json_response(
        await passkeys.authentication_options(
            brand_id=brand.id if brand else None, origin=origin_of(request), now=now_of(request)
        )
    )


@post("/authenticate", status_code=200)
async def authenticate(request: Request) -> Response[bytes]:
    """Sign in with a passkey made on this host; the session starts anew (the token changes)."""
    brand, settings, now = brand_of(request), settings_of(request), now_of(request)
    credential = await _credential(request)
    owner = await passkeys.authenticate_passkey(
        brand_id=brand.id if brand else None, credential=credential, origin=origin_of(request), now=now
    )
    token = await sessions.start_session(
        brand_id=owner.brand_id,
        customer_id=owner.customer_id,
        staff_id=owner.staff_id,
        now=now,
        replacing=request.cookies.get(session_cookie(settings)),
    )
    lifetime = sessions.STAFF_SESSION if owner.staff_id else sessions.SHOPPER_SESSION
    default = "/admin" if owner.staff_id else "/"
    response = json_response({"redirect": safe_next(str(credential.get("next") or default), default)})
    set_session_cookie(response, settings, token, int(lifetime.total_seconds()))
    if owner.customer_id is not None:
        if owner.brand_id is None:  # cannot be: a shopper's passkey is found on its brand's host only
            raise RuntimeError("a shopper's passkey signed in on the platform host")
        device = invitations.device_hash(device_of(request, response))
        await invitations.note_device(
            brand_id=owner.brand_id, customer_id=owner.customer_id, device=device, now=now
        )
    return response


def base_of(request: Request) -> str:
    """ "" on a brand host, "/admin" on the platform host."""
    return "" if brand_of(request) is not None else "/admin"


def signed_out(request: Request, token: str | None = None) -> Redirect:
    """The answer to signing out: the cookie goes, and the browser drops its cached pages."""
    response = Redirect(
        f"{base_of(request)}/" if brand_of(request) else "/admin/login",
        status_code=303,
        headers={"clear-site-data": '"cache"'},
    )
    clear_session_cookie(response, settings_of(request))
    return response


@post("/logout", status_code=303)
async def logout(request: Request) -> Response:
    """Sign out here: the session dies on the server too."""
    token = request.cookies.get(session_cookie(settings_of(request)))
    if token:
        await sessions.end_session(token)
    return signed_out(request)


class RenameForm(msgspec.Struct):
    name: str


@post("/account/passkeys/{passkey_id:int}/rename", status_code=303)
async def rename_passkey(request: Request, passkey_id: RowId, data: URLEncodedBody[RenameForm]) -> Redirect:
    await passkeys.rename_passkey(owner=await owner_of(request), passkey_id=passkey_id, name=data.name)
    return Redirect(f"{base_of(request)}/account/security", status_code=303)


@post("/account/passkeys/{passkey_id:int}/remove", status_code=303)
async def remove_passkey(request: Request, passkey_id: RowId) -> Redirect:
    await passkeys.remove_passkey(owner=await owner_of(request), passkey_id=passkey_id)
    return Redirect(f"{base_of(request)}/account/security", status_code=303)


@post("/account/sign-out-everywhere", status_code=303)
async def sign_out_everywhere(request: Request) -> Response:
    owner = await owner_of(request)
    await sessions.end_all_sessions(customer_id=owner.customer_id, staff_id=owner.staff_id)
    return signed_out(request)


def account_routes(*, signed_in: Any) -> list[Any]:
    """Signing out, and the account forms (these need `signed_in`)."""
    return [
        logout,
        Router(
            path="/", guards=[signed_in], route_handlers=[rename_passkey, remove_passkey, sign_out_everywhere]
        ),
    ]


def passkey_router(*, path: str, signed_in: Any, host_guard: Any) -> Router:
    """The four ceremony routes; registering needs `signed_in`, signing in does not."""
    routes: Sequence[Any] = [register_options, register, authenticate_options, authenticate]
    protected = {register_options, register}
    return Router(
        path=path,
        guards=[host_guard],
        include_in_schema=False,
        cache_control=CacheControlHeader(no_store=True, private=True),
        route_handlers=[
            Router(path="/", guards=[signed_in] if h in protected else [], route_handlers=[h]) for h in routes
        ],
    )
