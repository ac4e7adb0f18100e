"""The shopper's pages so far: home with the balance, the statement and its CSV, regulations, help."""

import csv
import io

import pytest

from retorno.auth import service as auth
from retorno.ledger import service as ledger
from tests.conftest import brand_url


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def signed_in(client, api, clock, slug: str = "bella", email: str = "ana@example.com") -> int:
    """A shopper with a sale, signed in on `slug`'s host (the session made directly, as sign-in would)."""
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.customers.service import Identity

    brand = await brands.get_brand(slug)
    customer = await customers.lookup(brand.id, Identity(email=email))
    token = await auth.start_session(brand_id=brand.id, customer_id=customer.id, now=clock())
    client.cookies.set("retorno_session", token)  # sent to every host: another brand must ignore it
    return customer.id


async def _history(api, clock) -> None:
    """Earn (15% maquiagem + 10%), wait, redeem, cancel that redemption, refund part, let one expire."""
    sale = {
        "order_id": "P-1",
        "customer": {"email": "ana@example.com"},
        "total": 25000,
        "items": [{"sku": "b", "category": "maquiagem", "amount": 15000}, {"sku": "c", "amount": 10000}],
    }
    assert (await api.post("/sales", json=sale)).status_code == 201
    clock.advance(days=8)
    redeem = {
        "redemption_id": "R-1",
        "order_id": "P-2",
        "customer": {"email": "ana@example.com"},
        "order_total": 10000,
        "amount": 1000,
    }
    assert (await api.post("/redemptions", json=redeem)).status_code == 201
    assert (await api.post("/redemptions/R-1/cancel")).status_code == 200
    assert (
        await api.post("/sales/P-1/refunds", json={"refund_id": "F-1", "amount": 5000})
    ).status_code == 201


@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_regulations_and_help_are_public_and_the_brands_own(client, demo, slug):
    other = demo["mare" if slug == "bella" else "bella"]
    regulations = await client.get(brand_url(slug, "/regulations"))
    assert regulations.status_code == 200 and "Versão 1" in regulations.text and "<h1>" in regulations.text
    help_page = await client.get(brand_url(slug, "/help"))
    assert help_page.status_code == 200
    assert f"https://wa.me/{demo[slug].contact_whatsapp.lstrip('+')}" in help_page.text
    assert demo[slug].contact_email in help_page.text
    for page in (regulations, help_page):
        assert other.name not in page.text and other.contact_email not in page.text


async def test_help_faq_comes_from_the_rules(client, demo):
    text = norm((await client.get(brand_url("bella", "/help"))).text)
    rules = demo["bella"].rules()
    assert f"{rules.cashback.rate_bp // 100}% do valor de cada compra" in text
    assert f"{rules.cashback.pending_days} dias depois da compra" in text
    assert f"{rules.cashback.expiry_days} dias depois de ficar disponível" in text
    assert "R$ 30,00" in text  # bella's minimum order for using cashback


async def test_the_statement_needs_a_session(client, demo):
    response = await client.get(brand_url("bella", "/statement"))
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


async def test_home_shows_the_balance_and_the_statement_explains_every_entry(client, api, clock, demo):
    await _history(api, clock)
    await signed_in(client, api, clock)
    home = norm((await client.get(brand_url("bella", "/"))).text)
    # 15% of R$ 150,00 + 10% of R$ 100,00 = R$ 32,50; a fifth refunded takes back R$ 6,50 -> R$ 26,00
    assert 'id="balance-available">R$ 26,00' in home
    assert "no-store" in (await client.get(brand_url("bella", "/"))).headers["cache-control"]
    statement = norm((await client.get(brand_url("bella", "/statement"))).text)
    assert "15% de R$ 150,00 em Maquiagem" in statement and "10% de R$ 100,00" in statement
    assert (
        "Usado como desconto" in statement and "Devolvido: uma compra com cashback foi cancelada" in statement
    )
    assert "Estornado: o pedido P-1 foi devolvido ou cancelado" in statement
    assert "disponível até" in statement
    client.cookies.set("lang", "en")
    english = norm((await client.get(brand_url("bella", "/statement"))).text)
    assert "15% of R$150.00 in Maquiagem" in english


async def test_an_expired_credit_is_explained(client, api, clock, demo):
    await api.post(
        "/sales", json={"order_id": "X-1", "customer": {"email": "ana@example.com"}, "total": 10000}
    )
    clock.advance(days=7 + 90 + 1)
    await ledger.sweep(brands=[demo["bella"]], now=clock())
    await signed_in(client, api, clock)
    statement = norm((await client.get(brand_url("bella", "/statement"))).text)
    assert "Expirou: não foi usado a tempo" in statement and "expirado" in statement


async def test_statement_filters_and_pages_without_gaps(client, api, clock, demo):
    for i in range(25):
        await api.post(
            "/sales",
            json={"order_id": f"S-{i:02d}", "customer": {"email": "ana@example.com"}, "total": 1000 + i},
        )
        clock.advance(minutes=1)
    await signed_in(client, api, clock)
    first = (await client.get(brand_url("bella", "/statement"))).text
    assert first.count('class="movement movement-earn"') == 20
    cursor = first.split("/statement?cursor=")[1].split('"')[0]
    await api.post(
        "/sales", json={"order_id": "NEW", "customer": {"email": "ana@example.com"}, "total": 5000}
    )
    second = (await client.get(brand_url("bella", f"/statement?cursor={cursor}"))).text
    assert second.count('class="movement movement-earn"') == 5 and "Mais antigos" not in second
    orders = [f"S-{i:02d}" for i in range(25)]
    assert all((o in first) != (o in second) for o in orders)  # each once, none lost
    only = (await client.get(brand_url("bella", "/statement?kind=redeem"))).text
    assert 'class="movement movement-earn"' not in only
    assert (await client.get(brand_url("bella", "/statement?kind=nope"))).status_code == 422


async def test_the_csv_matches_the_ledger(client, api, clock, demo):
    await _history(api, clock)
    customer_id = await signed_in(client, api, clock)
    response = await client.get(brand_url("bella", "/statement.csv"))
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    entries, _ = await ledger.statement(
        brand_id=demo["bella"].id, customer_id=customer_id, now=clock(), limit=100
    )
    assert [r["kind"] for r in rows] == [e["kind"] for e in entries]
    total = sum(round(float(r["amount"]) * 100) for r in rows)
    balance = await ledger.balance(brand=demo["bella"], customer_id=customer_id, now=clock())
    assert total == balance.available + balance.pending


async def test_a_session_of_one_brand_sees_nothing_at_another(client, api, clock, demo):
    await _history(api, clock)
    await signed_in(client, api, clock, slug="bella")
    response = await client.get(brand_url("mare", "/statement"))
    assert response.status_code == 303
    home = (await client.get(brand_url("mare", "/"))).text
    assert "balance-available" not in home
