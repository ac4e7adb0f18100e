"""The SMTP sender against real local SMTP servers (aiosmtpd): one that requires STARTTLS with a
throw-away certificate authority (trustme), one that offers no STARTTLS, one on implicit TLS.

Mail goes out encrypted or not at all: no login and no message ever crosses in clear text."""

from __future__ import annotations

import datetime as dt
import email
import logging
import ssl
from email import policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from retorno.mail import MailNotSent, Message, SmtpMailer
from tests.conftest import brand_url, free_port, make_settings, post_form


class _Inbox:
    """What the server saw: messages, whether each session was encrypted, the logins tried."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.original_content or envelope.content, _encrypted(server, session)))
        return "250 OK"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), _encrypted(server, session)))
        return AuthResult(success=auth_data.password == b"s@nha")


def _encrypted(server, session) -> bool:
    """After STARTTLS (session.ssl) or on a TLS socket from the start (the transport's context)."""
    return session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _serve(inbox: _Inbox, **smtp) -> Controller:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=inbox.authenticator,
        ready_timeout=10,
        **smtp,
    )
    controller.start()
    return controller


@pytest.fixture
def starttls_server(ca):
    """A submission server that refuses MAIL (and AUTH) until STARTTLS."""
    inbox = _Inbox()
    controller = _serve(inbox, tls_context=_server_context(ca), require_starttls=True)
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def plain_server():
    """A server that offers no STARTTLS and would take a login in clear text."""
    inbox = _Inbox()
    controller = _serve(inbox, auth_require_tls=False)
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def implicit_tls_server(ca):
    inbox = _Inbox()
    controller = _serve(inbox, ssl_context=_server_context(ca), auth_require_tls=False)  # TLS already
    yield inbox, controller.port
    controller.stop()


def _message() -> Message:
    return Message(
        to="ana@example.com",
        subject="Seu código de acesso: 123456",
        text="Seu código é 123456.",
        html="<p>Seu código é 123456.</p>",
        sender_name="Bella Cosméticos",
        sent_at=dt.datetime.now(dt.UTC),
    )


async def test_smtp_upgrades_with_starttls_then_logs_in_and_sends_both_bodies(starttls_server, ca_file):
    inbox, port = starttls_server
    mailer = SmtpMailer(
        f"smtp://loja:s%40nha@127.0.0.1:{port}", "nao-responda@retorno.example", ca_file=ca_file
    )
    await mailer.send(_message())
    assert inbox.logins == [("loja", True)]  # the URL's user and password, over TLS
    assert len(inbox.messages) == 1
    raw, encrypted = inbox.messages[0]
    assert encrypted
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["To"] == "ana@example.com"
    assert str(sent["From"]) == "Bella Cosméticos <nao-responda@retorno.example>"
    assert sent["Subject"] == "Seu código de acesso: 123456"
    assert sent.get_body("plain").get_content().strip() == "Seu código é 123456."
    assert "<p>Seu código é 123456.</p>" in sent.get_body("html").get_content()


async def test_a_server_without_starttls_gets_nothing_in_clear_text(plain_server, app_log):
    inbox, port = plain_server
    mailer = SmtpMailer(f"smtp://loja:s%40nha@127.0.0.1:{port}", "nao-responda@retorno.example")
    with pytest.raises(MailNotSent):
        await mailer.send(_message())
    assert inbox.logins == [] and inbox.messages == []  # neither the password nor the code went out
    errors = [r.getMessage() for r in app_log.records if r.levelno >= logging.ERROR]
    assert any("does not offer STARTTLS" in e for e in errors), errors
    assert not any("ana@example.com" in e or "123456" in e for e in app_log.texts())


async def test_a_certificate_that_cannot_be_verified_stops_the_mail(starttls_server):
    inbox, port = starttls_server  # trustme's CA is not among the system's trusted ones
    mailer = SmtpMailer(f"smtp://loja:s%40nha@127.0.0.1:{port}", "nao-responda@retorno.example")
    with pytest.raises(MailNotSent):
        await mailer.send(_message())
    assert inbox.logins == [] and inbox.messages == []


async def test_smtps_is_tls_from_the_first_byte(implicit_tls_server, ca_file):
    inbox, port = implicit_tls_server
    mailer = SmtpMailer(
        f"smtps://loja:s%40nha@127.0.0.1:{port}", "nao-responda@retorno.example", ca_file=ca_file
    )
    await mailer.send(_message())
    assert inbox.logins == [("loja", True)]
    assert [encrypted for _, encrypted in inbox.messages] == [True]


def test_the_ca_file_setting_must_name_a_file(tmp_path):
    from retorno.settings import SettingsError

    with pytest.raises(SettingsError, match="RETORNO_SMTP_CA_FILE"):
        make_settings("sqlite:///x.db", RETORNO_SMTP_CA_FILE=str(tmp_path / "missing.pem"))


@pytest.fixture
def smtp_app(database_url, engine, clock, starttls_server, plain_server, ca_file, request):
    """The app configured with RETORNO_SMTP_URL for the server the test names."""
    from retorno.app import create_app

    inbox, port = starttls_server if request.param == "starttls" else plain_server
    settings = make_settings(
        database_url, RETORNO_SMTP_URL=f"smtp://loja:s%40nha@127.0.0.1:{port}", RETORNO_SMTP_CA_FILE=ca_file
    )
    return create_app(settings, engine=engine, clock=clock), inbox


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
    app, inbox = smtp_app
    response = await _ask_code(app, demo)
    assert response.status_code == 200
    ((raw, encrypted),) = inbox.messages
    assert encrypted
    assert "ana@example.com" in email.message_from_bytes(raw, policy=policy.default)["To"]


@pytest.mark.parametrize("smtp_app", ["plain"], indirect=True)
async def test_without_starttls_the_shopper_reads_a_clear_error_in_portuguese(smtp_app, demo):
    app, inbox = smtp_app
    response = await _ask_code(app, demo)
    assert response.status_code == 503
    assert "Não foi possível enviar o e-mail agora" in response.text
    assert inbox.messages == [] and inbox.logins == []
