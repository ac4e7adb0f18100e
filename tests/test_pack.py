"""Brand packs: import is idempotent, export round-trips, an invalid pack is refused whole."""

import datetime as dt
import io
import shutil
import tomllib

import pytest
import tomli_w
from PIL import Image

from retorno import cli
from retorno.brands import service as brands
from retorno.brands.pack import read_pack
from retorno.brands.pack_writer import write_pack
from retorno.brands.tables import Brand, BrandAsset, Regulations
from retorno.errors import Invalid
from retorno.onboarding.brand import import_brand
from tests.conftest import BRANDING, demo_pack


def copy_pack(tmp_path, slug="bella"):
    folder = tmp_path / slug
    shutil.copytree(BRANDING / slug, folder)
    return folder


def edit(folder, change):
    data = tomllib.loads((folder / "brand.toml").read_text())
    change(data)
    (folder / "brand.toml").write_text(tomli_w.dumps(data))
    return folder


def png(size, mode="RGB", fmt="PNG"):
    out = io.BytesIO()
    Image.new(mode, size, "#336699").save(out, format=fmt)
    return out.getvalue()


async def test_demo_packs_read_as_their_case_studies():
    bella, mare = read_pack(BRANDING / "bella"), read_pack(BRANDING / "mare")
    assert bella.rules.cashback.rate_bp == 1000
    assert bella.rules.vouchers[0].min_purchase == 2000
    referral = bella.rules.referral
    assert (referral.referrer_reward, referral.friend_reward, referral.min_first_purchase) == (
        2000,
        1000,
        5000,
    )
    assert mare.rules.cashback.rate_bp == 500
    assert mare.rules.cashback.campaigns[0].name == "Black Friday"
    assert mare.rules.cashback.campaigns[0].multiplier_x100 == 200
    assert mare.rules.referral is None and mare.rules.vouchers == []


async def test_import_is_idempotent(settings):
    first = await import_brand(read_pack(BRANDING / "bella"), base_host=settings.base_host)
    second = await import_brand(read_pack(BRANDING / "bella"), base_host=settings.base_host)
    assert (first.status, second.status) == ("created", "unchanged")
    assert await Brand.count() == 1
    assert await Regulations.count() == 1
    assert await BrandAsset.count() == 7  # the logo, its app-bar copy, four icons, the push badge
    assert (await brands.get_brand("bella")).app_version == 1


async def test_a_changed_pack_updates_the_brand_and_versions_the_regulations(settings, tmp_path):
    await import_brand(read_pack(BRANDING / "bella"), base_host=settings.base_host)
    folder = edit(copy_pack(tmp_path), lambda d: d["theme"].update(primary="#7A1F48"))
    (folder / "regulations.md").write_text("# Regulamento\n\nNova versão.\n")
    result = await import_brand(read_pack(folder), base_host=settings.base_host)
    brand = await brands.get_brand("bella")
    assert result.status == "updated"
    assert brand.primary_color == "#7A1F48" and brand.app_version == 2
    current = await brands.current_regulations(brand.id)
    assert current.version == 2 and "Nova versão" in current.html
    assert await Regulations.count() == 2  # the first version is kept


async def test_export_then_import_changes_nothing(settings, tmp_path):
    await import_brand(read_pack(BRANDING / "mare"), base_host=settings.base_host)
    exported = tmp_path / "exported"
    write_pack(await brands.export_pack("mare"), exported)
    assert {p.name for p in exported.iterdir()} == {"brand.toml", "logo.png", "banner.png", "regulations.md"}
    again = await import_brand(read_pack(exported), base_host=settings.base_host)
    assert again.status == "unchanged"


async def test_regulations_are_sanitised(settings, tmp_path):
    folder = copy_pack(tmp_path)
    (folder / "regulations.md").write_text(
        "# Regras\n\n<script>alert(1)</script>\n\n[clique](javascript:alert(1)) "
        '<img src=x onerror="alert(1)">\n\n**ok**\n'
    )
    await import_brand(read_pack(folder), base_host=settings.base_host)
    html = (await brands.current_regulations((await brands.get_brand("bella")).id)).html
    assert "<script" not in html and "<img" not in html  # raw HTML is shown as text, never run
    assert 'href="javascript' not in html
    assert "<strong>ok</strong>" in html and "<h1>Regras</h1>" in html


INVALID = [
    ("bad slug", lambda d: d.update(slug="Bella Cosméticos"), "slug: 'Bella Cosméticos' is not a slug"),
    ("unknown key", lambda d: d.update(colour="red"), "colour: unknown key"),
    ("unknown nested key", lambda d: d["cashback"].update(rat=10), "cashback.rat: unknown key"),
    ("long short name", lambda d: d.update(short_name="Bella Cosméticos"), "short_name: must be at most 12"),
    ("bad locale", lambda d: d.update(locale="fr-FR"), "locale: must be one of pt-BR, en"),
    ("bad currency", lambda d: d.update(currency="REAL"), "currency: 'REAL' is not an ISO 4217"),
    ("bad timezone", lambda d: d.update(timezone="Brasil/SP"), "timezone: 'Brasil/SP' is not an IANA"),
    ("bad host", lambda d: d.update(hosts=["not a host"]), "hosts: 'not a host' is not a host name"),
    ("bad colour", lambda d: d["theme"].update(primary="berry"), "theme.primary: 'berry' is not a colour"),
    ("missing logo", lambda d: d["theme"].update(logo="nope.png"), "theme.logo:"),
    ("missing regulations", lambda d: d["theme"].update(regulations="x.md"), "theme.regulations:"),
    ("bad e-mail", lambda d: d["contact"].update(email="sac at bella"), "contact.email: 'sac at bella'"),
    ("bad phone", lambda d: d["contact"].update(whatsapp="11 99999-0000"), "contact.whatsapp:"),
    ("rate as text", lambda d: d["cashback"].update(rate="10%"), "cashback.rate: must be a number"),
    ("rate too high", lambda d: d["cashback"].update(rate=150), "cashback.rate: must be a number"),
    ("rate too precise", lambda d: d["cashback"].update(rate=2.555), "cashback.rate: takes at most two"),
    (
        "amount as number",
        lambda d: d["cashback"].update(min_purchase=20),
        "cashback.min_purchase: must be an amount",
    ),
    (
        "amount with comma",
        lambda d: d["redemption"].update(min_order="30,00"),
        "redemption.min_order: must be an amount",
    ),
    (
        "negative days",
        lambda d: d["cashback"].update(pending_days=-1),
        "cashback.pending_days: must be a whole",
    ),
    (
        "bad refund policy",
        lambda d: d["cashback"].update(refund_policy="keep"),
        "cashback.refund_policy: must be one of",
    ),
    (
        "bad category name",
        lambda d: d["cashback"].update(categories={"Make Up": 15}),
        "cashback.categories.Make Up:",
    ),
    (
        "voucher with both",
        lambda d: d["vouchers"]["rules"][0].update(percent=10),
        "vouchers.rules[0]: needs exactly one",
    ),
    (
        "voucher with neither",
        lambda d: d["vouchers"]["rules"][0].pop("amount"),
        "vouchers.rules[0]: needs exactly one",
    ),
    ("referral without cap", lambda d: d["referral"].pop("monthly_cap"), "referral.monthly_cap: is required"),
    (
        "reminders",
        lambda d: d["notifications"].update(expiry_reminder_days=[7, 7]),
        "notifications.expiry_reminder_days",
    ),
    (
        "regulations outside the pack",
        lambda d: d["theme"].update(regulations="/etc/hostname"),
        "theme.regulations: '/etc/hostname': name a file in the pack's folder",
    ),
    (
        "regulations up the tree",
        lambda d: d["theme"].update(regulations="../brand.toml"),
        "theme.regulations: '../brand.toml'",
    ),
    (
        "logo outside the pack",
        lambda d: d["theme"].update(logo="/proc/self/environ"),
        "theme.logo: '/proc/self/environ'",
    ),
    ("rate nan", lambda d: d["cashback"].update(rate=float("nan")), "cashback.rate: must be"),
    (
        "max share inf",
        lambda d: d["redemption"].update(max_share=float("inf")),
        "redemption.max_share: must be",
    ),
    (
        "same band twice",
        lambda d: d["cashback"].update(bands=[{"from": "0.00", "rate": 5}, {"from": "0.00", "rate": 7}]),
        "cashback.bands: two bands start at the same amount",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_each_kind_of_invalid_pack_is_refused_with_a_useful_line(tmp_path, case, change, message):
    folder = edit(copy_pack(tmp_path), change)
    with pytest.raises(Invalid) as info:
        read_pack(folder)
    assert any(message in p for p in info.value.problems), info.value.problems
    assert all(p.startswith(str(folder / "brand.toml") + ": ") for p in info.value.problems)


CAMPAIGNS = [
    ("naive datetime", {"starts": "2026-11-27T00:00:00"}, "needs an offset"),
    ("ends before starts", {"ends": "2026-11-26T00:00:00-03:00"}, ".ends: must be after starts"),
    ("multiplier too big", {"multiplier": 50}, ".multiplier: must be a multiplier"),
]


@pytest.mark.parametrize(("case", "change", "message"), CAMPAIGNS, ids=[c[0] for c in CAMPAIGNS])
def test_invalid_campaigns_are_refused(tmp_path, case, change, message):
    def apply(d):
        camp = d["cashback"]["campaigns"][0]
        for key, value in change.items():
            camp[key] = dt.datetime.fromisoformat(value) if key in ("starts", "ends") else value

    folder = edit(copy_pack(tmp_path, "mare"), apply)
    with pytest.raises(Invalid) as info:
        read_pack(folder)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_toml_syntax_errors_and_missing_files_are_reported(tmp_path):
    folder = copy_pack(tmp_path)
    (folder / "brand.toml").write_text('slug = "bella"\nname = \n')
    with pytest.raises(Invalid, match="not valid TOML"):
        read_pack(folder)
    with pytest.raises(Invalid, match="no such file"):
        read_pack(tmp_path / "empty")


@pytest.mark.parametrize(
    ("case", "data", "message"),
    [
        ("text", b"just text, not an image", "not a PNG, JPEG or WebP"),
        (
            "svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600"/>',
            "not a PNG, JPEG or WebP",
        ),
        ("gif", png((600, 600), "P", "GIF"), "not a PNG, JPEG or WebP"),
        ("not square", png((800, 600)), "must be square"),
        ("too small", png((256, 256)), "at least 512 px"),
        ("too large", png((5000, 5000)), "at most 4096 px"),
        ("too heavy", b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1), "at most 2048 KB"),
    ],
)
def test_a_bad_logo_is_refused(tmp_path, case, data, message):
    folder = copy_pack(tmp_path)
    (folder / "logo.png").write_bytes(data)
    with pytest.raises(Invalid) as info:
        read_pack(folder)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_jpeg_and_webp_logos_are_re_encoded_as_png(tmp_path):
    for fmt in ("JPEG", "WEBP"):
        folder = copy_pack(tmp_path / fmt)
        (folder / "logo.png").write_bytes(png((600, 600), fmt=fmt))
        pack = read_pack(folder)
        assert pack.logo_png.startswith(b"\x89PNG\r\n\x1a\n")


def test_every_problem_is_listed_at_once(tmp_path):
    def many(d):
        d["slug"] = "X"
        d["theme"]["primary"] = "red"
        d["cashback"]["rate"] = -1

    with pytest.raises(Invalid) as info:
        read_pack(edit(copy_pack(tmp_path), many))
    assert len(info.value.problems) == 3


async def test_a_host_of_another_brand_refuses_the_whole_pack(settings, tmp_path):
    await import_brand(
        read_pack(edit(copy_pack(tmp_path / "a", "mare"), lambda d: d.update(hosts=["clube.example.com"]))),
        base_host=settings.base_host,
    )
    with pytest.raises(Invalid, match="already belong to another brand"):
        await import_brand(
            read_pack(edit(copy_pack(tmp_path / "b"), lambda d: d.update(hosts=["clube.example.com"]))),
            base_host=settings.base_host,
        )
    assert await Brand.count() == 1  # nothing of bella was written


async def test_a_host_under_the_platform_host_is_refused(settings, tmp_path):
    pack = read_pack(edit(copy_pack(tmp_path), lambda d: d.update(hosts=["mare.localhost"])))
    with pytest.raises(Invalid, match="under the platform's own host"):
        await import_brand(pack, base_host=settings.base_host)


def test_the_import_command_prints_one_line_per_problem_and_imports_nothing(
    tmp_path, database_url, monkeypatch, capsys
):
    bad = edit(copy_pack(tmp_path), lambda d: (d.update(slug="B!"), d["theme"].update(accent="gold")))
    monkeypatch.setenv("RETORNO_DATABASE_URL", database_url)
    monkeypatch.setenv("RETORNO_ENV", "test")
    assert cli.main(["brands", "import", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"refused {bad}: nothing was imported"
    assert len(err) == 3 and "slug:" in err[1] and "theme.accent:" in err[2]
    assert cli.main(["brands", "import", str(BRANDING / "bella")]) == 0
    assert cli.main(["brands", "import", str(BRANDING / "bella")]) == 0
    out = capsys.readouterr().out
    assert "created: bella" in out and "unchanged: bella" in out


def test_the_export_command_writes_a_pack(tmp_path, database_url, monkeypatch, capsys):
    monkeypatch.setenv("RETORNO_DATABASE_URL", database_url)
    monkeypatch.setenv("RETORNO_ENV", "test")
    assert cli.main(["brands", "import", str(BRANDING / "mare")]) == 0
    assert cli.main(["brands", "export", "mare", str(tmp_path / "out")]) == 0
    assert read_pack(tmp_path / "out").name == "Maré Moda"
    assert cli.main(["brands", "export", "nobody", str(tmp_path / "x")]) == 1


async def test_a_new_kind_of_image_reimports_an_unchanged_pack(settings, monkeypatch):
    """Existing deployments get images added in a new release (images.VERSION) on their next import."""
    from retorno.brands import images

    await import_brand(read_pack(BRANDING / "bella"), base_host=settings.base_host)
    monkeypatch.setattr(images, "VERSION", images.VERSION + "-next")
    again = await import_brand(read_pack(BRANDING / "bella"), base_host=settings.base_host)
    assert again.status == "updated"
    assert (await brands.get_brand("bella")).app_version == 2  # installed apps fetch the new images


def test_an_edited_pack_never_reads_a_server_file_into_the_brand():
    """A manager's brand.toml naming /etc/hostname or ../ as its regulations is refused, and
    nothing of the file reaches the pack (it once became the brand's regulations)."""
    from retorno.brands.pack import check_edited
    from retorno.brands.pack_writer import to_toml

    base = demo_pack("bella")
    for name in ("/etc/hostname", "../../etc/hostname", "..", "regulations.md/../../etc/hostname"):
        doc = to_toml(base)
        doc["theme"]["regulations"] = name
        with pytest.raises(Invalid) as info:
            check_edited(doc, base=base)
        assert any("theme.regulations" in p for p in info.value.problems), info.value.problems
