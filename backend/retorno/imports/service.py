"""Past sales from a CSV (documented columns), each row through the same idempotent
`sales.orders.record` as the API: a row already imported (same order_id, same content) is skipped,
a row with a problem is rejected with the reason, and a second upload of the same file changes
nothing.

A small file is imported in the request, with a report per row. A larger one becomes a job the
worker processes CHUNK rows at a time: the job keeps the file, how far it got (`position`, in
characters of the file after its header) and what it found, so the admin shows a progress bar and
a worker that dies mid-chunk leaves the rest to the next one (rows it had already recorded are
found again as already present: record_sale is idempotent by order_id). Once the job is done its
file is dropped: it holds shoppers' CPFs and e-mails.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import msgspec

from retorno import db
from retorno.audit import service as audit
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers.service import Identity
from retorno.errors import DomainError, Invalid, NotFound
from retorno.imports.tables import ImportJob
from retorno.sales import orders
from retorno.sales.requests import SaleIn
from retorno.typed import centavos, when_of

COLUMNS = ("order_id", "occurred_at", "total", "shipping", "cpf", "email", "phone", "name")
INLINE_ROWS = 500  # up to this many rows: imported in the request, with a report per row
MAX_ROWS = 100_000
CHUNK = 250
LEASE = dt.timedelta(seconds=120)
WINDOW = 512 * 1024  # characters of the file read for one chunk (a chunk never reads the whole file)
SHOWN_PROBLEMS = 1000  # rejected rows kept with their reason (all are counted)


class Upload(msgspec.Struct, frozen=True):
    header: list[str]
    body: str  # the file after its header line
    total: int  # rows (blank lines are not rows)


def decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # spreadsheets saved in Windows-1252
    if "\x00" in text:  # UTF-16 ("Unicode text") or not a text file; PostgreSQL keeps no NUL
        raise Invalid("the file is not CSV text: save it from the spreadsheet as CSV (UTF-8)")
    return text


def read(text: str) -> Upload:
    """The CSV's header, checked, and its rows counted."""
    first = io.StringIO(text)
    header_line = first.readline()
    header = next(csv.reader([header_line]), [])
    header = [h.strip().lower() for h in header]
    missing = {"order_id", "total"} - set(header)
    if missing:
        raise Invalid(
            f"the CSV needs the columns {', '.join(sorted(missing))} (and one of cpf, email, phone)"
        )
    body = text[len(header_line) :]
    total = sum(1 for values, _ in _records(body, 0) if values)
    if total > MAX_ROWS:
        raise Invalid(f"at most {MAX_ROWS} rows in one file; split it")
    return Upload(header=header, body=body, total=total)


def _records(body: str, position: int) -> Iterator[tuple[list[str], int]]:
    """The CSV records from `position` on, each with the position just after it. csv.reader asks
    for a line only when it needs one, so the characters consumed are exact, quoted newlines too."""
    consumed = position

    def lines() -> Iterator[str]:
        nonlocal consumed
        for line in io.StringIO(body[position:]):
            consumed += len(line)
            yield line

    for values in csv.reader(lines()):
        yield values, consumed


def _complete(window: str, tail: bool) -> Iterator[tuple[list[str], int]]:
    """The records of a window of the file that are surely whole: unless the window is the file's
    tail, the one running into its end may be cut and is left for the next window."""
    try:
        for values, after in _records(window, 0):
            if after >= len(window) and not tail:
                return
            yield values, after
    except csv.Error:  # a quoted cell cut by the window's end
        return


async def import_row(brand: BrandView, row: dict[str, str], now: dt.datetime) -> dict[str, Any]:
    """One row through record_sale: imported, skipped (already present) or rejected and why."""
    order_id = (row.get("order_id") or "").strip()

    def get(name: str) -> str | None:
        return (row.get(name) or "").strip() or None

    try:
        identity = Identity(cpf=get("cpf"), email=get("email"), phone=get("phone"), name=get("name"))
        if not (identity.cpf or identity.email or identity.phone):
            raise Invalid("a cpf, an email or a phone is needed")
        shipping, when = get("shipping") or "", get("occurred_at")
        sale = SaleIn(
            order_id=order_id,
            customer=identity,
            total=centavos(row.get("total") or ""),
            shipping=centavos(shipping) if shipping and shipping not in ("0", "0,00", "0.00") else 0,
            occurred_at=when_of(when, brand) if when else None,
            channel="import",
        )
        body, created = await orders.record(brand=brand, sale=sale, now=now)
    except DomainError as exc:
        return {"order_id": order_id, "status": "rejected", "reason": exc.detail}
    return {
        "order_id": order_id,
        "status": "imported" if created else "skipped",
        "cashback": body.cashback.amount,
    }


async def import_now(brand: BrandView, upload: Upload, now: dt.datetime) -> list[dict[str, Any]]:
    """A small file, in the request: a report per row (its line in the file, from 2)."""
    report: list[dict[str, Any]] = []
    for values, _ in _records(upload.body, 0):
        if values:
            outcome = await import_row(brand, dict(zip(upload.header, values, strict=False)), now)
            report.append({"line": len(report) + 2, **outcome})
    return report


async def start(*, brand_id: int, staff_id: int, filename: str, upload: Upload, now: dt.datetime) -> int:
    """A job for the worker; its id."""
    return await db.write(
        lambda: db.insert(
            ImportJob,
            brand=brand_id,
            staff=staff_id,
            filename=filename[:200],
            header=msgspec.json.encode(upload.header).decode(),
            body=upload.body,
            total=upload.total,
            created_at=now,
        )
    )


_VIEW = (
    "SELECT id, filename, state, total, done_rows, imported, skipped, rejected, problems, created_at, "
    "finished_at FROM import_jobs WHERE brand = {}"
)


async def job(brand_id: int, job_id: int) -> dict[str, Any]:
    rows = await db.fetch(_VIEW + " AND id = {}", brand_id, job_id)
    if not rows:
        raise NotFound("no such import")
    found = rows[0]
    found["problems"] = msgspec.json.decode(found["problems"])
    found["percent"] = 100 if not found["total"] else found["done_rows"] * 100 // found["total"]
    return found


async def recent(brand_id: int, limit: int = 10) -> list[dict[str, Any]]:
    rows = await db.fetch(_VIEW + " ORDER BY id DESC LIMIT {}", brand_id, limit)
    for row in rows:
        row.pop("problems")
    return rows


async def _claim(now: dt.datetime) -> dict[str, Any] | None:
    due = await db.fetch(
        "SELECT 1 AS due FROM import_jobs WHERE state IN ('queued', 'running') "
        "AND (lease_until IS NULL OR lease_until < {}) LIMIT 1",
        now,
    )
    if not due:  # the usual case, every worker pass: a read, not a write transaction
        return None

    async def work() -> dict[str, Any] | None:
        sql = (
            "SELECT id FROM import_jobs WHERE state IN ('queued', 'running') "
            "AND (lease_until IS NULL OR lease_until < {}) ORDER BY id LIMIT 1"
        )
        if db.is_postgres():
            sql += " FOR UPDATE SKIP LOCKED"
        found = await db.fetch(sql, now)
        if not found:
            return None
        job_id = found[0]["id"]
        await db.fetch(
            "UPDATE import_jobs SET state = 'running', lease_until = {} WHERE id = {}", now + LEASE, job_id
        )
        rows = await db.fetch(
            "SELECT id, brand, staff, header, position, done_rows, problems, total, LENGTH(body) AS size, "
            "SUBSTR(body, position + 1, {}) AS window FROM import_jobs WHERE id = {}",
            WINDOW,
            job_id,
        )
        return rows[0]

    return await db.write(work)


async def work(now: dt.datetime, *, chunk: int = CHUNK) -> int:
    """One chunk of the oldest import that no live worker holds; the rows processed (0: none due)."""
    claimed = await _claim(now)
    if claimed is None:
        return 0
    brand = await brands.brand_by_id(claimed["brand"])
    if brand is None:  # cannot be: a job's brand is a foreign key that forbids deleting the brand
        raise RuntimeError(f"import job {claimed['id']}: brand {claimed['brand']} does not exist")
    header = msgspec.json.decode(claimed["header"])
    problems = msgspec.json.decode(claimed["problems"])
    counts = {"imported": 0, "skipped": 0, "rejected": 0}
    position, done = claimed["position"], claimed["done_rows"]
    window, start = claimed["window"], claimed["position"]
    tail = start + len(window) >= claimed["size"]  # the window reaches the end of the file
    taken = 0
    for values, after in _complete(window, tail):
        position = start + after
        if not values:
            continue
        outcome = await import_row(brand, dict(zip(header, values, strict=False)), now)
        done += 1
        taken += 1
        counts[outcome["status"]] += 1
        if outcome["status"] == "rejected" and len(problems) < SHOWN_PROBLEMS:
            problems.append({"line": done + 1, "order_id": outcome["order_id"], "reason": outcome["reason"]})
        if taken >= chunk:
            break
    if position == start and not tail:  # a row longer than the window: the rest cannot be read
        left = claimed["total"] - done
        reason = f"this row and the {left - 1} after it were not read: a row longer than {WINDOW} characters"
        problems.append({"line": done + 2, "order_id": "", "reason": reason})
        counts["rejected"] += left
        done, position = claimed["total"], claimed["size"]
    finished = done >= claimed["total"] or position >= claimed["size"]

    async def record() -> None:
        await db.fetch(
            "UPDATE import_jobs SET position = {}, done_rows = {}, imported = imported + {}, "
            "skipped = skipped + {}, rejected = rejected + {}, problems = {}, state = {}, "
            "lease_until = NULL, finished_at = {}, body = CASE WHEN {} THEN '' ELSE body END WHERE id = {}",
            position,
            done,
            counts["imported"],
            counts["skipped"],
            counts["rejected"],
            msgspec.json.encode(problems).decode(),
            "done" if finished else "running",
            now if finished else None,
            finished,  # the file holds shoppers' CPFs and e-mails: kept no longer than it is needed
            claimed["id"],
        )
        if finished:
            totals = await db.fetch(
                "SELECT imported, skipped, rejected FROM import_jobs WHERE id = {}", claimed["id"]
            )
            await audit.record(
                brand_id=brand.id,
                staff_id=claimed["staff"],
                action="sales.import_done",
                target=str(claimed["id"]),
                after=totals[0],
                now=now,
            )

    await db.write(record)
    return max(taken, 1)
