"""Double entry: what a brand owed at the end of any past day, the month's close an accountant
reconciles to the centavo (page and CSV), and the migration that posts the movements recorded
before double entry existed exactly as the ledger posts new ones."""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
from collections import Counter

from retorno import db
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.ledger import balances
from retorno.ledger import sweep as ledger_sweep
from retorno.reports import close
from retorno.sales import adjustments, orders, redemptions
from tests.test_admin_brand import _staff

ANA, BIA = Identity(email="ana@example.com"), Identity(email="bia@example.com")
# Bella's demo rules: 10% cashback, usable after 7 days, for 90; Maré is another brand.
OCT_30 = dt.datetime(2026, 10, 30, 15, 0, tzinfo=dt.UTC)  # 12:00 in São Paulo


def _sale(order_id: str, who: Identity, total: int, at: dt.datetime) -> orders.SaleIn:
    return orders.SaleIn(order_id=order_id, customer=who, total=total, occurred_at=at)


async def _spend(bella, who: Identity, amount: int, at: dt.datetime) -> None:
    request = redemptions.RedemptionIn(
        redemption_id="X-1", order_id="N-1", customer=who, order_total=50_000, amount=amount
    )
    await redemptions.redeem(brand=bella, request=request, now=at)


async def _month_of_movements(bella, start: dt.datetime) -> dict[str, dt.datetime]:
    """Sales, a refund, a redemption and its cancellation, an adjustment, across two months."""
    days = {"oct30": start, "oct31": start + dt.timedelta(days=1), "nov10": start + dt.timedelta(days=11)}
    await orders.record(brand=bella, sale=_sale("A-1", ANA, 100_000, days["oct30"]), now=days["oct30"])
    await orders.record(brand=bella, sale=_sale("B-1", BIA, 40_000, days["oct31"]), now=days["oct31"])
    at = days["nov10"]
    await ledger_sweep.sweep(brands=[bella], now=at)  # A-1's R$ 50,00 became usable on Nov 6
    await _spend(bella, ANA, 2_000, at)
    await orders.refund(brand=bella, order_id="B-1", refund_id="R-1", amount=10_000, now=at)
    bia = await customers.lookup(bella.id, BIA)
    await adjustments.adjust(
        brand=bella, customer_id=bia.id, amount=700, reason="bônus de boas-vindas", now=at
    )
    return days


async def test_what_the_brand_owed_at_the_end_of_each_day_and_the_months_close(demo, clock):
    bella, mare = demo["bella"], demo["mare"]
    days = await _month_of_movements(bella, OCT_30)
    owed = balances.Liability
    # End of Oct 30 (São Paulo): A-1's R$ 100,00, pending. End of Oct 31: B-1's R$ 40,00 too.
    assert await close.liability_on(bella, dt.date(2026, 10, 29)) == owed(available=0, pending=0)
    assert await close.liability_on(bella, dt.date(2026, 10, 30)) == owed(available=0, pending=10_000)
    assert await close.liability_on(bella, dt.date(2026, 10, 31)) == owed(available=0, pending=14_000)
    # Nov 6 and 7: A-1, then B-1, usable (dated so, though the sweep only ran on Nov 10).
    assert await close.liability_on(bella, dt.date(2026, 11, 6)) == owed(available=10_000, pending=4_000)
    assert await close.liability_on(bella, dt.date(2026, 11, 7)) == owed(available=14_000, pending=0)
    # Nov 10: R$ 20,00 used, B-1 refunded by a quarter (R$ 10,00 back), R$ 7,00 given to Bia.
    nov10 = owed(available=14_000 - 2_000 - 1_000 + 700, pending=0)
    assert await close.liability_on(bella, dt.date(2026, 11, 10)) == nov10
    assert await balances.liability_now(brand_id=bella.id, now=days["nov10"]) == nov10

    october = await close.month_close(bella, 2026, 10)
    assert (october.opening.total, october.issued, october.closing.total) == (0, 14_000, 14_000)
    assert october.reconciles
    november = await close.month_close(bella, 2026, 11)
    assert november.opening == october.closing
    assert (november.issued, november.redeemed, november.reversed, november.adjustments) == (
        0,
        2_000,
        1_000,
        700,
    )
    assert november.closing.total == 14_000 - 2_000 - 1_000 + 700 and november.reconciles
    # Another brand's books hold none of it.
    other = await close.month_close(mare, 2026, 10)
    assert (other.opening.total, other.issued, other.closing.total) == (0, 0, 0)


async def test_a_written_off_refund_is_a_cost_beside_the_reconciliation(demo):
    bella = demo["bella"]  # policy write_off
    start = OCT_30
    await orders.record(brand=bella, sale=_sale("A-1", ANA, 100_000, start), now=start)
    later = start + dt.timedelta(days=8)
    await _spend(bella, ANA, 5_000, later)
    await orders.refund(brand=bella, order_id="A-1", refund_id="R-1", amount=100_000, now=later)
    november = await close.month_close(bella, 2026, 11)
    # R$ 100,00 earned, R$ 50,00 spent, then the whole sale refunded: R$ 50,00 taken back from the
    # credit, the R$ 50,00 already spent written off.
    assert (november.redeemed, november.reversed, november.written_off) == (5_000, 5_000, 5_000)
    assert november.closing.total == 0 and november.reconciles
    books = await balances.accounts_at(brand_id=bella.id, at=later + dt.timedelta(seconds=1))
    assert books["written_off"] == -5_000 and books["issued"] == -10_000 + 5_000
    assert sum(books.values()) == 0


async def test_the_close_page_and_its_csv_for_a_manager(app, demo, clock):
    bella = demo["bella"]
    await _month_of_movements(bella, OCT_30)
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get("/admin/b/bella/reports/close?month=2026-11")
    assert page.status_code == 200
    assert "Fechamento do mês" in page.text and "O mês fecha ao centavo." in page.text
    assert (
        'id="close-redeemed"><th scope="row">Cashback usado (líquido de cancelamentos)</th>'
        '<td class="num">R$\xa020,00' in page.text
    )
    download = await manager.get("/admin/b/bella/reports/close.csv?month=2026-11")
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="fechamento-bella-2026-11.csv"' in download.headers["content-disposition"]
    text = download.content.decode("utf-8-sig")
    rows = {row["Linha"]: row for row in csv.DictReader(io.StringIO(text), delimiter=";")}
    assert rows["opening"]["Centavos"] == "14000" and rows["closing"]["Centavos"] == "11700"
    assert rows["redeemed"]["R$"] == "20,00"
    assert rows["redeemed"]["Descrição"] == "Cashback usado (líquido de cancelamentos)"
    wrong = await manager.get("/admin/b/bella/reports/close?month=2026-13")
    assert wrong.status_code == 422 and "mês: um mês como 2026-10" in wrong.text
    await manager.aclose()
    operator = await _staff(app, clock, demo, "operator")
    assert (await operator.get("/admin/b/bella/reports/close")).status_code == 403
    await operator.aclose()


async def _postings() -> Counter:
    rows = await db.fetch(
        "SELECT brand, account, customer, amount, occurred_at, entry, lot, refund FROM ledger_postings"
    )
    keys = ("brand", "account", "customer", "amount", "entry", "lot", "refund")
    return Counter((*(r[k] for k in keys), r["occurred_at"].astimezone(dt.UTC)) for r in rows)


async def test_the_migration_posts_earlier_movements_as_the_ledger_does(demo):
    """The data the previous schema's code wrote (entries, lots, allocations; no postings, no lot
    matured) becomes, through the migration's backfill, exactly the postings the ledger writes."""
    bella, mare = demo["bella"], demo["mare"]
    days = await _month_of_movements(bella, OCT_30)
    await orders.record(brand=mare, sale=_sale("M-1", ANA, 30_000, OCT_30), now=OCT_30)
    end = days["nov10"] + dt.timedelta(days=200)  # everything matured, some of it expired
    await orders.cancel(brand=bella, order_id="B-1", now=days["nov10"])
    await ledger_sweep.sweep(brands=[bella, mare], now=end)
    expected = await _postings()
    assert sum(amount for (_, _, _, amount, *_), n in expected.items() for _ in range(n)) == 0
    matured = await db.fetch("SELECT id FROM ledger_lots WHERE matured = {} ORDER BY id", True)

    async def as_before() -> None:
        await db.fetch("DELETE FROM ledger_postings")
        await db.fetch("UPDATE ledger_lots SET matured = {}", False)

    await db.write(as_before)
    migration = importlib.import_module("retorno.ledger.piccolo_migrations.ledger_2026_12_01t14_00_01_000000")
    written = await db.write(lambda: migration.backfill(db.current(), end))
    assert written == sum(expected.values())
    assert await _postings() == expected
    assert await db.fetch("SELECT id FROM ledger_lots WHERE matured = {} ORDER BY id", True) == matured
    # Run again, it adds nothing.
    assert await db.write(lambda: migration.backfill(db.current(), end)) == 0
