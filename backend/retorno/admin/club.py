"""The benefits club (manager and up): the brand's partner benefits, each with how many shoppers used
it; create, edit, switch off. Every change is audited; a form with mistakes comes back as typed,
with a summary at the top and each field's own message beside it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno import i18n
from retorno.admin.common import admin_of, audited, page_context, requires_role, uploaded
from retorno.club import service as club
from retorno.club.service import Draft
from retorno.errors import N_, Invalid, Problem
from retorno.web import RowId, lang_of, now_of

MANAGER = [requires_role("manager")]
FIELDS = ("title", "partner", "description", "how", "code", "url", "valid_from", "valid_until", "position")
# The form's fields, in the order the error summary lists them.
LABELS = {
    "title": N_("Title"),
    "partner": N_("Partner"),
    "image": N_("Picture"),
    "description": N_("Description"),
    "how": N_("How the shopper uses it"),
    "code": N_("Code to show"),
    "url": N_("Partner's link"),
    "valid_from": N_("First day"),
    "valid_until": N_("Last day"),
    "segments": N_("Who sees it"),
    "position": N_("Position in the list"),
}


def _draft(form: Any) -> Draft:
    """What the manager typed, kept as typed (shown again when something is wrong)."""
    typed = {key: str(form.get(key, "")) for key in FIELDS}
    segments = tuple(str(s) for s in form.getall("segments", []))
    return Draft(**typed, segments=segments, enabled=form.get("enabled") == "1")


def _errors(request: Request, exc: Invalid) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The summary's lines (field, "Label: what is wrong") and each field's own message."""
    lang = lang_of(request)
    summary: list[tuple[str, str]] = []
    by_field: dict[str, str] = {}
    for problem in exc.problems:
        if not isinstance(problem, Problem) or problem.key not in LABELS:
            summary.append(("", i18n.problem_text(lang, problem)))
            continue
        shown = problem.params.get("refusal", problem)
        text = i18n.problem_text(lang, Problem("", "", shown.message, **shown.params))
        by_field.setdefault(problem.key, text)
        summary.append((problem.key, f"{i18n.gettext(lang, LABELS[problem.key])}: {text}"))
    order = list(LABELS)
    summary.sort(key=lambda line: order.index(line[0]) if line[0] in order else -1)
    return summary, by_field


async def _form_page(
    request: Request,
    *,
    draft: Draft,
    benefit: club.BenefitView | None = None,
    status: int = 200,
    **extra: Any,
) -> Template:
    brand = admin_of(request)["brand"]
    segments = sorted(set(await club.known_segments(brand)) | set(draft.segments))
    context = page_context(
        request,
        draft=draft,
        benefit=benefit,
        segments=segments,
        how_names=club.HOW_NAMES,
        **{"summary": [], "field_errors": {}, "picture_dropped": False} | extra,
    )
    return Template("admin/club_benefit.html", status_code=status, context=context)


@get("/club", guards=MANAGER)
async def club_page(request: Request, slug: FromPath[str]) -> Template:
    brand = admin_of(request)["brand"]
    listed = await club.benefits(brand_id=brand.id)
    context = page_context(request, benefits=listed, now=now_of(request), how_names=club.HOW_NAMES)
    return Template("admin/club.html", context=context)


@get("/club/new", guards=MANAGER)
async def new_benefit(request: Request, slug: FromPath[str]) -> Template:
    brand = admin_of(request)["brand"]
    draft = Draft(position=str(await club.next_position(brand_id=brand.id)))
    return await _form_page(request, draft=draft)


async def _read(form: Any, draft: Draft, timezone: str) -> tuple[club.Checked, tuple[bytes, int, int] | None]:
    """The draft checked and the picture re-encoded; Invalid lists the problems of both at once."""
    problems: list[str] = []
    checked = picture = None
    try:
        checked = club.check(draft, timezone=timezone)
    except Invalid as exc:
        problems += exc.problems
    data = await uploaded(form, "image")
    try:
        picture = club.picture(data) if data else None
    except Invalid as exc:
        problems += exc.problems
    if problems or checked is None:
        raise Invalid("%(count)s problem(s) in the benefit", problems, count=len(problems))
    return checked, picture


async def _refused(request: Request, form: Any, exc: Invalid, **extra: Any) -> Template:
    """The form again, as typed, with what is wrong; a picture that was fine must be chosen again
    (a browser never fills a file field back in)."""
    summary, by_field = _errors(request, exc)
    dropped = bool(await uploaded(form, "image")) and "image" not in by_field
    return await _form_page(
        request, status=422, summary=summary, field_errors=by_field, picture_dropped=dropped, **extra
    )


@post("/club", guards=MANAGER, status_code=303)
async def create_benefit(request: Request, slug: FromPath[str]) -> Template | Redirect:
    form = await request.form()
    brand, now, draft = admin_of(request)["brand"], now_of(request), _draft(form)
    try:
        checked, picture = await _read(form, draft, brand.timezone)
        await audited(
            request,
            lambda: club.create(brand_id=brand.id, benefit=checked, image=picture, now=now),
            action="club.create",
            target=draft.title.strip()[:120],
            after=_change(draft) | ({"image": "new"} if picture else {}),
        )
    except Invalid as exc:
        return await _refused(request, form, exc, draft=draft)
    return Redirect(f"/admin/b/{slug}/club?done=club_created", status_code=303)


@get("/club/{benefit_id:int}", guards=MANAGER)
async def edit_benefit(request: Request, slug: FromPath[str], benefit_id: RowId) -> Template:
    brand = admin_of(request)["brand"]
    benefit = await club.get(brand_id=brand.id, benefit_id=benefit_id)
    return await _form_page(request, draft=club.draft_of(benefit, timezone=brand.timezone), benefit=benefit)


@post("/club/{benefit_id:int}", guards=MANAGER, status_code=303)
async def save_benefit(request: Request, slug: FromPath[str], benefit_id: RowId) -> Template | Redirect:
    form = await request.form()
    brand, now, draft = admin_of(request)["brand"], now_of(request), _draft(form)
    benefit = await club.get(brand_id=brand.id, benefit_id=benefit_id)
    remove = form.get("remove_image") == "1"
    try:
        checked, picture = await _read(form, draft, brand.timezone)
        before = _change(club.draft_of(benefit, timezone=brand.timezone))
        after = _change(draft)
        await audited(
            request,
            lambda: club.update(
                brand_id=brand.id,
                benefit_id=benefit_id,
                benefit=checked,
                image=picture,
                remove_image=remove,
                now=now,
            ),
            action="club.update",
            target=draft.title.strip()[:120],
            before={k: v for k, v in before.items() if after.get(k) != v},
            after={k: v for k, v in after.items() if before.get(k) != v}
            | (
                {"image": "new"}
                if picture
                else {"image": "removed"}
                if remove and benefit.image_digest
                else {}
            ),
        )
    except Invalid as exc:
        return await _refused(request, form, exc, draft=draft, benefit=benefit)
    return Redirect(f"/admin/b/{slug}/club?done=club_saved", status_code=303)


@post("/club/{benefit_id:int}/switch", guards=MANAGER, status_code=303)
async def switch_benefit(request: Request, slug: FromPath[str], benefit_id: RowId) -> Redirect:
    """Switch a benefit off (no shopper sees it; its uses stay counted) or on again."""
    form = await request.form()
    brand, now, enabled = admin_of(request)["brand"], now_of(request), form.get("enabled") == "1"
    benefit = await club.get(brand_id=brand.id, benefit_id=benefit_id)
    await audited(
        request,
        lambda: club.set_enabled(brand_id=brand.id, benefit_id=benefit_id, enabled=enabled, now=now),
        action="club.on" if enabled else "club.off",
        target=benefit.title[:120],
        before={"enabled": benefit.enabled},
        after={"enabled": enabled},
    )
    return Redirect(f"/admin/b/{slug}/club?done={'club_on' if enabled else 'club_off'}", status_code=303)


@get("/club/{benefit_id:int}/image.jpg", guards=MANAGER)
async def benefit_image(request: Request, slug: FromPath[str], benefit_id: RowId) -> Response[bytes]:
    """A benefit's picture for the admin (its own copy lives on the brand's host, out of the admin's
    img-src 'self')."""
    found = await club.image(brand_id=admin_of(request)["brand"].id, benefit_id=benefit_id)
    if found is None:
        raise NotFoundException()
    return Response(found[0], media_type="image/jpeg")


def _change(draft: Draft) -> dict[str, Any]:
    """What the audit log keeps of a benefit: the form's values as typed."""
    values = msgspec.structs.asdict(draft)
    values["segments"] = list(draft.segments)
    return values


routes = [club_page, new_benefit, create_benefit, edit_benefit, save_benefit, switch_benefit, benefit_image]
