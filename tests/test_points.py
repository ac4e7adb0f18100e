"""Points: a brand whose programme gives points earns them by the cashback's rules onto the same
ledger in a unit of its own; shoppers exchange them for the catalogue's rewards in the app (a
voucher with its QR code, a product handed over at the counter, cashback), atomically and within
stock and limits; staff undo an exchange with a reason; and no other brand sees any of it."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from pathlib import Path

import httpx
import msgspec
import pytest

from retorno import db
from retorno.brands import service as brands
from retorno.brands.pack import read_pack
from retorno.brands.pack_writer import write_pack
from retorno.brands.rules import CashbackRules, PointsRules
from retorno.errors import Invalid
from retorno.ledger import balances, posting
from retorno.onboarding.brand import import_brand
from retorno.points import service as points
from tests.conftest import BASE_HOST, BRANDING, brand_url, demo_pack, post_form
from tests.test_admin_brand import _csrf, _staff

# 1 point per real, 2 on make-up, 7 days pending, a year valid (the demo's own).
POINTS = PointsRules(
    earn=CashbackRules(rate_bp=100, pending_days=7, expiry_days=365, categories={"maquiagem": 200})
)
ADMIN = "/admin/b/bella/points"


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def give_points(
    settings, slug: str = "bella", program: str = "both", rules: PointsRules = POINTS
) -> None:
    pack = demo_pack(slug)
    changed = msgspec.structs.replace(pack.rules, program=program, points=rules)
    await import_brand(msgspec.structs.replace(pack, rules=changed), base_host=settings.base_host)


@pytest.fixture
async def pts(settings, demo) -> dict[str, brands.BrandView]:
    """Both demo brands, Bella giving points beside cashback."""
    await give_points(settings)
    return {b.slug: b for b in await brands.list_brands()}


async def sale(
    api: httpx.AsyncClient, order: str, items: list[dict], *, email: str = "ana@example.com", at=None
):
    body = {
        "order_id": order,
        "customer": {"email": email, "name": "Ana Souza"},
        "total": sum(i["amount"] * i.get("quantity", 1) for i in items),
        "items": items,
    }
    if at is not None:
        body["occurred_at"] = at.isoformat()
    answer = await api.post("/sales", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def signed_in(app, brand: brands.BrandView, customer_id: int, clock) -> httpx.AsyncClient:
    from retorno.auth import sessions

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=brand_url(brand.slug))
    client.cookies.set(
        "retorno_session",
        await sessions.start_session(brand_id=brand.id, customer_id=customer_id, now=clock()),
    )
    return client


async def zero_sum_per_unit(brand_id: int) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT unit, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_postings WHERE brand = {} "
        "GROUP BY unit",
        brand_id,
    )
    return {r["unit"]: r["total"] for r in rows}


async def reward(brand_id: int, now, **typed: str) -> int:
    draft = points.Draft(
        **({"kind": "voucher", "title": "Vale de R$ 10", "points": "500", "value": "1000"} | typed)
    )
    return await points.save(brand_id=brand_id, draft=draft, now=now)


# --- the pack and the rules ---------------------------------------------------------------------


def test_a_pack_with_points_reads_back_as_it_was_written(tmp_path: Path):
    text = (BRANDING / "bella" / "brand.toml").read_text()
    text = text.replace(
        "[redemption]",
        '[points]\nprogram = "both"\nper_real = 1.5\nmin_purchase = "10.00"\nmax_per_order = 5000\n'
        "pending_days = 3\nexpiry_days = 180\ncategories = { maquiagem = 3 }\nsegments = { vip = 2 }\n"
        'bands = [{ from = "300.00", per_real = 2 }]\n\n[redemption]',
    )
    folder = tmp_path / "bella"
    folder.mkdir()
    for f in (BRANDING / "bella").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "brand.toml").write_text(text)
    pack = read_pack(folder)
    assert pack.rules.program == "both" and pack.rules.points is not None
    earn = pack.rules.points.earn
    assert (earn.rate_bp, earn.min_purchase, earn.max_per_order) == (150, 1000, 5000)
    assert (earn.pending_days, earn.expiry_days, earn.categories, earn.segments) == (
        3,
        180,
        {"maquiagem": 300},
        {"vip": 200},
    )
    assert [(b.from_total, b.rate_bp) for b in earn.bands] == [(30000, 200)]
    again = tmp_path / "again"
    write_pack(pack, again)
    assert read_pack(again).rules == pack.rules


def test_a_pack_with_bad_points_is_refused_naming_each_problem(tmp_path: Path):
    folder = tmp_path / "bella"
    folder.mkdir()
    for f in (BRANDING / "bella").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    text = (
        (folder / "brand.toml")
        .read_text()
        .replace(
            "[redemption]",
            '[points]\nprogram = "milhas"\nper_real = -1\nmax_per_order = "muito"\n\n[redemption]',
        )
    )
    (folder / "brand.toml").write_text(text)
    with pytest.raises(Invalid) as refused:
        read_pack(folder)
    problems = "\n".join(refused.value.problems)
    assert (
        "points.program" in problems and "points.per_real" in problems and "points.max_per_order" in problems
    )


# --- earning -------------------------------------------------------------------------------------


def model_points(items: list[dict]) -> int:
    """1 point per real, 2 on make-up; the sum rounded once, half to even (an independent model)."""
    exact = sum(
        Fraction(i["amount"] * i.get("quantity", 1), 100) * (2 if i.get("category") == "maquiagem" else 1)
        for i in items
    )
    return round(exact)  # Python's round of a Fraction is half to even


async def test_a_sale_earns_points_beside_unchanged_cashback(pts, api, clock):
    items = [
        {"sku": "BAT", "category": "maquiagem", "amount": 10000},
        {"sku": "SH", "category": "cabelo", "amount": 5050},
    ]
    answer = await sale(api, "P-1", items)
    assert answer["points"]["amount"] == model_points(items) == 250  # 200 + 50.5, half to even
    assert answer["points"]["status"] == "pending"
    # Bella's cashback (10%, 15% on make-up) is what it was without points: 1500 + 505.
    assert answer["cashback"]["amount"] == 2005
    customer = answer["customer_id"]
    bella = pts["bella"]
    now = clock()
    assert (await points.balance(brand=bella, customer_id=customer, now=now)).pending == 250
    later = now + dt.timedelta(days=8)
    held = await points.balance(brand=bella, customer_id=customer, now=later)
    assert (held.available, held.pending, held.currency) == (250, 0, "pts")
    money = await balances.balance(brand=bella, customer_id=customer, now=later)
    assert money.available == 2005  # the points never show in the money balance
    assert await zero_sum_per_unit(bella.id) == {"brl": 0, "pts": 0}


async def test_a_brand_of_points_only_gives_no_cashback(settings, demo, api):
    await give_points(settings, program="points")
    answer = await sale(api, "P-2", [{"category": "cabelo", "amount": 8000}])
    assert answer["cashback"]["amount"] == 0 and answer["points"]["amount"] == 80


async def test_a_brand_without_points_answers_as_before(demo, api):
    answer = await sale(api, "P-3", [{"category": "cabelo", "amount": 8000}])
    assert "points" not in answer and answer["cashback"]["amount"] == 800


async def test_a_refund_takes_back_the_points_in_proportion_and_writes_off_what_was_spent(
    pts, api, clock, app
):
    bella = pts["bella"]
    answer = await sale(
        api, "P-4", [{"category": "cabelo", "amount": 100000}], at=clock() - dt.timedelta(days=10)
    )
    customer = answer["customer_id"]
    assert answer["points"]["amount"] == 1000
    wanted = await reward(bella.id, clock(), points="600")
    done = await points.redeem(
        brand=bella, customer_id=customer, reward_id=wanted, request_key="k1", now=clock()
    )
    assert done.created and done.points == 600
    half = await api.post("/sales/P-4/refunds", json={"refund_id": "R-1", "amount": 50000})
    assert half.status_code == 201, half.text
    # Half the sale: 500 points back; 400 are left on the lot, the other 100 were spent.
    left = await points.balance(brand=bella, customer_id=customer, now=clock())
    assert left.available == 0
    [row] = await db.fetch("SELECT points_reversed, points_written_off FROM sale_refunds")
    assert (row["points_reversed"], row["points_written_off"]) == (400, 100)
    assert await zero_sum_per_unit(bella.id) == {"brl": 0, "pts": 0}


async def test_points_expire_per_lot_quietly(pts, api, clock):
    from retorno.ledger.sweep import sweep

    bella = pts["bella"]
    answer = await sale(api, "P-5", [{"amount": 12345}], at=clock() - dt.timedelta(days=400))
    await sweep(brands=[bella], now=clock())
    kinds = await db.fetch(
        "SELECT kind, unit, amount FROM ledger_entries WHERE customer = {} ORDER BY id", answer["customer_id"]
    )
    assert {"kind": "expire", "unit": "pts", "amount": -123} in kinds
    events = [r["kind"] for r in await db.fetch("SELECT kind FROM outbox_events")]
    assert (
        "points.credited" in events and events.count("cashback.expired") == 1
    )  # the cashback's own expiry only


# --- the catalogue ------------------------------------------------------------------------------


async def test_redeeming_a_voucher_takes_the_points_once_and_shows_its_qr_code(pts, api, app, clock):
    bella = pts["bella"]
    answer = await sale(api, "P-6", [{"amount": 120000}], at=clock() - dt.timedelta(days=10))
    wanted = await reward(bella.id, clock())
    shopper = await signed_in(app, bella, answer["customer_id"], clock)
    page = await shopper.get("/points")
    assert page.status_code == 200
    assert "1.200 pontos" in norm(page.text) and "Vale de R$ 10" in norm(page.text)
    key = re.search(rf'action="/points/rewards/{wanted}">.*?name="key" value="([^"]+)"', page.text, re.S)[1]
    form = {"key": key}
    first = await post_form(
        shopper, brand_url("bella", f"/points/rewards/{wanted}"), form, page=brand_url("bella", "/points")
    )
    again = await post_form(
        shopper, brand_url("bella", f"/points/rewards/{wanted}"), form, page=brand_url("bella", "/points")
    )
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]  # the same form twice: one exchange
    shown = await shopper.get(first.headers["location"])
    assert shown.status_code == 200 and "<svg" in shown.text and 'class="voucher-qr"' in shown.text
    [voucher] = await db.fetch(
        "SELECT code, amount, source FROM vouchers WHERE customer = {} AND source = 'points'",
        answer["customer_id"],
    )
    assert (voucher["amount"], voucher["source"]) == (1000, "points")
    assert voucher["code"][:4] in shown.text
    held = await points.balance(brand=bella, customer_id=answer["customer_id"], now=clock())
    assert held.available == 700
    lines = await balances.statement(
        brand_id=bella.id, customer_id=answer["customer_id"], now=clock(), unit=posting.POINTS
    )
    assert [(line.kind, line.amount) for line in lines[0]] == [("reward", -500), ("earn", 1200)]


async def test_not_enough_points_is_refused_in_portuguese_and_nothing_moves(pts, api, app, clock):
    bella = pts["bella"]
    answer = await sale(api, "P-7", [{"amount": 30000}], at=clock() - dt.timedelta(days=10))
    wanted = await reward(bella.id, clock(), points="301")
    shopper = await signed_in(app, bella, answer["customer_id"], clock)
    page = await shopper.get("/points")
    assert f'action="/points/rewards/{wanted}"' not in page.text  # no button, but how many are missing
    refused = await post_form(
        shopper,
        brand_url("bella", f"/points/rewards/{wanted}"),
        {"key": "x1"},
        page=brand_url("bella", "/points"),
    )
    assert refused.status_code == 409
    assert "Você não tem pontos suficientes" in norm(refused.text)
    assert (
        await points.balance(brand=bella, customer_id=answer["customer_id"], now=clock())
    ).available == 300
    assert await db.fetch("SELECT id FROM reward_redemptions") == []


async def test_stock_and_the_limit_per_shopper_are_kept(pts, api, clock):
    bella = pts["bella"]
    ana = (await sale(api, "P-8", [{"amount": 500000}], at=clock() - dt.timedelta(days=10)))["customer_id"]
    bia = (
        await sale(
            api, "P-9", [{"amount": 500000}], email="bia@example.com", at=clock() - dt.timedelta(days=10)
        )
    )["customer_id"]
    scarce = await reward(
        bella.id,
        clock(),
        kind="product",
        title="Nécessaire",
        points="100",
        value="",
        stock="2",
        per_shopper="1",
    )
    await points.redeem(brand=bella, customer_id=ana, reward_id=scarce, request_key="a1", now=clock())
    with pytest.raises(points.RewardRefused) as limit:
        await points.redeem(brand=bella, customer_id=ana, reward_id=scarce, request_key="a2", now=clock())
    assert limit.value.reason == "limit"
    await points.redeem(brand=bella, customer_id=bia, reward_id=scarce, request_key="b1", now=clock())
    carol = (
        await sale(
            api, "P-10", [{"amount": 500000}], email="carol@example.com", at=clock() - dt.timedelta(days=10)
        )
    )["customer_id"]
    with pytest.raises(points.RewardRefused) as gone:
        await points.redeem(brand=bella, customer_id=carol, reward_id=scarce, request_key="c1", now=clock())
    assert gone.value.reason == "out_of_stock"
    # Undoing one gives its unit back to the stock.
    [first] = await points.redemptions(bella.id, customer_id=ana)
    await points.undo(
        brand=bella, redemption_id=first.id, by="caixa@bella.example", reason="Cliente desistiu", now=clock()
    )
    done = await points.redeem(
        brand=bella, customer_id=carol, reward_id=scarce, request_key="c2", now=clock()
    )
    assert done.created and len(done.code) == 10


async def test_undo_gives_the_points_back_but_not_after_the_voucher_or_cashback_was_used(pts, api, clock):
    bella = pts["bella"]
    customer = (await sale(api, "P-11", [{"amount": 200000}], at=clock() - dt.timedelta(days=10)))[
        "customer_id"
    ]
    voucher = await reward(bella.id, clock(), points="500")
    convert = await reward(
        bella.id, clock(), kind="cashback", title="R$ 5 de cashback", points="300", value="500"
    )
    v = await points.redeem(
        brand=bella, customer_id=customer, reward_id=voucher, request_key="v", now=clock()
    )
    c = await points.redeem(
        brand=bella, customer_id=customer, reward_id=convert, request_key="c", now=clock()
    )
    money = await balances.balance(brand=bella, customer_id=customer, now=clock())
    assert money.available == 20000 + 500  # the sale's cashback and the converted R$ 5
    assert (await points.balance(brand=bella, customer_id=customer, now=clock())).available == 2000 - 800
    used = await api.post(f"/vouchers/{v.code}/redeem", json={"order_id": "USE-1", "order_total": 6000})
    assert used.status_code in (200, 201), used.text
    with pytest.raises(Exception, match="already used"):
        await points.undo(brand=bella, redemption_id=v.redemption_id, by="x", reason="engano", now=clock())
    undone = await points.undo(
        brand=bella, redemption_id=c.redemption_id, by="caixa", reason="engano", now=clock()
    )
    assert undone.state == "undone" and undone.reason == "engano"
    assert (await balances.balance(brand=bella, customer_id=customer, now=clock())).available == 20000
    assert (await points.balance(brand=bella, customer_id=customer, now=clock())).available == 2000 - 500
    with pytest.raises(Invalid):
        await points.undo(brand=bella, redemption_id=v.redemption_id, by="x", reason="  ", now=clock())
    assert await zero_sum_per_unit(bella.id) == {"brl": 0, "pts": 0}


async def test_a_product_is_handed_over_once_and_then_cannot_be_undone(pts, api, clock):
    bella = pts["bella"]
    customer = (await sale(api, "P-12", [{"amount": 200000}], at=clock() - dt.timedelta(days=10)))[
        "customer_id"
    ]
    gift = await reward(bella.id, clock(), kind="product", title="Nécessaire", points="1200", value="")
    done = await points.redeem(
        brand=bella, customer_id=customer, reward_id=gift, request_key="g", now=clock()
    )
    [found] = await points.redemptions(bella.id, code=done.code)
    assert found.id == done.redemption_id
    handed = await points.fulfil(brand_id=bella.id, redemption_id=done.redemption_id, now=clock())
    assert handed.state == "fulfilled"
    with pytest.raises(Exception, match="handed over"):
        await points.undo(brand=bella, redemption_id=done.redemption_id, by="x", reason="r", now=clock())


# --- the admin ----------------------------------------------------------------------------------


async def test_a_manager_adds_a_reward_and_a_mistake_comes_back_in_portuguese(pts, app, clock, demo):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    wrong = await manager.post(
        f"http://{BASE_HOST}{ADMIN}",
        data={
            "_csrf_token": token,
            "kind": "voucher",
            "title": "Vale",
            "points": "muitos",
            "value": "10,00",
            "enabled": "1",
        },
    )
    assert wrong.status_code == 422 and "Nada foi salvo" in norm(wrong.text)
    assert 'value="Vale"' in wrong.text  # as typed
    made = await manager.post(
        f"http://{BASE_HOST}{ADMIN}",
        data={
            "_csrf_token": token,
            "kind": "voucher",
            "title": "Vale de R$ 20",
            "points": "900",
            "value": "20,00",
            "stock": "5",
            "enabled": "1",
        },
    )
    assert made.status_code == 303
    [row] = await db.fetch("SELECT title, points, value, stock FROM rewards")
    assert (row["title"], row["points"], row["value"], row["stock"]) == ("Vale de R$ 20", 900, 2000, 5)
    [audit] = await db.fetch("SELECT action FROM audit_events WHERE action LIKE 'reward.%'")
    assert audit["action"] == "reward.create"
    listed = await manager.get(f"http://{BASE_HOST}{ADMIN}")
    assert listed.status_code == 200 and "Vale de R$ 20" in listed.text


async def test_an_operator_undoes_an_exchange_with_a_reason(pts, api, app, clock, demo):
    bella = pts["bella"]
    customer = (await sale(api, "P-13", [{"amount": 100000}], at=clock() - dt.timedelta(days=10)))[
        "customer_id"
    ]
    wanted = await reward(bella.id, clock())
    done = await points.redeem(
        brand=bella, customer_id=customer, reward_id=wanted, request_key="o", now=clock()
    )
    operator = await _staff(app, clock, demo, "operator")
    token = await _csrf(operator)
    url = f"http://{BASE_HOST}{ADMIN}/redemptions/{done.redemption_id}/undo"
    no_reason = await operator.post(url, data={"_csrf_token": token, "reason": ""})
    assert no_reason.status_code == 422
    ok = await operator.post(url, data={"_csrf_token": token, "reason": "Troca por engano"})
    assert ok.status_code == 303
    assert (await points.balance(brand=bella, customer_id=customer, now=clock())).available == 1000
    [voucher] = await db.fetch(
        "SELECT cancelled_at FROM vouchers WHERE customer = {} AND source = 'points'", customer
    )
    assert voucher["cancelled_at"] is not None


# --- isolation ----------------------------------------------------------------------------------


async def test_no_brand_sees_or_takes_another_brands_rewards(settings, pts, api, app, clock, demo, api_keys):
    await give_points(settings, slug="mare")
    everyone = {b.slug: b for b in await brands.list_brands()}
    bella, mare = everyone["bella"], everyone["mare"]
    wanted = await reward(bella.id, clock(), points="10")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{BASE_HOST}/api/v1",
        headers={"authorization": f"Bearer {api_keys['mare']}"},
    ) as mare_api:
        buyer = (await sale(mare_api, "M-1", [{"amount": 100000}], at=clock() - dt.timedelta(days=40)))[
            "customer_id"
        ]
    with pytest.raises(points.RewardRefused) as refused:
        await points.redeem(brand=mare, customer_id=buyer, reward_id=wanted, request_key="m", now=clock())
    assert refused.value.reason == "not_found"
    shopper = await signed_in(app, mare, buyer, clock)
    page = await shopper.get("/points")
    assert page.status_code == 200 and "Vale de R$ 10" not in page.text
    taken = await post_form(
        shopper,
        brand_url("mare", f"/points/rewards/{wanted}"),
        {"key": "k"},
        page=brand_url("mare", "/points"),
    )
    assert taken.status_code == 404
    mare_owner = await _staff(app, clock, demo, "mare-owner")
    assert (await mare_owner.get(f"http://{BASE_HOST}/admin/b/mare/points/{wanted}")).status_code == 404
    assert "Vale de R$ 10" not in (await mare_owner.get(f"http://{BASE_HOST}/admin/b/mare/points")).text
    assert (await mare_owner.get(f"http://{BASE_HOST}{ADMIN}")).status_code in (403, 404)


async def test_a_brand_without_points_has_no_points_page(demo, app, api, clock):
    customer = (await sale(api, "N-1", [{"amount": 1000}]))["customer_id"]
    shopper = await signed_in(app, demo["bella"], customer, clock)
    assert (await shopper.get("/points")).status_code == 404
    home = await shopper.get("/")
    assert 'id="points-teaser"' not in home.text


# --- the widget ---------------------------------------------------------------------------------


async def test_the_widget_shows_points_on_products_and_carts(pts, app, client, api, clock):
    from retorno.widget import service as widget

    bella = pts["bella"]
    await sale(api, "W-1", [{"amount": 40000}], at=clock() - dt.timedelta(days=20))
    keyed = await widget.settings_for(bella.id, now=clock())
    key = keyed.publishable_key
    products = await client.get(f"/widget/v1/quote/product?key={key}&lang=pt-BR&p=12990:maquiagem&p=5000")
    assert products.status_code == 200, products.text
    first, second = products.json()["quotes"]
    assert (first["points"], second["points"]) == (round(Fraction(12990, 100) * 2), 50)  # 260 and 50
    assert norm(first["points_text"]) == "260 pontos"
    full = await widget.by_key(key)
    token = widget.sign(full.secret, "email:ana@example.com", int(clock().timestamp()) + 600)
    cart = await client.post(
        f"/widget/v1/quote/cart?key={key}&lang=pt-BR", json={"total": 10000, "token": token}
    )
    body = cart.json()
    assert body["points"] == 100 and norm(body["shopper"]["points_text"]) == "400 pontos"
    without = await client.post(f"/widget/v1/quote/cart?key={key}", json={"total": 10000})
    assert "shopper" in without.json() and without.json()["points"] == 100


async def test_the_widget_of_a_brand_without_points_says_nothing_of_points(demo, client, clock):
    from retorno.widget import service as widget

    key = (await widget.settings_for(demo["mare"].id, now=clock())).publishable_key
    quotes = await client.get(f"http://mare.{BASE_HOST}/widget/v1/quote/product?key={key}&p=5000")
    assert "points" not in quotes.text


async def test_the_api_tells_a_customers_points_and_a_brand_without_points_says_so(
    pts, api, clock, app, api_keys
):
    await sale(api, "A-1", [{"amount": 30000}], at=clock() - dt.timedelta(days=10))
    held = await api.get("/customers/email:ana@example.com/points")
    assert held.status_code == 200, held.text
    assert held.json()["available"] == 300 and held.json()["currency"] == "pts"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{BASE_HOST}/api/v1",
        headers={"authorization": f"Bearer {api_keys['mare']}"},
    ) as mare_api:
        none = await mare_api.get("/customers/email:ana@example.com/points")
    assert none.status_code == 404


async def test_the_home_of_a_points_only_brand_speaks_points_not_cashback(settings, demo, api, app, clock):
    await give_points(settings, program="points")
    bella = {b.slug: b for b in await brands.list_brands()}["bella"]
    customer = (await sale(api, "H-1", [{"amount": 15000}], at=clock() - dt.timedelta(days=10)))[
        "customer_id"
    ]
    shopper = await signed_in(app, bella, customer, clock)
    home = await shopper.get("/")
    assert home.status_code == 200
    assert 'id="points-teaser"' in home.text and 'id="balance-available"' not in home.text
    assert re.search(r'id="points-balance">150\b', norm(home.text))


async def test_the_customers_page_in_the_admin_shows_their_points(pts, api, app, clock, demo):
    customer = (await sale(api, "C-1", [{"amount": 25000}], at=clock() - dt.timedelta(days=10)))[
        "customer_id"
    ]
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get(f"http://{BASE_HOST}/admin/b/bella/customers/{customer}")
    assert page.status_code == 200
    assert re.search(r'id="customer-points">250\b', norm(page.text))


async def test_a_manager_turns_points_on_in_the_rules_and_a_mistake_is_named(demo, app, clock):
    from tests.test_admin_setup import RULES, _fields

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = _fields((await manager.get(f"http://{BASE_HOST}{RULES}")).text)
    assert form["pts.program"] == "cashback"
    on = form | {
        "pts.program": "both",
        "pts.per_real": "1,5",
        "pts.categories": "maquiagem 3",
        "pts.expiry_days": "180",
        "_csrf_token": token,
    }
    saved = await manager.post(f"http://{BASE_HOST}{RULES}", data=on)
    assert saved.status_code == 303, saved.text
    rules = (await brands.get_brand("bella")).rules()
    assert rules.program == "both" and rules.points is not None
    assert (rules.points.earn.rate_bp, rules.points.earn.categories, rules.points.earn.expiry_days) == (
        150,
        {"maquiagem": 300},
        180,
    )
    again = _fields((await manager.get(f"http://{BASE_HOST}{RULES}")).text)
    assert (again["pts.program"], again["pts.per_real"]) == ("both", "1,5")
    wrong = await manager.post(f"http://{BASE_HOST}{RULES}", data=on | {"pts.per_real": "muitos"})
    assert wrong.status_code == 422 and "points.per_real" in wrong.text
    off = await manager.post(
        f"http://{BASE_HOST}{RULES}", data=again | {"pts.program": "cashback", "_csrf_token": token}
    )
    assert off.status_code == 303 and (await brands.get_brand("bella")).rules().points is None
