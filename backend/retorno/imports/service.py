"""Past sales from a CSV (documented columns), each row through the same idempotent
`sales.orders.record` as the API: a row already imported (same order_id, same content) is skipped,
a row with a problem is rejected with the reason, and a second upload of the same file changes
nothing.

A small file is imported in the request, with a report per row. A larger one becomes a job the
worker processes CHUNK rows at a time: the job keeps the file, how far it got (`position`, in
characters of the file after its header) and what it found, so the admin shows a progress bar and
a worker that dies mid-chunk leaves the rest to the next one (rows it had already recorded are
found again as already present: `sales.orders.record` is idempotent by order_id). Once the job is done its
file is dropped: it holds shoppers' CPFs and e-mails.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import msgspec
from piccolo.query.functions.string import Length
from piccolo.querystring import QueryString

from retorno import db, i18n
from retorno.audit import service as audit
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import DomainError, Field, Invalid, NotFound
from retorno.imports.tables import ImportJob
from retorno.sales import orders
from retorno.sales.requests import SaleIn
from retorno.typed import centavos, when_of

COLUMNS = (
    "order_id", "occurred_at", "total", "shipping", "cpf", "email", "phone", "name",
    "consent_email", "consent_whatsapp",
)  # fmt: skip
# A consent column's answers: what the shopper told the store (empty: not asked, nothing recorded).
YES, NO = ("sim", "s", "yes", "y", "1", "true", "x"), ("não", "nao", "n", "no", "0", "false")
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


class RowOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one row: imported (its cashback), skipped (already present) or rejected (why)."""

    order_id: str
    status: str  # imported | skipped | rejected
    reason: str | None = None  # rejected only
    cashback: int | None = None  # imported or skipped only


class ReportedRow(RowOutcome, frozen=True, kw_only=True):
    """A row of a small file's report: its outcome and its line in the file (from 2)."""

    line: int


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """A rejected row a job keeps (in `problems`, as JSON in this order): its line and why."""

    line: int
    order_id: str
    reason: str


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    """An import job as the list of recent ones shows it."""

    id: int
    filename: str
    state: str  # queued | running | done
    total: int
    done_rows: int
    imported: int
    skipped: int
    rejected: int
    created_at: dt.datetime
    finished_at: dt.datetime | None


class Job(JobSummary, frozen=True, kw_only=True):
    """An import job's page: the summary, the rejected rows kept, the progress in percent."""

    problems: list[Problem]
    percent: int


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A job a worker holds the lease of, and the window of its file from where it got to."""

    id: int
    brand: int
    staff: int
    header: str  # JSON
    position: int
    done_rows: int
    problems: str  # JSON
    total: int
    size: int  # characters in the file after its header
    window: str  # up to WINDOW characters from `position`


def decode(raw: bytes) -> str:
    """A spreadsheet's CSV as text: UTF-8 (with or without the byte-order mark Excel writes), else
    Windows-1252, what Excel in Portuguese saves as "CSV (separado por vírgulas)"."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    if "\x00" in text:  # UTF-16 ("Unicode text") or not a text file; PostgreSQL keeps no NUL
        raise Invalid("the file is not CSV text: save it from the spreadsheet as CSV (UTF-8)")
    return text


DELIMITERS = (",", ";", "\t")


def delimiter_of(header_line: str) -> str:
    """The separator the header row uses: the one of `,` `;` and tab it holds most of (a header
    has no quoted separators); `,` when it holds none."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read(text: str) -> Upload:
    """The CSV's header, checked, and its rows counted. A file separated by `;` (Excel in
    Portuguese) or tabs is rewritten with commas once, here, so the rest reads one shape."""
    header_line = io.StringIO(text).readline()
    separator = delimiter_of(header_line)
    if separator != ",":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(csv.reader(io.StringIO(text), delimiter=separator))
        text = out.getvalue()
        header_line = io.StringIO(text).readline()
    header = next(csv.reader([header_line]), [])
    header = [h.strip().lower() for h in header]
    missing = {"order_id", "total"} - set(header)
    if missing:
        raise Invalid(
            "the CSV needs the columns %(columns)s (and one of cpf, email, phone) in its first line, "
            "separated by commas or semicolons; its first line reads %(first)r",
            columns=", ".join(sorted(missing)),
            first=header_line.strip()[:120],
        )
    body = text[len(header_line) :]
    total = sum(1 for values, _ in _records(body, 0) if values)
    if total > MAX_ROWS:
        raise Invalid("at most %(max)s rows in one file; split it", max=MAX_ROWS)
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


async def import_row(brand: BrandView, row: dict[str, str], now: dt.datetime) -> RowOutcome:
    """One row through `sales.orders.record`: imported, skipped (already present) or rejected and why."""
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
        choices = {}
        for channel in ("email", "whatsapp"):
            answer = (get(f"consent_{channel}") or "").lower()
            if answer and answer not in YES + NO:
                raise Invalid("%(field)s: sim or não (or empty)", field=Field(f"consent_{channel}"))
            if answer:
                choices[channel] = answer in YES
        body, created = await orders.record(brand=brand, sale=sale, now=now)
        if choices:
            await customers.set_consents(brand.id, body.customer_id, choices, source="import", now=now)
    except DomainError as exc:  # kept in the brand's language: the manager reads it later, and the worker
        # that imports a large file has no request to take a language from
        return RowOutcome(order_id=order_id, status="rejected", reason=i18n.error_text(brand.locale, exc))
    return RowOutcome(
        order_id=order_id, status="imported" if created else "skipped", cashback=body.cashback.amount
    )


async def import_now(brand: BrandView, upload: Upload, now: dt.datetime) -> list[ReportedRow]:
    """A small file, in the request: a report per row (its line in the file, from 2)."""
    report: list[ReportedRow] = []
    for values, _ in _records(upload.body, 0):
        if values:
            outcome = await import_row(brand, dict(zip(upload.header, values, strict=False)), now)
            fields = msgspec.structs.asdict(outcome)
            report.append(ReportedRow(line=len(report) + 2, **fields))
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


_SUMMARY = (
    ImportJob.id,
    ImportJob.filename,
    ImportJob.state,
    ImportJob.total,
    ImportJob.done_rows,
    ImportJob.imported,
    ImportJob.skipped,
    ImportJob.rejected,
    ImportJob.created_at,
    ImportJob.finished_at,
)


async def job(brand_id: int, job_id: int) -> Job:
    found = (
        await ImportJob.select(*_SUMMARY, ImportJob.problems)
        .where((ImportJob.brand == brand_id) & (ImportJob.id == job_id))
        .first()
    )
    if found is None:
        raise NotFound("no such import")
    problems = msgspec.json.decode(found.pop("problems"), type=list[Problem])
    percent = 100 if not found["total"] else found["done_rows"] * 100 // found["total"]
    return Job(**found, problems=problems, percent=percent)


async def recent(brand_id: int, limit: int = 10) -> list[JobSummary]:
    rows = (
        await ImportJob.select(*_SUMMARY)
        .where(ImportJob.brand == brand_id)
        .order_by(ImportJob.id, ascending=False)
        .limit(limit)
    )
    return [JobSummary(**row) for row in rows]


def _due(now: dt.datetime) -> Any:
    """A job no live worker holds: queued, or running with its lease run out."""
    return ImportJob.state.is_in(["queued", "running"]) & (
        ImportJob.lease_until.is_null() | (ImportJob.lease_until < now)
    )


async def _claim(now: dt.datetime) -> Claim | None:
    if not await ImportJob.exists().where(_due(now)):
        return None  # the usual case, every worker pass: a read, not a write transaction

    async def work() -> Claim | None:
        oldest = ImportJob.select(ImportJob.id).where(_due(now)).order_by(ImportJob.id)
        if db.is_postgres():
            oldest = oldest.lock_rows("UPDATE", skip_locked=True)
        found = await oldest.first()
        if found is None:
            return None
        job_id = found["id"]
        await ImportJob.update({ImportJob.state: "running", ImportJob.lease_until: now + LEASE}).where(
            ImportJob.id == job_id
        )
        row = (
            await ImportJob.select(
                ImportJob.id,
                ImportJob.brand,
                ImportJob.staff,
                ImportJob.header,
                ImportJob.position,
                ImportJob.done_rows,
                ImportJob.problems,
                ImportJob.total,
                Length(ImportJob.body, alias="size"),
                QueryString("SUBSTR(body, position + 1, {})", WINDOW, alias="window"),
            )
            .where(ImportJob.id == job_id)
            .first()
        )
        assert row is not None
        return Claim(**row)

    return await db.write(work)


async def work(now: dt.datetime, *, chunk: int = CHUNK) -> int:
    """One chunk of the oldest import that no live worker holds; the rows processed (0: none due)."""
    claimed = await _claim(now)
    if claimed is None:
        return 0
    brand = await brands.brand_by_id(claimed.brand)
    if brand is None:  # cannot be: a job's brand is a foreign key that forbids deleting the brand
        raise RuntimeError(f"import job {claimed.id}: brand {claimed.brand} does not exist")
    header = msgspec.json.decode(claimed.header, type=list[str])
    problems = msgspec.json.decode(claimed.problems, type=list[Problem])
    counts = {"imported": 0, "skipped": 0, "rejected": 0}
    position, done = claimed.position, claimed.done_rows
    window, start = claimed.window, claimed.position
    tail = start + len(window) >= claimed.size  # the window reaches the end of the file
    taken = 0
    for values, after in _complete(window, tail):
        position = start + after
        if not values:
            continue
        outcome = await import_row(brand, dict(zip(header, values, strict=False)), now)
        done += 1
        taken += 1
        counts[outcome.status] += 1
        if outcome.status == "rejected" and len(problems) < SHOWN_PROBLEMS:
            problems.append(Problem(line=done + 1, order_id=outcome.order_id, reason=outcome.reason or ""))
        if taken >= chunk:
            break
    if position == start and not tail:  # a row longer than the window: the rest cannot be read
        left = claimed.total - done
        reason = f"this row and the {left - 1} after it were not read: a row longer than {WINDOW} characters"
        problems.append(Problem(line=done + 2, order_id="", reason=reason))
        counts["rejected"] += left
        done, position = claimed.total, claimed.size
    finished = done >= claimed.total or position >= claimed.size

    async def record() -> None:
        changes: dict[Any, Any] = {
            ImportJob.position: position,
            ImportJob.done_rows: done,
            ImportJob.imported: ImportJob.imported + counts["imported"],
            ImportJob.skipped: ImportJob.skipped + counts["skipped"],
            ImportJob.rejected: ImportJob.rejected + counts["rejected"],
            ImportJob.problems: msgspec.json.encode(problems).decode(),
            ImportJob.state: "done" if finished else "running",
            ImportJob.lease_until: None,
            ImportJob.finished_at: now if finished else None,
        }
        if finished:  # the file holds shoppers' CPFs and e-mails: kept no longer than it is needed
            changes[ImportJob.body] = ""
        await ImportJob.update(changes).where(ImportJob.id == claimed.id)
        if finished:
            totals = (
                await ImportJob.select(ImportJob.imported, ImportJob.skipped, ImportJob.rejected)
                .where(ImportJob.id == claimed.id)
                .first()
            )
            await audit.record(
                brand_id=brand.id,
                staff_id=claimed.staff,
                action="sales.import_done",
                target=str(claimed.id),
                after=totals,
                now=now,
            )

    await db.write(record)
    return max(taken, 1)
