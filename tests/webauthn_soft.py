"""A software WebAuthn authenticator for tests: P-256 keys, attestation "none", passkey.js's JSON.

`create(options, origin)` answers registration options and `get(options, origin)` authentication
options with the JSON the browser posts (base64url without padding). Each call may override what a
real authenticator would never get wrong, to test that the server refuses it: the origin, the rp id,
the flags (UP, UV), the sign counter, the signing key, the challenge, the user handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value: Any) -> bytes:
    """Minimal CBOR (RFC 8949, shortest heads): ints, bytes, text, maps of those."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for size, info in ((1, 24), (2, 25), (4, 26), (8, 27)):
            if n < 1 << (8 * size):
                return bytes([major << 5 | info]) + n.to_bytes(size, "big")
        raise ValueError("integer too large for CBOR")

    if isinstance(value, bool):
        raise TypeError("booleans are not needed here")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return head(3, len(raw)) + raw
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def cose_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public half as a COSE_Key: EC2 (1: 2), ES256 (3: -7), P-256 (-1: 1), x (-2), y (-3)."""
    numbers = key.public_key().public_numbers()
    return cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0

    @property
    def b64id(self) -> str:
        return b64url(self.id)


def _options(options: str | dict) -> dict:
    return json.loads(options) if isinstance(options, str | bytes) else options


def _client_data(kind: str, challenge: bytes | str, origin: str) -> bytes:
    text = challenge if isinstance(challenge, str) else b64url(challenge)
    return json.dumps({"type": kind, "challenge": text, "origin": origin, "crossOrigin": False}).encode()


def _auth_data(rp_id: str, flags: int, counter: int) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + counter.to_bytes(4, "big")


class SoftAuthenticator:
    """Keeps its credentials (newest last); `last` is the one `create` made most recently."""

    def __init__(self) -> None:
        self.credentials: list[Credential] = []
        self.last: Credential | None = None

    def create(
        self,
        options: str | dict,
        origin: str,
        *,
        rp_id: str | None = None,
        flags: int = UP | UV,
        counter: int = 0,
        challenge: bytes | str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        credential_id: bytes | None = None,
    ) -> dict:
        opts = _options(options)
        credential = Credential(
            id=credential_id or secrets.token_bytes(32),
            key=key or ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id or opts["rp"]["id"],
            user_handle=unb64url(opts["user"]["id"]),
            counter=counter,
        )
        client_data = _client_data("webauthn.create", challenge or opts["challenge"], origin)
        attested = (
            bytes(16) + len(credential.id).to_bytes(2, "big") + credential.id + cose_key(credential.key)
        )
        auth_data = _auth_data(credential.rp_id, flags | AT, counter) + attested
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(credential)
        self.last = credential
        return {
            "id": credential.b64id,
            "rawId": credential.b64id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: str | dict,
        origin: str,
        *,
        credential: Credential | None = None,
        rp_id: str | None = None,
        flags: int = UP | UV,
        counter: int | None = None,
        challenge: bytes | str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        user_handle: bytes | None = None,
    ) -> dict:
        """An assertion; the counter goes up by one unless given (then it is used as it is)."""
        opts = _options(options)
        rp_id = rp_id or (credential.rp_id if credential else opts["rpId"])
        credential = credential or next(c for c in reversed(self.credentials) if c.rp_id == rp_id)
        if counter is None:
            credential.counter += 1
            counter = credential.counter
        else:
            credential.counter = max(credential.counter, counter)
        client_data = _client_data("webauthn.get", challenge or opts["challenge"], origin)
        auth_data = _auth_data(rp_id, flags, counter)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (key or credential.key).sign(signed, ec.ECDSA(hashes.SHA256()))
        handle = credential.user_handle if user_handle is None else user_handle
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if handle:
            response["userHandle"] = b64url(handle)
        return {
            "id": credential.b64id,
            "rawId": credential.b64id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": response,
        }
