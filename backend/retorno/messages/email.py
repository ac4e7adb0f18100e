"""A message as an e-mail: HTML in the brand's colours (tables and inline styles, which common
mail clients render) with a plain-text part, and the one-click unsubscribe headers of RFC 8058."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from retorno import i18n
from retorno.brands.service import BrandView
from retorno.mail import Message

_TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


@functools.cache
def _template() -> Template:
    """Loaded once: `get_template` looks at the file's modification time on every call (1 % of a
    worker's time sending e-mail, bench/messages.py), and the file does not change while it runs."""
    return _environment().get_template("messages/email.html")


@functools.lru_cache(maxsize=64)
def _on_primary(brand: BrandView) -> str:
    """The text colour on the brand's colour: a contrast computed from the hex, the same for every
    message of a batch (1 % of a worker sending e-mail)."""
    return brand.on_primary


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
    html = _template().render(
        lang=lang,
        subject=subject,
        preheader=paragraphs[0] if paragraphs else "",
        paragraphs=paragraphs,
        brand=brand.name,
        logo=f"{origin}/assets/icon-192.png?v={brand.app_version}",
        primary=brand.primary_color,
        on_primary=_on_primary(brand),
        link=link,
        button=button,
        why=why,
        unsubscribe=unsubscribe,
        unsubscribe_label=_("Unsubscribe"),
        opened=f"{link}/o.gif",
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
