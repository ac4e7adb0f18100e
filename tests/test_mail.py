"""The SMTP sender against real local SMTP servers (aiosmtpd): one that requires STARTTLS with a
throw-away certificate authority (trustme), one that offers no STARTTLS, one on implicit TLS.

Mail goes out encrypted or not at all: no login and no message ever crosses in clear text."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import time

import pytest
import trustme

from retorno import mail
from retorno.mail import MailNotSent, MemoryMailer, Message, SmtpMailer
from tests.conftest import brand_url, make_settings, post_form
from tests.fake_smtp import SmtpSink

FROM = "nao-responda@retorno.example"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def starttls_server(ca):
    """A submission server that refuses MAIL (and AUTH) until STARTTLS."""
    with SmtpSink(ca=ca) as sink:
        yield sink


@pytest.fixture
def plain_server(ca):
    """A server that offers no STARTTLS and would take a login in clear text."""
    with SmtpSink(tls="none", ca=ca) as sink:
        yield sink


@pytest.fixture
def implicit_tls_server(ca):
    with SmtpSink(tls="implicit", ca=ca) as sink:
        yield sink


@pytest.fixture
async def mailer(starttls_server):
    """A mailer on the STARTTLS server, closed after the test."""
    mailer = SmtpMailer(starttls_server.url, FROM, ca_file=starttls_server.ca_file)
    yield mailer
    await mailer.close()


def _message(**fields) -> Message:
    return Message(
        **{
            "to": "ana@example.com",
            "subject": "Seu código de acesso: 123456",
            "text": "Seu código é 123456.",
            "html": "<p>Seu código é 123456.</p>",
            "sender_name": "Bella Cosméticos",
            "sent_at": dt.datetime.now(dt.UTC),
        }
        | fields
    )


async def test_smtp_upgrades_with_starttls_then_logs_in_and_sends_both_bodies(starttls_server, mailer):
    await mailer.send(_message())
    assert starttls_server.logins == [("loja", True)]  # the URL's user and password, over TLS
    (received,) = starttls_server.messages
    assert received.encrypted
    sent = received.message
    assert sent["To"] == "ana@example.com"
    assert str(sent["From"]) == "Bella Cosméticos <nao-responda@retorno.example>"
    assert sent["Subject"] == "Seu código de acesso: 123456"
    assert sent.get_body("plain").get_content().strip() == "Seu código é 123456."
    html_part = sent.get_body("html")
    assert html_part["Content-Transfer-Encoding"] == "7bit"  # accents as character references
    assert "<p>Seu código é 123456.</p>" in html.unescape(html_part.get_content())
    assert sent["Date"].datetime.tzinfo is not None


async def test_html_with_a_line_too_long_for_7_bit_arrives_exactly_as_quoted_printable(
    starttls_server, mailer
):
    long_line = "<p>" + "Promoção de verão = desconto! " * 80 + "</p>"  # ~2,400 characters
    await mailer.send(_message(html=long_line + "\n<p>.linha com ponto</p>"))
    part = starttls_server.messages[0].message.get_body("html")
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert part.get_content().replace("\r\n", "\n") == long_line + "\n<p>.linha com ponto</p>\n"


async def test_a_server_without_starttls_gets_nothing_in_clear_text(plain_server, app_log):
    mailer = SmtpMailer(plain_server.url, FROM)
    with pytest.raises(MailNotSent):
        await mailer.send(_message())
    assert plain_server.logins == [] and plain_server.messages == []  # neither the password nor the code
    errors = [r.getMessage() for r in app_log.records if r.levelno >= logging.ERROR]
    assert any("does not offer STARTTLS" in e for e in errors), errors
    assert not any("ana@example.com" in e or "123456" in e for e in app_log.texts())


async def test_a_certificate_that_cannot_be_verified_stops_the_mail(starttls_server):
    mailer = SmtpMailer(starttls_server.url, FROM)  # trustme's CA is not among the system's trusted ones
    with pytest.raises(MailNotSent):
        await mailer.send(_message())
    assert starttls_server.logins == [] and starttls_server.messages == []


async def test_smtps_is_tls_from_the_first_byte(implicit_tls_server):
    mailer = SmtpMailer(implicit_tls_server.url, FROM, ca_file=implicit_tls_server.ca_file)
    await mailer.send(_message())
    await mailer.close()
    assert implicit_tls_server.logins == [("loja", True)]
    assert [m.encrypted for m in implicit_tls_server.messages] == [True]


def test_the_ca_file_setting_must_name_a_file(tmp_path):
    from retorno.settings import SettingsError

    with pytest.raises(SettingsError, match="RETORNO_SMTP_CA_FILE"):
        make_settings("sqlite:///x.db", RETORNO_SMTP_CA_FILE=str(tmp_path / "missing.pem"))


# The pool: one handshake and one login for many messages, and never a message twice.


async def test_the_pool_sends_several_messages_on_one_connection(starttls_server, mailer):
    for n in range(5):
        await mailer.send(_message(to=f"cliente{n}@example.com"))
    assert starttls_server.sessions == 1 and mailer.connections_opened == 1
    assert starttls_server.logins == [("loja", True)]
    assert [m.rcpt_tos for m in starttls_server.messages] == [(f"cliente{n}@example.com",) for n in range(5)]
    assert all(m.encrypted and m.session == 1 for m in starttls_server.messages)


async def test_twenty_concurrent_sends_arrive_once_each_on_at_most_the_pool_s_connections(starttls_server):
    mailer = SmtpMailer(starttls_server.url, FROM, ca_file=starttls_server.ca_file, pool=4)
    ids = await asyncio.gather(*(mailer.send(_message(to=f"cliente{n}@example.com")) for n in range(20)))
    await mailer.close()
    assert sorted(m.rcpt_tos[0] for m in starttls_server.messages) == sorted(
        f"cliente{n}@example.com" for n in range(20)
    )
    assert sorted(m.message["Message-ID"] for m in starttls_server.messages) == sorted(ids)
    assert len(set(ids)) == 20
    assert 1 <= starttls_server.sessions <= 4
    assert starttls_server.quits == starttls_server.sessions  # close() said goodbye on each


async def test_the_connections_setting_bounds_the_pool(starttls_server):
    settings = make_settings(
        "sqlite:///x.db",
        RETORNO_SMTP_URL=starttls_server.url,
        RETORNO_SMTP_CA_FILE=starttls_server.ca_file,
        RETORNO_SMTP_CONNECTIONS="2",
    )
    mailer = mail.make_mailer(settings)
    await asyncio.gather(*(mailer.send(_message(to=f"cliente{n}@example.com")) for n in range(12)))
    await mailer.close()
    assert starttls_server.count == 12 and 1 <= starttls_server.sessions <= 2


async def test_send_returns_the_message_id_the_server_saw(starttls_server, mailer):
    message_id = await mailer.send(_message())
    (received,) = starttls_server.messages
    assert received.message["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@retorno.example>")


async def test_extra_headers_arrive_as_given(starttls_server, mailer):
    unsubscribe = "<https://bella.example/u/" + "k" * 60 + ">, <mailto:sair@bella.example?subject=sair>"
    headers = (
        ("List-Unsubscribe", unsubscribe),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-Retorno-Campaign", "black-friday"),
    )
    await mailer.send(_message(headers=headers))
    sent = starttls_server.messages[0].message
    assert [(name, sent[name]) for name, _ in headers] == list(headers)  # folded on the way, unfolded back
    assert not sent.defects


@pytest.mark.parametrize(
    "headers",
    [
        (("X-Retorno", "a\r\nBcc: outra@example.com"),),  # a line break would add a header field
        (("Bad Name", "x"),),
        (("Subject", "a second subject"),),
        (("List-Unsubscribe", "<https://bella.example/saída>"),),  # not ASCII: percent-encode it
    ],
)
async def test_a_header_that_would_break_the_message_is_refused_before_sending(
    headers, starttls_server, mailer
):
    with pytest.raises(ValueError):
        await mailer.send(_message(headers=headers))
    with pytest.raises(ValueError):
        await MemoryMailer().send(_message(headers=headers))  # the same in development
    assert starttls_server.messages == []


async def test_a_connection_the_server_timed_out_is_replaced_and_the_message_arrives_once(ca):
    with SmtpSink(ca=ca, idle_timeout=0.5) as sink:
        mailer = SmtpMailer(sink.url, FROM, ca_file=sink.ca_file)
        await mailer.send(_message(to="primeira@example.com"))
        await asyncio.sleep(1.0)  # the server says 421 and closes the idle connection
        await mailer.send(_message(to="segunda@example.com"))
        await mailer.close()
    assert [m.rcpt_tos for m in sink.messages] == [("primeira@example.com",), ("segunda@example.com",)]
    assert sink.sessions == 2


async def test_a_connection_found_closed_at_mail_is_retried_once_on_a_new_one(
    starttls_server, mailer, app_log
):
    await mailer.send(_message(to="primeira@example.com"))
    starttls_server.drop_next = "MAIL"  # closed just as we reused it: nothing of the message was sent
    await mailer.send(_message(to="segunda@example.com"))
    assert [m.rcpt_tos for m in starttls_server.messages] == [
        ("primeira@example.com",),
        ("segunda@example.com",),
    ]
    assert starttls_server.sessions == 2
    assert any("sending on a new one" in r.getMessage() for r in app_log.records)


async def test_a_message_whose_reply_was_lost_after_data_is_not_sent_again(starttls_server, mailer):
    await mailer.send(_message(to="primeira@example.com"))
    starttls_server.drop_next = "DATA"  # the server took it, then the connection broke
    with pytest.raises(MailNotSent) as raised:
        await mailer.send(_message(to="segunda@example.com"))
    assert raised.value.permanent is False  # the caller may try later; we did not try again
    assert [m.rcpt_tos for m in starttls_server.messages] == [
        ("primeira@example.com",),
        ("segunda@example.com",),
    ]
    await mailer.send(_message(to="terceira@example.com"))  # a new connection for the next one
    assert starttls_server.count == 3 and starttls_server.sessions == 2


async def test_a_server_that_hangs_is_given_up_on_by_the_deadline_and_nothing_is_sent_twice(ca):
    """Before DATA a hung reused connection is replaced and the message arrives once; after DATA the
    server may have it, so the mailer says not sent (transient) and does not send it again."""
    with SmtpSink(ca=ca) as sink:
        sink.stall = 2.0
        mailer = SmtpMailer(sink.url, FROM, ca_file=sink.ca_file, timeout=0.5)
        await mailer.send(_message(to="primeira@example.com"))
        sink.stall_next = "MAIL"
        started = time.monotonic()
        await mailer.send(_message(to="segunda@example.com"))
        assert time.monotonic() - started < 1.5  # the deadline, not the server's 2 s
        sink.stall_next = "DATA"
        with pytest.raises(MailNotSent) as raised:
            await mailer.send(_message(to="terceira@example.com"))
        assert raised.value.permanent is False
        await mailer.send(_message(to="quarta@example.com"))
        await mailer.close()
    assert [m.rcpt_tos for m in sink.messages] == [
        ("primeira@example.com",),
        ("segunda@example.com",),
        ("terceira@example.com",),
        ("quarta@example.com",),
    ]
    assert sink.sessions == 3  # the hung ones were not reused


async def test_an_address_that_could_end_the_command_line_is_refused_and_nothing_is_sent(
    starttls_server, mailer
):
    for bad in ("ana@example.com> NOTIFY=NEVER", "ana @example.com", '"a"@example.com'):
        with pytest.raises(MailNotSent) as raised:
            await mailer.send(_message(to=bad))
        assert raised.value.permanent is True
    await mailer.send(_message(to="joão@exemplo.com.br"))  # SMTPUTF8: the sink offers it
    await mailer.send(_message())  # the connection was reset, not lost
    assert [m.rcpt_tos for m in starttls_server.messages] == [("joão@exemplo.com.br",), ("ana@example.com",)]
    assert starttls_server.sessions == 1


@pytest.mark.parametrize(
    ("reply", "permanent"), [("550 5.1.1 no such user", True), ("452 4.2.2 mailbox full", False)]
)
async def test_a_refused_recipient_is_not_retried_and_says_whether_it_is_permanent(
    ca, reply, permanent, app_log
):
    with SmtpSink(ca=ca, refuse={"ninguem@example.com": reply}) as sink:
        mailer = SmtpMailer(sink.url, FROM, ca_file=sink.ca_file)
        with pytest.raises(MailNotSent) as raised:
            await mailer.send(_message(to="ninguem@example.com"))
        assert raised.value.permanent is permanent
        assert sink.count == 0 and sink.sessions == 1  # one try, on one connection
        await mailer.send(_message())  # the connection was reset and reused
        await mailer.close()
    assert sink.sessions == 1 and [m.rcpt_tos for m in sink.messages] == [("ana@example.com",)]
    errors = [r.getMessage() for r in app_log.records if r.levelno >= logging.ERROR]
    assert any(f"refused the recipient ({reply[:3]})" in e for e in errors), errors


async def test_a_connection_idle_too_long_is_closed_politely_before_reuse(
    starttls_server, mailer, monkeypatch
):
    await mailer.send(_message())
    monkeypatch.setattr(mail, "IDLE_SECONDS", 0.0)  # as if 30 s had gone by
    await mailer.send(_message())
    assert starttls_server.sessions == 2 and starttls_server.quits == 1 and starttls_server.count == 2


async def test_after_close_the_mailer_opens_a_new_connection(starttls_server, mailer):
    await mailer.send(_message())
    await mailer.close()
    assert starttls_server.quits == 1
    await mailer.send(_message())
    assert starttls_server.sessions == 2 and starttls_server.count == 2


async def test_the_memory_mailer_keeps_the_message_and_its_id():
    mailer = MemoryMailer()
    message = _message()
    message_id = await mailer.send(message)
    assert list(mailer.messages) == [message] and list(mailer.message_ids) == [message_id]
    assert message_id.endswith("@retorno.invalid>")


# Through the app: the sign-in code by e-mail.


@pytest.fixture
def smtp_app(database_url, engine, clock, starttls_server, plain_server, request):
    """The app configured with RETORNO_SMTP_URL for the server the test names."""
    from retorno.app import create_app

    sink = starttls_server if request.param == "starttls" else plain_server
    settings = make_settings(database_url, RETORNO_SMTP_URL=sink.url, RETORNO_SMTP_CA_FILE=sink.ca_file)
    return create_app(settings, engine=engine, clock=clock), sink


async def _ask_code(app, demo):
    import httpx

    from retorno import db
    from retorno.customers import service as customers
    from retorno.customers.service import Identity

    await db.write(
        lambda: customers.upsert(
            demo["bella"].id, Identity(email="ana@example.com"), now=dt.datetime.now(dt.UTC)
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=brand_url("bella")) as c:
        return await post_form(
            c, brand_url("bella", "/login"), {"email": "ana@example.com"}, page=brand_url("bella", "/login")
        )


@pytest.mark.parametrize("smtp_app", ["starttls"], indirect=True)
async def test_a_sign_in_code_reaches_the_shopper_over_starttls(smtp_app, demo):
    app, sink = smtp_app
    response = await _ask_code(app, demo)
    await app.state.mailer.close()
    assert response.status_code == 200
    (received,) = sink.messages
    assert received.encrypted
    assert "ana@example.com" in received.message["To"]


@pytest.mark.parametrize("smtp_app", ["plain"], indirect=True)
async def test_without_starttls_the_shopper_reads_a_clear_error_in_portuguese(smtp_app, demo):
    app, sink = smtp_app
    response = await _ask_code(app, demo)
    assert response.status_code == 503
    assert "Não foi possível enviar o e-mail agora" in response.text
    assert sink.messages == [] and sink.logins == []
