"""Pages at their edges: a control character in a form, a query, a path or the Host header is a
clear error in the shopper's or the clerk's language, never a 500, and nothing is written."""

from __future__ import annotations

import httpx
import pytest

from retorno import db
from retorno.bounds import MAX_AMOUNT
from retorno.errors import Invalid
from retorno.typed import centavos
from tests.conftest import BASE_HOST, brand_url, platform_url, post_form
from tests.test_admin_brand import _staff


async def test_a_nul_in_a_form_is_refused_in_portuguese_and_nothing_is_saved(client, demo):
    response = await post_form(
        client, brand_url("bella", "/join"), {"name": "Ana\x00", "email": "ana@example.com", "accept": "yes"}
    )
    assert response.status_code == 400
    assert "caracteres de controle" in response.text and 'lang="pt-BR"' in response.text
    assert await db.fetch("SELECT id FROM login_codes") == []
    assert await db.fetch("SELECT id FROM customers") == []


async def test_line_breaks_are_still_taken_where_a_form_has_several_lines(app, demo, clock):
    clerk = await _staff(app, clock, demo, "operator")
    page = await clerk.get("/admin/b/bella/counter")
    token = page.cookies.get("csrftoken") or next(c.value for c in clerk.cookies.jar if c.name == "csrftoken")
    sale = {
        "form_id": "f1",
        "customer": "ana@example.com",
        "total": "100,00",
        "items": "maquiagem 60,00\r\nperfumaria 40,00",
        "_csrf_token": token,
    }
    assert (await clerk.post("/admin/b/bella/counter/sale", data=sale)).status_code == 200
    assert len(await db.fetch("SELECT id FROM sales")) == 1
    refused = await clerk.post(
        "/admin/b/bella/counter/customer",
        data={"name": "Bia\x1b", "email": "bia@example.com", "_csrf_token": token},
    )
    assert refused.status_code == 400 and "caracteres de controle" in refused.text
    assert len(await db.fetch("SELECT id FROM customers")) == 1
    for url in (
        "/admin/b/bella/counter?q=%00",
        "/admin/b/bel%00la/counter",
        "/admin/b/bella/customers?q=a%01",
    ):
        response = await clerk.get(url)
        assert response.status_code == 400, url
        assert "caracteres que não são permitidos" in response.text
    await clerk.aclose()


async def test_a_host_header_with_odd_characters_is_no_host_of_ours(app, demo):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=platform_url()) as c:
        for host in (
            b"bella\x00.localhost:8000",
            "béla.localhost:8000".encode(),
            b"a" * 300,
            b"bel la.localhost",
        ):
            response = await c.get("/", headers=[(b"host", host)])
            assert response.status_code == 404, host
        assert (await c.get("/", headers={"host": f"bella.{BASE_HOST}"})).status_code == 200


@pytest.mark.parametrize("typed", ["1E+999999", "1e-999999", "NaN", "-Infinity", "1e5000", "0,001", "abc"])
def test_an_amount_typed_at_the_counter_that_is_no_amount_is_refused(typed):
    with pytest.raises(Invalid):
        centavos(typed)


def test_the_largest_typed_amount_is_taken_and_one_centavo_more_is_not():
    assert centavos("1.000.000.000,00") == MAX_AMOUNT
    with pytest.raises(Invalid, match="at most"):
        centavos("1.000.000.000,01")


async def test_a_csv_saved_as_utf16_is_refused_with_how_to_save_it(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    page = await manager.get("/admin/b/bella/import")
    token = next(c.value for c in manager.cookies.jar if c.name == "csrftoken")
    data = "order_id,total,email\nA-1,10,00,a@example.com\n".encode("utf-16")
    refused = await manager.post(
        "/admin/b/bella/import", data={"_csrf_token": token}, files={"file": ("h.csv", data, "text/csv")}
    )
    assert page.status_code == 200 and refused.status_code == 422
    assert "CSV (UTF-8)" in refused.text
    assert await db.fetch("SELECT id FROM import_jobs") == [] and await db.fetch("SELECT id FROM sales") == []
    await manager.aclose()
