"""Reading the ledger: balances and the statement from the lots and entries (the hot paths, in
hand-written SQL), and a brand's accounts as of any moment from the postings alone."""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from retorno import cache, db
from retorno.brands.service import BrandView
from retorno.errors import Field, Invalid
from retorno.ledger import posting
from retorno.ledger.posting import ENTRY_KINDS, MONEY, POINTS_KINDS, utc


class Expiring(msgspec.Struct, kw_only=True):
    amount: int
    expires_at: str | None


class Balance(msgspec.Struct, kw_only=True):
    available: int
    pending: int
    expiring: list[Expiring]
    currency: str
    debt: int = 0


class StatementLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One movement, as the API sends it (UTC datetimes; a credit's stored breakdown as it is)."""

    id: int
    kind: str
    amount: int
    occurred_at: dt.datetime
    order_id: str | None
    status: str | UnsetType = UNSET  # a credit's: pending | available | expired
    available_at: dt.datetime | UnsetType = UNSET
    expires_at: dt.datetime | UnsetType | None = UNSET
    breakdown: msgspec.Raw | UnsetType = UNSET
    note: str | UnsetType = UNSET


def iso(value: dt.datetime | None) -> str | None:
    return utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


_SUMS = """
SELECT CAST(COALESCE(SUM(CASE WHEN available_at <= {} THEN remaining END), 0) AS BIGINT) AS available,
       CAST(COALESCE(SUM(CASE WHEN available_at > {} THEN remaining END), 0) AS BIGINT) AS pending,
       COALESCE((SELECT debt FROM ledger_accounts WHERE customer = {}), 0) AS debt,
       MIN(CASE WHEN available_at > {} THEN available_at END) AS next_available,
       MIN(expires_at) AS next_expiry,
       (SELECT MAX(id) FROM ledger_entries WHERE customer = {} AND brand = {}) AS head
FROM ledger_lots
WHERE customer = {} AND brand = {} AND unit = {} AND remaining > 0 AND (expires_at IS NULL OR expires_at > {})
"""
_EXPIRING = """
SELECT expires_at, CAST(SUM(remaining) AS BIGINT) AS amount FROM ledger_lots
WHERE customer = {} AND brand = {} AND unit = {} AND remaining > 0 AND available_at <= {} AND expires_at > {}
GROUP BY expires_at ORDER BY expires_at LIMIT {}
"""
_HEAD = "SELECT MAX(id) AS head FROM ledger_entries WHERE customer = {} AND brand = {}"


class _Memo(msgspec.Struct, frozen=True):
    """A balance as read at `since`, true for every moment before `until` while the customer's
    newest entry is still `head`."""

    head: int | None
    since: dt.datetime
    until: dt.datetime | None  # None: no lot of theirs becomes usable or expires later
    sums: dict[str, int]
    expiring: list[dict[str, Any]]


# A balance sums every live lot (10,000 rows for a long-time shopper) and changes only when an
# entry is written (every change to a lot's remainder or to a debt is one, `posting.entry`, in the
# transaction that writes it) or when a lot becomes usable or expires. So each process keeps the
# sums it read beside the customer's newest entry id and the next of those moments, and reads
# them again only when either has moved: a read is then one index lookup. Entry ids grow in
# commit order for one customer (SQLite has one writer; on PostgreSQL every write that moves a
# customer's money holds their lock, `customers.lock`), so an unchanged newest id means no entry
# was added. Reads inside a transaction never use it: they may see their own uncommitted entries.
_memos = cache.TTLCache(seconds=math.inf)


def _instant(value: Any) -> dt.datetime | None:
    """A MIN() of timestamps: a datetime on PostgreSQL, the stored ISO text on SQLite."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


async def _read(
    brand_id: int, customer_id: int, now: dt.datetime, unit: str, expiring_limit: int
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The lots' sums (available, pending, debt) and the soonest expiring, as of `now`."""
    key = (brand_id, customer_id, unit, expiring_limit)
    memo = None if db.in_transaction() else _memos.get(key)
    if memo is not None and memo.since <= now and (memo.until is None or now < memo.until):
        head = await db.fetch(_HEAD, customer_id, brand_id)
        if head[0]["head"] == memo.head:
            return memo.sums, memo.expiring
    rows = await db.fetch(
        _SUMS, now, now, customer_id, now, customer_id, brand_id, customer_id, brand_id, unit, now
    )
    row = rows[0]
    sums = {
        "available": row["available"],
        "pending": row["pending"],
        "debt": row["debt"] if unit == MONEY else 0,
    }
    expiring = (
        await db.fetch(_EXPIRING, customer_id, brand_id, unit, now, now, expiring_limit)
        if expiring_limit
        else []
    )
    if not db.in_transaction():
        changes = [
            t for t in (_instant(row["next_available"]), _instant(row["next_expiry"])) if t is not None
        ]
        _memos.put(
            key,
            _Memo(
                head=row["head"], since=now, until=min(changes, default=None), sums=sums, expiring=expiring
            ),
        )
    return sums, expiring


async def available(customer_id: int, now: dt.datetime, *, brand_id: int, unit: str = MONEY) -> int:
    """Spendable now: unexpired, available lots, less any debt (may be negative)."""
    sums, _ = await _read(brand_id, customer_id, now, unit, 0)
    return sums["available"] - sums["debt"]


async def balance(
    *, brand: BrandView, customer_id: int, now: dt.datetime, expiring_limit: int = 5, unit: str = MONEY
) -> Balance:
    """Computed from the lots as of `now`: what expired or is still pending is never available.
    In points (`unit` POINTS) the currency reads "pts"."""
    sums, soonest = await _read(brand.id, customer_id, now, unit, expiring_limit)
    return Balance(
        available=sums["available"] - sums["debt"],
        pending=sums["pending"],
        expiring=[Expiring(amount=r["amount"], expires_at=iso(r["expires_at"])) for r in soonest],
        currency=brand.currency if unit == MONEY else "pts",
        debt=sums["debt"],
    )


async def next_available(
    *, brand_id: int, customer_id: int, now: dt.datetime, unit: str = MONEY
) -> dt.datetime | None:
    """When the next pending credit becomes usable."""
    rows = await db.fetch(
        "SELECT available_at FROM ledger_lots WHERE customer = {} AND brand = {} AND unit = {} "
        "AND remaining > 0 AND available_at > {} ORDER BY available_at LIMIT 1",
        customer_id,
        brand_id,
        unit,
        now,
    )
    return rows[0]["available_at"] if rows else None


def _cursor(at: dt.datetime, entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"{utc(at).isoformat()}|{entry_id}".encode()).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, entry_id = text.split("|")
        when, number = dt.datetime.fromisoformat(at), int(entry_id)
        if when.tzinfo is None or not 0 < number < 2**31:  # ids are 32-bit serials
            raise ValueError(text)
        return when, number
    except (ValueError, UnicodeDecodeError):
        raise Invalid("%(field)s: not a cursor this API gave out", field=Field("cursor")) from None


_STATEMENT = """
SELECT e.id, e.kind, e.amount, e.occurred_at, e.note, s.order_id AS order_id,
       l.available_at AS available_at, l.expires_at AS expires_at, l.breakdown AS breakdown
FROM ledger_entries e
LEFT JOIN sales s ON s.id = e.sale
LEFT JOIN ledger_lots l ON l.id = e.lot
WHERE e.brand = {} AND e.customer = {} AND e.unit = {}"""


async def statement(
    *,
    brand_id: int,
    customer_id: int,
    now: dt.datetime,
    limit: int = 20,
    cursor: str | None = None,
    kinds: list[str] | None = None,
    unit: str = MONEY,
) -> tuple[list[StatementLine], str | None]:
    """Movements newest first, a page at a time (keyset pagination: stable while entries arrive)."""
    if not 1 <= limit <= 100:
        raise Invalid("%(field)s: from 1 to 100", field=Field("limit"))
    sql, args = _STATEMENT, list[object]([brand_id, customer_id, unit])
    if kinds:
        known = ENTRY_KINDS if unit == MONEY else POINTS_KINDS
        unknown = set(kinds) - set(known)
        if unknown:
            raise Invalid(
                "%(field)s: %(kind)r is not one of %(kinds)s",
                field=Field("kind"),
                kind=sorted(unknown)[0],
                kinds=", ".join(known),
            )
        sql += " AND e.kind IN (" + ", ".join("{}" for _ in kinds) + ")"
        args += kinds
    if cursor:
        at, entry_id = _parse_cursor(cursor)
        sql += " AND (e.occurred_at < {} OR (e.occurred_at = {} AND e.id < {}))"
        args += [at, at, entry_id]
    rows = await db.fetch(sql + " ORDER BY e.occurred_at DESC, e.id DESC LIMIT {}", *args, limit + 1)
    page = [_statement_line(row, now) for row in rows[:limit]]
    more = len(rows) > limit
    return page, _cursor(rows[limit - 1]["occurred_at"], rows[limit - 1]["id"]) if more else None


def _statement_line(row: dict[str, Any], now: dt.datetime) -> StatementLine:
    line = StatementLine(
        id=row["id"],
        kind=row["kind"],
        amount=row["amount"],
        occurred_at=row["occurred_at"],
        order_id=row["order_id"],
    )
    if row["available_at"] is not None and row["kind"] in posting.CREDIT_KINDS:
        expires = row["expires_at"]
        if expires is not None and expires <= now:
            line.status = "expired"
        else:
            line.status = "pending" if row["available_at"] > now else "available"
        line.available_at, line.expires_at = row["available_at"], expires
        line.breakdown = msgspec.Raw(row["breakdown"] or "{}")
    if row["note"]:
        line.note = row["note"]
    return line


async def history(*, brand_id: int, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every sale, movement and redemption of a customer, for their data export."""
    return {
        "sales": await db.fetch(
            "SELECT order_id, total, shipping, items, channel, occurred_at, cashback, cancelled_at "
            "FROM sales "
            "WHERE brand = {} AND customer = {} ORDER BY id",
            brand_id,
            customer_id,
        ),
        "ledger_entries": await db.fetch(
            "SELECT kind, unit, amount, occurred_at, note FROM ledger_entries "
            "WHERE brand = {} AND customer = {} ORDER BY id",
            brand_id,
            customer_id,
        ),
        "redemptions": await db.fetch(
            "SELECT redemption_id, order_id, order_total, amount, created_at, cancelled_at FROM redemptions "
            "WHERE brand = {} AND customer = {} ORDER BY id",
            brand_id,
            customer_id,
        ),
    }


# --- the brand's accounts as of a moment --------------------------------------------------------

_ACCOUNTS_AT = """
SELECT account, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS balance FROM ledger_postings
WHERE brand = {} AND unit = {} AND occurred_at < {} GROUP BY account
"""
_FLOWS = """
SELECT account, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount FROM ledger_postings
WHERE brand = {} AND unit = {} AND occurred_at >= {} AND occurred_at < {} AND customer IS NULL
GROUP BY account
"""


class Liability(msgspec.Struct, frozen=True, kw_only=True):
    """What a brand owes its shoppers at a moment: usable now, and still in the return window."""

    available: int
    pending: int

    @property
    def total(self) -> int:
        return self.available + self.pending


async def accounts_at(*, brand_id: int, at: dt.datetime, unit: str = MONEY) -> dict[str, int]:
    """Every account's balance just before `at` (what took effect before it), summed from the
    postings alone. Shopper accounts
    are summed over all shoppers; brand accounts read as the brand keeps them (issued is negative:
    what the programme gave)."""
    rows = await db.fetch_heavy(_ACCOUNTS_AT, brand_id, unit, at)
    balances = dict.fromkeys(posting.SHOPPER_ACCOUNTS + posting.BRAND_ACCOUNTS, 0)
    balances.update({row["account"]: row["balance"] for row in rows})
    return balances


async def liability_at(*, brand_id: int, at: dt.datetime) -> Liability:
    """What the brand owed just before `at`."""
    balances = await accounts_at(brand_id=brand_id, at=at)
    return Liability(available=balances[posting.AVAILABLE], pending=balances[posting.PENDING])


async def flows(*, brand_id: int, start: dt.datetime, end: dt.datetime, unit: str = MONEY) -> dict[str, int]:
    """What moved through each brand account in [start, end)."""
    rows = await db.fetch_heavy(_FLOWS, brand_id, unit, start, end)
    moved = dict.fromkeys(posting.BRAND_ACCOUNTS, 0)
    moved.update({row["account"]: row["amount"] for row in rows})
    return moved


async def owed_at(*, brand_id: int, ends: list[dt.datetime]) -> list[int]:
    """What the brand owed (available and pending) just before each of `ends`, in order: the sum
    up to the first, then what the shopper accounts moved in each interval after it."""
    first = (await liability_at(brand_id=brand_id, at=ends[0])).total
    moved = dict.fromkeys(range(1, len(ends)), 0)
    sql = (
        f"SELECT {db.interval_of('occurred_at', len(ends))} AS i, "  # noqa: S608 - placeholders only
        "CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount FROM ledger_postings "
        "WHERE brand = {} AND unit = 'brl' AND account IN ({}, {}) "
        "AND occurred_at >= {} AND occurred_at < {} GROUP BY i"
    )
    for row in await db.fetch_heavy(sql, *ends, brand_id, *posting.SHOPPER_ACCOUNTS, ends[0], ends[-1]):
        moved[row["i"]] = row["amount"]
    owed = [first]
    for i in range(1, len(ends)):
        owed.append(owed[-1] + moved[i])
    return owed


async def liability_now(*, brand_id: int, now: dt.datetime) -> Liability:
    """What the brand owes, with what happened at `now` itself."""
    return await liability_at(brand_id=brand_id, at=now + dt.timedelta(microseconds=1))
