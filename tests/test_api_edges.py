"""The integration API at its edges: guessed keys, bad text, huge numbers, odd dates, deep JSON,
big bodies, wrong content types. Each is a clear 4xx problem+json and nothing is written, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import httpx
import pytest

from retorno import db
from tests.conftest import BASE_HOST

PROBLEM = "application/problem+json"


async def _nothing_written() -> None:
    for table in ("sales", "ledger_entries", "redemptions", "customers", "voucher_uses"):
        assert await db.fetch(f"SELECT id FROM {table}") == [], table  # noqa: S608


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["title"] != "Something went wrong"
    return body


async def test_wrong_keys_are_limited_per_address_and_a_valid_key_still_works(app, api_keys):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_HOST}/api/v1") as c:
        statuses = []
        for i in range(25):
            wrong = {"authorization": f"Bearer rk_000000000000_guess{i}"}
            statuses.append((await c.get("/customers/email:a@example.com/balance", headers=wrong)).status_code)
        assert statuses[:20] == [401] * 20
        assert set(statuses[20:]) == {429}
        limited = await c.get("/customers/email:a@example.com/balance", headers={"authorization": "Bearer x"})
        body = assert_problem(limited, 429)
        assert 0 < int(limited.headers["retry-after"]) <= 3
        assert body["detail"]
        valid = {"authorization": f"Bearer {api_keys['bella']}"}
        assert (await c.get("/customers/email:a@example.com/balance", headers=valid)).status_code == 404
        assert (await c.post("/customers", json={"email": "a@example.com"}, headers=valid)).status_code == 201
