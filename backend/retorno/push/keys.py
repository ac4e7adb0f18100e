"""A brand's VAPID key pair, which signs its web pushes: made with the brand (or on first use),
the private key sealed by the vault under the data key, and sealed again on rotation."""

from __future__ import annotations

import base64
import datetime as dt
import functools
from typing import Any

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from retorno import db, vault
from retorno.push.tables import VapidKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- keys ---------------------------------------------------------------------------------------


def new_key_pair() -> tuple[str, str]:
    """(private, public): the raw private value and the uncompressed public point, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64(private), _b64(public)


def _context(brand_id: int) -> str:
    """What a sealed private key is bound to: its brand's row (vault.py)."""
    return f"push_vapid_keys:{brand_id}"


class KeyPair(msgspec.Struct, frozen=True, kw_only=True):
    """A brand's VAPID key pair, the private key unsealed (it never leaves this process)."""

    private_key: str
    public_key: str


async def _stored(brand_id: int) -> dict[str, Any] | None:
    return (
        await VapidKey.select(VapidKey.private_key, VapidKey.public_key)
        .where(VapidKey.brand == brand_id)
        .first()
    )


async def _keys(brand_id: int) -> KeyPair:
    """The brand's key pair (made on first use), the private key unsealed."""
    row = await _stored(brand_id)
    if row is None:

        async def work() -> dict[str, Any] | None:
            again = await _stored(brand_id)
            if again is None:
                await create_keys(brand_id, dt.datetime.now(dt.UTC))
                again = await _stored(brand_id)
            return again

        row = await db.write(work)
    if row is None:
        raise RuntimeError(f"brand {brand_id}: no VAPID keys were made")
    return KeyPair(
        private_key=vault.unseal(row["private_key"], context=_context(brand_id)),
        public_key=row["public_key"],
    )


async def create_keys(brand_id: int, now: dt.datetime) -> None:
    """A new brand's key pair, in the transaction that creates the brand; the private key sealed."""
    private, public = new_key_pair()
    await db.insert(
        VapidKey,
        brand=brand_id,
        private_key=vault.seal(private, context=_context(brand_id)),
        public_key=public,
        created_at=now,
    )


async def seal_keys(*, only_plain: bool = False) -> int:
    """Every brand's private key sealed under the current data key: keys stored in plain text
    before sealing existed (`retorno migrate`), and keys sealed under an older key (`retorno
    secrets rotate`)."""

    async def work() -> int:
        resealed = 0
        stored = VapidKey.select(VapidKey.brand, VapidKey.private_key)
        if db.is_postgres():
            stored = stored.lock_rows("UPDATE")
        for row in await stored:
            if vault.sealed_with_current(row["private_key"]) or (
                only_plain and vault.is_sealed(row["private_key"])
            ):
                continue
            plain = vault.unseal(row["private_key"], context=_context(row["brand"]))
            await VapidKey.update(
                {VapidKey.private_key: vault.seal(plain, context=_context(row["brand"]))}
            ).where(VapidKey.brand == row["brand"])
            resealed += 1
        return resealed

    return await db.write(work)


async def public_key(brand_id: int) -> str:
    return (await _keys(brand_id)).public_key


@functools.lru_cache(maxsize=256)
def _vapid(private_key: str) -> Vapid:
    return Vapid.from_raw(private_key.encode())


async def vapid_of(brand_id: int) -> Vapid:
    return _vapid((await _keys(brand_id)).private_key)
