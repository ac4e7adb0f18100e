"""The composition root: the only module that imports every surface and wires them together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from piccolo.engine.base import Engine

from retorno import db, i18n, web
from retorno.errors import DomainError
from retorno.platform import routes as platform
from retorno.portal import routes as portal
from retorno.settings import Settings, load_settings

TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent / "portal" / "templates",
    Path(__file__).parent / "platform" / "templates",
]


@get("/", name="root", include_in_schema=False)
async def root(request: Request) -> Template:
    """One path, two hosts: a brand's home on its host, the landing page on the platform's."""
    if web.brand_of(request) is None:
        return await platform.landing_page(request)
    return await portal.home_page(request)


def _error(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Template:
    """An error as a page in the brand's theme (or the platform's), in the visitor's language."""
    lang = web.lang_of(request)
    return Template(
        "portal/error.html" if web.brand_of(request) else "platform/error.html",
        status_code=status,
        headers=headers or {},
        context={
            "brand": web.brand_of(request),
            "lang": lang,
            "status_code": status,
            "title": i18n.gettext(lang, title),
            "detail": i18n.gettext(lang, detail),
        },
    )


def http_error(request: Request, exc: HTTPException) -> Template:
    if exc.status_code == 404:
        return _error(request, 404, "Page not found", "The address may be wrong, or the page was removed.")
    if exc.status_code >= 500:
        return _error(request, exc.status_code, "Something went wrong", "Please try again soon.")
    return _error(request, exc.status_code, "Something went wrong", exc.detail, getattr(exc, "headers", None))


def domain_error(request: Request, exc: DomainError) -> Template:
    return _error(request, exc.status_code, exc.title, exc.detail)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Litestar:
    settings = settings or load_settings()
    engine = engine or db.make_engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with db.connected(engine):
            yield

    static = create_static_files_router(
        path="/static",
        directories=[web.FRONTEND_DIR],
        name="static",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=31536000, public=True),
    )
    app = web.RetornoApp(
        route_handlers=[root, portal.router, platform.router, static],
        lifespan=[lifespan],
        template_config=TemplateConfig(
            directory=TEMPLATE_DIRS,
            engine=JinjaTemplateEngine,
            engine_callback=lambda e: web.setup_jinja(e.engine),
        ),
        before_send=[web.security_headers(settings)],
        exception_handlers={HTTPException: http_error, DomainError: domain_error},
        openapi_config=OpenAPIConfig(title="Retorno API", version="1", path="/api/schema"),
        debug=False,
    )
    app.settings = settings
    return app
