"""From outbox events to messages, and each message through its channel.

- `fan_out` claims due outbox events (the same `done_at` marker push used: this is now the one
  consumer of shopper notices) and writes one `messages` row per (event, shopper) - the unique
  `key` makes a second one impossible - or, for a campaign, one per member not held out.
- `claim` takes due messages (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and decides each in the
  same transaction: switched off, spent already, quiet hours (held until morning), the weekly
  cap, then the first channel in the automation's order that can take it: push if the shopper
  has a device that wants that kind of notice, WhatsApp if the brand has it and the shopper
  consented, e-mail likewise. Push is handed to the push deliveries there and then; e-mail and
  WhatsApp come back as `Outgoing` for the sender (messages/sender.py), outside the transaction.
- `record` writes what the channel said: sent (with the provider's id), a retry with backoff, or
  a failure that falls back to the next channel. WhatsApp's status callbacks move a message on
  to delivered, read or failed (and a failure falls back too).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import unicodedata
import zoneinfo
from collections.abc import Iterable
from typing import Any

import msgspec

from retorno import db, i18n
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.errors import Invalid, NotFound
from retorno.ledger import balances
from retorno.messages import settings as message_settings
from retorno.messages import texts
from retorno.messages.settings import AutomationView, MessageSettings
from retorno.outbox import service as outbox
from retorno.push import notices
from retorno.push import service as push

KINDS = {
    "cashback.credited": "cashback.credited",
    "cashback.available": "cashback.available",
    "cashback.expiring": "cashback.expiring",
    "points.credited": "points.credited",
    "voucher.issued": "voucher.issued",
    "voucher.expiring": "voucher.expiring",
    "referral.joined": "referral.joined",
    "referral.rewarded": "referral.rewarded",
    "customer.return_reminder": "customer.return_reminder",
    "nps.asked": "nps.ask",
    "campaign": "campaign",
}
SENT = ("sent", "delivered", "read")
MAX_ATTEMPTS = 5
BACKOFF = dt.timedelta(seconds=60)


class Outgoing(msgspec.Struct, kw_only=True):
    """A message decided for e-mail or WhatsApp, with everything its sending needs."""

    id: int
    brand_id: int
    channel: str
    to: str
    lang: str
    fields: dict[str, str]  # the channel's texts, variables filled (WhatsApp: the raw body too)
    parameters: list[str]  # WhatsApp's template parameters
    link: str
    unsubscribe: str
    attempts: int


class MessageView(msgspec.Struct, frozen=True, kw_only=True):
    """A message as the customer's page in the admin lists it."""

    id: int
    kind: str
    campaign: int | None
    state: str
    channel: str
    tried: str
    reason: str
    detail: str
    created_at: dt.datetime
    due_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    read_at: dt.datetime | None
    opened_at: dt.datetime | None
    clicked_at: dt.datetime | None


# --- events become messages --------------------------------------------------------------------

_CLAIM_EVENTS = (
    "SELECT id, brand, kind, payload FROM outbox_events WHERE done_at IS NULL AND run_after <= {} "
    "ORDER BY id LIMIT {}"
)
_MARK_DONE = "UPDATE outbox_events SET done_at = {{}} WHERE id IN ({marks})"
_INSERT = (
    "INSERT INTO messages (brand, customer, event, campaign, kind, key, token, state, channel, tried, "
    "reason, detail, url, data, attempts, due_at, created_at) VALUES {rows} "
    "ON CONFLICT (key, brand) DO NOTHING"
)
_ROW = "({}, {}, {}, {}, {}, {}, {}, 'queued', '', '', '', '', {}, {}, 0, {}, {})"
_CAMPAIGN_MEMBERS = (
    "SELECT m.customer, c.url FROM message_campaign_members m JOIN message_campaigns c ON c.id = m.campaign "
    "WHERE m.campaign = {} AND m.holdout = {} ORDER BY m.customer"
)


def automation_of(kind: str, payload: dict[str, Any]) -> str | None:
    """Which automation an event is (None: it notifies no one). A referral's reward is two: the
    friend's welcome and the referrer's reward; a credit from a referral says nothing of its own."""
    if kind == "referral.rewarded":
        return "referral.welcome" if payload.get("role") == "friend" else "referral.rewarded"
    if kind == "cashback.credited" and payload.get("source") == "referral":
        return None
    return KINDS.get(kind)


async def fan_out(*, now: dt.datetime, limit: int = 200) -> int:
    """Turn up to `limit` due events into messages, in one transaction; the number of events done."""

    async def work() -> int:
        sql = _CLAIM_EVENTS + (" FOR UPDATE SKIP LOCKED" if db.is_postgres() else "")
        events = await db.fetch(sql, now, limit)
        rows: list[list[Any]] = []
        for event in events:
            payload = msgspec.json.decode(event["payload"])
            kind = automation_of(event["kind"], payload)
            if kind == "campaign":
                members = await db.fetch(_CAMPAIGN_MEMBERS, payload["campaign_id"], False)
                for member in members:
                    key = f"c{payload['campaign_id']}:{member['customer']}"
                    token = secrets.token_urlsafe(16)
                    ids = [event["brand"], member["customer"], event["id"], payload["campaign_id"]]
                    rows.append([*ids, kind, key, token, member["url"], "{}", now, now])
            elif kind is not None and payload.get("customer_id") is not None:
                key = f"e{event['id']}:{payload['customer_id']}"
                data = msgspec.json.encode(payload).decode()
                token, url = secrets.token_urlsafe(16), texts.url_of(texts.spec_of(kind), payload)
                ids = [event["brand"], payload["customer_id"], event["id"], None]
                rows.append([*ids, kind, key, token, url, data, now, now])
        for start in range(0, len(rows), 200):
            chunk = rows[start : start + 200]
            await db.fetch(
                _INSERT.format(rows=", ".join(_ROW for _ in chunk)), *(v for row in chunk for v in row)
            )
        if events:
            marks = ", ".join("{}" for _ in events)
            await db.fetch(_MARK_DONE.format(marks=marks), now, *(e["id"] for e in events))
        return len(events)

    return await db.write(work)


# --- deciding each message ---------------------------------------------------------------------

_CLAIM = (
    "SELECT id, brand, customer, event, campaign, kind, token, tried, url, data, attempts FROM messages "
    "WHERE state IN ('queued', 'held') AND due_at <= {} ORDER BY due_at, id LIMIT {}"
)
_CUSTOMERS = "SELECT id, name, email, phone, language, forgotten_at FROM customers WHERE id IN (%s)"
_DEVICES = "SELECT customer, COUNT(*) AS n FROM push_subscriptions WHERE customer IN (%s) GROUP BY customer"
_RECENT = (
    "SELECT customer, COUNT(*) AS n FROM messages WHERE customer IN (%s) AND sent_at >= {} "  # noqa: S608
    "AND kind IN (" + ", ".join(f"'{k}'" for k, s in texts.AUTOMATIONS.items() if s.capped) + ", 'campaign') "
    "GROUP BY customer"
)
_CAMPAIGNS = "SELECT id, channels, texts, url FROM message_campaigns WHERE id IN (%s)"
# balances.available for a batch of shoppers at once (its _SUMS, less the pending half): a query
# per message was the batch's largest cost after the sending itself (bench/messages.py).
# The brand is compared in Python: as a term of the query it made SQLite read every lot of the
# brand through its index rather than the shoppers' lots through theirs (6 ms for 100 shoppers).
_AVAILABLE = (
    "SELECT customer, brand, CAST(SUM(remaining) AS BIGINT) AS available FROM ledger_lots "
    "WHERE customer IN (%s) AND unit = 'brl' AND remaining > 0 AND available_at <= {} "
    "AND (expires_at IS NULL OR expires_at > {}) GROUP BY customer, brand"
)
_DEBTS = "SELECT customer, debt FROM ledger_accounts WHERE customer IN (%s)"
_MARK_SENDING = (
    "UPDATE messages SET state = 'sending', channel = {}, reason = '', attempts = attempts + 1, "
    "lease_until = {} WHERE id IN (%s)"
)
_LOT_REMAINING = "SELECT remaining FROM ledger_lots WHERE id = {}"
_VOUCHER_OPEN = (
    "SELECT v.id FROM vouchers v WHERE v.id = {} AND v.cancelled_at IS NULL AND NOT EXISTS "
    "(SELECT 1 FROM voucher_uses u WHERE u.voucher = v.id AND u.released_at IS NULL)"
)

_SURVEY_OPEN = "SELECT id FROM nps_surveys WHERE id = {} AND answered_at IS NULL"


def _marks(values: Iterable[Any]) -> str:
    return ", ".join("{}" for _ in values)


class _Brand(msgspec.Struct, kw_only=True):
    """What deciding a brand's messages needs, read once per batch."""

    view: BrandView
    settings: MessageSettings
    automations: dict[str, AutomationView]
    origin: str


async def claim(*, now: dt.datetime, origin_of: Any, limit: int = 100) -> list[Outgoing]:
    """Decide up to `limit` due messages in one transaction; those for e-mail and WhatsApp come
    back marked `sending` (leased), to be sent outside it."""

    async def work() -> list[Outgoing]:
        sql = _CLAIM + (" FOR UPDATE SKIP LOCKED" if db.is_postgres() else "")
        due = await db.fetch(sql, now, limit)
        if not due:
            return []
        ids = sorted({m["customer"] for m in due})
        people = {r["id"]: r for r in await db.fetch(_CUSTOMERS % _marks(ids), *ids)}
        devices = {r["customer"]: r["n"] for r in await db.fetch(_DEVICES % _marks(ids), *ids)}
        week = now - dt.timedelta(days=7)
        recent = {r["customer"]: r["n"] for r in await db.fetch(_RECENT % _marks(ids), *ids, week)}
        campaign_ids = sorted({m["campaign"] for m in due if m["campaign"] is not None})
        campaigns = (
            {r["id"]: r for r in await db.fetch(_CAMPAIGNS % _marks(campaign_ids), *campaign_ids)}
            if campaign_ids
            else {}
        )
        context: dict[int, _Brand] = {}
        consents: dict[int, dict[int, set[str]]] = {}
        balances_of: dict[int, dict[int, int]] = {}
        categories: dict[int, dict[int, list[str]]] = {}
        handed: dict[int, list[tuple[int, push.Handed]]] = {}  # brand -> (message, notice) for push
        outgoing: list[Outgoing] = []
        for message in due:
            brand_id = message["brand"]
            if brand_id not in context:
                view = await brands.brand_by_id(brand_id)
                if view is None:
                    continue
                every = await message_settings.automations(brand_id, i18n.LANGUAGES)
                context[brand_id] = _Brand(
                    view=view,
                    settings=await message_settings.settings_of(brand_id),
                    automations={a.kind: a for a in every},
                    origin=origin_of(view),
                )
                brand_customers = sorted({m["customer"] for m in due if m["brand"] == brand_id})
                consents[brand_id] = await customers.granted_channels(brand_id, brand_customers)
                balances_of[brand_id] = await _balances(brand_id, brand_customers, now)
                with_devices = [c for c in brand_customers if devices.get(c)]
                categories[brand_id] = await push.categories_by_customer(brand_id, with_devices)
            brand = context[brand_id]
            person = people.get(message["customer"])
            decided = await _decide(
                message,
                brand,
                person,
                consents[brand_id].get(message["customer"], set()),
                devices.get(message["customer"], 0),
                recent,
                campaigns,
                now,
                balance=balances_of[brand_id].get(message["customer"], 0),
                categories=categories[brand_id].get(message["customer"], []),
                handed=handed.setdefault(brand_id, []),
            )
            if decided is not None:
                outgoing.append(decided)
        for brand_id, for_push in handed.items():
            await _hand_to_push(context[brand_id].view, for_push, now)
        # One UPDATE per channel for the whole batch rather than one per message.
        lease_until = now + dt.timedelta(minutes=2)
        for channel in ("email", "whatsapp"):
            chosen = [out.id for out in outgoing if out.channel == channel]
            for start in range(0, len(chosen), 500):
                chunk = chosen[start : start + 500]
                await db.fetch(_MARK_SENDING % _marks(chunk), channel, lease_until, *chunk)
        return outgoing

    return await db.write(work)


async def _balances(brand_id: int, customer_ids: list[int], now: dt.datetime) -> dict[int, int]:
    """What each shopper can spend now (as `balances.available`: unexpired, usable lots less any
    debt); a shopper without lots or debt is missing (0)."""
    if not customer_ids:
        return {}
    marks = _marks(customer_ids)
    found = {
        r["customer"]: int(r["available"])
        for r in await db.fetch(_AVAILABLE % marks, *customer_ids, now, now)
        if r["brand"] == brand_id
    }
    for row in await db.fetch(_DEBTS % marks, *customer_ids):
        if row["debt"]:
            found[row["customer"]] = found.get(row["customer"], 0) - int(row["debt"])
    return found


async def _skip(message_id: int, reason: str, now: dt.datetime, state: str = "skipped") -> None:
    await db.fetch(
        "UPDATE messages SET state = {}, reason = {}, lease_until = NULL, due_at = {} WHERE id = {}",
        state,
        reason,
        now,
        message_id,
    )


async def _still_relevant(kind: str, data: dict[str, Any]) -> bool:
    """A reminder about cashback or a voucher only while there is still something to remind of."""
    if kind == "cashback.expiring":
        rows = await db.fetch(_LOT_REMAINING, data["lot_id"])
        return bool(rows) and rows[0]["remaining"] > 0
    if kind == "voucher.expiring" and "voucher_id" in data:
        return bool(await db.fetch(_VOUCHER_OPEN, data["voucher_id"]))
    if kind == "nps.ask" and "survey_id" in data:  # answered already (in the app): not asked again
        return bool(await db.fetch(_SURVEY_OPEN, data["survey_id"]))
    return True


async def sample_shopper(brand_id: int, ref: str = "") -> dict[str, Any] | None:
    """The shopper a preview is written for: the one `ref` names (e-mail, phone, CPF), else the
    brand's latest; None when the brand has none yet."""
    found = None
    if ref.strip():
        try:
            found = await customers.find(brand_id, ref.strip())
        except (NotFound, Invalid):
            found = None
    if found is None:
        latest = await customers.search(brand_id, "", limit=1)
        found = await customers.get(brand_id, latest[0].id) if latest else None
    if found is None:
        return None
    return {"id": found.id, "name": found.name, "email": found.email, "phone": found.phone}


def sample_data(kind: str, now: dt.datetime) -> dict[str, Any]:
    """What an event of this kind could say, for a preview: R$ 24,90, dates a week or so away."""
    return {
        "amount": 2490,
        "available_at": (now + dt.timedelta(days=7)).isoformat(),
        "expires_at": (now + dt.timedelta(days=7 if kind.endswith("expiring") else 90)).isoformat(),
        "days": 7,
        "last_purchase_at": (now - dt.timedelta(days=30)).isoformat(),
    }


def _prazo(days: int, lang: str) -> str:
    if days == 1:
        return i18n.gettext(lang, "tomorrow")
    return i18n.gettext(lang, "in %(days)s days") % {"days": days}


def language_of(brand: BrandView, person: dict[str, Any] | None) -> str:
    """A shopper's messages come in the language they use the app in, else the brand's."""
    chosen = (person or {}).get("language") or ""
    return chosen if chosen in i18n.LANGUAGES else brand.locale


def _date(value: str | dt.datetime, *, lang: str, tz: str) -> str:
    """`i18n.date` of an instant, its day in the brand's zone taken here as i18n.date takes it, so
    that Babel formats each day once per language (60 µs a call, a twentieth of a message's cost)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _day(value.astimezone(zoneinfo.ZoneInfo(tz)).date() if value.tzinfo else value.date(), lang)


@functools.lru_cache(maxsize=512)
def _day(day: dt.date, lang: str) -> str:
    return i18n.date(day, lang=lang)


async def values_of(
    *,
    brand: BrandView,
    person: dict[str, Any] | None,
    data: dict[str, Any],
    link: str,
    now: dt.datetime,
    balance: int | None = None,
) -> dict[str, str]:
    """The variables' values for one shopper and event, in their language; `balance` is the
    shopper's available balance when the caller read it already (a batch reads them at once)."""
    lang = language_of(brand, person)
    money = lambda centavos: i18n.money(centavos, lang=lang, currency=brand.currency)  # noqa: E731
    name = (person or {}).get("name") or ""
    # A shopper without a name is greeted as one ("Olá, cliente!"), never with a blank.
    first = name.split()[0] if name.strip() else i18n.gettext(lang, "there")  # "Hi there", "Olá, cliente"
    values = {"nome": first, "marca": brand.name, "link": link}
    customer_id = (person or {}).get("id")
    if customer_id and balance is None:
        balance = await balances.available(customer_id, now, brand_id=brand.id)
    values["saldo"] = money(max(0, balance or 0)) if customer_id else ""
    if data.get("points") is not None:  # a credit of points: {pontos}, and {valor} says the same
        values["pontos"] = values["valor"] = i18n.points(data["points"], lang=lang)
    elif data.get("amount") is not None:
        values["valor"] = money(data["amount"])
    elif data.get("percent_bp") is not None:
        values["valor"] = i18n.percent(data["percent_bp"], lang=lang)
    for field in ("available_at", "expires_at", "last_purchase_at"):
        if data.get(field) and "data" not in values:  # the first date the event has
            values["data"] = _date(data[field], lang=lang, tz=brand.timezone)
    if data.get("days") is not None:
        values["prazo"] = _prazo(int(data["days"]), lang)
    return values


def _texts_of(
    message: dict[str, Any], brand: _Brand, campaigns: dict[int, dict[str, Any]], lang: str
) -> tuple[list[str], dict[str, dict[str, str]], bool]:
    """(channels in order, texts per channel in `lang` (a campaign's as written), switched on)."""
    if message["campaign"] is not None:
        campaign = campaigns[message["campaign"]]
        written = msgspec.json.decode(campaign["texts"])
        return campaign["channels"].split(","), written, True
    automation = brand.automations[message["kind"]]
    return automation.channels, automation.texts[lang], automation.enabled


def _available(
    channel: str,
    *,
    brand: _Brand,
    person: dict[str, Any],
    granted: set[str],
    devices: int,
    categories: list[str],
    spec: texts.Spec,
) -> str:
    """'' when the channel can take the message, else why not (no_device, no_consent, ...)."""
    if channel == "push":
        if not devices:
            return "no_device"
        if spec.category not in categories:
            return "no_consent"
        if spec.kind == "campaign" and "push" not in granted:
            return "no_consent"
        return ""
    if channel == "whatsapp":
        if not brand.settings.whatsapp_ready:
            return "not_set_up"
        if not person.get("phone"):
            return "no_address"
    elif not person.get("email"):
        return "no_address"
    return "" if channel in granted else "no_consent"


async def _decide(
    message: dict[str, Any],
    brand: _Brand,
    person: dict[str, Any] | None,
    granted: set[str],
    devices: int,
    recent: dict[int, int],
    campaigns: dict[int, dict[str, Any]],
    now: dt.datetime,
    *,
    balance: int,
    categories: list[str],
    handed: list[tuple[int, push.Handed]],
) -> Outgoing | None:
    """What becomes of one message: skipped, held, handed to push (added to `handed`, which the
    caller turns into deliveries for the whole batch), or returned to be sent by e-mail or
    WhatsApp (the caller marks it `sending`). `categories`: the shopper's push categories (none
    without a device)."""
    mid, kind = message["id"], message["kind"]
    spec = texts.spec_of(kind)
    data = msgspec.json.decode(message["data"]) if message["data"] else {}
    if person is None or person["forgotten_at"] is not None:
        await _skip(mid, "no_customer", now)
        return None
    lang = language_of(brand.view, person)
    channels, written, enabled = _texts_of(message, brand, campaigns, lang)
    if not enabled:
        await _skip(mid, "disabled", now)
        return None
    if not await _still_relevant(kind, data):
        await _skip(mid, "spent", now)
        return None
    local = now.astimezone(zoneinfo.ZoneInfo(brand.view.timezone))
    if brand.settings.quiet_at(local):
        until = brand.settings.quiet_until(local).astimezone(dt.UTC)
        await db.fetch(
            "UPDATE messages SET state = 'held', reason = 'quiet_hours', due_at = {} WHERE id = {}",
            until,
            mid,
        )
        return None
    cap = brand.settings.weekly_cap
    if spec.capped and cap and recent.get(message["customer"], 0) >= cap:
        await _skip(mid, "capped", now)
        return None
    tried = [c for c in message["tried"].split(",") if c]
    why = []
    for channel in channels:
        if channel in tried:
            continue
        reason = _available(
            channel,
            brand=brand,
            person=person,
            granted=granted,
            devices=devices,
            categories=categories,
            spec=spec,
        )
        if reason:
            why.append(reason)
            continue
        link = f"{brand.origin}/m/{message['token']}"
        values = await values_of(
            brand=brand.view, person=person, data=data, link=link, now=now, balance=balance
        )
        fields = {name: texts.render(text, values) for name, text in written.get(channel, {}).items()}
        if spec.capped:
            recent[message["customer"]] = recent.get(message["customer"], 0) + 1
        if channel == "push":
            handed.append((mid, _notice(message, spec, fields, data)))
            return None
        raw = written.get("whatsapp", {}).get("body", "")
        return Outgoing(
            id=mid,
            brand_id=brand.view.id,
            channel=channel,
            to=person["phone"] if channel == "whatsapp" else person["email"],
            lang=lang,
            fields=fields,
            parameters=texts.parameters(raw, values) if channel == "whatsapp" else [],
            link=link,
            unsubscribe=f"{brand.origin}/unsubscribe/{message['token']}",
            attempts=message["attempts"] + 1,
        )
    reason = "no_consent" if "no_consent" in why else (why[0] if why else "no_channel")
    await _skip(
        mid, reason if not tried else "failed_every_channel", now, state="skipped" if not tried else "failed"
    )
    return None


def _notice(
    message: dict[str, Any], spec: texts.Spec, fields: dict[str, str], data: dict[str, Any]
) -> push.Handed:
    shape = notices.shape_of(spec.kind, data)
    notice = notices.Notice(
        category=spec.category,
        title=fields.get("title", ""),
        body=fields.get("body", ""),
        # Through the message's own link, so a tap on the notice counts as a click (it then opens
        # the app's page, message["url"]).
        url=f"/m/{message['token']}",
        **shape,
    )
    return push.Handed(event_id=message["event"], customer_id=message["customer"], notice=notice)


_PUSH_SENT = (
    "UPDATE messages SET state = 'sent', channel = 'push', reason = '', sent_at = {}, lease_until = NULL "
    "WHERE id IN (%s)"
)


async def _hand_to_push(brand: BrandView, handed: list[tuple[int, push.Handed]], now: dt.datetime) -> None:
    """The batch's notices for push become deliveries, and their messages are sent (by push)."""
    if not handed:
        return
    await push.deliver(brand=brand, handed=[h for _, h in handed], now=now)
    ids = [mid for mid, _ in handed]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await db.fetch(_PUSH_SENT % _marks(chunk), now, *chunk)


# --- what the channel said -----------------------------------------------------------------------


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """A channel's answer: sent (provider_id), or not: transient (retry) or permanent (fall back)."""

    provider_id: str | None = None
    transient: bool = False
    detail: str = ""


_MARK_SENT = (
    "UPDATE messages SET state = 'sent', provider_id = CASE id %s END, sent_at = {}, lease_until = NULL, "
    "detail = '' WHERE id IN (%s)"
)


async def record(results: list[tuple[Outgoing, Result]], *, now: dt.datetime) -> None:
    """Write each answer, in one transaction: the sent ones in one UPDATE (per 500, as a statement
    per message cost more than the database's work), the others one by one."""

    async def work() -> None:
        sent = [(out.id, result.provider_id) for out, result in results if result.provider_id is not None]
        for start in range(0, len(sent), 500):
            chunk = sent[start : start + 500]
            ids = [mid for mid, _ in chunk]
            cases = " ".join("WHEN {} THEN {}" for _ in chunk)
            await db.fetch(_MARK_SENT % (cases, _marks(ids)), *(v for pair in chunk for v in pair), now, *ids)
        for out, result in results:
            if result.provider_id is not None:
                continue
            if result.transient and out.attempts < MAX_ATTEMPTS:
                await db.fetch(
                    "UPDATE messages SET state = 'queued', due_at = {}, lease_until = NULL, detail = {} "
                    "WHERE id = {}",
                    now + BACKOFF * 2 ** (out.attempts - 1),
                    result.detail[:300],
                    out.id,
                )
            else:
                await _fall_back(out.id, out.channel, result.detail, now)

    await db.write(work)


async def _fall_back(message_id: int, channel: str, detail: str, now: dt.datetime) -> None:
    """This channel could not take it: the message goes to the next channel (decided again now;
    with none left it ends `failed`)."""
    await db.fetch(
        "UPDATE messages SET state = 'queued', "
        "tried = CASE WHEN tried = '' THEN {} ELSE tried || ',' || {} END, "
        "channel = '', due_at = {}, lease_until = NULL, attempts = 0, detail = {} WHERE id = {}",
        channel,
        channel,
        now,
        detail[:300],
        message_id,
    )


async def abandon_stale(now: dt.datetime) -> int:
    """A worker that died while sending leaves `sending`: those become `unknown`, never sent
    again (the provider may have taken them)."""
    rows = await db.write(
        lambda: db.fetch(
            "UPDATE messages SET state = 'unknown', lease_until = NULL WHERE state = 'sending' "
            "AND lease_until < {} RETURNING id",
            now,
        )
    )
    return len(rows)


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    provider_id: str
    status: str  # sent | delivered | read | failed
    at: dt.datetime
    detail: str = ""


class StatusesApplied(msgspec.Struct, frozen=True, kw_only=True):
    updated: int
    waiting: int  # recent statuses of no message yet: the send's answer is still being recorded


async def statuses(*, brand_id: int, changes: list[StatusChange], now: dt.datetime) -> StatusesApplied:
    """WhatsApp's callbacks: delivered and read are noted (read implies delivered), failed falls
    back to the next channel. Callbacks come late, twice, or out of order: each only moves on. One
    may even come before the send's answer is recorded: `waiting` counts those (under 10 minutes
    old), so the hook asks Meta to send them again."""
    updated = waiting = 0

    async def work() -> None:
        nonlocal updated, waiting
        for change in changes:
            rows = await db.fetch(
                "SELECT id, state FROM messages WHERE brand = {} AND provider_id = {} "
                "AND channel = 'whatsapp'",
                brand_id,
                change.provider_id,
            )
            if not rows:
                waiting += now - change.at < dt.timedelta(minutes=10)
                continue
            row = rows[0]
            if change.status == "failed":
                if row["state"] in SENT:
                    await _fall_back(row["id"], "whatsapp", change.detail, now)
                    updated += 1
                continue
            if change.status not in ("delivered", "read"):
                continue
            state = "read" if change.status == "read" or row["state"] == "read" else "delivered"
            read_at = change.at if change.status == "read" else None
            await db.fetch(
                "UPDATE messages SET state = {}, delivered_at = COALESCE(delivered_at, {}), "
                "read_at = COALESCE(read_at, {}) WHERE id = {} AND state IN ('sent', 'delivered', 'read')",
                state,
                change.at,
                read_at,
                row["id"],
            )
            updated += 1

    await db.write(work)
    return StatusesApplied(updated=updated, waiting=waiting)


# Replies that mean "stop sending me this", as shoppers write them (accents and case aside).
STOP_WORDS = frozenset(
    {
        "sair",
        "parar",
        "pare",
        "stop",
        "cancelar",
        "descadastrar",
        "nao quero",
        "nao quero mais",
        "unsubscribe",
    }
)


def is_stop(text: str) -> bool:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split()) in STOP_WORDS


async def opt_out_by_reply(*, brand_id: int, phone: str, now: dt.datetime) -> bool:
    """A shopper answered "SAIR" (or the like) on WhatsApp: their WhatsApp consent is withdrawn,
    from `unsubscribe`. False: the number is no shopper's of this brand."""
    rows = await db.fetch(
        "SELECT id FROM customers WHERE brand = {} AND phone = {} AND forgotten_at IS NULL", brand_id, phone
    )
    if not rows:
        return False
    await customers.set_consents(brand_id, rows[0]["id"], {"whatsapp": False}, source="unsubscribe", now=now)
    return True


# --- links in a message ------------------------------------------------------------------------


class Linked(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    customer: int
    channel: str
    url: str
    unsubscribed: bool


async def linked(*, brand_id: int, token: str) -> Linked:
    row = await db.fetch(
        "SELECT id, customer, channel, url, unsubscribed_at FROM messages WHERE brand = {} AND token = {}",
        brand_id,
        token[:40],
    )
    if not row:
        raise NotFound("no such message")
    r = row[0]
    return Linked(
        id=r["id"],
        customer=r["customer"],
        channel=r["channel"],
        url=r["url"],
        unsubscribed=r["unsubscribed_at"] is not None,
    )


async def clicked(*, brand_id: int, token: str, now: dt.datetime) -> str:
    """The shopper followed the message's link: noted once; where it leads (a path in the app)."""
    message = await linked(brand_id=brand_id, token=token)
    await db.write(
        lambda: db.fetch(
            "UPDATE messages SET clicked_at = {} WHERE id = {} AND clicked_at IS NULL", now, message.id
        )
    )
    return message.url if message.url.startswith("/") and not message.url.startswith("//") else "/"


async def opened(*, brand_id: int, token: str, now: dt.datetime) -> None:
    message = await linked(brand_id=brand_id, token=token)
    await db.write(
        lambda: db.fetch(
            "UPDATE messages SET opened_at = {} WHERE id = {} AND opened_at IS NULL", now, message.id
        )
    )


async def unsubscribe(*, brand_id: int, token: str, now: dt.datetime) -> Linked:
    """The shopper opted out of the channel this message came by (e-mail's one-click, or the
    page the link opens): recorded as a consent withdrawn, from `unsubscribe`."""
    message = await linked(brand_id=brand_id, token=token)
    channel = message.channel if message.channel in customers.CHANNELS else "email"

    async def work() -> None:
        await customers.record_consents(
            brand_id, message.customer, {channel: False}, source="unsubscribe", now=now
        )
        await db.fetch(
            "UPDATE messages SET unsubscribed_at = COALESCE(unsubscribed_at, {}) WHERE id = {}",
            now,
            message.id,
        )

    await db.write(work)
    return Linked(
        id=message.id, customer=message.customer, channel=channel, url=message.url, unsubscribed=True
    )


# --- reading ------------------------------------------------------------------------------------


async def of_customer(*, brand_id: int, customer_id: int, limit: int = 50) -> list[MessageView]:
    rows = await db.fetch(
        "SELECT id, kind, campaign, state, channel, tried, reason, detail, created_at, due_at, sent_at, "
        "delivered_at, read_at, opened_at, clicked_at FROM messages WHERE brand = {} AND customer = {} "
        "ORDER BY id DESC LIMIT {}",
        brand_id,
        customer_id,
        limit,
    )
    return msgspec.convert(rows, list[MessageView])


async def brand_of_number(number_id: str) -> int | None:
    """The brand whose WhatsApp number a callback is about (each callback names its number)."""
    rows = await db.fetch("SELECT brand FROM message_settings WHERE whatsapp_number_id = {}", number_id)
    return rows[0]["brand"] if len(rows) == 1 else None


async def purge(*, now: dt.datetime, keep: dt.timedelta) -> int:
    """Automatic messages finished `keep` ago go; a campaign's stay, its report counts them."""
    return await db.purge(
        "messages",
        "campaign IS NULL AND state IN ('sent', 'delivered', 'read', 'failed', 'skipped', 'unknown') "
        "AND created_at < {}",
        now - keep,
    )


# --- the return reminder ------------------------------------------------------------------------

# Shoppers whose latest purchase is between `days` and `days + 7` ago, with something to come
# back for (available cashback or an open voucher); the event's key makes it once per purchase.
_RETURN = (
    "SELECT s.customer, MAX(s.occurred_at) AS last_at, MAX(s.id) AS sale_id FROM sales s "
    "WHERE s.brand = {} AND s.cancelled_at IS NULL GROUP BY s.customer "
    "HAVING MAX(s.occurred_at) <= {} AND MAX(s.occurred_at) > {}"
)
_HAS_SOMETHING = (
    "SELECT c.id FROM customers c WHERE c.id IN (%s) AND c.forgotten_at IS NULL AND (EXISTS (SELECT 1 "
    "FROM ledger_lots l WHERE l.customer = c.id AND l.remaining > 0 AND l.available_at <= {} "
    "AND (l.expires_at IS NULL OR l.expires_at > {})) OR EXISTS (SELECT 1 FROM vouchers v "
    "WHERE v.customer = c.id AND v.cancelled_at IS NULL AND v.expires_at > {} AND NOT EXISTS "
    "(SELECT 1 FROM voucher_uses u WHERE u.voucher = v.id AND u.released_at IS NULL)))"
)


async def remind_to_return(*, brands_: list[BrandView], now: dt.datetime) -> int:
    """The return reminder: N days after a shopper's last purchase, only with a balance or a
    voucher waiting; once per (shopper, purchase, N)."""
    sent = 0
    for brand in brands_:
        days = (await message_settings.reminder_days(brand.id)).get(
            "customer.return_reminder", [int(texts.AUTOMATIONS["customer.return_reminder"].days)]
        )
        for day in days:
            rows = await db.fetch(
                _RETURN, brand.id, now - dt.timedelta(days=day), now - dt.timedelta(days=day + 7)
            )
            if not rows:
                continue
            last = {r["customer"]: r for r in rows}
            ids = sorted(last)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                waiting = await db.fetch(_HAS_SOMETHING % _marks(chunk), *chunk, now, now, now)
                for row in waiting:
                    sale = last[row["id"]]
                    payload = {
                        "customer_id": row["id"],
                        "days": day,
                        "last_purchase_at": _iso(sale["last_at"]),
                    }
                    key = f"return:{row['id']}:{sale['sale_id']}:{day}"
                    sent += await db.write(
                        functools.partial(
                            outbox.emit,
                            brand_id=brand.id,
                            kind="customer.return_reminder",
                            now=now,
                            dedupe_key=key,
                            payload=payload,
                        )
                    )
    return sent


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)
