"""Where a request's time goes, in-process (docs/performance.md): no socket, no uvicorn.

Seeds a SQLite copy as the HTTP benchmarks do (`retorno demo`, one shopper with N sales, swept),
then times requests through the ASGI app (best of 3 runs) beside a bare Litestar app, and sale
ingestion (one client, then 8 posting at once: SQLite's group commit shows in the second), and with
`--profile` splits each page's time by a cProfile into template, queries, session, gzip and the rest.

    .venv/bin/python bench/budget.py [--entries 10000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import logging
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
EMAIL = "heavy@example.com"
PAGES = [
    ("/healthz", "localhost:8000", None),
    ("/", "bella.localhost:8000", None),
    ("/", "bella.localhost:8000", "session"),
    ("/statement", "bella.localhost:8000", "session"),
    (f"/api/v1/customers/email:{EMAIL}/balance", "localhost:8000", "key"),
    (f"/api/v1/customers/email:{EMAIL}/statement", "localhost:8000", "key"),
]
CATEGORIES = {
    "template": ("jinja2/environment.py", "(render)"),
    "queries": ("retorno/db.py", "(run_querystring)"),
    "session": ("retorno/signin/guards.py", "(session_of)"),
}


def _scope(path: str, host: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), (b"accept-encoding", b"gzip"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def timed(app: Any, path: str, host: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    """µs a request, the best of 3 runs of `n` (after 50 to warm up); fails unless 200."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(50):
        await app(_scope(path, host, headers), receive, send)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            await app(_scope(path, host, headers), receive, send)
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    if statuses[-1] != 200:
        raise RuntimeError(f"{host}{path} answered {statuses[-1]}")
    return best


async def ingestion(app: Any, key: str, n: int, clients: int = 1) -> float:
    """µs a sale posted to the API (unique orders, 1,000 shoppers), `clients` posting at once;
    after 100 to warm up. Fails unless every answer is 201."""
    counter = 0
    statuses: list[int] = []

    async def one() -> None:
        nonlocal counter
        counter += 1
        amount = 1000 + counter % 9000
        body = msgspec.json.encode(
            {
                "order_id": f"budget-{clients}-{counter}",
                "customer": {"email": f"c{counter % 1000}@example.com"},
                "total": amount,
                "items": [{"sku": "s", "category": "maquiagem", "amount": amount}],
            }
        )
        headers = [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {**_scope("/api/v1/sales", "localhost:8000", headers), "method": "POST"}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    async def client(count: int) -> None:
        for _ in range(count):
            await one()

    await client(100)
    started = time.perf_counter()
    await asyncio.gather(*(client(n // clients) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if set(statuses) != {201}:
        raise RuntimeError(f"sales answered {sorted(set(statuses))}")
    return elapsed / (n // clients * clients) * 1e6


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Each category's share of the request (cumulative time over RetornoApp.__call__'s)."""
    found: dict[str, float] = {"gzip": 0.0}
    total = 0.0
    for (file, _line, name), (_cc, _nc, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if file.endswith("retorno/web.py") and name == "__call__":
            total = max(total, cumulative)
        if "zlib.Compress" in name:
            found["gzip"] += own
        for category, (where, what) in CATEGORIES.items():
            if file.endswith(where) and f"({name})" == what:
                found[category] = max(found.get(category, 0.0), cumulative)
    return {k: v / total for k, v in found.items()} if total else {}


async def main(entries: int, profile: bool) -> None:
    from litestar import Litestar, get

    from retorno import db, logs

    @get("/healthz", sync_to_thread=False)
    def hello() -> dict[str, str]:
        return {"status": "ok"}

    bare = Litestar([hello], logging_config=None)
    logs.configure(json=False, level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="retorno-profile-"))
    path = tmp / "profile.sqlite3"
    env = {**os.environ, "RETORNO_DATABASE_URL": f"sqlite:///{path}", "RETORNO_BASE_HOST": "localhost:8000"}
    env["RETORNO_ENV"] = "test"
    os.environ.update(env)
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "retorno", "demo", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    if await demo.wait() != 0:
        raise RuntimeError("retorno demo failed")

    from retorno.apikeys import service as apikeys
    from retorno.app import create_app
    from retorno.auth import sessions
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.customers.service import Identity
    from retorno.sales import orders
    from retorno.settings import load_settings
    from retorno.signin.guards import session_cookie
    from retorno.worker import sweep

    settings = load_settings()
    engine = db.make_engine(settings)
    app = create_app(settings, engine=engine)
    async with db.connected(engine):
        brand = await brands.get_brand("bella")
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for i in range(entries):
            at = start + dt.timedelta(minutes=i)
            sale = orders.SaleIn(
                order_id=f"p-{i}", customer=Identity(email=EMAIL), total=1000 + i % 5000, occurred_at=at
            )
            await orders.record(brand=brand, sale=sale, now=at)
        await sweep(dt.datetime.now(dt.UTC))
        shopper = await customers.lookup(brand.id, Identity(email=EMAIL))
        assert shopper is not None
        token = await sessions.start_session(
            brand_id=brand.id, customer_id=shopper.id, now=dt.datetime.now(dt.UTC)
        )
        key = (await apikeys.create(brand_id=brand.id, name="profile", now=dt.datetime.now(dt.UTC))).key
        auth = {
            None: [],
            "session": [(b"cookie", f"{session_cookie(settings)}={token}".encode())],
            "key": [(b"authorization", f"Bearer {key}".encode()), (b"accept", b"application/json")],
        }
        floor = await timed(bare, "/healthz", "localhost:8000", [], 2000)
        print(f"bare Litestar JSON hello: {floor:.1f} µs a request\n")
        print("| path | who | µs a request | to bare Litestar | template | queries | session | gzip |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for page, host, who in PAGES:
            n = 2000 if page == "/healthz" else 300
            us = await timed(app, page, host, auth[who], n)
            split = {}
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await timed(app, page, host, auth[who], max(50, n // 10))
                profiler.disable()
                split = shares(pstats.Stats(profiler))
            cells = " | ".join(f"{split[c] * 100:.0f}%" if c in split else "" for c in (*CATEGORIES, "gzip"))
            print(f"| {page} | {who or 'signed out'} | {us:,.0f} | {floor / us:.2f} | {cells} |")
        for clients in (1, 8):
            us = await ingestion(app, key, 800, clients)
            who = f"key, {clients} client{'s' if clients > 1 else ''} at once"
            print(f"| POST /api/v1/sales | {who} | {us:,.0f} | {floor / us:.3f} | | | | |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--profile", action="store_true", help="split each page's time by a cProfile")
    args = p.parse_args()
    asyncio.run(main(args.entries, args.profile))
