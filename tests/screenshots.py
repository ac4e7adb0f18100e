"""`make screenshots`: every shopper page of both demo brands (phone, light and dark) and every
admin page (laptop; the counter also on a phone), and the site widget on the demo store (laptop and
phone), into a folder, for people to look at.

    python -m tests.screenshots [--out screenshots] [--only admin|shopper]

It runs what `make run` runs (`retorno demo`, then `retorno serve`) on a database of its own, gives a
demo shopper of each brand movements, a voucher and a referral through the integration API, and
signs in with the codes from the development mailbox. The tests assert behaviour; this only looks.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import re
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.helpers import ARGS, CHROMIUM, admin_sign_in, join_with_code, sales_for
from tests.conftest import LiveServer, free_port, server_env

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
SHOPPERS = {"bella": ("Ana Souza", "ana@exemplo.com.br"), "mare": ("Bruno Lima", "bruno@exemplo.com.br")}
FRIENDS = {"bella": ("Carla Dias", "carla@exemplo.com.br"), "mare": ("Davi Rocha", "davi@exemplo.com.br")}
OWNERS = {"bella": "dono@bella.example", "mare": "gerente@mare.example"}
SHOPPER_PAGES = {
    "home": "/",
    "statement": "/statement",
    "vouchers": "/vouchers",
    "invite": "/invite",
    "club": "/club",
    "points": "/points",
    "account": "/account",
    "security": "/account/security",
    "notifications": "/account/notifications",
    "regulations": "/regulations",
    "help": "/help",
}
SIGNED_OUT_PAGES = {"welcome": "/", "join": "/join", "login": "/login", "regulations": "/regulations"}
ADMIN_PAGES = {
    "dashboard": "/",
    "counter": "/counter",
    "customers": "/customers",
    "rules": "/rules",
    "messages": "/messages",
    "automation": "/messages/customer.return_reminder",
    "campaigns": "/campaigns",
    "referrals": "/referrals",
    "coupons": "/coupons",
    "coupon": "/coupons/BEMVINDA10",
    "club": "/club",
    "club-benefit": "/club/1",
    "points": "/points",
    "reward": "/points/1",
    "branding": "/branding",
    "webhooks": "/webhooks",
    "integrations": "/integrations",
    "reports": "/reports",
    "close": "/reports/close",
    "nps": "/nps",
    "report-shoppers": "/reports/shoppers",
    "report-benefits": "/reports/benefits",
    "report-recurrence": "/reports/recurrence",
    "report-repurchase": "/reports/repurchase",
    "report-products": "/reports/products",
    "report-campaigns": "/reports/campaigns",
    "import": "/import",
    "staff": "/staff",
    "keys": "/keys",
    "audit": "/audit",
}


def _seed(server: LiveServer, slug: str) -> None:
    """A shopper with credit available and pending, one sale refunded in part, a redemption, and a
    friend who joined with their link and bought."""
    key = server.cli("apikeys", "create", slug).strip().splitlines()[-1]
    api = httpx.Client(
        base_url=server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}, timeout=10
    )
    name, email = SHOPPERS[slug]
    now = dt.datetime.now(dt.UTC)
    sales = [("PED-1001", 42_000, 50), ("PED-1002", 18_990, 35), ("PED-1003", 25_900, 2)]
    for order_id, total, days_ago in sales:
        body = {
            "order_id": order_id,
            "customer": {"email": email, "name": name},
            "total": total,
            "occurred_at": (now - dt.timedelta(days=days_ago)).isoformat(),
        }
        api.post("/sales", json=body, headers={"idempotency-key": order_id}).raise_for_status()
    # The shopper accepted e-mail at the counter: the automatic messages reach them (/dev/mailbox).
    api.patch(f"/customers/email:{email}", json={"consents": {"email": True}}).raise_for_status()
    refund = {"refund_id": "DEV-1", "amount": 4_990}
    api.post("/sales/PED-1002/refunds", json=refund, headers={"idempotency-key": "DEV-1"})
    redemption = {
        "redemption_id": "RES-1",
        "order_id": "PED-1004",
        "customer": {"email": email},
        "order_total": 30_000,
        "amount": 1_000,
    }
    answer = api.post("/redemptions", json=redemption, headers={"idempotency-key": "RES-1"})
    if answer.status_code >= 300:
        print(f"{slug}: no redemption ({answer.status_code} {answer.text})")
    api.close()


def _invite_a_friend(browser: Browser, server: LiveServer, slug: str) -> None:
    """The shopper's friend opens their link, joins and buys: the invite page has someone on it."""
    shopper = browser.new_context(viewport=PHONE, locale="pt-BR")
    page = shopper.new_page()
    join_with_code(page, server, slug, *SHOPPERS[slug])
    answer = page.goto(server.url(slug, "/invite"))
    if answer is None or answer.status != 200 or not page.locator("#invite-link").count():
        shopper.close()  # a brand without a referral programme
        return
    link = page.input_value("#invite-link")
    shopper.close()
    friend = browser.new_context(viewport=PHONE, locale="pt-BR")
    page = friend.new_page()
    page.goto(link.replace(f"http://{slug}.localhost/", server.url(slug, "/")))
    join_with_code(page, server, slug, *FRIENDS[slug])
    friend.close()
    key = server.cli("apikeys", "create", slug).strip().splitlines()[-1]
    name, email = FRIENDS[slug]
    sale = {"order_id": "PED-2001", "customer": {"email": email, "name": name}, "total": 15_000}
    answer = httpx.post(
        server.url(None, "/api/v1/sales"),
        json=sale,
        headers={"authorization": f"Bearer {key}", "idempotency-key": "PED-2001"},
        timeout=10,
    )
    answer.raise_for_status()


def _shopper_pages(browser: Browser, server: LiveServer, slug: str, out: Path) -> None:
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport=PHONE, color_scheme=scheme, locale="pt-BR", device_scale_factor=2
        )
        page = context.new_page()
        for name, path in SIGNED_OUT_PAGES.items():
            _shoot(page, server.url(slug, path), out / f"shopper-{slug}-{scheme}-out-{name}.png")
        join_with_code(page, server, slug, *SHOPPERS[slug])
        for name, path in SHOPPER_PAGES.items():
            _shoot(page, server.url(slug, path), out / f"shopper-{slug}-{scheme}-{name}.png")
        _redeem_a_reward(page, server, slug, out / f"shopper-{slug}-{scheme}-points-redeemed.png")
        context.close()


def _redeem_a_reward(page: Page, server: LiveServer, slug: str, path: Path) -> None:
    """The first reward the shopper's points cover, exchanged: its page with the code and QR code
    (in light, then the same one again in dark)."""
    page.goto(server.url(slug, "/points"))
    mine = page.locator(".my-rewards a")
    if mine.count():
        _shoot(page, server.url(slug, mine.first.get_attribute("href") or "/points"), path)
        return
    exchange = page.locator("li.reward form button[type=submit]")
    if not exchange.count():
        return  # a brand without points, or not enough of them
    with page.expect_navigation():
        exchange.first.click()
    _shoot(page, page.url, path)


def _admin_pages(browser: Browser, server: LiveServer, out: Path) -> None:
    context = browser.new_context(viewport=LAPTOP, locale="pt-BR")
    page = context.new_page()
    admin_sign_in(page, server, OWNERS["bella"])
    # A change in the branding form, so the audit log has something to say in words.
    page.goto(server.url(None, "/admin/b/bella/branding"))
    page.fill("#f-hours", "Seg a sáb, 9h às 20h")
    page.select_option("#f-corners", "round")
    page.click("button[value=save]")
    page.wait_for_load_state("networkidle")
    # A webhook endpoint with a test event, for the endpoint's page.
    page.goto(server.url(None, "/admin/b/bella/webhooks"))
    page.fill("#hook-url", "http://127.0.0.1:9/retorno")
    page.fill("#hook-description", "ERP da loja")
    page.click("form.form-card button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.click("#endpoints a")
    page.wait_for_load_state("networkidle")
    page.click("form[action$='/test'] button")
    page.wait_for_load_state("networkidle")
    _shoot(page, page.url.split("?")[0], out / "admin-webhook.png")
    # A Shopify store connected, a paid order and a pending one from it, for its page.
    page.goto(server.url(None, "/admin/b/bella/integrations/shopify"))
    page.fill("#shop", "bella-cosmeticos.myshopify.com")
    page.fill("#secret", DEMO_SHOP_SECRET)
    page.click("#connect-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    for name, topic in (("orders_create_pending", "orders/create"), ("orders_paid", "orders/paid")):
        _shopify_webhook(server, name, topic)
    _shoot(page, server.url(None, "/admin/b/bella/integrations/shopify"), out / "admin-integration.png")
    # A campaign by e-mail with a holdout group, sent now, for its report.
    page.goto(server.url(None, "/admin/b/bella/campaigns"))
    page.fill("#c-name", "Volta às compras")
    page.select_option("#c-channel-0", "email")
    page.select_option("#c-channel-1", "push")
    page.select_option("#c-channel-2", "")
    page.fill("#c-email-subject", "{nome}, seu cashback está esperando")
    page.fill("#c-email-body", "Você tem {saldo} para usar na Bella. Até domingo!")
    page.fill("#c-push-title", "{saldo} esperando por você")
    page.fill("#c-push-body", "Use até domingo.")
    page.fill("#a-holdout", "10")
    page.click("#campaign-send")
    page.wait_for_load_state("networkidle")
    _shoot_here(page, out / "admin-campaign-confirm.png")
    page.click("#campaign-confirm-button")
    page.wait_for_load_state("networkidle")
    report = page.url.split("?")[0]
    for _ in range(20):  # the worker's next pass sends it
        page.wait_for_timeout(500)
        page.goto(report)
        if page.locator("#delivery-counts td.num").count():
            break
    _shoot(page, report, out / "admin-campaign.png")
    page.goto(server.url(None, "/admin/b/bella/customers?q=ana"))
    page.click("main li a >> nth=0")
    page.wait_for_load_state("networkidle")
    _shoot(page, page.url, out / "admin-customer.png")
    month = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")  # last month
    for name, path in ADMIN_PAGES.items():
        query = f"?month={month}" if name == "close" else ""
        _shoot(page, server.url(None, f"/admin/b/bella{path}{query}"), out / f"admin-{name}.png")
    context.close()
    phone = browser.new_context(viewport=PHONE, locale="pt-BR", device_scale_factor=2)
    page = phone.new_page()
    admin_sign_in(page, server, "caixa@bella.example")
    _shoot(page, server.url(None, "/admin/b/bella/counter"), out / "admin-counter-phone.png")
    phone.close()


DEMO_SHOP_SECRET = "segredo-de-demonstracao"


def _shopify_webhook(server: LiveServer, name: str, topic: str) -> None:
    """One of the Shopify fixtures, signed as Shopify signs it, to the brand's webhook address."""
    body = (Path(__file__).parent / "fixtures" / "platforms" / "shopify" / f"{name}.json").read_bytes()
    mac = hmac.new(DEMO_SHOP_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": base64.b64encode(mac).decode(),
        "x-shopify-shop-domain": "bella-cosmeticos.myshopify.com",
        "x-shopify-webhook-id": f"shot-{name}",
    }
    httpx.post(server.url(None, "/api/hooks/shopify/bella"), content=body, headers=headers, timeout=10)


WIDGET_SHOPPER = "ana@exemplo.com.br"


def _widget_pages(browser: Browser, server: LiveServer, out: Path) -> None:
    """The site widget on the demo store (badges, the cart of a visitor, of a shopper, with an
    expired token, the launcher's panel) on a laptop and a phone, and its admin page."""
    sales_for(server, "bella", WIDGET_SHOPPER, "SHOT")
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        context = browser.new_context(
            viewport=viewport, locale="pt-BR", device_scale_factor=2 if name == "phone" else 1
        )
        page = context.new_page()
        for slug in ("bella", "mare"):
            _shoot(
                page, server.url(None, f"/dev/store?brand={slug}"), out / f"widget-{slug}-{name}-products.png"
            )
            _shoot(
                page,
                server.url(None, f"/dev/store/cart?brand={slug}"),
                out / f"widget-{slug}-{name}-cart.png",
            )
        _shoot(
            page,
            server.url(None, f"/dev/store/cart?brand=bella&shopper={WIDGET_SHOPPER}"),
            out / f"widget-bella-{name}-cart-shopper.png",
        )
        _shoot(
            page,
            server.url(None, f"/dev/store/cart?brand=bella&shopper={WIDGET_SHOPPER}&ttl=-60"),
            out / f"widget-bella-{name}-cart-expired.png",
        )
        page.goto(server.url(None, "/dev/store?brand=bella"))
        page.locator("retorno-launcher button.lb").click()
        page.locator("retorno-launcher [role=dialog]").wait_for()
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"widget-bella-{name}-panel.png"))
        context.close()
    admin = browser.new_context(viewport=LAPTOP, locale="pt-BR")
    page = admin.new_page()
    admin_sign_in(page, server, OWNERS["bella"])
    _shoot(page, server.url(None, "/admin/b/bella/widget"), out / "admin-widget.png")
    page.click("#rotate-secret")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / "admin-widget-rotated.png"), full_page=True)
    admin.close()


def _unsubscribe_page(browser: Browser, server: LiveServer, out: Path) -> None:
    """The page an e-mail's unsubscribe link opens, on a phone: asked, then done."""
    context = browser.new_context(viewport=PHONE, locale="pt-BR", device_scale_factor=2)
    page = context.new_page()
    page.goto(server.url(None, "/dev/mailbox"))
    texts = page.locator("article.mail .mail-text").all_inner_texts()
    found = (re.search(r"(http://bella\.localhost:\d+/unsubscribe/[\w-]+)", text) for text in texts)
    link = next((m for m in found if m), None)
    if link:
        _shoot(page, link.group(1), out / "shopper-bella-unsubscribe.png")
        page.click("#unsubscribe")
        page.wait_for_load_state("networkidle")
        _shoot_here(page, out / "shopper-bella-unsubscribed.png")
    context.close()


def _shoot_here(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"{page.url} -> {path}", flush=True)


def _shoot(page: Page, url: str, path: Path) -> None:
    answer = page.goto(url)
    page.wait_for_load_state("networkidle")
    for frame in page.frames[1:]:  # an e-mail's preview: painted before the shot
        frame.wait_for_load_state("load")
    page.wait_for_timeout(300 if len(page.frames) > 1 else 0)
    page.screenshot(path=str(path), full_page=True)
    status = answer.status if answer else "?"
    print(f"{status} {url} -> {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--only", choices=["admin", "shopper"])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retorno-screens-") as tmp:
        port = free_port()
        server = LiveServer(
            port,
            # A webhook endpoint on 127.0.0.1 (never answering) shows the endpoint's page.
            server_env(
                f"sqlite:///{tmp}/screens.sqlite3",
                port,
                Path(tmp),
                "development",
                RETORNO_WEBHOOKS_ALLOW_PRIVATE="1",
            ),
            Path(tmp) / "server.log",
        )
        server.cli("demo", "--shoppers")  # as make run: the NPS page has answers
        server.start()
        try:
            for slug in SHOPPERS:
                _seed(server, slug)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                if args.only != "admin":
                    for slug in SHOPPERS:
                        _invite_a_friend(browser, server, slug)
                        _shopper_pages(browser, server, slug, args.out)
                if args.only != "shopper":
                    _admin_pages(browser, server, args.out)
                    _unsubscribe_page(browser, server, args.out)
                    _widget_pages(browser, server, args.out)
                browser.close()
        finally:
            server.stop()
    print(f"screenshots in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
