"""The rewards catalogue: what a brand offers for points, and its shoppers' redemptions.

- A reward is a voucher of R$ X (issued with its code and QR, like any voucher), a product or
  service handed over at the counter (a pick-up code, shown as a QR code, that staff mark as
  delivered), or a conversion into R$ X of cashback (available at once).
- Redeeming holds the shopper's lock and the reward's row (PostgreSQL; SQLite's write lock does
  the same), then checks the reward is on, in stock (redemptions not undone), within the
  shopper's limit and covered by their available points, and takes the points from their lots
  (what expires first, first) in the same transaction: two redemptions at once never spend the
  same points twice or the last unit of stock twice. The app's form token makes a resubmission
  the same redemption.
- Staff undo a redemption with a reason: the points go back to the lots they came from (keeping
  their expiry), the voucher is cancelled (refused if it was used), the cashback taken back
  (refused if it was spent). A delivered product cannot be undone.
- Every query names the brand: another brand's reward or redemption is not found.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from retorno import db
from retorno.bounds import CONTROL_IN_TEXT
from retorno.brands.rules import CashbackRules, PointsRules
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import N_, Conflict, DomainError, Field, Invalid, NotFound
from retorno.ledger import balances, posting
from retorno.outbox import service as outbox
from retorno.points.tables import Reward, RewardRedemption
from retorno.vouchers import service as vouchers

KINDS = ("voucher", "product", "cashback")
KIND_NAMES = {
    "voucher": N_("A voucher"),
    "product": N_("A product or service at the counter"),
    "cashback": N_("Cashback"),
}
STATES = ("issued", "fulfilled", "undone")
MAX_TITLE, MAX_DESCRIPTION, MAX_REASON = 80, 600, 300
MAX_POINTS = 10**9

REASONS = {
    "not_found": N_("This reward is not in the catalogue."),
    "off": N_("This reward is not available now."),
    "out_of_stock": N_("This reward is out of stock."),
    "limit": N_("You have already redeemed this reward as many times as allowed."),
    "not_enough_points": N_("You do not have enough points for this reward."),
}


class RewardRefused(DomainError):
    """Why a redemption was refused; `reason` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason
        self.extra = {"reason": reason}
        self.status_code = 404 if reason == "not_found" else 409
        self.title = "Not found" if reason == "not_found" else "Conflict"


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A reward as the manager typed it (numbers as text: the form's)."""

    kind: str = "voucher"
    title: str = ""
    description: str = ""
    points: str = ""
    value: str = ""  # centavos, already read from reais by the form
    min_order: str = "0"
    valid_days: str = "30"
    stock: str = ""
    per_shopper: str = ""
    position: str = "0"
    enabled: bool = True


class RewardView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    title: str
    description: str
    points: int
    value: int | None
    min_order: int
    valid_days: int
    stock: int | None
    per_shopper: int | None
    position: int
    enabled: bool
    taken: int = 0  # redemptions not undone
    mine: int = 0  # the shopper's, not undone (the app's list)

    @property
    def left(self) -> int | None:
        return None if self.stock is None else max(0, self.stock - self.taken)


class RedemptionView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    reward_id: int
    title: str
    kind: str
    customer_id: int
    customer_name: str
    points: int
    code: str  # a product's pick-up code, or the voucher's
    value: int | None
    state: str
    created_at: dt.datetime
    fulfilled_at: dt.datetime | None
    undone_at: dt.datetime | None
    undone_by: str
    reason: str


def _whole(text: str, field: Field, *, low: int, high: int, empty: int | None = None) -> int | None:
    text = text.strip().replace(".", "")
    if not text:
        if empty is None:
            raise Invalid("%(field)s: is required", field=field)
        return None if empty == -1 else empty
    if not text.isdigit() or not low <= int(text) <= high:
        raise Invalid(
            "%(field)s: must be a whole number from %(low)s to %(high)s",
            field=field,
            low=low,
            high=high,
        )
    return int(text)


def check(draft: Draft) -> dict[str, Any]:
    """The columns of a reward from what was typed; Invalid names the first field that is wrong."""
    title = draft.title.strip()
    if not title or len(title) > MAX_TITLE or CONTROL_IN_TEXT.search(title):
        raise Invalid("%(field)s: from 1 to %(max)s characters", field=Field("title"), max=MAX_TITLE)
    description = draft.description.strip()
    if len(description) > MAX_DESCRIPTION or CONTROL_IN_TEXT.search(description.replace("\n", " ")):
        raise Invalid(
            "%(field)s: at most %(max)s characters", field=Field("description"), max=MAX_DESCRIPTION
        )
    if draft.kind not in KINDS:
        raise Invalid("%(field)s: choose one of the options", field=Field("kind"))
    value = None
    if draft.kind != "product":
        value = _whole(draft.value, Field("value"), low=1, high=10**9)
    return {
        "kind": draft.kind,
        "title": title,
        "description": description,
        "points": _whole(draft.points, Field("points"), low=1, high=MAX_POINTS),
        "value": value,
        "min_order": _whole(draft.min_order, Field("min_order"), low=0, high=10**9, empty=0)
        if draft.kind == "voucher"
        else 0,
        "valid_days": _whole(draft.valid_days, Field("valid_days"), low=1, high=3650, empty=30),
        "stock": _whole(draft.stock, Field("stock"), low=0, high=10**8, empty=-1),
        "per_shopper": _whole(draft.per_shopper, Field("per_shopper"), low=1, high=10**6, empty=-1),
        "position": _whole(draft.position, Field("position"), low=0, high=9999, empty=0),
        "enabled": bool(draft.enabled),
    }


# --- the catalogue ------------------------------------------------------------------------------

_FIELDS = (
    "id",
    "kind",
    "title",
    "description",
    "points",
    "value",
    "min_order",
    "valid_days",
    "stock",
    "per_shopper",
    "position",
    "enabled",
)
_COLUMNS = ", ".join(_FIELDS)
_ONE = f"SELECT {_COLUMNS} FROM rewards WHERE brand = {{}} AND id = {{}}"  # noqa: S608 - our columns
_TAKEN = (
    "SELECT reward, COUNT(*) AS n FROM reward_redemptions WHERE brand = {} AND state <> 'undone' "
    "GROUP BY reward"
)


def _view(row: dict[str, Any], **extra: Any) -> RewardView:
    return RewardView(**(row | {"enabled": bool(row["enabled"])}), **extra)


async def save(*, brand_id: int, draft: Draft, now: dt.datetime, reward_id: int | None = None) -> int:
    values = check(draft)
    if reward_id is None:
        return await db.insert(Reward, brand=brand_id, created_at=now, updated_at=now, **values)
    await get(brand_id, reward_id)
    await Reward.update({getattr(Reward, k): v for k, v in values.items()} | {Reward.updated_at: now}).where(
        (Reward.id == reward_id) & (Reward.brand == brand_id)
    )
    return reward_id


async def get(brand_id: int, reward_id: int) -> RewardView:
    rows = await db.fetch(_ONE, brand_id, reward_id)
    if not rows:
        raise NotFound("no reward %(id)s", id=reward_id)
    taken = await db.fetch(
        "SELECT COUNT(*) AS n FROM reward_redemptions WHERE reward = {} AND state <> 'undone'", reward_id
    )
    return _view(rows[0], taken=taken[0]["n"])


async def of_brand(
    brand_id: int, *, enabled_only: bool = False, customer_id: int | None = None
) -> list[RewardView]:
    """The catalogue in its order (cheapest first within a position), with what was taken."""
    sql = f"SELECT {_COLUMNS} FROM rewards WHERE brand = {{}}"  # noqa: S608
    if enabled_only:
        sql += " AND enabled = {}"
    rows = await db.fetch(sql + " ORDER BY position, points, id", brand_id, *([True] if enabled_only else []))
    taken = {r["reward"]: r["n"] for r in await db.fetch(_TAKEN, brand_id)}
    mine: dict[int, int] = {}
    if customer_id is not None:
        mine = {
            r["reward"]: r["n"]
            for r in await db.fetch(
                "SELECT reward, COUNT(*) AS n FROM reward_redemptions WHERE brand = {} AND customer = {} "
                "AND state <> 'undone' GROUP BY reward",
                brand_id,
                customer_id,
            )
        }
    return [_view(r, taken=taken.get(r["id"], 0), mine=mine.get(r["id"], 0)) for r in rows]


# --- redeeming ----------------------------------------------------------------------------------


class Redeemed(msgspec.Struct, frozen=True, kw_only=True):
    redemption_id: int
    kind: str
    points: int
    code: str  # the voucher's (grouped) or the product's pick-up code; "" for cashback
    value: int | None
    created: bool


async def _existing(brand_id: int, customer_id: int, key: str) -> Redeemed | None:
    rows = await db.fetch(
        "SELECT r.id, r.points, r.code, r.voucher, w.kind, w.value FROM reward_redemptions r "
        "JOIN rewards w ON w.id = r.reward WHERE r.brand = {} AND r.customer = {} AND r.request_key = {}",
        brand_id,
        customer_id,
        key,
    )
    if not rows:
        return None
    row = rows[0]
    return Redeemed(
        redemption_id=row["id"],
        kind=row["kind"],
        points=row["points"],
        code=row["code"],
        value=row["value"],
        created=False,
    )


async def redeem(
    *, brand: BrandView, customer_id: int, reward_id: int, request_key: str, now: dt.datetime
) -> Redeemed:
    """Exchange the shopper's points for one reward, atomically; RewardRefused says why not."""
    key = request_key.strip()[:64]
    if not key:
        raise Invalid("%(field)s: is required", field=Field("key"))

    async def work() -> Redeemed:
        await customers.lock(customer_id)
        found = await _existing(brand.id, customer_id, key)
        if found is not None:
            return found
        rows = await db.fetch(_ONE, brand.id, reward_id)
        if not rows:
            raise RewardRefused("not_found")
        await db.lock_row("rewards", reward_id)  # stock is decided one redemption at a time
        reward = _view(rows[0])
        if not reward.enabled:
            raise RewardRefused("off")
        if reward.stock is not None:
            taken = await db.fetch(
                "SELECT COUNT(*) AS n FROM reward_redemptions WHERE reward = {} AND state <> 'undone'",
                reward_id,
            )
            if taken[0]["n"] >= reward.stock:
                raise RewardRefused("out_of_stock")
        if reward.per_shopper is not None:
            mine = await db.fetch(
                "SELECT COUNT(*) AS n FROM reward_redemptions WHERE reward = {} AND customer = {} "
                "AND state <> 'undone'",
                reward_id,
                customer_id,
            )
            if mine[0]["n"] >= reward.per_shopper:
                raise RewardRefused("limit")
        await posting.mature(customer_id, now)
        allocations, short = await posting.take(
            brand.id, customer_id, reward.points, now, unit=posting.POINTS
        )
        if short:
            raise RewardRefused("not_enough_points")
        entry_id = await posting.entry(
            brand_id=brand.id,
            customer_id=customer_id,
            kind="reward",
            unit=posting.POINTS,
            amount=-reward.points,
            at=now,
            now=now,
            allocations=allocations,
            note=reward.title,
        )
        code, voucher_id, lot_id = "", None, None
        if reward.kind == "voucher":
            issued = await vouchers.issue(
                brand_id=brand.id,
                customer_id=customer_id,
                source="points",
                now=now,
                valid_days=reward.valid_days,
                amount=reward.value,
                min_order=reward.min_order,
                note=reward.title,
            )
            code = issued.code
            voucher_row = await db.fetch(
                "SELECT id FROM vouchers WHERE brand = {} AND code = {}",
                brand.id,
                vouchers.normalize_code(code),
            )
            voucher_id = voucher_row[0]["id"]
        elif reward.kind == "cashback":
            credit = await posting.credit(
                brand=brand,
                customer_id=customer_id,
                amount=reward.value or 0,
                source="points",
                at=now,
                now=now,
                kind="conversion",
                breakdown={"reward": reward.title, "points": reward.points},
                note=reward.title,
                pending=False,
            )
            lot_id = credit.lot_id
        else:
            code = vouchers.new_code()
        redemption_id = await db.insert(
            RewardRedemption,
            brand=brand.id,
            reward=reward_id,
            customer=customer_id,
            request_key=key,
            points=reward.points,
            entry=entry_id,
            voucher=voucher_id,
            lot=lot_id,
            code=code.replace("-", ""),
            state="issued",
            created_at=now,
        )
        await outbox.emit(
            brand_id=brand.id,
            kind="reward.redeemed",
            now=now,
            payload={
                "customer_id": customer_id,
                "redemption_id": redemption_id,
                "reward_id": reward_id,
                "reward": reward.title,
                "kind": reward.kind,
                "points": reward.points,
                "value": reward.value,
            },
        )
        return Redeemed(
            redemption_id=redemption_id,
            kind=reward.kind,
            points=reward.points,
            code=code.replace("-", ""),
            value=reward.value,
            created=True,
        )

    return await db.write(work)


# --- what staff do ------------------------------------------------------------------------------

_REDEMPTIONS = (
    "SELECT r.id, r.reward AS reward_id, w.title, w.kind, r.customer AS customer_id, "
    "COALESCE(c.name, '') AS customer_name, r.points, r.code, w.value, r.state, r.created_at, "
    "r.fulfilled_at, r.undone_at, r.undone_by, r.reason, r.voucher, r.lot, r.entry "
    "FROM reward_redemptions r JOIN rewards w ON w.id = r.reward JOIN customers c ON c.id = r.customer "
    "WHERE r.brand = {}"
)


def _redemption(row: dict[str, Any]) -> RedemptionView:
    return RedemptionView(**{k: v for k, v in row.items() if k not in ("voucher", "lot", "entry")})


async def redemptions(
    brand_id: int, *, customer_id: int | None = None, code: str = "", limit: int = 50
) -> list[RedemptionView]:
    """The newest redemptions (a shopper's, or the one with a pick-up or voucher code)."""
    sql, args = _REDEMPTIONS, list[Any]([brand_id])
    if customer_id is not None:
        sql += " AND r.customer = {}"
        args.append(customer_id)
    if code:
        sql += " AND r.code = {}"
        args.append(vouchers.normalize_code(code))
    rows = await db.fetch(sql + " ORDER BY r.id DESC LIMIT {}", *args, limit)
    return [_redemption(r) for r in rows]


async def _locked_redemption(brand_id: int, redemption_id: int) -> dict[str, Any]:
    rows = await db.fetch(_REDEMPTIONS + " AND r.id = {}", brand_id, redemption_id)
    if not rows:
        raise NotFound("no redemption %(id)s", id=redemption_id)
    await customers.lock(rows[0]["customer_id"])
    await db.lock_row("reward_redemptions", redemption_id)
    again = await db.fetch(_REDEMPTIONS + " AND r.id = {}", brand_id, redemption_id)  # as locked
    return again[0]


async def fulfil(*, brand_id: int, redemption_id: int, now: dt.datetime) -> RedemptionView:
    """A product handed over at the counter (once: a second time changes nothing)."""

    async def work() -> RedemptionView:
        row = await _locked_redemption(brand_id, redemption_id)
        if row["kind"] != "product":
            raise Conflict("only a product or service is handed over at the counter")
        if row["state"] == "undone":
            raise Conflict("this redemption was undone")
        if row["state"] == "issued":
            await RewardRedemption.update(
                {RewardRedemption.state: "fulfilled", RewardRedemption.fulfilled_at: now}
            ).where(RewardRedemption.id == redemption_id)
            row = row | {"state": "fulfilled", "fulfilled_at": now}
        return _redemption(row)

    return await db.write(work)


async def undo(
    *, brand: BrandView, redemption_id: int, by: str, reason: str, now: dt.datetime
) -> RedemptionView:
    """Give the shopper their points back and take back what they got, with a reason."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON or CONTROL_IN_TEXT.search(reason):
        raise Invalid("%(field)s: from 1 to %(max)s characters", field=Field("reason"), max=MAX_REASON)

    async def work() -> RedemptionView:
        row = await _locked_redemption(brand.id, redemption_id)
        if row["state"] == "undone":
            return _redemption(row)
        if row["state"] == "fulfilled":
            raise Conflict("a product already handed over cannot be undone")
        if row["voucher"] is not None:
            open_uses = await db.fetch(
                "SELECT 1 AS x FROM voucher_uses WHERE voucher = {} AND released_at IS NULL", row["voucher"]
            )
            if open_uses:
                raise Conflict("the voucher of this reward was already used")
            await db.fetch(
                "UPDATE vouchers SET cancelled_at = {} WHERE id = {} AND cancelled_at IS NULL",
                now,
                row["voucher"],
            )
        if row["lot"] is not None:
            lot = await db.fetch("SELECT amount, remaining FROM ledger_lots WHERE id = {}", row["lot"])
            if lot[0]["remaining"] < lot[0]["amount"]:
                raise Conflict("the cashback of this reward was already spent")
            await posting.reverse_lot(
                brand_id=brand.id, customer_id=row["customer_id"], lot_id=row["lot"], note=reason, now=now
            )
        await posting.give_back(
            brand_id=brand.id,
            customer_id=row["customer_id"],
            taken_by=row["entry"],
            kind="reward_cancel",
            amount=row["points"],
            now=now,
            note=reason,
        )
        await RewardRedemption.update(
            {
                RewardRedemption.state: "undone",
                RewardRedemption.undone_at: now,
                RewardRedemption.undone_by: by[:200],
                RewardRedemption.reason: reason,
            }
        ).where(RewardRedemption.id == redemption_id)
        await outbox.emit(
            brand_id=brand.id,
            kind="reward.cancelled",
            now=now,
            payload={
                "customer_id": row["customer_id"],
                "redemption_id": redemption_id,
                "reward_id": row["reward_id"],
                "points": row["points"],
                "reason": reason,
            },
        )
        return _redemption(
            row | {"state": "undone", "undone_at": now, "undone_by": by[:200], "reason": reason}
        )

    return await db.write(work)


async def balance(*, brand: BrandView, customer_id: int, now: dt.datetime) -> balances.Balance:
    """The shopper's points: available, pending, and what expires soonest."""
    return await balances.balance(brand=brand, customer_id=customer_id, now=now, unit=posting.POINTS)


# The demo brand's catalogue (`retorno demo`): in the brand's language, as a manager would write it.
DEMO = {
    "bella": (
        Draft(
            kind="voucher",
            title="Vale de R$ 10",
            points="500",
            value="1000",
            min_order="5000",
            valid_days="30",
        ),
        Draft(
            kind="product",
            title="Nécessaire Bella",
            description="A nécessaire de viagem da Bella, para retirar em qualquer loja.",
            points="1200",
            stock="50",
            per_shopper="1",
            position="1",
            valid_days="60",
        ),
        Draft(
            kind="cashback",
            title="R$ 5 de cashback",
            points="300",
            value="500",
            per_shopper="3",
            position="2",
        ),
    )
}


async def seed_demo(*, brand_id: int, slug: str, now: dt.datetime) -> int:
    """The demo brand's rewards, once (none is added to a catalogue that has any): how many."""
    if slug not in DEMO or await of_brand(brand_id):
        return 0
    for draft in DEMO[slug]:
        await save(brand_id=brand_id, draft=draft, now=now)
    return len(DEMO[slug])


# The demo's points (`retorno demo` turns them on for Bella beside its cashback): 1 point per real,
# 2 on make-up, valid a year. The pack in branding/ stays cashback-only, as the tests know it.
DEMO_POINTS = {
    "bella": PointsRules(
        earn=CashbackRules(rate_bp=100, pending_days=7, expiry_days=365, categories={"maquiagem": 200})
    )
}
