"""Staff members and their roles: adding them, finding them, and what a role allows.

Depends only on its own tables (and customers' e-mail normalising); sign-in (retorno.auth)
imports this module, never the other way round.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno import db
from retorno.customers import service as customers
from retorno.errors import N_, Field, Invalid, NotFound
from retorno.staff.tables import Staff, StaffRole

ROLES = (N_("owner"), N_("manager"), N_("operator"))  # each includes the ones after it


class StaffView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    platform_admin: bool


class RoleHeld(msgspec.Struct, frozen=True, kw_only=True):
    """A role a staff member holds at a brand."""

    slug: str
    brand_name: str
    role: str


class StaffMember(msgspec.Struct, frozen=True, kw_only=True):
    """A staff member with the roles they hold, by brand name."""

    id: int
    email: str
    name: str
    platform_admin: bool
    roles: list[RoleHeld]


class BrandMember(msgspec.Struct, frozen=True, kw_only=True):
    """Someone who works at a brand, with their role there."""

    id: int
    email: str
    role: str


_STAFF_COLUMNS = (Staff.id, Staff.email, Staff.name, Staff.platform_admin)


async def add_staff(
    *,
    email: str,
    now: dt.datetime,
    brand_id: int | None = None,
    role: str | None = None,
    platform_admin: bool = False,
    name: str = "",
) -> int:
    email = customers.normalize_email(email)
    if role is not None and role not in ROLES:
        raise Invalid("%(field)s: one of %(roles)s", field=Field("role"), roles=", ".join(ROLES))

    async def work() -> int:
        row = await Staff.select(Staff.id, Staff.platform_admin).where(Staff.email == email).first()
        staff_id = (
            row["id"]
            if row is not None
            else await db.insert(Staff, email=email, name=name, platform_admin=platform_admin, created_at=now)
        )
        if row is not None and platform_admin and not row["platform_admin"]:
            await Staff.update({Staff.platform_admin: True}).where(Staff.id == staff_id)
        if brand_id is not None and role is not None:
            await StaffRole.delete().where((StaffRole.staff == staff_id) & (StaffRole.brand == brand_id))
            await db.insert(StaffRole, staff=staff_id, brand=brand_id, role=role)
        return staff_id

    return await db.write(work)


async def staff_by_email(email: str) -> StaffView | None:
    row = await Staff.select(*_STAFF_COLUMNS).where(Staff.email == customers.normalize_email(email)).first()
    return msgspec.convert(row, StaffView) if row is not None else None


async def staff_member(staff_id: int) -> StaffMember:
    row = await Staff.select(*_STAFF_COLUMNS).where(Staff.id == staff_id).first()
    if row is None:
        raise NotFound("no such staff member")
    roles = await (
        StaffRole.select(
            StaffRole.brand.slug.as_alias("slug"), StaffRole.brand.name.as_alias("brand_name"), StaffRole.role
        )
        .where(StaffRole.staff == staff_id)
        .order_by(StaffRole.brand.name)
    )
    return msgspec.convert(row | {"roles": roles}, StaffMember)


def role_allows(held: str, needed: str) -> bool:
    """owner > manager > operator: a role may do what the roles after it may."""
    return ROLES.index(held) <= ROLES.index(needed)


async def members_of(brand_id: int) -> list[BrandMember]:
    """Who works at this brand, with their role, by e-mail."""
    rows = await (
        StaffRole.select(
            StaffRole.staff.as_alias("id"), StaffRole.staff.email.as_alias("email"), StaffRole.role
        )
        .where(StaffRole.brand == brand_id)
        .order_by(StaffRole.staff.email)
    )
    return msgspec.convert(rows, list[BrandMember])


async def remove_role(*, brand_id: int, staff_id: int) -> str | None:
    """Take this brand away from a staff member (in the caller's transaction); the role they had."""
    removed = await (
        StaffRole.delete()
        .where((StaffRole.staff == staff_id) & (StaffRole.brand == brand_id))
        .returning(StaffRole.role)
    )
    return removed[0]["role"] if removed else None
