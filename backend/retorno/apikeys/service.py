"""Create, check and revoke API keys. A key reads `rk_<prefix>_<secret>`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import msgspec

from retorno.apikeys.tables import ApiKey
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.cache import TTLCache
from retorno.errors import NotFound

LAST_USED_GRANULARITY = dt.timedelta(minutes=5)  # no write on every request


class Created(msgspec.Struct, frozen=True):
    id: int
    key: str  # shown once, never stored


class KeyView(msgspec.Struct, frozen=True, kw_only=True):
    """A brand's API key as the admin lists it (never its secret)."""

    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(*, brand_id: int, name: str, now: dt.datetime) -> Created:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    inserted = await ApiKey.insert(
        ApiKey(brand=brand_id, name=name[:100], prefix=prefix, secret_hash=_hash(secret), created_at=now)
    )
    return Created(id=inserted[0]["id"], key=f"rk_{prefix}_{secret}")


_checked = TTLCache()  # sha256(key) -> brand slug or None; a revoked key stops within cache.SECONDS


async def authenticate(key: str, *, now: dt.datetime) -> BrandView | None:
    """The brand a key belongs to, or None for a malformed, unknown or revoked key."""
    fingerprint = _hash(key)
    slug = _checked.get(fingerprint, "")
    if slug == "":
        slug = await _check(key, now)
        _checked.put(fingerprint, slug)
    return await brands.get_brand(slug) if slug else None


async def _check(key: str, now: dt.datetime) -> str | None:
    """Every API call comes here unless `_checked` remembers the key (cache.SECONDS), so the
    query builder's cost is paid once per key every few seconds, not per request."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk":
        return None
    row = await (
        ApiKey.select(
            ApiKey.id,
            ApiKey.brand.slug.as_alias("slug"),
            ApiKey.secret_hash,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
        )
        .where(ApiKey.prefix == parts[1])
        .first()
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["secret_hash"], _hash(parts[2])):
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_GRANULARITY:
        await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == row["id"])
    return row["slug"]


async def revoke(*, brand_id: int, key_id: int, now: dt.datetime) -> None:
    changed = await (
        ApiKey.update({ApiKey.revoked_at: now})
        .where((ApiKey.id == key_id) & (ApiKey.brand == brand_id) & ApiKey.revoked_at.is_null())
        .returning(ApiKey.id)
    )
    if not changed:
        raise NotFound("no such active key")
    _checked.clear()


def clear_cache() -> None:
    _checked.clear()


async def list_keys(brand_id: int) -> list[KeyView]:
    rows = await (
        ApiKey.select(
            ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.created_at, ApiKey.last_used_at, ApiKey.revoked_at
        )
        .where(ApiKey.brand == brand_id)
        .order_by(ApiKey.id)
    )
    return msgspec.convert(rows, list[KeyView])
