"""Who is signed in on this request, and the guards that keep pages to the right people."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection

from retorno.auth import sessions
from retorno.errors import DomainError
from retorno.settings import Settings
from retorno.staff import service as staff
from retorno.web import brand_of, settings_of

SESSION_COOKIE = "retorno_session"


class SignInRequired(DomainError):
    """Answered with a redirect to the sign-in page of this host (see app.py)."""

    status_code = 303
    title = "Sign in"

    def __init__(self, login_path: str, next_path: str) -> None:
        super().__init__("Sign in to continue.")
        self.location = f"{login_path}?next={quote(next_path, safe='')}"


class Forbidden(DomainError):
    status_code = 403
    title = "Not allowed"


def session_cookie(settings: Settings) -> str:
    return settings.cookie_prefix + SESSION_COOKIE


async def session_of(connection: ASGIConnection) -> sessions.SessionView | None:
    """This request's session, if its cookie names a live one for this very host's brand."""
    state = connection.scope["state"]
    if "session" not in state:
        token = connection.cookies.get(session_cookie(settings_of(connection)))
        found = await sessions.session_for(token, now=connection.app.state.clock()) if token else None
        brand = brand_of(connection)
        if found is not None and found.brand != (brand.id if brand else None):
            found = None  # a session of one brand is worthless on another brand's host
        state["session"] = found
    return state["session"]


async def requires_customer(connection: ASGIConnection, _: Any) -> None:
    session = await session_of(connection)
    if session is None or session.customer is None:
        raise SignInRequired("/login", connection.url.path)


async def signed_in_customer(connection: ASGIConnection) -> int:
    """The signed-in shopper's id, on a route `requires_customer` guards (so there is one)."""
    session = await session_of(connection)
    if session is None or session.customer is None:
        raise RuntimeError("no shopper is signed in: the route lacks the requires_customer guard")
    return session.customer


async def signed_in_staff(connection: ASGIConnection) -> int:
    """The signed-in staff member's id, on a route `requires_staff` guards (so there is one)."""
    session = await session_of(connection)
    if session is None or session.staff is None:
        raise RuntimeError("no staff member is signed in: the route lacks the requires_staff guard")
    return session.staff


def requires_staff(role: str | None = None):
    """A guard for the admin: a signed-in staff member (with at least `role` on some brand)."""

    async def guard(connection: ASGIConnection, _: Any) -> None:
        session = await session_of(connection)
        if session is None or session.staff is None:
            raise SignInRequired("/admin/login", connection.url.path)
        if role is not None:
            member = await staff.staff_member(session.staff)
            if not member.platform_admin and not any(staff.role_allows(r.role, role) for r in member.roles):
                raise Forbidden("Your role does not allow this page.")

    return guard


def set_session_cookie(response: Any, settings: Settings, token: str, max_age: int) -> None:
    response.set_cookie(
        session_cookie(settings),
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.production,
        path="/",
    )


DEVICE_COOKIE = "retorno_device"


def device_of(request: Any, response: Any) -> str:
    """This browser's device id (a random cookie kept a year), set on `response` if it had none.
    Referral checks compare its hash between inviters and friends; it identifies no one."""
    name = settings_of(request).cookie_prefix + DEVICE_COOKIE
    raw = request.cookies.get(name) or ""
    if not raw:
        raw = secrets.token_urlsafe(24)
        response.set_cookie(
            name,
            raw,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=settings_of(request).production,
            path="/",
        )
    return raw


def clear_session_cookie(response: Any, settings: Settings) -> None:
    response.delete_cookie(session_cookie(settings), path="/")


def client_address(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The peer's address; uvicorn already replaced it from X-Forwarded-For for trusted proxies only."""
    return request.client.host if request.client else "unknown"
