"""The benefits club: a manager adds partner benefits in the admin (checked field by field, audited),
shoppers of the right segment see the ones valid now, a code's use is recorded once however often it
is tapped, a link is followed through a counted redirect, and no other brand sees or uses any of it."""

from __future__ import annotations

import datetime as dt
import io
import re

import httpx
import pytest
from PIL import Image

from retorno import db
from retorno.auth import sessions
from retorno.club import service as club
from retorno.errors import Invalid
from tests.conftest import BASE_HOST, brand_url, post_form
from tests.test_admin_brand import _csrf, _staff

CLUB = "/admin/b/bella/club"


def norm(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


def benefit_form(**changes: str) -> dict[str, str]:
    form = {
        "title": "15% na mensalidade",
        "partner": "Academia Corpo Livre",
        "description": "Na recepção de qualquer unidade.",
        "how": "code",
        "code": "BELLA15",
        "url": "",
        "valid_from": "",
        "valid_until": "",
        "position": "10",
        "enabled": "1",
    }
    return form | changes


async def add_benefit(manager: httpx.AsyncClient, token: str, segments=(), files=None, **changes: str) -> int:
    data = {**benefit_form(**changes), "_csrf_token": token}
    if segments:
        data["segments"] = list(segments)
    answer = await manager.post(CLUB, data=data, files=files)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{CLUB}?done=club_created"
    return (await db.fetch("SELECT MAX(id) AS id FROM club_benefits"))[0]["id"]


async def shopper(app, demo, api_keys, clock, email: str, *, slug: str = "bella", segment: str = ""):
    """A customer of `slug` (through the API, as the brand's systems make them) and a client signed in
    as them on that brand's host."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{BASE_HOST}/api/v1",
        headers={"authorization": f"Bearer {api_keys[slug]}"},
    ) as api:
        made = await api.post("/customers", json={"email": email, "name": "Ana Souza", "segment": segment})
        assert made.status_code == 201, made.text
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=brand_url(slug))
    token = await sessions.start_session(brand_id=demo[slug].id, customer_id=made.json()["id"], now=clock())
    client.cookies.set("retorno_session", token)
    return client, made.json()["id"]


async def use(client: httpx.AsyncClient, benefit_id: int) -> httpx.Response:
    """A tap on "see the code" (or "show at the partner"), with the form's CSRF token."""
    slug = client.base_url.host.split(".")[0]
    return await post_form(
        client, brand_url(slug, f"/club/{benefit_id}/use"), {}, page=brand_url(slug, "/club")
    )


async def test_a_manager_adds_a_benefit_that_only_its_segment_sees(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    empty = await manager.get(CLUB)
    assert empty.status_code == 200 and 'id="club-new"' in empty.text
    form = await manager.get(CLUB + "/new")
    assert 'name="_csrf_token"' in form.text and 'value="vip"' in form.text  # bella's rules name vip
    vip_only = await add_benefit(manager, token, segments=["vip"], title="Sobrancelhas cortesia", code="VIP1")
    everyone = await add_benefit(
        manager, token, title="Café por R$ 12", how="link", code="", url="https://cafe.example/x"
    )
    [audit] = await db.fetch(
        "SELECT action, target, after FROM audit_events WHERE action = 'club.create' LIMIT 1"
    )
    assert audit["target"] == "Sobrancelhas cortesia" and '"segments":["vip"]' in audit["after"]

    vip, _ = await shopper(app, demo, api_keys, clock, "vip@example.com", segment="vip")
    plain, _ = await shopper(app, demo, api_keys, clock, "plain@example.com")
    seen_by_vip = (await vip.get("/club")).text
    seen_by_plain = (await plain.get("/club")).text
    assert f'id="benefit-{vip_only}"' in seen_by_vip and f'id="benefit-{everyone}"' in seen_by_vip
    assert f'id="benefit-{vip_only}"' not in seen_by_plain and f'id="benefit-{everyone}"' in seen_by_plain
    assert "VIP1" not in seen_by_vip  # the code shows once asked for
    assert (await plain.get(f"/club/{vip_only}")).status_code == 404
    assert (await use(plain, vip_only)).status_code == 404
    # The club is on the home page (the tab bar has its five) and in the account's menu.
    home = (await plain.get("/")).text
    assert 'id="club-teaser"' in home and "Café por R$ 12" in home and "Sobrancelhas" not in home
    assert 'href="/club"' in (await plain.get("/account")).text
    listing = (await manager.get(CLUB)).text
    assert listing.index("Sobrancelhas cortesia") < listing.index(
        "Café por R$ 12"
    )  # both at position 10: by id
    for c in (manager, vip, plain):
        await c.aclose()


async def test_an_expired_a_future_or_a_switched_off_benefit_is_not_shown(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    # clock: 2026-11-10 15:00 UTC, 12:00 in São Paulo
    ended = await add_benefit(
        manager, token, title="Acabou", valid_from="2026-11-01", valid_until="2026-11-09"
    )
    today = await add_benefit(
        manager, token, title="Só hoje", valid_from="2026-11-10", valid_until="2026-11-10"
    )
    later = await add_benefit(manager, token, title="Mais tarde", valid_from="2026-11-11")
    off = await add_benefit(manager, token, title="Desligado", enabled="")
    on = await add_benefit(manager, token, title="Ligado")
    ana, _ = await shopper(app, demo, api_keys, clock, "ana@example.com")

    def ids(page: str) -> set[int]:
        return {int(i) for i in re.findall(r'<li class="benefit" id="benefit-(\d+)"', page)}

    assert ids((await ana.get("/club")).text) == {today, on}
    for hidden in (ended, later, off):
        assert (await ana.get(f"/club/{hidden}")).status_code == 404
        assert (await use(ana, hidden)).status_code == 404
    switched = await manager.post(f"{CLUB}/{on}/switch", data={"enabled": "0", "_csrf_token": token})
    assert switched.status_code == 303 and switched.headers["location"] == f"{CLUB}?done=club_off"
    assert ids((await ana.get("/club")).text) == {today}
    listing = (await manager.get(CLUB)).text
    assert "encerrado" in listing and "desligado" in listing and "agendado" in listing
    clock.now = dt.datetime(2026, 11, 11, 2, 59, tzinfo=dt.UTC)  # 23:59 on the 10th in São Paulo
    assert ids((await ana.get("/club")).text) == {today}
    clock.now = dt.datetime(2026, 11, 11, 3, 0, tzinfo=dt.UTC)  # midnight: the 11th
    assert ids((await ana.get("/club")).text) == {later}
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["club.create"] * 5 + ["club.off"]
    for c in (manager, ana):
        await c.aclose()


async def test_a_code_use_is_recorded_once_however_often_it_is_tapped(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    benefit_id = await add_benefit(manager, token)
    ana, ana_id = await shopper(app, demo, api_keys, clock, "ana@example.com")
    bia, _ = await shopper(app, demo, api_keys, clock, "bia@example.com")
    for _ in range(3):
        tapped = await use(ana, benefit_id)
        assert tapped.status_code == 303 and tapped.headers["location"] == f"/club/{benefit_id}"
        clock.advance(minutes=1)
    page = (await ana.get(f"/club/{benefit_id}")).text
    assert '<code id="benefit-code">BELLA15</code>' in page
    assert "BELLA15" in (await ana.get("/club")).text  # seen once, shown from then on
    assert "BELLA15" not in (await bia.get("/club")).text
    rows = await db.fetch("SELECT customer, used_at FROM club_uses")
    assert [r["customer"] for r in rows] == [ana_id] and rows[0]["used_at"] == clock() - dt.timedelta(
        minutes=3
    )
    await use(bia, benefit_id)
    assert re.search(rf'data-benefit="{benefit_id}">.*?data-uses="2"', (await manager.get(CLUB)).text, re.S)
    # The service's own guard, under a race: the unique pair decides, never an error.
    for _ in range(5):
        await club.use(
            brand_id=demo["bella"].id, benefit_id=benefit_id, customer_id=ana_id, segment="", now=clock()
        )
    assert len(await db.fetch("SELECT id FROM club_uses")) == 2
    for c in (manager, ana, bia):
        await c.aclose()


async def test_a_link_goes_through_a_counted_redirect_and_a_pass_shows_who_it_is(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    link = await add_benefit(manager, token, how="link", code="", url="https://cafe.example/bella?x=1")
    show = await add_benefit(manager, token, how="show", code="", title="15% na academia")
    code = await add_benefit(manager, token)
    ana, ana_id = await shopper(app, demo, api_keys, clock, "ana@example.com")
    club_page = (await ana.get("/club")).text
    assert f'href="/club/{link}/go"' in club_page and "cafe.example" not in club_page
    for _ in range(2):
        gone = await ana.get(f"/club/{link}/go")
        assert gone.status_code == 302 and gone.headers["location"] == "https://cafe.example/bella?x=1"
        assert gone.headers["referrer-policy"] == "no-referrer"
    assert (await ana.get(f"/club/{code}/go")).status_code == 404  # only a link-type benefit redirects
    before = (await ana.get(f"/club/{show}")).text
    assert 'id="member-pass"' not in before
    assert (await use(ana, show)).status_code == 303
    card = (await ana.get(f"/club/{show}")).text
    assert 'id="member-pass"' in card and "Ana Souza" in card and f"BELLA-{ana_id:06d}" in card
    uses = await db.fetch("SELECT benefit FROM club_uses ORDER BY benefit")
    assert [u["benefit"] for u in uses] == [link, show]
    data = (await ana.get("/account/data.json")).json()
    assert [u["partner"] for u in data["club_uses"]] == ["Academia Corpo Livre"] * 2
    for c in (manager, ana):
        await c.aclose()


async def test_another_brand_cannot_see_or_use_a_benefit(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    code = await add_benefit(manager, token, code="SEGREDO1")
    link = await add_benefit(manager, token, how="link", code="", url="https://cafe.example/bella")
    mare_shopper, _ = await shopper(app, demo, api_keys, clock, "ana@example.com", slug="mare")
    assert "SEGREDO1" not in (await mare_shopper.get("/club")).text
    for path in (f"/club/{code}", f"/club/{link}/go", f"/club/{code}/image.jpg"):
        assert (await mare_shopper.get(path)).status_code == 404, path
    assert (await use(mare_shopper, code)).status_code == 404
    # A bella shopper's session means nothing on mare's host.
    bella_shopper, _ = await shopper(app, demo, api_keys, clock, "bia@example.com")
    on_mare = await bella_shopper.get(brand_url("mare", f"/club/{code}"))
    assert on_mare.status_code == 303 and "/login" in on_mare.headers["location"]
    mare_owner = await _staff(app, clock, demo, "mare-owner")
    mare_token = await _csrf(mare_owner)
    assert (await mare_owner.get(f"/admin/b/mare/club/{code}")).status_code == 404
    assert (await mare_owner.get(f"/admin/b/mare/club/{code}/image.jpg")).status_code == 404
    assert (await mare_owner.get(CLUB)).status_code == 404
    for path in (f"/admin/b/mare/club/{code}", f"/admin/b/mare/club/{code}/switch"):
        answer = await mare_owner.post(path, data=benefit_form(enabled="0") | {"_csrf_token": mare_token})
        assert answer.status_code == 404, path
    assert "SEGREDO1" not in (await mare_owner.get("/admin/b/mare/club")).text
    [row] = await db.fetch("SELECT enabled, title FROM club_benefits WHERE id = {}", code)
    assert bool(row["enabled"]) and row["title"] == "15% na mensalidade"
    assert await db.fetch("SELECT id FROM club_uses") == []
    for c in (manager, mare_shopper, bella_shopper, mare_owner):
        await c.aclose()


async def test_bad_input_comes_back_field_by_field_in_portuguese_and_saves_nothing(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    bad = benefit_form(
        title=" ",
        how="link",
        url="http://cafe.example/x",
        valid_from="2026-12-10",
        valid_until="2026-12-01",
        position="abc",
    )
    answer = await manager.post(CLUB, data=bad | {"_csrf_token": token})
    assert answer.status_code == 422
    page = norm(answer.text)
    assert 'id="error-summary"' in page and "Nada foi salvo" in page
    assert '<a href="#b-title">Título: preencha este campo</a>' in page
    assert 'id="title-error">preencha este campo<' in page
    assert 'aria-invalid="true" aria-describedby="title-error title-hint"' in page
    assert "Link do parceiro: um endereço que comece com https://" in page
    assert "Último dia: o último dia vem antes do primeiro" in page
    assert "Posição na lista: um número inteiro de 0 a 9999" in page
    assert 'value="http://cafe.example/x"' in page and 'value="2026-12-10"' in page  # kept as typed
    assert 'value="link" id="how-link" checked' in page
    not_a_picture = {"image": ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")}
    refused = await manager.post(CLUB, data=benefit_form() | {"_csrf_token": token}, files=not_a_picture)
    assert refused.status_code == 422
    assert "Imagem: o arquivo não é uma imagem PNG, JPEG ou WebP" in norm(refused.text)
    assert await db.fetch("SELECT id FROM club_benefits") == []
    assert await db.fetch("SELECT id FROM audit_events") == []
    await manager.aclose()


def _picture(size: tuple[int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (142, 36, 83, 200)).save(out, format=fmt)
    return out.getvalue()


async def test_a_picture_is_checked_and_re_encoded_and_served_to_who_sees_it(app, demo, clock, api_keys):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    files = {"image": ("foto.png", _picture((1600, 900)), "image/png")}
    benefit_id = await add_benefit(manager, token, files=files)
    [row] = await db.fetch("SELECT image_width, image_height, image_digest FROM club_benefits")
    assert (row["image_width"], row["image_height"]) == (800, 450)
    admin_copy = await manager.get(f"{CLUB}/{benefit_id}/image.jpg")
    assert admin_copy.headers["content-type"] == "image/jpeg" and admin_copy.content[:3] == b"\xff\xd8\xff"
    ana, _ = await shopper(app, demo, api_keys, clock, "ana@example.com")
    page = (await ana.get("/club")).text
    src = f"/club/{benefit_id}/image.jpg?v={row['image_digest']}"
    assert f'src="{src}" width="800" height="450"' in page
    served = await ana.get(src)
    assert served.status_code == 200 and served.content == admin_copy.content
    assert "immutable" in served.headers["cache-control"]
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.format == "JPEG" and img.size == (800, 450) and not img.info.get("exif")
    # Too narrow, too tall: refused, the benefit as it was; taken away: gone.
    for size in ((200, 150), (400, 800)):
        again = await manager.post(
            f"{CLUB}/{benefit_id}",
            data=benefit_form() | {"_csrf_token": token},
            files={"image": ("x.png", _picture(size), "image/png")},
        )
        assert again.status_code == 422 and 'id="image-error"' in again.text
    removed = await manager.post(
        f"{CLUB}/{benefit_id}", data=benefit_form() | {"remove_image": "1", "_csrf_token": token}
    )
    assert removed.status_code == 303
    assert (await manager.get(f"{CLUB}/{benefit_id}/image.jpg")).status_code == 404
    [audit] = await db.fetch("SELECT before, after FROM audit_events WHERE action = 'club.update'")
    assert audit["after"] == '{"image":"removed"}'
    for c in (manager, ana):
        await c.aclose()


async def test_a_manager_edits_a_benefit_and_an_operator_cannot(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    benefit_id = await add_benefit(manager, token, valid_until="2026-11-30")
    form = (await manager.get(f"{CLUB}/{benefit_id}")).text
    assert 'value="2026-11-30"' in form and 'value="BELLA15"' in form  # the last day as it was typed
    saved = await manager.post(
        f"{CLUB}/{benefit_id}",
        data=benefit_form(title="20% na mensalidade", valid_until="2026-11-30") | {"_csrf_token": token},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{CLUB}?done=club_saved"
    [audit] = await db.fetch("SELECT before, after FROM audit_events WHERE action = 'club.update'")
    assert (
        audit["before"] == '{"title":"15% na mensalidade"}'
        and audit["after"] == '{"title":"20% na mensalidade"}'
    )
    operator = await _staff(app, clock, demo, "operator")
    assert (await operator.get(CLUB)).status_code == 403
    operator_token = await _csrf(operator)
    refused = await operator.post(
        f"{CLUB}/{benefit_id}/switch", data={"enabled": "0", "_csrf_token": operator_token}
    )
    assert refused.status_code == 403
    no_csrf = await manager.post(f"{CLUB}/{benefit_id}/switch", data={"enabled": "0"})
    assert no_csrf.status_code == 403
    [row] = await db.fetch("SELECT enabled FROM club_benefits")
    assert bool(row["enabled"])
    for c in (manager, operator):
        await c.aclose()


@pytest.mark.parametrize(
    ("first", "last", "starts", "ends"),
    [
        ("2026-11-10", "2026-11-10", "2026-11-10T03:00:00+00:00", "2026-11-11T03:00:00+00:00"),
        ("", "2026-12-31", None, "2027-01-01T03:00:00+00:00"),
        ("", "", None, None),
    ],
)
def test_dates_are_whole_days_in_the_brands_time_zone(first, last, starts, ends):
    checked = club.check(
        club.Draft(title="T", partner="P", how="show", valid_from=first, valid_until=last),
        timezone="America/Sao_Paulo",
    )
    assert (checked.valid_from.isoformat() if checked.valid_from else None) == starts
    assert (checked.valid_until.isoformat() if checked.valid_until else None) == ends


def test_a_check_names_every_field_that_is_wrong():
    with pytest.raises(Invalid) as refused:
        club.check(
            club.Draft(title="x" * 81, partner="", how="code", code="TEM ESPAÇO", segments=("VIP!",)),
            timezone="America/Sao_Paulo",
        )
    assert [p.key for p in refused.value.problems] == ["title", "partner", "code", "segments"]
    only_the_way_counts = club.check(
        club.Draft(title="T", partner="P", how="show", code="IGNORED", url="nope"),
        timezone="America/Sao_Paulo",
    )
    assert only_the_way_counts.code == "" and only_the_way_counts.url == ""
