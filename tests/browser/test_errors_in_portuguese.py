"""In Chromium, on the pt-BR app: what the server refuses reads in Portuguese, with the field named
as the form names it, on the join and sign-in forms, at the counter and in the import; in English
when the browser asks for English on a first visit."""

from __future__ import annotations

import uuid

from tests.browser.helpers import ARGS, CHROMIUM, TIMEOUT_MS, admin_sign_in

SLUG = "bella"


def _context(playwright, locale: str = "pt-BR"):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    context = browser.new_context(locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    return browser, context


def _error(page) -> str:
    return page.locator(".form-error").first.inner_text().strip()


def test_join_and_sign_in_errors_are_in_portuguese(live_server, playwright) -> None:
    browser, context = _context(playwright)
    try:
        page = context.new_page()
        page.goto(live_server.url(SLUG, "/join"))
        page.fill("#name", "Ana")
        page.fill("#email", "ana@localhost")  # a browser takes it; the server does not
        page.check('input[name="accept"]')
        with page.expect_navigation():
            page.click('form[action="/join"] button[type="submit"]')
        assert _error(page) == "e-mail: 'ana@localhost' não é um endereço de e-mail"
        assert page.locator('input[name="accept"]').is_checked()  # the ticked box is kept

        page.goto(live_server.url(SLUG, "/login"))
        page.fill("#email", "ana@localhost")
        with page.expect_navigation():
            page.click('form[action="/login"] button[type="submit"]')
        assert _error(page) == "e-mail: 'ana@localhost' não é um endereço de e-mail"
    finally:
        browser.close()


def test_a_first_visit_in_english_gets_english_errors(live_server, playwright) -> None:
    browser, context = _context(playwright, locale="en-US")
    try:
        page = context.new_page()
        page.goto(live_server.url(SLUG, "/login"))
        assert page.locator("html").get_attribute("lang") == "en"
        page.fill("#email", "ana@localhost")
        with page.expect_navigation():
            page.click('form[action="/login"] button[type="submit"]')
        assert _error(page) == "email: 'ana@localhost' is not an e-mail address"
    finally:
        browser.close()


def test_counter_and_import_errors_are_in_portuguese(live_server, playwright, tmp_path) -> None:
    manager = f"gerente-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    browser, context = _context(playwright)
    try:
        page = context.new_page()
        admin_sign_in(page, live_server, manager)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/counter"))
        page.fill("#sale-customer", "cliente@example.com")
        page.fill("#sale-total", "doze reais")
        with page.expect_navigation():
            page.click("#sale-form button[type=submit]")
        assert _error(page) == "total: 'doze reais' não é um valor em reais"
        assert page.input_value("#sale-total") == "doze reais"  # what was typed survives the error

        bad = tmp_path / "vendas.csv"
        bad.write_bytes(b"pedido|valor\n1|10\n")
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/import"))
        page.set_input_files("#i-file", str(bad))
        with page.expect_navigation():
            page.click('form[enctype="multipart/form-data"] button[type="submit"]')
        error = _error(page)
        assert error.startswith("o CSV precisa das colunas order_id, total"), error
        assert "separadas por vírgulas ou ponto e vírgula" in error
    finally:
        browser.close()


def test_a_csv_saved_by_excel_in_portuguese_is_imported(live_server, playwright, tmp_path) -> None:
    """`;` between cells, a decimal comma, Windows-1252 (Excel's "CSV (separado por vírgulas)")."""
    manager = f"gerente-{uuid.uuid4().hex[:6]}@staff.example"
    live_server.cli("staff", "add", manager, "--brand", SLUG, "--role", "manager")
    tag = uuid.uuid4().hex[:6]
    sheet = tmp_path / "vendas.csv"
    sheet.write_bytes(
        (
            "order_id;occurred_at;total;email;name\r\n"
            f"XL-{tag}-1;2026-10-01;1.234,56;joao-{tag}@example.com;João Conceição\r\n"
            f"XL-{tag}-2;2026-10-02;99,90;maria-{tag}@example.com;Maria Antônia\r\n"
        ).encode("cp1252")
    )
    browser, context = _context(playwright)
    try:
        page = context.new_page()
        admin_sign_in(page, live_server, manager)
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/import"))
        page.set_input_files("#i-file", str(sheet))
        with page.expect_navigation():
            page.click('form[enctype="multipart/form-data"] button[type="submit"]')
        assert page.locator("#import-counts").inner_text().startswith("2 importadas"), page.locator(
            "#import-counts"
        ).inner_text()
        page.goto(live_server.url(None, f"/admin/b/{SLUG}/customers?q=joao-{tag}"))
        assert "João Conceição" in page.content()
    finally:
        browser.close()
