"""Points (Programa › Catálogo de pontos): the rewards catalogue the manager edits, and the
redemptions staff look up by code, hand over at the counter or undo with a reason. Every change
is audited; a form with a mistake comes back as typed, saying what is wrong."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from retorno.admin.common import admin_of, audited, page_context, requires_role
from retorno.errors import DomainError, Invalid
from retorno.points import service as points
from retorno.points.service import Draft
from retorno.typed import as_typed, centavos
from retorno.web import RowId, error_text, now_of

MANAGER, STAFF = [requires_role("manager")], [requires_role("operator")]
FIELDS = (
    "kind",
    "title",
    "description",
    "points",
    "min_order",
    "valid_days",
    "stock",
    "per_shopper",
    "position",
)


def _draft(form: Any) -> tuple[Draft, str]:
    """What the manager typed, and the value as typed in reais (the draft has it in centavos)."""
    typed = {key: str(form.get(key, "")) for key in FIELDS}
    value = str(form.get("value", "")).strip()
    try:
        typed["value"] = str(centavos(value)) if value else ""
        typed["min_order"] = str(centavos(typed["min_order"])) if typed["min_order"].strip() else "0"
    except Invalid:
        typed["value"] = "x"  # refused by the check, naming the field
    return Draft(**typed, enabled=form.get("enabled") == "1"), value


def _typed(reward: points.RewardView) -> tuple[Draft, str]:
    return Draft(
        kind=reward.kind,
        title=reward.title,
        description=reward.description,
        points=str(reward.points),
        min_order=as_typed(reward.min_order),
        valid_days=str(reward.valid_days),
        stock="" if reward.stock is None else str(reward.stock),
        per_shopper="" if reward.per_shopper is None else str(reward.per_shopper),
        position=str(reward.position),
        enabled=reward.enabled,
    ), as_typed(reward.value)


@get("/points", guards=STAFF)
async def points_page(request: Request, slug: FromPath[str]) -> Template:
    brand = admin_of(request)["brand"]
    code = request.query_params.get("code", "").strip()
    context = page_context(
        request,
        rewards=await points.of_brand(brand.id),
        redemptions=await points.redemptions(brand.id, code=code, limit=50),
        code=code,
        kind_names=points.KIND_NAMES,
        program=brand.rules().program,
    )
    return Template("admin/points.html", context=context)


def _form(request: Request, draft: Draft, value: str, reward: Any = None, **extra: Any) -> Template:
    context = page_context(
        request, draft=draft, value=value, reward=reward, kind_names=points.KIND_NAMES, **extra
    )
    return Template(
        "admin/points_reward.html", context=context, status_code=422 if extra.get("error") else 200
    )


@get("/points/new", guards=MANAGER)
async def new_reward(request: Request, slug: FromPath[str]) -> Template:
    return _form(request, Draft(), "")


@post("/points", guards=MANAGER, status_code=303)
async def create_reward(request: Request, slug: FromPath[str]) -> Template | Redirect:
    brand, now = admin_of(request)["brand"], now_of(request)
    draft, value = _draft(await request.form())
    try:
        await audited(
            request,
            lambda: points.save(brand_id=brand.id, draft=draft, now=now),
            action="reward.create",
            target=draft.title.strip()[:120],
            after=msgspec.structs.asdict(draft),
        )
    except Invalid as exc:
        return _form(request, draft, value, error=error_text(request, exc))
    return Redirect(f"/admin/b/{slug}/points?done=reward_created", status_code=303)


@get("/points/{reward_id:int}", guards=MANAGER)
async def edit_reward(request: Request, slug: FromPath[str], reward_id: RowId) -> Template:
    reward = await points.get(admin_of(request)["brand"].id, reward_id)
    draft, value = _typed(reward)
    return _form(request, draft, value, reward)


@post("/points/{reward_id:int}", guards=MANAGER, status_code=303)
async def save_reward(request: Request, slug: FromPath[str], reward_id: RowId) -> Template | Redirect:
    brand, now = admin_of(request)["brand"], now_of(request)
    reward = await points.get(brand.id, reward_id)
    draft, value = _draft(await request.form())
    before = msgspec.structs.asdict(_typed(reward)[0])
    after = msgspec.structs.asdict(draft)
    try:
        await audited(
            request,
            lambda: points.save(brand_id=brand.id, draft=draft, now=now, reward_id=reward_id),
            action="reward.update",
            target=draft.title.strip()[:120],
            before={k: v for k, v in before.items() if after.get(k) != v},
            after={k: v for k, v in after.items() if before.get(k) != v},
        )
    except Invalid as exc:
        return _form(request, draft, value, reward, error=error_text(request, exc))
    return Redirect(f"/admin/b/{slug}/points?done=reward_saved", status_code=303)


async def _staff_action(
    request: Request, slug: str, work: Any, action: str, target: str, **change: Any
) -> Any:
    try:
        await audited(request, work, action=action, target=target, **change)
    except DomainError as exc:
        brand = admin_of(request)["brand"]
        context = page_context(
            request,
            rewards=await points.of_brand(brand.id),
            redemptions=await points.redemptions(brand.id, limit=50),
            code="",
            kind_names=points.KIND_NAMES,
            program=brand.rules().program,
            error=error_text(request, exc),
        )
        return Template("admin/points.html", context=context, status_code=exc.status_code)
    return Redirect(f"/admin/b/{slug}/points?done={action.replace('.', '_')}", status_code=303)


@post("/points/redemptions/{redemption_id:int}/undo", guards=STAFF, status_code=303)
async def undo_redemption(request: Request, slug: FromPath[str], redemption_id: RowId) -> Any:
    """Give the points back and take the reward back, with the reason staff typed."""
    admin, now = admin_of(request), now_of(request)
    reason = str((await request.form()).get("reason", ""))
    return await _staff_action(
        request,
        slug,
        lambda: points.undo(
            brand=admin["brand"], redemption_id=redemption_id, by=admin["staff"].email, reason=reason, now=now
        ),
        "reward.undo",
        str(redemption_id),
        after={"reason": reason.strip()[:300]},
    )


@post("/points/redemptions/{redemption_id:int}/fulfil", guards=STAFF, status_code=303)
async def fulfil_redemption(request: Request, slug: FromPath[str], redemption_id: RowId) -> Any:
    """A product or service handed over at the counter."""
    brand, now = admin_of(request)["brand"], now_of(request)
    return await _staff_action(
        request,
        slug,
        lambda: points.fulfil(brand_id=brand.id, redemption_id=redemption_id, now=now),
        "reward.fulfil",
        str(redemption_id),
    )


routes = [
    points_page,
    new_reward,
    create_reward,
    edit_reward,
    save_reward,
    undo_redemption,
    fulfil_redemption,
]
