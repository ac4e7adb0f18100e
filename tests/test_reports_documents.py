"""The programme's reports (issue 19): shoppers using cashback, benefits generated and used,
recurrence, repurchase after using cashback, best sellers and campaign return. The expected figures
come from a model in Python over what the test posted (the API's own answers for the cashback of
each line), never from the code under test; another brand's sales at the same moments never show;
a sale at 23:30 in São Paulo on the month's last day counts in that month."""

from __future__ import annotations

import datetime as dt
import random
import re
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
import pytest

from retorno import db
from retorno.club.tables import Benefit, BenefitUse
from retorno.errors import Invalid
from retorno.reports import programme
from retorno.vouchers import coupons
from retorno.vouchers.tables import CouponUse, VoucherUse
from tests.conftest import BASE_HOST
from tests.test_admin_brand import _staff

ZONE = zoneinfo.ZoneInfo("America/Sao_Paulo")
OCT = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
SKUS = {"BAT-1": "maquiagem", "BAT-2": "maquiagem", "XAM-1": "cabelo", "XAM-2": "cabelo", "PERF": None}
BOUNDARY = dt.datetime(2026, 10, 31, 23, 30, tzinfo=ZONE)  # 02:30 UTC on 1 November


@dataclass
class Sale:
    order_id: str
    customer: str
    at: dt.datetime
    total: int
    lines: list[dict]  # {sku, category, amount, quantity, cashback}
    cashback: int
    cancelled: bool = False


@dataclass
class Redemption:
    redemption_id: str
    order_id: str
    customer: str
    at: dt.datetime
    amount: int
    cancelled_at: dt.datetime | None = None


@dataclass
class Model:
    sales: list[Sale] = field(default_factory=list)
    redemptions: list[Redemption] = field(default_factory=list)
    vouchers_issued: list[dt.datetime] = field(default_factory=list)


def day(at: dt.datetime) -> dt.date:
    return at.astimezone(ZONE).date()


def within(at: dt.datetime, first: dt.date, last: dt.date) -> bool:
    return first <= day(at) <= last


async def _sale(api, model: Model, clock, customer: str, rng: random.Random, order_id: str) -> Sale:
    lines = []
    for sku in rng.sample(list(SKUS), rng.randint(1, 3)):
        lines.append(
            {
                "sku": sku,
                "category": SKUS[sku],
                "amount": rng.randrange(1000, 9000),
                "quantity": rng.randint(1, 3),
            }
        )
    total = sum(x["amount"] * x["quantity"] for x in lines)
    body = {
        "order_id": order_id,
        "customer": {"email": customer},
        "total": total,
        "items": [{k: v for k, v in x.items() if v is not None} for x in lines],
        "occurred_at": clock().isoformat(),
    }
    answer = await api.post("/sales", json=body)
    assert answer.status_code in (200, 201), answer.text
    data = answer.json()
    shares = data["cashback"]["breakdown"]
    for line, share in zip(lines, shares, strict=True):
        assert share["sku"] == line["sku"]
        line["cashback"] = share["cashback"]
    sale = Sale(order_id, customer, clock(), total, lines, data["cashback"]["amount"])
    model.sales.append(sale)
    model.vouchers_issued += [clock()] * len(data.get("vouchers") or [])
    return sale


async def seed(api, clock, *, seed: int = 19, shoppers: int = 6) -> Model:
    """About two months of sales with items, cashback used on some orders, a few cancelled."""
    rng = random.Random(seed)
    model = Model()
    people = [f"s{i}@example.com" for i in range(shoppers)]
    clock.now = dt.datetime(2026, 9, 28, 15, 0, tzinfo=dt.UTC)
    n = 0
    boundary_done = False
    while clock() < dt.datetime(2026, 11, 20, tzinfo=dt.UTC):
        clock.advance(hours=rng.randrange(6, 40))
        if not boundary_done and clock() > BOUNDARY:
            clock.now = BOUNDARY.astimezone(dt.UTC)
            await _sale(api, model, clock, people[0], rng, "BOUNDARY")
            boundary_done = True
            continue
        n += 1
        who = rng.choice(people)
        order = f"O-{n}"
        if rng.random() < 0.3:
            spend = {"redemption_id": f"R-{n}", "order_id": order, "customer": {"email": who}}
            done = await api.post("/redemptions", json=spend | {"order_total": 20000, "amount": 500})
            if done.status_code in (200, 201):
                model.redemptions.append(Redemption(f"R-{n}", order, who, clock(), 500))
        sale = await _sale(api, model, clock, who, rng, order)
        if rng.random() < 0.1:
            clock.advance(minutes=5)
            assert (await api.post(f"/sales/{sale.order_id}/cancel", json={})).status_code in (200, 201)
            sale.cancelled = True
            for r in model.redemptions:  # a cancelled order's redemptions are cancelled with it
                if r.order_id == sale.order_id and r.cancelled_at is None:
                    r.cancelled_at = clock()
    # One redemption cancelled, in October.
    first = next(r for r in model.redemptions if day(r.at) >= dt.date(2026, 10, 5) and r.cancelled_at is None)
    answer = await api.post(f"/redemptions/{first.redemption_id}/cancel", json={})
    assert answer.status_code in (200, 201), answer.text
    first.cancelled_at = clock()
    assert len(model.redemptions) >= 5 and sum(s.cancelled for s in model.sales) >= 2
    return model


async def other_brand(app, api_keys, clock) -> None:
    """Mare's sales and redemptions at the same moments, large enough to show if they leaked."""
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {api_keys['mare']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{BASE_HOST}/api/v1", headers=headers
    ) as mare:
        clock.now = dt.datetime(2026, 10, 2, 15, 0, tzinfo=dt.UTC)
        for i in range(6):
            items = [{"sku": "BAT-1", "category": "maquiagem", "amount": 900000, "quantity": 1}]
            sale = {
                "order_id": f"M-{i}",
                "customer": {"email": "s0@example.com"},
                "total": 900000,
                "items": items,
            }
            assert (
                await mare.post("/sales", json=sale | {"occurred_at": clock().isoformat()})
            ).status_code in (200, 201)
            clock.advance(days=4)


# --- the independent model -----------------------------------------------------------------------


def expected_shoppers(m: Model, first: dt.date, last: dt.date) -> dict:
    sold = [s for s in m.sales if not s.cancelled and within(s.at, first, last)]
    used = [r for r in m.redemptions if r.cancelled_at is None and within(r.at, first, last)]
    per_day = {}
    for d in (first + dt.timedelta(days=i) for i in range((last - first).days + 1)):
        per_day[d] = (
            len({s.customer for s in sold if day(s.at) == d}),
            len({r.customer for r in used if day(r.at) == d}),
            sum(r.amount for r in used if day(r.at) == d),
        )
    return {
        "buyers": len({s.customer for s in sold}),
        "users": len({r.customer for r in used}),
        "earners": len({s.customer for s in m.sales if s.cashback > 0 and within(s.at, first, last)}),
        "used": sum(r.amount for r in used),
        "days": per_day,
    }


def expected_recurrence(m: Model, first: dt.date, last: dt.date) -> dict[int, tuple[int, int, int]]:
    counts = Counter(s.customer for s in m.sales if not s.cancelled and within(s.at, first, last))
    revenue = defaultdict(int)
    for s in m.sales:
        if not s.cancelled and within(s.at, first, last):
            revenue[s.customer] += s.total
    buckets = {}
    for n in (1, 2, 3, 4, 5):
        who = [c for c, k in counts.items() if (k >= 5 if n == 5 else k == n)]
        buckets[n] = (len(who), sum(counts[c] for c in who), sum(revenue[c] for c in who))
    return buckets


def expected_repurchase(m: Model, first: dt.date, last: dt.date, window: int) -> dict[str, tuple[int, int]]:
    live = [s for s in m.sales if not s.cancelled]
    used = sorted(
        (r for r in m.redemptions if r.cancelled_at is None and within(r.at, first, last)), key=lambda r: r.at
    )
    anchors: dict[str, Redemption] = {}
    for r in used:
        anchors.setdefault(r.customer, r)
    again_used = sum(
        any(
            s.customer == c and s.order_id != r.order_id and r.at < s.at <= r.at + dt.timedelta(days=window)
            for s in live
        )
        for c, r in anchors.items()
    )
    firsts: dict[str, Sale] = {}
    for s in sorted(live, key=lambda s: s.at):
        if within(s.at, first, last) and s.customer not in anchors:
            firsts.setdefault(s.customer, s)
    again_other = sum(
        any(s.customer == c and s is not f and f.at <= s.at <= f.at + dt.timedelta(days=window) for s in live)
        for c, f in firsts.items()
    )
    return {"used": (len(anchors), again_used), "not_used": (len(firsts), again_other)}


def expected_sellers(
    m: Model, first: dt.date, last: dt.date, key: str
) -> dict[str, tuple[int, int, int, int]]:
    out: dict[str, list[int]] = {}
    for s in m.sales:
        if s.cancelled or not within(s.at, first, last):
            continue
        seen = set()
        for line in s.lines:
            k = line[key] or ""
            row = out.setdefault(k, [0, 0, 0, 0])
            row[0] += line["amount"] * line["quantity"]
            row[1] += line["quantity"]
            if k not in seen:
                row[2] += 1
                seen.add(k)
            row[3] += line["cashback"]
    return {k: tuple(v) for k, v in out.items()}


# --- the tests ------------------------------------------------------------------------------------------


@pytest.fixture
async def seeded(app, api, api_keys, demo, clock):
    await other_brand(app, api_keys, clock)
    model = await seed(api, clock)
    clock.now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    return model


async def test_shoppers_using_cashback_match_the_model_day_by_day_and_the_boundary_sale_is_octobers(
    seeded, demo
):
    bella = demo["bella"]
    for first, last in (
        OCT,
        (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        (dt.date(2026, 9, 15), dt.date(2026, 11, 30)),
    ):
        got = await programme.shoppers(bella, first, last)
        want = expected_shoppers(seeded, first, last)
        assert (got.buyers, got.users, got.earners, got.used) == (
            want["buyers"],
            want["users"],
            want["earners"],
            want["used"],
        ), (first, last)
        assert {d.day: (d.buyers, d.users, d.used) for d in got.days} == want["days"]
    october = await programme.shoppers(bella, *OCT)
    assert next(d for d in october.days if d.day == dt.date(2026, 10, 31)).buyers >= 1  # 23:30 there
    november = await programme.shoppers(bella, dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    assert november.days[0].buyers == len(
        {s.customer for s in seeded.sales if not s.cancelled and day(s.at) == dt.date(2026, 11, 1)}
    )


async def test_recurrence_and_repurchase_match_the_model(seeded, demo):
    bella = demo["bella"]
    for first, last in (OCT, (dt.date(2026, 9, 15), dt.date(2026, 11, 30))):
        got = await programme.recurrence(bella, first, last)
        assert {
            b.purchases_min: (b.shoppers, b.purchases, b.revenue) for b in got.buckets
        } == expected_recurrence(seeded, first, last)
        for window in (3, 10, 30):
            rep = await programme.repurchase(
                bella, first, last, window_days=window, now=dt.datetime.now(dt.UTC)
            )
            assert {g.key: (g.shoppers, g.again) for g in rep.groups} == expected_repurchase(
                seeded, first, last, window
            ), (first, last, window)


async def test_best_sellers_match_the_model_with_each_lines_cashback(seeded, demo):
    bella = demo["bella"]
    for key in ("category", "sku"):
        got = await programme.sellers(bella, *OCT, by=key)
        want = expected_sellers(seeded, *OCT, key)
        assert {s.key: (s.revenue, s.units, s.sales, s.cashback) for s in got.rows} == want
        assert [s.revenue for s in got.rows] == sorted((s.revenue for s in got.rows), reverse=True)
    with pytest.raises(Invalid):
        await programme.sellers(bella, *OCT, by="brand")


async def test_benefits_count_cashback_vouchers_coupons_and_club(seeded, demo, clock):
    bella = demo["bella"]
    await coupons.save(
        brand_id=bella.id, draft=coupons.CouponDraft(code="BEMVINDA10", amount=1000), now=clock()
    )
    [coupon] = await db.fetch("SELECT id FROM coupons WHERE brand = {}", bella.id)
    [customer] = await db.fetch(
        "SELECT id FROM customers WHERE brand = {} AND email = {}", bella.id, "s1@example.com"
    )
    [voucher] = await db.fetch("SELECT id FROM vouchers WHERE brand = {} ORDER BY id LIMIT 1", bella.id)
    at = dt.datetime(2026, 10, 20, 14, 0, tzinfo=dt.UTC)
    common = {"order_total": 20000, "used_at": at}
    await db.insert(
        CouponUse,
        brand=bella.id,
        coupon=coupon["id"],
        customer=customer["id"],
        order_id="C-1",
        discount=1000,
        **common,
    )
    await db.insert(
        CouponUse,
        brand=bella.id,
        coupon=coupon["id"],
        customer=customer["id"],
        order_id="C-2",
        discount=700,
        released_at=at,
        order_total=20000,
        used_at=at,
    )
    await db.insert(
        VoucherUse, brand=bella.id, voucher=voucher["id"], order_id="V-1", discount=1000, **common
    )
    benefit = await db.insert(
        Benefit, brand=bella.id, title="Café", partner="Café", how="show", created_at=at, updated_at=at
    )
    await db.insert(BenefitUse, brand=bella.id, benefit=benefit, customer=customer["id"], used_at=at)
    got = await programme.benefits(bella, *OCT)
    lines = {x.key: x for x in got.lines}
    in_oct = [s for s in seeded.sales if within(s.at, *OCT)]
    assert lines["cashback"].generated_value == sum(s.cashback for s in in_oct)
    assert lines["cashback"].generated == sum(1 for s in in_oct if s.cashback > 0)
    redeemed = sum(r.amount for r in seeded.redemptions if within(r.at, *OCT))
    cancelled = sum(r.amount for r in seeded.redemptions if r.cancelled_at and within(r.cancelled_at, *OCT))
    assert lines["cashback"].used_value == redeemed - cancelled
    assert lines["vouchers"].generated == sum(1 for at in seeded.vouchers_issued if within(at, *OCT))
    assert (lines["vouchers"].used, lines["vouchers"].used_value) == (1, 1000)
    assert (lines["coupons"].used, lines["coupons"].used_value) == (1, 1000)  # the released one is not
    assert lines["club"].used == 1
    assert sum(d.club_uses for d in got.days if d.day == dt.date(2026, 10, 20)) == 1
    mare = await programme.benefits(demo["mare"], *OCT)
    assert {x.key: x.used for x in mare.lines} == {"cashback": 0, "vouchers": 0, "coupons": 0, "club": 0}


async def test_the_pages_show_the_reports_and_their_csv_in_portuguese(seeded, app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    period = {"start": "2026-10-01", "end": "2026-10-31"}
    base = "/admin/b/bella/reports"
    want = expected_shoppers(seeded, *OCT)
    page = await manager.get(f"{base}/shoppers", params=period)
    assert page.status_code == 200 and "<svg" in page.text
    assert re.search(rf'id="s-buyers">{want["buyers"]}<', page.text)
    assert 'aria-current="true">Clientes que usaram cashback<' in page.text
    csv_text = (await manager.get(f"{base}/shoppers.csv", params=period)).content.decode("utf-8-sig")
    rows = [line.split(";") for line in csv_text.strip().splitlines()]
    assert (
        rows[0] == ["Dia", "Clientes que compraram", "Usaram cashback", "Cashback usado"] and len(rows) == 32
    )
    assert rows[-1][0] == "2026-10-31" and int(rows[-1][1]) == want["days"][dt.date(2026, 10, 31)][0]
    used = sum(float(r[3].replace(",", ".")) for r in rows[1:])
    assert round(used * 100) == want["used"]

    for path in ("benefits", "recurrence", "products", "campaigns", "repurchase"):
        page = await manager.get(f"{base}/{path}", params=period)
        assert (page.status_code == 200 and "<svg" in page.text) or path == "campaigns", path
        csv = await manager.get(f"{base}/{path}.csv", params=period)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv"), path

    cats = (await manager.get(f"{base}/products.csv", params=period | {"by": "category"})).content.decode(
        "utf-8-sig"
    )
    header, *lines = [line.split(";") for line in cats.strip().splitlines()]
    assert header[:3] == ["Categoria", "Faturamento", "Unidades"]
    want_cats = expected_sellers(seeded, *OCT, "category")
    assert {r[0]: round(float(r[1].replace(",", ".")) * 100) for r in lines} == {
        k: v[0] for k, v in want_cats.items()
    }

    rep = await manager.get(f"{base}/repurchase", params=period | {"window": "10"})
    want_rep = expected_repurchase(seeded, *OCT, 10)
    assert rep.status_code == 200 and f'<td class="num">{want_rep["used"][0]}</td>' in rep.text
    assert (await manager.get(f"{base}/repurchase", params=period)).text.count(
        'value="30"'
    ) == 1  # the default
    for bad, message in (
        ("abc", "um número inteiro de dias"),
        ("0", "de 1 a 365 dias"),
        ("400", "de 1 a 365 dias"),
    ):
        page = await manager.get(f"{base}/repurchase", params=period | {"window": bad})
        assert page.status_code == 422 and message in page.text and f'value="{bad}"' in page.text, bad
    assert (await manager.get(f"{base}/repurchase.csv", params=period | {"window": "x"})).status_code == 422
    await manager.aclose()


async def test_campaign_return_lists_the_campaigns_sent_in_the_period_with_the_holdout_comparison(
    app, api, demo, clock
):
    from retorno.messages import campaigns

    bella = demo["bella"]
    for i in range(12):
        await api.post(
            "/sales", json={"order_id": f"P-{i}", "customer": {"email": f"c{i}@example.com"}, "total": 5000}
        )
    draft = campaigns.Draft(
        name="Volta",
        channels=["push"],
        written={"push": {"title": "Volta", "body": "Volte"}},
        holdout_bp=5000,
    )
    campaign_id = await campaigns.create(brand_id=bella.id, draft=draft, now=clock())
    await campaigns.send_due(now=clock())
    clock.advance(days=2)
    report = await campaigns.report(brand_id=bella.id, campaign_id=campaign_id, now=clock())
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get(
        "/admin/b/bella/reports/campaigns", params={"start": "2026-11-01", "end": "2026-11-30"}
    )
    assert page.status_code == 200 and "Volta" in page.text
    if report.comparison is not None:
        assert f'<td class="num">{report.comparison.sent.shoppers}</td>' in page.text
    outside = await manager.get(
        "/admin/b/bella/reports/campaigns", params={"start": "2026-10-01", "end": "2026-10-31"}
    )
    assert "Volta" not in outside.text
    csv = (
        await manager.get(
            "/admin/b/bella/reports/campaigns.csv", params={"start": "2026-11-01", "end": "2026-11-30"}
        )
    ).content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("Campanha;") and "Volta" in csv
    mare = await _staff(app, clock, demo, "mare-owner")
    page = await mare.get(
        "/admin/b/mare/reports/campaigns", params={"start": "2026-11-01", "end": "2026-11-30"}
    )
    assert page.status_code == 200 and "Volta" not in page.text
    await manager.aclose()
    await mare.aclose()


def test_the_repurchase_window_is_a_whole_number_of_days_from_1_to_365():
    assert programme.window_of(None) == programme.window_of("") == 30
    assert programme.window_of(" 45 ") == 45
    for bad in ("x", "1.5", "0", "366", "-3"):
        with pytest.raises(Invalid):
            programme.window_of(bad)


def test_a_zone_with_summer_time_cuts_its_days_at_its_own_midnight():
    zone = zoneinfo.ZoneInfo("America/New_York")
    start = dt.datetime(2026, 3, 1, tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime(2026, 4, 1, tzinfo=zone).astimezone(dt.UTC)
    segments = programme._segments(zone, start, end)
    assert [(at, off) for at, off in segments[1:]] == [
        (dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC), -4 * 3600)
    ]
    assert segments[0][1] == -5 * 3600
