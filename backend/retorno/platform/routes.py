"""The platform host's own pages: a landing page (listing brands in development) and health."""

from __future__ import annotations

from litestar import Request, Router, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from retorno.brands import service as brands
from retorno.web import lang_of, requires_platform_host, settings_of


async def landing_page(request: Request) -> Template:
    """The platform's "/"; app.py routes it here when the request is for no brand."""
    settings = settings_of(request)
    listed = None
    if not settings.production:
        listed = [
            {"name": b.name, "url": f"{settings.scheme}://{b.slug}.{settings.base_host}/"}
            for b in await brands.list_brands()
        ]
    return Template(
        "platform/landing.html", context={"brand": None, "lang": lang_of(request), "brands": listed}
    )


@get("/healthz", name="platform:health", sync_to_thread=False)
def health() -> dict[str, str]:
    """A trivial endpoint: liveness for load balancers and the benchmarks' baseline."""
    return {"status": "ok"}


@get("/dev/mailbox", name="platform:mailbox")
async def mailbox(request: Request) -> Template:
    """The messages kept in memory, so a developer can read a sign-in code: development only."""
    if settings_of(request).env != "development" or not hasattr(request.app.state.mailer, "messages"):
        raise NotFoundException()
    return Template(
        "platform/mailbox.html",
        context={
            "brand": None,
            "lang": lang_of(request),
            "messages": list(request.app.state.mailer.messages),
        },
    )


router = Router(
    path="/", guards=[requires_platform_host], route_handlers=[health, mailbox], include_in_schema=False
)
