"""A message as an e-mail: HTML in the brand's colours (tables and inline styles, which common
mail clients render) with a plain-text part, and the one-click unsubscribe headers of RFC 8058."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from retorno import i18n
from retorno.brands.service import BrandView
from retorno.mail import Message

_TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def build(
    *,
    brand: BrandView,
    origin: str,
    to: str,
    subject: str,
    body: str,
    link: str,
    unsubscribe: str,
    now: dt.datetime,
    lang: str = "",
) -> Message:
    lang = lang or brand.locale
    _ = lambda text: i18n.gettext(lang, text)  # noqa: E731
    paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    why = _("You get this because you accepted messages from %(brand)s by e-mail.") % {"brand": brand.name}
    button = _("Open %(brand)s") % {"brand": brand.short_name or brand.name}
    html = (
        _environment()
        .get_template("messages/email.html")
        .render(
            lang=lang,
            subject=subject,
            preheader=paragraphs[0] if paragraphs else "",
            paragraphs=paragraphs,
            brand=brand.name,
            logo=f"{origin}/assets/icon-192.png?v={brand.app_version}",
            primary=brand.primary_color,
            on_primary=brand.on_primary,
            link=link,
            button=button,
            why=why,
            unsubscribe=unsubscribe,
            unsubscribe_label=_("Unsubscribe"),
            opened=f"{link}/o.gif",
        )
    )
    text = "\n\n".join([*paragraphs, f"{button}: {link}", f"{why} {_('Unsubscribe')}: {unsubscribe}"])
    return Message(
        to=to,
        subject=subject,
        text=text,
        html=html,
        sender_name=brand.name,
        sent_at=now,
        headers=(
            ("List-Unsubscribe", f"<{unsubscribe}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )
