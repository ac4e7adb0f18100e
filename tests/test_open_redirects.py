"""After signing in (e-mail code, passkey, staff passkey) or switching language, only a path on
this very host is followed: a corpus of known open-redirect payloads never leaves it."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from retorno.web import safe_path
from tests.conftest import brand_url, post_form
from tests.test_passkeys import PLATFORM, call, enrol, origin, staff_call
from tests.webauthn_soft import SoftAuthenticator

# Each of these takes a browser (or a lenient URL parser) to another host, or to a script.
PAYLOADS = [
    "//evil.example",
    "//evil.example/phish",
    "///evil.example/phish",
    "/\\evil.example/phish",
    "/\\/evil.example/phish",
    "\\\\evil.example/phish",
    "/%5Cevil.example/phish",
    "/%5cevil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%252F%252Fevil.example",
    "%2F%2Fevil.example",
    "https://evil.example/phish",
    "http:evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/%0d%0a/evil.example",
    "/%00/evil.example",
    " //evil.example",
    "evil.example",
    "／／evil.example",
    "/%E2%80%8B/evil.example",
    ".//evil.example",
]
FINE = ["/", "/statement", "/vouchers?code=K7QM", "/account/security#passkeys", "/r/ABCD2345"]


def test_the_corpus_is_large_enough():
    assert len(PAYLOADS) >= 20


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_is_a_safe_path(payload):
    assert safe_path(payload) == "/"
    assert safe_path(payload, "/admin") == "/admin"


@pytest.mark.parametrize("path", FINE)
def test_paths_on_this_host_are_kept(path):
    assert safe_path(path) == path


@pytest.fixture
async def ana(client, app):
    """A shopper with a passkey (so a sign-in by code also follows `next`)."""
    return await enrol(client, app, "ana@example.com", "Ana")


async def test_the_code_form_never_leaves_the_host(client, app, ana, clock):
    for payload in PAYLOADS:
        clock.advance(minutes=16)  # past the limit on codes asked for one address
        page = await client.get(brand_url("bella", "/login?next=" + quote(payload, safe="")))
        assert page.status_code in (200, 400)  # 400: a control character in the query
        assert "evil.example" not in page.text and "javascript:" not in page.text, payload
        asked = await post_form(
            client, brand_url("bella", "/login"), {"email": "ana@example.com", "next": payload}
        )
        assert asked.status_code == 200
        assert "evil.example" not in asked.text, payload
        code = re.search(r"\b\d{6}\b", app.state.mailer.messages[0].text).group()
        verified = await post_form(
            client,
            brand_url("bella", "/login/verify"),
            {"email": "ana@example.com", "code": code, "next": payload},
        )
        assert verified.status_code == 303, verified.text
        assert verified.headers["location"] == "/", payload
        await post_form(client, brand_url("bella", "/logout"), {})


async def test_a_passkey_sign_in_never_leaves_the_host(client, ana):
    for payload in PAYLOADS:
        options = await call(client, "bella", "/passkeys/authenticate/options")
        assertion = ana.authenticator.get(options.json(), origin("bella"))
        answer = await call(client, "bella", "/passkeys/authenticate", assertion | {"next": payload})
        assert answer.status_code == 200
        assert answer.json() == {"redirect": "/"}, payload
    options = await call(client, "bella", "/passkeys/authenticate/options")
    assertion = ana.authenticator.get(options.json(), origin("bella"))
    answer = await call(client, "bella", "/passkeys/authenticate", assertion | {"next": "/statement"})
    assert answer.json() == {"redirect": "/statement"}


async def test_a_staff_passkey_sign_in_never_leaves_the_platform_host(client, app, demo, clock):
    from retorno.staff import service as staff

    await staff.add_staff(
        email="gerente@bella.example", brand_id=demo["bella"].id, role="manager", now=clock()
    )
    await post_form(
        client, f"{PLATFORM}/admin/login", {"email": "gerente@bella.example"}, page=f"{PLATFORM}/admin/login"
    )
    code = re.search(r"\b\d{6}\b", app.state.mailer.messages[0].text).group()
    verified = await post_form(
        client,
        f"{PLATFORM}/admin/login/verify",
        {"email": "gerente@bella.example", "code": code, "next": "//evil.example"},
        page=f"{PLATFORM}/admin/login",
    )
    assert verified.status_code == 303 and verified.headers["location"] == "/admin"
    authenticator = SoftAuthenticator()
    options = await staff_call(client, "/admin/passkeys/register/options")
    created = authenticator.create(options.json(), origin=PLATFORM)
    assert (await staff_call(client, "/admin/passkeys/register", created)).status_code == 201
    for payload in PAYLOADS:
        options = await staff_call(client, "/admin/passkeys/authenticate/options")
        assertion = authenticator.get(options.json(), origin=PLATFORM)
        answer = await staff_call(client, "/admin/passkeys/authenticate", assertion | {"next": payload})
        assert answer.status_code == 200
        assert answer.json() == {"redirect": "/admin"}, payload


async def test_the_language_switch_never_leaves_the_host(client, demo):
    for payload in PAYLOADS:
        response = await post_form(client, brand_url("bella", "/lang"), {"lang": "en", "next": payload})
        assert response.status_code == 303
        assert response.headers["location"] == "/", payload
