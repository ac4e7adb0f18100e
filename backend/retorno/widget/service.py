"""The site widget's settings and the shopper tokens a store's backend signs.

A brand's widget has a publishable key (public: in the store's script tag), a secret (sealed in
the database; the store's backend signs with it), the store origins that may call the widget's
endpoints (CORS) and whether the floating launcher shows.

A shopper token says "this visitor is customer <ref> until <exp>":

    <base64url(ref)>.<exp>.<hex HMAC-SHA256(secret, ref + "." + exp)>

`ref` is a customer reference as the API's /customers/{ref} takes it (`email:ana@example.com`,
`cpf:52998224725`, `phone:+5511999990000`, `ext:<id>`; `external_id:` is read as `ext:`); `exp`
is Unix seconds. The reference travels base64url-encoded, so dots in an e-mail do not matter.
A token is refused when its signature is wrong (compared in constant time), when it has
expired, or when it claims more than MAX_LIFETIME ahead: a leaked token is worth a day at most.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import msgspec

from retorno import db, vault
from retorno.cache import TTLCache, clear_all
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.errors import N_, Field, Invalid, NotFound, Unauthorized
from retorno.widget.tables import WidgetSettings

MAX_LIFETIME = dt.timedelta(hours=24)
MAX_ORIGINS = 20
MAX_TOKEN = 1000
KEY_PREFIX = "pk_"
SECRET_PREFIX = "wsk_"  # noqa: S105 - a prefix, not a secret

_by_key = TTLCache()  # publishable key -> Keyed (or False: no such key), for every request


class WidgetView(msgspec.Struct, frozen=True, kw_only=True):
    """A brand's widget settings as its admin page shows them (never the secret)."""

    id: int
    brand_id: int
    publishable_key: str
    origins: list[str]
    launcher: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class Keyed(msgspec.Struct, frozen=True, kw_only=True):
    """What a widget request needs, found by its publishable key: whose it is, where it may be
    called from, and the secret that checks a shopper's token (kept unsealed in memory only)."""

    brand_id: int
    origins: tuple[str, ...]
    launcher: bool
    secret: str


class TokenRefused(Unauthorized):
    """A shopper token that does not hold: `reason` is malformed | signature | expired | too_long."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.extra = {"reason": reason}


def context(settings_id: int) -> str:
    """The vault's associated data for a widget secret: sealed for this row only."""
    return f"widget_settings:{settings_id}"


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(18)


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


_COLUMNS = (
    WidgetSettings.id,
    WidgetSettings.brand,
    WidgetSettings.publishable_key,
    WidgetSettings.origins,
    WidgetSettings.launcher,
    WidgetSettings.created_at,
    WidgetSettings.updated_at,
)


def _view(row: dict) -> WidgetView:
    return WidgetView(
        id=row["id"],
        brand_id=row["brand"],
        publishable_key=row["publishable_key"],
        origins=[o for o in row["origins"].split("\n") if o],
        launcher=bool(row["launcher"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _settings_row(brand_id: int) -> dict | None:
    return await WidgetSettings.select(*_COLUMNS).where(WidgetSettings.brand == brand_id).first()


async def settings_for(brand_id: int, *, now: dt.datetime) -> WidgetView:
    """The brand's widget settings, made (a key and a secret of their own) the first time."""
    row = await _settings_row(brand_id)
    if row is not None:
        return _view(row)

    async def work() -> WidgetView:
        made = await db.fetch(
            "INSERT INTO widget_settings (brand, publishable_key, secret, origins, launcher, created_at, "
            "updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (brand) DO NOTHING RETURNING id",
            brand_id,
            _new_key(),
            "",
            "",
            True,
            now,
            now,
        )
        if made:  # sealed with its own row's id, which only exists now
            sealed = vault.seal(_new_secret(), context=context(made[0]["id"]))
            await WidgetSettings.update({WidgetSettings.secret: sealed}).where(
                WidgetSettings.id == made[0]["id"]
            )
        found = await _settings_row(brand_id)
        if found is None:
            raise NotFound("no such brand")
        return _view(found)

    return await db.write(work)


async def by_key(key: str) -> Keyed | None:
    """The widget a publishable key belongs to (None for a key nobody has), cached for a few
    seconds: every widget request asks."""
    if not key.startswith(KEY_PREFIX) or len(key) > 64 or not key.isascii():
        return None
    hit = _by_key.get(key)
    if hit is not None:
        return hit or None
    row = await (
        WidgetSettings.select(
            WidgetSettings.id,
            WidgetSettings.brand,
            WidgetSettings.origins,
            WidgetSettings.launcher,
            WidgetSettings.secret,
        )
        .where(WidgetSettings.publishable_key == key)
        .first()
    )
    found = (
        Keyed(
            brand_id=row["brand"],
            origins=tuple(o for o in row["origins"].split("\n") if o),
            launcher=bool(row["launcher"]),
            secret=vault.unseal(row["secret"], context=context(row["id"])),
        )
        if row is not None and row["secret"]
        else None
    )
    _by_key.put(key, found or False)
    return found


async def rotate_secret(*, brand_id: int, now: dt.datetime) -> str:
    """A new widget secret, returned this once; tokens signed with the old one stop working."""
    current = await settings_for(brand_id, now=now)
    secret = _new_secret()
    await WidgetSettings.update(
        {
            WidgetSettings.secret: vault.seal(secret, context=context(current.id)),
            WidgetSettings.updated_at: now,
        }
    ).where((WidgetSettings.brand == brand_id) & (WidgetSettings.id == current.id))
    clear_all()
    return secret


def check_origin(text: str, *, production: bool) -> str:
    """A store origin as a browser sends it: scheme://host[:port], lower-case, no path; https in
    production (a plain-http page is no place for a shopper's balance)."""
    raw = text.strip().rstrip("/")
    parts = urlsplit(raw.lower())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not raw.isprintable()
        or " " in raw
        or len(raw) > 300
    ):
        raise Invalid(
            "%(field)s: %(origin)s is not an origin like https://loja.example.com",
            field=Field("origins"),
            origin=raw,
        )
    if production and parts.scheme != "https":
        raise Invalid("%(field)s: %(origin)s must start with https://", field=Field("origins"), origin=raw)
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def check_origins(lines: list[str], *, production: bool) -> list[str]:
    origins = list(dict.fromkeys(check_origin(o, production=production) for o in lines if o.strip()))
    if len(origins) > MAX_ORIGINS:
        raise Invalid("%(field)s: at most %(max)s origins", field=Field("origins"), max=MAX_ORIGINS)
    return origins


async def update(
    *,
    brand_id: int,
    now: dt.datetime,
    production: bool,
    origins: list[str] | None = None,
    launcher: bool | None = None,
) -> WidgetView:
    """Change the store's origins (checked) or the launcher; what is not given stays."""
    current = await settings_for(brand_id, now=now)
    changes: dict = {WidgetSettings.updated_at: now}
    if origins is not None:
        changes[WidgetSettings.origins] = "\n".join(check_origins(origins, production=production))
    if launcher is not None:
        changes[WidgetSettings.launcher] = launcher
    await WidgetSettings.update(changes).where(
        (WidgetSettings.brand == brand_id) & (WidgetSettings.id == current.id)
    )
    clear_all()
    row = await _settings_row(brand_id)
    if row is None:
        raise NotFound("no such brand")
    return _view(row)


# --- shopper tokens -------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def signature(secret: str, ref: str, exp: int) -> str:
    return hmac.new(secret.encode(), f"{ref}.{exp}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, ref: str, exp: int) -> str:
    """A shopper token, as a store's backend makes one (docs/widget.md has it in other languages)."""
    return f"{_b64(ref)}.{exp}.{signature(secret, ref, exp)}"


def identity_of_ref(ref: str) -> Identity:
    """A customer reference, as the API reads one, as the identity it names (no bare ids here:
    a store knows its shopper by e-mail, CPF, phone or its own id, not by Retorno's)."""
    if ref.startswith("external_id:"):
        ref = "ext:" + ref.removeprefix("external_id:")
    field, value = customers.parse_ref(ref)
    if field == "id":
        raise Invalid(
            "customer reference %(ref)r: use cpf:, email:, phone:, ext: or the customer id", ref=ref
        )
    return Identity(**{field: str(value)})


def verify(secret: str, token: str, *, now: dt.datetime) -> Identity:
    """The shopper a token names; TokenRefused if it does not hold."""
    parts = token.strip().split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit() or len(parts[1]) > 12:
        raise TokenRefused("malformed", N_("The shopper token is not valid."))
    encoded, exp_text, given = parts
    try:
        ref = base64.urlsafe_b64decode(encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenRefused("malformed", N_("The shopper token is not valid.")) from None
    exp = int(exp_text)
    if not hmac.compare_digest(signature(secret, ref, exp).encode(), given.lower().encode()):
        raise TokenRefused("signature", N_("The shopper token is not valid."))
    moment = int(now.timestamp())
    if exp < moment:
        raise TokenRefused("expired", N_("The shopper token has expired: reload the page."))
    if exp - moment > MAX_LIFETIME.total_seconds():
        raise TokenRefused("too_long", N_("The shopper token is valid for too long (at most 24 hours)."))
    try:
        return identity_of_ref(ref)
    except (Invalid, NotFound):
        raise TokenRefused("malformed", N_("The shopper token is not valid.")) from None


async def seal_secrets() -> int:
    """`retorno secrets rotate`: every widget secret sealed again under the current data key."""

    async def work() -> int:
        resealed = 0
        for row in await WidgetSettings.select(WidgetSettings.id, WidgetSettings.secret):
            value = row["secret"]
            if value and not vault.sealed_with_current(value):
                where = context(row["id"])
                sealed = vault.seal(vault.unseal(value, context=where), context=where)
                await WidgetSettings.update({WidgetSettings.secret: sealed}).where(
                    WidgetSettings.id == row["id"]
                )
                resealed += 1
        return resealed

    return await db.write(work)
