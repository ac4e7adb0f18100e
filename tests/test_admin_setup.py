"""A brand's setup in the admin: the rules as forms (the same checks as a pack, nothing lost on a
round trip), the pack's export and import, custom hosts, the regulations' preview, and a platform
admin importing a pack."""

from __future__ import annotations

import html
import io
import re
import zipfile
import zoneinfo

import pytest

from retorno.admin import rules as admin_rules
from retorno.brands import service as brands
from retorno.brands.pack_writer import to_toml
from tests.test_admin_brand import _csrf, _staff

RULES = "/admin/b/bella/rules"


def _fields(page: str) -> dict[str, str]:
    """The rules form as a browser would send it unchanged."""
    form = re.search(r'<form[^>]*id="rules-form".*?</form>', page, re.S).group(0)
    values = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox" and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(body)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        values[name] = re.search(r'value="([^"]+)" selected', body).group(1)
    return values


@pytest.mark.parametrize("comma", [True, False], ids=["pt-BR", "en"])
@pytest.mark.parametrize("slug", ["bella", "mare"])
def test_the_forms_show_every_rule_and_give_it_back_unchanged(demo, slug, comma):
    doc = to_toml(demo_pack_of(slug))
    tz = zoneinfo.ZoneInfo(doc["timezone"])
    shown = admin_rules.values_of(doc, tz, comma=comma)
    assert ("," in shown["fields"]["red.min_order"]) == comma  # "0,00" as Brazilians write it
    sections = admin_rules.sections_of(shown, tz)
    for name in ("cashback", "redemption", "notifications", "vouchers", "referral"):
        assert sections.get(name) == doc.get(name), name


def demo_pack_of(slug):
    from tests.conftest import demo_pack

    return demo_pack(slug)


async def test_a_manager_edits_the_rules_field_by_field(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    page = await manager.get(RULES)
    form = _fields(page.text)
    assert form["cb.rate"] == "10" and form["cb.pending_days"] == "7"
    unchanged = await manager.post(RULES, data=form | {"_csrf_token": token})
    assert unchanged.status_code == 303
    assert to_toml(await brands.export_pack("bella")) == to_toml(demo_pack_of("bella"))  # nothing lost
    changed = form | {
        "cb.rate": "12,5",
        "cb.categories": "maquiagem 15\nperfumaria 20",
        "camp.1.name": "Natal",
        "camp.1.starts": "2026-12-20T00:00",
        "camp.1.ends": "2026-12-25T23:59",
        "camp.1.multiplier": "2",
        "camp.1.categories": "perfumaria",
        "vr.0.remove": "1",
        "_csrf_token": token,
    }
    changed.pop("ref.enabled", None)  # the referral programme turned off
    saved = await manager.post(RULES, data=changed)
    assert saved.status_code == 303, saved.text
    rules = (await brands.get_brand("bella")).rules()
    assert rules.cashback.rate_bp == 1250
    assert rules.cashback.categories == {"maquiagem": 1500, "perfumaria": 2000}
    natal = next(c for c in rules.cashback.campaigns if c.name == "Natal")
    assert natal.starts.isoformat() == "2026-12-20T00:00:00-03:00"  # the brand's time zone
    assert natal.categories == ["perfumaria"]
    assert rules.vouchers == [] and rules.referral is None
    broken = changed | {"cb.rate": "doze", "cb.pending_days": "-1", "vr.0.remove": ""}
    refused = await manager.post(RULES, data=broken)
    assert refused.status_code == 422
    errors = re.search(r'id="rules-errors">(.*?)</ul>', refused.text, re.S).group(1)
    assert "cashback.rate" in errors and "cashback.pending_days" in errors
    assert 'value="doze"' in refused.text  # what was typed is kept for fixing
    assert (await brands.get_brand("bella")).rules().cashback.rate_bp == 1250  # nothing saved
    actions = await _actions()
    assert actions.count("brand.rules") == 2
    await manager.aclose()


async def _actions() -> list[str]:
    from retorno import db

    return [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


async def test_the_pack_is_exported_and_imported_back_with_every_check(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    exported = await manager.get("/admin/b/bella/pack.zip")
    files = {n: zipfile.ZipFile(io.BytesIO(exported.content)).read(n) for n in ("brand.toml", "logo.png")}
    toml = files["brand.toml"].decode().replace("rate = 10\n", "rate = 11\n", 1)

    def upload(data: bytes, name: str = "bella.zip"):
        return manager.post(
            "/admin/b/bella/pack",
            data={"_csrf_token": token},
            files={"pack": (name, data, "application/zip")},
        )

    version = (await brands.get_brand("bella")).app_version
    assert (
        await upload(_zip({"bella/brand.toml": toml.encode(), "bella/logo.png": files["logo.png"]}))
    ).status_code == 303
    assert (await brands.get_brand("bella")).rules().cashback.rate_bp == 1100
    alone = toml.replace("rate = 11\n", "rate = 9\n", 1).encode()
    assert (await upload(alone, "brand.toml")).status_code == 303  # keeps the logo and regulations
    after = await brands.export_pack("bella")
    assert after.rules.cashback.rate_bp == 900 and after.logo_png and after.regulations_md
    refusals = {
        "another brand": _zip({"brand.toml": toml.replace('slug = "bella"', 'slug = "mare"').encode()}),
        "escaping names": _zip({"brand.toml": toml.encode(), "../../etc/passwd": b"x"}),
        "no brand.toml": _zip({"logo.png": files["logo.png"]}),
        "not a pack": b"\x89PNG\r\n\x1a\nnot toml at all",
        "broken rules": toml.replace("pending_days = 7", "pending_days = -3").encode(),
        "a script as logo": _zip(
            {"brand.toml": toml.encode(), "logo.png": b"<svg><script>alert(1)</script></svg>"}
        ),
        "a zip bomb": _zip({"brand.toml": toml.encode(), "logo.png": b"\0" * (9 * 1024 * 1024)}),
    }
    for what, data in refusals.items():
        refused = await upload(data)
        assert refused.status_code == 422 and 'id="pack-errors"' in refused.text, what
    assert (await brands.export_pack("bella")).rules.cashback.rate_bp == 900  # nothing changed
    assert (await brands.get_brand("bella")).app_version > version
    assert (await _actions()).count("brand.pack_import") == 2
    await manager.aclose()


async def _branding_form(client, slug: str):
    """The branding page and its form as a browser would send it to save it unchanged."""
    token = await _csrf(client)
    page = await client.get(f"/admin/b/{slug}/branding")
    inputs = re.findall(r'<input id="f-[a-z]+" name="([a-z_]+)"[^>]*value="([^"]*)"', page.text)
    form = {k: html.unescape(v) for k, v in inputs}
    for name, options in re.findall(
        r'<select id="f-[a-z]+" name="([a-z_]+)">(.*?)</select>', page.text, re.S
    ):
        form[name] = re.findall(r'<option value="([^"]*)" selected>', options)[0]
    return page, form | {"_csrf_token": token, "regulations": "", "action": "save"}


async def test_custom_hosts_are_added_checked_and_removed_in_the_branding_page(app, demo, clock, client):
    manager = await _staff(app, clock, demo, "manager")
    page, form = await _branding_form(manager, "bella")
    assert "bella.localhost:8000" in page.text  # where to point the domain
    assert (await client.get("http://fidelidade.bella.example/")).status_code == 404
    saved = await manager.post("/admin/b/bella/branding", data=form | {"hosts": "Fidelidade.Bella.example\n"})
    assert saved.status_code == 303, saved.text
    served = await client.get("http://fidelidade.bella.example/")
    assert served.status_code == 200 and "Bella" in served.text
    mare = await _staff(app, clock, demo, "mare-owner")
    _, mare_form = await _branding_form(mare, "mare")
    taken = await mare.post(
        "/admin/b/mare/branding",
        data=mare_form | {"hosts": "fidelidade.bella.example"},
    )
    assert taken.status_code == 422 and "já pertencem a outra marca" in taken.text
    for bad in ("nao e um host", "mare.localhost:8000", "-x.example"):
        refused = await mare.post(
            "/admin/b/mare/branding",
            data=mare_form | {"hosts": bad},
        )
        assert refused.status_code == 422, bad
    removed = await manager.post("/admin/b/bella/branding", data=form | {"hosts": ""})
    assert removed.status_code == 303
    assert (await client.get("http://fidelidade.bella.example/")).status_code == 404
    await manager.aclose()
    await mare.aclose()


async def test_the_regulations_are_previewed_sanitized_and_not_saved(app, demo, clock):
    manager = await _staff(app, clock, demo, "manager")
    _, form = await _branding_form(manager, "bella")
    draft = "# Novo regulamento\n\n**Vale** hoje. <script>alert(1)</script> <img src=x onerror=alert(2)>"
    shown = await manager.post(
        "/admin/b/bella/branding",
        data=form | {"regulations": draft, "action": "preview"},
    )
    assert shown.status_code == 200
    preview = re.search(r'id="regulations-preview">(.*?)</div>', shown.text, re.S).group(1)
    assert "<h1>Novo regulamento</h1>" in preview and "<strong>Vale</strong>" in preview
    assert "<script" not in preview and "<img" not in preview  # no tag survives...
    assert "&lt;script&gt;" in preview  # ...it reads as the text it was
    assert "Novo regulamento" in re.search(
        r'<textarea id="f-regulations"[^>]*>(.*?)</textarea>', shown.text, re.S
    ).group(1)
    assert (await brands.current_regulations(demo["bella"].id)).version == 1  # not saved
    await manager.aclose()


async def test_a_platform_admin_imports_a_pack_as_a_new_brand(app, demo, clock):
    admin = await _staff(app, clock, demo, "platform")
    token = await _csrf(admin)
    exported = await admin.get("/admin/b/mare/pack.zip")
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    toml = (
        archive.read("brand.toml")
        .decode()
        .replace('slug = "mare"', 'slug = "onda"')
        .replace("Maré Moda", "Onda Surf")
    )
    pack = _zip(
        {
            "brand.toml": toml.encode(),
            "logo.png": archive.read("logo.png"),
            "regulations.md": archive.read("regulations.md"),
            "banner.png": archive.read("banner.png"),  # Maré's pack has a banner
        }
    )

    async def upload(data):
        return await admin.post(
            "/admin/brands/import",
            data={"_csrf_token": token},
            files={"pack": ("onda.zip", data, "application/zip")},
        )

    assert (await upload(pack)).status_code == 303
    onda = await brands.get_brand("onda")
    assert onda.name == "Onda Surf" and (await brands.current_regulations(onda.id)).version == 1
    assert "Onda Surf" in (await admin.get("/admin/brands")).text
    refused = await upload(b"slug = 'x'\nname = 1\n")
    assert refused.status_code == 422 and "name" in refused.text
    manager = await _staff(app, clock, demo, "manager")
    manager_token = await _csrf(manager)
    forbidden = await manager.post(
        "/admin/brands/import",
        data={"_csrf_token": manager_token},
        files={"pack": ("p.zip", pack, "application/zip")},
    )
    assert forbidden.status_code == 403
    await admin.aclose()
    await manager.aclose()


@pytest.mark.parametrize("index", range(35))
async def test_a_logo_inside_an_uploaded_pack_is_stored_only_as_a_re_encoded_raster(app, demo, clock, index):
    from tests.upload_corpus import assert_only_pixels, corpus

    name, _type, data, is_image = corpus()[index]
    if not data:
        return  # an empty file is the branding form's "no new logo", covered there
    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    doc = to_toml(await brands.export_pack("bella"))
    doc["theme"]["logo"] = "upload.bin"
    import tomli_w

    pack = _zip({"brand.toml": tomli_w.dumps(doc).encode(), "upload.bin": data})
    before = (await brands.asset(demo["bella"].id, "logo.png"))[0]
    response = await manager.post(
        "/admin/b/bella/pack", data={"_csrf_token": token}, files={"pack": ("p.zip", pack, "application/zip")}
    )
    stored = (await brands.asset(demo["bella"].id, "logo.png"))[0]
    if is_image:
        assert response.status_code == 303, (name, response.text[-300:])
        assert_only_pixels(stored, name)
    else:
        assert response.status_code == 422 and stored == before, (name, response.status_code)
    await manager.aclose()


async def test_a_pack_s_problems_read_in_the_manager_s_language(app, demo, clock):
    """Every check of a brand pack speaks Portuguese on a Portuguese page and English on an English
    one; the file and key stay as the pack names them (the manager edits them there)."""
    from retorno.web import LANG_COOKIE

    manager = await _staff(app, clock, demo, "manager")
    token = await _csrf(manager)
    toml = to_toml(await brands.export_pack("bella"))
    toml["timezone"] = "America/Nowhere"
    toml["colour_scheme"] = "dark"
    toml["theme"] |= {"primary": "vinho", "font": "comic-sans"}
    toml["cashback"]["min_purchase"] = 20
    toml["cashback"]["pending_days"] = -3
    import tomli_w

    def upload():
        data = tomli_w.dumps(toml).encode()
        files = {"pack": ("brand.toml", data, "application/toml")}
        return manager.post("/admin/b/bella/pack", data={"_csrf_token": token}, files=files)

    refused = await upload()
    assert refused.status_code == 422
    problems = [
        html.unescape(p) for p in re.findall(r"<li>([^<]*)</li>", refused.text.split('id="pack-errors"')[1])
    ]
    expected = {
        "brand.toml: colour_scheme: chave desconhecida",
        "brand.toml: timezone: 'America/Nowhere' não é um fuso horário IANA como America/Sao_Paulo",
        "brand.toml: theme.primary: 'vinho' não é uma cor como #8E2453",
        "brand.toml: theme.font: deve ser um de system, inter, nunito, lora, não 'comic-sans'",
        'brand.toml: cashback.min_purchase: deve ser um valor em reais entre aspas, como "20.00", não 20',
        "brand.toml: cashback.pending_days: deve ser um número inteiro de 0 a 365, não -3",
    }
    assert expected <= set(problems), problems
    manager.cookies.set(LANG_COOKIE, "en")
    in_english = (await upload()).text
    assert "brand.toml: colour_scheme: unknown key" in in_english
    assert (
        "&#39;vinho&#39; is not a colour like #8E2453" in in_english
        and "chave desconhecida" not in in_english
    )
    await manager.aclose()


async def test_the_branding_page_sets_the_typeface_corners_and_banner(app, demo, clock, client):
    from PIL import Image

    manager = await _staff(app, clock, demo, "manager")
    page, form = await _branding_form(manager, "bella")
    assert form["font"] == "lora" and form["corners"] == "soft"  # Bella's pack
    assert '<option value="inter">Inter</option>' in page.text and "Arredondados" in page.text

    def png(width: int, height: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (width, height), "#7A1F48").save(out, format="PNG")
        return out.getvalue()

    narrow = await manager.post(
        "/admin/b/bella/branding", data=form, files={"banner": ("banner.png", png(300, 100), "image/png")}
    )
    assert narrow.status_code == 422
    assert "<li>Banner: o banner tem 300 px de largura; no mínimo 640 px</li>" in narrow.text
    saved = await manager.post(
        "/admin/b/bella/branding",
        data=form | {"font": "inter", "corners": "square"},
        files={"banner": ("banner.png", png(1600, 400), "image/png")},
    )
    assert saved.status_code == 303, saved.text
    bella = await brands.get_brand("bella")
    assert (bella.font, bella.corners, bella.banner_width, bella.banner_height) == (
        "inter",
        "square",
        1200,
        300,
    )
    theme = (await client.get(f"http://bella.localhost:8000/theme.css?v={bella.app_version}")).text
    assert "'Inter'" in theme and "--radius:0px" in theme
    welcome = (await client.get("http://bella.localhost:8000/")).text
    assert 'class="brand-banner"' in welcome
    page, form = await _branding_form(manager, "bella")
    assert 'alt="O banner atual"' in page.text
    banner = await manager.get("/admin/b/bella/banner.png")
    assert banner.status_code == 200 and Image.open(io.BytesIO(banner.content)).size == (1200, 300)
    assert (
        await manager.post("/admin/b/bella/branding", data=form | {"remove_banner": "1"})
    ).status_code == 303
    assert not (await brands.get_brand("bella")).banner
    assert 'class="brand-banner"' not in (await client.get("http://bella.localhost:8000/")).text
    owner = await _staff(app, clock, demo, "owner")
    audit = (await owner.get("/admin/b/bella/audit")).text
    await owner.aclose()
    assert 'Fonte: <span class="audit-old">Lora (com serifa)</span> → Inter' in audit
    assert (
        "Banner: um novo banner" in audit and 'Cantos: <span class="audit-old">Suaves</span> → Retos' in audit
    )
    await manager.aclose()
