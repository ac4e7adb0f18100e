"""The request path's own work, written for the hot path: security headers, CSRF's cookie, gzip.

Each does what Litestar's own does (the tests hold every header, cookie and body to it); they
differ in what they cost per request. Measured in bench/README.md ("the request path"):
Litestar's CSRF middleware formats its cookie through a dataclass and http.cookies on every
response to a visitor without one; its compression middleware opens a GzipFile for every
response, the 15-byte ones included; a before_send hook parses the headers into a mutable
mapping to add five. Here the cookie and the headers are bytes made once per process, and gzip
starts only for a body worth compressing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.datastructures.cookie import Cookie
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

# --- security headers ---------------------------------------------------------------------------

_VARY_ON_LANGUAGE = (b"text/html", b"application/problem+json")


class SecurityHeaders:
    """The same protective headers on every response, errors included, unless the response set
    its own; pages and problems vary by Accept-Language and Cookie (the language comes from both)."""

    def __init__(self, fixed: Iterable[tuple[str, str]]) -> None:
        self.fixed = [(name.encode(), value.encode()) for name, value in fixed]

    def add(self, message: Any) -> None:  # a response's start
        headers = message.get("headers")
        headers = list(headers) if headers is not None else []
        present = {name.lower() for name, _ in headers}
        headers.extend(pair for pair in self.fixed if pair[0] not in present)
        content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
        if content_type.startswith(_VARY_ON_LANGUAGE):
            vary = [value for name, value in headers if name.lower() == b"vary"]
            headers = [pair for pair in headers if pair[0].lower() != b"vary"]
            headers.append((b"vary", _vary(vary, (b"Accept-Language", b"Cookie"))))
        message["headers"] = headers


# --- CSRF ---------------------------------------------------------------------------------------


class CSRF(CSRFMiddleware):
    """Litestar's CSRF middleware (the same token, check and cookie), with the cookie's header
    made once: only the token changes from one visitor to the next."""

    _PLACEHOLDER = "0123456789abcdef"  # hex, as a token is: formatted as one would be

    def __init__(self, app: ASGIApp, config: CSRFConfig) -> None:
        super().__init__(app, config)
        sample = Cookie(
            key=config.cookie_name,
            value=self._PLACEHOLDER,
            path=config.cookie_path,
            secure=config.cookie_secure,
            httponly=config.cookie_httponly,
            samesite=config.cookie_samesite,
            domain=config.cookie_domain,
        ).to_header(header="")
        head, tail = sample.split(self._PLACEHOLDER, 1)
        self._cookie_head, self._cookie_tail = head.encode("latin-1"), tail.encode("latin-1")

    def _set_cookie_if_needed(self, message: Any, token: str) -> None:
        headers = list(message.get("headers") or [])
        headers.append((b"set-cookie", self._cookie_head + token.encode("latin-1") + self._cookie_tail))
        message["headers"] = headers


# --- gzip ---------------------------------------------------------------------------------------

# What gains from gzip: text. Images, fonts (woff2) and archives are compressed already.
_COMPRESSIBLE = (
    b"text/",
    b"application/json",
    b"application/problem+json",
    b"application/javascript",
    b"application/manifest+json",
    b"application/xml",
    b"image/svg+xml",
)


class Gzip:
    """gzip for a text response of at least `minimum_size` bytes to a client that accepts it;
    a streamed one (a static file) is compressed as it goes. Paths under `exclude` never are."""

    def __init__(
        self, app: ASGIApp, *, level: int = 6, minimum_size: int = 500, exclude: tuple[str, ...] = ()
    ) -> None:
        self.app, self.level, self.minimum_size, self.exclude = app, level, minimum_size, exclude

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _accepts_gzip(scope) or scope["path"].startswith(self.exclude):
            await self.app(scope, receive, send)
            return
        start: Any = None
        compressor: Any = None

        async def compressing(message: Any) -> None:
            nonlocal start, compressor
            kind = message["type"]
            if kind == "http.response.start":
                start = message  # held until the first body says whether it is worth it
                return
            if kind != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            if start is not None:
                first, start = start, None
                headers = list(first.get("headers") or [])
                if not _worth_it(headers) or (not more and len(body) < self.minimum_size):
                    await send(first)
                    await send(message)
                    return
                compressor = _compressor(self.level, None if more else len(body))
                body = compressor.compress(body) + (compressor.flush() if not more else b"")
                vary = [value for name, value in headers if name.lower() == b"vary"]
                headers = [
                    pair for pair in headers if pair[0].lower() not in (b"content-length", b"vary")
                ] + [(b"content-encoding", b"gzip"), (b"vary", _vary(vary, (b"Accept-Encoding",)))]
                if not more:
                    headers.append((b"content-length", str(len(body)).encode()))
                first["headers"] = headers
                await send(first)
                await send({"type": "http.response.body", "body": body, "more_body": more})
                return
            if compressor is not None:
                body = compressor.compress(body) + (b"" if more else compressor.flush())
                await send({"type": "http.response.body", "body": body, "more_body": more})
                return
            await send(message)

        await self.app(scope, receive, compressing)


def _compressor(level: int, size: int | None) -> Any:
    """A gzip compressor; for a body of known `size`, with a window and memory no larger than it
    needs: zlib's defaults (32 KB window, memLevel 8) cost ~80 µs of allocation for a 4 KB page,
    the compression itself ~20 µs, and a window as large as the body loses nothing."""
    if size is None or size > 16384:
        return zlib.compressobj(level, zlib.DEFLATED, 16 + 15)  # 16 +: the gzip format
    return zlib.compressobj(level, zlib.DEFLATED, 16 + max(9, size.bit_length()), 5)


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False


def _worth_it(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-encoding":
            return False  # encoded already
        if lowered == b"content-type":
            content_type = value
    return content_type.startswith(_COMPRESSIBLE)


def _vary(existing: list[bytes], add: tuple[bytes, ...]) -> bytes:
    """One Vary header: what the response varied by already, and `add`, each once."""
    names = [name.strip() for value in existing for name in value.split(b",") if name.strip()]
    seen = {name.lower() for name in names}
    names += [name for name in add if name.lower() not in seen]
    return b", ".join(names)
