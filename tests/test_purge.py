"""The sweep purges what stopped mattering (expired sessions and codes, challenges, rate-limit
buckets, delivered events and push deliveries) after the operator's retention; the ledger stays."""

from __future__ import annotations

import datetime as dt

import pytest

from retorno import db
from retorno.auth import codes, passkeys, ratelimits, sessions
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.sales import orders
from retorno.worker import Retention, sweep
from tests.conftest import make_settings
from tests.fake_push import push_campaign

DAY = dt.timedelta(days=1)


async def _count(table: str) -> int:
    return (await db.fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]


async def _delivery(brand_id: int, event_id: int, subscription: int, state: str, done_at) -> None:
    await db.write(
        lambda: db.fetch(
            "INSERT INTO push_deliveries (brand, event, subscription, origin, payload, ttl, urgency, topic, "
            "state, attempts, next_attempt_at, created_at, done_at) "
            "VALUES ({}, {}, {}, 'https://push.example', {}, 60, 'normal', '', {}, 1, {}, {}, {})",
            brand_id,
            event_id,
            subscription,
            "{}",
            state,
            done_at,
            done_at,
            done_at,
        )
    )


async def test_the_sweep_purges_finished_rows_after_their_retention_and_keeps_the_ledger(demo, clock):
    bella = demo["bella"]
    start = clock()
    customer, _ = await db.write(
        lambda: customers.upsert(bella.id, Identity(email="ana@example.com"), now=start)
    )
    await orders.record(
        brand=bella,
        sale=orders.SaleIn(order_id="S-1", customer=Identity(email="ana@example.com"), total=10_000),
        now=start,
    )
    old_session = await sessions.start_session(brand_id=bella.id, customer_id=customer.id, now=start)
    await codes.new_code(
        brand_id=bella.id, email="ana@example.com", purpose="login", secret="s" * 32, now=start
    )
    await ratelimits.hit("code-request:email", "old", now=start)
    await passkeys.authentication_options(brand_id=bella.id, origin="http://bella.localhost:8000", now=start)
    await push_campaign(bella.id, title="Antiga", body="...", now=start)
    from retorno.worker import Worker

    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()  # the events are done (no devices: nothing to send)
    [campaign] = await db.fetch("SELECT id FROM outbox_events WHERE kind = 'campaign'")
    for i, state in enumerate(("sent", "sent", "failed", "gone")):
        await _delivery(bella.id, campaign["id"], i, state, start)
    keyed = await db.fetch("SELECT COUNT(*) AS n FROM outbox_events WHERE dedupe_key IS NOT NULL")

    later = clock.advance(days=100)  # past both retentions (30 and 90 days)
    fresh_session = await sessions.start_session(brand_id=bella.id, customer_id=customer.id, now=later)
    await codes.new_code(
        brand_id=bella.id, email="ana@example.com", purpose="login", secret="s" * 32, now=later
    )
    entries, lots, sales = await _count("ledger_entries"), await _count("ledger_lots"), await _count("sales")
    kept = "SELECT COUNT(*) AS n FROM messages WHERE campaign IS NOT NULL"
    before_campaign = (await db.fetch(kept))[0]["n"]
    assert before_campaign == 1 and await _count("messages") == 3  # the campaign, the credit, the voucher

    done = await sweep(later, Retention())
    assert done["purged"] > 0
    assert await sessions.session_for(old_session, now=start) is None  # its row is gone, not only expired
    assert await sessions.session_for(fresh_session, now=later) is not None
    assert await _count("login_codes") == 1 and await _count("webauthn_challenges") == 0
    assert await _count("rate_limits") == 0
    assert await _count("push_deliveries") == 0
    kinds = {r["kind"] for r in await db.fetch("SELECT kind FROM outbox_events WHERE dedupe_key IS NULL")}
    assert kinds <= {"campaign", "cashback.available"}  # the campaign stays, as history
    remaining_keyed = await db.fetch("SELECT COUNT(*) AS n FROM outbox_events WHERE dedupe_key IS NOT NULL")
    assert remaining_keyed[0]["n"] >= keyed[0]["n"]  # keys outlive the longest reminder
    # A campaign's messages stay (its report counts them); the credit's and the voucher's went.
    assert (await db.fetch(kept))[0]["n"] == before_campaign and await _count("messages") == 1
    # The money is never purged.
    assert (await _count("ledger_entries"), await _count("ledger_lots"), await _count("sales")) >= (
        entries,
        lots,
        sales,
    )
    # A second sweep finds nothing more to purge, and counts stay as they were.
    again = await sweep(later, Retention())
    assert again["purged"] == 0
    assert await _count("messages") == 1


async def test_rows_inside_the_retention_are_kept(demo, clock):
    bella = demo["bella"]
    start = clock()
    await codes.new_code(
        brand_id=bella.id, email="ana@example.com", purpose="login", secret="s" * 32, now=start
    )
    await ratelimits.hit("code-request:email", "recent", now=start)
    await sweep(clock.advance(days=20), Retention())
    assert await _count("login_codes") == 1 and await _count("rate_limits") == 1
    await sweep(clock.advance(days=15), Retention())  # 35 days on: past the 30-day retention
    assert await _count("login_codes") == 0 and await _count("rate_limits") == 0


@pytest.mark.parametrize("value", ["0", "-3", "abc", "9999"])
def test_retention_settings_are_checked(value):
    from retorno.settings import SettingsError

    with pytest.raises(SettingsError, match="RETORNO_RETENTION_DAYS"):
        make_settings("sqlite:///x.db", RETORNO_RETENTION_DAYS=value)
    assert make_settings("sqlite:///x.db", RETORNO_EVENT_RETENTION_DAYS="7").event_retention_days == 7
