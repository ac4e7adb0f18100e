"""The admin's coupons page (a manager writes a coupon, changes it, switches it off) and the counter
using one for the shopper being served."""

from __future__ import annotations

import datetime as dt
import re

from retorno import db
from tests.test_admin_brand import _csrf, _staff

COUPONS = "/admin/b/bella/coupons"
COUNTER = "/admin/b/bella/counter"
FORM = {
    "code": "make 12",
    "description": "Maquiagem com 12,5%",
    "kind": "percent",
    "value": "12,5",
    "min_order": "50,00",
    "starts": "2026-11-10",
    "ends": "2026-11-30",
    "max_uses": "100",
    "per_customer": "1",
    "categories": "maquiagem",
}


async def test_a_manager_writes_a_coupon_in_reais_percent_and_days_of_the_brand_s_zone(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    made = await manager.post(COUPONS, data=FORM | {"_csrf_token": token})
    assert made.status_code == 303 and made.headers["location"].endswith("/coupons/MAKE12?done=saved")
    (row,) = await db.fetch("SELECT * FROM coupons")
    assert (row["code"], row["percent_bp"], row["amount"], row["min_order"]) == ("MAKE12", 1250, None, 5000)
    assert row["max_uses"] == 100 and "maquiagem" in str(row["categories"])
    # The last day is the 30th in São Paulo: it ends at midnight there, 03:00 UTC on the 1st.
    assert row["ends_at"] == dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    assert row["starts_at"] == dt.datetime(2026, 11, 10, 3, 0, tzinfo=dt.UTC)
    page = await manager.get(COUPONS + "/MAKE12")
    assert page.status_code == 200 and 'value="12,5"' in page.text and 'value="2026-11-30"' in page.text
    listed = await manager.get(COUPONS)
    assert "MAKE12" in listed.text and "12,5%" in listed.text and "30/11/2026" in listed.text
    await manager.aclose()


async def test_bad_input_is_shown_again_with_a_portuguese_reason_and_nothing_is_saved(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    for change, words in (
        ({"code": "OI"}, "código"),
        ({"value": "muito"}, "porcentagem"),
        ({"kind": "amount", "value": "dez"}, "valor em reais"),
        ({"ends": "2026-11-01", "starts": "2026-11-20"}, "depois do início"),
        ({"max_uses": "0"}, "pelo menos 1"),
    ):
        answer = await manager.post(COUPONS, data=FORM | change | {"_csrf_token": token})
        assert answer.status_code == 422, change
        error = re.search(r'id="coupon-error">([^<]+)<', answer.text).group(1)
        assert words in error, (change, error)
        assert f'value="{(FORM | change)["code"]}"' in answer.text  # what was typed is kept
    assert await db.fetch("SELECT id FROM coupons") == []
    await manager.aclose()


async def test_the_counter_uses_a_coupon_once_for_the_shopper_served_and_undo_gives_it_back(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = FORM | {
        "code": "BEMVINDA10",
        "kind": "amount",
        "value": "10,00",
        "categories": "",
        "min_order": "",
    }
    assert (await manager.post(COUPONS, data=form | {"_csrf_token": token})).status_code == 303
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    registered = await clerk.post(
        f"{COUNTER}/customer", data={"name": "Ana", "email": "ana@example.com", "_csrf_token": token}
    )
    assert registered.status_code == 303
    use = {"form_id": "c1", "code": "bemvinda10", "order_total": "80,00", "q": "ana@example.com"}
    checked = await clerk.post(f"{COUNTER}/voucher", data=use | {"action": "check", "_csrf_token": token})
    assert "Cupom promocional BEMVINDA10 tira R$\xa010,00 deste pedido" in checked.text
    used = await clerk.post(f"{COUNTER}/voucher", data=use | {"_csrf_token": token})
    assert used.status_code == 200 and "Cupom promocional BEMVINDA10 usado" in used.text
    again = await clerk.post(f"{COUNTER}/voucher", data=use | {"form_id": "c2", "_csrf_token": token})
    assert again.status_code == 409 and "já usou o cupom promocional todas as vezes" in again.text
    nobody = await clerk.post(
        f"{COUNTER}/voucher", data=use | {"form_id": "c3", "q": "", "_csrf_token": token}
    )
    assert nobody.status_code == 422 and "diga quem está comprando" in nobody.text
    event = re.search(r'name="event" value="(\d+)"', again.text).group(1)
    undone = await clerk.post(f"{COUNTER}/undo", data={"event": event, "q": "", "_csrf_token": token})
    assert undone.status_code == 200
    open_uses = await db.fetch("SELECT id FROM coupon_uses WHERE released_at IS NULL")
    assert open_uses == []
    await clerk.aclose()
    await manager.aclose()


async def test_a_coupon_switched_off_is_refused_at_the_counter(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = FORM | {
        "code": "BEMVINDA10",
        "kind": "amount",
        "value": "10,00",
        "categories": "",
        "min_order": "",
    }
    await manager.post(COUPONS, data=form | {"_csrf_token": token})
    off = await manager.post(COUPONS + "/BEMVINDA10", data=form | {"active_shown": "1", "_csrf_token": token})
    assert off.status_code == 303
    listed = await manager.get(COUPONS)
    assert "desligado" in listed.text
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    await clerk.post(
        f"{COUNTER}/customer", data={"name": "Ana", "email": "ana@example.com", "_csrf_token": token}
    )
    use = {"form_id": "c1", "code": "BEMVINDA10", "order_total": "80,00", "q": "ana@example.com"}
    refused = await clerk.post(f"{COUNTER}/voucher", data=use | {"_csrf_token": token})
    assert refused.status_code == 422 and "o cupom promocional foi desligado" in refused.text
    audit = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert audit[:2] == ["coupon.create", "coupon.update"]
    await clerk.aclose()
    await manager.aclose()
