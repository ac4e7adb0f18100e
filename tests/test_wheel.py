"""Installed from its wheel, away from the checkout, Retorno still has everything it serves: the
static assets, the service worker, templates, catalogues and the demo brand packs (setup.py copies
the top-level folders into retorno/share/; retorno.settings.DATA_ROOT finds them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
# What a build reads; nothing else of the checkout (no .venv, no build/ left from another build).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "backend", "frontend", "branding")
SOURCES += ("service_worker",)


def build_wheel(dest: Path) -> Path:
    """`pip wheel` of a copy of the checkout's sources; the wheel's path."""
    src = dest / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pot")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", ".", "-w", str(dest / "dist")],
        cwd=src,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1767225600"},  # the same sources, the same bytes
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (dest / "dist").glob("retorno-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def _files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pot")
    }


def test_the_wheel_carries_every_file_of_the_package_and_the_folders_it_serves(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = {f"retorno/{f}" for f in _files(ROOT / "backend" / "retorno")} - names
    for folder in ("frontend", "service_worker"):
        missing |= {f"retorno/share/{folder}/{f}" for f in _files(ROOT / folder)} - names
    packs = {f for f in _files(ROOT / "branding") if not f.endswith(".py")}
    missing |= {f"retorno/share/branding/{f}" for f in packs} - names
    # A data file read at run time and not in the wheel: pyproject's package-data, or setup.py.
    assert not missing, sorted(missing)
    assert "retorno/share/branding/draw_logos.py" not in names  # a tool of the checkout, not data


def _install(wheel: Path, venv: Path) -> Path:
    """A venv with the wheel in it; the dependencies are the project venv's, seen through a .pth
    (its own .pth files are not read that way, so the checkout's editable retorno stays out)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "project-dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return venv / "bin"


def test_the_installed_wheel_imports_the_demo_and_serves_it_outside_the_checkout(wheel, tmp_path):
    bin_dir = _install(wheel, tmp_path / "venv")
    site = tmp_path / "site"  # the current folder of every command: no checkout around
    site.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETORNO_", "PYTHON"))}
    env |= {"RETORNO_BASE_HOST": f"localhost:{port}", "RETORNO_ENV": "development"}

    where = subprocess.run(
        [
            bin_dir / "python",
            "-c",
            "import retorno, retorno.settings as s; print(retorno.__file__, s.DATA_ROOT, s.INSTALLED)",
        ],
        cwd=site,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(tmp_path / "venv"), where  # the wheel's, not the checkout's
    assert Path(where[1]).is_relative_to(tmp_path / "venv") and where[2] == "True", where

    demo = subprocess.run([bin_dir / "retorno", "demo"], cwd=site, env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo staff: dono@bella.example (owner of bella)" in demo.stdout
    assert (site / "var" / "retorno.sqlite3").is_file()  # the default var/: in the current folder

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [bin_dir / "retorno", "serve", "--port", str(port), "--quiet"],
            cwd=site,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_for_health(client, port, server, log)
            check_the_demo_is_served(client, port)
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_health(client: httpx.Client, port: int, process, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/healthz", headers={"host": f"localhost:{port}"}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not start: {log.read_text()}")
        time.sleep(0.1)


def check_the_demo_is_served(client: httpx.Client, port: int) -> None:
    """A brand's pages, service worker, manifest, icons and static files, byte for byte the
    checkout's; httpx resolves no *.localhost, so the host goes in the Host header."""
    bella = {"host": f"bella.localhost:{port}"}

    home = client.get("/", headers=bella)
    assert home.status_code == 200, home.text
    assert "Bella" in home.text
    css = re.search(r'href="(/static/css/app\.css\?v=[^"]+)"', home.text)
    assert css, home.text
    sheet = client.get(css[1], headers=bella)
    assert sheet.status_code == 200
    assert sheet.content == (ROOT / "frontend" / "css" / "app.css").read_bytes()
    font = client.get("/static/fonts/lora-latin-400-normal.woff2", headers=bella)
    assert font.content == (ROOT / "frontend" / "fonts" / "lora-latin-400-normal.woff2").read_bytes()

    worker = client.get("/sw.js", headers=bella)
    assert worker.status_code == 200
    assert worker.content.endswith((ROOT / "service_worker" / "sw.js").read_bytes())

    manifest = client.get("/manifest.webmanifest", headers=bella)
    assert manifest.status_code == 200
    doc = json.loads(manifest.content)
    assert doc["name"] == "Bella Cosméticos"
    icon = client.get(doc["icons"][0]["src"], headers=bella)  # drawn from the pack's logo
    assert icon.status_code == 200 and icon.content.startswith(b"\x89PNG")

    regulations = client.get("/regulations", headers=bella)  # the pack's regulations.md
    assert regulations.status_code == 200 and "Quem pode participar" in regulations.text

    widget = client.get("/widget.js", headers={"host": f"mare.localhost:{port}"})
    assert widget.content == (ROOT / "frontend" / "widget" / "widget.js").read_bytes()
    store = client.get("/dev/store.css", headers={"host": f"localhost:{port}"})  # package data
    assert store.content == (ROOT / "backend" / "retorno" / "platform" / "devstore.css").read_bytes()
