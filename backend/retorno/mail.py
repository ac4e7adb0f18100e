"""Outgoing mail: SMTP in production; in development and tests, kept in memory for /dev/mailbox.

`smtp://` always upgrades with STARTTLS (EHLO, STARTTLS, EHLO again) and verifies the server's
certificate; a server that does not offer STARTTLS gets nothing, not even the login, and the
reason goes to the log. `smtps://` is TLS from the first byte. Message bodies and addresses never
go to the log: they carry sign-in codes and personal data.

SmtpMailer keeps a few authenticated TLS connections open and sends one message at a time on
each, so a batch of messages pays for the handshake and the login once per connection, not once
per message. A pooled connection that the server closed meanwhile is replaced by a new one and the
message sent there, but only when it failed before DATA: after DATA the server may have taken the
message, and sending it again could deliver it twice. `MailNotSent.permanent` says whether trying
the same message later is pointless (the server refused the recipient or the message with a 5xx).

Messages are written by hand (`_render`) rather than with `email.message.EmailMessage`: that
class parses and refolds every header through its policy, about 3 ms a message, which alone
would cap a batch below 500 messages a second.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import contextlib
import datetime as dt
import functools
import logging
import secrets
import ssl
import time
from email.utils import format_datetime, formataddr, make_msgid
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import aiosmtplib
import msgspec

from retorno.errors import DomainError
from retorno.settings import Settings

log = logging.getLogger("retorno.mail")

# RFC 5321 asks servers to wait 5 minutes for a command, but some relays close idle sessions much
# sooner; past this a connection is closed rather than reused, so a reuse rarely races their close.
IDLE_SECONDS = 30.0


class MailNotSent(DomainError):
    """The mail server could not be reached or refused the message; nothing was sent.

    `permanent` is True when the server refused the recipient or the message itself (a 5xx
    reply): sending the same message again would be refused again, so the caller should not."""

    status_code = 503
    title = "E-mail unavailable"

    def __init__(self, *, permanent: bool = False) -> None:
        super().__init__("The e-mail could not be sent right now. Try again in a few minutes.")
        self.permanent = permanent


class Message(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    text: str
    html: str
    sender_name: str
    sent_at: dt.datetime
    # Extra header fields in order, e.g. RFC 8058's List-Unsubscribe and List-Unsubscribe-Post.
    headers: tuple[tuple[str, str], ...] = ()


class MemoryMailer:
    """Keeps the last messages; what development shows at /dev/mailbox and tests read."""

    def __init__(self, keep: int = 50) -> None:
        self.messages: collections.deque[Message] = collections.deque(maxlen=keep)
        # message_ids[i] is the Message-ID given to messages[i] (newest first, like messages).
        self.message_ids: collections.deque[str] = collections.deque(maxlen=keep)

    async def send(self, message: Message, *, log_sent: bool = True) -> str:
        _render(message, "memory@retorno.invalid", "<check@retorno.invalid>")  # same ValueErrors as SMTP
        message_id = make_msgid(domain="retorno.invalid")
        self.messages.appendleft(message)
        self.message_ids.appendleft(message_id)
        log.info("mail kept in memory (see /dev/mailbox)")  # no subject: it may hold a code
        return message_id

    async def close(self) -> None:
        """Nothing to close; here so callers can close any mailer."""


class _Retry(Exception):
    """The pooled connection was found closed before DATA: nothing was sent on it."""


class _Pool:
    """The connections of one event loop: open ones waiting, and a slot for each allowed."""

    def __init__(self, size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[aiosmtplib.SMTP, float]] = []  # last used last: reuse the warmest


class SmtpMailer:
    """Sends through the relay in RETORNO_SMTP_URL on at most `pool` connections at once
    (RETORNO_SMTP_CONNECTIONS); many coroutines may call send() together. Call close() on shutdown
    to say QUIT.

    32 connections by default: each carries one command at a time (four round trips a message),
    and while the worker decides its next batch (the event loop busy for tens of milliseconds) the
    relay has only what is already in flight to work on. bench/messages.py, e-mail: about 170
    messages/s with 4 connections, 300 with 16 on the same loaded machine; 502 with 16 and 529
    with 32 on a quiet one. A relay that allows fewer connections per client wants the setting
    lowered (Postfix allows 50 by default)."""

    def __init__(
        self, url: str, mail_from: str, *, ca_file: str = "", timeout: float = 15.0, pool: int = 32
    ) -> None:
        self.url, self.mail_from, self.timeout, self.pool_size = urlsplit(url), mail_from, timeout, pool
        self.domain = mail_from.rpartition("@")[2] or "retorno.invalid"
        # The system's trusted CAs, or a private relay's own CA file; never an unverified certificate.
        self.tls_context = ssl.create_default_context(cafile=ca_file or None)
        self._mail_from = _envelope("FROM", mail_from)
        self._pool: _Pool | None = None
        self.connections_opened = 0  # how many logins the pool has cost; tests and benchmarks read it

    async def send(self, message: Message, *, log_sent: bool = True) -> str:
        """Sends on a pooled connection; returns the Message-ID header it gave the message.
        log_sent=False: the caller logs a batch's sends itself (a line per message was 5 % of a
        worker sending e-mail, bench/messages.py)."""
        message_id = make_msgid(domain=self.domain)
        u = self.url
        pool = self._current_pool()
        async with pool.slots:
            # Written once a connection is free rather than on arrival: a batch's messages then
            # get written between the replies of those in flight, not all at once before any.
            data = _render(message, self.mail_from, message_id)
            smtp = await self._take(pool)
            reusable = False  # whether the connection may go back to the pool afterwards
            try:
                if smtp is None:
                    smtp = await self._connect()
                    await self._transact(smtp, message.to, data, reused=False)
                else:
                    try:
                        await self._transact(smtp, message.to, data, reused=True)
                    except _Retry:
                        smtp.close()
                        log.info(
                            "a pooled connection to %s:%s had closed; sending on a new one",
                            u.hostname,
                            u.port or "",
                        )
                        smtp = await self._connect()
                        await self._transact(smtp, message.to, data, reused=False)
                reusable = True
            except MailNotSent:
                reusable = True  # refused on a connection that still works (_refused reset it)
                raise
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                log.error("mail not sent through %s:%s: %s", u.hostname, u.port or "", _reason(exc))
                # The server and why; never the address or the subject.
                raise MailNotSent() from None
            finally:
                if smtp is not None:
                    if reusable and smtp.is_connected:
                        pool.idle.append((smtp, time.monotonic()))
                    else:
                        smtp.close()
        if log_sent:
            log.info("mail sent")  # no subject or address: it may hold a code
        return message_id

    async def close(self) -> None:
        """Says QUIT on every idle connection; the mailer opens new ones if it sends again."""
        pool = self._pool
        if pool is not None and pool.loop is asyncio.get_running_loop():
            idle, pool.idle = pool.idle, []
            await asyncio.gather(*(self._quit(smtp) for smtp, _ in idle))

    def _current_pool(self) -> _Pool:
        """The pool of the running loop: connections and semaphores do not cross event loops."""
        if self._pool is None or self._pool.loop is not asyncio.get_running_loop():
            if self._pool is not None:
                for smtp, _ in self._pool.idle:
                    with contextlib.suppress(RuntimeError):  # that loop may be closed already
                        smtp.close()
            self._pool = _Pool(self.pool_size)
        return self._pool

    async def _take(self, pool: _Pool) -> aiosmtplib.SMTP | None:
        """The most recently used open connection, if one was used in the last IDLE_SECONDS."""
        while pool.idle:
            smtp, used = pool.idle.pop()
            if time.monotonic() - used > IDLE_SECONDS:
                # This one and every one below it waited too long: a server may be closing them.
                stale, pool.idle = [smtp, *(s for s, _ in pool.idle)], []
                await asyncio.gather(*(self._quit(s) for s in stale))
                return None
            if smtp.is_connected:
                return smtp
            smtp.close()  # the server said goodbye while it waited
        return None

    async def _quit(self, smtp: aiosmtplib.SMTP) -> None:
        if smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit(timeout=min(self.timeout, 2.0))  # a polite goodbye, not worth waiting for
        smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        u = self.url
        implicit_tls = u.scheme == "smtps"
        smtp = aiosmtplib.SMTP(
            hostname=u.hostname,
            port=u.port or (465 if implicit_tls else 587),
            username=unquote(u.username) if u.username else None,
            password=unquote(u.password or "") if u.username else None,
            use_tls=implicit_tls,
            start_tls=not implicit_tls,  # True: no STARTTLS offered is an error, never clear text
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        await smtp.connect()  # TLS (at once or by STARTTLS), then the login: never the login first
        self.connections_opened += 1
        return smtp

    async def _transact(self, smtp: aiosmtplib.SMTP, to: str, data: bytes, *, reused: bool) -> None:
        """MAIL, RCPT, DATA. Raises _Retry when a reused connection turns out closed before DATA,
        MailNotSent (without a cause) when the server refused on a connection still usable, and
        aiosmtplib's errors (or TimeoutError) otherwise.

        The commands go through `execute_command` with our own envelope addresses, and each phase
        has one deadline: aiosmtplib's mail() and rcpt() parse every address with the standard
        library's RFC 822 parser and its commands each start a timer of their own, together a tenth
        of a worker's time sending e-mail (bench/messages.py)."""
        smtputf8 = not to.isascii()  # an internationalized address (RFC 6531)
        options = (b"SMTPUTF8",) if smtputf8 else ()  # a parameter of MAIL only
        try:
            if smtputf8 and not smtp.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported("the server does not take non-ASCII addresses")
            async with asyncio.timeout(self.timeout):
                reply = await smtp.execute_command(b"MAIL", self._mail_from, *options, timeout=None)
                if reply.code != 250:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, self.mail_from)
                reply = await smtp.execute_command(b"RCPT", _envelope("TO", to), timeout=None)
                if reply.code not in (250, 251):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, to)
        except (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            ConnectionError,
            TimeoutError,
        ) as exc:
            if reused:
                raise _Retry() from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421 and reused:  # the server is closing this connection (RFC 5321 3.8)
                raise _Retry() from exc
            await self._refused(smtp, exc, permanent=isinstance(exc, aiosmtplib.SMTPRecipientRefused))
        except aiosmtplib.SMTPNotSupported as exc:
            await self._refused(smtp, exc, permanent=True)
        # From here on the server may have the message, whatever happens: never sent again.
        try:
            async with asyncio.timeout(self.timeout):
                await smtp.data(data, timeout=None)
        except aiosmtplib.SMTPDataError as exc:
            await self._refused(smtp, exc, permanent=True)

    async def _refused(
        self, smtp: aiosmtplib.SMTP, exc: aiosmtplib.SMTPException, *, permanent: bool
    ) -> NoReturn:
        """A refusal on a connection that still works: reset the transaction so the connection can
        go back to the pool, and raise MailNotSent (permanent only for a 5xx reply)."""
        code = getattr(exc, "code", 0)
        permanent = permanent and (code >= 500 or code == 0)
        log.error(
            "mail not sent through %s:%s: %s", self.url.hostname, self.url.port or "", _reason(exc)
        )  # the reply's code only: its text may repeat the address
        if code == 421 or not smtp.is_connected:
            smtp.close()
        else:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()  # not reusable: send() drops it
        raise MailNotSent(permanent=permanent)


def _envelope(field: str, address: str) -> bytes:
    """`FROM:<address>` or `TO:<address>` for MAIL and RCPT. Our addresses are bare (no display
    name, as the customers' are stored); anything that could end the address or the command line
    is refused rather than sent."""
    if not address or any(c.isspace() or c in '<>"' or ord(c) < 32 or ord(c) == 127 for c in address):
        raise aiosmtplib.SMTPRecipientRefused(553, "not an address we can send to", address)
    return f"{field}:<{address}>".encode()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc):
        return "the server does not offer STARTTLS, so nothing was sent in clear text"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "CERTIFICATE" in str(exc).upper():
        return f"TLS failed ({type(exc).__name__}: the certificate could not be verified?)"
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return f"the server refused the recipient ({exc.code})"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"the server answered {exc.code}"
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return "the server does not support non-ASCII addresses (SMTPUTF8)"
    return type(exc).__name__


# Header fields that _render writes itself: one of them among Message.headers would be a second copy.
_OWN_FIELDS = frozenset(
    (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    )
)
_PART = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
_PART_7BIT = 'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'


def _render(message: Message, mail_from: str, message_id: str) -> bytes:
    """The message as RFC 5322 bytes with CRLF line ends: multipart/alternative, plain text then
    HTML; the text quoted-printable, the HTML 7-bit where it can be (_html_part): 7-bit clean
    either way, so no server extension is needed.

    The boundary starts with "=_", which quoted-printable never writes, and 96 random bits the 7-bit
    HTML is checked not to hold, so no body can contain it;
    the CRLF before a boundary belongs to the boundary (RFC 2046), so each body keeps its last one.
    Raises ValueError for a header field that would break the message (a line break, a bad name)."""
    boundary = "=_" + secrets.token_hex(12)
    lines = [
        f"Date: {format_datetime(message.sent_at)}",
        f"Message-ID: {message_id}",
        _fold("From", _mailbox(message.sender_name, mail_from)),
        _fold("To", _plain(message.to, "To", allow_utf8=True)),
        _fold("Subject", _unstructured(message.subject)),
    ]
    for name, value in message.headers:
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise ValueError(f"not a header field name: {name!r}")
        if name.lower() in _OWN_FIELDS:
            raise ValueError(f"{name} is set from the Message itself")
        lines.append(_fold(name, _plain(value, name, allow_utf8=False)))
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', "", ""]
    return b"".join(
        (
            "\r\n".join(lines).encode(),
            f"--{boundary}\r\n{_PART.format('plain')}".encode(),
            _quoted_printable(message.text),
            f"\r\n--{boundary}\r\n".encode(),
            _html_part(message.html, boundary),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def _html_part(html: str, boundary: str) -> bytes:
    """The HTML part, headers included. As 7-bit when it can be: every character outside ASCII
    written as a character reference (&#227;), which HTML reads as the character itself, and no
    line over 998 bytes (RFC 5322); quoted-printable otherwise. Quoted-printable writes each "="
    of the inline styles as "=3D" and was 5 % of a worker sending e-mail (bench/messages.py)."""
    body = html.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    data = body.encode("ascii", "xmlcharrefreplace")
    if max(map(len, data.split(b"\n"))) <= 998 and b"\0" not in data and boundary.encode() not in data:
        return _PART_7BIT.encode() + data.replace(b"\n", b"\r\n")
    return _PART.format("html").encode() + _quoted_printable(html)


def _quoted_printable(body: str) -> bytes:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    return binascii.b2a_qp(body.encode(), istext=True).replace(b"\n", b"\r\n")


def _plain(value: str, name: str, *, allow_utf8: bool) -> str:
    """A value written as given: it must hold no line break (a way to smuggle in header fields)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: a header value may not contain a line break")
    if not allow_utf8 and not value.isascii():
        raise ValueError(f"{name}: only ASCII here (percent-encode URLs)")
    return value


@functools.lru_cache(maxsize=256)  # a batch repeats its subject and its brand's name
def _unstructured(text: str) -> str:
    """Free text (a subject, a display name) as is when plain ASCII, else as RFC 2047 words."""
    text = " ".join(text.splitlines())  # a line break in a subject is a mistake, not a new field
    if text.isascii() and text.isprintable() and "=?" not in text:
        return text
    data, words = text.encode(), []
    while data:
        cut = min(len(data), 39)  # 52 base64 characters: a 64-character word, a line under 78 with its field
        while cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut -= 1  # a word must not split a character's UTF-8 bytes
        words.append(f"=?utf-8?b?{binascii.b2a_base64(data[:cut], newline=False).decode()}?=")
        data = data[cut:]
    return " ".join(words)


@functools.lru_cache(maxsize=64)
def _mailbox(name: str, address: str) -> str:
    name = " ".join(name.splitlines())
    if name.isascii() and name.isprintable() and "=?" not in name:
        return formataddr((name, address))  # quotes the name where it needs quoting
    # One encoded word however long (as formataddr writes it): parsers disagree on the space
    # between two encoded words in a display name, and Python's own inserts one.
    return formataddr((name, address), charset="utf-8")


def _fold(name: str, value: str) -> str:
    """`Name: value`, folded at spaces into lines of at most 78 characters where it can be;
    unfolding (removing each CRLF) gives back the value exactly."""
    line = f"{name}: {value}"
    if len(line) <= 78:
        return line
    lines = [f"{name}:"]
    for word in value.split(" "):
        if word and len(lines[-1]) + 1 + len(word) > 78 and lines[-1] != f"{name}:":
            lines.append(f" {word}")
        else:
            lines[-1] += f" {word}"
    if max(map(len, lines)) > 998:
        raise ValueError(f"{name}: a word longer than an e-mail line may be (998 characters)")
    return "\r\n".join(lines)


def make_mailer(settings: Settings) -> MemoryMailer | SmtpMailer:
    if not settings.smtp_url:
        return MemoryMailer()
    return SmtpMailer(
        settings.smtp_url,
        settings.mail_from,
        ca_file=settings.smtp_ca_file,
        pool=settings.smtp_connections,
    )
