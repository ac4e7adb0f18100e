"""One log line per request (method, route, status, time, brand, request id), JSON on request, and
no e-mail address, API key or token in any line, even an error's."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from retorno import logs
from tests.conftest import BASE_HOST, brand_url


@pytest.fixture
def configured():
    """logs.configure as `retorno serve` calls it, writing to a buffer; the root handler restored."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    retorno_level = logging.getLogger("retorno").level

    def setup(json_lines: bool) -> io.StringIO:
        logs.configure(json=json_lines)
        buffer = io.StringIO()
        root.handlers[0].setStream(buffer)
        return buffer

    yield setup
    root.handlers[:] = saved
    root.setLevel(level)
    logging.getLogger("retorno").setLevel(retorno_level)


async def test_every_answer_carries_a_request_id_and_a_proxys_own_is_kept(client):
    first = await client.get(brand_url("bella", "/"))
    second = await client.get(brand_url("bella", "/"))
    assert (
        len(first.headers["x-request-id"]) == 16
        and first.headers["x-request-id"] != second.headers["x-request-id"]
    )
    kept = await client.get(brand_url("bella", "/"), headers={"x-request-id": "lb-2f9c1e7a-0001"})
    assert kept.headers["x-request-id"] == "lb-2f9c1e7a-0001"
    odd = await client.get(brand_url("bella", "/"), headers={"x-request-id": "<script>"})
    assert odd.headers["x-request-id"] != "<script>"
    missing = await client.get(brand_url("bella", "/no-such-page"))
    assert missing.status_code == 404 and "x-request-id" in missing.headers


async def test_the_request_line_names_the_route_never_the_path(app, api_keys, configured):
    buffer = configured(json_lines=True)
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {api_keys['bella']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{BASE_HOST}/api/v1", headers=headers
    ) as c:
        answer = await c.get("/customers/email:ana@example.com/balance")
    assert answer.status_code == 404
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    [line] = [x for x in lines if x["logger"] == "retorno.request"]
    assert line["method"] == "GET" and line["status"] == 404
    assert line["route"] == "/api/v1/customers/{ref}/balance"
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["ms"] >= 0 and line.get("brand") is None  # the platform host
    text = buffer.getvalue()
    assert "ana@example.com" not in text and api_keys["bella"] not in text


async def test_a_brand_page_line_names_the_brand_in_text_format(client, configured):
    buffer = configured(json_lines=False)
    await client.get(brand_url("mare", "/regulations"))
    [line] = [x for x in buffer.getvalue().splitlines() if "retorno.request" in x]
    assert "GET /regulations 200" in line and line.rstrip().endswith("mare")


def test_errors_are_logged_without_addresses_keys_or_tokens(configured):
    buffer = configured(json_lines=True)
    log = logging.getLogger("retorno.test")
    try:
        raise RuntimeError(
            "duplicate key (email)=(ana.souza+promo@example.com.br) with rk_0a1b2c3d4e5f_s3cr3t-K3y"
        )
    except RuntimeError:
        log.exception("unexpected error for %s with Authorization: Bearer %s", "bia@example.com", "tok3n")
    text = buffer.getvalue()
    for secret in ("ana.souza", "example.com.br", "bia@example.com", "s3cr3t-K3y", "tok3n"):
        assert secret not in text, secret
    record = json.loads(text.splitlines()[-1])
    assert "RuntimeError" in record["error"] and "***@***" in record["message"]


def test_the_log_format_setting_is_checked():
    from retorno.settings import SettingsError
    from tests.conftest import make_settings

    assert make_settings("sqlite:///x.db", RETORNO_LOG_FORMAT="JSON").log_format == "json"
    with pytest.raises(SettingsError, match="RETORNO_LOG_FORMAT"):
        make_settings("sqlite:///x.db", RETORNO_LOG_FORMAT="xml")
