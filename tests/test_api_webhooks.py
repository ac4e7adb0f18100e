"""Webhook endpoints through the API: added with a secret shown once, listed and read without it,
changed, tested, rotated, their deliveries listed and resent, a range replayed, removed; a private
address refused in the user's words; another brand sees none of it."""

from __future__ import annotations

import pytest

from retorno.api import routes
from retorno.outbound import Options

RECEIVER = "http://127.0.0.1:9/hooks"  # never reached here: the worker is not running


@pytest.fixture
def reach_localhost(monkeypatch):
    """What this deployment may reach: 127.0.0.1 too (RETORNO_WEBHOOKS_ALLOW_PRIVATE=1)."""
    monkeypatch.setattr(routes, "_options", lambda request: Options(allow_private=True, require_https=False))


async def test_a_private_address_is_refused_with_a_clear_error(api):
    refused = await api.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:8000/x", "events": ["*"]})
    assert refused.status_code == 422 and "private, loopback or reserved" in refused.json()["detail"]
    in_portuguese = await api.post(
        "/webhooks/endpoints",
        json={"url": "http://169.254.169.254/latest", "events": ["*"]},
        headers={"accept-language": "pt-BR"},
    )
    assert in_portuguese.status_code == 422 and "rede privada" in in_portuguese.json()["detail"]
    assert (await api.get("/webhooks/endpoints")).json() == []


async def test_an_endpoint_s_life_through_the_api(api, api_keys, reach_localhost, clock):
    created = await api.post(
        "/webhooks/endpoints",
        json={"url": RECEIVER, "events": ["sale.recorded"], "description": "ERP"},
        headers={"idempotency-key": "add-erp"},
    )
    assert created.status_code == 201, created.text
    secret, endpoint = created.json()["secret"], created.json()["endpoint"]
    assert secret.startswith("whsec_") and endpoint["enabled"] and endpoint["events"] == ["sale.recorded"]
    again = await api.post(
        "/webhooks/endpoints",
        json={"url": RECEIVER, "events": ["sale.recorded"], "description": "ERP"},
        headers={"idempotency-key": "add-erp"},
    )
    assert again.json() == created.json()  # a retry adds nothing
    listed = await api.get("/webhooks/endpoints")
    assert [e["id"] for e in listed.json()] == [endpoint["id"]] and secret not in listed.text
    path = f"/webhooks/endpoints/{endpoint['id']}"
    assert secret not in (await api.get(path)).text
    changed = await api.patch(path, json={"events": ["sale.recorded", "cashback.available"]})
    assert changed.status_code == 200 and changed.json()["events"] == ["sale.recorded", "cashback.available"]
    assert (await api.patch(path, json={"events": ["no.such"]})).status_code == 422
    tested = await api.post(f"{path}/test")
    assert tested.status_code == 201 and tested.json()["event_type"] == "webhook.test"
    deliveries = (await api.get(f"{path}/deliveries")).json()
    assert [d["id"] for d in deliveries] == [tested.json()["id"]]
    resent = await api.post(f"/webhooks/deliveries/{tested.json()['id']}/resend")
    assert resent.status_code == 200 and resent.json()["message_id"] == tested.json()["message_id"]
    rotated = await api.post(f"{path}/rotate")
    assert rotated.status_code == 200 and rotated.json()["secret"] != secret
    assert rotated.json()["endpoint"]["previous_secret_until"]
    replayed = await api.post(
        f"{path}/replay", json={"since": "2026-11-01T00:00:00-03:00", "until": "2026-11-30T00:00:00-03:00"}
    )
    assert replayed.status_code == 200 and "queued" in replayed.json()
    backwards = await api.post(
        f"{path}/replay", json={"since": "2026-11-30T00:00:00-03:00", "until": "2026-11-01T00:00:00-03:00"}
    )
    assert backwards.status_code == 422
    mare = {"authorization": f"Bearer {api_keys['mare']}"}
    assert (await api.get(path, headers=mare)).status_code == 404
    assert (await api.delete(path, headers=mare)).status_code == 404
    assert (await api.post(f"{path}/rotate", headers=mare)).status_code == 404
    assert (await api.get("/webhooks/endpoints", headers=mare)).json() == []
    assert (await api.get(f"/webhooks/deliveries/{tested.json()['id']}", headers=mare)).status_code in (
        404,
        405,
    )
    assert (
        await api.post(f"/webhooks/deliveries/{tested.json()['id']}/resend", headers=mare)
    ).status_code == 404
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
