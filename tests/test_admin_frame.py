"""The admin's frame and screens: the sidebar marks the current page and shows each role only what
its guards allow; the audit log reads as words; campaigns refuse to send to nobody."""

from __future__ import annotations

import re

import pytest

from tests.test_admin_brand import ROUTE_ROLES, _csrf, _staff, allowed

# The sidebar's links (path under /admin/b/bella) and the role each one's page needs.
SIDEBAR = {
    "/": "operator",
    "/counter": "operator",
    "/points": "operator",
    "/customers": "manager",
    "/import": "manager",
    "/rules": "manager",
    "/messages": "manager",
    "/campaigns": "manager",
    "/referrals": "manager",
    "/coupons": "manager",
    "/club": "manager",
    "/branding": "manager",
    "/reports": "manager",
    "/reports/close": "manager",
    "/nps": "manager",
    "/staff": "owner",
    "/keys": "owner",
    "/webhooks": "owner",
    "/integrations": "owner",
    "/widget": "owner",
    "/audit": "owner",
}


def nav_links(html: str) -> list[tuple[str, bool]]:
    nav = re.search(r'<nav class="admin-nav".*?</nav>', html, re.S).group(0)
    return [
        (href.removeprefix("/admin/b/bella"), bool(current))
        for href, current in re.findall(r'<a class="admin-link" href="([^"]+)"( aria-current="page")?', nav)
    ]


def test_the_sidebar_lists_every_page_with_the_role_its_route_needs():
    for path, role in SIDEBAR.items():
        assert ROUTE_ROLES[("GET", "" if path == "/" else path)] == role, path


@pytest.mark.parametrize("persona", ["operator", "manager", "owner"])
async def test_the_sidebar_marks_the_current_page_and_shows_only_what_the_role_may_open(
    app, demo, clock, persona
):
    client = await _staff(app, clock, demo, persona)
    visible = [p for p, needed in SIDEBAR.items() if allowed(persona, needed)]
    for path in visible:
        page = await client.get(f"/admin/b/bella{path}")
        assert page.status_code == 200, path
        links = nav_links(page.text)
        assert [p for p, _ in links] == visible, (persona, path)
        assert [p for p, current in links if current] == [path], (persona, path)
        assert page.text.count('aria-current="page"') == 1
        assert 'href="/static/css/admin.css?v=' in page.text
    hidden = [p for p in SIDEBAR if p not in visible]
    for path in hidden:
        assert (await client.get(f"/admin/b/bella{path}")).status_code == 403, path
    await client.aclose()


async def test_the_sidebar_shows_the_brand_logo_and_the_staff_members_other_brands(app, demo, clock):
    from retorno.staff import service as staff

    client = await _staff(app, clock, demo, "owner")
    await staff.add_staff(email="owner@staff.example", brand_id=demo["mare"].id, role="manager", now=clock())
    page = await client.get("/admin/b/bella/")
    assert '<img src="/admin/b/bella/logo.png?v=' in page.text
    switch = re.search(r'<details class="admin-switch">.*?</details>', page.text, re.S).group(0)
    assert 'href="/admin/b/mare/"' in switch and "/admin/b/bella/" not in switch
    logo = await client.get("/admin/b/bella/logo.png")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png"
    assert logo.content.startswith(b"\x89PNG")
    await client.aclose()


async def test_the_audit_log_says_in_words_who_changed_what_and_when(app, demo, clock):
    from retorno import db
    from retorno.audit import service as audit
    from retorno.staff import service as staff

    owner = await _staff(app, clock, demo, "owner")
    member = await staff.staff_by_email("owner@staff.example")
    events = [
        (
            "brand.branding",
            "bella",
            {"primary": "#8E2453", "name": "Bella"},
            {"primary": "#1f4e79", "name": "Bella", "logo": "kept"},
        ),
        ("staff.role", "ana@staff.example", None, {"role": "manager"}),
        ("counter.sale", "balcao-1", None, {"total": 15000, "cashback": 1500, "customer_id": 1}),
        (
            "brand.rules",
            "bella",
            '[cashback]\nrate = 5\nname = "Ação"\n',
            '[cashback]\nrate = 10\nname = "Ação"\n',
        ),
    ]
    for action, target, before, after in events:
        await db.write(
            lambda a=action, t=target, b=before, f=after: audit.record(
                brand_id=demo["bella"].id,
                staff_id=member.id,
                action=a,
                target=t,
                before=b,
                after=f,
                now=clock(),
            )
        )
    page = (await owner.get("/admin/b/bella/audit")).text
    text = re.sub(r"<[^>]+>", "", page)
    text = re.sub(r"\s+", " ", text)
    assert "Alterou a marca" in text and "Cor principal: #8E2453 → #1F4E79" in text
    assert "Nome:" not in text and "Logo" not in text.split("Alterou a marca")[1].split("Deu um papel")[0]
    assert "Deu um papel" in text and "Papel: gerente" in text
    assert "Registrou uma venda no balcão" in text and "Total: R$ 150,00" in text
    assert "Alterou as regras" in text and "rate = 5" in text and "rate = 10" in text
    assert "\\u" not in page and "{&#34;" not in page and '{"' not in text
    assert "owner@staff.example" in text and "America/Sao_Paulo" in text
    await owner.aclose()


@pytest.mark.parametrize("action", ["send", "confirm"])
async def test_a_campaign_to_nobody_is_refused_with_a_clear_message(app, demo, clock, action):
    from retorno import db

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = {
        "name": "Natal",
        "segment": "vip",
        "channel_0": "push",
        "push_title": "Natal",
        "push_body": "Cashback em dobro",
        "url": "/",
        "_csrf_token": token,
    }
    refused = await manager.post("/admin/b/bella/campaigns", data=form | {"action": action})
    assert refused.status_code == 422
    assert 'id="campaign-error"' in refused.text
    assert "Não enviada: nenhum cliente está neste público" in refused.text
    assert 'id="campaign-confirm"' not in refused.text and 'value="Natal"' in refused.text  # kept
    assert await db.fetch("SELECT id FROM message_campaigns") == []
    await manager.aclose()


async def test_a_customer_registered_by_phone_at_the_counter_is_found_again(app, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    missing = await clerk.get("/admin/b/bella/counter", params={"q": "(11) 98765-4321"})
    assert missing.status_code == 404 and 'id="register-form"' in missing.text
    assert 'inputmode="tel"' in missing.text  # the phone's digit keyboard for CPF and phone
    form = {"name": "Rita", "phone": "(11) 98765-4321", "_csrf_token": token}
    made = await clerk.post("/admin/b/bella/counter/customer", data=form)
    assert made.status_code == 303
    location = made.headers["location"]
    assert "q=%2B5511987654321" in location and location.endswith("#counter-result")
    found = await clerk.get(location.split("#")[0])
    assert found.status_code == 200 and 'id="customer-panel"' in found.text and "Rita" in found.text
    assert 'id="counter-registered"' in found.text
    by_email = await clerk.get("/admin/b/bella/counter", params={"by": "email"})
    assert 'inputmode="email"' in by_email.text
    await clerk.aclose()


async def test_a_total_typed_at_the_counter_survives_an_error_and_too_much_says_so(app, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get("/admin/b/bella/counter")
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)
    sale = {"form_id": form_id, "customer": "529.982.247-25", "_csrf_token": token}
    big = await clerk.post("/admin/b/bella/counter/sale", data=sale | {"total": "99.999.999.999,00"})
    assert big.status_code == 422
    error = re.search(r'id="counter-error">(.*?)</p>', big.text, re.S).group(1)
    assert "no máximo" in error and "maior que zero" not in error
    total = re.search(r'<input id="sale-total"[^>]*>', big.text).group(0)
    assert 'value="99.999.999.999,00"' in total
    assert 'value="529.982.247-25"' in big.text
    items = await clerk.post(
        "/admin/b/bella/counter/sale", data=sale | {"total": "100,00", "items": "maquiagem 80,00"}
    )
    assert items.status_code == 422 and ">maquiagem 80,00</textarea>" in items.text
    assert 'value="100,00"' in items.text
    done = await clerk.post("/admin/b/bella/counter/sale", data=sale | {"total": "100,00"})
    assert done.status_code == 200 and 'id="counter-recorded"' in done.text
    assert (
        'id="sale-total" name="total" inputmode="decimal" required autocomplete="off" value=""' in done.text
    )
    await clerk.aclose()


async def test_admin_forms_confirm_success_and_keep_what_was_typed_after_an_error(app, demo, clock):
    manager = await _staff(app, clock, demo, "owner")
    token = await _csrf(manager)
    page = (await manager.get("/admin/b/bella/branding")).text
    assert re.search(r'id="current-logo"><img src="/admin/b/bella/logo.png\?v=\d+" alt="O logo atual"', page)
    form = {
        "name": "Bella Cosméticos",
        "short_name": "Bella",
        "primary": "#7a1f48",
        "accent": "#f4b942",
        "background": "#000000",  # no text reads on it: refused
        "email": "sac@bella.example",
        "whatsapp": "",
        "phone": "",
        "hours": "9h às 18h",
        "regulations": "# Regulamento\n\nUm rascunho digitado com cuidado.",
        "action": "save",
        "_csrf_token": token,
    }
    refused = await manager.post("/admin/b/bella/branding", data=form, files={"logo": ("", b"", "")})
    assert refused.status_code == 422
    assert "Um rascunho digitado com cuidado." in refused.text and 'value="9h às 18h"' in refused.text
    saved = await manager.post(
        "/admin/b/bella/branding", data=form | {"background": "#fff8f5"}, files={"logo": ("", b"", "")}
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("/branding?done=saved")
    shown = (await manager.get(saved.headers["location"])).text
    assert 'id="flash">Salvo.<' in shown

    bad = await manager.post(
        "/admin/b/bella/staff", data={"email": "gil@@example", "role": "manager", "_csrf_token": token}
    )
    assert bad.status_code == 422 and 'value="gil@@example"' in bad.text
    assert '<option value="manager" selected>' in bad.text
    given = await manager.post(
        "/admin/b/bella/staff", data={"email": "gil@example.com", "role": "manager", "_csrf_token": token}
    )
    assert given.headers["location"].endswith("/staff?done=access")
    assert 'id="flash">Acesso dado.' in (await manager.get(given.headers["location"])).text

    from retorno import db
    from retorno.customers import service as customers
    from retorno.customers.service import Identity

    async with db.transaction():
        shopper, _ = await customers.upsert(demo["bella"].id, Identity(email="a@example.com"), now=clock())
    url = f"/admin/b/bella/customers/{shopper.id}/adjust"
    wrong = await manager.post(url, data={"amount": "dez", "reason": "Brinde de Natal", "_csrf_token": token})
    assert (
        wrong.status_code == 422 and 'value="dez"' in wrong.text and 'value="Brinde de Natal"' in wrong.text
    )
    adjusted = await manager.post(url, data={"amount": "10,00", "reason": "Brinde", "_csrf_token": token})
    assert adjusted.headers["location"].endswith("?done=adjusted")
    assert 'id="flash">Saldo ajustado' in (await manager.get(adjusted.headers["location"])).text
    await manager.aclose()


async def test_the_dashboard_shows_today_the_last_7_and_30_days_with_a_trend_a_day(app, api, demo, clock):
    import datetime as dt

    now = clock()
    for n, days_ago in enumerate((0, 5, 20, 40)):
        at = (now - dt.timedelta(days=days_ago)).isoformat()
        sale = {"order_id": f"D-{n}", "customer": {"email": f"d{n}@example.com"}, "total": 10000}
        assert (await api.post("/sales", json=sale | {"occurred_at": at})).status_code in (200, 201)
    manager = await _staff(app, clock, demo, "manager")
    page = (await manager.get("/admin/b/bella/")).text
    assert re.search(r'id="fig-sales">1<', page) and re.search(r'id="fig-7-sales">2<', page)
    assert re.search(r'id="fig-30-sales">3<', page) and re.search(r'id="fig-30-active">3<', page)
    assert re.search(r'id="fig-30-revenue">R\$\xa0300,00<', page)
    assert re.search(r'id="fig-30-cashback">R\$\xa030,00<', page)  # 10% of each sale
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="spark"') == 11  # 5 x (7, 30 days), owed
    assert "style=" not in page
    await manager.aclose()


async def test_the_dashboard_trends_count_each_day_s_shoppers_and_follow_what_is_owed(app, api, demo, clock):
    """Shoppers are counted once a day however often they buy, on the brand's own days; what is
    owed at each day's end is worked out here from the sales' 10% and a balance adjustment."""
    import datetime as dt
    import itertools

    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.reports.service import home_figures
    from retorno.sales.adjustments import adjust

    now = clock()
    sales = [("A", 3, 10000), ("A", 3, 10000), ("B", 3, 5000), ("A", 1, 3000)]  # who, days ago, total
    for n, (who, days_ago, total) in enumerate(sales):
        body = {"order_id": f"T-{n}", "customer": {"email": f"{who}@example.com"}, "total": total}
        body["occurred_at"] = (now - dt.timedelta(days=days_ago)).isoformat()
        assert (await api.post("/sales", json=body)).status_code == 201
    bella = await brands.get_brand("bella")
    found = await customers.find(bella.id, "email:b@example.com")
    await adjust(brand=bella, customer_id=found.id, amount=1000, reason="Brinde", now=now)

    figures = await home_figures(bella, now)
    trend = figures.periods[-1].trend
    today = now.astimezone(dt.timezone(dt.timedelta(hours=-3))).date()
    by_day = {(today - d.day).days: d for d in trend}
    assert len(trend) == 30 and trend[-1].day == today
    assert [by_day[n].active for n in (4, 3, 2, 1, 0)] == [0, 2, 0, 1, 0]
    earned = {3: 2500, 1: 300, 0: 1000}  # 10% of the day's sales; today the adjustment
    expected = list(itertools.accumulate(earned.get(n, 0) for n in range(29, -1, -1)))
    assert [d.owed for d in trend] == expected
    assert trend[-1].owed == figures.owed
    manager = await _staff(app, clock, demo, "manager")
    page = (await manager.get("/admin/b/bella/")).text
    assert page.count('class="spark"') == 11  # sales, revenue, issued, redeemed, shoppers (7, 30); owed
    await manager.aclose()
