"""Credentials kept in the database, sealed: a dump of the database holds no usable secret.

Every stored credential (the brands' VAPID private keys today; webhook secrets, platform tokens
and messaging tokens as they arrive) goes through `seal` on the way in and `unseal` on the way out.
AES-256-GCM (`cryptography`), a fresh 96-bit nonce per value, and the row it belongs to as
associated data (`push_vapid_keys:7`), so a sealed value copied onto another row does not open.

    sealed:v1:<key id>:<base64url(nonce | ciphertext | tag)>

The key comes from RETORNO_DATA_KEY (32 random bytes, base64url; required in production and
apart from the session secret). To change it: set the new key as RETORNO_DATA_KEY and the old one
in RETORNO_DATA_KEYS_PREVIOUS, run `retorno secrets rotate` (everything is sealed again under the
new key), then drop the old one. A value stored before sealing existed is read as it is and sealed
by `retorno migrate` or `rotate`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
# Development and tests only: production refuses to start without a key of its own.
DEV_KEY = hashlib.sha256(b"retorno development data key: not a secret").digest()


class VaultError(Exception):
    """A sealed value that no configured key opens (a missing previous key, or a tampered row)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"retorno key id\n" + key).hexdigest()[:8]


def decode_key(text: str) -> bytes:
    """A key as RETORNO_DATA_KEY gives it; ValueError unless it is 32 bytes of base64url."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if len(key) != 32:
        raise ValueError("not 32 bytes")
    return key


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


_current = DEV_KEY
_by_id = {key_id(DEV_KEY): DEV_KEY}


def configure(current: bytes, previous: tuple[bytes, ...] = ()) -> None:
    """The key that seals from now on, and older ones that may still open what is stored."""
    global _current, _by_id
    _current = current
    _by_id = {key_id(k): k for k in (*previous, current)}


def seal(plain: str, *, context: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_current).encrypt(nonce, plain.encode(), context.encode())
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{PREFIX}{key_id(_current)}:{body}"


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def sealed_with_current(value: str) -> bool:
    return value.startswith(f"{PREFIX}{key_id(_current)}:")


def unseal(value: str, *, context: str) -> str:
    """The plain value; one stored before sealing existed comes back as it is."""
    if not is_sealed(value):
        return value
    ident, _, body = value.removeprefix(PREFIX).partition(":")
    key = _by_id.get(ident)
    if key is None:
        raise VaultError(
            f"a stored credential ({context}) was sealed with key {ident}, which is not configured: "
            "set it in RETORNO_DATA_KEYS_PREVIOUS, or run `retorno secrets rotate` with it there"
        )
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except InvalidTag:
        raise VaultError(f"a stored credential ({context}) does not open: altered or moved") from None
