"""Outgoing mail: SMTP in production; in development and tests, kept in memory for /dev/mailbox.

Message bodies never go to the log: they carry sign-in codes.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import unquote, urlsplit

import msgspec

from retorno.settings import Settings

log = logging.getLogger("retorno.mail")


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
    def __init__(self, url: str, mail_from: str) -> None:
        self.url, self.mail_from = urlsplit(url), mail_from

    def _send(self, email: EmailMessage) -> None:
        u = self.url
        context = ssl.create_default_context()
        if u.scheme == "smtps":
            server: smtplib.SMTP = smtplib.SMTP_SSL(u.hostname, u.port or 465, timeout=15, context=context)
        else:
            server = smtplib.SMTP(u.hostname, u.port or 587, timeout=15)
        with server:
            if u.scheme == "smtp" and server.has_extn("starttls"):
                server.starttls(context=context)
            if u.username:
                server.login(unquote(u.username), unquote(u.password or ""))
            server.send_message(email)

    async def send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = formataddr((message.sender_name, self.mail_from))
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        await asyncio.to_thread(self._send, email)
        log.info("mail sent")  # no subject or address: it may hold a code


def make_mailer(settings: Settings) -> MemoryMailer | SmtpMailer:
    return SmtpMailer(settings.smtp_url, settings.mail_from) if settings.smtp_url else MemoryMailer()
