"""Prometheus metrics at /metrics: what two app processes and a worker did adds up in one scrape
(prometheus-client's multi-process mode), and only the addresses the operator allows may read it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from retorno import db
from retorno.outbound import Options
from retorno.outbox import service as outbox
from retorno.settings import SettingsError, load_settings
from retorno.webhooks import service as webhooks
from tests.conftest import LiveServer, make_settings, start_app_processes
from tests.fake_receiver import ThreadedFakeReceiver


def _scrape(server: LiveServer, **headers: str) -> httpx.Response:
    # Prometheus asks by address: the Host is the address, not the platform's name.
    return httpx.get(
        f"http://127.0.0.1:{server.port}/metrics",
        headers={"host": f"127.0.0.1:{server.port}", **headers},
        timeout=10,
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _get(server: LiveServer, path: str, times: int) -> None:
    for _ in range(times):  # a connection each, as separate shoppers' phones would
        httpx.get(f"http://127.0.0.1:{server.port}{path}", headers={"host": f"bella.localhost:{server.port}"})


@pytest.fixture
def receiver():
    fake = ThreadedFakeReceiver()
    try:
        yield fake.receiver
    finally:
        fake.close()


async def test_two_app_processes_and_a_worker_add_up_in_one_scrape(
    database_url, demo, tmp_path: Path, receiver
) -> None:
    now = dt.datetime.now(dt.UTC)
    path = receiver.path()
    endpoint = await webhooks.create_endpoint(
        brand_id=demo["bella"].id,
        url=receiver.url(path),
        events=["cashback.credited"],
        now=now,
        options=Options(allow_private=True, require_https=False),
    )
    receiver.secrets[path] = [endpoint.secret]
    customer = await db.fetch(
        "INSERT INTO customers (brand, external_id, name, created_at, updated_at) "
        "VALUES ({}, 'metrics-1', '', {}, {}) RETURNING id",
        demo["bella"].id,
        now,
        now,
    )
    for lot in range(3):
        await outbox.emit(
            brand_id=demo["bella"].id,
            kind="cashback.credited",
            now=now - dt.timedelta(minutes=10),
            payload={
                "customer_id": customer[0]["id"],
                "lot_id": lot,
                "amount": 500,
                "source": "sale",
                "available_at": None,
                "expires_at": None,
            },
        )

    first, second = servers = start_app_processes(database_url, tmp_path)
    try:
        _get(first, "/", 7)
        _get(second, "/", 5)
        _get(second, "/no-such-page", 2)
        pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(pids) >= 2, pids  # each process writes its own samples

        scraped = _scrape(first)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=")
        samples = _samples(scraped.text)
        home = {"method": "GET", "route": "/", "status": "200"}
        assert _value(samples, "retorno_http_requests_total", **home) == 12
        assert _value(samples, "retorno_http_request_duration_seconds_count", **home) == 12
        assert _value(samples, "retorno_http_request_duration_seconds_bucket", **home, le="+Inf") == 12
        unknown = {"method": "GET", "route": "(no route)", "status": "404"}
        assert _value(samples, "retorno_http_requests_total", **unknown) == 2
        assert _value(samples, "retorno_outbox_depth") == 3
        assert 9 * 60 <= _value(samples, "retorno_outbox_oldest_age_seconds") <= 60 * 60

        worker = subprocess.run(
            [sys.executable, "-m", "retorno", "worker", "--until-idle"],
            env={**first.env, "RETORNO_WEBHOOKS_ALLOW_PRIVATE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
        assert len(receiver.to(path)) == 3

        samples = _samples(_scrape(second).text)
        assert _value(samples, "retorno_deliveries_total", channel="webhook", outcome="delivered") == 3
        assert _value(samples, "retorno_outbox_depth") == 0
        assert _value(samples, "retorno_outbox_oldest_age_seconds") == 0
        assert _value(samples, "retorno_work_duration_seconds_count", kind="sweep") >= 1
        assert _value(samples, "retorno_http_requests_total", **home) == 12  # the scrapes are their own route
        assert (
            _value(samples, "retorno_http_requests_total", method="GET", route="/metrics", status="200") == 1
        )

        # Through the proxy, for someone out there: not theirs to read, on any host.
        outside = _scrape(first, **{"x-forwarded-for": "203.0.113.9"})
        assert outside.status_code == 404 and "retorno_" not in outside.text
        on_a_brand = httpx.get(
            f"http://127.0.0.1:{first.port}/metrics",
            headers={"host": f"bella.localhost:{first.port}", "x-forwarded-for": "203.0.113.9"},
        )
        assert on_a_brand.status_code == 404 and "retorno_" not in on_a_brand.text
    finally:
        for server in servers:
            server.stop()


async def test_only_the_addresses_the_operator_allows_may_scrape(app, demo) -> None:
    """From this machine (the default) it answers, from memory when one process serves; from
    anywhere else it is a page that does not exist."""
    here = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 5000)))
    there = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)))
    async with here, there:
        before = _samples((await here.get("http://localhost:8000/metrics")).text)
        await here.get("http://bella.localhost:8000/regulations")
        after = _samples((await here.get("http://localhost:8000/metrics")).text)
        refused = await there.get("http://localhost:8000/metrics")
    labels = {"method": "GET", "route": "/regulations", "status": "200"}
    assert _value(after, "retorno_http_requests_total", **labels) == (
        _value(before, "retorno_http_requests_total", **labels) + 1
    )
    assert refused.status_code == 404 and "retorno_http" not in refused.text


def test_the_allowed_addresses_and_the_pooling_are_checked_at_start_up() -> None:
    base = {"RETORNO_DATABASE_URL": "postgresql://postgres@127.0.0.1/x"}
    allowed = load_settings({**base, "RETORNO_METRICS_ALLOW": "10.0.0.0/8, 192.0.2.7"})
    assert allowed.metrics_allow == ("10.0.0.0/8", "192.0.2.7/32")
    assert make_settings("sqlite:///x.sqlite3").metrics_allow == ("127.0.0.1/32", "::1/128")
    with pytest.raises(SettingsError, match=r"RETORNO_METRICS_ALLOW: 'prometheus\.local'"):
        load_settings({**base, "RETORNO_METRICS_ALLOW": "prometheus.local"})
    assert (
        load_settings({**base, "RETORNO_DATABASE_POOLING": "transaction"}).database_pooling == "transaction"
    )
    with pytest.raises(SettingsError, match="RETORNO_DATABASE_POOLING"):
        load_settings({**base, "RETORNO_DATABASE_POOLING": "session"})
    sqlite = {"RETORNO_DATABASE_URL": "sqlite:///x.sqlite3", "RETORNO_DATABASE_POOLING": "transaction"}
    assert load_settings(sqlite).database_pooling == ""  # nothing to pool
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # the tests' own process keeps its metrics in memory
