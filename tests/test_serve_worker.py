"""`retorno serve` runs a worker inside the app process: an event written by a request is taken
from the outbox without any other process running."""

from __future__ import annotations

import asyncio
import time

import httpx

from retorno import db
from retorno.settings import load_settings


async def _pending(env: dict[str, str]) -> list[dict]:
    async with db.connected(db.make_engine(load_settings(env))):
        return await db.fetch("SELECT kind, done_at FROM outbox_events ORDER BY id")


def test_the_server_runs_the_worker(live_server) -> None:
    key = live_server.cli("apikeys", "create", "bella").strip().splitlines()[-1]
    response = httpx.post(
        live_server.url(None, "/api/v1/sales"),
        headers={"authorization": f"Bearer {key}"},
        json={"order_id": "W-1", "customer": {"email": "worker@example.com"}, "total": 5000},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 15
    events = asyncio.run(_pending(live_server.env))
    while any(e["done_at"] is None for e in events) and time.monotonic() < deadline:
        time.sleep(0.2)
        events = asyncio.run(_pending(live_server.env))
    assert [e["kind"] for e in events] == [
        "customer.created",
        "sale.recorded",
        "cashback.credited",
        "points.credited",  # the demo turns points on for Bella
        "voucher.issued",
    ]
    assert all(e["done_at"] is not None for e in events), events


def test_make_run_gives_development_staff_to_try_the_admin(live_server) -> None:
    """`retorno demo` (what `make run` runs) in development: a platform admin and staff of each
    demo brand, who sign in with a code from /dev/mailbox. Running it again changes nothing."""
    import httpx

    out = live_server.cli("demo")
    assert "demo staff: caixa@bella.example (operator of bella)" in out
    with httpx.Client(base_url=live_server.url(None, "/"), timeout=10) as admin:
        admin.get("/admin/login")
        token = next(c.value for c in admin.cookies.jar if c.name.endswith("csrftoken"))
        asked = admin.post("/admin/login", data={"email": "caixa@bella.example", "_csrf_token": token})
        assert asked.status_code == 200
        mailbox = admin.get("/dev/mailbox").text
    assert "caixa@bella.example" in mailbox  # a code was sent: the address is staff
