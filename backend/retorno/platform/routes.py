"""The platform host's own pages: a landing page (listing brands in development) and health."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from retorno import db, metrics
from retorno.auth import ratelimits
from retorno.brands import service as brands
from retorno.outbox import service as outbox
from retorno.web import METRICS_PATH, TLS_ASK_PATH, lang_of, now_of, requires_platform_host, settings_of


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


@get(TLS_ASK_PATH, name="platform:tls-ask")
async def tls_ask(request: Request) -> Response[str]:
    """Caddy's on-demand TLS asks here before it gets a certificate for a name (deploy/Caddyfile):
    200 for the platform host, a brand's `<slug>.<base host>` or a custom domain a brand saved,
    404 for anything else, so no one makes Caddy ask a CA for names of theirs. Answered only to
    this machine or a trusted proxy; rate limited per asking address."""
    settings = settings_of(request)
    address = request.client.host if request.client else ""
    if address not in ("127.0.0.1", "::1") and address not in settings.trusted_proxies:
        raise NotFoundException()
    await ratelimits.hit("tls-ask:addr", address, now=now_of(request))
    domain = request.query_params.get("domain", "").strip().lower().rstrip(".")
    if not domain or len(domain) > 253:
        raise NotFoundException()
    platform_name = settings.base_host.split(":")[0]
    known = domain == platform_name or (
        await brands.brand_for_host(domain, base_host=platform_name) is not None
    )
    if not known:
        raise NotFoundException()
    return Response("ok", media_type="text/plain", headers={"cache-control": "no-store"})


@get(METRICS_PATH, name="platform:metrics")
async def metrics_page(request: Request) -> Response[bytes]:
    """Prometheus's scrape: every process's samples added up, and the outbox's backlog as it is
    now. Answered only to the addresses in RETORNO_METRICS_ALLOW (404 to anyone else, whatever
    the host: web.py routes /metrics here on every host)."""
    settings = settings_of(request)
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        raise NotFoundException() from None
    if not any(address in ipaddress.ip_network(allowed) for allowed in settings.metrics_allow):
        raise NotFoundException()
    depth, oldest = await outbox.backlog(now_of(request))
    return Response(
        metrics.exposition(outbox_depth=depth, outbox_oldest_seconds=oldest),
        media_type=metrics.CONTENT_TYPE,
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
    route_handlers=[health, ready, tls_ask, metrics_page, mailbox],
    include_in_schema=False,
)
