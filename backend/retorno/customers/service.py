"""Customers: identifiers normalised and checked, lookup by reference, upsert on first sight."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
from piccolo.query import WhereRaw

from retorno import db
from retorno.bounds import CONTROL, check_key, check_text
from retorno.customers.tables import Consent, Customer
from retorno.errors import N_, Conflict, Field, Invalid, NotFound

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SEGMENT = re.compile(r"^[a-z0-9_-]{0,40}$")
IDENTIFIERS = ("external_id", "cpf", "email", "phone")


MAX_NAME = 200  # characters of a shopper's name; a longer one is refused, never cut


class Identity(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Who a customer is, as an outside system says it; any one identifier is enough."""

    external_id: str | None = None
    cpf: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    segment: str | None = None


class CustomerView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    brand: int
    external_id: str | None
    cpf: str | None
    email: str | None
    phone: str | None
    name: str
    segment: str


class CustomerFound(msgspec.Struct, frozen=True, kw_only=True):
    """A search result: enough to tell shoppers apart in a list."""

    id: int
    name: str
    email: str | None
    phone: str | None


class ConsentView(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    granted: bool
    version: int | None
    at: dt.datetime
    source: str = "app"


# Hot path: `lookup` (and `upsert` through it) runs on every sale, quote and redemption; the
# conditions on the identifiers given are appended (fixed column names, values as parameters).
_FIND = "SELECT id, brand, external_id, cpf, email, phone, name, segment FROM customers WHERE brand = {}"
# Hot path: `lock` holds the customers a sale, refund or redemption moves money for (PostgreSQL).
_LOCK = (
    "SELECT id, brand, external_id, cpf, email, phone, name, segment FROM customers "
    "WHERE id IN (%s) ORDER BY id FOR UPDATE"
)


def normalize_cpf(value: str) -> str:
    """11 digits with valid check digits; punctuation (123.456.789-09) is dropped."""
    digits = re.sub(r"[.\-\s/]", "", value)
    if not re.fullmatch(r"[0-9]{11}", digits) or len(set(digits)) == 1:
        raise Invalid("%(field)s: %(value)r is not a CPF (11 digits)", field=Field("cpf"), value=value)
    for position in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:position], range(position + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if int(digits[position]) != check:
            raise Invalid("%(field)s: %(value)r has wrong check digits", field=Field("cpf"), value=value)
    return digits


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or CONTROL.search(email):
        raise Invalid("%(field)s: %(value)r is not an e-mail address", field=Field("email"), value=value)
    return email


def normalize_phone(value: str) -> str:
    """E.164; a number without a country code is Brazilian (+55)."""
    raw = value.strip()
    digits = re.sub(r"[^0-9]", "", raw)
    if raw.startswith("+"):
        phone = "+" + digits
    elif raw.startswith("00"):
        phone = "+" + digits[2:]
    else:
        phone = "+55" + digits.lstrip("0")
    if not re.fullmatch(r"\+[1-9][0-9]{7,14}", phone):
        raise Invalid("%(field)s: %(value)r is not a phone number", field=Field("phone"), value=value)
    return phone


def normalize(identity: Identity) -> Identity:
    """Every identifier in its stored form; raises Invalid naming the bad field."""
    external_id = check_key("external_id", identity.external_id) if identity.external_id else None
    segment = identity.segment.strip().lower() if identity.segment is not None else None
    if segment is not None and not _SEGMENT.match(segment):
        raise Invalid(
            "%(field)s: %(value)r uses a-z, 0-9, _ and - only", field=Field("segment"), value=identity.segment
        )
    # A name is one line: line breaks and tabs (a CSV cell may hold them) become single spaces.
    name = (
        check_text("name", " ".join(identity.name.split()), max_length=MAX_NAME)
        if identity.name is not None
        else None
    )
    return Identity(
        external_id=external_id or None,
        cpf=normalize_cpf(identity.cpf) if identity.cpf else None,
        email=normalize_email(identity.email) if identity.email else None,
        phone=normalize_phone(identity.phone) if identity.phone else None,
        name=name,
        segment=segment,
    )


def identified(identity: Identity) -> Identity:
    """The identity normalized; Invalid unless it names the customer by at least one identifier."""
    identity = normalize(identity)
    if not any(getattr(identity, f) for f in IDENTIFIERS):
        raise Invalid(
            "%(field)s: give at least one of external_id, cpf, email or phone", field=Field("customer")
        )
    return identity


def parse_ref(ref: str) -> tuple[str, str | int]:
    """`cpf:...`, `email:...`, `phone:...`, `ext:...` or a customer id, to (field, stored value)."""
    kind, _, value = ref.partition(":")
    if not value:
        if ref.isascii() and ref.isdigit():  # "²" is a digit to Python, not to us
            if not 0 < int(ref) < 2**31:  # ids are 32-bit serials: no customer has this one
                raise NotFound("no such customer")
            return "id", int(ref)
        raise Invalid(
            "customer reference %(ref)r: use cpf:, email:, phone:, ext: or the customer id", ref=ref
        )
    match kind:
        case "cpf":
            return "cpf", normalize_cpf(value)
        case "email":
            return "email", normalize_email(value)
        case "phone":
            return "phone", normalize_phone(value)
        case "ext":
            return "external_id", check_key("external_id", value)
    raise Invalid("customer reference %(ref)r: use cpf:, email:, phone:, ext: or the customer id", ref=ref)


async def find(brand_id: int, ref: str) -> CustomerView:
    """A customer of this brand by reference; another brand's customer is simply not found."""
    field, value = parse_ref(ref)  # field is one of a fixed few column names
    # Hot path: every API read by reference (balance, statement). Built by Piccolo it halved the
    # balance endpoint's throughput (bench/api.py --against: 1,200 req/s against 3,100).
    rows = await db.fetch(f"{_FIND} AND {field} = {{}}", brand_id, value)
    if not rows:
        raise NotFound("no such customer")
    return msgspec.convert(rows[0], CustomerView)


async def get(brand_id: int, customer_id: int) -> CustomerView:
    # Hot path: every signed-in page (the app shell greets the shopper by name).
    rows = await db.fetch(f"{_FIND} AND id = {{}}", brand_id, customer_id)
    if not rows:
        raise NotFound("no such customer")
    return msgspec.convert(rows[0], CustomerView)


_EXTERNAL_IDS = "SELECT id, external_id FROM customers WHERE brand = {} AND id IN (%s)"


async def external_ids(brand_id: int, customer_ids: list[int]) -> dict[int, str | None]:
    """The external id the brand's systems gave each of these customers (None where they gave
    none, or the shopper was forgotten): what a webhook names a customer by."""
    found: dict[int, str | None] = {}
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start : start + 500]
        marks = ", ".join("{}" for _ in chunk)
        rows = await db.fetch(_EXTERNAL_IDS % marks, brand_id, *chunk)
        found.update({row["id"]: row["external_id"] for row in rows})
    return found


async def lookup(brand_id: int, identity: Identity) -> CustomerView | None:
    """The one customer these identifiers point to, or None; Conflict if they point to two."""
    identity = normalize(identity)
    given = [(f, getattr(identity, f)) for f in IDENTIFIERS if getattr(identity, f) is not None]
    if not given:
        return None
    # One query for any of the identifiers (fixed column names; values are parameters).
    where = " OR ".join(f"{field} = {{}}" for field, _ in given)
    rows = await db.fetch(f"{_FIND} AND ({where}) LIMIT 2", brand_id, *(value for _, value in given))
    if len(rows) > 1:
        raise Conflict("these identifiers belong to different customers")
    return msgspec.convert(rows[0], CustomerView) if rows else None


async def upsert(
    brand_id: int, identity: Identity, *, now: dt.datetime, known: CustomerView | None = None
) -> tuple[CustomerView, bool]:
    """Find the customer by any identifier and update what changed, or create them.

    E-mail, phone and external id may change (people move); a CPF once set never does.

    Run inside a write transaction. Returns the customer and whether it was created. `known`: the
    customer `lookup` found for these identifiers in this transaction, as read under its lock
    (a sale looks them up to lock them first), so they are not looked up twice.
    """
    identity = identified(identity)
    existing = known if known is not None else await lookup(brand_id, identity)
    given = {f: v for f, v in msgspec.structs.asdict(identity).items() if v is not None}
    if existing is None:
        customer_id = await db.insert(
            Customer, brand=brand_id, created_at=now, updated_at=now, **({"name": "", "segment": ""} | given)
        )
        return msgspec.convert(
            {f: None for f in IDENTIFIERS}
            | {"name": "", "segment": ""}
            | given
            | {"id": customer_id, "brand": brand_id},
            CustomerView,
        ), True
    changes = {f: v for f, v in given.items() if getattr(existing, f) != v}
    if not changes:
        return existing, False
    if "cpf" in changes and existing.cpf is not None:  # a CPF is a person's for life: never swapped
        raise Conflict("customer %(id)s already has a different cpf", id=existing.id)
    await Customer.update(
        {getattr(Customer, f): v for f, v in changes.items()} | {Customer.updated_at: now}
    ).where(Customer.id == existing.id)
    return await get(brand_id, existing.id), False


async def segments(brand_id: int) -> list[str]:
    """The segments the brand's customers are in (a manager chooses among them)."""
    rows = await db.fetch(
        "SELECT DISTINCT segment FROM customers WHERE brand = {} AND segment <> '' ORDER BY segment", brand_id
    )
    return [r["segment"] for r in rows]


async def search(brand_id: int, query: str, *, limit: int = 50) -> list[CustomerFound]:
    """A brand's shoppers whose name or e-mail contains `query` (any case), or whose phone
    contains its digits, or whose CPF is them; forgotten shoppers never come back."""
    like = f"%{query.strip().lower()}%"
    digits = "".join(ch for ch in query if ch.isdigit())
    matches = WhereRaw("LOWER(name) LIKE {}", like) | Customer.email.like(like) | (Customer.cpf == digits)
    if digits:  # no digits: no phone matches
        matches |= Customer.phone.like(f"%{digits}%")
    rows = await (
        Customer.select(Customer.id, Customer.name, Customer.email, Customer.phone)
        .where((Customer.brand == brand_id) & Customer.forgotten_at.is_null() & matches)
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    return msgspec.convert(rows, list[CustomerFound])


async def lock(*customer_ids: int | None) -> dict[int, CustomerView]:
    """Lock these customers' rows for the rest of the transaction (PostgreSQL; SQLite's write lock
    already serialises), all at once and in id order, so two transactions that touch the same
    customers never wait on each other in a cycle. Every write that moves a customer's money
    holds the locks of every customer it touches. On PostgreSQL, the rows as locked (read after
    any write that held them before), for `upsert(known=...)`; on SQLite, none are needed."""
    ids = sorted({i for i in customer_ids if i is not None})
    if ids and db.is_postgres():
        rows = await db.fetch(_LOCK % ", ".join("{}" for _ in ids), *ids)
        return {row["id"]: msgspec.convert(row, CustomerView) for row in rows}
    return {}


async def consents(brand_id: int, customer_id: int) -> list[ConsentView]:
    rows = await (
        Consent.select(Consent.kind, Consent.granted, Consent.version, Consent.at, Consent.source)
        .where((Consent.brand == brand_id) & (Consent.customer == customer_id))
        .order_by(Consent.id)
    )
    return msgspec.convert(rows, list[ConsentView])


async def set_language(brand_id: int, customer_id: int, lang: str) -> None:
    """The language the shopper uses the app in: their messages are written in it."""
    await db.write(
        lambda: db.fetch(
            "UPDATE customers SET language = {} WHERE id = {} AND brand = {} AND language <> {}",
            lang[:10],
            customer_id,
            brand_id,
            lang[:10],
        )
    )


CHANNELS = ("push", "email", "whatsapp")  # each a consent of its own (LGPD), the latest row counts
SOURCE_LABELS = {  # where a consent was given or withdrawn, as the shopper and the admin read it
    "app": N_("in the app"),
    "counter": N_("at the counter"),
    "import": N_("by an import"),
    "api": N_("by the store's systems"),
    "admin": N_("by the brand's team"),
    "unsubscribe": N_("by an unsubscribe link"),
}
SOURCES = tuple(SOURCE_LABELS)


class ChannelChoice(msgspec.Struct, frozen=True, kw_only=True):
    granted: bool
    at: dt.datetime
    source: str


async def channel_consents(brand_id: int, customer_id: int) -> dict[str, ChannelChoice]:
    """The latest choice per channel (granted, when, from where); a channel never asked is absent."""
    rows = await (
        Consent.select(Consent.kind, Consent.granted, Consent.at, Consent.source)
        .where(
            (Consent.brand == brand_id)
            & (Consent.customer == customer_id)
            & Consent.kind.is_in(list(CHANNELS))
        )
        .order_by(Consent.id)
    )
    return {r["kind"]: ChannelChoice(granted=r["granted"], at=r["at"], source=r["source"]) for r in rows}


# The latest consent per shopper and channel for a batch of shoppers (the messages' dispatch).
_LATEST = (
    "SELECT c.customer, c.kind, c.granted FROM consents c WHERE c.brand = {} AND c.customer IN (%s) "
    "AND c.kind IN ('push', 'email', 'whatsapp') AND c.id = (SELECT MAX(d.id) FROM consents d "
    "WHERE d.customer = c.customer AND d.kind = c.kind)"
)


async def granted_channels(brand_id: int, customer_ids: list[int]) -> dict[int, set[str]]:
    """Which channels each shopper consented to, as of their latest choice per channel."""
    if not customer_ids:
        return {}
    rows = await db.fetch(_LATEST % ", ".join("{}" for _ in customer_ids), brand_id, *customer_ids)
    granted: dict[int, set[str]] = {c: set() for c in customer_ids}
    for row in rows:
        if row["granted"]:
            granted[row["customer"]].add(row["kind"])
    return granted


async def record_consents(
    brand_id: int, customer_id: int, choices: dict[str, bool], *, source: str, now: dt.datetime
) -> list[str]:
    """Record the choices that change something (in the caller's transaction); the channels changed."""
    unknown = set(choices) - set(CHANNELS)
    if unknown or source not in SOURCES:
        raise Invalid(
            "%(field)s: unknown channel %(name)r",
            field=Field("consents"),
            name=sorted(unknown or {source})[0],
        )
    current = await channel_consents(brand_id, customer_id)
    changed = []
    for channel in CHANNELS:
        if channel in choices and (channel not in current or current[channel].granted != choices[channel]):
            await db.insert(
                Consent,
                brand=brand_id,
                customer=customer_id,
                kind=channel,
                granted=choices[channel],
                at=now,
                source=source,
            )
            changed.append(channel)
    return changed


async def set_consents(
    brand_id: int, customer_id: int, choices: dict[str, bool], *, source: str, now: dt.datetime
) -> list[str]:
    return await db.write(lambda: record_consents(brand_id, customer_id, choices, source=source, now=now))


async def forget(brand_id: int, customer_id: int, *, now: dt.datetime) -> None:
    """Erase who the customer is (LGPD): identifiers and name go; the id stays for the money records."""

    async def work() -> None:
        await Customer.update(
            {
                Customer.external_id: None,
                Customer.cpf: None,
                Customer.email: None,
                Customer.phone: None,
                Customer.name: "",
                Customer.segment: "",
                Customer.forgotten_at: now,
                Customer.updated_at: now,
            }
        ).where((Customer.id == customer_id) & (Customer.brand == brand_id))

    await db.write(work)
