"""Prometheus metrics, in the client's multi-process mode when several processes serve.

`retorno serve --workers N` and every `retorno worker` call `share_between(directory)` at start:
each process then writes its samples into files of that directory (the client's
`PROMETHEUS_MULTIPROC_DIR`), and `/metrics`, in whichever process answers it, adds them all up.
A process that never calls it (the tests' in-process app) keeps its metrics in memory.

Every metric has labels, so no sample is created before `share_between` decides where it goes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, values
from prometheus_client import generate_latest as _exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds; the request buckets span a cached page (1 ms) to a slow report (10 s).
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WORK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)

REQUESTS = Counter(
    "retorno_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "retorno_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status",
    ["method", "route", "status"],
    buckets=_REQUEST_BUCKETS,
)
DELIVERIES = Counter(
    "retorno_deliveries",
    "Deliveries decided, by channel (push, webhook, email, whatsapp) and outcome",
    ["channel", "outcome"],
)
WORK = Histogram(
    "retorno_work_duration_seconds",
    "Time of the worker's background work, by kind (sweep, import_chunk: a chunk of an import's rows)",
    ["kind"],
    buckets=_WORK_BUCKETS,
)

_shared: Path | None = None


def share_between(directory: str | Path) -> None:
    """From now on this process's samples go to files in `directory`, shared with the other
    processes of the deployment. Called once per process, before it serves."""
    global _shared
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # what the client's own code looks up
    values.ValueClass = values.MultiProcessValue()
    _shared = path
    _children.clear()  # made before: in memory


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request(method: str, route: str, status: int, seconds: float) -> None:
    """Once per request (web.py): the pair of samples for its labels, found once per process."""
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        labels = (method, route, str(status))
        pair = _children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    pair[0].inc()
    pair[1].observe(seconds)


def delivered(channel: str, outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        DELIVERIES.labels(channel, outcome).inc()


def worked(kind: str, seconds: float) -> None:
    WORK.labels(kind).observe(seconds)


class _Backlog:
    """The outbox as read at scrape time: gauges of now, not samples kept by any process."""

    def __init__(self, depth: int, oldest_seconds: float) -> None:
        self.depth, self.oldest_seconds = depth, oldest_seconds

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("retorno_outbox_depth", "Outbox events not yet fanned out", value=self.depth)
        yield GaugeMetricFamily(
            "retorno_outbox_oldest_age_seconds",
            "Age of the oldest outbox event not yet fanned out (0 when there is none)",
            value=self.oldest_seconds,
        )


def exposition(*, outbox_depth: int, outbox_oldest_seconds: float) -> bytes:
    """The text every process's samples add up to, with the outbox's gauges of now."""
    registry = CollectorRegistry()
    if _shared is not None:
        MultiProcessCollector(registry, path=str(_shared))
    else:
        for metric in (REQUESTS, LATENCY, DELIVERIES, WORK):
            registry.register(metric)
    registry.register(_Backlog(outbox_depth, outbox_oldest_seconds))
    return _exposition(registry)
