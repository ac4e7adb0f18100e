"""A brand's VAPID key pair, which signs its web pushes: made with the brand (or on first use),
the private key sealed by the vault under the data key, and sealed again on rotation."""

from __future__ import annotations

import base64
import datetime as dt
import functools

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


async def _keys(brand_id: int) -> dict[str, str]:
    """The brand's key pair, the private key unsealed (it never leaves this process)."""
    rows = await db.fetch("SELECT private_key, public_key FROM push_vapid_keys WHERE brand = {}", brand_id)
    if not rows:

        async def work() -> list[dict[str, str]]:
            again = await db.fetch(
                "SELECT private_key, public_key FROM push_vapid_keys WHERE brand = {}", brand_id
            )
            if not again:
                await create_keys(brand_id, dt.datetime.now(dt.UTC))
                again = await db.fetch(
                    "SELECT private_key, public_key FROM push_vapid_keys WHERE brand = {}", brand_id
                )
            return again

        rows = await db.write(work)
    row = rows[0]
    return {
        "private_key": vault.unseal(row["private_key"], context=_context(brand_id)),
        "public_key": row["public_key"],
    }


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
        for row in await db.fetch(f"SELECT brand, private_key FROM push_vapid_keys{db.for_update()}"):  # noqa: S608
            if vault.sealed_with_current(row["private_key"]) or (
                only_plain and vault.is_sealed(row["private_key"])
            ):
                continue
            plain = vault.unseal(row["private_key"], context=_context(row["brand"]))
            await db.fetch(
                "UPDATE push_vapid_keys SET private_key = {} WHERE brand = {}",
                vault.seal(plain, context=_context(row["brand"])),
                row["brand"],
            )
            resealed += 1
        return resealed

    return await db.write(work)


async def public_key(brand_id: int) -> str:
    return (await _keys(brand_id))["public_key"]


@functools.lru_cache(maxsize=256)
def _vapid(private_key: str) -> Vapid:
    return Vapid.from_raw(private_key.encode())


async def vapid_of(brand_id: int) -> Vapid:
    return _vapid((await _keys(brand_id))["private_key"])
