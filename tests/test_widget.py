"""The site widget's endpoints (portal/widget.py) and its admin page: keys, origins (CORS), shopper
tokens, rate limits, and quotes checked against the demo brands' rules read from brand.toml."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import tomllib
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from retorno import db, i18n, vault
from retorno.portal.widget import WORDS
from retorno.widget import service as widget
from tests.conftest import BASE_HOST, BRANDING, brand_url, platform_url
from tests.test_admin_brand import _csrf, _staff

STORE = "https://loja.bella.example"
ANA = "ana.maria@exemplo.com.br"  # dots in the e-mail: the token's encoding must not mind


def pt(message: str) -> str:
    """The catalogue's Portuguese (the widget's words are added to it apart from this code)."""
    return i18n.gettext("pt-BR", message)


def rules_of(slug: str) -> dict:
    return tomllib.loads((BRANDING / slug / "brand.toml").read_text())


def expected_cashback(slug: str, lines: list[tuple[int, str | None]], *, at: dt.datetime) -> int:
    """What the brand's rules give, computed from brand.toml alone: the order's band (or base
    rate), a category's rate when higher, a live campaign's multiplier; half-even once."""
    cashback = rules_of(slug)["cashback"]
    merchandise = sum(amount for amount, _ in lines)
    rate = Decimal(cashback["rate"])
    for band in cashback.get("bands", []):
        if Decimal(band["from"]) * 100 <= merchandise:
            rate = Decimal(band["rate"])
    total = Decimal(0)
    for amount, category in lines:
        line_rate = max(rate, Decimal(cashback["categories"].get(category, -1)))
        multiplier = Decimal(1)
        for campaign in cashback.get("campaigns", []):
            live = campaign["starts"] <= at <= campaign["ends"]
            if live and (not campaign["categories"] or category in campaign["categories"]):
                multiplier = max(multiplier, Decimal(campaign["multiplier"]))
        total += amount * line_rate / 100 * multiplier
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


async def key_of(slug: str, demo, clock) -> str:
    return (await widget.settings_for(demo[slug].id, now=clock())).publishable_key


async def token_for(slug: str, demo, clock, ref: str = f"email:{ANA}", ttl: int = 600) -> str:
    keyed = await widget.by_key(await key_of(slug, demo, clock))
    return widget.sign(keyed.secret, ref, int(clock().timestamp()) + ttl)


async def allow_store(demo, clock, slug: str = "bella", origins: tuple[str, ...] = (STORE,)) -> None:
    await widget.update(brand_id=demo[slug].id, now=clock(), production=False, origins=list(origins))


async def with_balance(api, clock, email: str = ANA, total: int = 50000, order: str = "W-1") -> None:
    """A sale past bella's return window: 10% of it available."""
    occurred = (clock() - dt.timedelta(days=20)).isoformat()
    body = {"order_id": order, "customer": {"email": email}, "total": total, "occurred_at": occurred}
    assert (await api.post("/sales", json=body)).status_code == 201


# --- keys and origins ------------------------------------------------------------------------------


async def test_config_answers_a_store_origin_in_the_page_s_language(client, demo, clock) -> None:
    await allow_store(demo, clock)
    key = await key_of("bella", demo, clock)
    answer = await client.get(f"/widget/v1/config?key={key}&lang=pt-BR", headers={"origin": STORE})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == STORE
    assert "Origin" in answer.headers["vary"]
    config = answer.json()
    assert config["brand"]["name"] == "Bella Cosméticos"
    assert config["brand"]["colors"]["primary"] == "#8E2453"
    assert config["rates"]["base_bp"] == 1000 and config["rates"]["categories"] == {"maquiagem": 1500}
    assert config["redemption"] == {"min_order": 3000, "max_share_bp": 5000}
    assert config["links"]["join"] == brand_url("bella", "/join")
    assert config["launcher"] is True
    assert config["lang"] == "pt-BR"
    assert config["words"] == {k: i18n.gettext("pt-BR", v) for k, v in WORDS.items()}
    english = (await client.get(f"/widget/v1/config?key={key}&lang=en-US", headers={"origin": STORE})).json()
    assert english["words"]["badge"] == "Earn %(amount)s in cashback"
    assert english["lang"] == "en"


async def test_another_origin_gets_no_answer_it_can_read(client, demo, clock) -> None:
    await allow_store(demo, clock)
    key = await key_of("bella", demo, clock)
    refused = await client.get(f"/widget/v1/config?key={key}", headers={"origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    assert refused.headers["content-type"].startswith("application/problem+json")
    # mare's store origin is not bella's
    await allow_store(demo, clock, "mare", ("https://loja.mare.example",))
    other = await client.get(f"/widget/v1/config?key={key}", headers={"origin": "https://loja.mare.example"})
    assert other.status_code == 403


async def test_preflight_echoes_only_a_configured_origin(client, demo, clock) -> None:
    await allow_store(demo, clock)
    key = await key_of("bella", demo, clock)
    asked = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    ok = await client.options(f"/widget/v1/quote/cart?key={key}", headers={"origin": STORE, **asked})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == STORE
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "content-type" in ok.headers["access-control-allow-headers"]
    assert "Origin" in ok.headers["vary"]
    evil = await client.options(
        f"/widget/v1/quote/cart?key={key}", headers={"origin": "https://evil.example", **asked}
    )
    assert "access-control-allow-origin" not in evil.headers
    unkeyed = await client.options("/widget/v1/quote/cart", headers={"origin": STORE, **asked})
    assert "access-control-allow-origin" not in unkeyed.headers


async def test_the_platform_origin_is_allowed_outside_production(client, demo, clock) -> None:
    key = await key_of("bella", demo, clock)
    answer = await client.get(f"/widget/v1/config?key={key}", headers={"origin": f"http://{BASE_HOST}"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == f"http://{BASE_HOST}"


@pytest.mark.parametrize("which", ["none", "wrong", "other brand"])
async def test_a_wrong_key_is_401_in_json(client, demo, clock, which) -> None:
    key = {"none": "", "wrong": "pk_nobodyhasthisone", "other brand": await key_of("mare", demo, clock)}[
        which
    ]
    answer = await client.get(f"/widget/v1/config?key={key}&lang=pt-BR")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "unauthorized"
    assert answer.json()["title"] == "Não autorizado"


async def test_an_unknown_widget_path_is_json_not_a_page(client, demo) -> None:
    answer = await client.get("/widget/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_wrong_keys_from_one_address_are_limited(client, demo, clock) -> None:
    statuses = [(await client.get("/widget/v1/config?key=pk_guess")).status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    limited = await client.get(f"/widget/v1/config?key=pk_guess{21}")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # the right key from the same address still works
    assert (
        await client.get(f"/widget/v1/config?key={await key_of('bella', demo, clock)}")
    ).status_code == 200


# --- quotes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "price", "category", "highlighted"),
    [
        ("bella", 4990, "maquiagem", True),
        ("bella", 12990, "skincare", False),
        ("bella", 5990, None, False),
        ("mare", 29990, "calcados", True),
        ("mare", 18990, "roupas", False),
        ("mare", 35000, None, True),  # the R$ 300 band's 8% is more than the 5% base
    ],
)
async def test_product_quotes_follow_the_brand_s_rules(
    client, demo, clock, slug, price, category, highlighted
) -> None:
    key = await key_of(slug, demo, clock)
    p = f"{price}:{category}" if category else str(price)
    answer = await client.get(brand_url(slug, f"/widget/v1/quote/product?key={key}&p={p}"))
    assert answer.status_code == 200, answer.text
    [quote] = answer.json()["quotes"]
    assert quote["cashback"] == expected_cashback(slug, [(price, category)], at=clock())
    assert quote["highlighted"] is highlighted


async def test_a_live_campaign_highlights_every_product(client, demo, clock) -> None:
    clock.now = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC)  # mare's Black Friday, x2
    key = await key_of("mare", demo, clock)
    answer = await client.get(
        brand_url("mare", f"/widget/v1/quote/product?key={key}&p=18990:roupas&p=29990:calcados")
    )
    quotes = answer.json()["quotes"]
    assert [q["cashback"] for q in quotes] == [
        expected_cashback("mare", [(18990, "roupas")], at=clock()),
        expected_cashback("mare", [(29990, "calcados")], at=clock()),
    ]
    assert [q["rate_bp"] for q in quotes] == [1000, 1400] and all(q["highlighted"] for q in quotes)
    assert quotes[0]["campaign"] == "Black Friday"
    config = (await client.get(brand_url("mare", f"/widget/v1/config?key={key}"))).json()
    assert [c["name"] for c in config["rates"]["campaigns"]] == ["Black Friday"]


async def test_a_cart_without_a_token_shows_only_what_it_earns(client, demo, clock, api) -> None:
    await with_balance(api, clock)
    key = await key_of("bella", demo, clock)
    items = [
        {"sku": "1", "category": "maquiagem", "amount": 4990, "quantity": 2},
        {"sku": "2", "amount": 12990},
    ]
    body = {"total": 24470, "shipping": 1500, "items": items}
    answer = await client.post(f"/widget/v1/quote/cart?key={key}", json=body)
    assert answer.status_code == 200, answer.text
    quote = answer.json()
    assert quote["earn"] == expected_cashback("bella", [(9980, "maquiagem"), (12990, None)], at=clock())
    assert quote["shopper"] is None and quote["token_error"] is None
    assert "available" not in answer.text and "5000" not in answer.text


async def test_a_cart_with_a_token_shows_the_balance_and_what_may_be_used(client, demo, clock, api) -> None:
    await with_balance(api, clock)  # R$ 50,00 available
    key, token = await key_of("bella", demo, clock), await token_for("bella", demo, clock)
    big = (
        await client.post(f"/widget/v1/quote/cart?key={key}", json={"total": 24470, "token": token})
    ).json()
    assert big["shopper"] == {
        "available": 5000,
        "usable": 5000,
        "reason": None,
        "message": None,
        "checkout_codes": False,
    }
    small = (
        await client.post(f"/widget/v1/quote/cart?key={key}&lang=pt-BR", json={"total": 6000, "token": token})
    ).json()
    assert small["shopper"]["usable"] == 3000 and small["shopper"]["reason"] == "max_share"
    assert small["shopper"]["message"] == pt(WORDS["reason_max_share"]) % {"share": "50%"}
    below = (
        await client.post(f"/widget/v1/quote/cart?key={key}&lang=pt-BR", json={"total": 2000, "token": token})
    ).json()
    assert below["shopper"]["usable"] == 0 and below["shopper"]["reason"] == "below_min_order"
    assert i18n.money(3000, lang="pt-BR") in below["shopper"]["message"]
    nobody = await token_for("bella", demo, clock, ref="email:nobody@exemplo.com.br")
    none = (
        await client.post(f"/widget/v1/quote/cart?key={key}", json={"total": 24470, "token": nobody})
    ).json()
    assert none["shopper"]["available"] == 0 and none["shopper"]["reason"] == "no_balance"


async def _refusal(client, key: str, token: str) -> dict:
    answer = await client.post(
        f"/widget/v1/quote/cart?key={key}&lang=pt-BR", json={"total": 24470, "token": token}
    )
    assert answer.status_code == 200, answer.text
    quote = answer.json()
    assert quote["shopper"] is None, "a balance without a valid token"
    assert quote["earn"] > 0
    return quote["token_error"]


async def test_tokens_that_do_not_hold_show_no_balance(client, demo, clock, api) -> None:
    await with_balance(api, clock)
    key = await key_of("bella", demo, clock)
    mare_s = await token_for("mare", demo, clock)
    assert (await _refusal(client, key, mare_s))["reason"] == "signature"
    expired = await token_for("bella", demo, clock, ttl=-1)
    error = await _refusal(client, key, expired)
    assert error["reason"] == "expired" and error["message"] == pt(WORDS["token_expired"])
    too_long = await token_for("bella", demo, clock, ttl=25 * 3600)
    assert (await _refusal(client, key, too_long))["reason"] == "too_long"
    good = await token_for("bella", demo, clock)
    encoded, exp, sig = good.split(".")
    other = base64.urlsafe_b64encode(b"email:someone.else@exemplo.com.br").decode().rstrip("=")
    assert (await _refusal(client, key, f"{other}.{exp}.{sig}"))["reason"] == "signature"
    assert (await _refusal(client, key, f"{encoded}.{int(exp) + 60}.{sig}"))["reason"] == "signature"
    assert (await _refusal(client, key, "garbage"))["reason"] == "malformed"
    flipped = sig[:-1] + ("1" if sig[-1] == "0" else "0")  # one hex digit changed, whatever it was
    assert (await _refusal(client, key, f"{encoded}.{exp}.{flipped}"))["reason"] == "signature"


def test_the_token_format_survives_dots_and_refs_of_every_kind() -> None:
    now = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    exp = int(now.timestamp()) + 60
    for ref, field in [
        (f"email:{ANA}", "email"),
        ("cpf:529.982.247-25", "cpf"),
        ("phone:+55 11 99999-0000", "phone"),
        ("ext:CLI.42", "external_id"),
        ("external_id:CLI.42", "external_id"),
    ]:
        identity = widget.verify("s3cret", widget.sign("s3cret", ref, exp), now=now)
        assert getattr(identity, field)
    with pytest.raises(widget.TokenRefused):
        widget.verify("s3cret", widget.sign("s3cret", "42", exp), now=now)  # no bare customer ids


# --- checkout codes ------------------------------------------------------------------------------------


async def test_a_checkout_code_needs_a_valid_token(client, demo, clock) -> None:
    key = await key_of("bella", demo, clock)
    expired = await token_for("bella", demo, clock, ttl=-1)
    answer = await client.post(
        f"/widget/v1/checkout-code?key={key}&lang=pt-BR",
        json={"token": expired, "amount": 1000, "order_total": 24470},
    )
    assert answer.status_code == 401 and answer.json()["reason"] == "expired"


# --- the admin page ------------------------------------------------------------------------------------


async def test_the_owner_sets_origins_and_the_launcher_and_rotates_the_secret(app, demo, clock) -> None:
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    page = await owner.get(platform_url("/admin/b/bella/widget"))
    assert page.status_code == 200
    key = await key_of("bella", demo, clock)
    assert key in page.text and html.escape(f"{brand_url('bella', '/widget.js')}") in page.text
    assert "hmac_sha256" in page.text and "hash_hmac" in page.text and "createHmac" in page.text

    bad = await owner.post(
        platform_url("/admin/b/bella/widget"),
        data={
            "origins": "https://ok.example\nhttps://loja.example/path",
            "launcher": "1",
            "_csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "https://loja.example/path" in html.unescape(bad.text)
    assert (await widget.settings_for(demo["bella"].id, now=clock())).origins == []

    saved = await owner.post(
        platform_url("/admin/b/bella/widget"),
        data={"origins": "HTTPS://Loja.Bella.Example/\nhttp://localhost:3000", "_csrf_token": token},
    )
    assert saved.status_code == 303
    current = await widget.settings_for(demo["bella"].id, now=clock())
    assert current.origins == [STORE, "http://localhost:3000"] and current.launcher is False
    client_config = await owner.get(
        brand_url("bella", f"/widget/v1/config?key={key}"), headers={"origin": STORE}
    )
    assert client_config.json()["launcher"] is False

    old = await token_for("bella", demo, clock)
    rotated = await owner.post(platform_url("/admin/b/bella/widget/rotate"), data={"_csrf_token": token})
    assert rotated.status_code == 200
    secret = re.search(r'id="new-secret">([^<]+)<', rotated.text)[1]
    assert secret.startswith("wsk_")
    assert secret not in (await owner.get(platform_url("/admin/b/bella/widget"))).text  # shown once
    keyed = await widget.by_key(key)
    assert keyed.secret == secret
    with pytest.raises(widget.TokenRefused):
        widget.verify(keyed.secret, old, now=clock())
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_events WHERE brand = {} ORDER BY id", demo["bella"].id
        )
    ]
    assert actions == ["widget.update", "widget.rotate"]
    await owner.aclose()


async def test_bella_s_owner_cannot_touch_mare_s_widget(app, demo, clock) -> None:
    owner = await _staff(app, clock, demo, "owner")
    token = await _csrf(owner)
    before = await widget.settings_for(demo["mare"].id, now=clock())
    assert (await owner.get(platform_url("/admin/b/mare/widget"))).status_code == 404
    changed = await owner.post(
        platform_url("/admin/b/mare/widget"), data={"origins": "https://evil.example", "_csrf_token": token}
    )
    assert changed.status_code == 404
    assert (
        await owner.post(platform_url("/admin/b/mare/widget/rotate"), data={"_csrf_token": token})
    ).status_code == 404
    after = await widget.settings_for(demo["mare"].id, now=clock())
    assert after.origins == before.origins == []
    assert (await widget.by_key(after.publishable_key)) is not None
    await owner.aclose()


def test_origins_are_checked() -> None:
    assert widget.check_origin("https://Loja.Example:443/", production=True) == "https://loja.example"
    assert widget.check_origin("http://127.0.0.1:8080", production=False) == "http://127.0.0.1:8080"
    for bad in (
        "loja.example",
        "ftp://loja.example",
        "https://loja.example/x",
        "https://u:p@loja.example",
        "https://",
    ):
        with pytest.raises(widget.Invalid):
            widget.check_origin(bad, production=False)
    with pytest.raises(widget.Invalid):
        widget.check_origin("http://loja.example", production=True)


async def test_secrets_rotate_seals_the_widget_secret_again(demo, clock) -> None:
    key = await key_of("bella", demo, clock)
    secret = (await widget.by_key(key)).secret
    new = vault.decode_key(vault.new_key())
    vault.configure(new, previous=(vault.DEV_KEY,))
    assert await widget.seal_secrets() == 1
    assert await widget.seal_secrets() == 0
    widget._by_key.clear()
    vault.configure(new)  # the old key gone: the secret opens under the new one alone
    assert (await widget.by_key(key)).secret == secret


async def test_the_script_is_served_gzipped_and_cached(client, demo) -> None:
    answer = await client.get("/widget.js", headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["content-encoding"] == "gzip"
    assert "max-age=300" in answer.headers["cache-control"]
    again = await client.get("/widget.js", headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get(platform_url("/widget.js"))).status_code == 404
