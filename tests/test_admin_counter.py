"""The store counter: register a shopper, record a sale with items, redeem cashback (quote, then
confirm), use a voucher, and undo the clerk's latest action within a few minutes."""

from __future__ import annotations

import re

from retorno import db
from retorno.admin.counter import UNDO_MINUTES
from retorno.ledger import balances
from tests.test_admin_brand import _csrf, _staff

COUNTER = "/admin/b/bella/counter"


def _form_id(page) -> str:
    return re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)


def _undo_event(page) -> str | None:
    found = re.search(r'name="event" value="(\d+)"', page.text)
    return found.group(1) if found else None


async def _available(demo, clock, cpf="52998224725") -> int:
    from retorno.customers.service import Identity

    answer = await balances.balance(
        brand=demo["bella"],
        customer_id=(await _customer_id(demo, Identity(cpf=cpf))),
        now=clock(),
    )
    return answer.available


async def _customer_id(demo, identity) -> int:
    from retorno.customers import service as customers

    return (await customers.lookup(demo["bella"].id, customers.normalize(identity))).id


async def test_a_clerk_registers_a_shopper_and_records_a_sale_by_category(app, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    missing = await clerk.get(COUNTER, params={"q": "529.982.247-25"})
    assert missing.status_code == 404 and 'id="register-form"' in missing.text
    assert 'value="52998224725"' in missing.text  # the CPF typed is carried into the form
    registered = await clerk.post(
        f"{COUNTER}/customer",
        data={"name": "Ana Souza", "cpf": "52998224725", "phone": "", "email": "", "_csrf_token": token},
    )
    assert registered.status_code == 303
    found = await clerk.get(registered.headers["location"])
    assert found.status_code == 200 and "Ana Souza" in found.text
    # bella: 10% base, maquiagem 15%: 100 x 15% + 50 x 10% = R$ 20,00
    sale = {"form_id": _form_id(found), "customer": "52998224725", "total": "150,00", "_csrf_token": token}
    recorded = await clerk.post(f"{COUNTER}/sale", data=sale | {"items": "maquiagem 100,00\nperfume 50,00"})
    assert recorded.status_code == 200 and "R$\xa020,00" in recorded.text
    wrong = await clerk.post(f"{COUNTER}/sale", data=sale | {"form_id": "other", "items": "maquiagem 10,00"})
    assert wrong.status_code == 422 and "a soma deve dar o total" in wrong.text
    assert [r["total"] for r in await db.fetch("SELECT total FROM sales")] == [15000]
    await clerk.aclose()


async def test_a_number_written_as_a_phone_is_a_phone_even_when_it_passes_the_cpf_check(app, demo, clock):
    """52998224725 is a valid CPF; written "(52) 99822-4725" the clerk typed a phone, and the
    registration offered must carry it as the phone (it was put in the CPF box, about one phone in a
    hundred), while the same digits bare or as 529.982.247-25 are still a CPF."""
    clerk = await _staff(app, clock, demo, "operator")
    for typed, box, value in (
        ("(52) 99822-4725", "reg-phone", "(52) 99822-4725"),
        ("+55 52 99822-4725", "reg-phone", "+55 52 99822-4725"),
        ("52998224725", "reg-cpf", "52998224725"),
        ("529.982.247-25", "reg-cpf", "52998224725"),
        ("52998224726", "reg-phone", "52998224726"),  # fails the check: a phone
    ):
        page = await clerk.get(COUNTER, params={"q": typed})
        assert page.status_code == 404
        filled = dict(re.findall(r'<input id="(reg-(?:cpf|phone))" name="\w+" value="([^"]*)"', page.text))
        assert filled[box] == value, typed
        other = {"reg-cpf": "reg-phone", "reg-phone": "reg-cpf"}[box]
        assert filled[other] == "", typed
    await clerk.aclose()


async def test_cashback_is_quoted_then_confirmed_once(app, api, demo, clock):
    await api.post(
        "/sales", json={"order_id": "A1", "customer": {"cpf": "52998224725"}, "total": 50000}
    )  # R$ 50,00 of cashback, pending for 7 days
    clock.advance(days=8)
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get(COUNTER, params={"q": "52998224725"})
    assert 'id="redeem-form"' in page.text
    ask = {"form_id": _form_id(page), "customer": "52998224725", "order_total": "100,00", "q": "52998224725"}
    quote = await clerk.post(f"{COUNTER}/redeem", data=ask | {"_csrf_token": token})
    assert quote.status_code == 200 and 'id="redeem-confirm"' in quote.text
    assert re.search(r'id="quote-max">R\$\xa050,00<', quote.text)
    assert await _available(demo, clock) == 5000  # a quote changes nothing
    confirm = ask | {"action": "confirm", "amount": "30,00", "_csrf_token": token}
    first = await clerk.post(f"{COUNTER}/redeem", data=confirm)
    again = await clerk.post(f"{COUNTER}/redeem", data=confirm)  # a double tap
    assert first.status_code == 200 and again.status_code == 200 and 'id="counter-redeemed"' in again.text
    assert await _available(demo, clock) == 2000
    too_much = await clerk.post(f"{COUNTER}/redeem", data=confirm | {"form_id": "other", "amount": "90,00"})
    assert too_much.status_code == 422 and await _available(demo, clock) == 2000
    await clerk.aclose()


async def test_the_last_action_is_undone_within_the_window_and_only_once(app, api, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get(COUNTER)
    assert _undo_event(page) is None  # nothing done yet
    sale = {"form_id": _form_id(page), "customer": "52998224725", "total": "200,00", "_csrf_token": token}
    recorded = await clerk.post(f"{COUNTER}/sale", data=sale)
    event = _undo_event(recorded)
    assert event and 'id="undo-form"' in recorded.text
    undone = await clerk.post(f"{COUNTER}/undo", data={"event": event, "_csrf_token": token})
    assert undone.status_code == 200 and 'id="counter-undone"' in undone.text
    [row] = await db.fetch("SELECT cancelled_at FROM sales")
    assert row["cancelled_at"] is not None
    assert (await _available(demo, clock)) == 0
    pending = await db.fetch("SELECT COALESCE(SUM(remaining), 0) AS left FROM ledger_lots")
    assert pending[0]["left"] == 0  # the sale's cashback was reversed
    twice = await clerk.post(f"{COUNTER}/undo", data={"event": event, "_csrf_token": token})
    assert twice.status_code == 409
    assert [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")] == [
        "counter.sale",
        "counter.undo",
    ]
    # Too late: a sale recorded, then the window passes.
    late = await clerk.post(f"{COUNTER}/sale", data=sale | {"form_id": "late"})
    clock.advance(minutes=UNDO_MINUTES, seconds=1)
    page = await clerk.get(COUNTER)
    assert _undo_event(page) is None
    refused = await clerk.post(f"{COUNTER}/undo", data={"event": _undo_event(late), "_csrf_token": token})
    assert refused.status_code == 409
    assert len(await db.fetch("SELECT id FROM sales WHERE cancelled_at IS NULL")) == 1
    # Another clerk cannot undo this clerk's action.
    mine = await clerk.post(f"{COUNTER}/sale", data=sale | {"form_id": "mine"})
    other = await _staff(app, clock, demo, "manager")
    other_token = await _csrf(other)
    undo = {"event": _undo_event(mine), "_csrf_token": other_token}
    theirs = await other.post(f"{COUNTER}/undo", data=undo)
    assert theirs.status_code == 409
    assert len(await db.fetch("SELECT id FROM sales WHERE cancelled_at IS NULL")) == 2
    await clerk.aclose()
    await other.aclose()


async def test_undo_gives_back_used_cashback_and_a_used_voucher(app, api, demo, clock):
    await api.post("/sales", json={"order_id": "A1", "customer": {"cpf": "52998224725"}, "total": 50000})
    clock.advance(days=8)
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    ask = {"form_id": "r1", "customer": "52998224725", "order_total": "100,00", "_csrf_token": token}
    used = await clerk.post(f"{COUNTER}/redeem", data=ask | {"action": "confirm", "amount": "25,00"})
    assert await _available(demo, clock) == 2500
    await clerk.post(f"{COUNTER}/undo", data={"event": _undo_event(used), "_csrf_token": token})
    assert await _available(demo, clock) == 5000
    page = await clerk.get(COUNTER, params={"q": "52998224725"})
    code = re.search(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2})</code>", page.text).group(1)
    voucher = {"form_id": "v1", "code": code, "order_total": "80", "_csrf_token": token}
    applied = await clerk.post(f"{COUNTER}/voucher", data=voucher)
    assert applied.status_code == 200
    await clerk.post(f"{COUNTER}/undo", data={"event": _undo_event(applied), "_csrf_token": token})
    again = await clerk.post(f"{COUNTER}/voucher", data=voucher | {"form_id": "v2"})
    assert again.status_code == 200 and 'id="counter-voucher"' in again.text  # usable again
    await clerk.aclose()


async def test_a_voucher_is_checked_before_it_is_used(app, api, demo, clock):
    await api.post("/sales", json={"order_id": "A1", "customer": {"cpf": "52998224725"}, "total": 5000})
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get(COUNTER, params={"q": "52998224725"})
    code = re.search(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2})</code>", page.text).group(1)
    check = {
        "form_id": "c1",
        "code": code.lower(),
        "order_total": "80,00",
        "action": "check",
        "_csrf_token": token,
    }
    checked = await clerk.post(f"{COUNTER}/voucher", data=check)
    assert checked.status_code == 200
    assert f"O cupom {code} tira R$\xa010,00 deste pedido." in checked.text
    assert f'value="{code}"' in checked.text and 'value="80,00"' in checked.text  # ready to use
    assert await db.fetch("SELECT id FROM voucher_uses") == []  # a check changes nothing
    small = await clerk.post(f"{COUNTER}/voucher", data=check | {"order_total": "30,00"})
    assert "abaixo do mínimo do cupom" in small.text  # bella's vouchers need an order of R$ 50,00
    unknown = await clerk.post(f"{COUNTER}/voucher", data=check | {"code": "ZZZZ-ZZZZ-ZZ"})
    assert "não existe nesta marca" in unknown.text
    used = await clerk.post(f"{COUNTER}/voucher", data=check | {"action": "use"})
    assert 'id="counter-voucher"' in used.text
    again = await clerk.post(f"{COUNTER}/voucher", data=check | {"form_id": "c2"})
    assert "já foi usado" in again.text
    await clerk.aclose()


async def test_a_change_and_its_audit_record_commit_together(app, demo, clock, monkeypatch):
    """The audit log is what undo reads: a sale whose record could not be written is not kept
    either (it was written in a transaction of its own, after the sale)."""
    from retorno.audit import service as audit

    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get(COUNTER)

    async def broken(**_):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(audit, "record", broken)
    sale = {"form_id": _form_id(page), "customer": "ana@example.com", "total": "80,00", "_csrf_token": token}
    failed = await clerk.post(f"{COUNTER}/sale", data=sale)
    assert failed.status_code == 500
    assert await db.fetch("SELECT id FROM sales") == []
    assert await db.fetch("SELECT id FROM ledger_entries") == []
    monkeypatch.undo()
    again = await clerk.post(f"{COUNTER}/sale", data=sale)  # the same form, once the log is back
    assert again.status_code == 200
    assert len(await db.fetch("SELECT id FROM sales")) == 1
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events")]
    assert actions == ["counter.sale"]
    await clerk.aclose()
