"""What every brand page of the admin shares: the role guard, the page context, the audit helper
and reading what a clerk types (amounts, identities, dates)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection

from retorno import db
from retorno.audit import service as audit
from retorno.brands import service as brands
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import Field, Invalid, NotFound
from retorno.ledger.rules import Item
from retorno.signin.guards import Forbidden, requires_staff, signed_in_staff
from retorno.staff import service as staff
from retorno.typed import centavos
from retorno.web import lang_of, now_of

T = TypeVar("T")


def requires_role(role: str):
    """A guard: the signed-in staff member holds `role` (or a higher one) at the brand in the path."""

    async def guard(connection: ASGIConnection, _: Any) -> None:
        await requires_staff()(connection, _)
        member = await staff.staff_member(await signed_in_staff(connection))
        slug = connection.path_params.get("slug", "")
        held = next((r.role for r in member.roles if r.slug == slug), None)
        if held is None and not member.platform_admin:
            raise NotFound("no such brand")
        try:
            brand = await brands.get_brand(slug)
        except NotFound:
            raise NotFound("no such brand") from None
        if not member.platform_admin and (held is None or not staff.role_allows(held, role)):
            raise Forbidden("Your role does not allow this page.")
        connection.scope["state"]["admin"] = {"brand": brand, "staff": member, "role": held or "owner"}

    return guard


def admin_of(request: Request) -> dict[str, Any]:
    return request.scope["state"]["admin"]


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    admin = admin_of(request)
    return {
        "brand": None,
        "lang": lang_of(request),
        "b": admin["brand"],
        "role": admin["role"],
        "staff": admin["staff"],
        **extra,
    }


async def record_change(request: Request, action: str, **change: Any) -> None:
    """Write what this staff member is changing at this brand to the audit log, inside the change's
    own transaction (`db.write`): the change and its record commit together or not at all."""
    if not db.in_transaction():
        raise RuntimeError("record_change belongs inside the transaction of the change it records")
    admin = admin_of(request)
    await audit.record(
        brand_id=admin["brand"].id,
        staff_id=admin["staff"].id,
        action=action,
        now=now_of(request),
        **change,
    )


async def audited(request: Request, work: Callable[[], Awaitable[T]], action: str, **change: Any) -> T:
    """`work` (a service call) and its audit record, in one transaction."""

    async def unit() -> T:
        result = await work()
        await record_change(request, action, **change)
        return result

    return await db.write(unit)


_CPF_WRITTEN = re.compile(r"\d{11}|\d{3}\.\d{3}\.\d{3}-\d{2}")


def identity_of(text: str) -> Identity:
    """What the clerk typed: an e-mail, a CPF (11 digits, bare or as 123.456.789-09) or a phone.
    A number written as a phone ("(11) 92408-0982", "+55 11 ...") is a phone even when its digits
    happen to pass the CPF check (about one phone in a hundred does)."""
    text = text.strip()
    if "@" in text:
        return Identity(email=text)
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 11 and _CPF_WRITTEN.fullmatch(text):
        try:
            return Identity(cpf=customers.normalize_cpf(digits))
        except Invalid:
            pass  # 11 digits that are no CPF: a phone with its area code
    return Identity(phone=text)


def items_of(text: str, total: int) -> list[Any] | None:
    """Order lines typed one per line as "<category> <amount>" ("maquiagem 80,00"); they must add up
    to the total. No lines: None (the whole total is one item with no category)."""

    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        *category, amount = line.split()
        try:
            value = centavos(amount)
        except Invalid:
            raise Invalid(
                '%(field)s, line %(number)s: %(amount)r is not an amount ("maquiagem 80,00")',
                field=Field("items"),
                number=number,
                amount=amount,
            ) from None
        items.append(Item(category=" ".join(category) or None, amount=value))
    if items and sum(i.amount for i in items) != total:
        raise Invalid("%(field)s: they must add up to the total", field=Field("items"))
    return items or None


async def uploaded(form: Any, field: str) -> bytes:
    """The bytes of the file sent in `field` of a multipart form (b"" when none was chosen)."""
    upload = form.get(field)
    return await upload.read() if upload is not None and hasattr(upload, "read") else b""
