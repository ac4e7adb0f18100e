"""The shopper app's words: statement lines name what the shopper knows (never the counter's ids),
the home explains an empty start, help writes phone numbers as people do, vouchers keep offline."""

import datetime as dt
import re

import pytest

from tests.conftest import brand_url
from tests.test_portal_pages import norm, signed_in

DAY = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("earn", "Compra na loja em 01/12/2026: 10% de R$ 200,00"),
        ("redeem", "Usado como desconto · Compra na loja em 01/12/2026"),
        ("reverse", "Estornado: uma compra na loja foi devolvida ou cancelada"),
    ],
)
async def test_a_counter_sale_reads_as_a_purchase_in_the_store(demo, kind, words):
    from retorno.portal.pages import explain

    breakdown = {"items": [{"rate_bp": 1000, "amount": 20000}]} if kind == "earn" else None
    line = {"kind": kind, "order_id": "balcao-3f9c2a7e", "occurred_at": DAY, "breakdown": breakdown}
    text = norm(explain(line, lang="pt-BR", brand=demo["bella"]))
    assert text == words
    assert "balcao" not in text and "3f9c" not in text


async def test_an_online_order_reads_by_its_number(demo):
    from retorno.portal.pages import explain

    line = {"kind": "earn", "order_id": "PED-1002", "occurred_at": DAY, "breakdown": {"items": []}}
    assert explain(line, lang="pt-BR", brand=demo["bella"]) == "Pedido PED-1002"
    assert explain(line, lang="en", brand=demo["bella"]) == "Order PED-1002"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("+55 11 98765-4321", "(11) 98765-4321"),
        ("+551133330000", "(11) 3333-0000"),
        ("11 3333-0000", "(11) 3333-0000"),
        ("+1 415 555 0100", "+1 415 555 0100"),
        ("0800 123 4567", "0800 123 4567"),
        ("", ""),
    ],
)
def test_phone_numbers_as_people_write_them(given, shown):
    from retorno.portal.pages import phone_text

    assert phone_text(given) == shown


async def test_help_shows_the_brands_numbers_formatted(client, demo):
    text = norm((await client.get(brand_url("bella", "/help"))).text)
    assert "(11) 3333-0000" in text and "(11) 99999-0000" in text
    assert 'href="tel:+551133330000"' in text


async def test_a_first_visit_says_how_to_earn_and_vouchers_are_kept_offline(client, api, clock, demo):
    # A shopper with no movement yet (a customer the API created, no sale).
    await api.post("/customers", json={"email": "ana@example.com", "name": "Ana Souza"})
    await signed_in(client, api, clock)
    home = norm((await client.get(brand_url("bella", "/"))).text)
    assert "Nenhuma movimentação ainda." in home
    assert "informando seu CPF ou e-mail" in home and "volta aqui como cashback" in home
    assert "Olá, Ana" in home and 'aria-current="page"' in home
    statement = norm((await client.get(brand_url("bella", "/statement"))).text)
    assert "Nenhuma movimentação ainda." in statement and "Seu cashback aparece aqui" in statement
    filtered = norm((await client.get(brand_url("bella", "/statement?kind=redeem"))).text)
    assert "Nenhuma movimentação deste tipo." in filtered and 'href="/statement">Ver tudo' in filtered
    vouchers = await client.get(brand_url("bella", "/vouchers"))
    assert vouchers.headers["retorno-offline"] == "private"
    assert "no-store" in vouchers.headers["cache-control"]


async def test_an_error_page_keeps_the_app_s_shell_and_its_dark_bar_colour(client, api, clock, demo):
    """A wrong address inside the app still has the brand's bar, the footer and, for a signed-in
    shopper, the tab bar; the browser's bar follows the dark scheme too."""
    lost = await client.get(brand_url("bella", "/extrato-antigo"))
    assert lost.status_code == 404 and "Página não encontrada" in lost.text
    assert 'class="app-bar"' in lost.text and 'class="tab-bar"' not in lost.text  # nobody signed in
    await api.post("/customers", json={"email": "ana@example.com", "name": "Ana Souza"})
    await signed_in(client, api, clock)
    lost = norm((await client.get(brand_url("bella", "/extrato-antigo"))).text)
    assert 'class="tab-bar"' in lost and 'href="/statement"' in lost and "aria-current" not in lost
    meta = r'<meta name="theme-color" content="(#[0-9A-F]{6})" media="\(prefers-color-scheme: %s\)">'
    light, dark = re.search(meta % "light", lost), re.search(meta % "dark", lost)
    assert light and dark and light.group(1) == "#8E2453" and dark.group(1) != light.group(1)
    theme = (await client.get(brand_url("bella", "/theme.css"))).text
    assert f"--primary:{dark.group(1)};" in theme.split("prefers-color-scheme: dark")[1]
