"""pt-BR by default with English available; money from integer centavos, formatted by Babel."""

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st
from jinja2.ext import babel_extract

from retorno import i18n
from tests.conftest import brand_url, post_form

BACKEND = Path(i18n.__file__).parent


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(
    ("centavos", "lang", "shown"),
    [
        (123456, "pt-BR", "R$ 1.234,56"),
        (0, "pt-BR", "R$ 0,00"),
        (5, "pt-BR", "R$ 0,05"),
        (-1240, "pt-BR", "-R$ 12,40"),
        (123456, "en", "R$1,234.56"),
        (100000000, "pt-BR", "R$ 1.000.000,00"),
    ],
)
def test_money(centavos, lang, shown):
    assert norm(i18n.money(centavos, lang=lang)) == shown


@given(st.integers(min_value=-(10**11), max_value=10**11))
def test_money_is_exact_for_any_amount_of_centavos(centavos):
    text = norm(i18n.money(centavos, lang="pt-BR"))
    digits = text.replace("R$", "").replace(" ", "").replace(".", "").replace(",", "")
    assert int(digits) == centavos


@given(
    st.integers(min_value=-(10**13), max_value=10**13),
    st.sampled_from(i18n.LANGUAGES),
    st.sampled_from(["BRL", "USD", "EUR"]),
)
def test_money_reads_exactly_as_babel_writes_it(centavos, lang, currency):
    """money() reuses the shape of one Babel rendering; it must match Babel for every amount."""
    from decimal import Decimal

    from babel.numbers import format_currency

    expected = format_currency(Decimal(centavos) / 100, currency, locale=i18n.babel_locale(lang))
    assert i18n.money(centavos, lang=lang, currency=currency) == expected


def test_money_falls_back_to_babel_for_a_shape_it_cannot_read():
    assert i18n._money_shape("pt-BR", "BRL") is not None
    assert i18n._money_shape("en", "JPY") is None  # no decimals: Babel formats every call
    assert i18n.money(12345, lang="en", currency="JPY") == "¥123"


async def test_pages_are_in_portuguese_by_default_and_english_on_request(client, demo):
    page = await client.get(brand_url("bella"))
    assert '<html lang="pt-BR" data-source="network">' in page.text and "Como funciona" in page.text
    switched = await post_form(client, brand_url("bella", "/lang"), {"lang": "en", "next": "/offline"})
    assert switched.status_code == 303 and switched.headers["location"] == "/offline"
    cookie = switched.cookies["lang"]
    assert cookie == "en" and "httponly" in switched.headers["set-cookie"].lower()
    english = await client.get(brand_url("bella"), headers={"cookie": "lang=en"})
    assert '<html lang="en" data-source="network">' in english.text and "How it works" in english.text
    manifest = (
        await client.get(brand_url("bella", "/manifest.webmanifest"), headers={"cookie": "lang=en"})
    ).json()
    assert manifest["lang"] == "en"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
async def test_the_language_switch_only_returns_to_this_host(client, demo, target):
    response = await post_form(client, brand_url("bella", "/lang"), {"lang": "en", "next": target})
    assert response.headers["location"] == "/"


async def test_an_unknown_language_falls_back_to_the_brand_language(client, demo):
    page = await client.get(brand_url("mare"), headers={"cookie": "lang=xx"})
    assert '<html lang="pt-BR" data-source="network">' in page.text


# Jinja's extractor leaves out calls with keyword arguments (`_("%(n)s left", n=...)`); a plain
# reading of every `_("...")` in the templates catches those too.
CALL = re.compile(r"""(?<![\w.])(?:_|gettext)\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")


def template_messages() -> set[tuple[str, str]]:
    found = set()
    for template in BACKEND.rglob("templates/**/*.html"):
        with template.open("rb") as f:
            for _line, _func, message, _comments in babel_extract(f, ("_", "gettext", "ngettext"), [], {}):
                if isinstance(message, str):
                    found.add((template.name, message))
        for message in CALL.findall(template.read_text(encoding="utf-8")):
            found.add((template.name, message.replace('\\"', '"')))
    return found


def test_every_template_message_has_a_portuguese_translation():
    with (BACKEND / "locale/pt_BR/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted((name, message) for name, message in template_messages() if message not in translated)
    assert len(template_messages()) > 300
    assert missing == []
