"""Behind a proxy, a client's address comes from X-Forwarded-For only when the proxy is trusted."""

import httpx
import pytest

from retorno.app import asgi
from retorno.auth import ratelimits
from tests.conftest import make_settings


async def _ask_codes(app, forwarded_for: str, times: int) -> list[int]:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bella.localhost:8000") as client:
        statuses = []
        for i in range(times):
            response = await client.get("/login")
            token = response.cookies.get("csrftoken") or client.cookies.get("csrftoken")
            answer = await client.post(
                "/login",
                data={"email": f"x{i}@example.com", "_csrf_token": token},
                headers={"x-forwarded-for": forwarded_for},
            )
            statuses.append(answer.status_code)
        return statuses


@pytest.fixture
def few_requests(monkeypatch):
    monkeypatch.setitem(
        ratelimits.LIMITS, "code-request:addr", (3, ratelimits.LIMITS["code-request:addr"][1])
    )


async def test_a_trusted_proxy_gives_each_client_its_own_limit(
    engine, database_url, demo, clock, few_requests
):
    app = asgi(make_settings(database_url, RETORNO_TRUSTED_PROXIES="10.0.0.5"), engine=engine, clock=clock)
    assert await _ask_codes(app, "203.0.113.1", 4) == [200, 200, 200, 429]
    assert await _ask_codes(app, "203.0.113.2", 1) == [200]  # another shopper behind the same proxy


async def test_an_untrusted_peer_cannot_pick_its_address(engine, database_url, demo, clock, few_requests):
    app = asgi(make_settings(database_url), engine=engine, clock=clock)
    assert await _ask_codes(app, "203.0.113.1", 3) == [200, 200, 200]
    assert await _ask_codes(app, "203.0.113.99", 1) == [429]  # a made-up X-Forwarded-For changes nothing
