"""Staff members and their roles: adding them, finding them, and what a role allows.

Depends only on its own tables (and customers' e-mail normalising); sign-in (retorno.auth)
imports this module, never the other way round.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from retorno import db
from retorno.customers import service as customers
from retorno.errors import Invalid, NotFound
from retorno.staff.tables import Staff, StaffRole

ROLES = ("owner", "manager", "operator")  # each includes the ones after it


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
        raise Invalid(f"role: one of {', '.join(ROLES)}")

    async def work() -> int:
        rows = await db.fetch("SELECT id, platform_admin FROM staff WHERE email = {}", email)
        staff_id = (
            rows[0]["id"]
            if rows
            else await db.insert(Staff, email=email, name=name, platform_admin=platform_admin, created_at=now)
        )
        if rows and platform_admin and not rows[0]["platform_admin"]:
            await db.fetch("UPDATE staff SET platform_admin = {} WHERE id = {}", True, staff_id)
        if brand_id is not None and role is not None:
            await db.fetch("DELETE FROM staff_roles WHERE staff = {} AND brand = {}", staff_id, brand_id)
            await db.insert(StaffRole, staff=staff_id, brand=brand_id, role=role)
        return staff_id

    return await db.write(work)


async def staff_by_email(email: str) -> dict | None:
    rows = await db.fetch(
        "SELECT id, email, name, platform_admin FROM staff WHERE email = {}", customers.normalize_email(email)
    )
    return rows[0] if rows else None


async def staff_member(staff_id: int) -> dict:
    rows = await db.fetch("SELECT id, email, name, platform_admin FROM staff WHERE id = {}", staff_id)
    if not rows:
        raise NotFound("no such staff member")
    roles = await db.fetch(
        "SELECT b.slug AS slug, b.name AS brand_name, r.role AS role FROM staff_roles r "
        "JOIN brands b ON b.id = r.brand WHERE r.staff = {} ORDER BY b.name",
        staff_id,
    )
    return rows[0] | {"roles": roles}


def role_allows(held: str, needed: str) -> bool:
    """owner > manager > operator: a role may do what the roles after it may."""
    return ROLES.index(held) <= ROLES.index(needed)


async def members_of(brand_id: int) -> list[dict[str, Any]]:
    """Who works at this brand, with their role, by e-mail."""
    return await db.fetch(
        "SELECT s.id, s.email, r.role FROM staff_roles r JOIN staff s ON s.id = r.staff "
        "WHERE r.brand = {} ORDER BY s.email",
        brand_id,
    )


async def remove_role(*, brand_id: int, staff_id: int) -> str | None:
    """Take this brand away from a staff member (in the caller's transaction); the role they had."""
    removed = await db.fetch(
        "DELETE FROM staff_roles WHERE staff = {} AND brand = {} RETURNING role", staff_id, brand_id
    )
    return removed[0]["role"] if removed else None
