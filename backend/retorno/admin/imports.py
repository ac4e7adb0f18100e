"""Import of past sales from a CSV (manager and up), idempotent by order_id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from retorno.admin.common import (
    admin_of,
    centavos,
    now_of,
    page_context,
    record_change,
    requires_role,
    when_of,
)
from retorno.brands.service import BrandView
from retorno.customers.service import Identity
from retorno.errors import DomainError, Invalid
from retorno.ledger import service as ledger

IMPORT_COLUMNS = ("order_id", "occurred_at", "total", "shipping", "cpf", "email", "phone", "name")
IMPORT_MAX_ROWS = 5000


async def import_sales(brand: BrandView, text: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Each row through the same idempotent ledger.record_sale as the API: a row already imported
    (same order_id, same content) is skipped; a row with a problem is rejected with the reason."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"order_id", "total"} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(
            f"the CSV needs the columns {', '.join(sorted(missing))} (and one of cpf, email, phone)"
        )
    report = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > IMPORT_MAX_ROWS:
            raise Invalid(f"at most {IMPORT_MAX_ROWS} rows in one file; split it")
        order_id = (row.get("order_id") or "").strip()
        try:
            identity = Identity(
                cpf=(row.get("cpf") or "").strip() or None,
                email=(row.get("email") or "").strip() or None,
                phone=(row.get("phone") or "").strip() or None,
                name=(row.get("name") or "").strip() or None,
            )
            if not (identity.cpf or identity.email or identity.phone):
                raise Invalid("a cpf, an email or a phone is needed")
            shipping = (row.get("shipping") or "").strip()
            when = (row.get("occurred_at") or "").strip()
            sale = ledger.SaleIn(
                order_id=order_id,
                customer=identity,
                total=centavos(row.get("total") or ""),
                shipping=centavos(shipping) if shipping and shipping not in ("0", "0,00", "0.00") else 0,
                occurred_at=when_of(when, brand) if when else None,
                channel="import",
            )
            body, created = await ledger.record_sale(brand=brand, sale=sale, now=now)
            outcome = {"status": "imported" if created else "skipped", "cashback": body["cashback"]["amount"]}
        except DomainError as exc:
            outcome = {"status": "rejected", "reason": exc.detail}
        report.append({"line": number, "order_id": order_id, **outcome})
    return report


@get("/import", guards=[requires_role("manager")])
async def import_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/import.html", context=page_context(request, columns=IMPORT_COLUMNS))


@post("/import", guards=[requires_role("manager")], status_code=200)
async def import_upload(request: Request, slug: FromPath[str]) -> Template:
    admin, now = admin_of(request), now_of(request)
    brand = admin["brand"]
    form = await request.form()
    upload = form.get("file")
    raw = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # spreadsheets saved in Windows-1252
    try:
        report = await import_sales(brand, text, now)
    except Invalid as exc:
        context = page_context(request, columns=IMPORT_COLUMNS, error=exc.detail)
        return Template("admin/import.html", status_code=422, context=context)
    counts = {k: sum(1 for r in report if r["status"] == k) for k in ("imported", "skipped", "rejected")}
    await record_change(request, action="sales.import", after=counts)
    context = page_context(request, columns=IMPORT_COLUMNS, report=report, counts=counts)
    return Template("admin/import.html", context=context)


routes = [import_page, import_upload]
