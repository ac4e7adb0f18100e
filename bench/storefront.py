"""The site widget's read-only endpoints and the Shopify webhook receiver under load, as ratios
to a bare Litestar app and to `/healthz` of the real app, both measured moments before in the
same round.

1. The widget on bella's host, from an allowed store origin (`Origin: https://loja.bella.example`,
   so CORS answers as in production): `GET /widget/v1/config`, `GET /widget/v1/quote/product`
   (12 products, as a listing page asks), `POST /widget/v1/quote/cart` without a token and with a
   valid shopper token (a shopper with 10 sales). Throughput at 16 connections, then p50/p99
   latency at 4 connections (the issue asks for "well under 50 ms").
2. `POST /api/hooks/shopify/bella` (bella connected to Shopify with `stores.service.connect`):
   signed `orders/paid` bodies made from tests/fixtures/platforms/shopify/orders_paid.json, each
   with its own order id, X-Shopify-Webhook-Id and shopper (1,000 e-mails), pre-generated and
   signed here (HMAC needs the body) and cycled by a wrk Lua script, 8 connections. Sales are
   counted in the database after each round: sales recorded per second, and every delivery must
   be `accepted`. Then redeliveries: one delivery id already handled, posted again and again.

    .venv/bin/python bench/storefront.py [--seconds 4] [--latency-seconds 3] [--rounds 3]
    .venv/bin/python bench/storefront.py --database-url postgresql://postgres@127.0.0.1:5432/retorno_h7

`--database-url` runs on that PostgreSQL database instead of a throw-away SQLite file; it is
EMPTIED first (DROP SCHEMA public CASCADE). The app server (`retorno serve`) and the bare app
(uvicorn with the same options) are pinned to CPU 0, wrk to CPU 1 (harness.py). Needs wrk,
taskset (and psql for --database-url).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness import REPO, SERVER_CPU, BenchError, Result, Server, _free_port, seed_history, sqlite_server

BRAND = "bella"
ORIGIN = "https://loja.bella.example"
SHOP = "loja-retorno.myshopify.com"
HOOK_SECRET = "shpss_bench_secret"
SHOPPER = "shopper@example.com"
FIXTURE = REPO / "tests" / "fixtures" / "platforms" / "shopify" / "orders_paid.json"
HOOK_PATH = f"/api/hooks/shopify/{BRAND}"
PRODUCTS = "&".join(
    f"p={price}" + (f":{cat}" if cat else "")
    for price, cat in [
        (12990, "maquiagem"),
        (4990, None),
        (8990, "perfumaria"),
        (2590, None),
        (15990, "maquiagem"),
        (3990, "cabelos"),
        (6990, None),
        (9990, "perfumaria"),
        (1990, None),
        (22990, "maquiagem"),
        (5490, "cabelos"),
        (7490, None),
    ]
)
CART = {
    "total": 24470,
    "shipping": 1500,
    "items": [
        {"sku": "BAT-01", "category": "maquiagem", "amount": 12990},
        {"sku": "SHA-02", "category": "cabelos", "amount": 9980},
    ],
}

# Cycles pre-signed bodies: one per line, "<webhook id>\t<signature>\t<body>".
HOOKS_LUA = r"""
local hooks, n, i = {}, 0, 0
init = function(args)
  for line in io.lines(args[1]) do
    local id, sig, body = string.match(line, "^([^\t]*)\t([^\t]*)\t(.*)$")
    n = n + 1
    hooks[n] = {id = id, sig = sig, body = body}
  end
end
request = function()
  i = i % n + 1
  local h = hooks[i]
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/paid",
    ["X-Shopify-Shop-Domain"] = "loja-retorno.myshopify.com",
    ["X-Shopify-Webhook-Id"] = h.id,
    ["X-Shopify-Hmac-Sha256"] = h.sig,
  }, h.body)
end
"""

# One fixed POST (a cart quote, a redelivery): the body from a file, the headers from wrk -H.
POST_LUA = r"""
init = function(args)
  local f = io.open(args[1], "rb")
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
end
"""

# --- the servers ----------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A bare Litestar app (one JSON handler), run by uvicorn as `retorno serve` runs the app."""
    import uvicorn
    from litestar import Litestar, get

    @get("/", sync_to_thread=False)
    def hello() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(Litestar([hello]), host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def bare_server(tmp: Path) -> Iterator[Server]:
    port = _free_port()
    server = Server(port=port, env=dict(os.environ), python=sys.executable, tmp=tmp)
    server.process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, sys.executable, __file__, "--serve-bare", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if server.get(server.platform_host, "/") == 200:
                    break
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise BenchError("the bare Litestar app did not answer")
            time.sleep(0.1)
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


RESET_SQL = "DROP SCHEMA public CASCADE; CREATE SCHEMA public"


def reset_postgres(url: str) -> None:
    subprocess.run(
        ["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", RESET_SQL],
        check=True,
        capture_output=True,
    )


# --- seeding ----------------------------------------------------------------------------------------


def prepare(server: Server) -> None:
    """The shopper's sales; bella's widget (a store origin, a secret we know); bella on Shopify."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.settings import load_settings
    from retorno.stores import service as stores
    from retorno.widget import service as widget

    seed_history(server, SHOPPER, 10, slug=BRAND)

    async def work() -> tuple[str, str]:
        now = dt.datetime.now(dt.UTC)
        async with db.connected(db.make_engine(load_settings(server.env))):
            brand = await brands.get_brand(BRAND)
            view = await widget.update(brand_id=brand.id, now=now, production=False, origins=[ORIGIN])
            secret = await widget.rotate_secret(brand_id=brand.id, now=now)
            await stores.connect(
                brand_id=brand.id,
                platform="shopify",
                shop=SHOP,
                secret=HOOK_SECRET,
                access_token="",
                checkout_codes=False,
                production=False,
                now=now,
            )
            return view.publishable_key, secret

    key, secret = asyncio.run(work())
    server.key = key
    exp = int(time.time()) + 20 * 3600  # at most 24 hours ahead
    (server.tmp / "token").write_text(widget.sign(secret, f"email:{SHOPPER}", exp))


def hook_bodies(path: Path, prefix: str, count: int, base: int) -> None:
    """`count` signed orders/paid deliveries, each its own order, delivery id and shopper."""
    order = json.loads(FIXTURE.read_text())
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    with path.open("w") as out:
        for i in range(count):
            email, phone = f"comprador{i % 1000}@example.com.br", f"+55119{i % 1000:08d}"
            order["id"] = base + i
            order["name"] = f"#{base + i}"
            order["email"] = order["contact_email"] = order["customer"]["email"] = email
            order["phone"] = order["customer"]["phone"] = order["billing_address"]["phone"] = phone
            order["created_at"] = order["processed_at"] = order["updated_at"] = at
            body = json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode()
            sig = base64.b64encode(hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
            out.write(f"{prefix}-{i}\t{sig}\t{body.decode()}\n")


def deliveries(server: Server, prefix: str) -> dict[str, int]:
    """Outcomes of the deliveries whose id starts with `prefix`, and the Shopify sales in all."""
    from retorno import db
    from retorno.settings import load_settings

    async def work() -> dict[str, int]:
        async with db.connected(db.make_engine(load_settings(server.env))):
            rows = await db.fetch(
                "SELECT outcome, COUNT(*) AS n FROM store_deliveries WHERE delivery_id LIKE {} "
                "GROUP BY outcome",
                f"{prefix}-%",
            )
            sales = await db.fetch("SELECT COUNT(*) AS n FROM sales WHERE order_id LIKE {}", "shopify:%")
            return {r["outcome"]: int(r["n"]) for r in rows} | {"sales": int(sales[0]["n"])}

    return asyncio.run(work())


# --- measuring --------------------------------------------------------------------------------------


def widget_paths(server: Server) -> list[tuple[str, str, Path | None, dict[str, str]]]:
    """(label, path, POST body file or None, headers) of each widget endpoint measured."""
    key, token = server.key, (server.tmp / "token").read_text()
    origin = {"Origin": ORIGIN, "Accept-Language": "pt-BR"}
    post = origin | {"Content-Type": "application/json"}
    plain, signed = server.tmp / "cart.json", server.tmp / "cart-token.json"
    plain.write_text(json.dumps(CART))
    signed.write_text(json.dumps(CART | {"token": token}))
    return [
        ("widget config", f"/widget/v1/config?key={key}&lang=pt-BR", None, origin),
        ("product quote (12 products)", f"/widget/v1/quote/product?key={key}&{PRODUCTS}", None, origin),
        ("cart quote, no token", f"/widget/v1/quote/cart?key={key}", plain, post),
        ("cart quote, shopper token", f"/widget/v1/quote/cart?key={key}", signed, post),
    ]


def check_widget(server: Server, path: str, body: Path | None, headers: dict[str, str]) -> None:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=body.read_bytes() if body else None,
        headers={"Host": server.brand_host(BRAND), **headers},
        method="POST" if body else "GET",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # raises on 4xx/5xx
        answer = json.loads(response.read())
        if response.headers.get("access-control-allow-origin") != ORIGIN:
            raise BenchError(f"{path}: no CORS answer for {ORIGIN}")
    if body is not None and "token" in json.loads(body.read_text()) and not answer.get("shopper"):
        raise BenchError(f"the shopper token was refused: {answer}")


def run_wrk(server: Server, host: str, path: str, seconds: int, body: Path | None, headers, **kw) -> Result:
    script = None
    if body is not None:
        script = server.tmp / "post.lua"
        script.write_text(POST_LUA)
        kw["script_args"] = [str(body)]
    r = server.wrk(host, path, seconds, headers=headers, script=script, **kw)
    if r.errors:
        raise BenchError(f"{r.errors} errors on {host}{path}")
    return r


def measure(app: Server, bare: Server, args: argparse.Namespace) -> str:
    brand, platform = app.brand_host(BRAND), app.platform_host
    paths = widget_paths(app)
    for _, path, body, headers in paths:
        check_widget(app, path, body, headers)
        run_wrk(app, brand, path, 1, body, headers)
    run_wrk(app, platform, "/healthz", 1, None, {})
    run_wrk(bare, bare.platform_host, "/", 1, None, {})
    hooks_lua = app.tmp / "hooks.lua"
    hooks_lua.write_text(HOOKS_LUA)
    # the delivery the redeliveries repeat, and a warm-up of the receiver
    hook_bodies(app.tmp / "warm.tsv", "warm", 200, 9 * 10**8)
    app.wrk(platform, HOOK_PATH, 1, connections=8, script=hooks_lua, script_args=[str(app.tmp / "warm.tsv")])
    first = (app.tmp / "warm.tsv").read_text().splitlines()[0]
    redelivery_id, redelivery_sig, redelivery_body = first.split("\t", 2)
    (app.tmp / "redelivery.json").write_text(redelivery_body)
    redelivery_headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": redelivery_id,
        "X-Shopify-Hmac-Sha256": redelivery_sig,
    }

    labels = ["bare Litestar app", "`/healthz`"] + [p[0] for p in paths] + ["webhook: new sale", "redelivery"]
    results: dict[str, list[Result]] = {label: [] for label in labels}
    latency: dict[str, list[Result]] = {p[0]: [] for p in paths}
    ratios: dict[str, list[tuple[float, float]]] = {label: [] for label in labels[1:]}
    sales_rate: list[float] = []
    count = max(4000, 1500 * args.seconds)
    for round_no in range(1, args.rounds + 1):
        prefix = f"r{round_no}-{os.getpid()}"
        hook_bodies(app.tmp / "hooks.tsv", prefix, count, round_no * 10**8)
        b = run_wrk(bare, bare.platform_host, "/", args.seconds, None, {})
        h = run_wrk(app, platform, "/healthz", args.seconds, None, {})
        measured: dict[str, Result] = {"bare Litestar app": b, "`/healthz`": h}
        for label, path, body, headers in paths:
            measured[label] = run_wrk(app, brand, path, args.seconds, body, headers)
            latency[label].append(
                run_wrk(app, brand, path, args.latency_seconds, body, headers, connections=4, latency=True)
            )
        before = deliveries(app, prefix)["sales"]
        hook = app.wrk(
            platform,
            HOOK_PATH,
            args.seconds,
            connections=8,
            script=hooks_lua,
            script_args=[str(app.tmp / "hooks.tsv")],
            latency=True,
        )
        time.sleep(0.5)  # what was in flight when wrk stopped is written by now
        done = deliveries(app, prefix)
        total = sum(v for k, v in done.items() if k != "sales")
        if hook.errors or done.get("accepted", 0) != total or total >= count:
            raise BenchError(f"round {round_no}: {hook.errors} errors, outcomes {done} of {count} bodies")
        new_sales = done["sales"] - before
        if not total <= new_sales <= total + 8:  # a sale is written just before its delivery row
            raise BenchError(f"round {round_no}: {total} deliveries accepted, {new_sales} sales recorded")
        sales_rate.append(hook.rps * new_sales / total)  # every delivery answered made one sale
        measured["webhook: new sale"] = hook
        measured["redelivery"] = run_wrk(
            app,
            platform,
            HOOK_PATH,
            args.seconds,
            app.tmp / "redelivery.json",
            redelivery_headers,
            connections=8,
            latency=True,
        )
        for label, r in measured.items():
            results[label].append(r)
            if label in ratios:
                ratios[label].append((r.rps / b.rps, r.rps / h.rps))
        print(
            f"round {round_no}: "
            + ", ".join(f"{k} {v.rps:,.0f}/s" for k, v in measured.items())
            + f"; {new_sales:,} sales",
            file=sys.stderr,
        )

    def med(values) -> float:
        return statistics.median(values)

    n = args.rounds
    bare_rps = med(r.rps for r in results[labels[0]])
    lines = [
        f"| endpoint | req/s (median) | ratio to bare Litestar (median of {n}) "
        f"| ratio to `/healthz` (median of {n}) | p50 ms | p99 ms | p99 ms, worst round | latency at |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| bare Litestar app (one JSON handler) | {bare_rps:,.0f} | 1.00 | | | | | |",
    ]
    for label in labels[1:]:
        runs = results[label]
        rps = med(r.rps for r in runs)
        rb, rh = med(x[0] for x in ratios[label]), med(x[1] for x in ratios[label])
        if label == "`/healthz`":
            lines.append(f"| {label} (platform host, no query) | {rps:,.0f} | {rb:.2f} | 1.00 | | | | |")
            continue
        lat = latency.get(label, runs)
        p50, p99 = med(r.p50_ms for r in lat), med(r.p99_ms for r in lat)
        worst = max(r.p99_ms for r in lat)
        where = "4 conn." if label in latency else "8 conn."
        lines.append(
            f"| {label} | {rps:,.0f} | {rb:.2f} | {rh:.2f} | {p50:.1f} | {p99:.1f} | {worst:.1f} | {where} |"
        )
    lines.append(
        f"\nWebhooks: {med(sales_rate):,.0f} sales recorded per second (median of {n}; rounds "
        + ", ".join(f"{s:,.0f}" for s in sales_rate)
        + "), every delivery accepted, each its own order."
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=4, help="each throughput measurement (default 4)")
    p.add_argument("--latency-seconds", type=int, default=3, help="each latency measurement at 4 connections")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--database-url", help="a PostgreSQL database to use instead (it is emptied first)")
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    settings = {}
    if args.database_url:
        if not args.database_url.startswith("postgres"):
            raise SystemExit("--database-url: a postgresql:// URL")
        reset_postgres(args.database_url)
        settings["RETORNO_DATABASE_URL"] = args.database_url
    with sqlite_server(prepare=prepare, **settings) as app, bare_server(app.tmp) as bare:
        print(measure(app, bare, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
