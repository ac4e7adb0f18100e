"""Large CSV imports in the worker: a job with a progress bar, processed a chunk at a time, resumed
exactly where it stopped (quoted newlines included), idempotent across uploads and across a worker
that died mid-chunk."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from retorno import db
from retorno.imports import service as imports
from retorno.worker import Worker
from tests.test_admin_brand import _csrf, _staff

IMPORT = "/admin/b/bella/import"


def _csv(rows: int, bad_every: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_id", "occurred_at", "total", "email", "name"])
    for n in range(rows):
        total = "abc" if bad_every and n % bad_every == 0 else f"{100 + n % 50},00"
        writer.writerow([f"H-{n}", "2026-10-01", total, f"cliente{n % 300}@example.com", f"Cliente\n{n}"])
    return out.getvalue().encode()


async def _upload(client, token, data: bytes):
    return await client.post(
        IMPORT, data={"_csrf_token": token}, files={"file": ("historico.csv", data, "text/csv")}
    )


async def test_a_large_file_is_imported_by_the_worker_with_progress(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    data = _csv(1200, bad_every=100)  # 12 rows with a total that is no amount
    started = await _upload(manager, token, data)
    assert started.status_code == 303
    job_url = started.headers["location"]
    assert re.fullmatch(r"/admin/b/bella/import/\d+", job_url)
    page = await manager.get(job_url)
    assert '<progress id="import-progress" max="1200" value="0">' in page.text
    assert 'data-state="queued"' in page.text and 'id="import-refresh"' in page.text
    assert await imports.work(clock()) == imports.CHUNK
    page = await manager.get(job_url)
    assert f'value="{imports.CHUNK}"' in page.text
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    page = await manager.get(job_url)
    assert '<progress id="import-progress" max="1200" value="1200">' in page.text
    assert 'data-state="done"' in page.text and 'id="import-refresh"' not in page.text
    counts = re.search(r'id="import-counts">(.*?)<', page.text).group(1)
    assert counts == "1188 importadas, 0 já existentes, 12 recusadas."
    assert page.text.count('class="import-rejected"') == 12 and "H-100" in page.text
    sales = await db.fetch("SELECT COUNT(*) AS n FROM sales WHERE brand = {}", demo["bella"].id)
    assert sales[0]["n"] == 1188
    kept = await db.fetch("SELECT body FROM import_jobs")
    assert kept == [{"body": ""}]  # the file (CPFs, e-mails) is not kept once imported
    # The same file again: every row is found already present, nothing is recorded twice.
    again = await _upload(manager, token, data)
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    page = await manager.get(again.headers["location"])
    assert (
        re.search(r'id="import-counts">(.*?)<', page.text).group(1)
        == "0 importadas, 1188 já existentes, 12 recusadas."
    )
    sales = await db.fetch("SELECT COUNT(*) AS n FROM sales WHERE brand = {}", demo["bella"].id)
    assert sales[0]["n"] == 1188
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["sales.import", "sales.import_done", "sales.import", "sales.import_done"]
    listing = await manager.get(IMPORT)
    assert listing.text.count("historico.csv") == 2
    await manager.aclose()


async def test_a_worker_that_died_mid_chunk_leaves_the_rest_to_the_next(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    started = await _upload(manager, token, _csv(600))
    assert started.status_code == 303
    # A worker claims the job, records some rows itself, and dies before it writes its progress.
    claimed = await imports._claim(clock())
    header = ["order_id", "occurred_at", "total", "email", "name"]
    for values, _ in list(imports._records(claimed.window, 0))[:40]:
        await imports.import_row(demo["bella"], dict(zip(header, values, strict=True)), clock())
    assert await imports.work(clock()) == 0  # its lease still holds the job
    clock.advance(seconds=imports.LEASE.total_seconds() + 1)
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    job = await imports.job(demo["bella"].id, job_id)
    assert (job.state, job.imported, job.skipped, job.rejected) == ("done", 560, 40, 0)
    sales = await db.fetch("SELECT COUNT(*) AS n FROM sales WHERE brand = {}", demo["bella"].id)
    assert sales[0]["n"] == 600
    await manager.aclose()


async def test_a_small_file_is_imported_at_once_and_a_bad_one_refused(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    small = await _upload(manager, token, _csv(imports.INLINE_ROWS))
    assert small.status_code == 200 and small.text.count('class="import-imported"') == imports.INLINE_ROWS
    refused = await _upload(manager, token, b"pedido;valor\n1;10\n")
    assert refused.status_code == 422 and "order_id" in refused.text
    assert await imports.work(clock()) == 0  # no job was made
    await manager.aclose()


CELL = st.text(alphabet=st.sampled_from('ab,"\n\r ç'), max_size=6)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=4), max_size=12), cuts=st.lists(st.integers(1, 5)))
def test_records_resume_exactly_where_they_stopped(rows, cuts):
    """Reading a file a few records at a time, each time from the saved position, gives the same
    records as reading it at once: quotes, commas and newlines inside cells included."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    body = out.getvalue()
    whole = [values for values, _ in imports._records(body, 0)]
    resumed, position, cuts = [], 0, cuts or [3]
    while position < len(body):
        size = cuts[len(resumed) % len(cuts)]
        taken = 0
        for values, after in imports._records(body, position):
            resumed.append(values)
            position = after
            taken += 1
            if taken >= size:
                break
        else:
            break
    assert resumed == whole
    assert whole == list(csv.reader(io.StringIO(body)))


async def test_a_file_read_through_a_small_window_imports_each_row_once(app, demo, clock, monkeypatch):
    """Rows whose quoted names hold newlines and commas, read 300 characters at a time: each window
    leaves its last, possibly cut, row to the next one."""
    monkeypatch.setattr(imports, "WINDOW", 300)
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    started = await _upload(manager, token, _csv(700))
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    job = await imports.job(demo["bella"].id, int(started.headers["location"].rsplit("/", 1)[1]))
    assert (job.state, job.done_rows, job.imported, job.rejected) == ("done", 700, 700, 0)
    names = await db.fetch("SELECT name FROM customers WHERE brand = {} ORDER BY id", demo["bella"].id)
    assert names[0]["name"].startswith("Cliente")
    monkeypatch.setattr(imports, "WINDOW", 40)  # narrower than a row: the rest is reported, not lost
    again = await _upload(manager, token, _csv(600))
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    job = await imports.job(demo["bella"].id, int(again.headers["location"].rsplit("/", 1)[1]))
    assert job.state == "done" and job.rejected == 600 and "longer than 40" in job.problems[0].reason
    await manager.aclose()


EXCEL_PT = (
    "order_id;occurred_at;total;email;name\r\n"
    "X-1;2026-10-01;1.234,56;joao@example.com;João Conceição\r\n"
    'X-2;2026-10-02;"99,90";maria@example.com;"Maria; da Silva"\r\n'
)


async def test_a_csv_as_excel_in_portuguese_writes_it_is_imported(app, demo, clock):
    """`;` between cells, a decimal comma, and either UTF-8 with a byte-order mark or Windows-1252;
    the names keep their accents and the amounts their centavos."""
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    for raw in [b"\xef\xbb\xbf" + EXCEL_PT.encode(), EXCEL_PT.replace("X-", "W-").encode("cp1252")]:
        page = await _upload(manager, token, raw)
        assert page.status_code == 200, page.text
        assert page.text.count('class="import-imported"') == 2, page.text
    rows = await db.fetch("SELECT order_id, total FROM sales ORDER BY order_id")
    assert [(r["order_id"], r["total"]) for r in rows] == [
        ("W-1", 123456),
        ("W-2", 9990),
        ("X-1", 123456),
        ("X-2", 9990),
    ]
    names = {r["name"] for r in await db.fetch("SELECT name FROM customers")}
    assert {"João Conceição", "Maria; da Silva"} <= names
    await manager.aclose()


async def test_a_csv_that_cannot_be_read_says_what_was_expected_in_portuguese(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    refused = await _upload(manager, token, b"pedido|valor\n1|10\n")
    assert refused.status_code == 422
    assert "o CSV precisa das colunas order_id, total" in refused.text
    assert "separadas por vírgulas ou ponto e vírgula" in refused.text
    assert "pedido|valor" in refused.text
    await manager.aclose()


async def test_a_rejected_rows_reason_is_in_the_brands_language(app, demo, clock):
    """Inline and in the worker alike (no request there to take a language from): why a row was
    refused reads as the brand's managers read, with the field named as the file names it."""
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    small = await _upload(manager, token, b"order_id,total,email\nR-1,abc,r@example.com\n")
    assert small.status_code == 200
    assert "total: &#39;abc&#39; não é um valor em reais" in small.text or (
        "total: 'abc' não é um valor em reais" in small.text
    )
    started = await _upload(manager, token, _csv(imports.INLINE_ROWS + 1, bad_every=7))
    assert started.status_code == 303
    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    rejected = await manager.get(started.headers["location"] + "/rejected.csv")
    text = rejected.content.decode("utf-8-sig")
    assert "não é um valor em reais" in text and "is not an amount" not in text
    await manager.aclose()
