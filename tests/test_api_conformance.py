"""The integration API against its own OpenAPI document, as a client generated from it would see
it: schemathesis with every default check (status codes, content types, response schemas, schema-
valid input accepted, schema-violating input refused, no server error), on a live server of the
suite's engine, bounded to stay within the suite's time. Some rules are beyond a JSON schema (a
CPF's check digits, items adding up to the total): schemathesis.toml lets those answer 422."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 25  # per operation: about 20 s on either engine


def test_the_api_answers_as_its_own_document_says(live_server, tmp_path):
    created = live_server.cli("apikeys", "create", "bella", "--name", "conformance")
    key = re.search(r"rk_[A-Za-z0-9_-]+", created).group(0)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "run",
            live_server.url(None, "/api/openapi.json"),
            "--url",
            live_server.url(None, ""),
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "1",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps its cache where it runs
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert counts and counts[1] == counts[2] == counts[3], run.stdout[-2000:]  # every operation tried
    assert "unexpected error" not in live_server.log_path.read_text()
