"""Import of past sales from a CSV (manager and up), idempotent by order_id: a small file in the
request with a report per row, a large one in the worker with a progress bar (imports/service)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno import csvfile, db, i18n
from retorno.admin.common import admin_of, page_context, record_change, requires_role, uploaded
from retorno.errors import Invalid
from retorno.imports import service as imports
from retorno.web import RowId, error_text, lang_of, now_of


async def _page(request: Request, *, status: int = 200, **extra: Any) -> Template:
    brand = admin_of(request)["brand"]
    context = page_context(
        request,
        columns=imports.COLUMNS,
        inline_rows=imports.INLINE_ROWS,
        max_rows=imports.MAX_ROWS,
        jobs=await imports.recent(brand.id),
        **extra,
    )
    return Template("admin/import.html", status_code=status, context=context)


@get("/import", guards=[requires_role("manager")])
async def import_page(request: Request, slug: FromPath[str]) -> Template:
    return await _page(request)


@post("/import", guards=[requires_role("manager")], status_code=200)
async def import_upload(request: Request, slug: FromPath[str]) -> Template | Redirect:
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    form = await request.form()
    raw = await uploaded(form, "file")
    filename = str(getattr(form.get("file"), "filename", "") or "")
    try:
        checked = imports.read(imports.decode(raw))
    except Invalid as exc:
        return await _page(request, status=422, error=error_text(request, exc))
    if checked.total > imports.INLINE_ROWS:

        async def start() -> int:
            job_id = await imports.start(
                brand_id=brand.id, staff_id=admin["staff"].id, filename=filename, upload=checked, now=now
            )
            await record_change(
                request,
                action="sales.import",
                target=str(job_id),
                after={"file": filename, "rows": checked.total},
            )
            return job_id

        job_id = await db.write(start)
        return Redirect(f"/admin/b/{slug}/import/{job_id}", status_code=303)
    report = await imports.import_now(brand, checked, now)
    counts = {k: sum(1 for r in report if r.status == k) for k in ("imported", "skipped", "rejected")}
    # Each row was its own transaction (the report says which went in); this records the whole.
    await db.write(lambda: record_change(request, action="sales.import", after=counts | {"file": filename}))
    return await _page(request, report=report, counts=counts)


@get("/import/{job_id:int}", guards=[requires_role("manager")])
async def import_job(request: Request, slug: FromPath[str], job_id: RowId) -> Template:
    """A large import's progress (the page reloads itself until the worker is done)."""
    found = await imports.job(admin_of(request)["brand"].id, job_id)  # another brand's job: 404
    return Template("admin/import_job.html", context=page_context(request, job=found))


@get("/import/{job_id:int}/rejected.csv", guards=[requires_role("manager")])
async def rejected_csv(request: Request, slug: FromPath[str], job_id: RowId) -> Response[bytes]:
    """The rows a large import refused, with why: the file to fix and upload again."""
    found = await imports.job(admin_of(request)["brand"].id, job_id)
    # The header stays the import's own column names where they are ones (order_id), so the
    # file goes back in as it is once fixed; the separator is the manager's spreadsheet's.
    lang = lang_of(request)
    body = csvfile.write(
        [i18n.gettext(lang, "Line number"), "order_id", i18n.gettext(lang, "Reason")],
        ([r.line, r.order_id, r.reason] for r in found.problems),
        lang=lang,
    )
    return Response(
        body,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="importacao-{job_id}-recusadas.csv"'},
    )


routes = [import_page, import_upload, import_job, rejected_csv]
