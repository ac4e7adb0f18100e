"""125 cross-site scripting payloads (tests/xss_corpus.py) through the text fields that the shopper's
app and the admin show: a customer's name (admin customer page and search, the counter, the
shopper's account page), an adjustment's reason (the shopper's statement), a campaign's title and
text, an API key's name, a shopper registered at the counter, a campaign named in the rules' forms,
an imported file's name. In Chromium: no dialog ever opens, and each payload reads back as text.
"""

from __future__ import annotations

import uuid

import httpx

from tests.browser.helpers import TIMEOUT_MS, admin_sign_in, newest_code
from tests.xss_corpus import payloads

SLUG = "bella"


def _dialogs(page) -> list[str]:
    opened: list[str] = []

    def on_dialog(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def test_no_payload_runs_anywhere_it_is_shown(live_server, playwright) -> None:
    from tests.browser.helpers import ARGS, CHROMIUM

    corpus = payloads()
    assert len(corpus) >= 100
    key = live_server.cli("apikeys", "create", SLUG).strip().splitlines()[-1]
    owner = f"owner-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", owner, "--brand", SLUG, "--role", "owner")
    api = httpx.Client(
        base_url=live_server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}, timeout=10
    )
    ids = []
    for i, payload in enumerate(corpus):
        made = api.post("/customers", json={"email": f"x{i}@xss.example", "name": payload})
        assert made.status_code in (200, 201), made.text
        ids.append(made.json()["id"])
    api.post("/sales", json={"order_id": "XSS-0", "customer": {"email": "x0@xss.example"}, "total": 500000})

    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        context = browser.new_context(locale="pt-BR")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        opened = _dialogs(page)
        admin_sign_in(page, live_server, owner)
        admin = live_server.url(None, f"/admin/b/{SLUG}")

        for customer_id, payload in zip(ids, corpus, strict=True):  # the admin's customer page
            page.goto(f"{admin}/customers/{customer_id}")
            assert page.locator("h1").inner_text() == payload.strip(), customer_id
        page.goto(f"{admin}/customers?q=xss")  # search results list up to 50 names at once
        page.goto(f"{admin}/counter?q=x0@xss.example")
        assert page.locator("#customer-panel h2").inner_text() == corpus[0].strip()

        # Adjustment reasons and campaign texts and key names through the admin's own forms.
        token = page.evaluate("document.querySelector('meta[name=csrf-token]').content")
        cookies = {c["name"]: c["value"] for c in context.cookies(live_server.url(None, "/"))}
        staff = httpx.Client(base_url=admin, cookies=cookies, timeout=10, headers={"x-csrftoken": token})
        for payload in corpus:
            response = staff.post(f"/customers/{ids[0]}/adjust", data={"amount": "0,01", "reason": payload})
            assert response.status_code == 303, response.text
        for payload in corpus[:20]:
            staff.post("/keys", data={"name": payload[:100]})
        for path in ("/keys", "/audit", "/"):
            page.goto(admin + path)
        # A campaign's texts in its preview (no device has opted in here, so none is sent).
        for payload in corpus[:20]:
            page.goto(f"{admin}/campaigns")
            page.fill("#c-name", payload[:120])
            page.fill("#c-push-title", payload[:120])
            page.fill("#c-push-body", payload[:500])
            with page.expect_navigation():
                page.click("#campaign-count")
            assert payload[:120].strip() in page.locator("#campaign-preview").inner_text()

        # Shoppers registered at the counter, shown in its customer panel.
        for i, payload in enumerate(corpus[20:40]):
            email = f"balcao{i}@xss.example"
            made = staff.post("/counter/customer", data={"name": payload, "email": email})
            assert made.status_code == 303, made.text
            page.goto(f"{admin}/counter?q={email}")
            assert page.locator("#customer-panel h2").inner_text() == payload.strip()[:200]

        # Campaign names and categories typed in the rules' forms, shown back in them.
        page.goto(f"{admin}/rules")
        for payload in corpus[40:50]:
            name = page.locator("input[name^='camp.'][name$='.name']").last
            row = name.get_attribute("name").split(".")[1]
            name.fill(payload[:80])
            page.fill(f"#camp-{row}-starts", "2027-01-01T00:00:00")
            page.fill(f"#camp-{row}-ends", "2027-01-02T00:00:00")
            page.fill(f"#camp-{row}-multiplier", "2")
            with page.expect_navigation():
                page.click("#rules-form button[type=submit]")
        shown = page.locator("#rules-form").inner_text()
        assert all(p[:80].strip() in shown for p in corpus[40:50]), "a campaign name did not read back"

        # Large imports named after a payload: the file's name is shown in the list and the job page.
        rows = "order_id,total,email\n" + "".join(f"XSS-I{n},10,x0@xss.example\n" for n in range(501))
        for payload in corpus[50:53]:
            made = staff.post("/import", files={"file": (payload, rows.encode(), "text/csv")})
            assert made.status_code in (303, 422), made.text
            if made.status_code == 303:
                page.goto(live_server.url(None, made.headers["location"]))
        page.goto(f"{admin}/import")

        # The shopper's side: their account page shows their name, their statement the reasons.
        shopper = context.new_page()
        opened_shopper = _dialogs(shopper)
        shopper.goto(live_server.url(SLUG, "/login"))
        shopper.fill("#email", "x0@xss.example")
        shopper.click('form[action="/login"] button[type="submit"]')
        shopper.wait_for_selector("#code")
        shopper.fill("#code", newest_code(context, live_server.url(None, "/dev/mailbox"), "x0@xss.example"))
        with shopper.expect_navigation():
            shopper.click('form[action="/login/verify"] button[type="submit"]')
        shopper.goto(live_server.url(SLUG, "/account"))
        assert corpus[0].strip() in shopper.locator("dl.profile").inner_text()
        seen = ""
        shopper.goto(live_server.url(SLUG, "/statement?kind=adjustment"))
        while True:
            seen += shopper.locator("ul.movements").inner_text()
            older = shopper.locator("a", has_text="Mais antigos")
            if not older.count():
                break
            with shopper.expect_navigation():
                older.click()
        assert all(p.strip() in seen for p in corpus), "a reason did not read back as text"
        assert opened == [] and opened_shopper == [], opened + opened_shopper
    finally:
        browser.close()
