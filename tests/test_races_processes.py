"""Races through two app processes on one database (PostgreSQL in CI's second pass, SQLite in the
first): what one process counts or checks, the other sees, however the requests interleave."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import httpx

from retorno import db
from retorno.auth import service as auth
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.settings import DEV_SECRET

ANA = "ana@example.com"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # the servers read the real clock


class Browser:
    """One browser on one app process: its own cookies and CSRF token, on a brand's host."""

    def __init__(self, server, slug: str = "bella") -> None:
        self.host = f"{slug}.localhost:{server.port}"
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30)

    async def __aenter__(self) -> Browser:
        page = await self.client.get("/login", headers={"host": self.host})
        assert page.status_code == 200, page.text
        self.token = page.cookies["csrftoken"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def post(self, path: str, data: dict, client_address: str) -> httpx.Response:
        return await self.client.post(
            path,
            data={**data, "_csrf_token": self.token},
            headers={"host": self.host, "x-forwarded-for": client_address},
        )


async def test_fifty_concurrent_guesses_through_two_processes_compare_a_code_five_times_at_most(
    app_processes, demo
):
    """Each guess from its own client address (so no per-address limit stands in the way): the
    code's tries are counted atomically before comparing, so at most 5 of the 50 are compared,
    and the right code is refused after them."""
    await db.write(lambda: customers.upsert(demo["bella"].id, Identity(email=ANA), now=_now()))
    code = await auth.new_code(
        brand_id=demo["bella"].id, email=ANA, purpose="login", secret=DEV_SECRET, now=_now()
    )
    wrong = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 51)]
    async with Browser(app_processes[0]) as one, Browser(app_processes[1]) as two:
        browsers = itertools.cycle([one, two])
        answers = await asyncio.gather(
            *(
                next(browsers).post(
                    "/login/verify", {"email": ANA, "code": guess}, client_address=f"198.51.100.{i}"
                )
                for i, guess in enumerate(wrong)
            )
        )
        assert {a.status_code for a in answers} <= {422, 429}, [a.status_code for a in answers]
        rows = await db.fetch("SELECT attempts FROM login_codes WHERE email = {}", ANA)
        assert rows[0]["attempts"] <= auth.CODE_TRIES
        late = await one.post("/login/verify", {"email": ANA, "code": code}, client_address="203.0.113.7")
        assert late.status_code in (422, 429)
        assert "retorno_session" not in late.headers.get("set-cookie", "")


async def test_a_revoked_key_stops_on_every_other_process_within_five_seconds(app_processes, demo):
    import time

    from retorno.apikeys import service as apikeys

    created = await apikeys.create(brand_id=demo["bella"].id, name="loja", now=_now())
    headers = {"authorization": f"Bearer {created.key}"}
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{s.port}/api/v1", headers=headers | {"host": f"localhost:{s.port}"}
        )
        for s in app_processes
    ]
    try:
        for client in clients:  # each process now holds the key in its cache
            assert (await client.get("/customers/email:nobody@example.com/balance")).status_code == 404
        await apikeys.revoke(brand_id=demo["bella"].id, key_id=created.id, now=_now())  # elsewhere
        started = time.monotonic()
        refused = set()
        while len(refused) < len(clients) and time.monotonic() - started < 8:
            for i, client in enumerate(clients):
                if (await client.get("/customers/email:nobody@example.com/balance")).status_code == 401:
                    refused.add(i)
            await asyncio.sleep(0.2)
        assert len(refused) == len(clients)
        assert time.monotonic() - started <= 6.5
    finally:
        for client in clients:
            await client.aclose()
