"""Invite a friend, end to end over HTTP: the link, the attribution through /join, the rewards at
the friend's first purchase, every fraud rule, the monthly cap, refunds, and brand isolation.

bella's [referral]: the inviter gets R$ 20,00, the friend R$ 10,00, when the friend's first
purchase reaches R$ 50,00; at most 10 rewards per inviter per month; 7 days of return window.
"""

import re

import pytest

from retorno import db
from retorno.errors import NotFound
from retorno.referrals import service as referrals
from retorno.sales import rewards
from tests.conftest import brand_url, post_form
from tests.test_sign_in import browser, last_code, sign_in

LINK = re.compile(r'value="(http://bella\.[^"]+/r/([A-Z0-9]+))"')


async def _inviter(app, api, email: str = "ana@example.com", slug: str = "bella") -> tuple[object, str]:
    """A shopper (made by a sale) signed in in a browser of their own; their invitation code."""
    assert (
        await api.post(
            "/sales",
            json={
                "order_id": f"IN-{email}",
                "customer": {"email": email, "name": "Ana Souza"},
                "total": 1000,
            },
        )
    ).status_code == 201
    ctx = browser(app, brand_url(slug, ""))
    client = await ctx.__aenter__()
    client._ctx = ctx  # closed by _close
    await sign_in(app, client, email, slug)
    page = await client.get(brand_url(slug, "/invite"))
    assert page.status_code == 200, page.text
    found = LINK.search(page.text) if slug == "bella" else re.search(r"/r/([A-Z0-9]+)", page.text)
    assert found, page.text
    return client, found.group(2) if slug == "bella" else found.group(1)


async def _close(*clients) -> None:
    for client in clients:
        await client._ctx.__aexit__(None, None, None)


async def _friend_joins(app, code: str, email: str, *, device_of=None, slug: str = "bella"):
    """A friend opens the link (or, with device_of, on that browser's device) and joins by code."""
    ctx = browser(app, brand_url(slug, ""))
    client = await ctx.__aenter__()
    client._ctx = ctx
    if device_of is not None:
        for cookie in device_of.cookies.jar:
            if cookie.name == "retorno_device":
                client.cookies.set("retorno_device", cookie.value)
    landing = await client.get(brand_url(slug, f"/r/{code}"))
    assert landing.status_code == 200, landing.text
    response = await post_form(
        client,
        brand_url(slug, "/join"),
        {"name": "Bia Lima", "email": email, "accept": "yes"},
        page=brand_url(slug, "/join"),
    )
    assert response.status_code == 200, response.text
    verified = await post_form(
        client,
        brand_url(slug, "/login/verify"),
        {"email": email, "code": last_code(app, email.lower())},
        page=brand_url(slug, "/login"),
    )
    assert verified.status_code == 303, verified.text
    return client


async def _status(friend_email: str) -> tuple[str, str]:
    rows = await db.fetch(
        "SELECT r.status, r.reason FROM referrals r JOIN customers c ON c.id = r.friend WHERE c.email = {}",
        friend_email,
    )
    return (rows[0]["status"], rows[0]["reason"]) if rows else ("", "")


async def _balance(api, email: str) -> dict:
    return (await api.get(f"/customers/email:{email}/balance")).json()


async def test_the_invite_page_shows_the_link_rewards_and_share_fallbacks(app, api):
    ana, code = await _inviter(app, api)
    page = (await ana.get(brand_url("bella", "/invite"))).text.replace("\xa0", " ")
    assert "Seu amigo ganha R$ 10,00 e você ganha R$ 20,00" in page and "R$ 50,00" in page
    assert "https://wa.me/?text=" in page and code in page.split("https://wa.me/?text=")[1].split('"')[0]
    assert 'id="copy-link"' in page and 'id="share-button"' in page
    assert "Ninguém abriu seu link ainda." in page
    again = (await ana.get(brand_url("bella", "/invite"))).text
    assert LINK.search(again).group(2) == code  # one code per shopper
    await _close(ana)


async def test_a_friend_joins_buys_and_both_are_rewarded_with_the_sales_return_window(app, api, clock):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    assert await _status("bia@example.com") == ("pending", "")
    listed = (await ana.get(brand_url("bella", "/invite"))).text
    assert "Bia" in listed and "aguardando primeira compra" in listed and "Lima" not in listed
    before = await _balance(api, "ana@example.com")
    sale = {"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 6000}
    assert (await api.post("/sales", json=sale)).status_code == 201
    assert await _status("bia@example.com") == ("rewarded", "")
    ana_now, bia_now = await _balance(api, "ana@example.com"), await _balance(api, "bia@example.com")
    assert ana_now["pending"] - before["pending"] == 2000
    assert bia_now["pending"] == 600 + 1000  # her own 10% cashback and the friend reward
    clock.advance(days=7, seconds=1)  # the return window closes: both become usable together
    assert (await _balance(api, "ana@example.com"))["available"] >= 2000
    assert (await _balance(api, "bia@example.com"))["available"] == 1600
    statement = (await bia.get(brand_url("bella", "/statement"))).text
    assert "Boas-vindas: você entrou por um convite" in statement
    assert "Recompensa por indicação" in (await ana.get(brand_url("bella", "/statement"))).text
    assert "recompensado" in (await ana.get(brand_url("bella", "/invite"))).text
    # Only the first purchase counts: a second one rewards nothing more.
    assert (await api.post("/sales", json=sale | {"order_id": "F-2"})).status_code == 201
    assert (await _balance(api, "ana@example.com"))["available"] + (await _balance(api, "ana@example.com"))[
        "pending"
    ] == ana_now["available"] + ana_now["pending"]
    await _close(ana, bia)


async def test_a_first_purchase_below_the_minimum_is_not_eligible(app, api):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 4999}
    )
    assert await _status("bia@example.com") == ("not_eligible", "below_minimum")
    await api.post(
        "/sales", json={"order_id": "F-2", "customer": {"email": "bia@example.com"}, "total": 9000}
    )
    assert await _status("bia@example.com") == ("not_eligible", "below_minimum")  # only the first counts
    await _close(ana, bia)


@pytest.mark.parametrize(
    "friend_email",
    ["A.N.A+promo@gmail.com", "ANA@example.com"],
)
async def test_the_same_person_under_another_address_is_not_eligible(app, api, friend_email):
    ana, code = await _inviter(
        app, api, email="ana@gmail.com" if "gmail" in friend_email else "ana@example.com"
    )
    if "gmail" not in friend_email:
        # The same address: joining claims Ana's own account, which is not a new customer.
        bia = await _friend_joins(app, code, friend_email)
        assert await _status("ana@example.com") == ("not_eligible", "same_person")
    else:
        bia = await _friend_joins(app, code, friend_email)
        await api.post("/sales", json={"order_id": "F-1", "customer": {"email": friend_email}, "total": 9000})
        assert await _status(friend_email.lower()) == ("not_eligible", "same_person")
    await _close(ana, bia)


def test_the_same_mailbox_phone_or_cpf_is_the_same_person():
    ana = {"email": "ana@gmail.com", "phone": "+5511988887777", "cpf": "52998224725"}
    assert referrals.same_person(ana, {"email": "a.n.a+x@gmail.com", "phone": None, "cpf": None})
    assert referrals.same_person(ana, {"email": "bia@example.com", "phone": "+5511988887777", "cpf": None})
    assert referrals.same_person(ana, {"email": "bia@example.com", "phone": None, "cpf": "52998224725"})
    assert not referrals.same_person(ana, {"email": "bia@example.com", "phone": None, "cpf": None})
    assert not referrals.same_person(
        {"email": None, "phone": None, "cpf": None}, {"email": None, "phone": None, "cpf": None}
    )


async def test_an_existing_customer_cannot_be_invited(app, api):
    await api.post(
        "/sales", json={"order_id": "OLD-1", "customer": {"email": "bia@example.com"}, "total": 9000}
    )
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    assert await _status("bia@example.com") == ("not_eligible", "existing_customer")
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 9000}
    )
    assert (await _balance(api, "ana@example.com"))["pending"] == 100  # only her own first sale's cashback
    await _close(ana, bia)


async def test_the_inviters_own_device_puts_the_referral_under_review(app, api):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com", device_of=ana)
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 9000}
    )
    assert await _status("bia@example.com") == ("review", "same_device")
    assert (await _balance(api, "bia@example.com"))["pending"] == 900  # no reward while under review
    assert "em análise" in (await ana.get(brand_url("bella", "/invite"))).text
    await _close(ana, bia)


async def test_staff_approve_or_reject_a_referral_under_review(app, api, demo, clock):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com", device_of=ana)
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 9000}
    )
    [row] = await db.fetch("SELECT id FROM referrals WHERE status = 'review'")
    clock.advance(days=10)  # decided after the return window: the rewards are usable at once
    assert await rewards.review(brand=demo["bella"], referral_id=row["id"], approve=True, now=clock()) == (
        "rewarded"
    )
    assert (await _balance(api, "bia@example.com"))["available"] == 900 + 1000
    with pytest.raises(NotFound):  # decided once
        await rewards.review(brand=demo["bella"], referral_id=row["id"], approve=False, now=clock())
    with pytest.raises(NotFound):  # and only within its brand
        await rewards.review(brand=demo["mare"], referral_id=row["id"], approve=True, now=clock())
    await _close(ana, bia)


async def test_one_device_bringing_two_friends_is_not_eligible_the_second_time(app, api):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    cris = await _friend_joins(app, code, "cris@example.com", device_of=bia)
    for i, email in enumerate(["bia@example.com", "cris@example.com"]):
        await api.post("/sales", json={"order_id": f"F-{i}", "customer": {"email": email}, "total": 9000})
    assert await _status("bia@example.com") == ("rewarded", "")
    assert await _status("cris@example.com") == ("not_eligible", "device_reused")
    await _close(ana, bia, cris)


async def test_over_the_monthly_cap_rewards_are_held(app, api, demo, monkeypatch):
    import msgspec

    rules = demo["bella"].rules()
    capped = msgspec.structs.replace(rules, referral=msgspec.structs.replace(rules.referral, monthly_cap=1))
    monkeypatch.setattr(type(demo["bella"]), "rules", lambda self: capped if self.slug == "bella" else rules)
    ana, code = await _inviter(app, api)
    friends = [await _friend_joins(app, code, f"f{i}@example.com") for i in range(2)]
    for i in range(2):
        await api.post(
            "/sales", json={"order_id": f"F-{i}", "customer": {"email": f"f{i}@example.com"}, "total": 9000}
        )
    assert await _status("f0@example.com") == ("rewarded", "")
    assert await _status("f1@example.com") == ("review", "monthly_cap")
    await _close(ana, *friends)


async def test_a_refund_within_the_window_takes_both_rewards_back(app, api, clock):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 6000}
    )
    ana_before = await _balance(api, "ana@example.com")
    # A small refund that keeps the purchase above R$ 50,00 keeps the rewards...
    await api.post("/sales/F-1/refunds", json={"refund_id": "R-1", "amount": 500})
    assert await _status("bia@example.com") == ("rewarded", "")
    # ...one that takes it below does not: both rewards are reversed, within the window.
    clock.advance(days=3)
    await api.post("/sales/F-1/refunds", json={"refund_id": "R-2", "amount": 1000})
    assert await _status("bia@example.com") == ("not_eligible", "refunded")
    ana_after = await _balance(api, "ana@example.com")
    assert ana_before["pending"] - ana_after["pending"] == 2000
    bia_after = await _balance(api, "bia@example.com")
    assert bia_after["pending"] == 450  # 10% of what is left of her purchase, no friend reward
    statement = (await bia.get(brand_url("bella", "/statement"))).text
    assert "a compra do amigo convidado foi devolvida" in statement
    await _close(ana, bia)


async def test_after_the_window_a_refund_keeps_the_rewards(app, api, clock):
    ana, code = await _inviter(app, api)
    bia = await _friend_joins(app, code, "bia@example.com")
    await api.post(
        "/sales", json={"order_id": "F-1", "customer": {"email": "bia@example.com"}, "total": 6000}
    )
    clock.advance(days=8)
    await api.post("/sales/F-1/cancel")
    assert await _status("bia@example.com") == ("rewarded", "")
    assert (await _balance(api, "ana@example.com"))["available"] >= 2000
    await _close(ana, bia)


async def test_a_code_of_one_brand_means_nothing_at_another(app, api, client):
    ana, code = await _inviter(app, api)
    landing = await client.get(brand_url("mare", f"/r/{code}"))
    assert landing.status_code == 404
    assert "retorno_ref" not in landing.headers.get("set-cookie", "")
    assert (await client.get(brand_url("bella", "/r/NOPE2345"))).status_code == 404
    await _close(ana)


async def test_the_attribution_cookie_lasts_30_days_and_the_landing_shows_the_offer(app, api, client):
    ana, code = await _inviter(app, api)
    landing = await client.get(brand_url("bella", f"/r/{code.lower()}"))
    assert landing.status_code == 200
    text = landing.text.replace("\xa0", " ")
    assert "Ana convidou você" in text and "R$ 10,00" in text and 'href="/join"' in text
    cookie = next(h for h in landing.headers.get_list("set-cookie") if h.startswith("retorno_ref="))
    assert f"retorno_ref={code}" in cookie and "Max-Age=2592000" in cookie and "HttpOnly" in cookie
    await _close(ana)


def test_addresses_are_compared_as_one_mailbox():
    assert referrals.same_address("a.n.a+x@gmail.com", "ANA@googlemail.com")
    assert referrals.same_address("ana+promo@example.com", "ana@example.com")
    assert not referrals.same_address("a.na@example.com", "ana@example.com")  # dots only at Gmail
    assert not referrals.same_address(None, "ana@example.com")
