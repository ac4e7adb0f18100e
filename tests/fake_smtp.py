"""A local SMTP sink (aiosmtpd in a thread of its own) for tests and benchmarks.

By default it is a submission server as our relays are: STARTTLS required before anything else,
with a certificate from a throw-away CA (trustme), and AUTH required. It records what it saw:
each message (`Received`), whether its session was encrypted, the logins tried and how many
connections were opened. start() and stop() are plain calls, so sync tests, async tests (the
server has its own loop) and a benchmark script can all use it:

    with SmtpSink() as sink:
        mailer = SmtpMailer(sink.url, "nao-responda@retorno.example", ca_file=sink.ca_file)

`python -m tests.fake_smtp` runs one in a process of its own (a benchmark on one core keeps the
server off it): it prints {"url", "ca_file"} as a JSON line, counts without keeping the
messages, and prints {"messages", "sessions", "logins"} when its standard input closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import functools
import json
import logging
import os
import socket
import ssl
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from email import policy
from typing import Any, Literal
from urllib.parse import quote

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

USER, PASSWORD = "loja", "s@nha"  # an @ in the password: the URL must percent-encode it


@dataclass(frozen=True)
class Received:
    raw: bytes
    encrypted: bool  # after STARTTLS, or on a TLS socket from the first byte
    mail_from: str
    rcpt_tos: tuple[str, ...]
    session: int  # which connection (1, 2, ...) it came on

    @functools.cached_property
    def message(self) -> email.message.EmailMessage:
        """Parsed when first read, so a benchmark's sink does not spend its CPU parsing."""
        parsed = email.message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


@dataclass
class _Record:
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    count: int = 0
    sessions: int = 0
    quits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SmtpSink:
    """tls: "starttls" (required before MAIL and AUTH), "implicit" (smtps://) or "none" (a server
    that offers no STARTTLS and would take a login in clear text; for the tests that prove we
    never give it one).

    refuse maps a recipient to the reply its RCPT gets ("550 5.1.1 no such user").
    drop_next is set by a test: "MAIL" closes the connection at its next MAIL command without a
    reply, as a server that timed it out just then would; "DATA" takes the next message and then
    closes without saying so, as a server that crashed before its reply would.
    stall_next: "MAIL" or "DATA" answers that command only after `stall` seconds (a server that
    hangs), for the client's deadlines.
    idle_timeout: seconds of silence after which the server says 421 and closes (aiosmtpd's)."""

    def __init__(
        self,
        *,
        tls: Literal["starttls", "implicit", "none"] = "starttls",
        ca: trustme.CA | None = None,
        user: str = USER,
        password: str = PASSWORD,
        refuse: dict[str, str] | None = None,
        idle_timeout: float = 300.0,
        keep: bool = True,
    ) -> None:
        self.tls, self.user, self.password, self.keep = tls, user, password, keep
        self.ca = ca or trustme.CA()
        self.refuse = dict(refuse or {})
        self.idle_timeout = idle_timeout
        self.drop_next: Literal["MAIL", "DATA"] | None = None
        self.stall_next: Literal["MAIL", "DATA"] | None = None
        self.stall = 2.0
        self._record = _Record()
        self._controller: Controller | None = None
        self._ca_path = ""
        self.port = 0

    # What it saw

    @property
    def messages(self) -> list[Received]:
        return self._record.messages

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """(user, whether the session was encrypted) for each AUTH tried."""
        return self._record.logins

    @property
    def count(self) -> int:
        """Messages taken, kept or not."""
        return self._record.count

    @property
    def sessions(self) -> int:
        """Connections opened by clients (the controller's own readiness probe is not counted)."""
        return self._record.sessions

    @property
    def quits(self) -> int:
        """Sessions the client ended with QUIT (rather than by dropping the connection)."""
        return self._record.quits

    @property
    def url(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        """The CA that signed the server's certificate, as a PEM file (RETORNO_SMTP_CA_FILE)."""
        if not self._ca_path:
            handle, self._ca_path = tempfile.mkstemp(prefix="retorno-smtp-ca-", suffix=".pem")
            os.close(handle)
            self.ca.cert_pem.write_to_path(self._ca_path)
        return self._ca_path

    # Running it

    def start(self) -> SmtpSink:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        smtp: dict[str, Any] = {
            "authenticator": self._authenticate,
            "timeout": self.idle_timeout,
            "server_hostname": "localhost",  # else aiosmtpd asks the resolver on every connection
        }
        if self.tls == "starttls":
            smtp |= {"tls_context": context, "require_starttls": True, "auth_required": True}
        elif self.tls == "implicit":
            smtp |= {"ssl_context": context, "auth_require_tls": False}  # TLS from the first byte
        else:
            smtp |= {"auth_require_tls": False}
        self.port = _free_port()
        self._controller = _CountingController(
            self, self._record, hostname="127.0.0.1", port=self.port, ready_timeout=10, **smtp
        )
        self._controller.start()
        self._record.sessions = 0  # start() opened one connection to see the server answer
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._ca_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._ca_path)
            self._ca_path = ""

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # aiosmtpd's hooks (run in the server's thread)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self._record.lock:
            self._record.logins.append((auth_data.login.decode(), _encrypted(server, session)))
        ok = auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        return AuthResult(success=ok)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.drop_next == "MAIL":
            self.drop_next = None
            server.transport.close()  # no reply: the client finds the connection gone
            return "421 4.4.2 closing"  # written to a closed transport, so never read
        if self.stall_next == "MAIL":
            self.stall_next = None
            await asyncio.sleep(self.stall)
        if not session.authenticated:  # aiosmtpd checks this itself only with STARTTLS
            return "530 5.7.0 Authentication required"
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = Received(
            raw=envelope.original_content or envelope.content,
            encrypted=_encrypted(server, session),
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            session=getattr(server, "serial", 0),
        )
        with self._record.lock:
            self._record.count += 1
            if self.keep:
                self._record.messages.append(received)
        if self.drop_next == "DATA":
            self.drop_next = None
            server.transport.close()  # taken, but the client never hears so
        if self.stall_next == "DATA":
            self.stall_next = None
            await asyncio.sleep(self.stall)  # taken; the reply comes too late
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self._record.lock:
            self._record.quits += 1
        return "221 Bye"


class _CountingController(Controller):
    """Numbers each connection: aiosmtpd makes one SMTP object per connection."""

    def __init__(self, handler: SmtpSink, record: _Record, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.record = record

    def factory(self) -> SMTP:
        server = super().factory()
        with self.record.lock:
            self.record.sessions += 1
            server.serial = self.record.sessions  # read back by handle_DATA
        return server


def _encrypted(server: Any, session: Any) -> bool:
    """After STARTTLS (session.ssl) or on a TLS socket from the start (the transport's context)."""
    return session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    tls = sys.argv[1] if len(sys.argv) > 1 else "starttls"
    assert tls in ("starttls", "implicit", "none"), (
        "usage: python -m tests.fake_smtp [starttls|implicit|none]"
    )
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns on every login it handles
    with SmtpSink(tls=tls, keep=False) as sink:  # type: ignore[arg-type]
        print(json.dumps({"url": sink.url, "ca_file": sink.ca_file}), flush=True)
        sys.stdin.read()  # until the benchmark closes our standard input
        print(
            json.dumps({"messages": sink.count, "sessions": sink.sessions, "logins": len(sink.logins)}),
            flush=True,
        )


if __name__ == "__main__":
    main()
