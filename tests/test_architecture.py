"""The shape of the code: no import cycle between any two modules of the package (imports inside
functions included), and the layers of docs/architecture.md, as `make lint` checks them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("retorno", include_external_packages=False)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported != importer and graph.chain_exists(importer=imported, imported=importer):
                chain = graph.find_shortest_chain(importer=imported, imported=importer)
                cycles.append(" -> ".join((importer, *chain)))
    assert not cycles, "\n".join(cycles)


def test_the_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


SURFACES = ("admin", "api", "portal", "platform", "signin")
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ")


def test_surface_handlers_hold_no_sql():
    """Handlers read through named domain functions (customers.search, referrals.review_queue...):
    no query text and no query call in a surface module."""
    import ast

    found = []
    for surface in SURFACES:
        for path in sorted((ROOT / "backend" / "retorno" / surface).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if node.value.lstrip().upper().startswith(SQL_WORDS):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:40]!r}")
                if isinstance(node, ast.Attribute) and node.attr in ("fetch", "fetch_heavy", "insert", "raw"):
                    if isinstance(node.value, ast.Name) and node.value.id == "db":
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: db.{node.attr}")
    assert not found, "\n".join(found)
