"""The SMTP sender speaks to a real (local, fake) SMTP server: sender name, both bodies, login."""

import datetime as dt
import email
import socketserver
import threading
from email import policy

import pytest

from retorno.mail import Message, SmtpMailer


class _Session(socketserver.StreamRequestHandler):
    """Just enough SMTP: EHLO (with AUTH PLAIN), AUTH, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake ESMTP")
        while line := self.rfile.readline().decode().strip():
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake")
                self.reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                self.server.auth.append(line)
                self.reply("235 ok")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append(b"".join(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Session)
    server.messages, server.auth = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_smtp_sends_text_and_html_with_the_brand_as_sender_name(smtp_server):
    port = smtp_server.server_address[1]
    mailer = SmtpMailer(f"smtp://loja:s%40nha@127.0.0.1:{port}", "nao-responda@retorno.example")
    await mailer.send(
        Message(
            to="ana@example.com",
            subject="Seu código de acesso: 123456",
            text="Seu código é 123456.",
            html="<p>Seu código é 123456.</p>",
            sender_name="Bella Cosméticos",
            sent_at=dt.datetime.now(dt.UTC),
        )
    )
    assert len(smtp_server.messages) == 1
    sent = email.message_from_bytes(smtp_server.messages[0], policy=policy.default)
    assert sent["To"] == "ana@example.com"
    assert str(sent["From"]) == "Bella Cosméticos <nao-responda@retorno.example>"
    assert sent["Subject"] == "Seu código de acesso: 123456"
    assert sent.get_body("plain").get_content().strip() == "Seu código é 123456."
    assert "<p>Seu código é 123456.</p>" in sent.get_body("html").get_content()
    assert smtp_server.auth and smtp_server.auth[0].startswith("AUTH PLAIN")  # the URL's user and password
