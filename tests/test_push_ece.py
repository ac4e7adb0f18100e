"""The push message body: retorno.push.ece against http_ece, the reference implementation that
pywebpush itself uses, and what a browser (here http_ece again) reads of it."""

import os

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from retorno.push import ece
from tests.fake_push import b64


def _browser() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, public, os.urandom(16)


@settings(max_examples=60, deadline=None)
@given(content=st.binary(min_size=1, max_size=4079))
def test_the_body_is_http_ece_s_byte_for_byte_given_the_same_key_pair_and_salt(content):
    _, public, auth = _browser()
    sender, salt = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
    ours = ece.encrypt(content, public, auth, private_key=sender, salt=salt)
    reference = http_ece.encrypt(
        content, salt=salt, private_key=sender, dh=public, auth_secret=auth, version="aes128gcm"
    )
    assert ours == reference


def test_a_browser_reads_the_message_and_each_message_has_its_own_key_and_salt():
    key, public, auth = _browser()
    first = ece.encrypt(b'{"title": "Cashback"}', public, auth)
    second = ece.encrypt(b'{"title": "Cashback"}', public, auth)
    for body in (first, second):
        assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == (
            b'{"title": "Cashback"}'
        )
    assert first[:16] != second[:16]  # the salt
    assert first[21:86] != second[21:86]  # the sender's public key (RFC 8291: one per message)


def test_a_payload_longer_than_one_record_is_refused():
    _, public, auth = _browser()
    with pytest.raises(ValueError, match="one record"):
        ece.encrypt(b"x" * 4080, public, auth)


def test_the_pusher_sends_what_pywebpush_would_with_this_body():
    key, public, auth = _browser()
    subscription = {
        "endpoint": "https://push.example/abc",
        "keys": {"p256dh": b64(public), "auth": b64(auth)},
    }
    prepared = ece.Pusher(subscription)._prepare_send_data(
        data='{"title": "Olá"}', headers={"Urgency": "normal"}, ttl=60, content_encoding="aes128gcm"
    )
    assert prepared["endpoint"] == "https://push.example/abc"
    assert prepared["headers"]["content-encoding"] == "aes128gcm"
    assert prepared["headers"]["ttl"] == "60"
    assert prepared["headers"]["urgency"] == "normal"
    assert http_ece.decrypt(prepared["data"], private_key=key, auth_secret=auth, version="aes128gcm") == (
        '{"title": "Olá"}'.encode()
    )
