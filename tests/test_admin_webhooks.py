"""The owner's webhooks room: an endpoint added (a private address refused in Portuguese), its
secret shown once, a test event, a delivery resent, the secret rotated, disabled and enabled
again, a range replayed, removed; each change in the audit log in words."""

from __future__ import annotations

import html
import re

import pytest

from retorno.admin import webhooks as admin_webhooks
from retorno.outbound import Options
from tests.test_admin_brand import _csrf, _staff

HOOKS = "/admin/b/bella/webhooks"


@pytest.fixture
def reach_localhost(monkeypatch):
    """This deployment may reach 127.0.0.1 (RETORNO_WEBHOOKS_ALLOW_PRIVATE=1)."""
    monkeypatch.setattr(
        admin_webhooks, "_options", lambda request: Options(allow_private=True, require_https=False)
    )


async def test_a_private_address_is_refused_and_what_was_typed_kept(app, demo, clock):
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    refused = await owner.post(
        HOOKS,
        data={
            "url": "http://10.0.0.5/hooks",
            "description": "ERP",
            "events": "sale.recorded",
            "_csrf_token": token,
        },
    )
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "rede privada, local ou reservada" in text and 'value="http://10.0.0.5/hooks"' in text
    assert re.search(r'value="sale.recorded" checked', text)
    await owner.aclose()


async def test_an_endpoint_s_life_in_the_admin(app, demo, clock, reach_localhost):
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    page = await owner.get(HOOKS)
    assert page.status_code == 200 and "Nenhum endpoint ainda." in page.text
    added = await owner.post(
        HOOKS,
        data={"url": "http://127.0.0.1:9/hooks", "description": "ERP", "all": "1", "_csrf_token": token},
    )
    assert added.status_code == 200
    secret = re.search(r'<code id="new-secret">(whsec_[^<]+)</code>', added.text).group(1)
    assert secret not in (await owner.get(HOOKS)).text  # shown once
    endpoint = re.search(r'href="/admin/b/bella/webhooks/(\d+)"', added.text).group(1)
    detail = f"{HOOKS}/{endpoint}"
    tested = await owner.post(f"{detail}/test", data={"_csrf_token": token})
    assert tested.status_code == 303 and tested.headers["location"].endswith("?done=test")
    shown = await owner.get(tested.headers["location"])
    assert "webhook.test" in shown.text and "na fila" in shown.text
    delivery = re.search(r"/webhooks/deliveries/(\d+)/resend", shown.text).group(1)
    resent = await owner.post(f"{HOOKS}/deliveries/{delivery}/resend", data={"_csrf_token": token})
    assert resent.headers["location"].endswith(f"/webhooks/{endpoint}?done=resent")
    rotated = await owner.post(f"{detail}/rotate", data={"_csrf_token": token})
    new_secret = re.search(r'<code id="new-secret">(whsec_[^<]+)</code>', rotated.text).group(1)
    assert new_secret != secret and "Assina também com o segredo antigo até" in html.unescape(rotated.text)
    disabled = await owner.post(f"{detail}/disable", data={"_csrf_token": token})
    assert "desativado" in (await owner.get(disabled.headers["location"])).text
    refused = await owner.post(
        f"{detail}/replay", data={"since": "2026-11-01", "until": "2026-11-09", "_csrf_token": token}
    )
    assert refused.status_code == 409 and "ative-o primeiro" in html.unescape(refused.text)
    await owner.post(f"{detail}/enable", data={"_csrf_token": token})
    replayed = await owner.post(
        f"{detail}/replay", data={"since": "2026-11-01", "until": "2026-11-09", "_csrf_token": token}
    )
    assert replayed.headers["location"].endswith("?done=replayed")
    backwards = await owner.post(
        f"{detail}/replay", data={"since": "2026-11-09", "until": "2026-11-01", "_csrf_token": token}
    )
    assert backwards.status_code == 422
    removed = await owner.post(f"{detail}/delete", data={"_csrf_token": token})
    assert removed.headers["location"].endswith("/webhooks?done=hook_removed")
    assert (await owner.get(detail)).status_code == 404
    audit = html.unescape((await owner.get("/admin/b/bella/audit")).text)
    for words in (
        "Adicionou um endpoint de webhook",
        "Enviou um evento de teste a um endpoint de webhook",
        "Trocou o segredo de um endpoint de webhook",
        "Desativou um endpoint de webhook",
        "Removeu um endpoint de webhook",
    ):
        assert words in audit, words
    await owner.aclose()
