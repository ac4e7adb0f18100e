"""The shopper's pages so far: home with the balance, the statement and its CSV, regulations, help."""

import csv
import datetime as dt
import io
import re

import pytest

from retorno import db
from retorno.auth import sessions
from retorno.auth.tables import Session
from retorno.customers.tables import Consent
from retorno.ledger import balances
from retorno.ledger import sweep as ledger_sweep
from retorno.sales import orders
from tests.conftest import brand_url, post_form


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def signed_in(client, api, clock, slug: str = "bella", email: str = "ana@example.com") -> int:
    """A shopper with a sale, signed in on `slug`'s host (the session made directly, as sign-in would)."""
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.customers.service import Identity

    brand = await brands.get_brand(slug)
    customer = await customers.lookup(brand.id, Identity(email=email))
    token = await sessions.start_session(brand_id=brand.id, customer_id=customer.id, now=clock())
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
    assert "15% de R$ 150,00 em maquiagem" in statement and "10% de R$ 100,00" in statement
    assert (
        "Usado como desconto" in statement and "Devolvido: uma compra com cashback foi cancelada" in statement
    )
    assert "Estornado: o pedido P-1 foi devolvido ou cancelado" in statement
    assert "disponível até" in statement
    client.cookies.set("lang", "en")
    english = norm((await client.get(brand_url("bella", "/statement"))).text)
    assert "15% of R$150.00 in maquiagem" in english


async def test_an_expired_credit_is_explained(client, api, clock, demo):
    await api.post(
        "/sales", json={"order_id": "X-1", "customer": {"email": "ana@example.com"}, "total": 10000}
    )
    clock.advance(days=7 + 90 + 1)
    await ledger_sweep.sweep(brands=[demo["bella"]], now=clock())
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
    # As Excel in Portuguese opens it: a byte-order mark, `;`, Portuguese headers and kinds, a
    # decimal comma, local times to the second.
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    entries, _ = await balances.statement(
        brand_id=demo["bella"].id, customer_id=customer_id, now=clock(), limit=100
    )
    titles = {
        "earn": "Cashback",
        "redeem": "Desconto com cashback",
        "reverse": "Estorno",
        "expire": "Expirado",
        "redemption_cancel": "Desconto devolvido",
    }
    assert [r["Movimento"] for r in rows] == [titles[e.kind] for e in entries]
    assert {"Data", "Movimento", "Valor (R$)", "Situação", "Compra", "Explicação"} <= set(rows[0])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["Data"]) for r in rows)
    assert all("PED" not in r["Compra"] or r["Compra"].startswith("Pedido ") for r in rows)
    total = sum(round(float(r["Valor (R$)"].replace(",", ".")) * 100) for r in rows)
    balance = await balances.balance(brand=demo["bella"], customer_id=customer_id, now=clock())
    assert total == balance.available + balance.pending


async def test_a_session_of_one_brand_sees_nothing_at_another(client, api, clock, demo):
    await _history(api, clock)
    await signed_in(client, api, clock, slug="bella")
    response = await client.get(brand_url("mare", "/statement"))
    assert response.status_code == 303
    home = (await client.get(brand_url("mare", "/"))).text
    assert "balance-available" not in home


async def test_every_brand_page_on_another_brand_shows_nothing_of_the_shopper(app, client, api, clock, demo):
    """Built from the app's routes: every GET page of a brand host, asked on mare's host with a bella
    shopper's session, answers as to a stranger (a sign-in redirect, the public page or a 404)."""
    await _shopper_with_history(
        api, clock, "ana@example.com", "52998224725", "11988887777", "Ana Souza", "A-1"
    )
    await signed_in(client, api, clock, slug="bella")
    code = (await db.fetch("SELECT code FROM vouchers LIMIT 1"))[0]["code"]
    invite = (await client.get(brand_url("bella", "/invite"))).text
    referral = invite.split("/r/")[1].split('"')[0]
    secrets_ = ["ana@example.com", "Ana Souza", "52998224725", "A-1", code[:4], referral, "balance-available"]
    benefit = await _club_benefit(demo["bella"].id, clock)  # a pass she has shown: her name on it
    await post_form(client, brand_url("bella", f"/club/{benefit}/use"), {}, page=brand_url("bella", "/club"))
    secrets_ += ["PASSE-BELLA"]
    concrete = {
        "{name:str}": "logo-120.png",
        "{code:str}": referral,
        "{file_path:path}": "css/app.css",
        "{benefit_id:int}": str(benefit),
    }
    paths = set()
    for route in app.routes:
        # The site widget's JSON answers a brand's publishable key, not a session: its isolation
        # (another brand's key, token or origin) is tested in test_widget.py.
        if "GET" not in getattr(route, "methods", ()) or route.path.startswith(
            ("/api", "/admin", "/dev", "/widget/v1")
        ):
            continue
        path = route.path
        for param, value in concrete.items():
            path = path.replace(param, value)
        paths.add(path)
    assert {"/", "/statement", "/vouchers", "/invite", "/account/data.json", "/r/" + referral} <= paths
    assert {"/club", f"/club/{benefit}", f"/club/{benefit}/go", f"/club/{benefit}/image.jpg"} <= paths
    for path in sorted(paths):
        mine = await client.get(brand_url("bella", path))
        theirs = await client.get(brand_url("mare", path))
        # A message's click-through link (/m/<token>) always redirects: to the app's page, or to its
        # home for a token that is not this brand's.
        assert theirs.status_code in (200, 302, 303, 404), (path, theirs.status_code)
        if theirs.status_code == 302:
            assert path.startswith("/m/") and theirs.headers["location"] == "/", path
        if (
            mine.status_code == 200
            and path not in ("/", "/offline")
            and "text/html" in mine.headers.get("content-type", "")
        ):
            assert theirs.status_code in (303, 404) or "Ana" not in theirs.text, path
        shown = theirs.text.replace(f'value="{path}"', "")  # the language form echoes the path asked
        for secret in secrets_:
            assert secret not in shown, (path, secret)


# --- the account and data rights ------------------------------------------------------------------


async def _club_benefit(brand_id: int, clock) -> int:
    """A benefit of the brand's club, with a picture, shown at the partner (the shopper's pass)."""
    from retorno.club import service as club
    from tests.upload_corpus import _image

    checked = club.check(
        club.Draft(title="PASSE-BELLA", partner="Academia", how="show"), timezone="America/Sao_Paulo"
    )
    picture = club.picture(_image("PNG", size=(640, 360)))
    return await db.write(lambda: club.create(brand_id=brand_id, benefit=checked, image=picture, now=clock()))


async def _shopper_with_history(api, clock, email: str, cpf: str, phone: str, name: str, order: str) -> None:
    customer = {"email": email, "cpf": cpf, "phone": phone, "name": name}
    assert (
        await api.post("/sales", json={"order_id": order, "customer": customer, "total": 30000})
    ).status_code == 201


async def test_the_account_page_masks_the_cpf_and_records_consent_changes(client, api, clock, demo):
    await _shopper_with_history(
        api, clock, "ana@example.com", "52998224725", "11988887777", "Ana Souza", "A-1"
    )
    await signed_in(client, api, clock)
    page = (await client.get(brand_url("bella", "/account"))).text
    assert "***.982.***-25" in page and "52998224725" not in page and "Ana Souza" in page
    for granted, value in ((True, "yes"), (False, "")):
        clock.advance(minutes=5)
        form = {"email": value, "whatsapp": "yes"}
        answer = await post_form(client, brand_url("bella", "/account/consents"), form)
        assert answer.status_code == 303
        rows = await Consent.select().where(Consent.kind == "email").order_by(Consent.id)
        assert rows[-1]["granted"] is granted and rows[-1]["at"] == clock() and rows[-1]["source"] == "app"
    # WhatsApp was ticked both times: recorded once, when it changed; push never ticked: a no.
    whatsapp = await Consent.select().where(Consent.kind == "whatsapp")
    assert [r["granted"] for r in whatsapp] == [True]
    page = (await client.get(brand_url("bella", "/account?saved=1"))).text
    assert "Suas escolhas foram salvas." in page and "(no app)" in page


async def test_the_export_holds_everything_of_the_shopper_and_nothing_of_another(client, api, clock, demo):
    await _shopper_with_history(
        api, clock, "ana@example.com", "52998224725", "11988887777", "Ana Souza", "A-1"
    )
    await _shopper_with_history(
        api, clock, "bia@example.com", "11144477735", "11977776666", "Bia Lima", "B-1"
    )
    clock.advance(days=8)
    await api.post(
        "/redemptions",
        json={
            "redemption_id": "R-A",
            "order_id": "A-2",
            "customer": {"email": "ana@example.com"},
            "order_total": 10000,
            "amount": 500,
        },
    )
    ana_id = await signed_in(client, api, clock)
    await client.get(brand_url("bella", "/invite"))  # makes her referral code
    response = await client.get(brand_url("bella", "/account/data.json"))
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert set(data) >= {
        "profile",
        "consents",
        "sales",
        "ledger_entries",
        "redemptions",
        "vouchers",
        "referrals",
        "devices",
    }
    assert data["profile"]["email"] == "ana@example.com" and data["profile"]["cpf"] == "52998224725"
    assert [s["order_id"] for s in data["sales"]] == ["A-1"]
    assert [(e["kind"], e["unit"]) for e in data["ledger_entries"]] == [("earn", "brl"), ("redeem", "brl")]
    assert [r["redemption_id"] for r in data["redemptions"]] == ["R-A"]
    own_codes = await db.fetch("SELECT code FROM vouchers WHERE customer = {}", ana_id)
    assert own_codes and sorted(v["code"].replace("-", "") for v in data["vouchers"]) == sorted(
        r["code"] for r in own_codes
    )
    [code] = await db.fetch("SELECT code FROM referral_codes WHERE customer = {}", ana_id)
    assert data["referrals"]["referral_code"] == code["code"]
    text = response.text
    others = await db.fetch("SELECT code FROM vouchers WHERE customer <> {}", ana_id)
    assert others
    for other in (
        "bia@example.com",
        "11144477735",
        "Bia Lima",
        "B-1",
        *(o["code"][:4] + "-" for o in others),
    ):
        assert other not in text


async def _dump() -> str:
    rows = []
    for table in db.table_classes():
        rows.extend(await table.select())
    return repr(rows)


async def _sums() -> dict:
    entries = await db.fetch("SELECT customer, SUM(amount) AS total FROM ledger_entries GROUP BY customer")
    lots = await db.fetch("SELECT customer, SUM(remaining) AS total FROM ledger_lots GROUP BY customer")
    return {
        "entries": sorted((r["customer"], r["total"]) for r in entries),
        "lots": sorted((r["customer"], r["total"]) for r in lots),
    }


async def test_deleting_the_account_erases_the_person_and_keeps_the_money_records(client, api, clock, demo):
    await _shopper_with_history(
        api, clock, "ana@example.com", "52998224725", "11988887777", "Ana Souza", "A-1"
    )
    await _shopper_with_history(
        api, clock, "bia@example.com", "11144477735", "11977776666", "Bia Lima", "B-1"
    )
    await post_form(
        client, brand_url("bella", "/login"), {"email": "ana@example.com"}
    )  # a code row with her e-mail
    customer_id = await signed_in(client, api, clock)
    await client.get(brand_url("bella", "/invite"))  # she has an invitation link
    assert await db.fetch("SELECT id FROM referral_codes WHERE customer = {}", customer_id)
    before = await _sums()
    balance_before = await balances.balance(brand=demo["bella"], customer_id=customer_id, now=clock())

    refused = await post_form(client, brand_url("bella", "/account/delete"), {})
    assert refused.status_code == 422
    deleted = await post_form(client, brand_url("bella", "/account/delete"), {"confirm": "yes"})
    assert deleted.status_code == 303 and "cache" in deleted.headers["clear-site-data"]

    dump = await _dump()
    for personal in ("ana@example.com", "52998224725", "+5511988887777", "Ana Souza"):
        assert personal not in dump, personal
    assert "bia@example.com" in dump  # only her data went
    assert await _sums() == before  # every ledger sum unchanged
    after = await balances.balance(brand=demo["bella"], customer_id=customer_id, now=clock())
    assert (after.available, after.pending) == (balance_before.available, balance_before.pending)
    assert (await client.get(brand_url("bella", "/account"))).status_code == 303  # signed out everywhere
    assert await Session.count().where(Session.customer == customer_id) == 0
    # Her vouchers can no longer be used by anyone, and her invitation link is dead.
    live = await db.fetch("SELECT id FROM vouchers WHERE customer = {} AND cancelled_at IS NULL", customer_id)
    assert (
        live == [] and await db.fetch("SELECT id FROM referral_codes WHERE customer = {}", customer_id) == []
    )


# --- every page, for both brands and both languages ---------------------------------------------

HEADINGS = {
    "/": ("Seu cashback na", "Your cashback at"),
    "/statement": ("Extrato", "Statement"),
    "/account": ("Sua conta", "Your account"),
    "/account/security": ("Acesso e segurança", "Sign-in and security"),
    "/account/delete": ("Excluir minha conta", "Delete my account"),
    "/regulations": ("Regulamento", "Regulations"),
    "/help": ("Ajuda", "Help"),
    "/offline": ("Você está sem conexão", "You are offline"),
}
PUBLIC_ONLY = {"/login": ("Entrar", "Sign in"), "/join": ("Participe do programa", "Join the")}


def _written(centavos: int, lang: str) -> str:
    """Money as each locale writes it, by hand (not through Babel, which the app uses)."""
    reais, cents = divmod(centavos, 100)
    return (
        f"R$ {reais:,}".replace(",", ".") + f",{cents:02d}" if lang == "pt-BR" else f"R${reais:,}.{cents:02d}"
    )


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
@pytest.mark.parametrize("slug", ["bella", "mare"])
async def test_every_page_in_both_brands_and_languages(client, clock, demo, slug, lang):
    from retorno.customers.service import Identity

    brand, other = demo[slug], demo["mare" if slug == "bella" else "bella"]
    sale = orders.SaleIn(order_id="L-1", customer=Identity(email="ana@example.com"), total=123456)
    await orders.record(brand=brand, sale=sale, now=clock())
    client.cookies.set("lang", lang)
    which = 0 if lang == "pt-BR" else 1

    for path, words in PUBLIC_ONLY.items():
        page = await client.get(brand_url(slug, path))
        assert page.status_code == 200, path
        assert f'<html lang="{lang}"' in page.text and words[which] in page.text, path
    customer_id = await signed_in(client, None, clock, slug)
    balance = await balances.balance(brand=brand, customer_id=customer_id, now=clock())
    available_on = await balances.next_available(brand_id=brand.id, customer_id=customer_id, now=clock())
    local_day = available_on.astimezone(dt.timezone(dt.timedelta(hours=-3))).date()
    day = f"{local_day:%d/%m/%Y}" if lang == "pt-BR" else f"{local_day.month}/{local_day.day}/{local_day:%y}"
    for path, words in HEADINGS.items():
        page = await client.get(brand_url(slug, path))
        assert page.status_code == 200, path
        text = norm(page.text)
        assert f'<html lang="{lang}"' in text, path
        assert words[which] in text, (path, words[which])
        assert brand.name in text and other.name not in text, path
        assert "{{" not in text and "%(" not in text, path  # nothing left untranslated or unfilled
    home = norm((await client.get(brand_url(slug, "/"))).text)
    assert balance.pending > 0 and _written(balance.pending, lang) in home
    assert day in home  # "usable from" the day the return window ends, in the locale's format
    statement = norm((await client.get(brand_url(slug, "/statement"))).text)
    assert _written(balance.pending, lang) in statement and _written(123456, lang) in statement
    assert day in statement


@pytest.mark.parametrize("lang", ["pt-BR", "en"])
async def test_every_kind_of_movement_has_a_plain_explanation(demo, lang):
    """Kinds that no flow produces yet (adjustment, referral_reward) are explained all the same."""
    from retorno.portal.pages import KINDS, explain

    breakdown = {"items": [{"rate_bp": 1500, "amount": 15000, "category": "maquiagem"}]}
    texts = {}
    for kind in KINDS:
        line = {"kind": kind, "order_id": "P-9", "breakdown": breakdown if kind == "earn" else None}
        if kind == "adjustment":
            line["note"] = "troca de produto"
        texts[kind] = norm(explain(line, lang=lang, brand=demo["bella"]))
    assert len(set(texts.values())) == len(KINDS), texts  # no two kinds read alike
    for kind, text in texts.items():
        assert kind not in text and "%(" not in text, (kind, text)
    assert "troca de produto" in texts["adjustment"]  # the reason staff gave
    assert "P-9" in texts["earn"] and "P-9" in texts["reverse"]
    assert ("15% de R$ 150,00 em maquiagem" if lang == "pt-BR" else "15% of R$150.00 in maquiagem") in texts[
        "earn"
    ]


async def test_only_signed_in_home_and_statement_are_kept_offline_and_a_signed_out_home_says_so(
    client, api, clock, demo
):
    """The service worker keeps `Retorno-Offline: private` pages apart and empties them on `signed-out`;
    the browser's HTTP cache keeps none of them (no-store)."""
    public = await client.get(brand_url("bella", "/"))
    assert public.headers["retorno-offline"] == "signed-out"
    assert "no-store" not in public.headers.get("cache-control", "")
    await _history(api, clock)
    await signed_in(client, api, clock)
    for path in ("/", "/statement", "/statement?kind=earn"):
        page = await client.get(brand_url("bella", path))
        assert page.headers["retorno-offline"] == "private", path
        assert "no-store" in page.headers["cache-control"], path
        assert 'data-source="network"' in page.text and "Esta página foi salva em 18/11/2026 12:00" in norm(
            page.text
        ), path
    for path in ("/account", "/account/security", "/statement.csv", "/account/data.json"):
        page = await client.get(brand_url("bella", path))
        assert "retorno-offline" not in page.headers, path
        assert "no-store" in page.headers["cache-control"], path
