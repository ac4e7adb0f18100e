"""The WhatsApp Cloud API client against a fake Graph API that checks every request as Meta does,
and the webhook helpers (handshake, signature, statuses) on the documented payloads."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging

import aiohttp
import pytest
from aiohttp import web

from retorno.messages.whatsapp import (
    GRAPH_VERSION,
    Client,
    Status,
    WhatsAppError,
    is_transient,
    signature_ok,
    statuses_of,
    verify_challenge,
)
from tests.fake_whatsapp import FakeWhatsApp

PHONE_ID, TOKEN = "106540352242922", "EAAG-brand-a"
OTHER_ID, OTHER_TOKEN = "106540352242933", "EAAG-brand-b"
SECRET = "app-secret-of-the-meta-app"
ANA = "+5511987654321"


@pytest.fixture
async def fake():
    service = await FakeWhatsApp().start()
    service.add_account(PHONE_ID, TOKEN)
    service.add_account(OTHER_ID, OTHER_TOKEN)
    service.approve("cashback_credited", "pt_BR", 2)
    service.approve("welcome", "pt_BR", 0)
    yield service
    await service.stop()


@pytest.fixture
async def wa(fake):
    async with Client(fake.base_url) as c:
        yield c


def _send(wa: Client, **overrides):
    args = {
        "phone_number_id": PHONE_ID,
        "token": TOKEN,
        "to": ANA,
        "template": "cashback_credited",
        "language": "pt_BR",
        "parameters": ["Ana", "R$ 12,50"],
    }
    args.update(overrides)
    return wa.send_template(**args)


async def test_a_template_is_accepted_with_the_documented_request_shape(fake, wa):
    wamid = await _send(wa)

    assert wamid.startswith("wamid.")
    [accepted] = fake.received
    assert accepted.wamid == wamid and accepted.phone_number_id == PHONE_ID
    assert accepted.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "template",
        "template": {
            "name": "cashback_credited",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "R$ 12,50"}],
                }
            ],
        },
    }


async def test_a_template_without_variables_is_sent_without_components(fake, wa):
    await _send(wa, template="welcome", parameters=[])

    assert "components" not in fake.received[0].body["template"]


async def test_a_bad_token_is_code_190_and_permanent(fake, wa):
    with pytest.raises(WhatsAppError) as caught:
        await _send(wa, token="EAAG-expired")

    error = caught.value
    assert (error.code, error.status, error.transient, error.recipient) == (190, 401, False, False)
    assert "access token" in error.title
    assert fake.received == []


async def test_one_brands_token_does_not_send_from_another_brands_number(fake, wa):
    with pytest.raises(WhatsAppError) as caught:
        await _send(wa, token=OTHER_TOKEN)

    assert (caught.value.code, caught.value.status, caught.value.transient) == (100, 400, False)


@pytest.mark.parametrize(
    ("template", "language"), [("cashback_credited", "en_US"), ("never_approved", "pt_BR")]
)
async def test_a_template_not_approved_in_that_language_is_132001_and_permanent(wa, template, language):
    with pytest.raises(WhatsAppError) as caught:
        await _send(wa, template=template, language=language)

    assert (caught.value.code, caught.value.status, caught.value.transient) == (132001, 404, False)


async def test_a_paused_template_is_132015_and_permanent(fake, wa):
    fake.pause("cashback_credited", "pt_BR")

    with pytest.raises(WhatsAppError) as caught:
        await _send(wa)

    assert (caught.value.code, caught.value.transient) == (132015, False)


@pytest.mark.parametrize("parameters", [[], ["Ana"], ["Ana", "R$ 12,50", "extra"]])
async def test_a_wrong_parameter_count_is_132000_and_permanent(wa, parameters):
    with pytest.raises(WhatsAppError) as caught:
        await _send(wa, parameters=parameters)

    assert (caught.value.code, caught.value.status, caught.value.transient) == (132000, 400, False)
    assert caught.value.title == "Number of parameters does not match the expected number of params"


@pytest.mark.parametrize(("code", "status"), [(130429, 429), (131056, 429), (131000, 500), (2, 503)])
async def test_rate_limits_and_meta_faults_are_transient_and_the_retry_goes_out(fake, wa, code, status):
    fake.fail_next(code)

    with pytest.raises(WhatsAppError) as caught:
        await _send(wa)

    assert (caught.value.code, caught.value.status, caught.value.transient) == (code, status, True)
    assert await _send(wa)  # the script is spent: the retry is accepted
    assert len(fake.received) == 1


async def test_rate_limit_title_is_the_apis_message_without_its_code(fake, wa):
    fake.fail_next(130429)

    with pytest.raises(WhatsAppError) as caught:
        await _send(wa)

    assert caught.value.title == str(caught.value) == "Rate limit hit"


async def test_a_number_outside_the_test_allowed_list_is_131030_a_recipient_error(fake, wa):
    fake.allowed_recipients = {"5511900000000"}

    with pytest.raises(WhatsAppError) as caught:
        await _send(wa)

    assert (caught.value.code, caught.value.transient, caught.value.recipient) == (131030, False, True)


async def test_a_number_that_is_not_e164_never_reaches_the_api(fake, wa):
    with pytest.raises(WhatsAppError) as caught:
        await _send(wa, to="011 98765-4321")

    assert (caught.value.transient, caught.value.recipient) == (False, True)
    assert fake.received == [] and fake.refused == []


async def test_a_number_not_on_whatsapp_is_accepted_then_fails_by_webhook(fake, wa):
    fake.not_on_whatsapp.add("5511987654321")

    wamid = await _send(wa)
    body, headers = fake.callback(wamid, "failed", error_code=131026, app_secret=SECRET)

    assert signature_ok(body, headers["X-Hub-Signature-256"], SECRET)
    [status] = statuses_of(body)
    assert status.wamid == wamid and status.status == "failed"
    assert status.recipient == "5511987654321"
    assert (status.error_code, status.error_title) == (131026, "Message undeliverable")
    assert status.at.tzinfo is dt.UTC
    assert abs((dt.datetime.now(dt.UTC) - status.at).total_seconds()) < 5


async def test_auto_mode_posts_signed_sent_delivered_or_failed_to_the_webhook():
    posted: list[tuple[bytes, str | None]] = []

    async def receive(request: web.Request) -> web.Response:
        posted.append((await request.read(), request.headers.get("X-Hub-Signature-256")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/wa", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake = await FakeWhatsApp(webhook_url=f"http://127.0.0.1:{port}/wa", app_secret=SECRET).start()
    try:
        fake.add_account(PHONE_ID, TOKEN)
        fake.approve("welcome", "pt_BR", 0)
        fake.not_on_whatsapp.add("5521999990000")
        async with Client(fake.base_url) as wa:
            ok = await _send(wa, template="welcome", parameters=[])
            bad = await _send(wa, template="welcome", parameters=[], to="+5521999990000")
        await fake.drain()
    finally:
        await fake.stop()
        await runner.cleanup()

    assert fake.callback_errors == []
    assert all(signature_ok(body, signature, SECRET) for body, signature in posted)
    seen = [(s.wamid, s.status, s.error_code) for body, _ in posted for s in statuses_of(body)]
    assert sorted(seen, key=str) == sorted(
        [(ok, "sent", None), (ok, "delivered", None), (bad, "failed", 131026)], key=str
    )


async def test_a_session_given_to_the_client_is_left_open(fake):
    async with aiohttp.ClientSession() as session:
        wa = Client(fake.base_url, session=session)
        await _send(wa)
        await wa.close()
        assert not session.closed
        await _send(wa)  # still usable by its owner, and by this client
    assert len(fake.received) == 2


async def test_the_clients_own_session_is_made_on_first_use_and_closed(fake):
    wa = Client(fake.base_url)
    await _send(wa)
    session = wa._session
    await wa.close()
    assert session is not None and session.closed


async def test_no_server_is_transient():
    async with Client("http://127.0.0.1:1") as wa:  # nothing listens on port 1
        with pytest.raises(WhatsAppError) as caught:
            await _send(wa)

    assert (caught.value.code, caught.value.status, caught.value.transient) == (None, None, True)


async def test_no_answer_in_time_is_transient():
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # reads the request and never answers

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Client(f"http://127.0.0.1:{port}", timeout=0.05) as wa:
            with pytest.raises(WhatsAppError) as caught:
                await _send(wa)
    finally:
        server.close()

    assert (caught.value.title, caught.value.transient) == ("no answer in time", True)


async def test_the_fake_refuses_what_the_real_api_refuses(fake):
    """The fake is only worth its checks: each malformed request gets Meta's code."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{fake.base_url}/{GRAPH_VERSION}/{PHONE_ID}/messages"
    good = {
        "messaging_product": "whatsapp",
        "to": "5511987654321",
        "type": "template",
        "template": {"name": "welcome", "language": {"code": "pt_BR"}},
    }
    cases = [
        ("POST", url, auth, b"{not json", 100),
        ("POST", url, auth, json.dumps({**good, "messaging_product": "sms"}).encode(), 100),
        ("POST", url, auth, json.dumps({**good, "to": "+5511987654321"}).encode(), 100),
        ("POST", url, auth, json.dumps({**good, "type": "text"}).encode(), 100),
        ("POST", url, auth, json.dumps({**good, "template": {"name": "welcome"}}).encode(), 131008),
        ("POST", url, {}, json.dumps(good).encode(), 190),
        ("GET", url, auth, b"", 100),
        ("POST", url.replace(GRAPH_VERSION, "v1.0"), auth, json.dumps(good).encode(), 2500),
        ("POST", url.replace(PHONE_ID, "999"), auth, json.dumps(good).encode(), 100),
    ]
    async with aiohttp.ClientSession() as session:
        for method, target, headers, data, code in cases:
            async with session.request(method, target, headers=headers, data=data) as response:
                error = (await response.json())["error"]
                assert error["code"] == code, (method, target, data)
                assert response.status == (401 if code == 190 else 400)
                assert error["type"] == "OAuthException" and error["fbtrace_id"]
                if code != 190:
                    assert error["message"].startswith(f"(#{code}) ")
                    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert fake.received == []


async def test_nothing_personal_reaches_the_log(fake, wa, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(130429)
    for overrides in ({}, {"token": "EAAG-expired"}, {"parameters": ["Ana"]}, {}):
        try:
            await _send(wa, **overrides)
        except WhatsAppError:
            pass

    text = caplog.text
    assert "code=130429 status=429" in text and "code=190 status=401" in text
    for secret in (TOKEN, "EAAG-expired", "5511987654321", "Ana", "R$ 12,50"):
        assert secret not in text


# --- the classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        (130429, 429, True),
        (131056, 400, True),  # third-party copies of the table give it as 400: the code decides
        (4, 429, True),
        (80007, 429, True),
        (131000, 500, True),
        (1, 400, True),
        (2, 503, True),
        (None, 502, True),  # a proxy's page, not Graph's JSON
        (None, None, True),  # no answer at all
        (190, 401, False),
        (3, 500, False),  # a permission problem, though the table gives it a 500
        (200, 403, False),
        (100, 400, False),
        (132000, 400, False),
        (132001, 404, False),
        (132015, 400, False),
        (131026, 400, False),
        (131030, 400, False),
        (368, 403, False),
    ],
)
def test_the_classification_table(code, status, transient):
    assert is_transient(code, status) is transient
    assert WhatsAppError("x", code=code, status=status).transient is transient


@pytest.mark.parametrize("code", [131026, 131030, 131021, 131050, 130472])
def test_recipient_errors(code):
    assert WhatsAppError("x", code=code, status=400).recipient


@pytest.mark.parametrize("code", [131051, 132001, 190, 130429, None])
def test_errors_that_are_not_the_recipients(code):
    assert not WhatsAppError("x", code=code, status=400).recipient


# --- webhook helpers ----------------------------------------------------------------------------


def _signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_ok():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    good = _signed(body)

    assert signature_ok(body, good, SECRET)
    assert signature_ok(body, good.upper().replace("SHA256=", "sha256="), SECRET)
    assert not signature_ok(body + b" ", good, SECRET)  # the raw body, byte for byte
    assert not signature_ok(body, _signed(body, "another secret"), SECRET)
    assert not signature_ok(body, None, SECRET)
    assert not signature_ok(body, "", SECRET)
    assert not signature_ok(body, good.removeprefix("sha256="), SECRET)  # the prefix is required
    assert not signature_ok(body, "sha1=" + good.removeprefix("sha256="), SECRET)
    assert not signature_ok(body, "sha256=ünïcode", SECRET)
    assert not signature_ok(body, _signed(body, ""), "")  # no secret configured: nothing is genuine


def test_verify_challenge():
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok-123", "hub.challenge": "1158201444"}

    assert verify_challenge(params, "tok-123") == "1158201444"
    assert verify_challenge(params, "tok-124") is None
    assert verify_challenge({**params, "hub.mode": "unsubscribe"}, "tok-123") is None
    assert verify_challenge({k: v for k, v in params.items() if k != "hub.challenge"}, "tok-123") is None
    assert verify_challenge({k: v for k, v in params.items() if k != "hub.verify_token"}, "tok-123") is None
    assert verify_challenge({**params, "hub.verify_token": ""}, "") is None


def _status(wamid: str, status: str, ts: str = "1750857384", **extra) -> dict:
    return {"id": wamid, "status": status, "timestamp": ts, "recipient_id": "5516992318222", **extra}


def _value(statuses=None, messages=None) -> dict:
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15556459128", "phone_number_id": PHONE_ID},
    }
    if statuses is not None:
        value["statuses"] = statuses
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": "5516992318222"}]
        value["messages"] = messages
    return value


def test_statuses_of_reads_every_entry_and_change_and_skips_incoming_messages():
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    failed = _status(
        "wamid.C",
        "failed",
        errors=[
            {
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ],
    )
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": _value(
                                [
                                    _status(
                                        "wamid.A",
                                        "sent",
                                        conversation={"id": "c1", "origin": {"type": "utility"}},
                                        pricing=pricing,
                                        biz_opaque_callback_data="x",
                                    ),
                                    _status("wamid.A", "delivered", "1750857390"),
                                ]
                            ),
                        },
                        {
                            "field": "messages",
                            "value": _value(
                                messages=[
                                    {
                                        "from": "5516992318222",
                                        "id": "wamid.IN",
                                        "timestamp": "1750857391",
                                        "type": "text",
                                        "text": {"body": "oi"},
                                    }
                                ]
                            ),
                        },
                    ],
                },
                {"id": "102290129340399", "changes": [{"field": "messages", "value": _value([failed])}]},
                {"id": "102290129340400", "changes": [{"field": "account_update", "value": {"event": "X"}}]},
            ],
        }
    ).encode()

    found = statuses_of(body)

    at = dt.datetime(2025, 6, 25, 13, 16, 24, tzinfo=dt.UTC)
    assert found == [
        Status("wamid.A", "sent", at, "5516992318222"),
        Status("wamid.A", "delivered", at + dt.timedelta(seconds=6), "5516992318222"),
        Status("wamid.C", "failed", at, "5516992318222", 131026, "Message undeliverable"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"entry": []}',
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": '
        b'[{"id": "wamid.A", "status": "sent"}]}}]}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"statuses": '
        b'[{"id": "wamid.A", "status": "sent", "timestamp": "yesterday"}]}}]}]}',
    ],
)
def test_statuses_of_garbage_is_a_value_error(body):
    with pytest.raises(ValueError):
        statuses_of(body)
