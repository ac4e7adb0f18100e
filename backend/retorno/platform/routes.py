"""The platform host's own pages: a landing page (listing brands in development) and health."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from retorno import db
from retorno.brands import service as brands
from retorno.outbox import service as outbox
from retorno.web import lang_of, now_of, requires_platform_host, settings_of


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


READY_WORKER_SECONDS = 120  # a worker that has not finished a pass for longer: not ready


@get("/readyz", name="platform:ready")
async def ready(request: Request) -> Response[dict[str, Any]]:
    """Readiness for a load balancer: the database answers, every migration this code has is
    applied, and a worker finished a pass in the last two minutes. 503 says which is not."""
    checks: dict[str, str] = {}
    try:
        pending = await db.pending_migrations()
    except Exception:
        return Response({"status": "not ready", "checks": {"database": "unreachable"}}, status_code=503)
    checks["database"] = "ok"
    checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"
    beat = await outbox.last_heartbeat()
    age = (now_of(request) - beat).total_seconds() if beat is not None else None
    checks["worker"] = (
        "no worker has run"
        if age is None
        else "ok"
        if age <= READY_WORKER_SECONDS
        else f"silent for {int(age)} s"
    )
    ready_now = all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ready" if ready_now else "not ready", "checks": checks},
        status_code=200 if ready_now else 503,
        headers={"cache-control": "no-store"},
    )


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
    path="/",
    guards=[requires_platform_host],
    route_handlers=[health, ready, mailbox],
    include_in_schema=False,
)
