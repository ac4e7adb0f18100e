"""In Chromium, NPS end to end: a manager switches the survey on in the admin, a shopper's purchase
ages past the delay and the sweep asks, the shopper answers from the app's home with JavaScript off,
and the admin's NPS page shows the answer with the shopper and the purchase it followed."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Playwright

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in, join_with_code, screenshot
from tests.browser.test_accessibility import audit

SLUG = "bella"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


def test_an_answer_from_the_app_appears_in_the_admins_nps_page(
    live_server, playwright: Playwright, tmp_path: Path
) -> None:
    manager = f"nps-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        admin = browser.new_context(viewport=LAPTOP, locale="pt-BR", bypass_csp=True)  # axe is injected
        admin.set_default_timeout(TIMEOUT_MS)
        page = admin.new_page()
        admin_sign_in(page, live_server, manager)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/nps"))
        page.check("#n-enabled")
        page.fill("#n-delay_days", "3")
        page.fill("#n-period_days", "90")
        with page.expect_navigation():
            page.click("#nps-save")
        assert page.locator("#flash").is_visible()

        # The shopper joins in the app (JavaScript off) and bought four days ago.
        shopper = browser.new_context(viewport=PHONE, locale="pt-BR", java_script_enabled=False)
        shopper.set_default_timeout(TIMEOUT_MS)
        app = shopper.new_page()
        email = f"nps-{uuid.uuid4().hex[:8]}@example.com"
        join_with_code(app, live_server, SLUG, "Nina Nota", email)
        order = f"NPS-{uuid.uuid4().hex[:6].upper()}"
        key = live_server.cli("apikeys", "create", SLUG).strip().splitlines()[-1]
        four_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=4)).isoformat()
        with httpx.Client(
            base_url=live_server.url(None, "/api/v1"), headers={"authorization": f"Bearer {key}"}, timeout=10
        ) as api:
            body = {"order_id": order, "customer": {"email": email}, "total": 12990, "channel": "counter"}
            assert api.post("/sales", json=body | {"occurred_at": four_days_ago}).status_code == 201
        live_server.cli("sweep")

        app.goto(live_server.url(SLUG, "/"))
        teaser = app.locator("#nps-teaser")
        assert "Conte pra gente" in teaser.inner_text()
        with app.expect_navigation():
            teaser.locator("a").click()
        assert "De 0 a 10, quanto você recomendaria a Bella a um amigo?" in app.inner_text("h1")
        screenshot(app, tmp_path / "nps-survey.png")
        checker = browser.new_context(viewport=PHONE, locale="pt-BR", bypass_csp=True)
        assert audit(checker.new_page(), app.url) == []  # the survey, as a phone shows it
        checker.close()
        app.click("label.nps-option:has(input[value='9'])")
        app.fill("#nps-comment", "Atendimento nota dez, só faltou estacionamento.")
        with app.expect_navigation():
            app.click("#nps-send")
        assert "Obrigado" in app.inner_text("#nps-survey")
        assert "nota 9 de 10" in app.inner_text("#nps-thanks")
        app.goto(live_server.url(SLUG, "/"))
        assert app.locator("#nps-teaser").count() == 0  # answered: the card is gone

        page.goto(live_server.url(None, f"/admin/b/{SLUG}/nps"))
        comment = page.locator("#nps-comments li", has_text="faltou estacionamento")
        assert comment.count() == 1
        text = comment.inner_text()
        assert "Nina Nota" in text and order in text and "9" in text
        assert int(page.inner_text("#nps-answers")) >= 1
        assert page.locator("#nps-channels tr[data-channel='counter']").count() == 1
        screenshot(page, tmp_path / "nps-admin.png")
        page.set_viewport_size(PHONE)  # as the admin's accessibility test looks at every page
        assert audit(page, page.url) == []  # with an answer, a comment and a channel
    finally:
        browser.close()
