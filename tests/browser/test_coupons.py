"""In Chromium: a manager writes a public coupon in the admin, and two clerks at two tills use it for
the same shopper at the same moment: one gets the discount, the other is told why not."""

from __future__ import annotations

import uuid

import httpx

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in

SLUG = "bella"


def test_a_coupon_written_in_the_admin_is_used_once_by_a_shopper_at_two_tills_at_once(
    live_server, playwright
) -> None:
    tag = uuid.uuid4().hex[:6]
    manager, clerks = f"gerente-{tag}@staff.example", [f"caixa{i}-{tag}@staff.example" for i in (1, 2)]
    shopper, code = f"cliente-{tag}@example.com", f"CORRIDA{tag.upper()}"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    for clerk in clerks:
        live_server.cli("staff", "add", clerk, "--brand", SLUG, "--role", "operator")
    key = live_server.cli("apikeys", "create", SLUG).strip().splitlines()[-1]
    with httpx.Client(
        base_url=live_server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}
    ) as api:
        sale = {"order_id": f"C-{tag}", "customer": {"email": shopper}, "total": 12000}
        assert api.post("/sales", json=sale).status_code == 201
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        office = browser.new_context(locale="pt-BR")
        office.set_default_timeout(TIMEOUT_MS)
        page = office.new_page()
        admin_sign_in(page, live_server, manager)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/coupons"))
        page.fill("#k-code", code.lower())
        page.select_option("#k-kind", "amount")
        page.fill("#k-value", "15,00")
        page.fill("#k-per", "1")
        with page.expect_navigation():
            page.click("#coupon-create")
        assert page.locator("#flash").is_visible() and code in page.inner_text("h1")

        tills = []
        for clerk in clerks:
            context = browser.new_context(locale="pt-BR", viewport={"width": 390, "height": 844})
            context.set_default_timeout(TIMEOUT_MS)
            till = context.new_page()
            admin_sign_in(till, live_server, clerk)
            till.goto(live_server.url(None, f"/admin/b/{SLUG}/counter?q={shopper}"))
            till.fill("#voucher-code", code)
            till.fill("#voucher-total", "90,00")
            tills.append(till)
        # Both press "Usar" before either answer arrives.
        for till in tills:
            till.evaluate("document.getElementById('voucher-use-button').click()")
        for till in tills:
            till.wait_for_selector("#counter-voucher, #counter-error")
        used = [t for t in tills if t.locator("#counter-voucher").count()]
        refused = [t for t in tills if t.locator("#counter-error").count()]
        assert len(used) == 1 and len(refused) == 1
        assert f"Cupom promocional {code} usado: R$\xa015,00 de desconto." in used[0].inner_text(
            "#counter-voucher"
        )
        assert "já usou o cupom promocional" in refused[0].inner_text("#counter-error")
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/coupons/{code}"))
        assert "R$\xa015,00" in page.inner_text("#coupon-figures")
    finally:
        browser.close()
