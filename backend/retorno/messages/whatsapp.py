"""The WhatsApp Business Cloud API, as far as Retorno uses it: approved templates sent to a shopper,
the status webhooks that follow (sent, delivered, read, failed), and that webhook's handshake and
signature.

A send either returns the message's id (a "wamid") or raises `WhatsAppError`, classified once here:
`transient` errors are worth retrying later with backoff (rate limits, Meta being down, no answer);
every other error is permanent and the caller falls back to another channel (e-mail). `recipient`
says the number itself cannot get WhatsApp messages from us, so it is no use trying it again.

Acceptance is not delivery: the API accepts a template for a number that has no WhatsApp and
reports the failure (131026) later, in a `failed` status webhook read by `statuses_of`.

Shapes are those of Meta's public documentation (links in tests/fixtures/whatsapp/README.md):
- the send: "Send message templates" and the Messages API reference, as the official Node.js SDK
  shows them (whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/messages/template);
- errors: developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes;
- webhooks: .../whatsapp/webhooks/create-webhook-endpoint (GET handshake, X-Hub-Signature-256)
  and .../whatsapp/webhooks/reference/messages/status (the statuses payload).

Nothing personal is logged: never the token, the number or the parameters; a failure logs its
code and HTTP status only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import msgspec

GRAPH_VERSION = "v21.0"

log = logging.getLogger("retorno.messages")

# Meta's E.164 without the '+': the docs' examples send `"to": "16505551234"`. The API tolerates a
# '+', but digits are what every documented example shows, so that is what we send.
_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")

# "(#130429) Rate limit hit": the error page says the title is folded into `message` that way.
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")

# Retry later with backoff. 4 (app's API call rate), 80007 (business account's rate) and 130429
# (throughput) come back as HTTP 429; 131056 (same business/consumer pair too often) as 429 or
# 400 depending on which copy of the error page's table one reads, so the code decides, not the
# status. 131000 "Something went wrong", 1 "API Unknown" ("invalid request or possible server
# error") and 2 "API Service" (downtime, overload) are Meta's own "try again" codes.
# Unclear in the docs: 131049 (Meta chose not to deliver, per-user marketing limit) is to be
# retried "in increasingly larger time increments", a day by some accounts; it stays permanent
# here so that the caller falls back to e-mail instead of retrying within its usual backoff.
_TRANSIENT = frozenset({1, 2, 4, 80007, 130429, 131000, 131056})

# Never worth a retry even when they come with a 5xx: 3 "API Method" is a permission problem that
# the table lists as HTTP 500; 0 and 190 are a bad token; 10 and 200-299 are missing permissions.
_AUTH = frozenset({0, 3, 10, 190})

# The number cannot get it on WhatsApp from us. 131026 not a WhatsApp user (or an old client, or
# terms not accepted); 131030 not in the test number's allowed list; 131021 our own number;
# 131050 the user stopped our marketing messages; 130472 the number is in a Meta experiment.
# 131051 is "Unsupported message type" on the error page, a fault of the request, not the number.
_RECIPIENT = frozenset({130472, 131021, 131026, 131030, 131050})


def is_transient(code: int | None, status: int | None) -> bool:
    """The one retry rule: Meta's code first, then the HTTP status (no answer at all is a retry)."""
    if code in _TRANSIENT:
        return True
    if code is not None and (code in _AUTH or 200 <= code <= 299):
        return False
    if status is None:  # timeout, refused or reset connection: nothing was said
        return True
    return status == 429 or status >= 500


class WhatsAppError(Exception):
    """A send that did not go out; `transient` and `recipient` decide what the caller does next."""

    def __init__(
        self,
        title: str,
        *,
        code: int | None = None,
        status: int | None = None,
        transient: bool | None = None,
        recipient: bool | None = None,
    ) -> None:
        """Classified from Meta's code and the HTTP status unless told (an error found before any
        request, which has neither)."""
        super().__init__(title)
        self.title = title
        self.code = code
        self.status = status
        self.transient = is_transient(code, status) if transient is None else transient
        self.recipient = code in _RECIPIENT if recipient is None else recipient

    def __repr__(self) -> str:
        return f"WhatsAppError({self.title!r}, code={self.code}, status={self.status})"


def _error_of(status: int, raw: bytes) -> WhatsAppError:
    """The Graph API error object, `{"error": {"message", "type", "code", "error_data", ...}}`;
    anything else (a proxy's HTML 502) becomes an error with only its HTTP status."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return WhatsAppError(f"HTTP {status}", status=status)
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():  # some relays quote it
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    message = error.get("message")
    title = _CODE_PREFIX.sub("", message).strip()[:200] if isinstance(message, str) else ""
    return WhatsAppError(title or f"HTTP {status}", code=code, status=status)


class Client:
    """Sends templates through one aiohttp session: the caller's, or one made on first use."""

    def __init__(
        self, base_url: str, *, session: aiohttp.ClientSession | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        # Per request, so that it holds with a session given by the caller too.
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the session this client made; a session given to it belongs to the caller."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # no await between the test and the assignment: no race
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def send_template(
        self,
        *,
        phone_number_id: str,
        token: str,
        to: str,
        template: str,
        language: str,
        parameters: list[str],
    ) -> str:
        """POST /{version}/{phone_number_id}/messages with an approved template; returns its wamid."""
        number = _E164.fullmatch(to)
        if number is None:
            # Not worth asking Meta about a number that is not E.164; nothing of it goes to a log.
            raise WhatsAppError("not an E.164 phone number", transient=False, recipient=True)
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": number.group(1),
            "type": "template",
            "template": {"name": template, "language": {"code": language}},
        }
        if parameters:  # a template without variables takes no components at all
            body["template"]["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ]
        url = f"{self.base_url}/{GRAPH_VERSION}/{phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self._http().post(
                url,
                data=msgspec.json.encode(body),
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                raw = await response.content.read(100_000)
        except TimeoutError:
            log.warning("whatsapp send: no answer in time")
            raise WhatsAppError("no answer in time") from None
        except (aiohttp.ClientError, OSError) as exc:
            # The exception's text names the host at most; only its class is logged, to be sure.
            log.warning("whatsapp send: could not connect (%s)", type(exc).__name__)
            raise WhatsAppError("could not connect") from None
        if status != 200:
            error = _error_of(status, raw)
            log.warning(
                "whatsapp send failed: code=%s status=%s transient=%s",
                error.code,
                status,
                error.transient,
            )
            raise error
        try:
            answer = msgspec.json.decode(raw, type=_Accepted)
        except msgspec.DecodeError:
            # Meta may have accepted it: a retry could send it twice, so the caller falls back.
            log.warning("whatsapp send: unreadable answer (status=200)")
            raise WhatsAppError("unreadable answer from the API", status=status) from None
        if not answer.messages or not answer.messages[0].id:
            log.warning("whatsapp send: answer without a message id (status=200)")
            raise WhatsAppError("answer without a message id", status=status)
        return answer.messages[0].id


# {"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
#  "messages": [{"id": "wamid...", "message_status": "accepted"}]}. message_status is optional (it
# is missing from older examples; "held_for_quality_assessment" is its other documented value).
class _Message(msgspec.Struct):
    id: str


class _Accepted(msgspec.Struct):
    messages: list[_Message]


# --- webhooks -----------------------------------------------------------------------------------


def signature_ok(body: bytes, header: str | None, app_secret: str) -> bool:
    """X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256 of the raw body, keyed by the app secret."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower().encode())


def verify_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's GET handshake: echo hub.challenge when hub.mode is "subscribe" and hub.verify_token is
    ours (answer 403 on None)."""
    challenge = params.get("hub.challenge")
    token = params.get("hub.verify_token")
    if params.get("hub.mode") != "subscribe" or not verify_token or not challenge or token is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


class Status(msgspec.Struct, frozen=True):
    """One status of a message we sent; `error_code`/`error_title` only on `failed`."""

    wamid: str
    status: str  # sent | delivered | read | failed (also "played" for voice, kept as it comes)
    at: dt.datetime  # UTC
    recipient: str  # the digits Meta reports, without '+'
    error_code: int | None = None
    error_title: str = ""


# The documented notification, read leniently: unknown fields are ignored (msgspec's default) and
# a change without `statuses` (an incoming message, an account update) has none to read.
class _Error(msgspec.Struct):
    code: int | None = None
    title: str = ""
    message: str = ""


class _Status(msgspec.Struct):
    id: str
    status: str
    timestamp: str | int  # unix seconds, a string in every example
    recipient_id: str = ""  # absent for some group and user-id (BSUID) recipients
    errors: list[_Error] = []


class _Text(msgspec.Struct):
    body: str = ""


class _Button(msgspec.Struct):
    text: str = ""
    payload: str = ""


class _Incoming(msgspec.Struct):
    id: str = ""
    timestamp: str | int = 0
    type: str = ""
    text: _Text = msgspec.field(default_factory=_Text)
    button: _Button = msgspec.field(default_factory=_Button)  # a template's quick-reply button
    from_: str = msgspec.field(default="", name="from")


class _Value(msgspec.Struct):
    statuses: list[_Status] = []
    messages: list[_Incoming] = []


class _Change(msgspec.Struct):
    value: _Value = msgspec.field(default_factory=_Value)


class _Entry(msgspec.Struct):
    changes: list[_Change] = []


class _Notification(msgspec.Struct):
    object: str
    entry: list[_Entry]


def _values_of(body: bytes) -> Iterator[_Value]:
    """The value of every change of every entry; ValueError if the body is not a WhatsApp Business
    Account notification."""
    try:
        notice = msgspec.json.decode(body, type=_Notification)
    except msgspec.DecodeError as exc:  # ValidationError too
        raise ValueError(f"not a WhatsApp notification: {exc}") from None
    if notice.object != "whatsapp_business_account":
        raise ValueError(f"not a WhatsApp notification: object is {notice.object!r}")
    return (change.value for entry in notice.entry for change in entry.changes)


def statuses_of(body: bytes) -> list[Status]:
    """Every status in every entry and change of a notification, in order; ValueError if the body is
    not a WhatsApp Business Account notification."""
    found = []
    for value in _values_of(body):
        for status in value.statuses:
            try:
                at = dt.datetime.fromtimestamp(int(status.timestamp), dt.UTC)
            except (ValueError, OverflowError, OSError):
                raise ValueError(f"bad status timestamp {status.timestamp!r}") from None
            error = status.errors[0] if status.errors else None
            found.append(
                Status(
                    wamid=status.id,
                    status=status.status,
                    at=at,
                    recipient=status.recipient_id,
                    error_code=error.code if error else None,
                    error_title=(error.title or error.message) if error else "",
                )
            )
    return found


class Reply(msgspec.Struct, frozen=True):
    """A shopper's own message to the brand's number: a text, or the text of a template's button."""

    wamid: str
    sender: str  # the digits of the shopper's number, as Meta reports them (no '+')
    text: str
    at: dt.datetime


def replies_of(body: bytes) -> list[Reply]:
    """Every incoming text or button reply of a notification (other kinds, such as images, are
    left out); ValueError as statuses_of."""
    found = []
    for value in _values_of(body):
        for incoming in value.messages:
            text = incoming.text.body if incoming.type == "text" else incoming.button.text
            if not text or not incoming.from_:
                continue
            try:
                at = dt.datetime.fromtimestamp(int(incoming.timestamp), dt.UTC)
            except (ValueError, OverflowError, OSError):
                raise ValueError(f"bad message timestamp {incoming.timestamp!r}") from None
            found.append(Reply(wamid=incoming.id, sender=incoming.from_, text=text[:500], at=at))
    return found
