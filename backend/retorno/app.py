"""The composition root: the only module that imports every surface and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import PathType
from piccolo.engine.base import Engine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from retorno import db, i18n, metrics, web
from retorno.admin import brand as admin_brand
from retorno.admin import routes as admin
from retorno.api import docs as api_docs
from retorno.api import hooks as store_hooks
from retorno.api import routes as api
from retorno.api.problems import Problem
from retorno.auth.common import TooManyRequests
from retorno.errors import CODES, N_, TITLES, DomainError, Invalid, Unauthorized
from retorno.mail import make_mailer
from retorno.middleware import CSRF, Gzip
from retorno.platform import devstore
from retorno.platform import routes as platform
from retorno.portal import account, club, notifications, pages, points, rewards, theme, widget
from retorno.portal import messages as message_links
from retorno.portal import nps as nps_survey
from retorno.portal import routes as portal
from retorno.sales.redemptions import NotRedeemable
from retorno.settings import Settings, load_settings
from retorno.signin.guards import SESSION_COOKIE, SignInRequired
from retorno.worker import Retention, Worker

log = logging.getLogger("retorno")
TEMPLATE_DIRS: list[PathType] = [
    Path(__file__).parent / "templates",
    Path(__file__).parent / "portal" / "templates",
    Path(__file__).parent / "platform" / "templates",
    Path(__file__).parent / "admin" / "templates",
    Path(__file__).parent / "api" / "templates",
]


@get("/", name="root", include_in_schema=False)
async def root(request: Request) -> Template:
    """One path, two hosts: a brand's home on its host, the landing page on the platform's."""
    if web.brand_of(request) is None:
        return await platform.landing_page(request)
    return await pages.home_page(request)


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None, **extra: Any) -> Response:
    """An API error as RFC 9457 problem details (api/problems.py declares their shape)."""
    problem = msgspec.convert(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
        | {"code": CODES.get(status, "server_error")},
        Problem,
    )
    return Response(
        msgspec.json.encode(problem),
        status_code=status,
        media_type="application/problem+json",
        headers=headers or {},
    )


def _error(
    request: Request,
    status: int,
    title: str,
    detail: str | DomainError,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Problem details under /api/; elsewhere a page in the brand's (or platform's) theme; both in
    the reader's language (`title` and a plain `detail` are message ids of the catalogue)."""
    lang = web.lang_of(request)
    title = i18n.gettext(lang, title)
    detail = (
        web.error_text(request, detail) if isinstance(detail, DomainError) else i18n.gettext(lang, detail)
    )
    if request.url.path.startswith(("/api/", "/widget/v1/")):  # programs read JSON, not pages
        return _problem(status, title, detail, headers, **extra)
    return Template(
        "portal/error.html" if web.brand_of(request) else "platform/error.html",
        status_code=status,
        headers=headers or {},
        context={
            "brand": web.brand_of(request),
            "lang": lang,
            "status_code": status,
            "title": title,
            "detail": detail,
            # A shopper who holds a session keeps the tab bar (its links check the session).
            "tabs": bool(web.brand_of(request)) and SESSION_COOKIE in request.cookies,
        },
    )


DETAILS = {
    405: N_("This address does not take this method."),
    413: N_("The request body is larger than this address accepts."),
}


def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return _error(
            request, 404, N_("Page not found"), N_("The address may be wrong, or the page was removed.")
        )
    if exc.status_code >= 500:
        log.error("server error on %s %s: %s", request.method, _route(request), exc.detail)
        return _error(request, exc.status_code, N_("Something went wrong"), N_("Please try again soon."))
    extra = {"errors": exc.extra} if isinstance(exc, ValidationException) and exc.extra else {}
    title = TITLES.get(exc.status_code, "Bad request")
    detail = DETAILS.get(exc.status_code, exc.detail)
    if isinstance(exc, ValidationException):  # Litestar's own "Validation failed for POST /x"
        detail = N_("Some of what was sent is missing or not valid.")
    return _error(request, exc.status_code, title, detail, getattr(exc, "headers", None), **extra)


def domain_error(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, SignInRequired):
        return Redirect(exc.location, status_code=303)
    if isinstance(exc, TooManyRequests):
        return _error(request, 429, exc.title, exc, {"retry-after": str(exc.retry_after)})
    extra: dict[str, Any] = {}
    if isinstance(exc, Invalid) and len(exc.problems) > 1:
        lang, api = web.lang_of(request), request.url.path.startswith("/api/")
        extra["problems"] = [i18n.problem_text(lang, problem, api=api) for problem in exc.problems]
    if isinstance(exc, NotRedeemable):
        extra |= {"reason": exc.reason, "max_amount": exc.max_amount}
    extra |= getattr(exc, "extra", {})  # e.g. a refused voucher's `reason`
    headers = {"www-authenticate": 'Bearer realm="retorno"'} if isinstance(exc, Unauthorized) else None
    return _error(request, exc.status_code, exc.title, exc, headers, **extra)


def unexpected_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RecursionError) and "deserializing" in str(exc):  # msgspec, on JSON nested too deep
        return _error(request, 400, "Bad request", N_("The JSON body is nested too deeply."))
    log.exception("unexpected error on %s %s", request.method, _route(request), exc_info=exc)
    return _error(request, 500, N_("Something went wrong"), N_("Please try again soon."))


def _setup_templates(engine: Any, *, reload: bool) -> None:
    web.setup_jinja(engine.engine)
    # A template edited in development shows at the next request; elsewhere templates are read
    # once per process (Jinja otherwise stats every file of a page on every render).
    engine.engine.auto_reload = reload
    # The brand's font files, preloaded by base.html so the text is drawn once, in its font.
    engine.engine.globals["brand_fonts"] = lambda brand: theme.font_urls(brand.font) if brand else []


def _route(request: Request) -> str:
    """The route's template for a log line: a path may carry an e-mail (`/customers/email:...`)."""
    return request.scope.get("path_template") or "(no route)"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _close_mailer(app: Litestar) -> None:
    """The pooled SMTP connections say QUIT at shutdown."""
    await app.state.mailer.close()


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
    mailer: Any = None,
    worker: bool = False,
) -> Litestar:
    """The app; tests pass their own engine (already connected) and clock. With `worker`, a push
    worker (sweeps, outbox, notifications) runs inside the process, as `retorno serve` does."""
    settings = settings or load_settings()
    settings.configure_vault()
    engine = engine or db.make_engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with db.connected(engine):
            if not worker:
                yield
                await _close_mailer(app)
                return

            stop = asyncio.Event()
            # The app's own mailer: in development what the worker sends shows at /dev/mailbox too.
            shared = app.state.mailer
            async with Worker(
                clock=clock, retention=Retention.of(settings), settings=settings, mailer=shared
            ) as running:
                task = asyncio.create_task(running.run(stop))
                try:
                    yield
                finally:
                    stop.set()
                    await task

    static = create_static_files_router(
        path="/static",
        directories=[web.FRONTEND_DIR],
        name="static",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=31536000, public=True),
    )
    # Machine endpoints carry no form: no CSRF cookie for probes, metrics and static files.
    machine = ["/healthz", "/readyz", web.METRICS_PATH, web.TLS_ASK_PATH, "/static/"]
    csrf = CSRFConfig(
        secret=settings.secret_key,
        cookie_name=settings.cookie_prefix + "csrftoken",
        cookie_secure=settings.production,
        # The integration API authenticates with a bearer key, not a cookie; /push/renew comes
        # from the service worker, authorised by the old subscription's endpoint.
        # The widget's endpoints are called from stores' pages, with a publishable key, no cookie.
        # Unsubscribing: a mail client's one-click POST (RFC 8058) carries no cookie; the
        # message's unguessable token is what authorises it.
        exclude=["/api/", "/push/renew", "/widget/v1/", "/unsubscribe/", *machine],
    )
    app = web.RetornoApp(
        route_handlers=[
            root,
            portal.router,
            account.router,
            pages.router,
            rewards.router,
            club.router,
            points.router,
            nps_survey.router,
            notifications.router,
            message_links.router,
            widget.router,
            platform.router,
            devstore.router,
            admin.router,
            admin_brand.router,
            api.router,
            store_hooks.router,
            api.api_docs,
            static,
        ],
        middleware=[
            # Pages, CSS, JS and JSON go out gzipped (a phone on 3G feels every kilobyte); images
            # are already compressed. Level 6: nearly level 9's size for a fraction of its time.
            DefineMiddleware(Gzip, level=6, minimum_size=500, exclude=("/assets/",)),
            DefineMiddleware(CSRF, config=csrf),
        ],
        lifespan=[lifespan],
        template_config=TemplateConfig(
            directory=TEMPLATE_DIRS,
            engine=JinjaTemplateEngine,
            engine_callback=functools.partial(_setup_templates, reload=settings.env == "development"),
        ),
        before_send=[api.allow_every_method],
        guards=[web.refuse_control_characters],
        exception_handlers={
            HTTPException: http_error,
            DomainError: domain_error,
            Exception: unexpected_error,
        },
        openapi_config=OpenAPIConfig(
            title="Retorno integration API",
            version="1.0",
            path="/api",
            # The document only (also at /api itself); the reference is /api/docs, drawn by us:
            # Litestar's default page loads Redoc from a CDN, which the CSP rightly blocks.
            render_plugins=[JsonRenderPlugin()],
            use_handler_docstrings=True,  # an operation's description is its handler's docstring
            description="Amounts are integer centavos. Authenticate with `Authorization: Bearer <API key>` "
            "(created with `retorno apikeys create <brand>`). Errors are RFC 9457 problem details.",
            security=[{"apiKey": []}],
            components=Components(security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer")}),
        ),
        state=State({"clock": clock, "mailer": mailer or make_mailer(settings)}),
        debug=False,
    )
    app.settings = settings
    app.protective_headers = web.security_headers(settings)
    app.debug_templates = settings.env == "development"
    api_docs.describe(app.openapi_schema)  # generated once, at start-up, with the words for integrators
    return app


def serve_from_env() -> Any:
    """The app of one of `retorno serve --workers N`'s processes, built from the environment it
    inherited (the worker flag and the log level `serve` decided)."""
    from retorno import logs

    settings = load_settings()
    settings.configure_vault()
    metrics.share_between(settings.metrics_dir)
    quiet = os.environ.get("RETORNO_SERVE_QUIET") == "1"
    logs.configure(json=settings.log_format == "json", level=logging.WARNING if quiet else logging.INFO)
    return asgi(settings, worker=os.environ.get("RETORNO_SERVE_WORKER", "0") == "1")


def asgi(settings: Settings | None = None, **kwargs: Any) -> Any:
    """What the server runs: the app, behind uvicorn's proxy-header middleware only for trusted proxies.

    A client's address (rate limits) and scheme come from X-Forwarded-For/-Proto only when the
    connection comes from an address in RETORNO_TRUSTED_PROXIES; from anyone else they are ignored.
    """
    settings = settings or load_settings()
    app = create_app(settings, **kwargs)
    if not settings.trusted_proxies:
        return app

    # uvicorn's and Litestar's ASGI type definitions describe the same protocol with unrelated types.
    return ProxyHeadersMiddleware(app, trusted_hosts=list(settings.trusted_proxies))  # type: ignore[arg-type]
