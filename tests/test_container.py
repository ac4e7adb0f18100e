"""deploy/Containerfile, built and run with podman: the wheel inside, a non-root user, `retorno
demo` then `retorno serve`, a brand's pages served from the container as from the wheel.

With no container registry in reach, the base image is made from Debian's packages
(deploy/debian-base.sh, debootstrap) once, and kept. Skipped without podman, runc and debootstrap,
unless RETORNO_REQUIRE_BROWSER=1 (as in CI), which makes it fail instead."""

from __future__ import annotations

import os
import resource
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.test_wheel import build_wheel, check_the_demo_is_served, wait_for_health

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BASE = "localhost/debian-python:bookworm"


def _tools() -> list[str]:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        reason = f"not installed: {', '.join(missing)} (apt-get install podman runc debootstrap)"
        if os.environ.get("RETORNO_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    # crun refuses cgroups in hybrid mode (v1 controllers beside a v2 mount); runc takes them.
    return ["podman", "--runtime", shutil.which("runc") or "runc"]


def _limits() -> list[str]:
    """Limits the container may have: podman's defaults are above what an unprivileged
    container engine (or one inside a container) may set, and starting the container fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ["--ulimit", f"nofile={soft}:{hard}", "--ulimit", "nproc=4096:4096"]


def _run(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_image_imports_the_demo_and_serves_it(tmp_path):
    podman = _tools()
    if subprocess.run([*podman, "image", "exists", BASE]).returncode != 0:
        _run(str(DEPLOY / "debian-base.sh"), BASE)
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(build_wheel(tmp_path), context)

    # pip in the build reaches PyPI with this machine's CAs (a proxy that inspects TLS has its own).
    ca = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    image_id = tmp_path / "image-id"
    tag = "localhost/retorno-test:latest"  # kept, and its layers with it: the next build's cache
    before = subprocess.run([*podman, "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True)
    _run(
        *podman,
        "build",
        "--pull=never",
        *_limits(),
        f"--build-arg=BASE={BASE}",
        f"--volume={ca}:/run/ca.crt:ro",
        "--build-arg=PIP_CERT=/run/ca.crt",
        f"--iidfile={image_id}",
        f"--tag={tag}",
        "--file",
        str(DEPLOY / "Containerfile"),
        str(context),
    )
    image = image_id.read_text().strip()
    previous = before.stdout.decode().strip()
    if previous and previous not in image:  # the last build's image, untagged now: its own layers go
        subprocess.run([*podman, "rmi", previous], capture_output=True)
    port = free_port()
    volume = f"retorno-test-{uuid.uuid4().hex[:12]}"
    name = f"retorno-test-{uuid.uuid4().hex[:12]}"
    # Every run: this machine's limits, the platform host on the published port, the data volume.
    run = [*podman, "run", *_limits(), "--env", f"RETORNO_BASE_HOST=localhost:{port}"]
    run += ["--volume", f"{volume}:/var/lib/retorno"]
    try:
        user = _run(*run, "--rm", "--entrypoint", "id", image, "-u").strip()
        assert user != "0", "the image runs as root"
        demo = _run(*run, "--rm", image, "demo")
        assert "demo staff: dono@bella.example (owner of bella)" in demo
        # Its CMD: retorno serve --host 0.0.0.0 --port 8000.
        _run(*run, "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:8000", image)
        log = tmp_path / "container.log"

        class Container:
            def poll(self) -> int | None:
                state = _run(*podman, "inspect", "--format", "{{.State.Running}}", name).strip()
                logs = subprocess.run([*podman, "logs", name], capture_output=True, text=True)
                log.write_text(logs.stdout + logs.stderr)
                return None if state == "true" else 1

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_for_health(client, port, Container(), log)
            check_the_demo_is_served(client, port)
    finally:
        subprocess.run([*podman, "rm", "--force", "--time", "2", name], capture_output=True)
        subprocess.run([*podman, "volume", "rm", "--force", volume], capture_output=True)
