"""A brand's messaging settings and its automations as written: read, checked, saved."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import msgspec

from retorno import db, vault
from retorno.errors import Field, Invalid
from retorno.messages import texts
from retorno.messages.tables import Automation, Settings


class MessageSettings(msgspec.Struct, frozen=True, kw_only=True):
    quiet_start: int = 21 * 60  # minutes after midnight in the brand's zone
    quiet_end: int = 9 * 60
    weekly_cap: int = 3
    whatsapp_number_id: str = ""
    whatsapp_ready: bool = False  # a number id and a token: WhatsApp can be sent
    whatsapp_verify_token: str = ""
    whatsapp_signed: bool = False  # an app secret: status callbacks can be checked

    def quiet_at(self, local: dt.datetime) -> bool:
        """Whether a local time falls in the quiet hours (which may run past midnight)."""
        minute = local.hour * 60 + local.minute
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        return start <= minute < end if start < end else minute >= start or minute < end

    def quiet_until(self, local: dt.datetime) -> dt.datetime:
        """The end of the quiet hours that `local` is in (the morning after, or this morning)."""
        end = local.replace(hour=self.quiet_end // 60, minute=self.quiet_end % 60, second=0, microsecond=0)
        return end if end > local else end + dt.timedelta(days=1)


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    number_id: str
    token: str
    app_secret: str


class AutomationView(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    label: str
    enabled: bool
    channels: list[str]
    days: list[int]
    texts: dict[str, dict[str, dict[str, str]]]  # {language: {channel: {field: text}}}, defaults filled
    written: bool  # the brand saved its own; False: every text is the default


def _context(brand_id: int, what: str) -> str:
    return f"message_settings:{brand_id}:{what}"


async def settings_of(brand_id: int) -> MessageSettings:
    row = await Settings.select().where(Settings.brand == brand_id).first()
    if row is None:
        return MessageSettings()
    return MessageSettings(
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        weekly_cap=row["weekly_cap"],
        whatsapp_number_id=row["whatsapp_number_id"],
        whatsapp_ready=bool(row["whatsapp_number_id"] and row["whatsapp_token"]),
        whatsapp_verify_token=row["whatsapp_verify_token"],
        whatsapp_signed=bool(row["whatsapp_app_secret"]),
    )


async def credentials(brand_id: int) -> Credentials | None:
    """The WhatsApp number id, access token and app secret, unsealed; None: not set up."""
    row = await Settings.select().where(Settings.brand == brand_id).first()
    if row is None or not row["whatsapp_number_id"] or not row["whatsapp_token"]:
        return None
    secret = row["whatsapp_app_secret"]
    return Credentials(
        number_id=row["whatsapp_number_id"],
        token=vault.unseal(row["whatsapp_token"], context=_context(brand_id, "token")),
        app_secret=vault.unseal(secret, context=_context(brand_id, "app_secret")) if secret else "",
    )


def _minutes(text: str, field: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
    except ValueError:
        raise Invalid("%(field)s: a time such as 21:00", field=Field(field)) from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise Invalid("%(field)s: a time such as 21:00", field=Field(field))
    return hours * 60 + minutes


async def save_settings(
    *,
    brand_id: int,
    quiet_start: str,
    quiet_end: str,
    weekly_cap: int,
    whatsapp_number_id: str,
    whatsapp_token: str = "",
    whatsapp_app_secret: str = "",
    forget_whatsapp: bool = False,
    now: dt.datetime,
) -> None:
    """Save quiet hours, the cap and the WhatsApp account; an empty token or secret keeps the one
    saved (they are never shown again), `forget_whatsapp` removes the account."""
    start, end = _minutes(quiet_start, "quiet_start"), _minutes(quiet_end, "quiet_end")
    if not 0 <= weekly_cap <= 50:
        raise Invalid("%(field)s: from 0 (no limit) to 50", field=Field("weekly_cap"))
    number_id = whatsapp_number_id.strip()
    if number_id and not number_id.isdigit():
        raise Invalid("%(field)s: the number's id has digits only", field=Field("whatsapp_number_id"))
    values: dict[Any, Any] = {
        Settings.quiet_start: start,
        Settings.quiet_end: end,
        Settings.weekly_cap: weekly_cap,
        Settings.whatsapp_number_id: "" if forget_whatsapp else number_id,
        Settings.updated_at: now,
    }
    if forget_whatsapp:
        values |= {Settings.whatsapp_token: "", Settings.whatsapp_app_secret: ""}
    if whatsapp_token.strip() and not forget_whatsapp:
        values[Settings.whatsapp_token] = vault.seal(
            whatsapp_token.strip(), context=_context(brand_id, "token")
        )
    if whatsapp_app_secret.strip() and not forget_whatsapp:
        values[Settings.whatsapp_app_secret] = vault.seal(
            whatsapp_app_secret.strip(), context=_context(brand_id, "app_secret")
        )

    async def work() -> None:
        updated = await Settings.update(values).where(Settings.brand == brand_id).returning(Settings.id)
        if not updated:
            await Settings.insert(
                Settings(brand=brand_id, whatsapp_verify_token=secrets.token_urlsafe(24), updated_at=now)
            )
            await Settings.update(values).where(Settings.brand == brand_id)

    await db.write(work)


async def seal_secrets() -> int:
    """`retorno secrets rotate`: every WhatsApp secret sealed again with the current data key."""
    count = 0
    rows = await Settings.select(Settings.brand, Settings.whatsapp_token, Settings.whatsapp_app_secret)
    for row in rows:
        values: dict[Any, Any] = {}
        for column, what in (
            (Settings.whatsapp_token, "token"),
            (Settings.whatsapp_app_secret, "app_secret"),
        ):
            sealed = row[column._meta.name]
            if sealed and not vault.sealed_with_current(sealed):
                plain = vault.unseal(sealed, context=_context(row["brand"], what))
                values[column] = vault.seal(plain, context=_context(row["brand"], what))
        if values:

            async def work(values: dict[Any, Any] = values, brand: int = row["brand"]) -> None:
                await Settings.update(values).where(Settings.brand == brand)

            await db.write(work)
            count += len(values)
    return count


# --- automations -------------------------------------------------------------------------------


def _days(text: str, spec: texts.Spec) -> list[int]:
    if not spec.days:
        return []
    try:
        days = sorted({int(part) for part in text.replace(" ", "").split(",") if part}, reverse=True)
    except ValueError:
        raise Invalid("%(field)s: whole numbers of days separated by commas", field=Field("days")) from None
    if not days or not all(1 <= d <= 365 for d in days) or len(days) > 4:
        raise Invalid("%(field)s: one to four numbers of days from 1 to 365", field=Field("days"))
    return days


def _view(spec: texts.Spec, row: dict[str, Any] | None, languages: tuple[str, ...]) -> AutomationView:
    written = msgspec.json.decode(row["texts"]) if row is not None and row["texts"] else {}
    merged = {}
    for lang in languages:
        base = texts.defaults(spec, lang)
        own = written.get(lang, {})
        merged[lang] = {channel: base[channel] | own.get(channel, {}) for channel in texts.CHANNELS}
    days = row["days"] if row is not None and row["days"] else spec.days
    return AutomationView(
        kind=spec.kind,
        label=spec.label,
        enabled=row["enabled"] if row is not None else True,
        channels=[c for c in (row["channels"] if row else "push,whatsapp,email").split(",") if c],
        days=[int(d) for d in days.split(",") if d] if days else [],
        texts=merged,
        written=bool(written),
    )


async def automations(brand_id: int, languages: tuple[str, ...]) -> list[AutomationView]:
    rows = {r["kind"]: r for r in await Automation.select().where(Automation.brand == brand_id)}
    return [_view(spec, rows.get(kind), languages) for kind, spec in texts.AUTOMATIONS.items()]


async def automation(brand_id: int, kind: str, languages: tuple[str, ...]) -> AutomationView:
    spec = texts.AUTOMATIONS[kind]
    row = await Automation.select().where((Automation.brand == brand_id) & (Automation.kind == kind)).first()
    return _view(spec, row, languages)


def check_channels(channels: list[str]) -> list[str]:
    chosen = [c for c in dict.fromkeys(channels) if c]
    if not chosen or any(c not in texts.CHANNELS for c in chosen):
        raise Invalid("%(field)s: choose at least one of push, WhatsApp and e-mail", field=Field("channels"))
    return chosen


async def save_automation(
    *,
    brand_id: int,
    kind: str,
    enabled: bool,
    channels: list[str],
    days: str,
    lang: str,
    written: dict[str, dict[str, str]],
    now: dt.datetime,
) -> None:
    """Save one automation with its texts in `lang` (every variable checked); the other
    languages' texts stay as they were."""
    spec = texts.AUTOMATIONS[kind]
    chosen = check_channels(channels)
    clean = texts.check(spec, written, chosen)
    day_list = _days(days, spec)
    defaults = texts.defaults(spec, lang)
    own = {ch: {f: t for f, t in fields.items() if t != defaults[ch].get(f)} for ch, fields in clean.items()}
    own = {ch: fields for ch, fields in own.items() if fields}

    async def work() -> None:
        row = (
            await Automation.select(Automation.texts)
            .where((Automation.brand == brand_id) & (Automation.kind == kind))
            .first()
        )
        every = msgspec.json.decode(row["texts"]) if row and row["texts"] else {}
        if own:
            every[lang] = own
        else:
            every.pop(lang, None)
        values: dict[Any, Any] = {
            Automation.enabled: enabled,
            Automation.channels: ",".join(chosen),
            Automation.days: ",".join(str(d) for d in day_list),
            Automation.texts: msgspec.json.encode(every).decode(),
            Automation.updated_at: now,
        }
        if row is None:
            await Automation.insert(Automation(brand=brand_id, kind=kind, updated_at=now))
        await Automation.update(values).where((Automation.brand == brand_id) & (Automation.kind == kind))

    await db.write(work)


async def reminder_days(brand_id: int) -> dict[str, list[int]]:
    """The days a time-based automation fires at where the brand set them (else the brand pack's
    reminder days apply); one switched off fires at none."""
    rows = await Automation.select(Automation.kind, Automation.enabled, Automation.days).where(
        Automation.brand == brand_id
    )
    result: dict[str, list[int]] = {}
    for row in rows:
        spec = texts.AUTOMATIONS.get(row["kind"])
        if spec is None or not spec.days:
            continue
        if not row["enabled"]:
            result[row["kind"]] = []
        elif row["days"]:
            result[row["kind"]] = sorted(int(d) for d in row["days"].split(","))
    return result
