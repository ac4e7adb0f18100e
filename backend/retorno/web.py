"""What every HTTP surface shares: brand by host, security headers, templates, static assets."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import time
from collections.abc import Mapping
from typing import Annotated, Any, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec
from jinja2 import Environment, pass_context
from litestar import Litestar, Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter
from litestar.response import Template
from litestar.types import Message, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup, escape

from retorno import bounds, i18n, logs, metrics
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.errors import N_, BadRequest, DomainError, Field, Invalid
from retorno.middleware import SecurityHeaders
from retorno.settings import DATA_ROOT, Settings


async def _authorize_connection(self: BaseRouteHandler, connection: ASGIConnection) -> None:
    """Every guard in the handler's layers, in order, each given the handler itself.

    Litestar's own gives each guard a copy of the handler (copy.copy of its ~130 attributes, about
    15 µs a guard; the API's four cost 60 µs a request, bench/README.md), so that no guard can
    change it. Ours only read it; tests/test_request_path.py holds them to that."""
    for guard in self.resolve_guards():
        await guard(connection, self)  # type: ignore[misc]


BaseRouteHandler.authorize_connection = _authorize_connection  # type: ignore[method-assign]

FRONTEND_DIR = DATA_ROOT / "frontend"
SERVICE_WORKER = DATA_ROOT / "service_worker" / "sw.js"
LANG_COOKIE = "lang"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)

_UNKNOWN_HOST_PAGE = (
    b'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
    b'<meta name="viewport" content="width=device-width, initial-scale=1">'
    b"<title>404</title></head><body><h1>P\xc3\xa1gina n\xc3\xa3o encontrada</h1>"
    b"<p>Page not found.</p></body></html>"
)


def security_headers(settings: Settings) -> SecurityHeaders:
    """The same protective headers on every response, errors and unknown hosts included."""
    fixed = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(self), microphone=(), geolocation=(), payment=()"),
    ]
    if settings.production:
        fixed.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return SecurityHeaders(fixed)


class RetornoApp(Litestar):
    """Litestar, with the brand resolved from the Host before any routing happens.

    An unknown host is answered here with a plain 404 that names no brand, whatever the path,
    so no route ever runs without knowing whose data it may touch.
    """

    settings: Settings
    protective_headers: SecurityHeaders
    debug_templates: bool = False  # development: templates read from disk on every render

    # Litestar's own __call__ is typed with the lifespan scope and events too; this is the same entry.
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != ScopeType.HTTP:  # a str enum: the "http" of the ASGI scope
            await self._serve(scope, receive, send)
            return
        started = time.perf_counter()
        rid = logs.new_request_id(_header(scope, b"x-request-id"))
        security = self.protective_headers
        token = logs.request_id.set(rid)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                security.add(message)  # message["headers"] is a list from here on
                message["headers"].append((b"x-request-id", rid.encode()))  # type: ignore[attr-defined]
            await send(message)

        answer: Send = send_with_id
        if scope["method"] == "HEAD":  # a GET without its body (RFC 9110 9.3.2), on every GET route
            scope = {**scope, "method": "GET"}
            answer = _without_body(send_with_id)
        try:
            await self._serve(scope, receive, answer)
        finally:
            brand = scope.get("state", {}).get("brand")
            route = scope.get("path_template") or "(no route)"
            elapsed = time.perf_counter() - started
            logs.request_line(
                method=scope["method"],
                route=route,
                status=status,
                seconds=elapsed,
                brand=brand.slug if brand else "",
            )
            metrics.request(scope["method"], route, status, elapsed)
            logs.request_id.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = _host(scope)
            brand: BrandView | None = None
            if scope.get("path") == TLS_ASK_PATH and _from_proxy(scope, self.settings):
                host = self.settings.base_host  # Caddy asks by address, not by the platform's name
            elif scope.get("path") == METRICS_PATH:
                host = self.settings.base_host  # Prometheus too; the route checks who asks
            if host != self.settings.base_host:
                brand = await brands.brand_for_host(host, base_host=self.settings.base_host) if host else None
                if brand is None:
                    await _send_unknown_host(send)
                    return
            scope.setdefault("state", {})["brand"] = brand
        await super().__call__(scope, receive, send)


def _without_body(send: Send) -> Send:
    """`send` with the response's headers as they are (Content-Length included) and no body."""

    async def head(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
        elif not message.get("more_body", False):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return head


_HOST_CHARACTERS = re.compile(r"^[a-z0-9.:\[\]-]*$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _host(scope: Scope) -> str | None:
    """The Host header, lower-cased; None if it holds anything but a host name's characters."""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            return host if len(host) <= 255 and _HOST_CHARACTERS.match(host) else None
    return ""


TLS_ASK_PATH = "/tls/ask"
METRICS_PATH = "/metrics"


def _from_proxy(scope: Scope, settings: Settings) -> bool:
    """A request from this machine or from a proxy the operator trusts (the TLS terminator)."""
    client = scope.get("client")
    address = client[0] if client else ""
    return address in ("127.0.0.1", "::1") or address in settings.trusted_proxies


async def _send_unknown_host(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(_UNKNOWN_HOST_PAGE)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _UNKNOWN_HOST_PAGE, "more_body": False})


T = TypeVar("T")


def json_response(body: Any, status: int = 200) -> Response[bytes]:
    """JSON as given (str or bytes, e.g. a stored answer replayed byte for byte) or encoded."""
    raw = (
        body.encode()
        if isinstance(body, str)
        else body
        if isinstance(body, bytes)
        else msgspec.json.encode(body)
    )
    return Response(raw, status_code=status, media_type="application/json")


async def decode_body(request: Request, kind: type[T]) -> T:
    """A JSON body decoded strictly. Litestar converts bodies leniently, so "150.00" would become
    150 centavos; money must arrive as JSON integers, and anything else is refused with a 400.
    A string holding a control character is refused (422) naming its field."""
    return decode_json(await request.body(), kind)


# msgspec's messages, read into message ids of the catalogue (the rest of its messages keep their
# English inside a translated frame).
_SCHEMA = (
    (
        re.compile(r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`"),
        N_("%(field)s: expected %(expected)s, got %(got)s"),
    ),
    (
        re.compile(r"Object missing required field `(?P<name>[^`]+)`"),
        N_("%(field)s: the field %(name)s is required"),
    ),
    (
        re.compile(r"Object contains unknown field `(?P<name>[^`]+)`"),
        N_("%(field)s: there is no field %(name)s"),
    ),
    (re.compile(r"Number out of range"), N_("%(field)s: the number is out of range")),
    (re.compile(r"Input data was truncated"), N_("the body is not JSON: it ends too soon")),
    (re.compile(r"JSON is malformed: (?P<why>.+)"), N_("the body is not JSON (%(why)s)")),
)
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def schema_error(exc: msgspec.DecodeError) -> BadRequest:
    """A body that does not decode, as a message of the catalogue naming the field (its JSON path)."""
    text = str(exc)
    at = _AT.search(text)
    path = at["path"].lstrip(".") if at else ""
    problem = text[: at.start()] if at else text
    for pattern, message in _SCHEMA:
        if found := pattern.fullmatch(problem):
            return BadRequest(message, field=Field(path) if path else Field("body"), **found.groupdict())
    return BadRequest("the body does not match the schema: %(error)s", error=text)


def decode_json(raw: bytes, kind: type[T]) -> T:
    """A JSON body as `kind`, strictly: money only as JSON integers ("150.00" is refused). A number
    JSON writes with a zero fraction (150.0) is that integer, as JSON Schema's `integer` says."""
    try:
        decoded = msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise schema_error(exc) from None
        try:  # the error path only: decode again, integral floats as integers
            decoded = msgspec.convert(_integral(msgspec.json.decode(raw)), kind, strict=True)
        except msgspec.ValidationError as again:
            raise schema_error(again) from None
    except msgspec.DecodeError as exc:
        raise schema_error(exc) from None
    if bounds.control_character_in_json(raw):
        where = bounds.control_character_at(msgspec.json.decode(raw))
        if where is not None:
            message = "%(field)s: control characters (such as NUL or a line break) are not allowed"
            raise Invalid(message, field=Field(where))
    return decoded


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


async def refuse_control_characters(connection: ASGIConnection, _: Any) -> None:
    """An app-wide guard, before any other: no control character in the path, the query or a
    form field (tabs and line breaks aside, in forms), which PostgreSQL would refuse with a 500."""
    if bounds.CONTROL.search(connection.scope["path"]):
        raise BadRequest("The address holds characters that are not allowed.")
    if any(
        bounds.CONTROL.search(k) or bounds.CONTROL.search(v) for k, v in connection.query_params.multi_items()
    ):
        raise BadRequest("The address holds characters that are not allowed.")
    if isinstance(connection, Request) and connection.method == "POST":
        content_type = connection.content_type[0]
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await connection.form()
            for key, value in form.multi_items():
                if bounds.CONTROL_IN_TEXT.search(key) or (
                    isinstance(value, str) and bounds.CONTROL_IN_TEXT.search(value)
                ):
                    raise BadRequest(
                        "The form holds characters that cannot be saved (control characters). "
                        "Remove them and try again."
                    )


# A row id in a path: ids are 32-bit serials, so anything else is refused (400) before a query
# (on PostgreSQL a larger number reached the driver and failed as a 500).
RowId: TypeAlias = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]


def safe_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this host, else `default`: the only kind of place followed after
    signing in or switching language. Checked on the text and on every percent-decoding of it, since
    browsers read `/\\evil`, `/%5Cevil`, `/%2F/evil` and `/\t/evil` as another host."""
    if not target or len(target) > 2000:
        return default
    seen, text = [target], target
    for _ in range(4):  # a few rounds of decoding: %252F is %2F is /
        text = unquote(text)
        if text == seen[-1]:
            break
        seen.append(text)
    for text in seen:
        if not text.startswith("/") or text.startswith("//") or "\\" in text or "//" in text:
            return default
        if any(not ch.isprintable() or ch.isspace() for ch in text):
            return default  # control characters, tabs, newlines, and spaces browsers may strip
        if urlsplit(text).scheme or urlsplit(text).netloc:
            return default
    return target


def brand_of(connection: ASGIConnection) -> BrandView | None:
    """The brand whose host this request came to; None on the platform's own host."""
    return connection.scope["state"].get("brand")


def brand_required(connection: ASGIConnection) -> BrandView:
    """`brand_of`, on a route that exists on brand hosts only (a `requires_brand` guard): there is
    always a brand there, and without one the answer is the 404 an unknown host gets."""
    brand = brand_of(connection)
    if brand is None:
        raise NotFoundException()
    return brand


def settings_of(connection: ASGIConnection) -> Settings:
    """The settings the app was built with (`retorno.app.create_app` sets them on its RetornoApp)."""
    app = connection.app
    if not isinstance(app, RetornoApp):
        raise RuntimeError("the app is not a RetornoApp: build it with retorno.app.create_app")
    return app.settings


async def requires_platform_host(connection: ASGIConnection, _: object) -> None:
    """A guard: the route exists on the platform's own host only, not on a brand's."""
    if brand_of(connection) is not None:
        raise NotFoundException()


def now_of(request: Request) -> dt.datetime:
    """The app's clock (tests and benchmarks give it their own): no handler reads the time itself."""
    return request.app.state.clock()


def lang_of(request: Request) -> str:
    """The reader's language: their choice (the footer's switch), else on a first visit what their
    browser asks for, else the brand's. The API speaks English unless asked for Portuguese."""
    state = request.scope["state"]
    lang: str | None = state.get("retorno_lang")  # once a request: a page asks ~20 times
    if lang is None:
        accept = request.headers.get("accept-language")
        if request.scope["path"].startswith("/api/"):
            lang = i18n.from_accept_language(accept) or "en"
        else:
            brand = brand_of(request)
            lang = i18n.choose(request.cookies.get(LANG_COOKIE), brand.locale if brand else "pt-BR", accept)
        state["retorno_lang"] = lang
    return lang


def error_text(request: Request, error: DomainError) -> str:
    """A domain error in the reader's language; the API names fields as its JSON does."""
    return i18n.error_text(lang_of(request), error, api=request.url.path.startswith("/api/"))


def problem_texts(request: Request, error: Invalid, labels: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of an invalid input, for a form, in the reader's language: the error itself
    when it is the only one, else each of its problems (a brand pack's checks list theirs);
    `labels` names pack keys as the form's own fields ("theme.primary": "Main colour")."""
    if error.problems == [error.detail]:
        return [error_text(request, error)]
    lang = lang_of(request)
    return [i18n.problem_text(lang, problem, labels=labels) for problem in error.problems]


def origin_of(brand: BrandView, settings: Settings) -> str:
    return f"{settings.scheme}://{brand.slug}.{settings.base_host}"


@functools.cache
def _static_version(relative: str) -> str:
    return hashlib.sha256((FRONTEND_DIR / relative).read_bytes()).hexdigest()[:10]


@functools.cache
def service_worker_source() -> bytes:
    return SERVICE_WORKER.read_bytes()


def static_url(relative: str) -> str:
    """A static asset's URL carries its content hash, so caches may keep it for a year."""
    return f"/static/{relative}?v={_static_version(relative)}"


def static_urls(*relatives: str) -> list[str]:
    return [static_url(r) for r in relatives]


@functools.cache  # once per process, like static_url: files change with a deploy, not under it
def assets_version() -> str:
    """Changes whenever a static file or the service worker changes; part of cache names."""
    digest = hashlib.sha256()
    for path in [*sorted(FRONTEND_DIR.rglob("*")), SERVICE_WORKER]:
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


_TICKS = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> Markup:
    """Text whose `backticks` mark code (the API's descriptions), escaped, the spans as <code>."""
    return Markup(_TICKS.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))  # noqa: S704


def setup_jinja(env: Environment) -> None:
    env.add_extension("jinja2.ext.i18n")

    @pass_context
    def gettext(ctx: Any, message: str, **variables: Any) -> str:
        text = i18n.gettext(lang_of(ctx["request"]), message)
        return text % variables if variables else text

    @pass_context
    def ngettext(ctx: Any, singular: str, plural: str, n: int, **variables: Any) -> str:
        text = i18n.ngettext(lang_of(ctx["request"]), singular, plural, n)
        return text % {"num": n, **variables}

    def brand_in(ctx: Any) -> BrandView | None:
        """The brand whose host serves the page, or the one an admin page is about."""
        return brand_of(ctx["request"]) or ctx.get("b")

    @pass_context
    def money(ctx: Any, centavos: int) -> str:
        brand = brand_in(ctx)
        return i18n.money(centavos, lang=lang_of(ctx["request"]), currency=brand.currency if brand else "BRL")

    @pass_context
    def date(ctx: Any, value: Any, fmt: str = "short") -> str:
        brand = brand_in(ctx)
        zone = brand.timezone if brand else i18n.ZONE
        return i18n.date(value, lang=lang_of(ctx["request"]), tz=zone, fmt=fmt)

    @pass_context
    def moment(ctx: Any, value: Any) -> str:
        brand = brand_in(ctx)
        return i18n.moment(value, lang=lang_of(ctx["request"]), tz=brand.timezone if brand else i18n.ZONE)

    @pass_context
    def percent(ctx: Any, value: int | float, per: int = 10000) -> str:
        return i18n.percent(value, lang=lang_of(ctx["request"]), per=per)

    @pass_context
    def signed(ctx: Any, value: float) -> str:
        return i18n.signed(value, lang=lang_of(ctx["request"]))

    @pass_context
    def hundredths(ctx: Any, value: int) -> str:
        return i18n.hundredths(value, lang=lang_of(ctx["request"]))

    @pass_context
    def points(ctx: Any, value: int) -> str:
        return i18n.points(value, lang=lang_of(ctx["request"]))

    env.filters["date"] = date
    env.filters["points"] = points
    env.filters["moment"] = moment
    env.filters["percent"] = percent
    env.filters["hundredths"] = hundredths
    env.filters["signed"] = signed
    env.globals.update(
        gettext=gettext, ngettext=ngettext, _=gettext, static_url=static_url, languages=i18n.LANGUAGE_NAMES
    )
    env.filters["money"] = money
    env.filters["code_spans"] = code_spans
    env.policies["ext.i18n.trimmed"] = True


# --- pages the same for every visitor ------------------------------------------------------------

_TOKEN_SLOT = "csrf-slot-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:24]
_SHARED_PAGES: dict[Any, str] = {}
_SHARED_PAGES_MAX = 512


class SharedPage(Template):
    """A page that is the same for every visitor with this `key` (a signed-out brand home, by its
    brand and language) but for the visitor's CSRF token: rendered once per process and key, with
    a slot where the token goes, then filled per request. Rendered anew where templates are
    (development), and whenever the key changes: the key must hold everything the page shows."""

    def __init__(self, template_name: str, *, key: Any, context: dict[str, Any], headers: dict[str, str]):
        super().__init__(template_name=template_name, context=context, headers=headers)
        self.key = (template_name, key)

    def to_asgi_response(self, app: Any, request: Request, **kwargs: Any) -> Any:
        state = ScopeState.from_scope(request.scope)
        token = value_or_default(state.csrf_token, "")
        body = None if getattr(request.app, "debug_templates", False) else _SHARED_PAGES.get(self.key)
        if body is None:
            state.csrf_token = _TOKEN_SLOT
            try:
                engine = request.app.template_engine
                assert engine is not None and self.template_name is not None
                template = engine.get_template(self.template_name)
                body = template.render(**self.create_template_context(request))
            finally:
                state.csrf_token = token
            if len(_SHARED_PAGES) >= _SHARED_PAGES_MAX:
                _SHARED_PAGES.clear()
            _SHARED_PAGES[self.key] = body
        page = Response(
            body.replace(_TOKEN_SLOT, token),
            media_type="text/html; charset=utf-8",
            headers=self.headers,
        )
        return page.to_asgi_response(app=None, request=request, **kwargs)
