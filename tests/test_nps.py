"""NPS: the sweep asks once per shopper and period after a purchase's delay (never about a cancelled
one, never twice however often it runs), the shopper answers once on the brand's host in a plain
form, the admin's figures match an independent count, the CSV carries every answer, and the
`nps.ask` automation sends the survey's own link."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import httpx
import pytest

from retorno import db
from retorno.auth import sessions
from retorno.nps import service as nps
from retorno.nps.service import NpsSettings
from retorno.outbox import service as outbox
from tests.conftest import brand_url, make_settings, post_form
from tests.fake_smtp import SmtpSink
from tests.fake_whatsapp import FakeWhatsApp
from tests.test_admin_brand import _csrf, _staff

NPS = "/admin/b/bella/nps"
QUESTION = "De 0 a 10, quanto você recomendaria a Bella a um amigo?"


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def _on(demo, clock, slug="bella", delay=3, period=90) -> None:
    settings = NpsSettings(enabled=True, delay_days=delay, period_days=period)
    await nps.save_settings(brand_id=demo[slug].id, settings=settings, now=clock())


async def _sale(api, order_id, email="ana@example.com", total=15000, channel="loja-centro", name="Ana Souza"):
    body = {
        "order_id": order_id,
        "customer": {"email": email, "name": name},
        "total": total,
        "channel": channel,
    }
    answer = await api.post("/sales", json=body)
    assert answer.status_code == 201, answer.text


async def _sweep(demo, clock) -> int:
    return await nps.sweep(brands=list(demo.values()), now=clock())


async def _surveys(brand_id=None) -> list[dict]:
    sql = (
        "SELECT n.id, n.token, n.customer, n.score, n.channel, s.order_id "
        "FROM nps_surveys n JOIN sales s ON s.id = n.sale"
    )
    if brand_id is not None:
        return await db.fetch(sql + " WHERE n.brand = {} ORDER BY n.id", brand_id)
    return await db.fetch(sql + " ORDER BY n.id")


# --- asking ----------------------------------------------------------------------------------------


async def test_the_sweep_asks_after_the_delay_once_per_period_and_never_twice(api, demo, clock):
    await _on(demo, clock)
    await _sale(api, "N-1")
    assert await _sweep(demo, clock) == 0  # too soon
    clock.advance(days=2, hours=23)
    assert await _sweep(demo, clock) == 0
    clock.advance(hours=1, minutes=1)
    assert await _sweep(demo, clock) == 1
    assert await _sweep(demo, clock) == 0  # idempotent
    [survey] = await _surveys()
    assert survey["order_id"] == "N-1" and survey["channel"] == "loja-centro"
    [event] = await outbox.events(demo["bella"].id, kind=nps.EVENT)
    assert event.payload["token"] == survey["token"] and event.dedupe_key == f"nps:{survey['id']}"

    # Another purchase inside the period: not asked again.
    await _sale(api, "N-2")
    clock.advance(days=4)
    assert await _sweep(demo, clock) == 0
    # Past the period, the next purchase is asked about.
    clock.advance(days=90)
    await _sale(api, "N-3")
    clock.advance(days=3, minutes=1)
    assert await _sweep(demo, clock) == 1
    assert [s["order_id"] for s in await _surveys()] == ["N-1", "N-3"]


async def test_a_cancelled_sale_an_old_one_a_brand_switched_off_and_the_latest_sale_only(api, demo, clock):
    await _on(demo, clock)
    await _sale(api, "C-1", email="bia@example.com")
    assert (await api.post("/sales/C-1/cancel")).status_code == 200
    await _sale(api, "L-1", email="caio@example.com")
    await _sale(api, "L-2", email="caio@example.com")  # two purchases the same day: one survey
    old = (clock.now - dt.timedelta(days=30)).isoformat()
    answer = await api.post(
        "/sales",
        json={
            "order_id": "O-1",
            "customer": {"email": "dora@example.com"},
            "total": 9000,
            "occurred_at": old,
        },
    )
    assert answer.status_code == 201
    clock.advance(days=3, minutes=1)
    assert await _sweep(demo, clock) == 1
    assert [s["order_id"] for s in await _surveys()] == ["L-2"]
    # Maré never switched it on: its shoppers are not asked.
    assert await _surveys(demo["mare"].id) == []
    # Switched off: nobody more is asked.
    await nps.save_settings(brand_id=demo["bella"].id, settings=NpsSettings(enabled=False), now=clock())
    await _sale(api, "L-3", email="eva@example.com")
    clock.advance(days=4)
    assert await _sweep(demo, clock) == 0


async def test_two_sweeps_at_once_ask_once(api, demo, clock):
    import asyncio

    await _on(demo, clock)
    for i in range(5):
        await _sale(api, f"R-{i}", email=f"r{i}@example.com")
    clock.advance(days=3, minutes=1)
    counts = await asyncio.gather(*(_sweep(demo, clock) for _ in range(4)))
    assert sum(counts) == 5
    assert len(await _surveys()) == 5
    assert len(await outbox.events(demo["bella"].id, kind=nps.EVENT)) == 5


# --- answering -------------------------------------------------------------------------------------


async def _asked(api, demo, clock, email="ana@example.com", order="A-1", name="Ana Souza") -> str:
    await _on(demo, clock)
    await _sale(api, order, email=email, name=name)
    clock.advance(days=3, minutes=1)
    await _sweep(demo, clock)
    rows = [s for s in await _surveys() if s["order_id"] == order]
    return rows[0]["token"]


async def test_the_survey_is_a_plain_form_answered_once_on_its_brands_host(app, api, demo, clock):
    token = await _asked(api, demo, clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as browser:
        url = brand_url("bella", f"/nps/{token}")
        page = await browser.get(url)
        assert page.status_code == 200
        html = norm(page.text)
        assert QUESTION in html and "<script" not in html.split("<main", 1)[1].split("</main>")[0]
        assert len(re.findall(r'<input type="radio" name="score" value="(\d+)"', html)) == 11
        assert page.headers["referrer-policy"] == "no-referrer"

        for wrong in ("11", "-1", "", "nove"):
            refused = await post_form(browser, url, {"score": wrong, "comment": "x"}, page=url)
            assert refused.status_code == 422
            assert "escolha um número de 0 a 10" in norm(refused.text).lower()
        too_long = await post_form(browser, url, {"score": "9", "comment": "a" * 1001}, page=url)
        assert too_long.status_code == 422 and "a" * 1001 in too_long.text  # kept as typed

        done = await post_form(browser, url, {"score": "9", "comment": "Atendimento ótimo!"}, page=url)
        assert done.status_code == 303 and done.headers["location"] == f"/nps/{token}?done=1"
        thanks = await browser.get(brand_url("bella", done.headers["location"]))
        assert "Obrigado" in thanks.text and "Atendimento ótimo!" in thanks.text

        again = await post_form(browser, url, {"score": "0", "comment": "mudei de ideia"}, page=url)
        assert again.status_code == 409 and "Você já respondeu esta pesquisa" in norm(again.text)
        [row] = await _surveys()
        assert row["score"] == 9  # the first answer stays

        # Another brand's host, an unknown token: not found, in the brand's own page.
        other = await browser.get(brand_url("mare", f"/nps/{token}"))
        assert other.status_code == 404 and "Maré" in other.text
        assert (await browser.get(brand_url("bella", "/nps/nope"))).status_code == 404
        posted = await post_form(
            browser, brand_url("mare", f"/nps/{token}"), {"score": "1"}, page=brand_url("mare", "/")
        )
        assert posted.status_code == 404


async def test_the_apps_home_shows_the_pending_survey_until_it_is_answered(app, api, demo, clock):
    token = await _asked(api, demo, clock)
    [row] = await _surveys()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=brand_url("bella")
    ) as shopper:
        session = await sessions.start_session(
            brand_id=demo["bella"].id, customer_id=row["customer"], now=clock()
        )
        shopper.cookies.set("retorno_session", session)
        home = await shopper.get("/")
        assert "Conte pra gente" in home.text and f'href="/nps/{token}"' in home.text
        await nps.answer(brand_id=demo["bella"].id, token=token, score="10", comment="", now=clock())
        assert "nps-teaser" not in (await shopper.get("/")).text


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_score_matches_an_independent_count(api, demo, clock, seed):
    rng = random.Random(seed)
    await _on(demo, clock)
    channels = ["counter", "loja-centro", "shopify"]
    for i in range(30):
        await _sale(api, f"S-{i}", email=f"s{i}@example.com", channel=channels[i % 3])
    clock.advance(days=3, minutes=1)
    assert await _sweep(demo, clock) == 30
    given: dict[str, list[int]] = {c: [] for c in channels}
    surveys = await _surveys()
    for survey in surveys[:25]:  # 5 never answer
        score = rng.randint(0, 10)
        given[survey["channel"]].append(score)
        await nps.answer(
            brand_id=demo["bella"].id, token=survey["token"], score=str(score), comment="", now=clock()
        )
    every = [s for scores in given.values() for s in scores]

    def expected(scores: list[int]) -> int | None:
        if not scores:
            return None
        promoters = len([s for s in scores if s in (9, 10)])
        detractors = len([s for s in scores if s in range(7)])
        return round_half_up(100 * (promoters - detractors), len(scores))

    today = clock.now.date()
    summary = await nps.summary(brand=demo["bella"], first=today - dt.timedelta(days=30), last=today)
    assert summary.split.answers == 25 and summary.asked == 30 and summary.response_rate == 83
    assert summary.split.nps == expected(every)
    assert {c.channel: c.split.nps for c in summary.channels} == {
        c: expected(s) for c, s in given.items() if s
    }
    assert summary.months[-1].split.nps == expected(every) and len(summary.months) == 12


def round_half_up(numerator: int, denominator: int) -> int:
    """A fraction rounded half away from zero, as a person rounds a percentage."""
    sign = -1 if numerator < 0 else 1
    whole, rest = divmod(abs(numerator), denominator)
    return sign * (whole + (1 if 2 * rest >= denominator else 0))


def test_the_nps_rounds_and_groups_as_a_person_would():
    assert nps.Split(promoters=1, passives=1, detractors=1).nps == 0
    assert nps.Split(promoters=2, passives=0, detractors=1).nps == 33
    assert nps.Split(promoters=0, passives=0, detractors=3).nps == -100
    assert nps.Split(promoters=1, passives=7, detractors=0).nps == 13  # 12.5 -> 13
    assert nps.Split().nps is None
    assert [nps.kind_of(s) for s in (0, 6, 7, 8, 9, 10)] == ["detractors"] * 2 + ["passives"] * 2 + [
        "promoters"
    ] * 2


# --- the admin -------------------------------------------------------------------------------------


async def test_the_admin_shows_the_score_trend_channels_and_comments_and_exports_them(app, api, demo, clock):
    token = await _asked(api, demo, clock)
    await nps.answer(
        brand_id=demo["bella"].id, token=token, score="4", comment='=HYPERLINK("x") demorou', now=clock()
    )
    other = await _asked(api, demo, clock, email="bia@example.com", order="B-1")
    await nps.answer(brand_id=demo["bella"].id, token=other, score="10", comment="Amei", now=clock())
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get(NPS)
    assert page.status_code == 200, page.text
    html = norm(page.text)
    assert 'id="nps-score" class="nps-figure nps-fair">0<' in html  # one promoter, one detractor
    assert "Amei" in html and "demorou" in html and "A-1" in html and "B-1" in html and "Ana Souza" in html
    assert 'data-channel="loja-centro"' in html and "<svg" in html and 'aria-current="page"' in html
    assert "Tendência por mês" in html and "Comentários" in html

    exported = await manager.get(NPS + ".csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 3
    [bad] = [r for r in rows if "demorou" in r[3]]
    assert bad[3].startswith("'=") and bad[6] == "A-1" and bad[8] == "150,00"

    # Maré's manager sees none of it; a clerk may not open it.
    owner = await _staff(app, clock, demo, "mare-owner")
    assert (await owner.get(NPS)).status_code == 404
    mare = await owner.get("/admin/b/mare/nps")
    assert mare.status_code == 200 and "Amei" not in mare.text
    clerk = await _staff(app, clock, demo, "operator")
    assert (await clerk.get(NPS)).status_code == 403


async def test_the_settings_form_says_whats_wrong_in_portuguese_and_saves_audited(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    refused = await manager.post(
        NPS + "/settings", data={"enabled": "1", "delay_days": "x", "period_days": "2", "_csrf_token": token}
    )
    assert refused.status_code == 422
    html = norm(refused.text)
    assert "Dias após a compra: um número inteiro de 0 a 60" in html
    assert "um número inteiro de 7 a 365" in html and 'value="x"' in html and 'id="error-summary"' in html
    saved = await manager.post(
        NPS + "/settings", data={"enabled": "1", "delay_days": "5", "period_days": "60", "_csrf_token": token}
    )
    assert saved.status_code == 303
    assert await nps.settings_of(demo["bella"].id) == NpsSettings(enabled=True, delay_days=5, period_days=60)
    assert await nps.settings_of(demo["mare"].id) == NpsSettings()
    [audit] = await db.fetch("SELECT action, brand FROM audit_events WHERE action = 'nps.settings'")
    assert audit["brand"] == demo["bella"].id


# --- the automation --------------------------------------------------------------------------------


@pytest.fixture
async def whatsapp():
    """The fake Cloud API with Bella's account, every default template approved (as in test_messages)."""
    from retorno.messages import texts
    from tests.test_messages import NUMBER_ID, TOKEN

    fake = await FakeWhatsApp().start()
    fake.add_account(NUMBER_ID, TOKEN)
    for spec in texts.AUTOMATIONS.values():
        body = texts.defaults(spec, "pt-BR")["whatsapp"]
        fake.approve(body["template"], "pt_BR", len(texts.VARIABLE.findall(body["body"])))
    yield fake
    await fake.stop()


@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


async def test_the_automation_emails_the_surveys_own_link(app, api, demo, clock, database_url, sink):
    from retorno.customers import service as customers
    from retorno.messages import settings as message_settings
    from retorno.messages import texts
    from retorno.worker import Worker

    settings = make_settings(database_url, RETORNO_SMTP_URL=sink.url, RETORNO_SMTP_CA_FILE=sink.ca_file)
    await _on(demo, clock)
    await _sale(api, "E-1", total=1000)  # R$ 0,50 of cashback: its own e-mail, switched off below
    ana = (await db.fetch("SELECT id FROM customers WHERE email = 'ana@example.com'"))[0]["id"]
    await customers.set_consents(demo["bella"].id, ana, {"email": True}, source="counter", now=clock())
    await message_settings.save_automation(
        brand_id=demo["bella"].id,
        kind="cashback.credited",
        enabled=False,
        channels=["email"],
        days="",
        lang="pt-BR",
        written=texts.defaults(texts.AUTOMATIONS["cashback.credited"], "pt-BR"),
        now=clock(),
    )
    kinds = [a.kind for a in await message_settings.automations(demo["bella"].id, ("pt-BR",))]
    assert "nps.ask" in kinds
    async with Worker(clock=clock, settings=settings, sweep_every=0, backoff=10, timeout=2) as worker:
        await worker.drain()
        clock.advance(days=3, hours=1)
        clock.now = clock.now.replace(hour=15)  # out of the quiet hours
        await worker.drain()
        await worker.drain()
    mails = [m.message for m in sink.messages if m.message["To"] == "ana@example.com"]
    [mail] = [m for m in mails if "recomendaria" in norm(m["Subject"])]
    assert norm(mail["Subject"]) == "De 0 a 10, você recomendaria a Bella Cosméticos?"
    text = norm(mail.get_body(("plain",)).get_content())
    [link] = set(re.findall(r"http://bella\.localhost:8000/m/[\w-]+", text))
    [survey] = await _surveys()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as browser:
        followed = await browser.get(link)
        assert followed.status_code == 302 and followed.headers["location"] == f"/nps/{survey['token']}"


async def test_the_shoppers_export_has_their_answers_and_deleting_the_account_drops_their_words(
    app, api, demo, clock
):
    token = await _asked(api, demo, clock)
    await nps.answer(brand_id=demo["bella"].id, token=token, score="8", comment="Gostei", now=clock())
    [row] = await _surveys()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=brand_url("bella")
    ) as shopper:
        session = await sessions.start_session(
            brand_id=demo["bella"].id, customer_id=row["customer"], now=clock()
        )
        shopper.cookies.set("retorno_session", session)
        exported = await shopper.get("/account/data.json")
        assert exported.status_code == 200, exported.text
        [answer] = exported.json()["nps_answers"]
        assert (answer["score"], answer["comment"], answer["order_id"]) == (8, "Gostei", "A-1")
        deleted = await post_form(shopper, brand_url("bella", "/account/delete"), {"confirm": "yes"})
        assert deleted.status_code == 303
    [kept] = await db.fetch("SELECT score, comment FROM nps_surveys")
    assert (kept["score"], kept["comment"]) == (8, "")


async def test_the_automation_is_among_the_admins_messages_with_its_portuguese_text(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    listed = await manager.get("/admin/b/bella/messages")
    assert listed.status_code == 200 and "Pesquisa de satisfação (NPS)" in listed.text
    page = await manager.get("/admin/b/bella/messages/nps.ask")
    assert page.status_code == 200, page.text
    html = norm(page.text)
    assert "De 0 a 10, quanto você recomendaria a {marca} a um amigo?" in html
    assert "pesquisa_nps" in html


async def test_the_automation_asks_on_whatsapp_with_the_approved_template_and_not_once_answered(
    app, api, demo, clock, database_url, sink, whatsapp
):
    from retorno.customers import service as customers
    from retorno.worker import Worker
    from tests.test_messages import _whatsapp_on

    await _whatsapp_on(demo, clock)
    made = await api.post(
        "/customers", json={"email": "zoe@example.com", "phone": "+5511912345678", "name": "Zoe Lima"}
    )
    zoe = made.json()["id"]
    await customers.set_consents(demo["bella"].id, zoe, {"whatsapp": True}, source="counter", now=clock())
    token = await _asked(api, demo, clock, email="zoe@example.com", order="W-1", name="Zoe Lima")
    bia_token = await _asked(api, demo, clock, email="bia@example.com", order="W-2")
    # Bia answered in the app before the message went out: she is not asked again.
    await nps.answer(brand_id=demo["bella"].id, token=bia_token, score="10", comment="", now=clock())
    settings = make_settings(
        database_url,
        RETORNO_SMTP_URL=sink.url,
        RETORNO_SMTP_CA_FILE=sink.ca_file,
        RETORNO_WHATSAPP_API_URL=whatsapp.base_url,
    )
    clock.now = clock.now.replace(hour=15)  # out of the quiet hours
    async with Worker(clock=clock, settings=settings, sweep_every=0, backoff=10, timeout=2) as worker:
        await worker.drain()
    sent = [m for m in whatsapp.received if m.template == "pesquisa_nps"]
    assert len(sent) == 1 and sent[0].to == "5511912345678" and sent[0].language == "pt_BR"
    assert sent[0].parameters[:2] == ["Zoe", "Bella Cosméticos"]
    [link] = [p for p in sent[0].parameters if "/m/" in p]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as browser:
        followed = await browser.get(link)
        assert followed.headers["location"] == f"/nps/{token}"
    skipped = await db.fetch(
        "SELECT state, reason FROM messages WHERE kind = 'nps.ask' AND state = 'skipped'"
    )
    assert [(r["state"], r["reason"]) for r in skipped] == [("skipped", "spent")]
