"""Signing in without passwords: e-mail codes, joining, sessions and cookies, CSRF, staff, logs.

A shopper asks /login (or /join) for a 6-digit code by e-mail and trades it at /login/verify for a
session cookie on that brand's host; staff do the same at /admin/login on the platform host. Codes
are single use, valid 10 minutes and dead after 5 tries; a new code leaves the last three working;
the answer never tells whether an address has an account; code requests and attempts are rate
limited without locking the owner out; nothing is logged that would let someone sign in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx

from retorno import cli, db, i18n
from retorno.app import create_app
from retorno.brands import service as brands
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.customers.tables import Consent
from retorno.staff import service as staff
from tests.conftest import DATA_KEY, brand_url, make_settings, platform_url, post_form

SESSION = "retorno_session"
CODE = re.compile(r"(?<![0-9])([0-9]{6})(?![0-9])")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_FAILED = "CSRF token verification failed"
ANA = "ana@example.com"


# --- helpers -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def browser(app, base_url: str = brand_url("bella", "")) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (a cookie jar of its own) on the same app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        yield c


def mails_to(app, email: str) -> list:
    return [m for m in app.state.mailer.messages if m.to == email]


def code_in(message) -> str:
    found = CODE.search(message.text)
    assert found, "the message carries no 6-digit code"
    assert found.group(1) in message.subject
    return found.group(1)


def last_code(app, email: str) -> str:
    mails = mails_to(app, email)
    assert mails, f"no mail to {email}"
    return code_in(mails[0])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def set_cookie(response: httpx.Response, name: str) -> tuple[str, dict[str, str]]:
    """The value and (lower-cased) attributes of the Set-Cookie header for `name`."""
    headers = response.headers.get_list("set-cookie")
    for header in headers:
        first, *attributes = (part.strip() for part in header.split(";"))
        key, _, value = first.partition("=")
        if key.strip() == name:
            parsed = {}
            for attribute in attributes:
                k, _, v = attribute.partition("=")
                parsed[k.strip().lower()] = v.strip()
            return value.strip().strip('"'), parsed
    raise AssertionError(f"no Set-Cookie for {name}: {headers}")


def assert_cleared(response: httpx.Response, name: str) -> None:
    value, attributes = set_cookie(response, name)
    assert value == "" or attributes.get("max-age") == "0", (value, attributes)
    assert attributes.get("max-age") == "0" or "1970" in attributes.get("expires", ""), attributes
    assert attributes.get("path") == "/"


def assert_sign_in_redirect(response: httpx.Response, login_path: str, next_path: str) -> None:
    """A 303 to this host's sign-in page, naming where to come back to."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert not location.netloc, response.headers["location"]
    assert location.path == login_path, response.headers["location"]
    assert parse_qs(location.query) == {"next": [next_path]}, response.headers["location"]


def csrf_cookie(client: httpx.AsyncClient, host: str) -> str | None:
    for c in client.cookies.jar:
        if c.name.endswith("csrftoken") and c.domain.lstrip(".") in (host, f"{host}.local"):
            return c.value
    return None


async def form(client: httpx.AsyncClient, url: str, data: dict) -> httpx.Response:
    """post_form, fetching the CSRF cookie from this host's sign-in page."""
    parts = urlsplit(url)
    login = "/admin/login" if parts.path.startswith("/admin") else "/login"
    return await post_form(client, url, data, page=f"{parts.scheme}://{parts.netloc}{login}")


async def add_customer(brand_id: int, email: str, now, name: str = "Ana") -> int:
    async with db.transaction():
        customer, _ = await customers.upsert(brand_id, Identity(email=email, name=name), now=now)
    return customer.id


async def ask_code(app, client, email: str, slug: str = "bella", scheme: str = "http") -> str:
    url = brand_url(slug, "/login").replace("http://", f"{scheme}://")
    response = await form(client, url, {"email": email})
    assert response.status_code == 200, response.text
    return last_code(app, email)


async def verify(client, email: str, code: str, slug: str = "bella", scheme: str = "http") -> httpx.Response:
    url = brand_url(slug, "/login/verify").replace("http://", f"{scheme}://")
    return await form(client, url, {"email": email, "code": code})


async def sign_in(app, client, email: str, slug: str = "bella") -> str:
    """Sign in by code; the new session token."""
    response = await verify(client, email, await ask_code(app, client, email, slug), slug)
    assert response.status_code == 303, response.text
    token, _ = set_cookie(response, SESSION)
    return token


async def with_token(app, url: str, token: str, name: str = SESSION) -> httpx.Response:
    """A request from a browser that holds nothing but this session cookie."""
    async with browser(app) as fresh:
        return await fresh.get(url, headers={"cookie": f"{name}={token}"})


async def customer_of(token: str) -> int | None:
    rows = await db.fetch(
        "SELECT customer FROM sessions WHERE token_hash = {}", hashlib.sha256(token.encode()).hexdigest()
    )
    return rows[0]["customer"] if rows else None


# --- codes ---------------------------------------------------------------------------------------


async def test_a_code_signs_a_known_customer_in(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    response = await form(client, brand_url("bella", "/login"), {"email": "  Ana@Example.com "})
    assert response.status_code == 200
    [mail] = mails_to(app, ANA)
    code = code_in(mail)
    assert len(code) == 6 and code.isdigit()

    signed_in = await verify(client, ANA, code)
    assert signed_in.status_code == 303
    token, _ = set_cookie(signed_in, SESSION)
    assert token
    assert (await client.get("/account/security")).status_code == 200


async def test_a_code_is_used_once(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    code = await ask_code(app, client, ANA)
    assert (await verify(client, ANA, code)).status_code == 303
    again = await verify(client, ANA, code)
    assert again.status_code == 422
    assert SESSION not in str(again.headers.get_list("set-cookie"))


async def test_a_code_expires_after_ten_minutes(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    code = await ask_code(app, client, ANA)
    clock.advance(minutes=11)
    assert (await verify(client, ANA, code)).status_code == 422


async def test_five_wrong_tries_kill_the_code(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    code = await ask_code(app, client, ANA)
    for _ in range(5):
        tried = await verify(client, ANA, wrong(code))
        assert tried.status_code == 422 and "O código está errado ou expirou" in tried.text
    right = await verify(client, ANA, code)
    assert right.status_code == 422
    # The right code, too late: it says why, not "wrong", and how to go on.
    assert "Este código teve tentativas erradas demais e não vale mais. Peça um novo." in right.text
    assert "O código está errado" not in right.text


async def test_four_wrong_tries_do_not(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    code = await ask_code(app, client, ANA)
    for _ in range(4):
        assert (await verify(client, ANA, wrong(code))).status_code == 422
    assert (await verify(client, ANA, code)).status_code == 303


async def test_a_new_code_leaves_the_last_three_working(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    codes = []
    for _ in range(4):
        codes.append(await ask_code(app, client, ANA))
        clock.advance(seconds=61)  # one request a minute stays under the limit
    oldest, *live = codes
    if oldest not in live:  # one chance in a million that two codes are the same
        assert (await verify(client, ANA, oldest)).status_code == 422  # the fourth one back is gone
    assert (await verify(client, ANA, live[0])).status_code == 303  # any of the newest three works
    for other in live[1:]:
        if other != live[0]:
            assert (await verify(client, ANA, other)).status_code == 422  # ...and spends the others


async def test_someone_asking_for_codes_in_the_owners_name_voids_nothing(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    held = await ask_code(app, client, ANA)  # the owner has it in hand
    async with browser(app) as attacker:
        statuses = [
            (await form(attacker, brand_url("bella", "/login"), {"email": ANA})).status_code for _ in range(4)
        ]
    assert statuses == [200, 200, 429, 429]
    assert (await verify(client, ANA, held)).status_code == 303  # still good


async def test_a_code_of_one_brand_does_not_sign_in_at_another(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    await add_customer(demo["mare"].id, ANA, clock())
    code = await ask_code(app, client, ANA, "bella")
    assert (await verify(client, ANA, code, "mare")).status_code == 422
    assert (await verify(client, ANA, code, "bella")).status_code == 303


def without(text: str, *emails: str) -> str:
    for email in emails:
        text = text.replace(html.escape(email), "").replace(email, "")
    return text


async def test_login_does_not_tell_whether_an_address_has_an_account(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    known = await form(client, brand_url("bella", "/login"), {"email": ANA})
    unknown = await form(client, brand_url("bella", "/login"), {"email": "bia@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert without(known.text, ANA) == without(unknown.text, "bia@example.com")
    assert SESSION not in str(unknown.headers.get_list("set-cookie"))

    [note] = mails_to(app, "bia@example.com")
    assert "/join" in note.text and "/join" in note.html
    assert not CODE.search(note.subject) and not CODE.search(note.text) and not CODE.search(note.html)
    assert demo["bella"].name in note.text


# --- rate limits ---------------------------------------------------------------------------------


async def test_code_requests_per_address_are_limited_for_a_minute_at_most(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    for _ in range(3):
        assert (await form(client, brand_url("bella", "/login"), {"email": ANA})).status_code == 200
    mails = len(mails_to(app, ANA))
    refused = await form(client, brand_url("bella", "/login"), {"email": ANA})
    assert refused.status_code == 429
    retry_after = refused.headers["retry-after"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 60
    assert len(mails_to(app, ANA)) == mails  # no mail for a refused request

    # joining asks for a code too, and counts against the same limit
    join = await form(client, brand_url("bella", "/join"), {"name": "Ana", "email": ANA, "accept": "yes"})
    assert join.status_code == 429

    clock.advance(seconds=int(retry_after))
    assert (await form(client, brand_url("bella", "/login"), {"email": ANA})).status_code == 200
    assert len(mails_to(app, ANA)) == mails + 1


async def test_guessing_one_address_is_bounded_per_hour_and_its_owner_waits_two_minutes_at_most(
    app, client, demo, clock
):
    """A guess every 10 seconds for an hour, asking for a new code whenever one is allowed: at most
    10 + 30 guesses are ever compared (a burst of 10, then one every 2 minutes)."""
    await add_customer(demo["bella"].id, ANA, clock())
    compared = 0
    waits = []
    for tick in range(360):
        if tick % 7 == 0:
            await form(client, brand_url("bella", "/login"), {"email": ANA})
        async with browser(app) as guesser:  # each guess from a fresh browser
            answer = await verify(guesser, ANA, f"{tick:06d}")
        if answer.status_code == 429:
            waits.append(int(answer.headers["retry-after"]))
        else:
            assert answer.status_code in (422, 303)
            compared += 1
        clock.advance(seconds=10)
    assert 30 <= compared <= 41
    assert waits and max(waits) <= 120
    clock.advance(seconds=120)
    code = await ask_code(app, client, ANA)
    assert (await verify(client, ANA, code)).status_code == 303  # the owner is not locked out


async def test_code_requests_for_unknown_addresses_are_limited_the_same(app, client, demo):
    for _ in range(3):
        assert (
            await form(client, brand_url("bella", "/login"), {"email": "bia@example.com"})
        ).status_code == 200
    refused = await form(client, brand_url("bella", "/login"), {"email": "bia@example.com"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_code_attempts_per_client_address_are_limited(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    for i in range(30):
        response = await verify(client, f"guess{i}@example.com", "123456")
        assert response.status_code == 422, (i, response.status_code)
    code = await ask_code(app, client, ANA)
    refused = await verify(client, ANA, code)  # even the right code, from this address
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert SESSION not in str(refused.headers.get_list("set-cookie"))

    clock.advance(minutes=16)
    assert (await verify(client, ANA, code)).status_code == 422  # expired meanwhile, but not refused
    assert (await verify(client, ANA, await ask_code(app, client, ANA))).status_code == 303


# --- joining -------------------------------------------------------------------------------------


async def test_joining_creates_the_customer_with_their_consents(app, client, demo, clock):
    bella = demo["bella"]
    regulations = await brands.current_regulations(bella.id)
    assert regulations is not None, "the bella demo brand has regulations"

    refused = await form(
        client, brand_url("bella", "/join"), {"name": "Bia Lima", "email": "bia@example.com"}
    )
    assert refused.status_code == 422
    assert not mails_to(app, "bia@example.com")

    response = await form(
        client,
        brand_url("bella", "/join"),
        {"name": "Bia Lima", "email": "bia@example.com", "accept": "yes", "marketing": "yes"},
    )
    assert response.status_code == 200
    assert await customers.lookup(bella.id, Identity(email="bia@example.com")) is None  # not before the code

    signed_in = await verify(client, "bia@example.com", last_code(app, "bia@example.com"))
    assert signed_in.status_code == 303
    customer = await customers.lookup(bella.id, Identity(email="bia@example.com"))
    assert customer is not None and customer.name == "Bia Lima"
    assert await customer_of(set_cookie(signed_in, SESSION)[0]) == customer.id

    consents = await Consent.select(Consent.brand, Consent.kind, Consent.granted, Consent.version).where(
        Consent.customer == customer.id
    )
    by_kind = {c["kind"]: c for c in consents}
    assert len(consents) == 3 and set(by_kind) == {"regulations", "push", "email"}
    assert by_kind["regulations"]["granted"] and by_kind["regulations"]["version"] == regulations.version
    assert by_kind["push"]["granted"] and by_kind["email"]["granted"]
    assert {c["brand"] for c in consents} == {bella.id}


async def test_joining_without_marketing_records_it_refused(app, client, demo):
    await form(
        client, brand_url("bella", "/join"), {"name": "Bia", "email": "bia@example.com", "accept": "yes"}
    )
    assert (await verify(client, "bia@example.com", last_code(app, "bia@example.com"))).status_code == 303
    customer = await customers.lookup(demo["bella"].id, Identity(email="bia@example.com"))
    [marketing] = await Consent.select(Consent.granted).where(
        (Consent.customer == customer.id) & (Consent.kind == "email")
    )
    assert not marketing["granted"]


async def test_joining_claims_a_customer_the_integration_already_created(app, client, api, demo):
    created = await api.post("/customers", json={"email": ANA, "name": "Ana Souza"})
    assert created.status_code == 201, created.text
    ana_id = created.json()["id"]

    data = {"name": "Ana", "accept": "yes", "marketing": "yes"}
    known = await form(client, brand_url("bella", "/join"), {**data, "email": ANA})
    unknown = await form(client, brand_url("bella", "/join"), {**data, "email": "bia@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert without(known.text, ANA) == without(unknown.text, "bia@example.com")
    code_in(mails_to(app, ANA)[0])  # both got a code
    code_in(mails_to(app, "bia@example.com")[0])

    signed_in = await verify(client, ANA, last_code(app, ANA))
    assert signed_in.status_code == 303
    assert await customer_of(set_cookie(signed_in, SESSION)[0]) == ana_id
    rows = await db.fetch("SELECT id FROM customers WHERE email = {}", ANA)
    assert [r["id"] for r in rows] == [ana_id]
    kinds = await db.fetch("SELECT kind FROM consents WHERE customer = {}", ana_id)
    assert sorted(r["kind"] for r in kinds) == ["email", "push", "regulations"]


# --- sessions and cookies ------------------------------------------------------------------------


TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,}$")


async def test_the_session_cookie_is_http_only_and_lax(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    response = await verify(client, ANA, await ask_code(app, client, ANA))
    token, attributes = set_cookie(response, SESSION)
    assert TOKEN.match(token), "at least 128 bits, base64url"
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes


async def test_production_cookies_are_host_only_and_secure(demo, database_url, engine, clock):
    settings = make_settings(
        database_url, RETORNO_ENV="production", RETORNO_SECRET_KEY="k" * 40, RETORNO_DATA_KEY=DATA_KEY
    )
    prod = create_app(settings, engine=engine, clock=clock)
    await add_customer(demo["bella"].id, ANA, clock())
    async with browser(prod, "https://bella.localhost:8000") as c:
        page = await c.get("/login")
        assert page.status_code == 200
        _, csrf = set_cookie(page, "__Host-csrftoken")
        assert "secure" in csrf and csrf.get("path") == "/" and "domain" not in csrf

        code = await ask_code(prod, c, ANA, scheme="https")
        response = await verify(c, ANA, code, scheme="https")
        assert response.status_code == 303, response.text
        token, attributes = set_cookie(response, "__Host-retorno_session")
        assert TOKEN.match(token)
        assert "secure" in attributes and "httponly" in attributes
        assert attributes.get("samesite", "").lower() == "lax"
        assert attributes.get("path") == "/" and "domain" not in attributes
        assert (await c.get("/account/security")).status_code == 200


async def test_the_token_changes_at_every_sign_in(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    first = await sign_in(app, client, ANA)
    second = await sign_in(app, client, ANA)  # the same browser, still holding the first
    assert first != second
    assert (await with_token(app, "/account/security", second)).status_code == 200
    assert_sign_in_redirect(await with_token(app, "/account/security", first), "/login", "/account/security")


async def test_the_database_keeps_only_a_hash_of_the_token(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    token = await sign_in(app, client, ANA)
    rows = await db.fetch("SELECT * FROM sessions")
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    for value in rows[0].values():
        assert token not in str(value)


async def test_signing_out_ends_the_session(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    token = await sign_in(app, client, ANA)
    response = await form(client, brand_url("bella", "/logout"), {})
    assert response.status_code == 303
    assert "cache" in response.headers["clear-site-data"]
    assert_cleared(response, SESSION)
    assert_sign_in_redirect(await client.get("/account/security"), "/login", "/account/security")
    assert_sign_in_redirect(await with_token(app, "/account/security", token), "/login", "/account/security")
    assert await db.fetch("SELECT id FROM sessions") == []


async def test_signing_out_everywhere_ends_every_session_of_the_customer(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    await add_customer(demo["bella"].id, "bia@example.com", clock())
    async with browser(app) as phone, browser(app) as other:
        await sign_in(app, client, ANA)
        await sign_in(app, phone, ANA)
        await sign_in(app, other, "bia@example.com")
        assert (await phone.get("/account/security")).status_code == 200

        response = await form(client, brand_url("bella", "/account/sign-out-everywhere"), {})
        assert response.status_code == 303
        assert "cache" in response.headers["clear-site-data"]
        assert_cleared(response, SESSION)
        for browser_ in (client, phone):
            assert_sign_in_redirect(await browser_.get("/account/security"), "/login", "/account/security")
        assert (await other.get("/account/security")).status_code == 200  # someone else's stays


# --- guards --------------------------------------------------------------------------------------


async def test_the_account_pages_need_a_session(client):
    response = await client.get("/account/security")
    assert_sign_in_redirect(response, "/login", "/account/security")


async def test_a_session_of_one_brand_is_worthless_at_another(app, client, demo, clock):
    await add_customer(demo["bella"].id, ANA, clock())
    await add_customer(demo["mare"].id, ANA, clock())
    token = await sign_in(app, client, ANA)
    assert (await with_token(app, brand_url("bella", "/account/security"), token)).status_code == 200
    assert_sign_in_redirect(
        await with_token(app, brand_url("mare", "/account/security"), token), "/login", "/account/security"
    )


# --- CSRF ----------------------------------------------------------------------------------------


# Routes without a CSRF token, each for a reason, each tested on its own:
CSRF_EXEMPT = {
    # unsubscribing from a message: a mail client's one-click POST (RFC 8058) has no cookie; the
    # message's unguessable token authorises it (test_messages.py)
    "/unsubscribe/{token:str}",
    # the service worker's pushsubscriptionchange: no page, no token, no session; the old endpoint
    # (an unguessable URL) authorises it (test_push.py)
    "/push/renew",
    # the site widget, called from the store's own pages on another origin: no cookie is read; the
    # brand's publishable key, the store's origin (CORS) and a shopper token the store's backend
    # signed authorise it (test_widget.py)
    "/widget/v1/quote/cart",
    "/widget/v1/checkout-code",
}


def state_changing_routes(app) -> list[tuple[str, str]]:
    """(method, path) for every route that changes state, from the app's own routing table."""
    found = set()
    for route in app.routes:
        methods = set(getattr(route, "methods", ()))
        for handler in getattr(route, "route_handlers", ()):
            methods |= set(getattr(handler, "http_methods", ()))
        if route.path == "/api" or route.path.startswith("/api/"):
            continue  # the integration API: bearer keys, no cookies
        if route.path in CSRF_EXEMPT:
            continue
        for method in methods & UNSAFE:
            found.add((method, re.sub(r"\{[^}]*\}", "1", route.path)))
    return sorted(found, key=lambda mp: (mp[1], mp[0]))


async def _survey_one(demo) -> None:
    """An NPS survey whose token is "1" (the routes' placeholder), so /nps/1 answers on Bella's host."""
    import datetime as dt

    import msgspec

    from retorno.nps.tables import Survey
    from retorno.sales import orders
    from retorno.sales.requests import SaleIn

    now = dt.datetime.now(dt.UTC)
    sale = msgspec.convert(
        {"order_id": "CSRF-1", "customer": {"email": "csrf@example.com"}, "total": 1000}, SaleIn
    )
    answer, _ = await orders.record(brand=demo["bella"], sale=sale, now=now)
    await db.insert(
        Survey,
        brand=demo["bella"].id,
        customer=answer.customer_id,
        sale=answer.sale_id,
        token="1",
        channel="api",
        asked_at=now,
        created_at=now,
    )


async def test_every_state_changing_route_needs_the_csrf_token(app, client, demo):
    await _survey_one(demo)
    routes = state_changing_routes(app)
    paths = {path for _, path in routes}
    assert {"/login", "/login/verify", "/join", "/logout", "/lang", "/admin/login"} <= paths, paths
    assert not any(p.startswith("/api") for p in paths)

    hosts = {"brand": brand_url("bella", ""), "platform": platform_url("").rstrip("/")}
    async with browser(app) as stranger:
        foreign = {}
        for name, origin in hosts.items():
            await client.get(origin + ("/admin/login" if name == "platform" else "/login"))
            await stranger.get(origin + ("/admin/login" if name == "platform" else "/login"))
            foreign[name] = csrf_cookie(stranger, urlsplit(origin).hostname)
            assert foreign[name] and foreign[name] != csrf_cookie(client, urlsplit(origin).hostname)

    checked = []
    for method, path in routes:
        # The route's host: the one where a request with a good token is not a 404.
        reachable = []
        for name, origin in hosts.items():
            token = csrf_cookie(client, urlsplit(origin).hostname)
            probe = await client.request(method, origin + path, headers={"x-csrftoken": token})
            assert probe.status_code != 403, (method, path, name, probe.status_code, probe.text)
            if probe.status_code != 404:
                reachable.append(name)
        assert reachable, f"{method} {path} is a 404 on every host"
        for name in reachable:
            url = hosts[name] + path
            no_token = await client.request(method, url, data={"x": "1"})
            assert no_token.status_code == 403, (method, url, no_token.status_code)
            assert CSRF_FAILED in no_token.text
            in_form = await client.request(method, url, data={"_csrf_token": foreign[name]})
            assert in_form.status_code == 403, (method, url, "foreign form token", in_form.status_code)
            in_header = await client.request(method, url, headers={"x-csrftoken": foreign[name]})
            assert in_header.status_code == 403, (method, url, "foreign header token", in_header.status_code)
            json_body = await client.request(
                method, url, json={"_csrf_token": csrf_cookie(client, urlsplit(url).hostname)}
            )
            assert json_body.status_code == 403, (method, url, "token in a JSON body", json_body.status_code)
            checked.append((method, url))
        # Brand routes live on brand hosts and admin routes on the platform host, never both.
        assert reachable == (["platform"] if path.startswith("/admin") else ["brand"]), (path, reachable)
    assert len(checked) == len(routes)


# --- staff ---------------------------------------------------------------------------------------


async def staff_sign_in(app, client, email: str) -> httpx.Response:
    asked = await form(client, platform_url("/admin/login"), {"email": email})
    assert asked.status_code == 200, asked.text
    return await form(
        client, platform_url("/admin/login/verify"), {"email": email, "code": last_code(app, email)}
    )


async def test_staff_sign_in_on_the_platform_host(app, client, demo, clock):
    await staff.add_staff(email="Gil@Example.com", brand_id=demo["bella"].id, role="manager", now=clock())
    response = await staff_sign_in(app, client, "gil@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    _, attributes = set_cookie(response, SESSION)
    assert "httponly" in attributes and attributes.get("samesite", "").lower() == "lax"

    home = await client.get(platform_url("/admin"))
    assert home.status_code == 200
    assert html.escape(demo["bella"].name) in home.text
    assert i18n.gettext("pt-BR", "manager") in home.text
    assert html.escape(demo["mare"].name) not in home.text


async def test_staff_codes_are_single_use_and_need_a_staff_member(app, client, demo, clock):
    await staff.add_staff(email="gil@example.com", brand_id=demo["bella"].id, role="manager", now=clock())
    await form(client, platform_url("/admin/login"), {"email": "gil@example.com"})
    code = last_code(app, "gil@example.com")
    wrong_try = await form(
        client, platform_url("/admin/login/verify"), {"email": "gil@example.com", "code": wrong(code)}
    )
    assert wrong_try.status_code == 422
    url = platform_url("/admin/login/verify")
    assert (await form(client, url, {"email": "gil@example.com", "code": code})).status_code == 303
    assert (await form(client, url, {"email": "gil@example.com", "code": code})).status_code == 422


async def test_staff_login_does_not_tell_whether_an_address_is_staff(app, client, demo, clock):
    await staff.add_staff(email="gil@example.com", brand_id=demo["bella"].id, role="manager", now=clock())
    known = await form(client, platform_url("/admin/login"), {"email": "gil@example.com"})
    before = len(app.state.mailer.messages)
    unknown = await form(client, platform_url("/admin/login"), {"email": "eve@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert without(known.text, "gil@example.com") == without(unknown.text, "eve@example.com")
    assert len(app.state.mailer.messages) == before
    assert not mails_to(app, "eve@example.com")


async def test_the_admin_needs_a_staff_session(client):
    assert_sign_in_redirect(await client.get(platform_url("/admin")), "/admin/login", "/admin")


async def test_staff_and_shopper_sessions_stay_on_their_own_hosts(app, client, demo, clock):
    await staff.add_staff(email="gil@example.com", brand_id=demo["bella"].id, role="owner", now=clock())
    await add_customer(demo["bella"].id, "gil@example.com", clock())
    staff_token, _ = set_cookie(await staff_sign_in(app, client, "gil@example.com"), SESSION)
    async with browser(app) as shopper:
        shopper_token = await sign_in(app, shopper, "gil@example.com")

    assert (await with_token(app, platform_url("/admin"), staff_token)).status_code == 200
    assert (await with_token(app, brand_url("bella", "/account/security"), shopper_token)).status_code == 200
    assert_sign_in_redirect(
        await with_token(app, brand_url("bella", "/account/security"), staff_token),
        "/login",
        "/account/security",
    )
    assert_sign_in_redirect(
        await with_token(app, platform_url("/admin"), shopper_token), "/admin/login", "/admin"
    )


async def test_staff_sign_out(app, client, demo, clock):
    await staff.add_staff(email="gil@example.com", brand_id=demo["bella"].id, role="operator", now=clock())
    token, _ = set_cookie(await staff_sign_in(app, client, "gil@example.com"), SESSION)
    response = await form(client, platform_url("/admin/logout"), {})
    assert response.status_code == 303
    assert "cache" in response.headers["clear-site-data"]
    assert_cleared(response, SESSION)
    assert_sign_in_redirect(await with_token(app, platform_url("/admin"), token), "/admin/login", "/admin")


async def test_the_staff_add_command(demo, database_url, engine, monkeypatch):
    monkeypatch.setenv("RETORNO_DATABASE_URL", database_url)
    monkeypatch.setenv("RETORNO_ENV", "test")

    def run(*argv: str) -> int | str | None:
        try:
            return cli.main(list(argv))
        except SystemExit as exc:  # argparse refusing the arguments
            return exc.code

    try:  # the command runs its own event loop and engine: in a thread, then back to ours
        ok = await asyncio.to_thread(
            run, "staff", "add", "x@example.com", "--brand", "bella", "--role", "owner"
        )
        bad_role = await asyncio.to_thread(
            run, "staff", "add", "y@example.com", "--brand", "bella", "--role", "emperor"
        )
        no_brand = await asyncio.to_thread(
            run, "staff", "add", "z@example.com", "--brand", "no-such-brand", "--role", "owner"
        )
    finally:
        db.use(engine)
    assert ok == 0
    assert bad_role == 2
    assert no_brand == 1

    member = await staff.staff_by_email("x@example.com")
    assert member is not None
    roles = (await staff.staff_member(member.id)).roles
    assert [(r.slug, r.role) for r in roles] == [("bella", "owner")]
    assert await staff.staff_by_email("y@example.com") is None
    assert await staff.staff_by_email("z@example.com") is None


# --- the development mailbox ---------------------------------------------------------------------


async def test_the_mailbox_exists_only_in_development(app, client, demo, database_url, engine, clock):
    dev = create_app(make_settings(database_url, RETORNO_ENV="development"), engine=engine, clock=clock)
    async with browser(dev) as c:
        await form(c, brand_url("bella", "/login"), {"email": "bia@example.com"})
        await form(c, brand_url("bella", "/login"), {"email": "cai@example.com"})
        latest = dev.state.mailer.messages[0]
        assert latest.to == "cai@example.com"
        page = await c.get(platform_url("/dev/mailbox"))
        assert page.status_code == 200
        assert html.escape(latest.subject) in page.text
        assert (await c.get(brand_url("bella", "/dev/mailbox"))).status_code == 404

    await form(client, brand_url("bella", "/login"), {"email": "bia@example.com"})
    assert (await client.get(platform_url("/dev/mailbox"))).status_code == 404
    assert (await client.get(brand_url("bella", "/dev/mailbox"))).status_code == 404


# --- logs ----------------------------------------------------------------------------------------


async def test_no_code_token_or_mail_body_reaches_the_log(app, client, demo, clock, app_log):
    joined = await form(
        client, brand_url("bella", "/join"), {"name": "Bia", "email": "bia@example.com", "accept": "yes"}
    )
    assert joined.status_code == 200
    join_code = last_code(app, "bia@example.com")
    first = await verify(client, "bia@example.com", join_code)
    assert first.status_code == 303
    login_code = await ask_code(app, client, "bia@example.com")
    assert (await verify(client, "bia@example.com", wrong(login_code))).status_code == 422
    second = await verify(client, "bia@example.com", login_code)
    assert second.status_code == 303
    await form(client, brand_url("bella", "/login"), {"email": "nobody@example.com"})

    secrets = {join_code, login_code, set_cookie(first, SESSION)[0], set_cookie(second, SESSION)[0]}
    secrets |= {m.text for m in app.state.mailer.messages} | {m.html for m in app.state.mailer.messages}
    assert app_log.records, "the app logs something (the capture works)"
    leaks = []
    for record in app_log.records:
        seen = [str(record.msg), record.getMessage(), repr(record.args)]
        for secret in secrets:
            if any(secret in text for text in seen):
                leaks.append(f"{record.name}: {record.getMessage()!r}")
    assert not leaks, leaks
