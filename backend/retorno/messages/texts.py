"""What each automatic message says: its defaults in every language (from the catalogue), the
variables each may use, the check a brand's own text passes when saved, and the rendering.

A text is `{channel: {field: text}}` for one language: push has a title and a body, e-mail a
subject and a body, WhatsApp the name of the brand's approved template and its body written
with our variables (the body Meta approves has {{1}}, {{2}}... where ours has {nome}, {saldo}:
`template_body` gives it, and `parameters` the values in that order).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from retorno import i18n
from retorno.errors import N_, Field, Invalid

CHANNELS = ("push", "whatsapp", "email")
FIELDS = {"push": ("title", "body"), "email": ("subject", "body"), "whatsapp": ("template", "body")}
LIMITS = {"title": 120, "body": 1000, "subject": 150, "template": 512}
VARIABLE = re.compile(r"\{([a-z_]*)\}")
COMMON = ("nome", "saldo", "marca", "link")  # every message may use these


class Spec(msgspec.Struct, frozen=True, kw_only=True):
    """An automation: what fires it, what it may say, and how it behaves."""

    kind: str
    label: str  # what the admin lists (through the catalogue)
    url: str  # where its link leads in the app
    category: str  # the shopper's push category (push/service.py CATEGORIES)
    variables: tuple[str, ...] = ()  # beside COMMON
    capped: bool = False  # counts against the weekly cap (reminders; receipts of money do not)
    days: str = ""  # default days (before expiry, after the last purchase)
    defaults: dict[str, dict[str, str]] = {}  # English; translated when shown


AUTOMATIONS: dict[str, Spec] = {
    spec.kind: spec
    for spec in (
        Spec(
            kind="cashback.credited",
            label=N_("Cashback credited"),
            url="/statement",
            category="cashback",
            variables=("valor", "data"),
            defaults={
                "push": {
                    "title": N_("{valor} of cashback credited"),
                    "body": N_("You can use it from {data}."),
                },
                "email": {
                    "subject": N_("{valor} of cashback credited at {marca}"),
                    "body": N_(
                        "Hi {nome}, your purchase earned {valor} of cashback. You can use it from {data}."
                    ),
                },
                "whatsapp": {
                    "template": "cashback_creditado",
                    "body": N_(
                        "Hi {nome}, your purchase at {marca} earned {valor} of cashback, usable from {data}."
                    ),
                },
            },
        ),
        Spec(
            kind="points.credited",
            label=N_("Points earned"),
            url="/points",
            category="cashback",
            variables=("pontos", "valor", "data"),
            defaults={
                "push": {
                    "title": N_("You earned {pontos}"),
                    "body": N_("Exchange them for rewards at {marca} from {data}."),
                },
                "email": {
                    "subject": N_("You earned {pontos} at {marca}"),
                    "body": N_(
                        "Hi {nome}, your purchase earned {pontos}. From {data} you can exchange them "
                        "for rewards in the app: {link}"
                    ),
                },
                "whatsapp": {
                    "template": "pontos_creditados",
                    "body": N_("Hi {nome}, your purchase at {marca} earned {pontos}, usable from {data}."),
                },
            },
        ),
        Spec(
            kind="cashback.available",
            label=N_("Cashback became available"),
            url="/",
            category="cashback",
            variables=("valor", "data"),
            defaults={
                "push": {
                    "title": N_("{valor} of cashback ready to use"),
                    "body": N_("Use it on your next purchase at {marca}."),
                },
                "email": {
                    "subject": N_("Your {valor} of cashback is ready to use"),
                    "body": N_("Hi {nome}, your cashback is ready: your balance at {marca} is {saldo}."),
                },
                "whatsapp": {
                    "template": "cashback_disponivel",
                    "body": N_(
                        "Hi {nome}, your {valor} of cashback at {marca} is ready to use. Balance: {saldo}."
                    ),
                },
            },
        ),
        Spec(
            kind="cashback.expiring",
            label=N_("Cashback expiring"),
            url="/",
            category="expiry",
            variables=("valor", "data", "prazo"),
            capped=True,
            days="7,1",
            defaults={
                "push": {"title": N_("{valor} expire {prazo}"), "body": N_("Use your cashback by {data}.")},
                "email": {
                    "subject": N_("{valor} of your cashback expire {prazo}"),
                    "body": N_(
                        "Hi {nome}, {valor} of your cashback at {marca} expire {prazo}. Use it by {data}."
                    ),
                },
                "whatsapp": {
                    "template": "cashback_expirando",
                    "body": N_(
                        "Hi {nome}, {valor} of your cashback at {marca} expire {prazo}. Use it by {data}."
                    ),
                },
            },
        ),
        Spec(
            kind="voucher.issued",
            label=N_("Voucher issued"),
            url="/vouchers",
            category="vouchers",
            variables=("valor", "data"),
            defaults={
                "push": {"title": N_("You got a {valor} voucher"), "body": N_("Use it by {data}.")},
                "email": {
                    "subject": N_("You got a {valor} voucher at {marca}"),
                    "body": N_("Hi {nome}, you got a {valor} voucher. Use it by {data}."),
                },
                "whatsapp": {
                    "template": "vale_emitido",
                    "body": N_("Hi {nome}, you got a {valor} voucher at {marca}. Use it by {data}."),
                },
            },
        ),
        Spec(
            kind="voucher.expiring",
            label=N_("Voucher expiring"),
            url="/vouchers",
            category="vouchers",
            variables=("valor", "data", "prazo"),
            capped=True,
            days="7,1",
            defaults={
                "push": {"title": N_("Your voucher expires {prazo}"), "body": N_("Use it by {data}.")},
                "email": {
                    "subject": N_("Your {marca} voucher expires {prazo}"),
                    "body": N_("Hi {nome}, your {valor} voucher expires {prazo}. Use it by {data}."),
                },
                "whatsapp": {
                    "template": "vale_expirando",
                    "body": N_(
                        "Hi {nome}, your {valor} voucher at {marca} expires {prazo}. Use it by {data}."
                    ),
                },
            },
        ),
        Spec(
            kind="referral.joined",
            label=N_("A friend joined"),
            url="/invite",
            category="referrals",
            defaults={
                "push": {
                    "title": N_("A friend joined with your invitation"),
                    "body": N_("You both earn when they make their first purchase."),
                },
                "email": {
                    "subject": N_("A friend joined {marca} with your invitation"),
                    "body": N_(
                        "Hi {nome}, a friend joined with your invitation. You both earn when they buy."
                    ),
                },
                "whatsapp": {
                    "template": "amigo_entrou",
                    "body": N_("Hi {nome}, a friend joined {marca} with your invitation."),
                },
            },
        ),
        Spec(
            kind="referral.rewarded",
            label=N_("Invitation rewarded"),
            url="/invite",
            category="referrals",
            variables=("valor",),
            defaults={
                "push": {
                    "title": N_("Your invitation earned {valor}"),
                    "body": N_("It becomes usable with the purchase's return window."),
                },
                "email": {
                    "subject": N_("Your invitation earned {valor} at {marca}"),
                    "body": N_(
                        "Hi {nome}, your friend made their first purchase: you earned {valor} of cashback."
                    ),
                },
                "whatsapp": {
                    "template": "convite_premiado",
                    "body": N_("Hi {nome}, your invitation at {marca} earned {valor} of cashback."),
                },
            },
        ),
        Spec(
            kind="referral.welcome",
            label=N_("Welcome reward of an invited friend"),
            url="/statement",
            category="referrals",
            variables=("valor",),
            defaults={
                "push": {
                    "title": N_("Welcome: {valor} of cashback"),
                    "body": N_("It becomes usable with the purchase's return window."),
                },
                "email": {
                    "subject": N_("Welcome to {marca}: {valor} of cashback"),
                    "body": N_("Hi {nome}, you joined by an invitation and earned {valor} of cashback."),
                },
                "whatsapp": {
                    "template": "boas_vindas_convite",
                    "body": N_("Hi {nome}, welcome to {marca}: you earned {valor} of cashback."),
                },
            },
        ),
        Spec(
            kind="customer.return_reminder",
            label=N_("Return reminder"),
            url="/",
            category="cashback",
            variables=("data",),
            capped=True,
            days="30",
            defaults={
                "push": {
                    "title": N_("You have {saldo} waiting for you at {marca}"),
                    "body": N_("Come back and use it on your next purchase."),
                },
                "email": {
                    "subject": N_("You have {saldo} waiting for you at {marca}"),
                    "body": N_(
                        "Hi {nome}, your last purchase was on {data}. Come back: {saldo} are waiting for you."
                    ),
                },
                "whatsapp": {
                    "template": "lembrete_retorno",
                    "body": N_("Hi {nome}, you have {saldo} waiting for you at {marca}. Come back soon!"),
                },
            },
        ),
        Spec(
            kind="nps.ask",
            label=N_("Satisfaction survey (NPS)"),
            url="/nps/{token}",  # the survey's own page: the event's token fills it in
            category="cashback",
            defaults={
                "push": {
                    "title": N_("How was your purchase at {marca}?"),
                    "body": N_("From 0 to 10, how likely are you to recommend {marca} to a friend?"),
                },
                "email": {
                    "subject": N_("From 0 to 10, would you recommend {marca}?"),
                    "body": N_(
                        "Hi {nome}, thank you for your purchase. From 0 to 10, how likely are you to "
                        "recommend {marca} to a friend? It takes one tap: {link}"
                    ),
                },
                "whatsapp": {
                    "template": "pesquisa_nps",
                    "body": N_(
                        "Hi {nome}, from 0 to 10, how likely are you to recommend {marca} to a friend? "
                        "Answer here: {link}"
                    ),
                },
            },
        ),
    )
}
CAMPAIGN = Spec(kind="campaign", label=N_("Campaign"), url="/", category="campaigns", capped=True)


def spec_of(kind: str) -> Spec:
    return CAMPAIGN if kind == "campaign" else AUTOMATIONS[kind]


def url_of(spec: Spec, payload: dict[str, Any]) -> str:
    """Where a message's link leads: the spec's page, with the event's token where it has one
    (a survey's own page)."""
    if "{token}" in spec.url:
        return spec.url.replace("{token}", str(payload.get("token", "")))
    return spec.url


def defaults(spec: Spec, lang: str) -> dict[str, dict[str, str]]:
    """The spec's texts in `lang` (template names are names, not words: kept as they are)."""
    return {
        channel: {
            name: text if name == "template" else i18n.gettext(lang, text) for name, text in fields.items()
        }
        for channel, fields in spec.defaults.items()
    }


def check(
    spec: Spec, texts: Mapping[str, Mapping[str, str]], channels: list[str]
) -> dict[str, dict[str, str]]:
    """A brand's texts for one language, as saved: every chosen channel's fields filled, within
    length, and only the variables this message knows (an unknown one is refused, by name)."""
    allowed = set(COMMON) | set(spec.variables)
    clean: dict[str, dict[str, str]] = {}
    for channel in CHANNELS:
        given = texts.get(channel, {})
        fields = {name: str(given.get(name, "")).strip() for name in FIELDS[channel]}
        if channel in channels and not all(fields.values()):
            raise Invalid("%(field)s: fill in every text of a channel it goes by", field=Field(channel))
        for name, text in fields.items():
            if len(text) > LIMITS[name]:
                raise Invalid("%(field)s: at most %(n)s characters", field=Field(name), n=LIMITS[name])
            if name == "template":
                if text and not re.fullmatch(r"[a-z0-9_]{1,512}", text):
                    raise Invalid("%(field)s: lower-case letters, digits and _ only", field=Field("template"))
                continue
            for variable in VARIABLE.findall(text):
                if variable not in allowed:
                    raise Invalid(
                        "%(field)s: unknown variable {%(name)s}; this message knows %(known)s",
                        field=Field(name),
                        name=variable,
                        known=", ".join("{" + v + "}" for v in sorted(allowed)),
                    )
        clean[channel] = fields
    return clean


def render(text: str, values: Mapping[str, str]) -> str:
    """Variables replaced by their values (a variable the text should not have stays visible)."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def template_body(text: str) -> str:
    """The body to submit for approval at Meta: our variables become {{1}}, {{2}}... in order."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "{{" + str(count) + "}}"

    return VARIABLE.sub(number, text)


def parameters(text: str, values: Mapping[str, str]) -> list[str]:
    """The template's parameters: each variable's value, in the order the body has them."""
    # Meta refuses parameters with new lines, tabs or long runs of spaces: one space each.
    return [" ".join(values.get(name, "").split()) or "-" for name in VARIABLE.findall(text)]
