"""Passkeys over HTTP, with a software authenticator: the ceremonies, and every answer refused.

A shopper signs in with an e-mail code, registers a passkey, signs out, and signs in with it. Each
forged or replayed answer is refused (422, no session cookie), and the honest flow still works.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from retorno.signin.routes import device_name
from tests.conftest import BASE_HOST, brand_url, post_form
from tests.webauthn_soft import UP, UV, Credential, SoftAuthenticator, b64url, cose_key, unb64url

SESSION = "retorno_session"
BELLA = f"http://bella.{BASE_HOST}"
MARE = f"http://mare.{BASE_HOST}"
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


# --- helpers ------------------------------------------------------------------------------------------


def origin(slug: str) -> str:
    return f"http://{slug}.{BASE_HOST}"


def cookie(client: httpx.AsyncClient, name: str, slug: str) -> str | None:
    host = f"{slug}.localhost"
    for c in client.cookies.jar:
        if c.name == name and c.domain.lstrip(".") in (host, f"{host}.local"):
            return c.value
    return None


def session_set(response: httpx.Response) -> str | None:
    """The session token this response sets (not a deletion), if any."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == SESSION:
            value = rest.split(";", 1)[0].strip().strip('"')
            if value and "max-age=0" not in header.lower():
                return value
    return None


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


async def call(
    client: httpx.AsyncClient, slug: str, path: str, body: dict | None = None, agent: str = ANDROID_CHROME
) -> httpx.Response:
    """A JSON POST as passkey.js makes it from a phone: the CSRF cookie's token in the x-csrftoken header."""
    if cookie(client, "csrftoken", slug) is None:
        await client.get(brand_url(slug, "/"))
    token = cookie(client, "csrftoken", slug)
    assert token
    headers = {"x-csrftoken": token, "user-agent": agent}
    return await client.post(brand_url(slug, path), json=body or {}, headers=headers)


async def sign_in_by_code(client: httpx.AsyncClient, app, email: str, name: str, slug: str = "bella") -> str:
    joined = await post_form(
        client, brand_url(slug, "/join"), {"name": name, "email": email, "accept": "yes"}
    )
    assert joined.status_code == 200, joined.text
    message = next(m for m in app.state.mailer.messages if m.to == email)
    code = re.search(r"\b\d{6}\b", message.text)
    assert code, message.text
    verified = await post_form(
        client, brand_url(slug, "/login/verify"), {"email": email, "code": code.group(), "next": "/"}
    )
    assert verified.status_code == 303, verified.text
    token = session_set(verified)
    assert token
    return token


async def sign_out(client: httpx.AsyncClient, slug: str = "bella") -> None:
    response = await post_form(client, brand_url(slug, "/logout"), {})
    assert response.status_code == 303
    assert cookie(client, SESSION, slug) is None


async def signed_in(client: httpx.AsyncClient, slug: str = "bella") -> bool:
    response = await client.get(brand_url(slug, "/account/security"))
    assert response.status_code in (200, 303)
    return response.status_code == 200


async def register(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, slug: str = "bella", **overrides
) -> tuple[dict, httpx.Response]:
    options = await call(client, slug, "/passkeys/register/options")
    assert options.status_code == 200, options.text
    overrides.setdefault("origin", origin(slug))
    credential = authenticator.create(options.json(), **overrides)
    return options.json(), await call(client, slug, "/passkeys/register", credential)


async def passkey_sign_in(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, slug: str = "bella", **overrides
) -> tuple[dict, httpx.Response]:
    """(the assertion, the answer); overrides go to the authenticator (origin defaults to the host's)."""
    options = await call(client, slug, "/passkeys/authenticate/options")
    assert options.status_code == 200, options.text
    overrides.setdefault("origin", origin(slug))
    assertion = authenticator.get(options.json(), **overrides)
    answer = await call(client, slug, "/passkeys/authenticate", assertion | {"next": "/account/security"})
    return assertion, answer


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 422, (response.status_code, response.text)
    assert session_set(response) is None


@dataclass
class Shopper:
    client: httpx.AsyncClient
    authenticator: SoftAuthenticator
    credential: Credential
    passkey_id: int
    customer_id: int


async def enrol(client: httpx.AsyncClient, app, email: str, name: str, slug: str = "bella") -> Shopper:
    """Sign in by code, register a passkey and sign out again."""
    await sign_in_by_code(client, app, email, name, slug)
    authenticator = SoftAuthenticator()
    options, registered = await register(client, authenticator, slug)
    assert registered.status_code == 201, registered.text
    await sign_out(client, slug)
    customer_id = int(unb64url(options["user"]["id"]))
    assert authenticator.last is not None
    return Shopper(client, authenticator, authenticator.last, registered.json()["id"], customer_id)


@asynccontextmanager
async def browser(app) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (its own cookie jar) on the same app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BELLA) as other:
        yield other


@pytest.fixture
async def ana(client, app) -> Shopper:
    return await enrol(client, app, "ana@example.com", "Ana")


# --- the honest ceremonies ----------------------------------------------------------------------------


async def test_register_then_sign_in_with_the_passkey(client, app):
    first = await sign_in_by_code(client, app, "ana@example.com", "Ana")
    page = await client.get("/account/security?offer=1")
    assert page.status_code == 200

    authenticator = SoftAuthenticator()
    options, registered = await register(client, authenticator)
    assert len(unb64url(options["challenge"])) == 32
    assert options["rp"]["id"] == "bella.localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert registered.status_code == 201, registered.text
    assert isinstance(registered.json()["id"], int)

    again = await call(client, "bella", "/passkeys/register/options")
    assert [c["id"] for c in again.json()["excludeCredentials"]] == [authenticator.last.b64id]

    await sign_out(client)
    assert not await signed_in(client)

    options = await call(client, "bella", "/passkeys/authenticate/options")
    assert options.status_code == 200
    assert len(unb64url(options.json()["challenge"])) == 32
    assert options.json()["userVerification"] == "required"
    assert options.json()["rpId"] == "bella.localhost"
    assertion = authenticator.get(options.json(), origin("bella"))
    answer = await call(client, "bella", "/passkeys/authenticate", assertion | {"next": "/account/security"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"redirect": "/account/security"}
    token = session_set(answer)
    assert token and token != first

    page = await client.get("/account/security")
    assert page.status_code == 200
    assert "Chrome no Android" in page.text  # named by browser and device, not "Linux x86_64"
    # Last used at the test clock's 15:00 UTC: 12:00 in the brand's time zone (São Paulo), not UTC.
    assert (
        re.search(r"Último uso</?[^>]*>?:? ?[^<]*10/11/2026,? 12:00", page.text)
        or "10/11/2026 12:00" in page.text
    )
    assert f"/account/passkeys/{registered.json()['id']}/remove" in page.text


async def test_a_next_elsewhere_is_not_followed(client, app, ana):
    options = await call(client, "bella", "/passkeys/authenticate/options")
    assertion = ana.authenticator.get(options.json(), origin("bella"))
    answer = await call(client, "bella", "/passkeys/authenticate", assertion | {"next": "//evil.example/x"})
    assert answer.status_code == 200
    assert answer.json() == {"redirect": "/"}


async def test_registration_needs_a_signed_in_shopper(client):
    options = await call(client, "bella", "/passkeys/register/options")
    assert options.status_code in (303, 401, 403), options.status_code
    assert options.status_code != 200
    if options.status_code == 303:
        assert options.headers["location"].startswith("/login")
    registered = await call(client, "bella", "/passkeys/register", {"id": "x"})
    assert registered.status_code in (303, 401, 403)


async def test_the_json_calls_need_the_csrf_header(client, app, ana):
    await client.get("/")
    response = await client.post("/passkeys/authenticate/options", json={})
    assert response.status_code == 403
    options = await call(client, "bella", "/passkeys/authenticate/options")
    assertion = ana.authenticator.get(options.json(), origin("bella"))
    response = await client.post("/passkeys/authenticate", json=assertion)
    assert response.status_code == 403
    assert session_set(response) is None


# --- registrations refused ----------------------------------------------------------------------------

REGISTRATION_FORGERIES = {
    "origin of another brand": {"origin": MARE},
    "foreign origin": {"origin": "http://evil.example"},
    "https instead of http": {"origin": "https://bella.localhost:8000"},
    "rp id of another brand": {"rp_id": "mare.localhost"},
    "user verification off": {"flags": UP},
    "user presence off": {"flags": UV},
}


@pytest.mark.parametrize("overrides", REGISTRATION_FORGERIES.values(), ids=REGISTRATION_FORGERIES.keys())
async def test_a_forged_registration_is_refused(client, app, overrides):
    await sign_in_by_code(client, app, "ana@example.com", "Ana")
    authenticator = SoftAuthenticator()
    _, refused = await register(client, authenticator, **overrides)
    assert refused.status_code == 422, refused.text
    page = await client.get("/account/security")
    assert "/account/passkeys/" not in page.text

    _, registered = await register(client, authenticator)
    assert registered.status_code == 201


async def test_a_registration_challenge_is_used_once(client, app):
    await sign_in_by_code(client, app, "ana@example.com", "Ana")
    authenticator = SoftAuthenticator()
    options = (await call(client, "bella", "/passkeys/register/options")).json()
    first = await call(client, "bella", "/passkeys/register", authenticator.create(options, BELLA))
    assert first.status_code == 201
    replay = await call(client, "bella", "/passkeys/register", authenticator.create(options, BELLA))
    assert replay.status_code == 422


async def test_a_registration_challenge_expires(client, app, clock):
    await sign_in_by_code(client, app, "ana@example.com", "Ana")
    authenticator = SoftAuthenticator()
    options = (await call(client, "bella", "/passkeys/register/options")).json()
    clock.advance(minutes=6)
    late = await call(client, "bella", "/passkeys/register", authenticator.create(options, BELLA))
    assert late.status_code == 422


# --- sign-ins refused ---------------------------------------------------------------------------------

SIGN_IN_FORGERIES = {
    "origin of another brand": {"origin": MARE},
    "foreign origin": {"origin": "http://evil.example"},
    "https instead of http": {"origin": "https://bella.localhost:8000"},
    "rp id of another brand": {"rp_id": "mare.localhost"},
    "user presence off": {"flags": UV},
    "user verification off": {"flags": UP},
    "signed by another key": {"key": OTHER_KEY},
}


@pytest.mark.parametrize("overrides", SIGN_IN_FORGERIES.values(), ids=SIGN_IN_FORGERIES.keys())
async def test_a_forged_assertion_is_refused(client, ana, overrides):
    _, refused = await passkey_sign_in(client, ana.authenticator, credential=ana.credential, **overrides)
    assert_refused(refused)
    assert not await signed_in(client)

    _, honest = await passkey_sign_in(client, ana.authenticator, credential=ana.credential)
    assert honest.status_code == 200, honest.text
    assert session_set(honest)
    assert await signed_in(client)


async def test_a_replayed_assertion_is_refused(client, ana):
    assertion, first = await passkey_sign_in(client, ana.authenticator)
    assert first.status_code == 200
    await sign_out(client)
    replay = await call(client, "bella", "/passkeys/authenticate", assertion)
    assert_refused(replay)
    assert not await signed_in(client)
    _, honest = await passkey_sign_in(client, ana.authenticator)
    assert honest.status_code == 200


async def test_an_old_challenge_is_refused_even_with_a_fresh_signature(client, ana):
    old = await call(client, "bella", "/passkeys/authenticate/options")
    answered = ana.authenticator.get(old.json(), BELLA)
    assert (await call(client, "bella", "/passkeys/authenticate", answered)).status_code == 200
    await sign_out(client)
    _, reused = await passkey_sign_in(client, ana.authenticator, challenge=old.json()["challenge"])
    assert_refused(reused)


async def test_a_challenge_expires_after_five_minutes(client, clock, ana):
    options = await call(client, "bella", "/passkeys/authenticate/options")
    clock.advance(minutes=6)
    late = await call(client, "bella", "/passkeys/authenticate", ana.authenticator.get(options.json(), BELLA))
    assert_refused(late)

    options = await call(client, "bella", "/passkeys/authenticate/options")
    clock.advance(minutes=4)
    in_time = await call(
        client, "bella", "/passkeys/authenticate", ana.authenticator.get(options.json(), BELLA)
    )
    assert in_time.status_code == 200


async def test_a_challenge_the_server_never_gave_is_refused(client, ana):
    _, made_up = await passkey_sign_in(client, ana.authenticator, challenge=b"\x07" * 32)
    assert_refused(made_up)


async def test_a_challenge_given_on_another_brands_host_is_refused(client, ana):
    mare_options = (await call(client, "mare", "/passkeys/authenticate/options")).json()
    _, crossed = await passkey_sign_in(client, ana.authenticator, challenge=mare_options["challenge"])
    assert_refused(crossed)


async def test_a_registration_challenge_cannot_sign_in(client, app, ana):
    await sign_in_by_code(client, app, "ana@example.com", "Ana")
    register_options = (await call(client, "bella", "/passkeys/register/options")).json()
    await sign_out(client)
    _, crossed = await passkey_sign_in(client, ana.authenticator, challenge=register_options["challenge"])
    assert_refused(crossed)


async def test_a_sign_counter_that_does_not_increase_is_refused_and_logged(client, ana, app_log):
    _, first = await passkey_sign_in(client, ana.authenticator, counter=5)
    assert first.status_code == 200
    await sign_out(client)

    app_log.records.clear()
    _, cloned = await passkey_sign_in(client, ana.authenticator, counter=5)
    assert_refused(cloned)
    warnings = [r for r in app_log.records if r.levelno >= logging.WARNING]
    assert any("sign counter" in r.getMessage() for r in warnings), app_log.texts()

    secrets_ = {ana.credential.b64id, ana.credential.id.hex(), b64url(cose_key(ana.credential.key))}
    numbers = ana.credential.key.public_key().public_numbers()
    secrets_ |= {f"{numbers.x:x}", f"{numbers.y:x}", cose_key(ana.credential.key).hex()}
    for text in app_log.texts():
        for secret in secrets_:
            assert secret not in text, text

    _, lower = await passkey_sign_in(client, ana.authenticator, counter=4)
    assert_refused(lower)
    _, honest = await passkey_sign_in(client, ana.authenticator, counter=6)
    assert honest.status_code == 200


# --- other shoppers, other brands ---------------------------------------------------------------------


async def test_a_passkey_of_another_shopper(client, app, ana):
    async with browser(app) as other:
        bruno = await enrol(other, app, "bruno@example.com", "Bruno")
        assert bruno.customer_id != ana.customer_id

        # Ana's assertion claiming to be Bruno (his user handle) is refused.
        _, claimed = await passkey_sign_in(
            client, ana.authenticator, user_handle=str(bruno.customer_id).encode()
        )
        assert_refused(claimed)
        # Bruno's credential id, signed by Ana's key.
        _, borrowed = await passkey_sign_in(
            client, ana.authenticator, credential=bruno.credential, key=ana.credential.key
        )
        assert_refused(borrowed)
        assert not await signed_in(client)

        # Ana's session cannot answer a registration challenge given to Bruno.
        await sign_in_by_code(other, app, "bruno@example.com", "Bruno")
        bruno_options = (await call(other, "bella", "/passkeys/register/options")).json()
        _, ana_signed_in = await passkey_sign_in(client, ana.authenticator)
        assert ana_signed_in.status_code == 200
        stolen = SoftAuthenticator().create(bruno_options, BELLA)
        refused = await call(client, "bella", "/passkeys/register", stolen)
        assert refused.status_code == 422, refused.text

        # Each still signs in as themselves.
        await sign_out(other)
        _, as_bruno = await passkey_sign_in(other, bruno.authenticator, credential=bruno.credential)
        assert as_bruno.status_code == 200, as_bruno.text
        _, as_ana = await passkey_sign_in(client, ana.authenticator, credential=ana.credential)
        assert as_ana.status_code == 200


async def test_the_credential_id_of_another_shoppers_passkey_cannot_be_registered(client, app, ana):
    """Anyone may claim any credential id with attestation "none": a taken one is refused, not a crash."""
    async with browser(app) as other:
        bruno = await enrol(other, app, "bruno@example.com", "Bruno")
    _, signed = await passkey_sign_in(client, ana.authenticator)
    assert signed.status_code == 200
    _, duplicate = await register(client, SoftAuthenticator(), credential_id=bruno.credential.id)
    assert duplicate.status_code == 422, (duplicate.status_code, duplicate.text)
    page = await client.get("/account/security")
    assert page.text.count("/remove") == 1  # still only Ana's own passkey


async def test_a_passkey_of_another_brand(client, app, ana):
    # The same person joins mare (a customer of its own there) and makes a passkey on mare's host.
    await sign_in_by_code(client, app, "ana@example.com", "Ana", slug="mare")
    mare_key = SoftAuthenticator()
    options, registered = await register(client, mare_key, slug="mare")
    assert options["rp"]["id"] == "mare.localhost"
    assert registered.status_code == 201, registered.text
    assert not await signed_in(client, "bella")  # mare's session is worthless on bella's host
    await sign_out(client, "mare")
    _, at_mare = await passkey_sign_in(client, mare_key, slug="mare")
    assert at_mare.status_code == 200
    await sign_out(client, "mare")

    # On bella's host: as an authenticator would sign it (mare's rp id), and forged for bella.
    _, as_made = await passkey_sign_in(client, mare_key, credential=mare_key.last)
    assert_refused(as_made)
    _, forged = await passkey_sign_in(client, mare_key, credential=mare_key.last, rp_id="bella.localhost")
    assert_refused(forged)
    assert not await signed_in(client, "bella")
    # And bella's passkey on mare's host.
    _, bella_at_mare = await passkey_sign_in(
        client, ana.authenticator, slug="mare", credential=ana.credential, rp_id="mare.localhost"
    )
    assert_refused(bella_at_mare)
    assert not await signed_in(client, "mare")

    _, honest = await passkey_sign_in(client, ana.authenticator, credential=ana.credential)
    assert honest.status_code == 200


# --- the security page --------------------------------------------------------------------------------


async def test_rename_and_remove_a_passkey(client, app, ana):
    page = brand_url("bella", "/account/security")
    _, signed = await passkey_sign_in(client, ana.authenticator)
    assert signed.status_code == 200

    renamed = await post_form(
        client, brand_url("bella", f"/account/passkeys/{ana.passkey_id}/rename"), {"name": "Laptop"}, page
    )
    assert renamed.status_code == 303
    assert 'value="Laptop"' in (await client.get(page)).text

    async with browser(app) as other:
        await sign_in_by_code(other, app, "bruno@example.com", "Bruno")
        theirs = await post_form(
            other, brand_url("bella", f"/account/passkeys/{ana.passkey_id}/rename"), {"name": "Mine"}, page
        )
        assert theirs.status_code == 404
        gone = await post_form(
            other, brand_url("bella", f"/account/passkeys/{ana.passkey_id}/remove"), {}, page
        )
        assert gone.status_code == 404
    assert 'value="Laptop"' in (await client.get(page)).text

    removed = await post_form(
        client, brand_url("bella", f"/account/passkeys/{ana.passkey_id}/remove"), {}, page
    )
    assert removed.status_code == 303
    assert f"/account/passkeys/{ana.passkey_id}/" not in (await client.get(page)).text
    again = await post_form(
        client, brand_url("bella", f"/account/passkeys/{ana.passkey_id}/remove"), {}, page
    )
    assert again.status_code == 404

    await sign_out(client)
    _, after = await passkey_sign_in(client, ana.authenticator)
    assert_refused(after)


# --- malformed answers are refused, not crashes -------------------------------------------------------


MALFORMED = (
    "empty",
    "no response",
    "clientDataJSON not base64",
    "unknown credential",
    "userHandle not base64url",
    "userHandle a number",
    "signature missing",
)


def _malformed(assertion: dict) -> dict[str, dict]:
    response = assertion["response"]
    return {
        "empty": {},
        "no response": {k: v for k, v in assertion.items() if k != "response"},
        "clientDataJSON not base64": assertion | {"response": response | {"clientDataJSON": "%%%"}},
        "unknown credential": assertion | {"id": "AAAA", "rawId": "AAAA"},
        "userHandle not base64url": assertion | {"response": response | {"userHandle": "a"}},
        "userHandle a number": assertion | {"response": response | {"userHandle": 12345}},
        "signature missing": assertion
        | {"response": {k: v for k, v in response.items() if k != "signature"}},
    }


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_assertion_is_refused(client, ana, case):
    options = await call(client, "bella", "/passkeys/authenticate/options")
    body = _malformed(ana.authenticator.get(options.json(), BELLA))[case]
    refused = await call(client, "bella", "/passkeys/authenticate", body)
    assert 400 <= refused.status_code < 500, (refused.status_code, refused.text)
    assert session_set(refused) is None
    _, honest = await passkey_sign_in(client, ana.authenticator)
    assert honest.status_code == 200


async def test_a_body_that_is_not_a_credential_is_refused(client):
    await client.get("/")
    token = cookie(client, "csrftoken", "bella")
    for body in (b"not json", b"[]", b'"x"'):
        response = await client.post(
            "/passkeys/authenticate",
            content=body,
            headers={"x-csrftoken": token, "content-type": "application/json"},
        )
        assert response.status_code == 422, response.status_code
        assert session_set(response) is None


# --- staff, on the platform host -----------------------------------------------------------------

PLATFORM = f"http://{BASE_HOST}"


async def staff_call(client: httpx.AsyncClient, path: str, body: dict | None = None) -> httpx.Response:
    if not any(
        c.name == "csrftoken" and "bella" not in c.domain and "mare" not in c.domain
        for c in client.cookies.jar
    ):
        await client.get(f"{PLATFORM}/admin/login")
    token = next(
        c.value
        for c in client.cookies.jar
        if c.name == "csrftoken" and "bella" not in c.domain and "mare" not in c.domain
    )
    return await client.post(f"{PLATFORM}{path}", json=body or {}, headers={"x-csrftoken": token})


async def test_staff_register_and_sign_in_with_a_passkey_on_the_platform_host(client, app, demo, clock):
    from retorno.staff import service as staff

    await staff.add_staff(
        email="gerente@bella.example", brand_id=demo["bella"].id, role="manager", now=clock()
    )
    sent = await post_form(
        client, f"{PLATFORM}/admin/login", {"email": "gerente@bella.example"}, page=f"{PLATFORM}/admin/login"
    )
    assert sent.status_code == 200
    code = re.search(r"\b\d{6}\b", app.state.mailer.messages[0].text).group()
    verified = await post_form(
        client,
        f"{PLATFORM}/admin/login/verify",
        {"email": "gerente@bella.example", "code": code},
        page=f"{PLATFORM}/admin/login",
    )
    assert verified.status_code == 303 and verified.headers["location"] == "/admin"

    authenticator = SoftAuthenticator()
    options = await staff_call(client, "/admin/passkeys/register/options")
    assert options.status_code == 200 and options.json()["rp"]["id"] == "localhost"
    assert unb64url(options.json()["user"]["id"]).startswith(b"staff:")  # never a shopper's handle
    created = authenticator.create(options.json(), origin=PLATFORM)
    assert (await staff_call(client, "/admin/passkeys/register", created)).status_code == 201
    page = await client.get(f"{PLATFORM}/admin/account/security")
    assert page.status_code == 200 and "Nenhuma passkey ainda" not in page.text

    await post_form(client, f"{PLATFORM}/admin/logout", {}, page=f"{PLATFORM}/admin/login")
    assert (await client.get(f"{PLATFORM}/admin")).status_code == 303
    options = await staff_call(client, "/admin/passkeys/authenticate/options")
    answer = await staff_call(
        client,
        "/admin/passkeys/authenticate",
        authenticator.get(options.json(), origin=PLATFORM) | {"next": "/admin"},
    )
    assert answer.status_code == 200 and answer.json()["redirect"] == "/admin"
    home = await client.get(f"{PLATFORM}/admin")
    assert home.status_code == 200 and "Bella Cosméticos" in home.text

    # The staff passkey is worthless on a brand host, and a shopper's on the platform host.
    options = await call(client, "bella", "/passkeys/authenticate/options")
    refused = await call(
        client,
        "bella",
        "/passkeys/authenticate",
        authenticator.get(
            options.json(),
            origin=origin("bella"),
            rp_id="bella.localhost",
            credential=authenticator.credentials[0],
        ),
    )
    assert_refused(refused)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (ANDROID_CHROME, "Chrome no Android"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari no iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge no Windows",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox no Linux"),
        ("curl/8.5.0", "Chave de acesso"),
    ],
)
def test_a_new_passkey_is_named_by_browser_and_device(agent, name):
    assert device_name(agent, "pt-BR") == name
