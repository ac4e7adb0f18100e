"""A fake of the WhatsApp Business Cloud API (Graph API) on 127.0.0.1, for the tests and the benchmark.

It checks what the real one checks on POST /{version}/{phone_number_id}/messages and answers with the
documented bodies and HTTP statuses (sources in tests/fixtures/whatsapp/README.md):

- a token that is no account's: 401, code 190 (OAuthException), no error_data, as Graph answers;
- a token of another phone number id, or an unknown id: 400, code 100 (Graph's "Unsupported post
  request ... Object with ID does not exist");
- another path or version: 400, code 2500 ("Unknown path components"); another method: 400, code 100;
- a body that is not a JSON object, a `messaging_product` other than "whatsapp", a `recipient_type`
  other than "individual", a `to` that is not digits (the docs send digits; the real API also takes
  a '+', the fake insists on the documented form) or a `type` other than "template": 400, code 100;
- no template name or language code: 400, code 131008 ("Required parameter is missing");
- a template not approved in that language: 404, code 132001; paused: 400, code 132015;
- a parameter count other than the approved one: 400, code 132000 (a parameter that is not
  `{"type": "text", "text": "<non-empty>"}`: 400, code 131009);
- with `allowed_recipients` set (a test business number), any other number: 400, code 131030.

Otherwise it accepts (200, `messages[0].message_status = "accepted"`), even for a number in
`not_on_whatsapp`: the real API does too, and says so later with a `failed` status (131026).
`fail_next(code)` answers the next requests (after the token check) with that documented error.

Templates are approved globally or for one phone number id (`approve(..., phone_number_id=...)`),
as a WhatsApp Business Account's templates serve each of its numbers.

Status webhooks: `callback()` builds a signed notification; with `webhook_url` and `app_secret` the
fake posts `sent` then `delivered` (or only `failed`, 131026, for a number not on WhatsApp) itself,
in the background, `webhook_delay` seconds after accepting (Meta takes about a second; a receiver
must also cope with a status that arrives before the send's own answer); `drain()` waits for those.

`received` holds what was accepted, `refused` the (HTTP status, code) of every error answered.
Latency is one asyncio.sleep per request, and nothing else per request is heavier than decoding
its JSON: the benchmark sends thousands a second (`ThreadedFakeWhatsApp` gives it a loop of its own).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from retorno.messages.whatsapp import GRAPH_VERSION

# code: (HTTP status, title, details) as the error-codes page lists them.
ERRORS: dict[int, tuple[int, str, str]] = {
    1: (400, "API Unknown", "Invalid request or possible server error."),
    2: (503, "API Service", "Temporary due to downtime or due to being overloaded."),
    4: (429, "API Too Many Calls", "The app has reached its API call rate limit."),
    100: (400, "Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    80007: (429, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: (
        429,
        "Rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number "
        "in a short period of time",
    ),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131008: (400, "Required parameter is missing", "The request is missing a required parameter."),
    131009: (400, "Parameter value is not valid", "One or more parameter values are invalid."),
    131021: (400, "Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: (400, "Message undeliverable", "Unable to deliver message."),
    131030: (
        400,
        "Recipient phone number not in allowed list",
        "Recipient phone number not in allowed list: add the recipient phone number to the "
        "recipient list and try again.",
    ),
    131056: (
        429,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number "
        "to the same phone number in a short period of time.",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "The number of variable parameter values included in the request did not match the "
        "number of variable parameters defined in the template.",
    ),
    132001: (
        404,
        "Template name does not exist in the translation",
        "The template does not exist in the specified language or the template has not been approved.",
    ),
    132015: (400, "Template is Paused", "Template is paused due to low quality so it cannot be sent."),
}


def error_body(code: int, details: str = "") -> tuple[int, bytes]:
    """The documented error object for `code`, with the HTTP status it comes with."""
    if code == 190:  # Graph's own token error: no "(#190)" prefix, no error_data
        error: dict[str, Any] = {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        return 401, msgspec.json.encode({"error": error})
    status, title, default = ERRORS.get(code, (400, "Error", ""))
    error = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or default},
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    return status, msgspec.json.encode({"error": error})


@dataclass
class Account:
    token: str
    display_phone_number: str
    waba_id: str


@dataclass
class Accepted:
    """A message the fake accepted, as the tests and the benchmark look at it."""

    phone_number_id: str
    to: str
    template: str
    language: str
    parameters: list[str]
    wamid: str
    at: float
    body: dict[str, Any]  # the request's JSON, to check its exact shape


class Refused(Exception):
    def __init__(self, code: int, details: str = "") -> None:
        super().__init__(code)
        self.code, self.details = code, details


class FakeWhatsApp:
    def __init__(
        self,
        latency: float = 0.0,
        *,
        webhook_url: str | None = None,
        app_secret: str = "",
        webhook_delay: float = 0.0,
        webhook_senders: int = 32,
    ) -> None:
        self.latency = latency
        self.webhook_url, self.app_secret, self.webhook_delay = webhook_url, app_secret, webhook_delay
        self.accounts: dict[str, Account] = {}
        self.templates: dict[tuple[str | None, str, str], int] = {}  # (id or None, name, lang): count
        self.paused: set[tuple[str, str]] = set()
        self.not_on_whatsapp: set[str] = set()
        self.allowed_recipients: set[str] | None = None
        self.received: list[Accepted] = []
        self.refused: list[tuple[int, int]] = []  # (HTTP status, code) of every error answered
        self.callback_errors: list[str] = []
        self._by_wamid: dict[str, Accepted] = {}
        self._script: list[int] = []
        # Callbacks go through a queue and a few senders, not a task each: a burst of thousands
        # of sends then costs a queue entry apiece, and no callback times out waiting for a socket.
        self._due: asyncio.Queue[tuple[float, Accepted]] = asyncio.Queue()
        self._senders: list[asyncio.Task[None]] = []
        self._webhook_senders = webhook_senders
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- set-up -------------------------------------------------------------------------------

    def add_account(
        self,
        phone_number_id: str,
        token: str,
        *,
        display_phone_number: str = "15550001234",
        waba_id: str = "102290129340398",
    ) -> None:
        self.accounts[phone_number_id] = Account(token, display_phone_number, waba_id)

    def approve(
        self, name: str, language: str, parameters: int, *, phone_number_id: str | None = None
    ) -> None:
        """A template approved in `language` with `parameters` body variables, for every phone
        number id (default) or only one."""
        self.templates[(phone_number_id, name, language)] = parameters

    def pause(self, name: str, language: str) -> None:
        self.paused.add((name, language))

    def fail_next(self, code: int, times: int = 1) -> None:
        """The next `times` requests that pass the token check get error `code` instead."""
        self._script.extend([code] * times)

    async def start(self) -> FakeWhatsApp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.webhook_url:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10),
                connector=aiohttp.TCPConnector(limit=self._webhook_senders),
            )
            self._senders = [
                asyncio.create_task(self._send_callbacks()) for _ in range(self._webhook_senders)
            ]
        return self

    async def drain(self) -> None:
        """Waits until every status callback already due has been posted."""
        await self._due.join()

    async def stop(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            accepted = await self._check(request)
        except Refused as refused:
            status, body = error_body(refused.code, refused.details)
            self.refused.append((status, refused.code))
            return web.Response(status=status, body=body, content_type="application/json")
        self.received.append(accepted)
        self._by_wamid[accepted.wamid] = accepted
        if self.webhook_url:
            self._due.put_nowait((time.monotonic() + self.webhook_delay, accepted))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": accepted.to, "wa_id": accepted.to}],
            "messages": [{"id": accepted.wamid, "message_status": "accepted"}],
        }
        return web.Response(body=msgspec.json.encode(answer), content_type="application/json")

    async def _check(self, request: web.Request) -> Accepted:
        parts = request.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != GRAPH_VERSION or parts[2] != "messages":
            raise Refused(2500, "Unknown path components")
        phone_number_id = parts[1]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(a.token == token for a in self.accounts.values()):
            raise Refused(190)
        account = self.accounts.get(phone_number_id)
        if account is None or account.token != token:
            raise Refused(100, f"Unsupported post request. Object with ID '{phone_number_id}' does not exist")
        if request.method != "POST":
            raise Refused(100, f"Unsupported {request.method.lower()} request.")
        if self._script:
            raise Refused(self._script.pop(0))
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            raise Refused(100, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused(100, "The request body must be a JSON object")
        if body.get("messaging_product") != "whatsapp":
            raise Refused(100, "The parameter messaging_product is required and must be 'whatsapp'.")
        if body.get("recipient_type", "individual") != "individual":
            raise Refused(100, "recipient_type must be 'individual'")
        to = body.get("to")
        if not isinstance(to, str) or not to.isascii() or not to.isdigit():
            raise Refused(100, "'to' must be the recipient's number in digits, country code first")
        if body.get("type") != "template":
            raise Refused(100, "the fake sends template messages only")
        template = body.get("template")
        if not isinstance(template, dict):
            raise Refused(131008, "template is required")
        name, language = template.get("name"), (template.get("language") or {})
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(name, str) or not name or not isinstance(code, str) or not code:
            raise Refused(131008, "template.name and template.language.code are required")
        expected = self.templates.get((phone_number_id, name, code), self.templates.get((None, name, code)))
        if expected is None:
            raise Refused(132001, f"template name ({name}) does not exist in {code}")
        if (name, code) in self.paused:
            raise Refused(132015)
        parameters = self._parameters(template.get("components"))
        if len(parameters) != expected:
            raise Refused(
                132000,
                f"body: number of localizable_params ({len(parameters)}) does not match the expected "
                f"number of params ({expected})",
            )
        if self.allowed_recipients is not None and to not in self.allowed_recipients:
            raise Refused(131030)
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
        return Accepted(phone_number_id, to, name, code, parameters, wamid, time.time(), body)

    @staticmethod
    def _parameters(components: Any) -> list[str]:
        """The body's text parameters; the fake's templates have no header or button variables."""
        if components is None:
            return []
        if not isinstance(components, list):
            raise Refused(100, "components must be an array")
        texts: list[str] = []
        for component in components:
            if not isinstance(component, dict) or component.get("type") != "body":
                raise Refused(132000, "the template has variables in its body only")
            for parameter in component.get("parameters") or []:
                if not isinstance(parameter, dict) or parameter.get("type") != "text":
                    raise Refused(131009, "a body parameter must be {type: text, text: <non-empty>}")
                text = parameter.get("text")
                if not isinstance(text, str) or not text:
                    raise Refused(131009, "a body parameter must be {type: text, text: <non-empty>}")
                texts.append(text)
        return texts

    # --- status webhooks ----------------------------------------------------------------------

    def callback(
        self,
        wamid: str,
        status: str,
        *,
        error_code: int | None = None,
        app_secret: str,
        recipient: str = "",
        phone_number_id: str = "",
    ) -> tuple[bytes, dict[str, str]]:
        """The notification Meta posts for one status of `wamid`, and its headers (signed).

        The recipient and phone number id are those of the accepted message; give them for a wamid
        the fake never saw."""
        sent = self._by_wamid.get(wamid)
        recipient = recipient or (sent.to if sent else "")
        phone_number_id = phone_number_id or (sent.phone_number_id if sent else "")
        account = self.accounts.get(phone_number_id) or Account("", "15550001234", "102290129340398")
        now = int(time.time())
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(now),
            "recipient_id": recipient,
        }
        if error_code is not None:
            _, title, details = ERRORS.get(error_code, (400, "Error", ""))
            item["errors"] = [
                {
                    "code": error_code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        else:
            conversation: dict[str, Any] = {"id": secrets.token_hex(16)}
            if status == "sent":
                conversation["expiration_timestamp"] = str(now + 24 * 3600)
            conversation["origin"] = {"type": "utility"}
            item["conversation"] = conversation
            item["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": "utility",
                "type": "regular",
            }
        notification = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": account.waba_id,
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": account.display_phone_number,
                                    "phone_number_id": phone_number_id,
                                },
                                "statuses": [item],
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
        body = json.dumps(notification, separators=(",", ":")).encode()
        signature = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}

    async def _send_callbacks(self) -> None:
        while True:
            due, accepted = await self._due.get()
            try:
                if (wait := due - time.monotonic()) > 0:  # FIFO with one delay: due times only grow
                    await asyncio.sleep(wait)
                await self._report(accepted)
            finally:
                self._due.task_done()

    async def _report(self, accepted: Accepted) -> None:
        """What Meta does after accepting: `sent` then `delivered`, or `failed` (131026) alone."""
        if accepted.to in self.not_on_whatsapp:
            steps: list[tuple[str, int | None]] = [("failed", 131026)]
        else:
            steps = [("sent", None), ("delivered", None)]
        for status, code in steps:
            body, headers = self.callback(accepted.wamid, status, error_code=code, app_secret=self.app_secret)
            try:
                assert self._session is not None and self.webhook_url
                async with self._session.post(self.webhook_url, data=body, headers=headers) as response:
                    if response.status != 200:
                        self.callback_errors.append(f"{status}: answered {response.status}")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.callback_errors.append(f"{status}: {exc!r}")


class ThreadedFakeWhatsApp:
    """The fake on a loop of its own, for a benchmark or a test whose sender runs elsewhere (another
    process, or a loop this one must not share its time with)."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = self.call(lambda: FakeWhatsApp(**kwargs))
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)

    def call(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on the fake's loop (its state is not meant to be touched from another thread)."""
        return asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop).result(10)

    def drain(self, timeout: float = 60) -> None:
        asyncio.run_coroutine_threadsafe(self.service.drain(), self.loop).result(timeout)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)
