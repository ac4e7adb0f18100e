"""pt-BR by default with English available; money from integer centavos, formatted by Babel."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from retorno import i18n
from retorno.errors import Amount, Field, Invalid
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


def extracted() -> list[tuple[str, int, str, str | None, list[str]]]:
    """Every message of the package as `make messages` extracts it (backend/babel.cfg)."""
    with (BACKEND.parent / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = []
    for filename, line, message, comments, context in extract_from_dir(BACKEND, method_map, options_map):
        found.append((filename, line, message if isinstance(message, str) else message[0], context, comments))
    return found


def test_every_message_a_person_reads_has_a_portuguese_translation():
    """Templates, domain errors (their message ids and the names of their fields), N_() tables."""
    with (BACKEND / "locale/pt_BR/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {
        (m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id and m.string
    }
    found = extracted()
    missing = sorted(
        {
            (f"{name}:{line}", context, message)
            for name, line, message, context, _ in found
            if (context, message) not in translated
        }
    )
    assert len(found) > 1000
    assert {c for *_, c, _ in found} >= {None, "field"}
    assert missing == []


def test_no_error_is_raised_with_an_f_string():
    """An f-string cannot be looked up in the catalogue: a message id with parameters can."""
    formatted = [f"{name}:{line}: {message}" for name, line, message, _, comments in extracted() if comments]
    assert formatted == []


def test_an_error_is_translated_with_its_parameters_in_the_readers_language():
    error = Invalid(
        "refund of %(amount)s exceeds what remains of the sale (%(remains)s)",
        amount=Amount(150000),
        remains=Amount(5),
    )
    assert error.detail == "refund of 150000 centavos exceeds what remains of the sale (5 centavos)"
    assert (
        norm(i18n.error_text("pt-BR", error))
        == "a devolução de R$ 1.500,00 passa do que resta da venda (R$ 0,05)"
    )
    field = Invalid("%(field)s: at most %(max)s characters", field=Field("occurred_at"), max=20)
    assert i18n.error_text("pt-BR", field) == "data da venda: no máximo 20 caracteres"
    assert i18n.error_text("pt-BR", field, api=True) == "occurred_at: no máximo 20 caracteres"
    assert i18n.error_text("en", field, api=True) == "occurred_at: at most 20 characters"


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,fr;q=0.9", "pt-BR"),
        ("pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"),
        ("fr;q=0.9,en;q=0.8", "pt-BR"),
        ("de;q=0.5,en;q=0.9", "en"),
        ("", "pt-BR"),
        ("en;q=abc", "pt-BR"),
    ],
)
async def test_a_first_visit_speaks_the_language_the_browser_asks_for(client, demo, accept, lang):
    page = await client.get(brand_url("bella", "/join"), headers={"accept-language": accept})
    assert page.status_code == 200
    assert f'<html lang="{lang}"' in page.text
    assert (">Regulations<" in page.text) == (lang == "en")
    assert (">Regulamento<" in page.text) == (lang == "pt-BR")
    assert "Accept-Language" in page.headers["vary"]


async def test_the_choice_in_the_footer_wins_over_the_browser(client, demo):
    chosen = await post_form(client, brand_url("bella", "/lang"), {"lang": "pt-BR", "next": "/join"})
    assert chosen.status_code in (302, 303)
    page = await client.get(brand_url("bella", "/join"), headers={"accept-language": "en-US"})
    assert '<html lang="pt-BR"' in page.text


async def test_errors_on_a_portuguese_page_are_in_portuguese_and_in_english_on_an_english_one(client, demo):
    form = {"name": "A" * 300, "email": "ana@example.com", "accept": "on"}
    pt = await post_form(client, brand_url("bella", "/join"), form)
    assert pt.status_code == 422
    assert "nome: no máximo 200 caracteres" in pt.text
    client.headers["accept-language"] = "en-US"
    en = await post_form(client, brand_url("bella", "/join"), form)
    assert en.status_code == 422
    assert "name: at most 200 characters" in en.text


async def test_the_api_answers_in_english_unless_asked_for_portuguese(api):
    body = {"order_id": "X-1", "customer": {"email": "a@example.com"}, "total": 1000, "shipping": 2000}
    en = await api.post("/sales", json=body)
    assert en.status_code == 422 and en.json()["detail"] == "shipping: cannot be more than the total"
    assert en.json()["title"] == "Invalid input"
    pt = await api.post("/sales", json=body, headers={"accept-language": "pt-BR"})
    assert pt.json()["detail"] == "shipping: não pode ser maior que o total"
    assert pt.json()["title"] != "Invalid input"
    schema = await api.post("/sales", json={**body, "total": "10"}, headers={"accept-language": "pt-BR"})
    assert schema.status_code == 400, schema.text
    assert schema.json()["detail"] == "total: esperado int, veio str"


async def test_a_form_missing_a_field_is_refused_in_portuguese(client, demo):
    """Litestar's own validation ("Validation failed for POST /join") reads as the catalogue says."""
    refused = await post_form(client, brand_url("bella", "/join"), {"email": "ana@example.com"})
    assert refused.status_code == 400
    assert "Parte do que foi enviado falta ou não é válida." in refused.text
    assert "Validation failed" not in refused.text


@pytest.mark.parametrize(
    ("value", "per", "pt", "en"),
    [
        (1000, 10000, "10%", "10%"),
        (250, 10000, "2,5%", "2.5%"),
        (33.3, 100, "33,3%", "33.3%"),
        (0, 10000, "0%", "0%"),
    ],
)
def test_percentages_follow_the_locale(value, per, pt, en):
    assert i18n.percent(value, lang="pt-BR", per=per) == pt
    assert i18n.percent(value, lang="en", per=per) == en


def test_scripts_take_their_words_from_the_page():
    """A script holds no sentence of its own in either language: no `lang === "en" ? ... : ...`
    pairs, no Portuguese; its words are data-* attributes the server wrote through the catalogue."""
    scripts = sorted((BACKEND.parent.parent / "frontend" / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        assert 'lang === "en"' not in text and "lang === 'en'" not in text, script.name
        assert not re.search(r"[ãõçáéíóúâêô]", _code_only(text)), script.name


def _code_only(text: str) -> str:
    """The script without its comments (which may quote a Portuguese label)."""
    return "\n".join(line.split("//")[0] for line in text.splitlines())
