"""A fake Web Push service on 127.0.0.1 for the tests and the benchmark.

It checks what a real one checks, the VAPID JWT (ES256 signature with the key in the header,
which must be the brand's public key; audience = this service's origin; expiry within 24 h). It
records every request and answers from a script per subscription: a status (201, 404, 410, 413,
429 with Retry-After, 500...), or HANG (no answer at all). Each message is also decrypted with the
subscription's private key (http_ece, aes128gcm), as the browser would, when a test first reads its
payload or problems: a push service cannot read the payload, so it answers before that.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HANG = "hang"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's side of a subscription: its keys, as PushManager.subscribe would make them."""

    token: str
    endpoint: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def keys(self) -> dict[str, str]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64(public), "auth": b64(self.auth)}


@dataclass
class Received:
    token: str
    headers: dict[str, str]
    vapid_key: str
    claims: dict[str, Any]
    at: float
    body: bytes = b""
    device: Device | None = None
    found: list[str] = field(default_factory=list)  # the service's own checks, on arrival
    _opened: tuple[dict[str, Any] | None, list[str]] | None = None

    def _open(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The browser's side: decrypt the body with the device's key (once)."""
        if self._opened is None:
            assert self.device is not None
            problems, payload = list(self.found), None
            try:
                text = http_ece.decrypt(
                    self.body, private_key=self.device.key, auth_secret=self.device.auth, version="aes128gcm"
                )
                payload = json.loads(text)
            except Exception as exc:
                problems.append(f"cannot decrypt: {exc!r}")
            self._opened = (payload, problems)
        return self._opened

    @property
    def payload(self) -> dict[str, Any] | None:
        return self._open()[0]

    @property
    def problems(self) -> list[str]:
        return self._open()[1]


class FakePushService:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.devices: dict[str, Device] = {}
        self.scripts: dict[str, list[Any]] = {}
        self.received: list[Received] = []
        self._signatures: dict[tuple[str, str], bool] = {}
        self.hold_after: int | None = None  # answer nothing after this many requests until released
        self._release: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def device(self, script: list[Any] | None = None) -> Device:
        token = secrets.token_hex(8)
        device = Device(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
        )
        self.devices[token] = device
        self.scripts[token] = list(script or [])
        return device

    def to(self, token: str) -> list[Received]:
        return [r for r in self.received if r.token == token]

    async def start(self) -> FakePushService:
        app = web.Application()
        app.router.add_post("/push/{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._release = asyncio.Event()
        self._closing = asyncio.Event()
        return self

    async def stop(self) -> None:
        if self._release is not None:
            self._release.set()
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def release(self) -> None:
        assert self._release is not None
        self._release.set()

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.read()
        device = self.devices.get(token)
        if device is None:
            return web.Response(status=404)
        received = Received(token, dict(request.headers), "", {}, time.time(), body, device)
        self._check(request, received)
        self.received.append(received)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.hold_after is not None and len(self.received) > self.hold_after:
            await self._release.wait()  # type: ignore[union-attr]
        script = self.scripts.get(token) or []
        answer = script.pop(0) if script else 201
        if answer == HANG:  # no answer until the service stops
            await self._closing.wait()  # type: ignore[union-attr]
        if isinstance(answer, tuple):  # (429, retry_after)
            return web.Response(status=answer[0], headers={"Retry-After": str(answer[1])})
        return web.Response(status=answer)

    def _check(self, request: web.Request, received: Received) -> None:
        problems = received.found
        if request.headers.get("Content-Encoding") != "aes128gcm":
            problems.append("Content-Encoding is not aes128gcm")
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        fields = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if scheme.lower() != "vapid" or "t" not in fields or "k" not in fields:
            problems.append("no VAPID authorization")
            return
        received.vapid_key = fields["k"]
        claims = fields["t"].split(".")[1] if fields["t"].count(".") == 2 else ""
        received.claims = json.loads(unb64(claims)) if claims else {}
        if not claims or not self._signed_by(fields["t"], fields["k"]):
            problems.append("bad VAPID signature")
        if received.claims.get("aud") != self.origin:
            problems.append(f"audience {received.claims.get('aud')!r} is not {self.origin}")
        exp = received.claims.get("exp", 0)
        if not time.time() < exp <= time.time() + 24 * 3600:
            problems.append(f"bad expiry {exp}")

    def _signed_by(self, jwt: str, key: str) -> bool:
        """Whether `jwt` is signed by `key`: checked once per (token, key), as a sender reuses
        its VAPID token for hours (the claims are checked on every message)."""
        known = self._signatures.get((jwt, key))
        if known is None:
            header, claims, signature = jwt.split(".")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
            raw = unb64(signature)
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            try:
                public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
                known = True
            except Exception:
                known = False
            self._signatures[(jwt, key)] = known
        return known


class ThreadedFakePushService:
    """The fake service on a loop of its own, for tests that run a worker in another process."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = FakePushService(**kwargs)
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)

    def call(self, fn: Any, *args: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


async def seed_audience(brand_id: int, devices: list[Device], now: Any) -> None:
    """A customer per device, with the marketing consent and that device's subscription: the
    audience of a campaign (for the kill test and bench/push.py). Written in bulk, in one go."""
    from retorno import db

    async def work() -> None:
        for start in range(0, len(devices), 250):
            chunk = devices[start : start + 250]
            rows = ", ".join("({}, {}, {}, {}, {})" for _ in chunk)
            args = []
            for i, _ in enumerate(chunk, start):
                args += [brand_id, f"c{i}@example.com", f"Cliente {i}", now, now]
            await db.fetch(
                f"INSERT INTO customers (brand, email, name, created_at, updated_at) VALUES {rows}",
                *args,
            )
        customers = await db.fetch("SELECT id FROM customers WHERE brand = {} ORDER BY id", brand_id)
        for customer, device in zip(customers, devices, strict=True):
            await db.fetch(
                "INSERT INTO consents (brand, customer, kind, granted, at) VALUES ({}, {}, 'push', {}, {})",
                brand_id,
                customer["id"],
                True,
                now,
            )
            await db.fetch(
                "INSERT INTO push_subscriptions (brand, customer, endpoint, origin, p256dh, auth, device, "
                "created_at) VALUES ({}, {}, {}, {}, {}, {}, '', {})",
                brand_id,
                customer["id"],
                device.endpoint,
                device.endpoint.split("/push/")[0],
                device.keys["p256dh"],
                device.keys["auth"],
                now,
            )

    await db.write(work)


async def push_campaign(brand_id: int, *, title: str, body: str, url: str = "/", now: dt.datetime) -> int:
    """A campaign by push to every shopper of the brand, no holdout, sent at the worker's next pass.
    The brand's quiet hours and weekly cap are switched off: workers that run on the real clock
    (other processes, the benchmark) may run at night in São Paulo."""
    from retorno.messages import campaigns
    from retorno.messages import settings as message_settings

    await message_settings.save_settings(
        brand_id=brand_id,
        quiet_start="00:00",
        quiet_end="00:00",
        weekly_cap=0,
        whatsapp_number_id="",
        now=now,
    )

    return await campaigns.create(
        brand_id=brand_id,
        draft=campaigns.Draft(
            name=title,
            channels=["push"],
            written={"push": {"title": title, "body": body or title}},
            url=url,
            audience=campaigns.Audience(),
            holdout_bp=0,
            send_at=None,
        ),
        now=now,
    )
