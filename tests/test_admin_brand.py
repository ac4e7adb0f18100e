"""The admin of a brand (/admin/b/<slug>): a role matrix built from the app's routes, the counter,
API keys and the audit log."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from retorno import db
from retorno.auth import sessions
from retorno.referrals.tables import Referral
from retorno.sales import orders
from retorno.staff import service as staff
from tests.conftest import BASE_HOST, platform_url

ADMIN = "/admin/b/{slug:str}"
# The role each admin route needs; the matrix test fails when a route is missing here.
ROUTE_ROLES = {
    ("GET", ""): "operator",
    ("GET", "/counter"): "operator",
    ("GET", "/logo.png"): "operator",
    ("POST", "/counter/sale"): "operator",
    ("POST", "/counter/voucher"): "operator",
    ("POST", "/counter/customer"): "operator",
    ("POST", "/counter/redeem"): "operator",
    ("POST", "/counter/undo"): "operator",
    ("GET", "/customers"): "manager",
    ("GET", "/customers/{customer_id:int}"): "manager",
    ("POST", "/customers/{customer_id:int}/adjust"): "manager",
    ("GET", "/referrals"): "manager",
    ("POST", "/referrals/{referral_id:int}/{decision:str}"): "manager",
    ("GET", "/rules"): "manager",
    ("POST", "/rules"): "manager",
    ("POST", "/rules/simulate"): "manager",
    ("GET", "/pack.zip"): "manager",
    ("POST", "/pack"): "manager",
    ("GET", "/import"): "manager",
    ("POST", "/import"): "manager",
    ("GET", "/import/{job_id:int}"): "manager",
    ("GET", "/import/{job_id:int}/rejected.csv"): "manager",
    ("GET", "/branding"): "manager",
    ("GET", "/banner.png"): "manager",
    ("POST", "/branding"): "manager",
    ("GET", "/reports"): "manager",
    ("GET", "/reports.csv"): "manager",
    ("GET", "/reports/close"): "manager",
    ("GET", "/reports/close.csv"): "manager",
    ("GET", "/nps"): "manager",
    ("GET", "/nps.csv"): "manager",
    ("POST", "/nps/settings"): "manager",
    ("GET", "/reports/shoppers"): "manager",
    ("GET", "/reports/shoppers.csv"): "manager",
    ("GET", "/reports/benefits"): "manager",
    ("GET", "/reports/benefits.csv"): "manager",
    ("GET", "/reports/recurrence"): "manager",
    ("GET", "/reports/recurrence.csv"): "manager",
    ("GET", "/reports/repurchase"): "manager",
    ("GET", "/reports/repurchase.csv"): "manager",
    ("GET", "/reports/products"): "manager",
    ("GET", "/reports/products.csv"): "manager",
    ("GET", "/reports/campaigns"): "manager",
    ("GET", "/reports/campaigns.csv"): "manager",
    ("GET", "/campaigns"): "manager",
    ("POST", "/campaigns"): "manager",
    ("GET", "/campaigns/{campaign_id:int}"): "manager",
    ("POST", "/campaigns/{campaign_id:int}/cancel"): "manager",
    ("GET", "/points"): "operator",
    ("GET", "/points/new"): "manager",
    ("POST", "/points"): "manager",
    ("GET", "/points/{reward_id:int}"): "manager",
    ("POST", "/points/{reward_id:int}"): "manager",
    ("POST", "/points/redemptions/{redemption_id:int}/undo"): "operator",
    ("POST", "/points/redemptions/{redemption_id:int}/fulfil"): "operator",
    ("GET", "/club"): "manager",
    ("POST", "/club"): "manager",
    ("GET", "/club/new"): "manager",
    ("GET", "/club/{benefit_id:int}"): "manager",
    ("POST", "/club/{benefit_id:int}"): "manager",
    ("POST", "/club/{benefit_id:int}/switch"): "manager",
    ("GET", "/club/{benefit_id:int}/image.jpg"): "manager",
    ("GET", "/coupons"): "manager",
    ("POST", "/coupons"): "manager",
    ("GET", "/coupons/{code:str}"): "manager",
    ("POST", "/coupons/{code:str}"): "manager",
    ("GET", "/messages"): "manager",
    ("POST", "/messages/settings"): "manager",
    ("GET", "/messages/{kind:str}"): "manager",
    ("POST", "/messages/{kind:str}"): "manager",
    ("GET", "/messages/{kind:str}/email"): "manager",
    ("GET", "/staff"): "owner",
    ("POST", "/staff"): "owner",
    ("POST", "/staff/{staff_id:int}/remove"): "owner",
    ("GET", "/keys"): "owner",
    ("POST", "/keys"): "owner",
    ("POST", "/keys/{key_id:int}/revoke"): "owner",
    ("GET", "/audit"): "owner",
    ("GET", "/webhooks"): "owner",
    ("POST", "/webhooks"): "owner",
    ("GET", "/webhooks/{endpoint_id:int}"): "owner",
    ("POST", "/webhooks/{endpoint_id:int}/{action:str}"): "owner",
    ("POST", "/webhooks/deliveries/{delivery_id:int}/resend"): "owner",
    ("GET", "/widget"): "owner",
    ("POST", "/widget"): "owner",
    ("POST", "/widget/rotate"): "owner",
    ("GET", "/integrations"): "owner",
    ("GET", "/integrations/{platform:str}"): "owner",
    ("POST", "/integrations/{platform:str}"): "owner",
    ("POST", "/integrations/{platform:str}/disconnect"): "owner",
}
PERSONAS = ["owner", "manager", "operator", "mare-owner", "platform", "stranger"]


async def _staff(app, clock, demo, persona: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE_HOST}")
    if persona == "stranger":
        return client
    email = f"{persona}@staff.example"
    if persona == "platform":
        staff_id = await staff.add_staff(email=email, platform_admin=True, now=clock())
    elif persona == "mare-owner":
        staff_id = await staff.add_staff(email=email, brand_id=demo["mare"].id, role="owner", now=clock())
    else:
        staff_id = await staff.add_staff(email=email, brand_id=demo["bella"].id, role=persona, now=clock())
    token = await sessions.start_session(brand_id=None, staff_id=staff_id, now=clock())
    client.cookies.set("retorno_session", token)
    return client


async def _csrf(client: httpx.AsyncClient) -> str:
    await client.get(platform_url("/admin/login"))
    return next(c.value for c in client.cookies.jar if c.name.endswith("csrftoken"))


def admin_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if not route.path.startswith(ADMIN):
            continue
        for method in set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"}:
            found.add((method, route.path.removeprefix(ADMIN)))
    return found


def allowed(persona: str, needed: str) -> bool:
    if persona == "platform":
        return True
    return persona in staff.ROLES and staff.role_allows(persona, needed)


async def test_every_admin_route_gives_each_role_exactly_what_it_should(app, api, demo, clock):
    assert admin_routes(app) == set(ROUTE_ROLES), admin_routes(app) ^ set(ROUTE_ROLES)
    key = await api.get("/customers/cpf:52998224725/balance")  # a key exists for bella (api fixture)
    assert key.status_code == 404
    [bella_key] = await db.fetch("SELECT id FROM api_keys WHERE brand = {}", demo["bella"].id)
    [mare_key] = await db.fetch("SELECT id FROM api_keys WHERE brand = {}", demo["mare"].id)
    from retorno.customers import service as customers
    from retorno.customers.service import Identity

    customers_of = {}
    for slug in ("bella", "mare"):
        async with db.transaction():
            made, _ = await customers.upsert(demo[slug].id, Identity(email=f"m@{slug}.example"), now=clock())
        customers_of[slug] = made.id
    friends_of = {}
    for slug in ("bella", "mare"):
        async with db.transaction():
            made, _ = await customers.upsert(demo[slug].id, Identity(email=f"f@{slug}.example"), now=clock())
        friends_of[slug] = made.id
    referral_of = {}
    for slug in ("bella", "mare"):  # a referral under review at each brand
        sale, _ = await orders.record(
            brand=demo[slug],
            sale=orders.SaleIn(
                order_id=f"R-{slug}", customer=Identity(email=f"m@{slug}.example"), total=9000
            ),
            now=clock(),
        )
        referral_of[slug] = await db.write(
            lambda slug=slug, sale=sale: db.insert(
                Referral,
                brand=demo[slug].id,
                referrer=customers_of[slug],
                friend=friends_of[slug],
                status="review",
                reason="same_device",
                sale=sale.sale_id,
                invited_at=clock(),
            )
        )
    gone_of = {  # a staff member at each brand for the owners to remove
        slug: await staff.add_staff(
            email=f"gone@{slug}.example", brand_id=demo[slug].id, role="operator", now=clock()
        )
        for slug in ("bella", "mare")
    }
    from retorno.brands.service import _put_asset
    from retorno.imports import service as imports

    for slug in ("bella", "mare"):  # a banner at each brand, for its branding page
        await _put_asset(demo[slug].id, "banner.png", b"\x89PNG banner", "image/png")
    job_of = {}
    for slug in ("bella", "mare"):  # a large import at each brand
        owner = await staff.add_staff(
            email=f"o@{slug}.example", brand_id=demo[slug].id, role="owner", now=clock()
        )
        job_of[slug] = await imports.start(
            brand_id=demo[slug].id,
            staff_id=owner,
            filename="v.csv",
            upload=imports.read("order_id,total,email\n1,10,a@b.example\n"),
            now=clock(),
        )
    from retorno.outbound import Options
    from retorno.webhooks import service as webhooks

    hook_of, delivery_of = {}, {}
    for slug in ("bella", "mare"):  # a webhook endpoint with a delivery at each brand
        made = await webhooks.create_endpoint(
            brand_id=demo[slug].id,
            url="http://127.0.0.1:9/hooks",
            events=["*"],
            now=clock(),
            options=Options(allow_private=True, require_https=False),
        )
        hook_of[slug] = made.endpoint.id
        delivery_of[slug] = (
            await webhooks.send_test(brand_id=demo[slug].id, endpoint_id=made.endpoint.id, now=clock())
        ).id
    from retorno.messages import campaigns

    campaign_of = {}
    for slug in ("bella", "mare"):  # a scheduled campaign at each brand, for its report and cancel
        campaign_of[slug] = await campaigns.create(
            brand_id=demo[slug].id,
            draft=campaigns.Draft(
                name="Natal",
                channels=["push"],
                written={"push": {"title": "Natal", "body": "Feliz Natal"}},
                url="/",
                audience=campaigns.Audience(),
                holdout_bp=1000,
                send_at=clock() + dt.timedelta(days=30),
            ),
            now=clock(),
        )
    from retorno.vouchers import coupons

    for slug in ("bella", "mare"):  # a coupon of each brand's own, for its page
        await coupons.save(
            brand_id=demo[slug].id, draft=coupons.CouponDraft(code="NATAL", amount=500), now=clock()
        )
    from retorno.club import service as club
    from tests.upload_corpus import _image

    benefit_of = {}
    for slug in ("bella", "mare"):  # a club benefit with a picture at each brand
        checked = club.check(
            club.Draft(title="Café", partner="Aurora", how="show"), timezone="America/Sao_Paulo"
        )
        picture = club.picture(_image("PNG", size=(640, 360)))
        benefit_of[slug] = await db.write(
            lambda checked=checked, picture=picture, slug=slug: club.create(
                brand_id=demo[slug].id, benefit=checked, image=picture, now=clock()
            )
        )
    from retorno.ledger import posting
    from retorno.points import service as points

    reward_of, exchange_of = {}, {}
    for slug in ("bella", "mare"):  # a reward of each brand's catalogue, and an exchange of it
        reward_of[slug] = await points.save(
            brand_id=demo[slug].id,
            draft=points.Draft(kind="product", title="Brinde", points="10"),
            now=clock(),
        )

        async def held(slug: str = slug) -> None:
            await posting.credit(
                brand=demo[slug],
                customer_id=customers_of[slug],
                amount=10,
                source="adjustment",
                at=clock(),
                now=clock(),
                kind="adjustment",
                breakdown={},
                pending=False,
                unit=posting.POINTS,
            )

        await db.write(held)
        exchange_of[slug] = (
            await points.redeem(
                brand=demo[slug],
                customer_id=customers_of[slug],
                reward_id=reward_of[slug],
                request_key="k",
                now=clock(),
            )
        ).redemption_id
    outcomes = {}
    for persona in PERSONAS:
        client = await _staff(app, clock, demo, persona)
        token = await _csrf(client)
        for (method, path), needed in sorted(ROUTE_ROLES.items()):
            for slug, key_id in (("bella", bella_key["id"]), ("mare", mare_key["id"])):
                ids = {
                    "{key_id:int}": key_id,
                    "{endpoint_id:int}": hook_of[slug],
                    "{action:str}": "test",
                    "{delivery_id:int}": delivery_of[slug],
                    "{customer_id:int}": customers_of[slug],
                    "{referral_id:int}": referral_of[slug],
                    "{decision:str}": "approve",
                    "{staff_id:int}": gone_of[slug],
                    "{job_id:int}": job_of[slug],
                    "{platform:str}": "shopify",
                    "{campaign_id:int}": campaign_of[slug],
                    "{kind:str}": "cashback.credited",
                    "{benefit_id:int}": benefit_of[slug],
                    "{reward_id:int}": reward_of[slug],
                    "{redemption_id:int}": exchange_of[slug],
                    "{code:str}": "NATAL",
                }
                url = f"/admin/b/{slug}" + (path or "/")
                for param, value in ids.items():
                    url = url.replace(param, str(value))
                data = {"form_id": f"m-{persona}", "customer": "x@example.com", "total": "10", "code": "AAAA"}
                data |= {"amount": "1", "reason": "teste", "title": "Oi", "email": f"new-{persona}@x.example"}
                data |= {"role": "operator", "action": "preview", "event": "0"}
                data |= {"shop": f"{slug}.myshopify.com", "secret": "s3cret"}  # connects, then disconnects
                if path.startswith("/staff/"):  # give the role back, so each persona removes someone
                    await staff.add_staff(
                        email=f"gone@{slug}.example", brand_id=demo[slug].id, role="operator", now=clock()
                    )
                response = await client.request(
                    method,
                    url,
                    data=data | {"order_total": "10", "_csrf_token": token} if method == "POST" else None,
                )
                outcomes[(persona, method, path, slug)] = response.status_code
                own = slug == ("mare" if persona == "mare-owner" else "bella")
                held = "owner" if persona in ("mare-owner", "platform") else persona
                status = response.status_code
                assert status < 500, (persona, method, url, status)
                files = (".csv", ".zip", ".png", ".jpg")
                if status in (200, 422) and not path.endswith(files):  # a page, in HTML
                    assert response.headers["content-type"].startswith("text/html"), (method, url)
                if persona == "stranger":
                    assert status == 303 and "/admin/login" in response.headers["location"], url
                elif persona != "platform" and not own:
                    assert status == 404, (persona, method, url, status)
                elif allowed(held, needed):
                    assert status not in (403, 404), (persona, method, url, status)
                else:
                    assert status == 403, (persona, method, url, status)
        await client.aclose()
    assert outcomes[("operator", "GET", "/keys", "bella")] == 403
    assert outcomes[("manager", "GET", "/counter", "bella")] == 200
    assert outcomes[("owner", "GET", "/counter", "mare")] == 404


async def test_the_counter_finds_records_once_and_uses_a_voucher(app, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    token = await _csrf(clerk)
    page = await clerk.get("/admin/b/bella/counter")
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)
    sale = {"form_id": form_id, "customer": "529.982.247-25", "total": "150,00", "_csrf_token": token}
    first = await clerk.post("/admin/b/bella/counter/sale", data=sale)
    again = await clerk.post("/admin/b/bella/counter/sale", data=sale)  # a double tap
    assert first.status_code == 200 and again.status_code == 200
    assert "R$\xa015,00" in first.text  # 10% of R$ 150,00
    sales = await db.fetch("SELECT order_id, total, channel FROM sales")
    assert [(s["total"], s["channel"]) for s in sales] == [(15000, "counter")]
    found = await clerk.get("/admin/b/bella/counter", params={"q": "52998224725"})
    assert found.status_code == 200 and 'id="customer-panel"' in found.text
    code = re.search(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2})</code>", found.text).group(1)
    voucher = {"form_id": "v1", "code": code.lower(), "order_total": "80", "_csrf_token": token}
    used = await clerk.post("/admin/b/bella/counter/voucher", data=voucher)
    assert used.status_code == 200 and 'id="counter-voucher"' in used.text
    refused = await clerk.post("/admin/b/bella/counter/voucher", data=voucher | {"form_id": "v2"})
    assert refused.status_code == 409
    missing = await clerk.get("/admin/b/bella/counter", params={"q": "ninguem@example.com"})
    assert missing.status_code == 404
    bad = await clerk.post("/admin/b/bella/counter/sale", data=sale | {"form_id": "x2", "total": "abc"})
    assert bad.status_code == 422 and len(await db.fetch("SELECT id FROM sales")) == 1
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["counter.sale", "counter.voucher"]
    await clerk.aclose()


async def test_an_owner_creates_a_key_shown_once_and_revokes_it(app, demo, clock):
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    created = await owner.post("/admin/b/bella/keys", data={"name": "loja virtual", "_csrf_token": token})
    key = re.search(r'id="new-key">([^<]+)<', created.text).group(1)
    listing = (await owner.get("/admin/b/bella/keys")).text
    assert "loja virtual" in listing and key not in listing  # the secret is shown once
    assert "até 5 segundos" in listing  # the page says how soon a revocation reaches every server
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{BASE_HOST}/api/v1")
    ok = await api.post(
        "/customers", json={"email": "a@example.com"}, headers={"authorization": f"Bearer {key}"}
    )
    assert ok.status_code in (200, 201)
    [row] = await db.fetch("SELECT id FROM api_keys WHERE name = 'loja virtual'")
    revoked = await owner.post(f"/admin/b/bella/keys/{row['id']}/revoke", data={"_csrf_token": token})
    assert revoked.status_code == 303
    # At once on this process, though the key was in its 5-second cache a moment ago.
    gone = await api.post(
        "/customers", json={"email": "a@example.com"}, headers={"authorization": f"Bearer {key}"}
    )
    assert gone.status_code == 401
    audit_page = (await owner.get("/admin/b/bella/audit")).text
    assert (
        "apikey.create" in audit_page
        and "apikey.revoke" in audit_page
        and "owner@staff.example" in audit_page
    )
    assert key not in audit_page
    await api.aclose()
    await owner.aclose()


async def test_the_brand_home_shows_todays_figures(app, api, demo, clock):
    for i in range(3):
        await api.post(
            "/sales", json={"order_id": f"F-{i}", "customer": {"email": "a@example.com"}, "total": 10000}
        )
    manager = await _staff(app, clock, demo, "manager")
    page = (await manager.get("/admin/b/bella/")).text
    assert re.search(r'id="fig-sales">3<', page)
    assert "R$\xa0300,00" in page and "R$\xa030,00" in page
    await manager.aclose()


@pytest.mark.parametrize("path", ["/admin/b/nope/", "/admin/b/nope/counter"])
async def test_an_unknown_brand_is_a_404_even_for_the_platform_admin(app, demo, clock, path):
    admin = await _staff(app, clock, demo, "platform")
    assert (await admin.get(path)).status_code == 404
    await admin.aclose()


@pytest.mark.parametrize(
    ("typed", "centavos"),
    [("150", 15000), ("150,00", 15000), ("1.234,56", 123456), ("R$ 0,10", 10), ("99.90", 9990)],
)
def test_the_counter_reads_reais_as_a_clerk_types_them(typed, centavos):
    from retorno.typed import centavos as _centavos

    assert _centavos(typed) == centavos


@pytest.mark.parametrize("typed", ["abc", "0", "-5", "1,234", "10,001", "nan", "inf"])
def test_the_counter_refuses_what_is_not_an_amount(typed):
    from retorno.errors import Invalid
    from retorno.typed import centavos as _centavos

    with pytest.raises(Invalid):
        _centavos(typed)


async def test_a_manager_finds_a_customer_and_adjusts_the_balance_with_a_reason(app, api, demo, clock):
    sale = {"order_id": "A-1", "customer": {"email": "ana@example.com", "name": "Ana Souza"}, "total": 10000}
    await api.post("/sales", json=sale)
    clock.advance(days=8)
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    found = (await manager.get("/admin/b/bella/customers", params={"q": "souza"})).text
    customer_id = int(re.search(r"/admin/b/bella/customers/(\d+)", found).group(1))
    url = f"/admin/b/bella/customers/{customer_id}"
    page = (await manager.get(url)).text
    assert "R$\xa010,00" in page
    adjust = url + "/adjust"
    no_reason = await manager.post(adjust, data={"amount": "5,00", "reason": " ", "_csrf_token": token})
    assert no_reason.status_code == 422
    too_much = await manager.post(adjust, data={"amount": "-50", "reason": "erro", "_csrf_token": token})
    assert too_much.status_code == 422
    plus = await manager.post(adjust, data={"amount": "5,00", "reason": "troca", "_csrf_token": token})
    minus = await manager.post(adjust, data={"amount": "-2,50", "reason": "ajuste", "_csrf_token": token})
    assert plus.status_code == minus.status_code == 303
    balance = (await api.get(f"/customers/{customer_id}/balance")).json()
    assert balance["available"] == 1000 + 500 - 250
    statement = (await api.get(f"/customers/{customer_id}/statement")).json()["entries"]
    assert [(e["kind"], e["amount"], e.get("note")) for e in statement[:2]] == [
        ("adjustment", -250, "ajuste"),
        ("adjustment", 500, "troca"),
    ]
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["customer.adjust", "customer.adjust"]
    # Another brand's customer id means nothing there.
    mare_owner = await _staff(app, clock, demo, "mare-owner")
    assert (await mare_owner.get(f"/admin/b/mare/customers/{customer_id}")).status_code == 404
    await manager.aclose()
    await mare_owner.aclose()


async def test_a_manager_counts_the_audience_sends_a_campaign_and_reads_its_report(app, demo, clock):
    from retorno.customers import service as customers
    from retorno.customers.service import Identity
    from retorno.push import service as push
    from tests.fake_push import FakePushService

    fake = await FakePushService().start()
    for i, consent in enumerate((True, True, False)):
        async with db.transaction():
            shopper, _ = await customers.upsert(
                demo["bella"].id, Identity(email=f"s{i}@example.com"), now=clock()
            )
        await customers.set_consents(
            demo["bella"].id, shopper.id, {"push": consent}, source="app", now=clock()
        )
        device = fake.device()
        data = push.SubscriptionIn(endpoint=device.endpoint, keys=device.keys)
        await push.subscribe(brand_id=demo["bella"].id, customer_id=shopper.id, data=data, now=clock())
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = {
        "name": "Black Friday",
        "audience_channel": "push",
        "holdout": "0",
        "channel_0": "push",
        "push_title": "Black Friday, {nome}",
        "push_body": "Cashback em dobro",
        "url": "/vouchers",
        "_csrf_token": token,
    }
    counted = await manager.post("/admin/b/bella/campaigns", data=form | {"action": "preview"})
    assert re.search(r'id="audience">2 clientes neste público', counted.text)
    assert 'id="campaign-preview"' in counted.text and "Black Friday, cliente" in counted.text  # no names
    assert await db.fetch("SELECT id FROM message_campaigns") == []  # counting sends nothing
    bad = await manager.post(
        "/admin/b/bella/campaigns", data=form | {"action": "send", "url": "https://evil.example"}
    )
    assert bad.status_code == 422 and 'value="Black Friday"' in bad.text  # what was typed is kept
    unknown = await manager.post(
        "/admin/b/bella/campaigns", data=form | {"action": "send", "push_title": "Oi {cupom}"}
    )
    assert unknown.status_code == 422 and "{cupom}" in unknown.text
    asked = await manager.post("/admin/b/bella/campaigns", data=form | {"action": "send"})
    assert asked.status_code == 200 and 'id="campaign-confirm"' in asked.text  # first, a confirmation
    assert re.search(r'id="confirm-audience">Ela vai para 2 clientes', asked.text)
    assert await db.fetch("SELECT id FROM message_campaigns") == []
    sent = await manager.post("/admin/b/bella/campaigns", data=form | {"action": "confirm"})
    assert sent.status_code == 303 and re.search(r"/campaigns/\d+\?done=saved$", sent.headers["location"])
    from retorno.worker import Worker

    async with Worker(clock=clock, sweep=False) as worker:
        await worker.drain()
    assert len(fake.received) == 2 and {r.payload["title"] for r in fake.received} == {
        "Black Friday, cliente"
    }
    report = (await manager.get(sent.headers["location"])).text
    assert re.search(r'<th scope="row">Push</th><td class="num">2</td>', report)
    assert "Sem grupo de controle" in report
    listed = (await manager.get("/admin/b/bella/campaigns")).text
    assert "Black Friday" in listed and "enviada" in listed
    await fake.stop()
    await manager.aclose()


async def test_an_owner_gives_changes_and_removes_roles(app, demo, clock):
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    given = await owner.post(
        "/admin/b/bella/staff", data={"email": "Gil@Example.com", "role": "operator", "_csrf_token": token}
    )
    changed = await owner.post(
        "/admin/b/bella/staff", data={"email": "gil@example.com", "role": "manager", "_csrf_token": token}
    )
    assert given.status_code == changed.status_code == 303
    invitations = [m for m in app.state.mailer.messages if m.to == "gil@example.com"]
    assert len(invitations) == 1  # invited once; a changed role is no new invitation
    assert "Bella Cosméticos" in invitations[0].subject and "operador" in invitations[0].text
    assert "http://localhost:8000/admin/login" in invitations[0].text
    member = await staff.staff_by_email("gil@example.com")
    roles = (await staff.staff_member(member.id)).roles
    assert [(r.slug, r.role) for r in roles] == [("bella", "manager")]
    bad = await owner.post(
        "/admin/b/bella/staff", data={"email": "x@example.com", "role": "king", "_csrf_token": token}
    )
    assert bad.status_code == 422
    removed = await owner.post(f"/admin/b/bella/staff/{member.id}/remove", data={"_csrf_token": token})
    assert removed.status_code == 303 and (await staff.staff_member(member.id)).roles == []
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["staff.role", "staff.role", "staff.remove"]
    await owner.aclose()


async def test_a_platform_admin_sees_every_brand_and_creates_one(app, demo, clock):
    admin = await _staff(app, clock, demo, "platform")
    token = await _csrf(admin)
    listed = (await admin.get("/admin/brands")).text
    assert "Bella Cosméticos" in listed and "Maré Moda" in listed
    created = await admin.post(
        "/admin/brands", data={"slug": "loja-x", "name": "Loja X", "_csrf_token": token}
    )
    assert created.status_code == 303
    from retorno.brands import service as brands

    brand = await brands.get_brand("loja-x")
    assert brand.name == "Loja X"
    assert await db.fetch("SELECT id FROM push_vapid_keys WHERE brand = {}", brand.id)  # keys made with it
    taken = await admin.post("/admin/brands", data={"slug": "bella", "name": "Outra", "_csrf_token": token})
    bad = await admin.post("/admin/brands", data={"slug": "X Y!", "name": "Outra", "_csrf_token": token})
    assert taken.status_code == bad.status_code == 422 and "slug" in bad.text
    page = await admin.get("http://loja-x.localhost:8000/")
    assert page.status_code == 200 and "Loja X" in page.text
    # A brand owner is not a platform administrator.
    owner = await _staff(app, clock, demo, "owner")
    assert (await owner.get("/admin/brands")).status_code == 403
    await admin.aclose()
    await owner.aclose()


async def test_reports_for_a_period_with_a_chart_and_a_csv(app, api, demo, clock):
    for i in range(3):
        sale = {"order_id": f"P-{i}", "customer": {"email": f"c{i % 2}@example.com"}, "total": 10000}
        await api.post("/sales", json=sale)
        clock.advance(days=1)
    clock.advance(days=7)
    spend = {"redemption_id": "R-1", "order_id": "P-9", "customer": {"email": "c0@example.com"}}
    await api.post("/redemptions", json=spend | {"order_total": 10000, "amount": 500})
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get("/admin/b/bella/reports", params={"start": "2026-11-01", "end": "2026-11-30"})
    assert page.status_code == 200 and "<svg" in page.text
    assert re.search(r'id="r-new">2<', page.text) and re.search(r'id="r-repurchase">50%<', page.text)
    assert "R$\xa030,00" in page.text  # earned: 10% of three sales of R$ 100,00
    csv_text = (
        await manager.get("/admin/b/bella/reports.csv", params={"start": "2026-11-10", "end": "2026-11-20"})
    ).content.decode("utf-8-sig")
    rows = [line.split(";") for line in csv_text.strip().splitlines()]  # as Excel in Portuguese reads it
    assert rows[0] == ["Dia", "gerado", "usado", "estornado", "expirado"] and len(rows) == 12
    amount = lambda text: float(text.replace(",", "."))  # noqa: E731
    assert sum(amount(r[1]) for r in rows[1:]) == 30.0 and sum(amount(r[2]) for r in rows[1:]) == 5.0
    bad = await manager.get("/admin/b/bella/reports", params={"start": "2026-12-01", "end": "2026-11-01"})
    assert bad.status_code == 422
    await manager.aclose()


async def test_branding_saves_checked_colours_a_logo_and_new_regulations(app, demo, clock, client):
    import io

    from PIL import Image

    from retorno.brands import service as brands

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    url = "/admin/b/bella/branding"
    form = {
        "name": "Bella Cosméticos",
        "short_name": "Bella",
        "primary": "#7a1f48",
        "accent": "#f4b942",
        "background": "#fff8f5",
        "email": "sac@bella.example",
        "whatsapp": "+5511999990000",
        "phone": "+551133330000",
        "hours": "Seg a sex, 9h às 18h",
        "regulations": "# Regulamento\n\nVersão nova, <script>alert(1)</script> sem scripts.",
        "_csrf_token": token,
    }
    before = await brands.get_brand("bella")
    png = io.BytesIO()
    Image.new("RGB", (600, 600), "#7A1F48").save(png, format="PNG")
    saved = await manager.post(url, data=form, files={"logo": ("logo.png", png.getvalue(), "image/png")})
    assert saved.status_code == 303, saved.text
    after = await brands.get_brand("bella")
    assert after.primary_color == "#7A1F48" and after.app_version == before.app_version + 1
    regulations = await brands.current_regulations(after.id)
    assert regulations.version == 2 and "<script>" not in regulations.html
    theme = (await client.get("http://bella.localhost:8000/theme.css?v=2")).text
    assert "#7A1F48" in theme.upper()
    # A colour no text reads on is refused with its measured contrast; an SVG "logo" is refused.
    grey = await manager.post(url, data=form | {"primary": "#777777"})
    assert grey.status_code == 422
    assert "Cor principal: nenhuma cor de texto fica legível sobre #777777 (no máximo 4,48:1" in grey.text
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = await manager.post(url, data=form, files={"logo": ("logo.svg", svg, "image/svg+xml")})
    assert refused.status_code == 422
    assert "<li>Logo: o logo não é uma imagem PNG, JPEG ou WebP</li>" in refused.text
    assert (await brands.get_brand("bella")).app_version == after.app_version  # nothing saved
    operator = await _staff(app, clock, demo, "operator")
    assert (await operator.get(url)).status_code == 403
    await manager.aclose()
    await operator.aclose()


async def test_a_csv_of_past_sales_imports_once_with_a_report_per_row(app, api, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    csv_text = (
        "order_id,occurred_at,total,shipping,cpf,email,phone,name\n"
        'H-1,2026-10-01,"150,00",,52998224725,,,Ana\n'
        "H-2,2026-10-02,80.00,10.00,,bia@example.com,,Bia\n"
        "H-3,ontem,50,,,cris@example.com,,\n"
        "H-4,2026-10-03,abc,,,dani@example.com,,\n"
        "H-5,2026-10-03,30,,,,,\n"
    )
    files = {"file": ("vendas.csv", csv_text.encode(), "text/csv")}
    first = await manager.post("/admin/b/bella/import", data={"_csrf_token": token}, files=files)
    assert first.status_code == 200
    assert "2 importadas, 0 já existentes, 3 recusadas." in first.text
    assert "occurred_at" in first.text and "total" in first.text  # the reasons are shown
    again = await manager.post("/admin/b/bella/import", data={"_csrf_token": token}, files=files)
    assert "0 importadas, 2 já existentes, 3 recusadas." in again.text
    sales = await db.fetch("SELECT order_id, total, shipping, channel FROM sales ORDER BY order_id")
    assert [(s["order_id"], s["total"], s["shipping"], s["channel"]) for s in sales] == [
        ("H-1", 15000, 0, "import"),
        ("H-2", 8000, 1000, "import"),
    ]
    balance = (await api.get("/customers/cpf:52998224725/balance")).json()
    assert balance["available"] + balance["pending"] == 1500
    wrong = await manager.post(
        "/admin/b/bella/import",
        data={"_csrf_token": token},
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert wrong.status_code == 422 and "order_id" in wrong.text
    await manager.aclose()


@pytest.mark.parametrize("index", range(35))
async def test_an_upload_is_stored_only_as_a_re_encoded_raster(app, demo, clock, index):

    from retorno.brands import service as brands
    from tests.upload_corpus import assert_only_pixels, corpus

    files = corpus()
    assert len(files) >= 30
    name, content_type, data, is_image = files[index]
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    current = await brands.export_pack("bella")
    form = {
        "name": current.name,
        "short_name": current.short_name,
        "primary": current.theme.primary,
        "accent": current.theme.accent,
        "background": current.theme.background,
        "email": current.contact.email,
        "whatsapp": current.contact.whatsapp,
        "phone": current.contact.phone,
        "hours": current.contact.hours,
        "_csrf_token": token,
    }
    before = (await brands.asset(demo["bella"].id, "logo.png"))[0]
    response = await manager.post(
        "/admin/b/bella/branding", data=form, files={"logo": (name, data, content_type)}
    )
    stored = (await brands.asset(demo["bella"].id, "logo.png"))[0]
    if not data:  # an empty file part is what a browser sends when no file was chosen: logo kept
        assert response.status_code == 303 and stored == before, name
    elif not is_image:
        assert response.status_code == 422, (name, response.status_code)
        assert stored == before, name
    else:
        assert response.status_code == 303, (name, response.text[-500:])
        assert_only_pixels(stored, name)  # pixels and nothing else
    for asset_name in ("logo.png", "logo-120.png", "icon-192.png"):
        content = (await brands.asset(demo["bella"].id, asset_name))[0]
        for marker in (b"<script", b"<?php", b"<html", b"<svg"):
            assert marker not in content, (name, asset_name, marker)
    await manager.aclose()


async def test_the_simulator_shows_cashback_vouchers_and_redeemable(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    form = {
        "total": "250,00",
        "items": "maquiagem 150,00\ncabelo 100,00",
        "available": "200",
        "_csrf_token": token,
    }
    page = await manager.post("/admin/b/bella/rules/simulate", data=form)
    assert page.status_code == 200, page.text
    # bella: 15% maquiagem, 10% otherwise -> R$ 22,50 + R$ 10,00; a voucher (>= R$ 20,00);
    # at most 50% of the order may be paid with cashback -> R$ 125,00 of the R$ 200,00 available
    assert re.search(r'id="sim-cashback">R\$\xa032,50<', page.text)
    assert re.search(r'id="sim-vouchers">1<', page.text)
    assert re.search(r'id="sim-redeemable">R\$\xa0125,00<', page.text)
    # Each line as the manager reads it: "15% (categoria)", not "15.0% (category)".
    assert "maquiagem: R$\xa0150,00 × 15% (categoria)" in page.text
    assert "cabelo: R$\xa0100,00 × 10% (taxa base)" in page.text
    friday = await manager.post(
        "/admin/b/bella/rules/simulate", data=form | {"items": "", "total": "100", "at": "2026-11-28"}
    )
    assert "Black Friday" in friday.text or re.search(r'id="sim-cashback">R\$\xa0(10|20),00<', friday.text)
    bad = await manager.post("/admin/b/bella/rules/simulate", data=form | {"items": "maquiagem 10"})
    assert bad.status_code == 422 and "a soma deve dar o total" in bad.text
    await manager.aclose()


async def test_rules_are_edited_as_toml_with_every_problem_listed(app, demo, clock):
    from retorno.brands import service as brands

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    page = (await manager.get("/admin/b/bella/rules")).text
    text = re.search(r'<textarea id="r-rules"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    import html

    text = html.unescape(text)
    assert "[cashback]" in text and "rate = 10" in text
    changed = text.replace("rate = 10\n", "rate = 12\n", 1)
    saved = await manager.post("/admin/b/bella/rules", data={"rules": changed, "_csrf_token": token})
    assert saved.status_code == 303
    assert (await brands.get_brand("bella")).rules().cashback.rate_bp == 1200
    broken = changed.replace("rate = 12\n", 'rate = "doze"\n', 1).replace(
        "pending_days = 7", "pending_days = -1"
    )
    refused = await manager.post("/admin/b/bella/rules", data={"rules": broken, "_csrf_token": token})
    assert refused.status_code == 422 and "cashback.rate" in refused.text and "pending_days" in refused.text
    assert (await brands.get_brand("bella")).rules().cashback.rate_bp == 1200  # nothing saved
    sneaky = await manager.post(
        "/admin/b/bella/rules", data={"rules": 'name = "Outra"', "_csrf_token": token}
    )
    assert sneaky.status_code == 422 and (await brands.get_brand("bella")).name == "Bella Cosméticos"
    exported = await manager.get("/admin/b/bella/pack.zip")
    import io
    import zipfile

    files = zipfile.ZipFile(io.BytesIO(exported.content))
    assert sorted(files.namelist()) == ["brand.toml", "logo.png", "regulations.md"]
    toml = files.read("brand.toml").decode()
    assert 'slug = "bella"' in toml and "rate = 12" in toml
    await manager.aclose()


async def test_admin_pages_show_times_in_the_brands_time_zone(app, demo, clock):
    """The audit log of bella (America/Sao_Paulo) shows 15:00 UTC as 12:00."""
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    await owner.post("/admin/b/bella/keys", data={"name": "loja", "_csrf_token": token})
    page = await owner.get("/admin/b/bella/audit")
    assert "12:00" in page.text and "15:00" not in page.text
    await owner.aclose()


async def test_the_audit_log_pages_back_and_filters_by_kind(app, demo, clock):
    from retorno.admin.team import AUDIT_PAGE
    from retorno.audit import service as audit

    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    member = await staff.staff_by_email("owner@staff.example")
    for n in range(AUDIT_PAGE + 30):  # a busy till
        await db.write(
            lambda n=n: audit.record(
                brand_id=demo["bella"].id,
                staff_id=member.id,
                action="counter.sale",
                target=f"S-{n}",
                now=clock(),
            )
        )
    await owner.post("/admin/b/bella/keys", data={"name": "loja", "_csrf_token": token})
    first = await owner.get("/admin/b/bella/audit")
    assert first.text.count('class="audit-item"') == AUDIT_PAGE and "apikey.create" in first.text
    older = re.search(r'id="audit-older" href="([^"]+)"', first.text).group(1)
    second = await owner.get(older.replace("&amp;", "&"))
    targets = re.findall(r"<code>(S-\d+)</code>", second.text)
    assert len(targets) == 31 and targets[-1] == "S-0" and 'id="audit-older"' not in second.text
    seen = set(re.findall(r"<code>(S-\d+)</code>", first.text)) | set(targets)
    assert len(seen) == AUDIT_PAGE + 30  # every event on one page or the other, none twice
    keys = await owner.get("/admin/b/bella/audit", params={"action": "apikey."})
    assert keys.text.count('class="audit-item"') == 1 and "counter.sale" not in keys.text
    for before in ("x", "99999999999999"):
        odd = await owner.get("/admin/b/bella/audit", params={"action": "%", "before": before})
        assert odd.status_code == 200 and odd.text.count('class="audit-item"') == AUDIT_PAGE  # ignored
    mare = await owner.get("/admin/b/mare/audit")
    assert mare.status_code == 404
    await owner.aclose()


async def test_a_customers_statement_pages_back_in_the_admin(app, api, demo, clock):
    for n in range(35):
        await api.post(
            "/sales", json={"order_id": f"P-{n}", "customer": {"cpf": "52998224725"}, "total": 1000 + n}
        )
        clock.advance(minutes=1)
    manager = await _staff(app, clock, demo, "manager")
    [customer] = await db.fetch("SELECT id FROM customers WHERE brand = {}", demo["bella"].id)
    url = f"/admin/b/bella/customers/{customer['id']}"
    first = await manager.get(url)
    assert first.text.count('class="movement"') == 30 and "P-34" in first.text
    older = re.search(r'id="statement-older" href="([^"]+)"', first.text).group(1)
    second = await manager.get(older)
    assert second.text.count('class="movement"') == 5 and "· P-0<" in second.text
    assert 'id="statement-older"' not in second.text
    forged = await manager.get(url, params={"after": "bm90IGEgY3Vyc29y"})
    assert forged.status_code == 200 and forged.text.count('class="movement"') == 30  # the newest page
    await manager.aclose()


async def test_an_id_beyond_any_row_is_refused_not_a_server_error(app, demo, clock):
    """Every admin route with an id in its path, given 2**40: ids are 32-bit serials, and on
    PostgreSQL such a number used to reach the driver and fail as a 500."""
    admin = await _staff(app, clock, demo, "platform")
    token = await _csrf(admin)
    tried = 0
    for route in app.routes:
        if not route.path.startswith("/admin") or ":int}" not in route.path:
            continue
        url = re.sub(r"\{[a-z_]+:int\}", str(2**40), route.path)
        url = url.replace("{slug:str}", "bella").replace("{decision:str}", "approve")
        for method in set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"}:
            response = await admin.request(
                method, url, data={"_csrf_token": token} if method == "POST" else None
            )
            assert response.status_code in (400, 404), (method, url, response.status_code)
            tried += 1
    assert tried >= 8
    await admin.aclose()


async def test_a_report_counts_each_movement_on_the_brands_own_day(app, api, demo, clock):
    """Bella is in São Paulo (UTC-3): 02:59:59 UTC is still the day before there, 03:00 the day."""
    for order_id, at, total in (
        ("LATE", "2026-11-05T02:59:59.999+00:00", 10000),  # 4 Nov, 23:59:59 in São Paulo
        ("EARLY", "2026-11-05T03:00:00+00:00", 20000),  # 5 Nov, 00:00
        ("NOON", "2026-11-05T12:00:00-03:00", 40000),
    ):
        sale = {
            "order_id": order_id,
            "customer": {"email": "d@example.com"},
            "total": total,
            "occurred_at": at,
        }
        assert (await api.post("/sales", json=sale)).status_code == 201
    manager = await _staff(app, clock, demo, "manager")
    csv_text = (
        await manager.get("/admin/b/bella/reports.csv", params={"start": "2026-11-04", "end": "2026-11-05"})
    ).content.decode("utf-8-sig")
    rows = [line.split(";") for line in csv_text.strip().splitlines()[1:]]
    assert rows == [
        ["2026-11-04", "10,00", "0,00", "0,00", "0,00"],
        ["2026-11-05", "60,00", "0,00", "0,00", "0,00"],
    ]
    await manager.aclose()
