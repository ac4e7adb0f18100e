"""Branding (owner, manager): name, colours, logo, regulations, contacts, hosts; the pack's export
and import."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from markupsafe import Markup

from retorno.admin.common import admin_of, audited, page_context, requires_role, uploaded
from retorno.admin.rules import rules_page_context
from retorno.brands import images
from retorno.brands import service as brands
from retorno.brands.pack import check_edited, from_upload
from retorno.brands.pack_writer import to_toml, to_zip
from retorno.errors import N_, Field, Invalid, Number, Problem
from retorno.onboarding.brand import import_brand
from retorno.web import now_of, problem_texts, settings_of

BRANDING_FIELDS = (
    "name",
    "short_name",
    "primary",
    "accent",
    "background",
    "font",
    "corners",
    "email",
    "whatsapp",
    "phone",
    "hours",
    "hosts",
)
AA = 4.5  # WCAG AA contrast for text
FONTS = (
    ("system", N_("The device's own (no download)")),
    ("inter", "Inter"),
    ("nunito", "Nunito"),
    ("lora", N_("Lora (with serifs)")),
)
CORNERS = (("round", N_("Round")), ("soft", N_("Soft")), ("square", N_("Square")))
# The form's fields by the pack keys its problems name: a problem reads "Main colour: ...".
LABELS = {
    "name": N_("Name"),
    "short_name": N_("Name under the icon"),
    "theme.primary": N_("Main colour"),
    "theme.accent": N_("Accent colour"),
    "theme.background": N_("Background colour"),
    "theme.font": N_("Typeface"),
    "theme.corners": N_("Corners"),
    "theme.logo": N_("Logo"),
    "theme.banner": N_("Banner"),
    "theme.regulations": N_("Regulations"),
    "contact.email": N_("Customer service e-mail"),
    "contact.whatsapp": "WhatsApp",
    "contact.phone": N_("Phone"),
    "contact.hours": N_("Hours"),
    "hosts": N_("Domains"),
}


class Images(msgspec.Struct, frozen=True):
    """The form's pictures: a new logo, a new banner, or the banner taken away (None: kept)."""

    logo: bytes | None = None
    banner: bytes | None = None
    remove_banner: bool = False


def _branded_pack(current: Any, form: dict[str, str], pictures: Images, regulations: str | None) -> Any:
    """The brand's pack with the form's changes, read back through the pack checks (colours, lengths,
    the logo and banner by their content); an Invalid lists every problem. Also refuses colours
    that fail AA."""

    doc = to_toml(current)
    doc["name"], doc["short_name"] = form["name"], form["short_name"]
    theme = ("primary", "accent", "background", "font", "corners")
    doc.setdefault("theme", {}).update({k: form[k] for k in theme})
    doc.setdefault("contact", {}).update({k: form[k] for k in ("email", "whatsapp", "phone", "hours")})
    doc["hosts"] = hosts_of(form.get("hosts", ""))
    files = {}
    if pictures.logo is not None:
        files["upload"], doc["theme"]["logo"] = pictures.logo, "upload"
    if pictures.banner is not None:
        files["banner-upload"], doc["theme"]["banner"] = pictures.banner, "banner-upload"
    elif pictures.remove_banner:
        doc["theme"].pop("banner", None)
    if regulations is not None:
        files["regulations.md"], doc["theme"]["regulations"] = regulations.encode(), "regulations.md"
    pack = check_edited(doc, base=current, files=files)
    problems: list[str] = []
    for name, colour in (("primary", pack.theme.primary), ("accent", pack.theme.accent)):
        ratio = images.contrast(colour, images.text_on(colour))
        if ratio < AA:
            problems.append(
                Problem(
                    "",
                    f"theme.{name}",
                    N_("no text colour reads on %(colour)s (at best %(ratio)s:1; AA: 4.5:1)"),
                    colour=colour,
                    ratio=Number(ratio),
                )
            )
    ratio = images.contrast(pack.theme.background, "#111111")
    if ratio < AA:
        problems.append(
            Problem(
                "",
                "theme.background",
                N_("text on %(colour)s has contrast %(ratio)s:1, AA needs 4.5:1"),
                colour=pack.theme.background,
                ratio=Number(ratio),
            )
        )
    if problems:
        raise Invalid("%(count)s problem(s) in the brand pack", problems, count=len(problems))
    return pack


def _pictures_change(pictures: Images) -> dict[str, str]:
    """What the audit log says of the pictures: only what changed."""
    change = {"logo": "new"} if pictures.logo else {}
    if pictures.banner or pictures.remove_banner:
        change["banner"] = "new" if pictures.banner else "removed"
    return change


def hosts_of(text: str) -> list[str]:
    """Custom hosts typed one per line (or separated by commas or spaces)."""
    return sorted({h.strip().lower().rstrip(".") for h in text.replace(",", " ").split() if h.strip()})


async def _branding_context(request: Request, **extra: Any) -> dict[str, Any]:
    brand = admin_of(request)["brand"]
    settings = settings_of(request)
    current = await brands.current_regulations(brand.id)
    values = extra.pop("values", None) or {
        "name": brand.name,
        "short_name": brand.short_name,
        "primary": brand.primary_color,
        "accent": brand.accent_color,
        "background": brand.background_color,
        "font": brand.font,
        "corners": brand.corners,
        "email": brand.contact_email,
        "whatsapp": brand.contact_whatsapp,
        "phone": brand.contact_phone,
        "hours": brand.contact_hours,
        "hosts": "\n".join(await brands.custom_hosts(brand.id)),
    }
    return page_context(
        request,
        values=values,
        regulations=current,
        default_host=f"{brand.slug}.{settings.base_host}",
        fonts=FONTS,
        corners=CORNERS,
        sample_date=now_of(request) + dt.timedelta(days=7),
        **extra,
    )


@get("/branding", guards=[requires_role("manager")])
async def branding_page(request: Request, slug: FromPath[str]) -> Template:
    return Template("admin/branding.html", context=await _branding_context(request))


@post("/branding", guards=[requires_role("manager")], status_code=303)
async def save_branding(request: Request, slug: FromPath[str]) -> Template | Redirect:
    """Save name, colours, contacts, the logo (PNG, JPEG or WebP) and the regulations (a new version
    when they change); the app's version goes up, so installed apps fetch the new theme."""
    now = now_of(request)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in BRANDING_FIELDS}
    brand = admin_of(request)["brand"]
    for key, current in (("font", brand.font), ("corners", brand.corners)):  # a form from before them
        values[key] = values[key] if key in form else current
    pictures = Images(
        logo=await uploaded(form, "logo") or None,
        banner=await uploaded(form, "banner") or None,
        remove_banner=form.get("remove_banner") == "1",
    )
    regulations = str(form.get("regulations", "")).strip() or None
    if form.get("action") == "preview":  # the regulations as the shopper will read them; nothing saved
        preview = brands.render_markdown(regulations or "")
        context = await _branding_context(request, values=values, preview=Markup(preview))  # noqa: S704 - nh3-clean
        return Template("admin/branding.html", status_code=200, context=context | {"draft": regulations})
    try:
        pack = _branded_pack(await brands.export_pack(slug), values, pictures, regulations)
        before = (await _branding_context(request))["values"]
        await audited(
            request,
            lambda: import_brand(pack, base_host=settings_of(request).base_host, now=now),
            action="brand.branding",
            target=slug,
            before=before,
            after=values | _pictures_change(pictures),
        )
    except Invalid as exc:
        context = await _branding_context(request, error=problem_texts(request, exc, LABELS), values=values)
        return Template("admin/branding.html", status_code=422, context=context | {"draft": regulations})
    return Redirect(f"/admin/b/{slug}/branding?done=saved", status_code=303)


@get("/pack.zip", guards=[requires_role("manager")])
async def export_pack(request: Request, slug: FromPath[str]) -> Response[bytes]:
    """The brand as a pack (brand.toml, logo.png, regulations.md): keep it in version control,
    import it elsewhere with `retorno brands import`, or bring it back here."""
    return Response(
        to_zip(await brands.export_pack(slug)),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{slug}-pack.zip"'},
    )


@post("/pack", guards=[requires_role("manager")], status_code=303)
async def import_pack(request: Request, slug: FromPath[str]) -> Template | Redirect:
    """Replace the brand's setup with an uploaded pack (.zip, or brand.toml alone keeping the logo
    and regulations): every pack check applies, and nothing changes unless all pass."""

    current = await brands.export_pack(slug)
    try:
        pack = from_upload(await uploaded(await request.form(), "pack"), base=current)
        if pack.slug != slug:
            raise Invalid(
                "%(field)s: this pack is for %(pack)r, not %(slug)r",
                field=Field("slug"),
                pack=pack.slug,
                slug=slug,
            )
        await audited(
            request,
            lambda: import_brand(pack, base_host=settings_of(request).base_host, now=now_of(request)),
            action="brand.pack_import",
            target=slug,
            before=to_toml(current),
            after=to_toml(pack),
        )
    except Invalid as exc:
        context = await rules_page_context(request, pack_error=problem_texts(request, exc))
        return Template("admin/rules.html", status_code=422, context=context)
    return Redirect(f"/admin/b/{slug}/rules?done=pack", status_code=303)


routes = [branding_page, save_branding, export_pack, import_pack]
