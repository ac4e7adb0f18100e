"""Branding (owner, manager): name, colours, logo, regulations, contacts, hosts; the pack's export
and import."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import (
    admin_of,
    now_of,
    page_context,
    record_change,
    requires_role,
)
from retorno.brands import service as brands
from retorno.errors import Invalid

BRANDING_FIELDS = (
    "name",
    "short_name",
    "primary",
    "accent",
    "background",
    "email",
    "whatsapp",
    "phone",
    "hours",
)
AA = 4.5  # WCAG AA contrast for text
BEST = "at best {ratio:.2f}:1; AA: 4.5:1"


def _branded_pack(current: Any, form: dict[str, str], logo: bytes | None, regulations: str | None) -> Any:
    """The brand's pack with the form's changes, read back through the pack checks (colours, lengths,
    the logo by its content); an Invalid lists every problem. Also refuses colours that fail AA."""
    from retorno.brands import images
    from retorno.brands.pack import check_edited, to_toml

    doc = to_toml(current)
    doc["name"], doc["short_name"] = form["name"], form["short_name"]
    doc.setdefault("theme", {}).update({k: form[k] for k in ("primary", "accent", "background")})
    doc.setdefault("contact", {}).update({k: form[k] for k in ("email", "whatsapp", "phone", "hours")})
    files = {}
    if logo is not None:
        files["upload"], doc["theme"]["logo"] = logo, "upload"
    if regulations is not None:
        files["regulations.md"], doc["theme"]["regulations"] = regulations.encode(), "regulations.md"
    pack = check_edited(doc, base=current, files=files)
    problems = []
    for name, colour in (("primary", pack.theme.primary), ("accent", pack.theme.accent)):
        ratio = images.contrast(colour, images.text_on(colour))
        if ratio < AA:
            problems.append(
                f"theme.{name}: no text colour reads on {colour} (at best {ratio:.2f}:1; AA: 4.5:1)"
            )
    ratio = images.contrast(pack.theme.background, "#111111")
    if ratio < AA:
        problems.append(
            f"theme.background: text on {pack.theme.background} has contrast {ratio:.2f}:1, AA needs 4.5:1"
        )
    if problems:
        raise Invalid("; ".join(problems), problems)
    return pack


async def _branding_context(request: Request, **extra: Any) -> dict[str, Any]:
    brand = admin_of(request)["brand"]
    current = await brands.current_regulations(brand.id)
    values = extra.pop("values", None) or {
        "name": brand.name,
        "short_name": brand.short_name,
        "primary": brand.primary_color,
        "accent": brand.accent_color,
        "background": brand.background_color,
        "email": brand.contact_email,
        "whatsapp": brand.contact_whatsapp,
        "phone": brand.contact_phone,
        "hours": brand.contact_hours,
    }
    return page_context(request, values=values, regulations=current, **extra)


@get("/branding", guards=[requires_role("manager")])
async def branding_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/branding.html", context=await _branding_context(request))


@post("/branding", guards=[requires_role("manager")], status_code=303)
async def save_branding(request: Request, slug: FromPath[str]) -> Any:
    """Save name, colours, contacts, the logo (PNG, JPEG or WebP) and the regulations (a new version
    when they change); the app's version goes up, so installed apps fetch the new theme."""
    now = now_of(request)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in BRANDING_FIELDS}
    upload = form.get("logo")
    logo = await upload.read() if upload is not None and hasattr(upload, "read") else None
    regulations = str(form.get("regulations", "")).strip() or None
    try:
        pack = _branded_pack(await brands.export_pack(slug), values, logo or None, regulations)
        before = (await _branding_context(request))["values"]
        await brands.import_pack(pack, base_host=request.app.settings.base_host, now=now)
    except Invalid as exc:
        context = await _branding_context(request, error=exc.problems, values=values)
        return Template("admin/branding.html", status_code=422, context=context)
    await record_change(
        request,
        action="brand.branding",
        target=slug,
        before=before,
        after=values | {"logo": "new" if logo else "kept"},
    )
    return Redirect(f"/admin/b/{slug}/branding", status_code=303)


@get("/pack.toml", guards=[requires_role("manager")])
async def export_brand_toml(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """The brand as its pack's brand.toml (logo and regulations stay in the admin)."""
    import tomli_w

    from retorno.brands.pack import to_toml

    text = tomli_w.dumps(to_toml(await brands.export_pack(slug)))
    return Response(
        text.encode(),
        media_type="application/toml",
        headers={"content-disposition": f'attachment; filename="{slug}-brand.toml"'},
    )


routes = [branding_page, save_branding, export_brand_toml]
