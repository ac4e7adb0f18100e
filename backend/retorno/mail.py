"""Outgoing mail: SMTP in production; in development and tests, kept in memory for /dev/mailbox.

`smtp://` always upgrades with STARTTLS (EHLO, STARTTLS, EHLO again) and verifies the server's
certificate; a server that does not offer STARTTLS gets nothing, not even the login, and the
reason goes to the log. `smtps://` is TLS from the first byte. Message bodies and addresses never
go to the log: they carry sign-in codes and personal data.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
import msgspec

from retorno.errors import DomainError
from retorno.settings import Settings

log = logging.getLogger("retorno.mail")


class MailNotSent(DomainError):
    """The mail server could not be reached or refused the message; nothing was sent."""

    status_code = 503
    title = "E-mail unavailable"

    def __init__(self) -> None:
        super().__init__("The e-mail could not be sent right now. Try again in a few minutes.")


class Message(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    text: str
    html: str
    sender_name: str
    sent_at: dt.datetime


class MemoryMailer:
    """Keeps the last messages; what development shows at /dev/mailbox and tests read."""

    def __init__(self, keep: int = 50) -> None:
        self.messages: collections.deque[Message] = collections.deque(maxlen=keep)

    async def send(self, message: Message) -> None:
        self.messages.appendleft(message)
        log.info("mail kept in memory (see /dev/mailbox)")  # no subject: it may hold a code


class SmtpMailer:
    def __init__(self, url: str, mail_from: str, *, ca_file: str = "", timeout: float = 15.0) -> None:
        self.url, self.mail_from, self.timeout = urlsplit(url), mail_from, timeout
        # The system's trusted CAs, or a private relay's own CA file; never an unverified certificate.
        self.tls_context = ssl.create_default_context(cafile=ca_file or None)

    async def send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = formataddr((message.sender_name, self.mail_from))
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        u = self.url
        implicit_tls = u.scheme == "smtps"
        try:
            await aiosmtplib.send(
                email,
                hostname=u.hostname,
                port=u.port or (465 if implicit_tls else 587),
                username=unquote(u.username) if u.username else None,
                password=unquote(u.password or "") if u.username else None,
                use_tls=implicit_tls,
                start_tls=not implicit_tls,  # True: no STARTTLS offered is an error, never clear text
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            log.error(
                "mail not sent through %s:%s: %s", u.hostname, u.port or "", _reason(exc)
            )  # the server and why; never the address or the subject
            raise MailNotSent() from None
        log.info("mail sent")  # no subject or address: it may hold a code


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc):
        return "the server does not offer STARTTLS, so nothing was sent in clear text"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "CERTIFICATE" in str(exc).upper():
        return f"TLS failed ({type(exc).__name__}: the certificate could not be verified?)"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"the server answered {exc.code}"
    return type(exc).__name__


def make_mailer(settings: Settings) -> MemoryMailer | SmtpMailer:
    if not settings.smtp_url:
        return MemoryMailer()
    return SmtpMailer(settings.smtp_url, settings.mail_from, ca_file=settings.smtp_ca_file)
