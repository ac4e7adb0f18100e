"""A local webhook receiver on 127.0.0.1 for the tests and the benchmark.

It checks every request as an integrator's server would, with the spec's reference library
(`standardwebhooks.Webhook(secret).verify`), not with our code: the secret of each endpoint path
is given to it. It records each request (headers, the body bytes, whether it verified), counts
requests of one webhook-id in flight at the same moment (a concurrent duplicate), and answers
from a script per path: a status, (status, headers) such as a redirect or a Retry-After, or HANG.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    payload: Any = None  # what verify() gave back: the parsed JSON
    problems: list[str] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return self.headers.get("webhook-id", "")


class FakeReceiver:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.scripts: dict[str, list[Any]] = {}
        self.secrets: dict[str, list[str]] = {}  # path -> the secrets any of which must verify
        self.received: list[Received] = []
        self.in_flight: collections.Counter[str] = collections.Counter()
        self.concurrent: list[str] = []  # webhook-ids received while the same id was in flight
        self.verified = 0
        self.record = True  # the benchmark only counts
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def path(self, script: list[Any] | None = None) -> str:
        path = f"/hooks/{secrets.token_hex(6)}"
        self.scripts[path] = list(script or [])
        return path

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or '127.0.0.1'}:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def start(self) -> FakeReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._closing = asyncio.Event()
        return self

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        message = headers.get("webhook-id", "")
        self.in_flight[message] += 1
        if self.in_flight[message] > 1:
            self.concurrent.append(message)
        try:
            received = Received(request.path, headers, body, time.time())
            self._verify(received)
            if self.record:
                self.received.append(received)
            if self.latency:
                await asyncio.sleep(self.latency)
            script = self.scripts.get(request.path) or []
            answer = script.pop(0) if script else 200
            if answer == HANG:
                await self._closing.wait()  # type: ignore[union-attr]
            if isinstance(answer, tuple):
                return web.Response(status=answer[0], headers=answer[1], text="see elsewhere")
            return web.Response(status=answer, text="ok" if answer < 300 else "x" * 10_000)
        finally:
            self.in_flight[message] -= 1

    def _verify(self, received: Received) -> None:
        keys = self.secrets.get(received.path) or self.secrets.get("*") or []
        if not keys:
            received.problems.append("no secret known for this path")
        for secret in keys:
            try:
                received.payload = Webhook(secret).verify(received.body, received.headers)
                self.verified += 1
                return
            except WebhookVerificationError as exc:
                problem = f"does not verify: {exc}"
        if keys:
            received.problems.append(problem)
        if received.headers.get("content-type") != "application/json":
            received.problems.append("Content-Type is not application/json")


class ThreadedFakeReceiver:
    """The receiver on a loop of its own, for workers in other processes (and the benchmark)."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = FakeReceiver(**kwargs)
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
