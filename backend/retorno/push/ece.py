"""The aes128gcm body of a push message (RFC 8291 on RFC 8188), one record, for pywebpush to send.

pywebpush prepares a message through http_ece in ~140 µs here, of which the per-message key pair
and ECDH that RFC 8291 requires are ~70 µs; with this encoder it takes ~110 µs (bench/README.md,
issue 21). `Pusher` is pywebpush's WebPusher with this encoder; tests
check it byte for byte against http_ece given the same key pair and salt, and the fake push
service decrypts every message with http_ece.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pywebpush import CaseInsensitiveDict, WebPusher

RECORD_SIZE = 4096  # http_ece's and the browsers' default
_ONE_RECORD = RECORD_SIZE - 16 - 1  # the AEAD tag and the padding delimiter
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"
_UNCOMPRESSED = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.sha256)


def encrypt(
    content: bytes,
    receiver_key: bytes,
    auth_secret: bytes,
    *,
    private_key: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> bytes:
    """The message body for a subscription's P-256 key (`receiver_key`, 65 bytes) and auth
    secret: a new key pair and salt each call unless given (the tests give them)."""
    if len(content) > _ONE_RECORD:
        raise ValueError("a push message's payload is one record (4,079 bytes at most)")
    private_key = private_key or ec.generate_private_key(ec.SECP256R1())
    salt = salt or os.urandom(16)
    sender_key = private_key.public_key().public_bytes(*_UNCOMPRESSED)
    receiver = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), receiver_key)
    shared = private_key.exchange(ec.ECDH(), receiver)
    # RFC 8291 section 3.4: the input keying material from the ECDH secret and the auth secret
    # (HKDF with a 32-byte output is one HMAC for extract and one for expand).
    ikm = _hmac(_hmac(auth_secret, shared), _KEY_INFO + receiver_key + sender_key + b"\x01")
    # RFC 8188 section 2.2-2.3: the content-encryption key and nonce from the salt.
    prk = _hmac(salt, ikm)
    cek, nonce = _hmac(prk, _CEK_INFO)[:16], _hmac(prk, _NONCE_INFO)[:12]
    header = salt + struct.pack("!IB", RECORD_SIZE, len(sender_key)) + sender_key
    return header + AESGCM(cek).encrypt(nonce, content + b"\x02", None)


class Pusher(WebPusher):
    """pywebpush's WebPusher, its aes128gcm body from `encrypt` (the rest is pywebpush's)."""

    def encode(self, data: bytes, content_encoding: str = "aes128gcm") -> Any:
        if content_encoding != "aes128gcm" or not data or len(data) > _ONE_RECORD:
            return super().encode(data, content_encoding)
        if not self.receiver_key or not self.auth_key:
            return super().encode(data, content_encoding)  # pywebpush says what is missing
        return CaseInsensitiveDict({"body": encrypt(data, self.receiver_key, self.auth_key)})
