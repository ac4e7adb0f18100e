"""`retorno serve` runs a worker inside the app process: an event written by a request is taken
from the outbox without any other process running."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

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


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_serve_with_two_processes_answers_from_both_and_runs_no_worker(tmp_path) -> None:
    """`retorno serve --workers 2 --no-worker`: uvicorn's supervisor and two app processes on one
    database; every request answered; no worker beats (so /readyz waits for `retorno worker`)."""
    from tests.conftest import LiveServer, free_port, server_env

    port = free_port()
    env = server_env(f"sqlite:///{tmp_path / 'two.sqlite3'}", port, tmp_path, "test")
    server = LiveServer(port, env, tmp_path / "two.log", args=("--workers", "2", "--no-worker"))
    server.cli("demo")
    server.start()
    try:
        assert server.process is not None
        deadline = time.monotonic() + 20
        while len(_children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        apps = _children(server.process.pid)
        assert len(apps) >= 2, apps  # the two app processes (uvicorn may add a resource tracker)
        with httpx.Client(timeout=10) as client:
            bella = {"host": f"bella.localhost:{port}"}
            answers = [client.get(f"http://127.0.0.1:{port}/", headers=bella).status_code for _ in range(40)]
            assert answers == [200] * 40
            ready = client.get(server.url(None, "/readyz"))
            # Both processes' answers add up in /metrics, whichever of them is scraped.
            scraped = client.get(f"http://127.0.0.1:{port}/metrics", headers={"host": f"127.0.0.1:{port}"})
        assert 'retorno_http_requests_total{method="GET",route="/",status="200"} 40.0' in scraped.text
        assert ready.status_code == 503 and ready.json()["checks"]["worker"] == "no worker has run"
        worker = subprocess.run(
            [sys.executable, "-m", "retorno", "worker", "--until-idle"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert worker.returncode == 0, worker.stderr
    finally:
        server.stop()


def test_serve_runs_the_worker_by_default_except_in_production() -> None:
    import argparse

    from retorno.cli import parser, runs_worker
    from tests.conftest import make_settings

    dev = make_settings("sqlite:///x.sqlite3")
    args = parser().parse_args(["serve"])
    assert runs_worker(dev, args) is True
    assert runs_worker(dev, parser().parse_args(["serve", "--no-worker"])) is False
    production = argparse.Namespace(worker=None)
    assert runs_worker(msgspec_replace(dev, env="production"), production) is False
    assert runs_worker(msgspec_replace(dev, env="production"), argparse.Namespace(worker=True)) is True


def msgspec_replace(settings, **changes):
    import msgspec

    return msgspec.structs.replace(settings, **changes)
