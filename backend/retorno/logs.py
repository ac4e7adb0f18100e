"""Logging, configured once at start-up: one line per request (method, route, status, time, brand,
request id), as text or as JSON (RETORNO_LOG_FORMAT=json), and never a secret or an address.

The request line names the route's template (`/r/{code}`), never the path or its query, so a
referral code, a reference like `email:ana@...` or a `next=` never reaches it. Whatever else is
logged passes a filter that masks e-mail addresses, API keys and bearer tokens (a database error
quoting a row, say). Sign-in codes and session tokens are never handed to a logger at all.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import logging
import re
import secrets
import sys
from typing import Any

import msgspec

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
access = logging.getLogger("retorno.request")

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(\.[\w-]+)+")
_API_KEY = re.compile(r"rk_[0-9a-f]{6,}_[\w-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def redact(text: str) -> str:
    text = _API_KEY.sub("rk_***", text)
    text = _BEARER.sub(r"\1***", text)
    return _EMAIL.sub("***@***", text)


class Redact(logging.Filter):
    """Masks what must not be kept in a log, in the message, its arguments and a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.request_id = request_id.get()
        return True


FIELDS = ("method", "route", "status", "ms", "brand")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := getattr(record, "request_id", ""):
            line["request_id"] = request_id
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_text:
            line["error"] = record.exc_text
        return msgspec.json.encode(line).decode()


def configure(*, json: bool, level: int = logging.INFO) -> None:
    """The root handler, once, for every `retorno` command (serve, worker, sweep...)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Redact())
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("retorno").setLevel(level)


def new_request_id(incoming: str | None) -> str:
    """A proxy's own X-Request-Id when it looks like one, else a fresh one."""
    if incoming and _INCOMING_ID.match(incoming):
        return incoming
    return f"{_ID_PREFIX}{next(_ids) & 0xFFFFFFFF:08x}"


# A request id names a request in the logs, it guards nothing: unique, not unpredictable. Eight
# random hex digits per process and a counter (an id from urandom cost ~5 µs a request).
_ID_PREFIX = secrets.token_hex(4)
_ids = itertools.count(1)


def request_line(*, method: str, route: str, status: int, seconds: float, brand: str) -> None:
    if access.isEnabledFor(logging.INFO):
        ms = round(seconds * 1000, 1)
        access.info(
            "%s %s %s %.1f ms %s",
            method,
            route,
            status,
            ms,
            brand or "-",
            extra={"method": method, "route": route, "status": status, "ms": ms, "brand": brand or None},
        )
