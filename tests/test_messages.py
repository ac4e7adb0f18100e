"""Messages to shoppers through every channel, against local servers that answer as the real ones:
an SMTP server that requires STARTTLS and a login (tests/fake_smtp.py), a fake of WhatsApp's
Graph API that checks each request and signs its status callbacks (tests/fake_whatsapp.py), and
the fake push service. The worker runs in the test's loop with the test's clock (bella's zone is
America/Sao_Paulo: the clock's 15:00 UTC is noon there, outside the default quiet hours 21-9).

bella: 10% cashback, usable 7 days after the sale, expires 90 days after that; a purchase from
R$ 20,00 earns a R$ 10,00 voucher valid 30 days; reminders 7 and 1 days before.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics

import pytest
from prometheus_client import REGISTRY

from retorno import db, i18n
from retorno.customers import service as customers
from retorno.errors import Invalid
from retorno.messages import campaigns, texts
from retorno.messages import settings as message_settings
from retorno.messages.campaigns import Audience, Group
from retorno.push import service as push
from retorno.worker import Worker
from tests.conftest import brand_url, make_settings, platform_url
from tests.fake_push import FakePushService
from tests.fake_smtp import SmtpSink
from tests.fake_whatsapp import FakeWhatsApp

NUMBER_ID, TOKEN, APP_SECRET = "1098765432", "EAAGtesttoken", "app-secret-of-bella"


@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
async def whatsapp():
    fake = await FakeWhatsApp().start()
    fake.add_account(NUMBER_ID, TOKEN)
    for spec in texts.AUTOMATIONS.values():  # every default template, approved as Meta would
        body = texts.defaults(spec, "pt-BR")["whatsapp"]
        fake.approve(body["template"], "pt_BR", len(texts.VARIABLE.findall(body["body"])))
    yield fake
    await fake.stop()


@pytest.fixture
async def pushes():
    fake = await FakePushService().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def worker(database_url, clock, sink, whatsapp):
    settings = make_settings(
        database_url,
        RETORNO_SMTP_URL=sink.url,
        RETORNO_SMTP_CA_FILE=sink.ca_file,
        RETORNO_WHATSAPP_API_URL=whatsapp.base_url,
    )
    async with Worker(clock=clock, settings=settings, sweep_every=0, backoff=10, timeout=2) as w:
        yield w


async def _whatsapp_on(demo, clock, slug: str = "bella") -> None:
    await message_settings.save_settings(
        brand_id=demo[slug].id,
        quiet_start="21:00",
        quiet_end="09:00",
        weekly_cap=3,
        whatsapp_number_id=NUMBER_ID,
        whatsapp_token=TOKEN,
        whatsapp_app_secret=APP_SECRET,
        now=clock(),
    )


async def _shopper(api, demo, clock, email="ana@example.com", phone=None, consents=None, name="Ana Souza"):
    body = {"email": email, "name": name} | ({"phone": phone} if phone else {})
    created = await api.post("/customers", json=body)
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    if consents:
        await customers.set_consents(demo["bella"].id, customer_id, consents, source="counter", now=clock())
    return customer_id


async def _sale(api, order_id: str, total: int, email="ana@example.com"):
    answer = await api.post(
        "/sales", json={"order_id": order_id, "customer": {"email": email}, "total": total}
    )
    assert answer.status_code == 201, answer.text


async def _messages(customer_id=None) -> list[dict]:
    sql = "SELECT kind, state, channel, tried, reason, token, due_at, provider_id FROM messages"
    if customer_id is None:
        return await db.fetch(sql + " ORDER BY id")
    return await db.fetch(sql + " WHERE customer = {} ORDER BY id", customer_id)


async def _write(demo, clock, kind: str, written, *, enabled=True, days="", lang="pt-BR") -> None:
    """Bella's automation `kind`, by e-mail only, with these texts (in `lang`)."""
    await message_settings.save_automation(
        brand_id=demo["bella"].id,
        kind=kind,
        enabled=enabled,
        channels=["email"],
        days=days,
        lang=lang,
        written=written,
        now=clock(),
    )


def _subjects(sink, to="ana@example.com") -> list[str]:
    return [m.message["Subject"].replace("\xa0", " ") for m in sink.messages if m.message["To"] == to]


# --- e-mail ---------------------------------------------------------------------------------------


async def test_an_automatic_email_goes_over_tls_in_the_brands_look_with_one_click_unsubscribe(
    api, app, client, demo, clock, sink, worker
):
    ana = await _shopper(api, demo, clock, consents={"email": True})
    await _sale(api, "P-1", 1500)  # R$ 1,50 of cashback, no voucher (under R$ 20,00)
    await worker.drain()
    [mail] = sink.messages
    assert mail.encrypted and sink.logins and all(encrypted for _, encrypted in sink.logins)
    message = mail.message
    assert message["Subject"].replace("\xa0", " ") == "R$ 1,50 de cashback creditado na Bella Cosméticos"
    assert "Bella Cosméticos" in message["From"] and message["To"] == "ana@example.com"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert demo["bella"].primary_color in html and "/assets/icon-192.png" in html and "<table" in html
    assert "Olá, Ana! Sua compra rendeu R$ 1,50 de cashback" in text.replace("\xa0", " ")
    [row] = await _messages(ana)
    assert (row["kind"], row["state"], row["channel"]) == ("cashback.credited", "sent", "email")
    assert row["provider_id"] == message["Message-ID"]
    unsubscribe = f"http://bella.localhost:8000/unsubscribe/{row['token']}"
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in text and f"http://bella.localhost:8000/m/{row['token']}" in text

    # The mail client's one-click POST: no cookie, no CSRF token, the form body RFC 8058 gives.
    answer = await client.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    choice = (await customers.channel_consents(demo["bella"].id, ana))["email"]
    assert not choice.granted and choice.source == "unsubscribe"
    # Consent withdrawn refuses the next one; the push it could go by has no device.
    await _sale(api, "P-2", 1500)
    await worker.drain()
    assert len(sink.messages) == 1
    assert (await _messages(ana))[-1]["state"] == "skipped" and (await _messages(ana))[-1][
        "reason"
    ] == "no_consent"


async def test_the_link_and_the_open_pixel_are_noted_once_and_another_brands_host_knows_no_token(
    api, client, demo, clock, sink, worker
):
    ana = await _shopper(api, demo, clock, consents={"email": True})
    await _sale(api, "P-1", 1500)
    await worker.drain()
    [row] = await _messages(ana)
    followed = await client.get(brand_url("bella", f"/m/{row['token']}"))
    assert followed.status_code == 302 and followed.headers["location"] == "/statement"
    pixel = await client.get(brand_url("bella", f"/m/{row['token']}/o.gif"))
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    clock.advance(hours=1)
    await client.get(brand_url("bella", f"/m/{row['token']}"))
    [noted] = await db.fetch("SELECT clicked_at, opened_at FROM messages WHERE customer = {}", ana)
    assert noted["clicked_at"] == noted["opened_at"] == clock() - dt.timedelta(hours=1)
    # On mare's host the token is nobody's: home, nothing noted, no opt-out.
    elsewhere = await client.get(brand_url("mare", f"/m/{row['token']}"))
    assert elsewhere.status_code == 302 and elsewhere.headers["location"] == "/"
    gone = await client.post(
        brand_url("mare", f"/unsubscribe/{row['token']}"),
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert gone.status_code == 404
    assert (await customers.channel_consents(demo["bella"].id, ana))["email"].granted


# --- WhatsApp -------------------------------------------------------------------------------------


async def test_whatsapp_sends_the_approved_template_and_its_signed_callbacks_say_delivered_and_read(
    api, client, demo, clock, whatsapp, worker
):
    await _whatsapp_on(demo, clock)
    ana = await _shopper(api, demo, clock, phone="+5511987654321", consents={"whatsapp": True})
    await _sale(api, "P-1", 1500)
    await worker.drain()
    [sent] = whatsapp.received
    assert sent.phone_number_id == NUMBER_ID and sent.to == "5511987654321"
    assert (sent.template, sent.language) == ("cashback_creditado", "pt_BR")
    assert [p.replace("\xa0", " ") for p in sent.parameters] == [
        "Ana",
        "Bella Cosméticos",
        "R$ 1,50",
        "17/11/2026",
    ]
    [row] = await _messages(ana)
    assert (row["channel"], row["state"], row["provider_id"]) == ("whatsapp", "sent", sent.wamid)

    hook = platform_url("/api/hooks/whatsapp/bella")
    body, headers = whatsapp.callback(
        sent.wamid, "delivered", app_secret=APP_SECRET, phone_number_id=NUMBER_ID
    )
    assert (await client.post(hook, content=body, headers=headers)).status_code == 200
    assert (await _messages(ana))[0]["state"] == "delivered"
    forged, _ = whatsapp.callback(sent.wamid, "read", app_secret="not-the-secret")
    refused = await client.post(hook, content=forged, headers={"x-hub-signature-256": "sha256=" + "0" * 64})
    assert refused.status_code == 401 and (await _messages(ana))[0]["state"] == "delivered"
    body, headers = whatsapp.callback(sent.wamid, "read", app_secret=APP_SECRET, phone_number_id=NUMBER_ID)
    await client.post(hook, content=body, headers=headers)
    late, headers = whatsapp.callback(sent.wamid, "delivered", app_secret=APP_SECRET)  # out of order
    await client.post(hook, content=late, headers=headers)
    [state] = await db.fetch("SELECT state, delivered_at, read_at FROM messages WHERE customer = {}", ana)
    assert state["state"] == "read" and state["delivered_at"] is not None and state["read_at"] is not None
    # Another brand's address with bella's signature: refused (mare has no WhatsApp account).
    other = await client.post(platform_url("/api/hooks/whatsapp/mare"), content=body, headers=headers)
    assert other.status_code == 401


async def test_metas_verification_handshake_echoes_the_challenge_only_for_the_brands_token(
    client, demo, clock
):
    await _whatsapp_on(demo, clock)
    token = (await message_settings.settings_of(demo["bella"].id)).whatsapp_verify_token
    assert len(token) >= 24
    hook = platform_url("/api/hooks/whatsapp/bella")
    ok = await client.get(
        hook, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await client.get(
        hook, params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403
    mare = await client.get(
        platform_url("/api/hooks/whatsapp/mare"),
        params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1"},
    )
    assert mare.status_code == 403


async def test_a_number_not_on_whatsapp_falls_back_to_email_and_the_admin_sees_both(
    api, client, demo, clock, sink, whatsapp, worker
):
    await _whatsapp_on(demo, clock)
    ana = await _shopper(api, demo, clock, phone="+5511900000000", consents={"whatsapp": True, "email": True})
    whatsapp.not_on_whatsapp.add("5511900000000")
    await _sale(api, "P-1", 1500)
    await worker.drain()
    [sent] = whatsapp.received  # accepted: the API says so only later, by callback
    assert sink.messages == []
    body, headers = whatsapp.callback(sent.wamid, "failed", error_code=131026, app_secret=APP_SECRET)
    assert (
        await client.post(platform_url("/api/hooks/whatsapp/bella"), content=body, headers=headers)
    ).status_code == 200
    await worker.drain()
    assert _subjects(sink) == ["R$ 1,50 de cashback creditado na Bella Cosméticos"]
    [row] = await _messages(ana)
    assert (row["channel"], row["tried"], row["state"]) == ("email", "whatsapp", "sent")


_OUTCOMES = [("whatsapp", "refused"), ("whatsapp", "sent"), ("email", "sent")]


def _delivered(channel: str, outcome: str) -> float:
    labels = {"channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("retorno_deliveries_total", labels) or 0.0


async def test_a_template_meta_did_not_approve_falls_back_at_once_and_a_rate_limit_is_retried_later(
    api, demo, clock, sink, whatsapp, worker
):
    await _whatsapp_on(demo, clock)
    ana = await _shopper(api, demo, clock, phone="+5511987654321", consents={"whatsapp": True, "email": True})
    whatsapp.fail_next(132001)
    before = {key: _delivered(*key) for key in _OUTCOMES}
    await _sale(api, "P-1", 1500)
    await worker.drain()
    assert whatsapp.received == [] and len(sink.messages) == 1
    # /metrics: WhatsApp refused it (to the next channel), e-mail sent it.
    assert {key: _delivered(*key) - before[key] for key in _OUTCOMES} == {
        ("whatsapp", "refused"): 1,
        ("whatsapp", "sent"): 0,
        ("email", "sent"): 1,
    }
    first = (await _messages(ana))[0]
    assert (first["channel"], first["tried"]) == ("email", "whatsapp")

    whatsapp.fail_next(130429)  # throughput: the same channel, later
    await _sale(api, "P-2", 1500)
    await worker.drain()
    second = (await _messages(ana))[1]
    assert second["state"] == "queued" and second["due_at"] == clock() + dt.timedelta(seconds=60)
    clock.advance(seconds=61)
    await worker.drain()
    assert len(whatsapp.received) == 1 and len(sink.messages) == 1
    assert (await _messages(ana))[1]["state"] == "sent"


async def test_push_goes_first_where_the_shopper_has_a_device_and_others_fall_back_in_order(
    api, demo, clock, sink, whatsapp, pushes, worker
):
    await _whatsapp_on(demo, clock)
    ana = await _shopper(api, demo, clock, phone="+5511987654321", consents={"whatsapp": True, "email": True})
    bia = await _shopper(api, demo, clock, email="bia@example.com", consents={"email": True}, name="Bia")
    caio = await _shopper(api, demo, clock, email="caio@example.com", name="Caio")  # no consent at all
    device = pushes.device()
    data = push.SubscriptionIn(endpoint=device.endpoint, keys=device.keys, device="Chrome · Android")
    await push.subscribe(brand_id=demo["bella"].id, customer_id=ana, data=data, now=clock())
    for order, email in (("A-1", "ana@example.com"), ("B-1", "bia@example.com"), ("C-1", "caio@example.com")):
        await _sale(api, order, 1500, email=email)
    await worker.drain()
    [notice] = pushes.to(device.token)
    assert notice.payload["title"].replace("\xa0", " ") == "R$ 1,50 de cashback creditado"
    assert whatsapp.received == [] and _subjects(sink, "bia@example.com") == [
        "R$ 1,50 de cashback creditado na Bella Cosméticos"
    ]
    assert [(m["channel"], m["state"]) for m in await _messages(ana)] == [("push", "sent")]
    assert [(m["channel"], m["state"], m["reason"]) for m in await _messages(caio)] == [
        ("", "skipped", "no_consent")
    ]
    assert len(sink.messages) == 1 and bia


# --- when: quiet hours, the weekly cap, each automation at its time ------------------------------------


async def test_a_message_due_in_the_quiet_hours_is_held_until_they_end(api, demo, clock, sink, worker):
    await _shopper(api, demo, clock, consents={"email": True})
    clock.now = dt.datetime(2026, 11, 11, 2, 30, tzinfo=dt.UTC)  # 23:30 in São Paulo
    await _sale(api, "P-1", 1500)
    await worker.drain()
    [held] = await _messages()
    assert (held["state"], held["reason"]) == ("held", "quiet_hours") and sink.messages == []
    assert held["due_at"] == dt.datetime(2026, 11, 11, 12, 0, tzinfo=dt.UTC)  # 09:00 there
    clock.now = dt.datetime(2026, 11, 11, 11, 59, tzinfo=dt.UTC)
    await worker.drain()
    assert sink.messages == []
    clock.now = dt.datetime(2026, 11, 11, 12, 0, tzinfo=dt.UTC)
    await worker.drain()
    assert len(sink.messages) == 1 and (await _messages())[0]["state"] == "sent"


async def test_the_weekly_cap_stops_reminders_and_campaigns_but_never_a_credit(
    api, demo, clock, sink, worker
):
    bella = demo["bella"].id
    await message_settings.save_settings(
        brand_id=bella,
        quiet_start="21:00",
        quiet_end="09:00",
        weekly_cap=2,
        whatsapp_number_id="",
        now=clock(),
    )
    ana = await _shopper(api, demo, clock, consents={"email": True})
    for n in range(3):
        await campaigns.create(
            brand_id=bella,
            draft=campaigns.Draft(
                name=f"C{n}",
                channels=["email"],
                written={"email": {"subject": f"Oferta {n}", "body": "Olá, {nome}!"}},
                url="/",
                audience=Audience(),
                holdout_bp=0,
                send_at=None,
            ),
            now=clock(),
        )
        await worker.drain()
        clock.advance(hours=1)
    await _sale(api, "P-1", 1500)
    await worker.drain()
    assert _subjects(sink) == ["Oferta 0", "Oferta 1", "R$ 1,50 de cashback creditado na Bella Cosméticos"]
    assert [m["reason"] for m in await _messages(ana)] == ["", "", "capped", ""]
    clock.advance(days=7)  # a week after the first: room again
    await campaigns.create(
        brand_id=bella,
        draft=campaigns.Draft(
            name="C3",
            channels=["email"],
            written={"email": {"subject": "Oferta 3", "body": "Olá!"}},
            url="/",
            audience=Audience(),
            holdout_bp=0,
            send_at=None,
        ),
        now=clock(),
    )
    await worker.drain()
    assert _subjects(sink)[-1] == "Oferta 3"


async def test_every_automation_fires_once_at_its_time(api, app, demo, clock, sink, worker):
    """A shopper's year in messages, the clock moved by hand; each pass twice, nothing twice."""
    await _shopper(api, demo, clock, consents={"email": True})
    seen: list[str] = []

    async def passes(**delta):
        clock.advance(**delta)
        await worker.drain()
        await worker.drain()
        new = _subjects(sink)[len(seen) :]
        seen.extend(new)
        return new

    await _sale(api, "P-1", 25000)  # R$ 25,00 of cashback and a R$ 10,00 voucher (30 days)
    assert sorted(await passes()) == sorted(
        [
            "R$ 25,00 de cashback creditado na Bella Cosméticos",
            "Você ganhou um vale de R$ 10,00 na Bella Cosméticos",
        ]
    )
    assert await passes(days=7, minutes=1) == ["Seus R$ 25,00 de cashback estão prontos para usar"]
    assert await passes(days=16) == ["Seu vale da Bella Cosméticos expira em 7 dias"]  # day 23 of 30
    assert await passes(days=6, hours=1) == ["Seu vale da Bella Cosméticos expira amanhã"]
    # The return reminder: 30 days after the last purchase, with cashback waiting.
    assert await passes(days=1) == ["Você tem R$ 25,00 esperando por você na Bella Cosméticos"]  # day 30
    assert await passes(days=2) == []
    # The cashback expires 90 days after it became available (day 97): 7 days and 1 day before.
    assert await passes(days=58) == ["R$ 25,00 do seu cashback expiram em 7 dias"]  # day 90
    assert await passes(days=6) == ["R$ 25,00 do seu cashback expiram amanhã"]
    assert await passes(days=2) == []
    assert len(seen) == len(set(seen)) == 8  # each once (the messages of 90 days ago are purged by now)


async def test_the_return_reminder_waits_for_something_to_come_back_for(api, demo, clock, sink, worker):
    """No balance and no voucher: no reminder. The brand's own days are used."""
    bella = demo["bella"]
    spec = texts.AUTOMATIONS["customer.return_reminder"]
    await message_settings.save_automation(
        brand_id=bella.id,
        kind=spec.kind,
        enabled=True,
        channels=["email"],
        days="10",
        lang="pt-BR",
        written=texts.defaults(spec, "pt-BR"),
        now=clock(),
    )
    await _shopper(api, demo, clock, consents={"email": True})
    await _shopper(api, demo, clock, email="bia@example.com", consents={"email": True}, name="Bia")
    await _sale(api, "P-1", 1500)  # Ana: R$ 1,50 of cashback, usable from day 7
    await _sale(api, "B-1", 1500, email="bia@example.com")
    clock.advance(days=8)
    spend = {"redemption_id": "R-1", "order_id": "B-2", "customer": {"email": "bia@example.com"}}
    spent = await api.post("/redemptions", json=spend | {"order_total": 10000, "amount": 150})
    assert spent.status_code == 201  # Bia has nothing left (and B-2 is no sale)
    clock.advance(days=2, minutes=1)
    await worker.drain()
    reminders = [s for s in _subjects(sink) + _subjects(sink, "bia@example.com") if "esperando" in s]
    assert reminders == ["Você tem R$ 1,50 esperando por você na Bella Cosméticos"]


async def test_a_friend_joining_and_the_rewards_reach_referrer_and_friend(
    app, api, demo, clock, sink, worker
):
    from tests.test_referrals import _close, _friend_joins, _inviter

    inviter, code = await _inviter(app, api)
    ana = (await customers.find(demo["bella"].id, "email:ana@example.com")).id
    await customers.set_consents(demo["bella"].id, ana, {"email": True}, source="app", now=clock())
    friend = await _friend_joins(app, code, "bia@example.com")  # joining grants nothing: not ticked
    bia = (await customers.find(demo["bella"].id, "email:bia@example.com")).id
    await customers.set_consents(demo["bella"].id, bia, {"email": True}, source="app", now=clock())
    await worker.drain()
    assert "Um amigo entrou na Bella Cosméticos com seu convite" in _subjects(sink)
    await _sale(api, "F-1", 6000, email="bia@example.com")
    await worker.drain()
    assert "Seu convite rendeu R$ 20,00 na Bella Cosméticos" in _subjects(sink)
    bia_subjects = _subjects(sink, "bia@example.com")
    assert "Boas-vindas à Bella Cosméticos: R$ 10,00 de cashback" in bia_subjects
    # The reward's own credit is not told twice: one welcome, one credit of the purchase, a voucher.
    assert sum("creditado" in s for s in bia_subjects) == 1
    await _close(inviter, friend)


# --- the brand's own texts ------------------------------------------------------------------------------


async def test_an_unknown_variable_is_refused_when_saved_and_a_switched_off_automation_sends_nothing(
    api, demo, clock, sink, worker
):
    spec = texts.AUTOMATIONS["cashback.credited"]
    mine = texts.defaults(spec, "pt-BR") | {"email": {"subject": "Oi {nome}, {cupom}!", "body": "..."}}
    with pytest.raises(Invalid) as refused:
        await _write(demo, clock, spec.kind, mine)
    assert "{cupom}" in i18n.error_text("pt-BR", refused.value)
    own = texts.defaults(spec, "pt-BR") | {
        "email": {"subject": "Ganhou {valor}, {nome}!", "body": "Saldo: {saldo}"}
    }
    await _write(demo, clock, spec.kind, own)
    await _shopper(api, demo, clock, consents={"email": True})
    await _sale(api, "P-1", 1500)
    await worker.drain()
    assert _subjects(sink) == ["Ganhou R$ 1,50, Ana!"]
    await _write(demo, clock, spec.kind, own, enabled=False)
    await _sale(api, "P-2", 1500)
    await worker.drain()
    assert len(sink.messages) == 1 and (await _messages())[-1]["reason"] == "disabled"


# --- campaigns and what they return ------------------------------------------------------------------


def test_the_holdout_comparison_against_a_worked_example():
    """Sent: 8 shoppers spending 0, 0, 0, 50, 100, 100, 200, 350 reais (5 of 8 bought); holdout: 4
    spending 0, 0, 0, 100 (1 of 4). By hand: rates 0.625 and 0.25, difference 0.375; its standard
    error sqrt(.625*.375/8 + .25*.75/4) = sqrt(0.029297 + 0.046875) = 0.275993, so the 95% interval
    is 0.375 -+ 1.959964 * 0.275993 = (-0.165936, 0.915936). Revenue per shopper 100 and 25 reais,
    difference 75; sample variances 105000 / 7 = 15000 and 7500 / 3 = 2500, standard error
    sqrt(15000/8 + 2500/4) = sqrt(2500) = 50, interval 75 -+ 97.9982 = (-22.9982, 172.9982);
    incremental revenue 75 * 8 = 600 reais."""
    sent_spend = [0, 0, 0, 5000, 10000, 10000, 20000, 35000]
    held_spend = [0, 0, 0, 10000]

    def group(spend):
        return Group(
            shoppers=len(spend),
            buyers=sum(1 for s in spend if s > 0),
            revenue=sum(spend),
            revenue_squares=sum(s * s for s in spend),
        )

    result = campaigns.compare(group(sent_spend), group(held_spend))
    assert result.rate.difference == pytest.approx(0.375)
    assert (result.rate.low, result.rate.high) == pytest.approx((-0.165936, 0.915936), abs=1e-6)
    assert result.revenue.difference == pytest.approx(7500)  # centavos
    assert (result.revenue.low, result.revenue.high) == pytest.approx((-2299.82, 17299.82), abs=0.01)
    assert result.incremental_revenue == 60000
    assert not result.rate.certain and not result.revenue.certain
    # The variance from the sums equals the textbook one.
    assert group(sent_spend).variance == pytest.approx(statistics.variance(sent_spend))


async def _seed_shoppers(demo, clock, count: int) -> list[int]:
    """`count` shoppers with e-mail consent, each with one purchase 40 days ago (balance waiting)."""
    ids = []
    bella = demo["bella"].id
    for n in range(count):
        customer, _ = await db.write(
            lambda n=n: customers.upsert(
                bella, customers.Identity(email=f"s{n}@example.com", name=f"S{n}"), now=clock()
            )
        )
        await customers.set_consents(bella, customer.id, {"email": True}, source="import", now=clock())
        ids.append(customer.id)
    return ids


async def test_a_campaign_goes_to_its_audience_at_its_time_keeps_a_holdout_out_and_reports_its_return(
    api, demo, clock, sink, worker
):
    bella = demo["bella"].id
    for n in range(40):
        email = f"s{n}@example.com"
        await _shopper(api, demo, clock, email=email, consents={"email": True}, name=f"S{n}")
        await _sale(api, f"OLD-{n}", 1000 + 1000 * (n % 4), email=email)  # R$ 1 to R$ 4 of cashback
    await _shopper(api, demo, clock, email="never@example.com", name="Nunca")  # no purchase, no consent
    clock.advance(days=40)
    audience = Audience(min_balance=200, bought_more_than=30, channel="email")
    assert await campaigns.audience_size(brand_id=bella, audience=audience, now=clock()) == 30  # n % 4 != 0
    assert (
        await campaigns.audience_size(brand_id=bella, audience=Audience(bought_less_than=30), now=clock())
        == 0
    )
    send_at = clock() + dt.timedelta(hours=2)
    campaign_id = await campaigns.create(
        brand_id=bella,
        draft=campaigns.Draft(
            name="Volta às compras",
            channels=["email"],
            written={"email": {"subject": "{nome}, seu saldo: {saldo}", "body": "Volte!"}},
            url="/",
            audience=audience,
            holdout_bp=2000,
            send_at=send_at,
        ),
        now=clock(),
    )
    await worker.drain()
    before = len(sink.messages)  # the automations' (credits, vouchers, reminders)
    clock.advance(hours=1)
    await worker.drain()
    assert len(sink.messages) == before  # not yet
    clock.advance(hours=1)
    await worker.drain()
    sent = [m for m in sink.messages[before:] if "seu saldo" in m.message["Subject"]]
    members = await db.fetch(
        "SELECT customer, holdout FROM message_campaign_members WHERE campaign = {}", campaign_id
    )
    held = {m["customer"] for m in members if m["holdout"]}
    got = {m["customer"] for m in members if not m["holdout"]}
    assert len(members) == 30 and len(held) == 6 and len(sent) == 24
    emails = {r["id"]: r["email"] for r in await db.fetch("SELECT id, email FROM customers")}
    assert {m.message["To"] for m in sent} == {emails[c] for c in got}
    assert all(re.fullmatch(r"S\d+, seu saldo: R\$\xa0[234],00", m.message["Subject"]) for m in sent)

    # Over the next days: a third of those sent it buy R$ 100,00, one of the holdout R$ 50,00.
    clock.advance(hours=1)
    buyers = sorted(got)[:8]
    for n, customer in enumerate(buyers):
        await _sale(api, f"NEW-{n}", 10000, email=emails[customer])
    await _sale(api, "NEW-H", 5000, email=emails[sorted(held)[0]])
    clock.advance(days=3)
    report = await campaigns.report(brand_id=bella, campaign_id=campaign_id, now=clock())
    expected = campaigns.compare(
        Group(shoppers=24, buyers=8, revenue=8 * 10000, revenue_squares=8 * 10000**2),
        Group(shoppers=6, buyers=1, revenue=5000, revenue_squares=5000**2),
    )
    assert report.comparison == expected and report.days == 3
    assert report.comparison.incremental_revenue == round((80000 / 24 - 5000 / 6) * 24)
    [email_counts] = report.channels
    assert (email_counts.channel, email_counts.sent, email_counts.failed) == ("email", 24, 0)


# --- the admin's pages ------------------------------------------------------------------------------


async def test_a_manager_writes_an_automation_previews_it_for_a_real_shopper_and_sets_whatsapp_up(
    app, api, demo, clock
):
    from tests.test_admin_brand import _csrf, _staff

    await _shopper(api, demo, clock, email="lia@example.com", name="Lia Castro")
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    page = (await manager.get("/admin/b/bella/messages/customer.return_reminder")).text
    assert "Como Lia Castro receberia." in page and "Olá, {{1}}! Você tem {{2}}" in page
    form = {
        "_csrf_token": token,
        "enabled": "1",
        "channel_0": "email",
        "channel_1": "whatsapp",
        "days": "45, 15",
        "push_title": "Volte, {nome}",
        "push_body": "{saldo}",
        "whatsapp_template": "lembrete_retorno",
        "whatsapp_body": "Oi {nome}, {saldo} na {marca}.",
        "email_subject": "{nome}, {cupom} para você",
        "email_body": "Volte!",
    }
    refused = await manager.post("/admin/b/bella/messages/customer.return_reminder", data=form)
    assert refused.status_code == 422
    assert "variável desconhecida {cupom}" in refused.text and 'value="45, 15"' in refused.text
    form["email_subject"] = "{nome}, volte à {marca}"
    saved = await manager.post("/admin/b/bella/messages/customer.return_reminder", data=form)
    assert saved.status_code == 303
    days = await message_settings.reminder_days(demo["bella"].id)
    assert days["customer.return_reminder"] == [15, 45]
    page = (await manager.get("/admin/b/bella/messages/customer.return_reminder")).text
    assert "Lia, volte à Bella Cosméticos" in page and "Oi {{1}}, {{2}} na {{3}}." in page
    framed = await manager.get(
        "/admin/b/bella/messages/customer.return_reminder/email?shopper=lia@example.com"
    )
    assert framed.status_code == 200 and framed.headers["content-type"].startswith("text/html")
    assert "style-src 'unsafe-inline'" in framed.headers["content-security-policy"]
    assert "Lia, volte à Bella Cosméticos" in framed.text and demo["bella"].primary_color in framed.text

    settings_form = {
        "_csrf_token": token,
        "quiet_start": "22:00",
        "quiet_end": "08:30",
        "weekly_cap": "4",
        "whatsapp_number_id": "1098765432",
        "whatsapp_token": TOKEN,
        "whatsapp_app_secret": APP_SECRET,
    }
    bad = await manager.post("/admin/b/bella/messages/settings", data=settings_form | {"quiet_end": "25:00"})
    assert bad.status_code == 422 and "um horário como 21:00" in bad.text
    assert (await manager.post("/admin/b/bella/messages/settings", data=settings_form)).status_code == 303
    page = (await manager.get("/admin/b/bella/messages")).text
    assert TOKEN not in page and APP_SECRET not in page  # never shown again
    assert "/api/hooks/whatsapp/bella" in page and 'value="22:00"' in page
    kept = await message_settings.credentials(demo["bella"].id)
    again = settings_form | {"whatsapp_token": "", "whatsapp_app_secret": ""}  # empty: kept as saved
    await manager.post("/admin/b/bella/messages/settings", data=again)
    assert await message_settings.credentials(demo["bella"].id) == kept
    # Another brand's manager sees none of it.
    mare = await _staff(app, clock, demo, "mare-owner")
    assert (await mare.get("/admin/b/bella/messages")).status_code in (403, 404)
    assert "1098765432" not in (await mare.get("/admin/b/mare/messages")).text
    await manager.aclose()
    await mare.aclose()


async def test_a_shopper_who_uses_the_app_in_english_gets_their_messages_in_english(
    api, client, demo, clock, sink, worker
):
    from tests.conftest import post_form
    from tests.test_portal_pages import signed_in

    ana = await _shopper(api, demo, clock, consents={"email": True})
    await signed_in(client, api, clock)
    await client.get(brand_url("bella", "/account"))  # the CSRF cookie
    chosen = await post_form(client, brand_url("bella", "/lang"), {"lang": "en", "next": "/account"})
    assert chosen.status_code == 303
    [row] = await db.fetch("SELECT language FROM customers WHERE id = {}", ana)
    assert row["language"] == "en"
    await _sale(api, "P-1", 1500)
    await worker.drain()
    subject = _subjects(sink)[0]
    assert subject.endswith("of cashback credited at Bella Cosméticos") and "1.50" in subject
    text = sink.messages[0].message.get_body(("plain",)).get_content()
    assert "Hi Ana, your purchase earned" in text and "Unsubscribe" in text
    # The brand's own English text, written in the admin's English tab, is the one used.
    spec = texts.AUTOMATIONS["cashback.credited"]
    mine = texts.defaults(spec, "en") | {
        "email": {"subject": "Thanks, {nome}: {valor} back", "body": "{saldo}"}
    }
    await _write(demo, clock, spec.kind, mine, lang="en")
    await _sale(api, "P-2", 1500)
    await worker.drain()
    assert _subjects(sink)[-1].startswith("Thanks, Ana: ")
    # pt-BR shoppers still get the Portuguese default.
    await _shopper(api, demo, clock, email="bia@example.com", consents={"email": True}, name="Bia")
    await _sale(api, "B-1", 1500, email="bia@example.com")
    await worker.drain()
    assert _subjects(sink, "bia@example.com") == ["R$ 1,50 de cashback creditado na Bella Cosméticos"]


# --- consent recorded where the shopper gave it ---------------------------------------------------------


async def test_consent_given_at_the_counter_and_in_an_import_is_recorded_with_its_source(app, demo, clock):
    from tests.test_admin_brand import _csrf, _staff

    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    form = {"_csrf_token": token, "name": "Rui", "phone": "(11) 98765-4321", "whatsapp_ok": "1"}
    assert (await clerk.post("/admin/b/bella/counter/customer", data=form)).status_code == 303
    rui = await customers.find(demo["bella"].id, "phone:+5511987654321")
    choices = await customers.channel_consents(demo["bella"].id, rui.id)
    assert (
        set(choices) == {"whatsapp"}
        and choices["whatsapp"].granted
        and choices["whatsapp"].source == "counter"
    )

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    csv = (
        "order_id,total,email,consent_email,consent_whatsapp\n"
        "H-1,100,ana@example.com,sim,\n"
        "H-2,100,bia@example.com,não,sim\n"
        "H-3,100,caio@example.com,talvez,\n"
    )
    page = await manager.post(
        "/admin/b/bella/import",
        data={"_csrf_token": token},
        files={"file": ("h.csv", csv.encode(), "text/csv")},
    )
    assert page.status_code == 200 and page.text.count('class="import-imported"') == 2
    assert "consent_email: sim ou não (ou vazio)" in page.text  # H-3 refused, nothing of it recorded
    ana = await customers.find(demo["bella"].id, "email:ana@example.com")
    bia = await customers.find(demo["bella"].id, "email:bia@example.com")
    assert {
        k: (v.granted, v.source)
        for k, v in (await customers.channel_consents(demo["bella"].id, ana.id)).items()
    } == {"email": (True, "import")}
    assert {
        k: v.granted for k, v in (await customers.channel_consents(demo["bella"].id, bia.id)).items()
    } == {
        "email": False,
        "whatsapp": True,
    }
    assert await db.fetch("SELECT id FROM sales WHERE order_id = 'H-3'") == []
    await clerk.aclose()
    await manager.aclose()


def _signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    import hashlib
    import hmac
    import json

    body = json.dumps(payload).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


def _incoming(sender: str, text: str, at: dt.datetime) -> dict:
    """An incoming text as Meta's messages webhook reference shows it."""
    message = {"from": sender, "id": "wamid.IN1", "timestamp": str(int(at.timestamp())), "type": "text"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511900000001", "phone_number_id": NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": sender}],
        "messages": [message | {"text": {"body": text}}],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


async def test_answering_sair_on_whatsapp_stops_whatsapp_and_a_status_too_early_is_asked_again(
    api, client, demo, clock, sink, whatsapp, worker
):
    await _whatsapp_on(demo, clock)
    ana = await _shopper(api, demo, clock, phone="+5511987654321", consents={"whatsapp": True, "email": True})
    hook = platform_url("/api/hooks/whatsapp/bella")
    body, headers = _signed(_incoming("5511987654321", "  Sair! ", clock()))
    answered = await client.post(hook, content=body, headers=headers)
    assert answered.status_code == 200 and answered.json()["opted_out"] == 1
    choice = (await customers.channel_consents(demo["bella"].id, ana))["whatsapp"]
    assert not choice.granted and choice.source == "unsubscribe"
    await _sale(api, "P-1", 1500)
    await worker.drain()
    assert whatsapp.received == [] and len(sink.messages) == 1  # e-mail, the next in the order
    # "obrigada" is no stop word; an unknown number changes nothing.
    for sender, text in (("5511987654321", "obrigada"), ("5511911112222", "sair")):
        body, headers = _signed(_incoming(sender, text, clock()))
        assert (await client.post(hook, content=body, headers=headers)).json()["opted_out"] == 0
    # A status for a send whose answer is not recorded yet: 503, so that Meta sends it again.
    status = {"id": "wamid.NOT-YET", "status": "delivered", "timestamp": str(int(clock().timestamp()))}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": NUMBER_ID},
        "statuses": [status],
    }
    early, headers = _signed(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
    )
    assert (await client.post(hook, content=early, headers=headers)).status_code == 503
    clock.advance(minutes=11)  # long unknown: nothing to wait for
    assert (await client.post(hook, content=early, headers=headers)).status_code == 200


async def test_the_audience_by_category_segment_and_channel_on_both_engines(api, demo, clock):
    bella = demo["bella"].id
    await _shopper(api, demo, clock, consents={"whatsapp": True})
    await _shopper(api, demo, clock, email="bia@example.com", consents={"email": True}, name="Bia")
    items = [
        {"sku": "X1", "category": "cabelos", "amount": 3000},
        {"sku": "Y1", "category": "unhas", "amount": 2000},
    ]
    body = {"order_id": "A-1", "customer": {"email": "ana@example.com"}, "total": 5000, "items": items}
    assert (await api.post("/sales", json=body)).status_code == 201
    await _sale(api, "B-1", 5000, email="bia@example.com")
    assert (await api.patch("/customers/email:bia@example.com", json={"segment": "vip"})).status_code == 200

    async def size(**rules) -> int:
        return await campaigns.audience_size(brand_id=bella, audience=Audience(**rules), now=clock())

    assert await size() == 2
    assert await size(category="cabelos") == 1 and await size(category="cabel") == 0  # the whole name
    assert await size(segment="vip") == 1 and await size(segment="vip", category="cabelos") == 0
    assert await size(channel="whatsapp") == 1 and await size(channel="email") == 1
    assert await size(channel="push") == 0  # nobody has a device
    assert await size(min_balance=1) == 0  # still in the return window
    clock.advance(days=8)
    assert await size(min_balance=500) == 2 and await size(min_balance=501) == 0
    # Another brand's shoppers are never in bella's audience.
    assert await campaigns.audience_size(brand_id=demo["mare"].id, audience=Audience(), now=clock()) == 0
