"""What deploy/ holds, checked: the Caddyfile is valid Caddy configuration, and the `ask` endpoint
its on-demand TLS calls says yes only for names a brand owns, only to this machine or a trusted
proxy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import msgspec
import pytest

from retorno.brands import service as brands
from retorno.onboarding.brand import import_brand
from tests.conftest import demo_pack

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_caddyfile_is_valid_caddy_configuration():
    caddy = shutil.which("caddy")
    if caddy is None:
        if os.environ.get("RETORNO_REQUIRE_BROWSER") == "1":  # CI installs Debian's caddy
            pytest.fail("caddy is not installed (apt-get install caddy)")
        pytest.skip("caddy is not installed")
    done = subprocess.run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env={**os.environ, "RETORNO_BASE_HOST": "fidelidade.example.com"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


async def ask(app, domain: str, client=("127.0.0.1", 40000)) -> int:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as caddy:
        return (await caddy.get("/tls/ask", params={"domain": domain})).status_code


async def test_the_tls_ask_says_yes_only_for_the_brands_names(app, demo, settings):
    pack = demo_pack("mare")
    await import_brand(
        msgspec.structs.replace(pack, hosts=("fidelidade.mare.example",)), base_host=settings.base_host
    )
    brands._by_host.clear()
    assert await ask(app, "bella.localhost") == 200  # <slug>.<base host>
    assert await ask(app, "FIDELIDADE.mare.example.") == 200  # a custom domain a brand saved
    assert await ask(app, "localhost") == 200  # the platform host
    assert await ask(app, "evil.example") == 404
    assert await ask(app, "nobody.localhost") == 404
    assert await ask(app, "") == 404
    # Only this machine (or a trusted proxy) may ask: from elsewhere it is an unknown host.
    assert await ask(app, "bella.localhost", client=("203.0.113.9", 40000)) == 404


HARDENING = (
    "DynamicUser=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "NoNewPrivileges=yes",
    "ProtectHome=yes",
)


@pytest.mark.parametrize("unit", ["retorno.service", "retorno-worker.service"])
def test_the_systemd_units_are_valid_and_hardened(unit: str, tmp_path: Path):
    text = (DEPLOY / unit).read_text()
    for option in HARDENING:
        assert f"\n{option}\n" in text, option
    if unit == "retorno.service":
        assert "--no-worker" in text  # the web app's processes do no background work
    else:
        assert "retorno worker" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("RETORNO_REQUIRE_BROWSER") == "1":
            pytest.fail("systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    # The same unit with the command where this checkout has it (verify checks it is executable).
    here = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "retorno"
    local = tmp_path / unit
    local.write_text(text.replace("/opt/retorno/venv/bin/retorno", str(here)))
    done = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr  # no unknown or misspelt directive
