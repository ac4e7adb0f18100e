"""The `retorno` command: serve, migrate, demo, brands, apikeys, sweep, makemigrations."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from retorno import db, logs, metrics, vault
from retorno.apikeys import service as apikeys
from retorno.brands import service
from retorno.brands import service as brands
from retorno.brands.pack import read_pack
from retorno.brands.pack_writer import write_pack
from retorno.club import demo as club_demo
from retorno.errors import DomainError, Invalid
from retorno.messages import settings as message_settings
from retorno.nps import demo as nps_demo
from retorno.onboarding.brand import import_brand
from retorno.points import service as points
from retorno.push import keys as push_keys
from retorno.settings import DATA_ROOT, Settings, SettingsError, load_settings
from retorno.staff import service as staff
from retorno.stores import service as stores
from retorno.vouchers import coupons
from retorno.webhooks import service as webhooks
from retorno.widget import service as widget
from retorno.worker import Retention, Worker, sweep

DEMO_PACKS = [DATA_ROOT / "branding" / "bella", DATA_ROOT / "branding" / "mare"]


async def _with_db(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Run a command's work on the configured database; a domain error is one line and exit 1."""
    async with db.connected(db.make_engine(settings)):
        try:
            return await work()
        except DomainError as exc:
            print(f"retorno: {exc.detail}", file=sys.stderr)
            return 1


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:

        await db.migrate(quiet=not args.verbose)
        sealed = await push_keys.seal_keys(only_plain=True)  # credentials stored before sealing existed
        print(
            f"migrated: {settings.engine} database is up to date"
            + (f"; {sealed} keys sealed" if sealed else "")
        )
        return 0

    return asyncio.run(_with_db(settings, work))


def _import(settings: Settings, folders: list[Path]) -> int:

    async def work() -> int:
        failed = 0
        for folder in folders:
            try:
                result = await import_brand(read_pack(folder), base_host=settings.base_host)
            except Invalid as exc:
                failed += 1
                print(f"refused {folder}: nothing was imported", file=sys.stderr)
                for problem in exc.problems:
                    print(f"  {problem}", file=sys.stderr)
                continue
            print(f"{result.status}: {result.slug} ({settings.scheme}://{result.slug}.{settings.base_host}/)")
        return 1 if failed else 0

    return asyncio.run(_with_db(settings, work))


def cmd_brands_import(settings: Settings, args: argparse.Namespace) -> int:
    return _import(settings, [Path(f) for f in args.folders])


def cmd_brands_export(settings: Settings, args: argparse.Namespace) -> int:

    async def work() -> int:
        pack = await service.export_pack(args.slug)
        write_pack(pack, Path(args.folder))
        print(f"exported {args.slug} to {args.folder}")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_apikeys_create(settings: Settings, args: argparse.Namespace) -> int:

    async def work() -> int:
        brand = await brands.get_brand(args.slug)
        created = await apikeys.create(brand_id=brand.id, name=args.name, now=dt.datetime.now(dt.UTC))
        print(f"API key for {brand.slug} (shown once; keep it in your integration's secrets):")
        print(created.key)
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_staff_add(settings: Settings, args: argparse.Namespace) -> int:
    """Give someone access to the admin: a role on a brand, or the whole platform."""

    if not args.platform_admin and not (args.brand and args.role):
        print("retorno: give --brand and --role, or --platform-admin", file=sys.stderr)
        return 2

    async def work() -> int:
        brand = await brands.get_brand(args.brand) if args.brand else None
        await staff.add_staff(
            email=args.email,
            brand_id=brand.id if brand else None,
            role=args.role,
            platform_admin=args.platform_admin,
            now=dt.datetime.now(dt.UTC),
        )
        held = [f"{args.role} of {brand.slug}"] if brand else []
        held += ["platform admin"] if args.platform_admin else []
        print(f"staff {args.email}: {', '.join(held)}")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    """Expire credits, announce available ones and queue expiry reminders (idempotent)."""

    async def work() -> int:
        done = await sweep(dt.datetime.now(dt.UTC), Retention.of(settings))
        print(
            f"expired {done['expired']} credits, announced {done['available']}, "
            f"queued {done['reminders']} reminders and {done['voucher_reminders']} voucher reminders, "
            f"purged {done['purged']} finished rows, asked {done['nps_asked']} NPS surveys"
        )
        return 0

    return asyncio.run(_with_db(settings, work))


# In development only: staff to try the admin with (sign in at /admin/login; the codes are shown at
# /dev/mailbox). Never made anywhere else.
DEMO_STAFF = (
    ("admin@retorno.example", None, None),
    ("dono@bella.example", "bella", "owner"),
    ("caixa@bella.example", "bella", "operator"),
    ("gerente@mare.example", "mare", "manager"),
)


def _demo_staff(settings: Settings) -> None:

    async def work() -> int:
        for email, slug, role in DEMO_STAFF:
            brand = await brands.get_brand(slug) if slug else None
            await staff.add_staff(
                email=email,
                brand_id=brand.id if brand else None,
                role=role,
                platform_admin=slug is None,
                now=dt.datetime.now(dt.UTC),
            )
            print(f"demo staff: {email} ({f'{role} of {slug}' if slug else 'platform admin'})")
        return 0

    asyncio.run(_with_db(settings, work))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate and import the demo brands (and, in development, demo staff): what `make run` does
    before serving."""
    cmd_migrate(settings, argparse.Namespace(verbose=False))
    failed = _import(settings, DEMO_PACKS)
    if not failed:
        _demo_club(settings)
    if not failed and settings.env == "development":
        _demo_staff(settings)
    if not failed and getattr(args, "shoppers", False):
        _demo_shoppers(settings)
    return failed


# The demo's shoppers (`retorno demo --shoppers`, as `make run` does): a few purchases in the last
# months at Bella's stores, and their answers to the NPS survey (nps/demo.py).
DEMO_SHOPPERS = (
    ("Juliana Prado", "juliana.prado@exemplo.com.br"),
    ("Marcos Teixeira", "marcos.teixeira@exemplo.com.br"),
    ("Patrícia Gomes", "patricia.gomes@exemplo.com.br"),
    ("Renata Alves", "renata.alves@exemplo.com.br"),
    ("Tiago Moreira", "tiago.moreira@exemplo.com.br"),
    ("Larissa Costa", "larissa.costa@exemplo.com.br"),
)
DEMO_CHANNELS = ("counter", "loja-paulista", "site")


def _demo_shoppers(settings: Settings) -> None:
    from retorno.customers.service import Identity
    from retorno.sales import orders
    from retorno.sales.requests import SaleIn

    async def work() -> int:
        brand = await brands.get_brand("bella")
        now = dt.datetime.now(dt.UTC)
        for i in range(18):
            name, email = DEMO_SHOPPERS[i % len(DEMO_SHOPPERS)]
            sale = SaleIn(
                order_id=f"DEMO-{1001 + i}",
                customer=Identity(email=email, name=name),
                total=8990 + 1370 * (i % 7),
                channel=DEMO_CHANNELS[i % len(DEMO_CHANNELS)],
                occurred_at=now - dt.timedelta(days=160 - 8 * i, hours=i),
            )
            try:
                await orders.record(brand=brand, sale=sale, now=now)
            except DomainError:  # recorded by an earlier `demo --shoppers` (on another day)
                continue
        added = await nps_demo.seed(brand_id=brand.id, now=now)
        if added:
            print(f"demo shoppers: {len(DEMO_SHOPPERS)} with purchases and {added} NPS surveys for bella")
        return 0

    asyncio.run(_with_db(settings, work))


def _demo_club(settings: Settings) -> None:
    """A few partner benefits in the demo brands' clubs (club/demo.py) and a few public coupons
    (vouchers/coupons.py), once."""

    async def work() -> int:
        for folder in DEMO_PACKS:
            brand = await brands.get_brand(folder.name)
            added = await club_demo.seed(
                brand_id=brand.id, slug=brand.slug, timezone=brand.timezone, now=dt.datetime.now(dt.UTC)
            )
            if added:
                print(f"demo club: {added} benefits for {brand.slug}")
            made = await coupons.seed_demo(brand_id=brand.id, slug=brand.slug, now=dt.datetime.now(dt.UTC))
            if made:
                print(f"demo coupons: {made} for {brand.slug}")
            rewards = await points.seed_demo(brand_id=brand.id, slug=brand.slug, now=dt.datetime.now(dt.UTC))
            if rewards:
                print(f"demo rewards: {rewards} for {brand.slug}")
            pack = await brands.export_pack(brand.slug)
            if brand.slug in points.DEMO_POINTS and pack.rules.points is None:
                rules = msgspec.structs.replace(
                    pack.rules, program="both", points=points.DEMO_POINTS[brand.slug]
                )
                await import_brand(
                    msgspec.structs.replace(pack, rules=rules),
                    base_host=settings.base_host,
                    now=dt.datetime.now(dt.UTC),
                )
                print(f"demo points: on for {brand.slug}")
        return 0

    asyncio.run(_with_db(settings, work))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    # The web app, uvicorn and Piccolo's own CLI are imported by the commands that use them: the
    # others (the worker, `staff add`, ...) start in half the time (1.6 s instead of 2.4 here).
    import uvicorn

    from retorno.app import asgi

    worker = runs_worker(settings, args)
    if not 1 <= args.workers <= 64:
        print("retorno: --workers takes 1 to 64 processes", file=sys.stderr)
        return 2
    metrics.share_between(settings.metrics_dir)  # the processes' /metrics add up (they inherit it)
    if args.workers > 1:
        # uvicorn's process model: a supervisor and N processes, each building the app itself
        # (app.serve_from_env) from the environment, which they inherit.
        os.environ["RETORNO_SERVE_WORKER"] = "1" if worker else "0"
        os.environ["RETORNO_SERVE_QUIET"] = "1" if args.quiet else "0"
    app: Any = "retorno.app:serve_from_env" if args.workers > 1 else asgi(settings, worker=worker)
    if args.urls:
        scheme, base = settings.scheme, settings.base_host
        print(f"\nRetorno is up on {scheme}://{base}/ (platform)")
        for folder in DEMO_PACKS:
            print(f"  {folder.name}: {scheme}://{folder.name}.{base}/")
        print(f"  admin: {scheme}://{base}/admin/login (retorno staff add <email> --platform-admin)")
        if settings.env == "development":
            print(f"  demo staff: {', '.join(email for email, _, _ in DEMO_STAFF)}")
        if settings.env == "development":
            print(f"  sign-in codes (development): {scheme}://{base}/dev/mailbox")
        print()
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers if args.workers > 1 else None,
        host=args.host,
        port=args.port,
        log_level="warning" if args.quiet else "info",
        log_config=None,  # the handler logs.configure set up: one format, redacted
        access_log=False,  # the app writes its own request line (the route, never the path)
        proxy_headers=False,  # asgi() trusts X-Forwarded-* from RETORNO_TRUSTED_PROXIES only
    )
    return 0


def runs_worker(settings: Settings, args: argparse.Namespace) -> bool:
    """Whether `serve` runs the background worker in its processes: `--worker` or `--no-worker`
    when given; otherwise yes in development and tests (`make run` is one command), no in
    production, where `retorno worker` processes do it."""
    if args.worker is not None:
        return bool(args.worker)
    return not settings.production


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """A worker on its own: sweeps, the outbox, push notifications (several may run at once)."""

    metrics.share_between(settings.metrics_dir)  # its deliveries count in the app's /metrics

    async def work() -> int:
        worker = Worker(
            lease=args.lease,
            timeout=args.timeout,
            batch=args.batch,
            backoff=args.backoff,
            retention=Retention.of(settings),
        )
        async with worker:
            if args.until_idle:
                await worker.drain()
                return 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await worker.run(stop)
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_secrets_rotate(settings: Settings, args: argparse.Namespace) -> int:
    """Seal every stored credential again under RETORNO_DATA_KEY (opening older ones with
    RETORNO_DATA_KEYS_PREVIOUS); idempotent, so it may be run again after a failure."""

    async def work() -> int:
        try:
            resealed = (
                await push_keys.seal_keys()
                + await webhooks.seal_secrets()
                + await widget.seal_secrets()
                + await stores.seal_secrets()
                + await message_settings.seal_secrets()
            )
        except vault.VaultError as exc:
            print(f"retorno: nothing changed: {exc}", file=sys.stderr)
            return 1
        print(f"{resealed} stored credentials sealed under the current data key")
        return 0

    return asyncio.run(_with_db(settings, work))


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite database, taken while the app serves."""
    from retorno import backup

    try:
        size = backup.backup(settings.database_url, Path(args.file))
    except Invalid as exc:
        print(f"retorno: {exc.detail}", file=sys.stderr)
        return 2
    print(f"backup: {args.file} ({size:,} bytes)")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Put a backup in place of the SQLite database (stop the app and the workers first)."""
    from retorno import backup

    if not args.yes:
        print("restore replaces the whole database: stop the app and the workers, then run it with --yes")
        return 2
    try:
        backup.restore(settings.database_url, Path(args.file))
    except Invalid as exc:
        print(f"retorno: {exc.detail}", file=sys.stderr)
        return 2
    print(f"restored: {args.file}")
    return 0


def cmd_secrets_new_key(settings: Settings, args: argparse.Namespace) -> int:

    print(vault.new_key())
    return 0


def cmd_makemigrations(settings: Settings, args: argparse.Namespace) -> int:
    """Generate a domain's next migration with Piccolo, against PostgreSQL (SQLite's is partial)."""
    if settings.engine != "postgres":
        print(
            "retorno: set RETORNO_DATABASE_URL to a PostgreSQL database to generate migrations",
            file=sys.stderr,
        )
        return 2

    from piccolo.main import main as piccolo

    db.use(db.make_engine(settings))
    sys.argv = ["piccolo", "migrations", "new", args.domain, "--auto", "--desc", args.desc]
    piccolo()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="retorno", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--quiet", action="store_true", help="log warnings only")
    s.add_argument("--urls", action="store_true", help="print the demo brands' URLs first")
    s.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the background worker in the server's processes (default: yes, except in production)",
    )
    s.add_argument(
        "--workers", type=int, default=1, help="app processes (uvicorn's process model; default 1)"
    )
    s.set_defaults(func=cmd_serve)

    sec = sub.add_parser("secrets", help="the data key that seals stored credentials").add_subparsers(
        dest="action", required=True
    )
    sec.add_parser("rotate", help="seal every stored credential again under RETORNO_DATA_KEY").set_defaults(
        func=cmd_secrets_rotate
    )
    sec.add_parser("new-key", help="print a fresh key for RETORNO_DATA_KEY").set_defaults(
        func=cmd_secrets_new_key
    )

    m = sub.add_parser("migrate", help="apply pending database migrations")
    m.add_argument("--verbose", action="store_true")
    m.set_defaults(func=cmd_migrate)

    mm = sub.add_parser("makemigrations", help="generate a domain's next migration (PostgreSQL)")
    mm.add_argument("domain")
    mm.add_argument("--desc", default="changes")
    mm.set_defaults(func=cmd_makemigrations)

    d = sub.add_parser("demo", help="migrate, then import the demo brand packs")
    d.add_argument(
        "--shoppers", action="store_true", help="and a few demo shoppers, purchases and NPS answers"
    )
    d.set_defaults(func=cmd_demo)

    k = sub.add_parser("apikeys", help="integration API keys").add_subparsers(dest="action", required=True)
    kc = k.add_parser("create", help="create a key for a brand (printed once)")
    kc.add_argument("slug")
    kc.add_argument("--name", default="")
    kc.set_defaults(func=cmd_apikeys_create)

    st = sub.add_parser("staff", help="admin users").add_subparsers(dest="action", required=True)
    sa = st.add_parser("add", help="add a staff member (signs in at /admin/login with an e-mail code)")
    sa.add_argument("email")
    sa.add_argument("--brand")
    sa.add_argument("--role", choices=["owner", "manager", "operator"])
    sa.add_argument("--platform-admin", action="store_true")
    sa.set_defaults(func=cmd_staff_add)

    w = sub.add_parser("worker", help="run a worker: sweeps, the outbox and push notifications")
    w.add_argument("--batch", type=int, default=100, help="notifications sent at once (default 100)")
    w.add_argument("--lease", type=float, default=60.0, help="seconds a claimed batch is held (default 60)")
    w.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a push service (<= 10)")
    w.add_argument("--backoff", type=float, default=30.0, help="first retry delay in seconds (default 30)")
    w.add_argument("--until-idle", action="store_true", help="stop when nothing is due")
    w.set_defaults(func=cmd_worker)

    bk = sub.add_parser("backup", help="a consistent copy of the SQLite database, while the app serves")
    bk.add_argument("file")
    bk.set_defaults(func=cmd_backup)
    rs = sub.add_parser("restore", help="put a backup in place of the SQLite database (app stopped)")
    rs.add_argument("file")
    rs.add_argument("--yes", action="store_true", help="yes, replace the whole database")
    rs.set_defaults(func=cmd_restore)

    sw = sub.add_parser("sweep", help="expire credits and queue availability and expiry notices")
    sw.set_defaults(func=cmd_sweep)

    b = sub.add_parser("brands", help="import or export brand packs").add_subparsers(
        dest="action", required=True
    )
    bi = b.add_parser("import", help="create or update brands from pack folders (idempotent)")
    bi.add_argument("folders", nargs="+")
    bi.set_defaults(func=cmd_brands_import)
    be = b.add_parser("export", help="write a brand back to a pack folder")
    be.add_argument("slug")
    be.add_argument("folder")
    be.set_defaults(func=cmd_brands_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"retorno: {exc}", file=sys.stderr)
        return 2

    settings.configure_vault()
    if args.func in (cmd_serve, cmd_worker, cmd_sweep):  # the long-running ones log; the rest print
        quiet = getattr(args, "quiet", False)
        logs.configure(json=settings.log_format == "json", level=logging.WARNING if quiet else logging.INFO)
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
