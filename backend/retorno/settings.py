"""Settings come from the environment and nowhere else; this is the only module that reads it."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from retorno import vault

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the source checkout (not an installed wheel's)


def _data_root() -> Path:
    """Where frontend/, service_worker/ and branding/ are: the checkout's top-level folders, or
    the copies a built wheel carries in retorno/share/ (setup.py)."""
    share = Path(__file__).resolve().parent / "share"
    return share if share.is_dir() else PROJECT_ROOT


DATA_ROOT = _data_root()
INSTALLED = DATA_ROOT != PROJECT_ROOT  # from a wheel: no checkout around the package


def default_var_dir() -> str:
    """The checkout's var/, as ever; installed from a wheel, var/ in the current folder (the
    package's own folder is no place for a database)."""
    return str(Path.cwd() / "var" if INSTALLED else PROJECT_ROOT / "var")


DEV_SECRET = "dev-insecure-secret-change-me-in-production"  # noqa: S105 - refused in production
ENVIRONMENTS = ("development", "test", "production")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")


class SettingsError(Exception):
    """A bad environment value: one line naming the variable, printed at start-up."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    base_host: str = "localhost:8000"
    secret_key: str = DEV_SECRET
    env: str = "development"
    trusted_proxies: tuple[str, ...] = ()
    var_dir: str = msgspec.field(default_factory=default_var_dir)
    smtp_url: str = ""  # empty: mail is kept in memory (and shown at /dev/mailbox in development)
    mail_from: str = ""
    smtp_ca_file: str = ""  # a private relay's CA bundle; empty: the system's trusted CAs
    smtp_connections: int = 32  # at most this many connections to the relay at once, per process
    retention_days: int = 30  # expired sessions, sign-in codes, challenges, rate limits
    event_retention_days: int = 90  # delivered outbox events and push deliveries
    log_format: str = "text"  # or json: one object per line
    data_key: str = ""  # seals stored credentials (vault.py); empty: the development key
    data_keys_previous: tuple[str, ...] = ()  # older keys, to open what they sealed until rotated
    sqlite_synchronous: str = "FULL"  # NORMAL is faster, and may lose acknowledged writes on power loss
    # Webhooks may reach loopback, private and link-local addresses (never cloud metadata ones)
    # and plain http in production: for tests and a receiver on the deployment's own network.
    webhooks_allow_private: bool = False
    # The store platforms' APIs (stores/clients.py): Shopify's is on each shop's own domain unless
    # this is set (a local fake in the tests); Nuvemshop's is one address for every store.
    shopify_api_url: str = ""
    nuvemshop_api_url: str = "https://api.nuvemshop.com.br"
    whatsapp_api_url: str = "https://graph.facebook.com"  # the WhatsApp Cloud API (a fake in the tests)
    # "transaction": PostgreSQL is reached through PgBouncer in transaction pooling mode, where a
    # prepared statement made on one server connection is not there on the next (db.make_engine).
    database_pooling: str = ""
    # Who may read /metrics: addresses or networks (the Prometheus server's); this machine by default.
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    metrics_dir: str = ""  # where the processes of `serve` and `worker` add up their samples

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def engine(self) -> str:
        return "postgres" if self.database_url.startswith("postgres") else "sqlite"

    @property
    def scheme(self) -> str:
        """Brand origins are https in production; *.localhost is a secure context over http."""
        return "https" if self.production else "http"

    @property
    def cookie_prefix(self) -> str:
        """__Host- cookies (Secure, no Domain, Path=/) in production; plain names over http."""
        return "__Host-" if self.production else ""

    def configure_vault(self) -> None:
        """Hand the data keys to the vault (the app and every command do, at start-up)."""
        vault.configure(
            vault.decode_key(self.data_key) if self.data_key else vault.DEV_KEY,
            tuple(vault.decode_key(k) for k in self.data_keys_previous),
        )

    def __repr__(self) -> str:  # the secret never reaches a log
        return f"Settings(env={self.env!r}, base_host={self.base_host!r}, engine={self.engine!r})"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every RETORNO_* variable; raise SettingsError naming the first bad one."""
    env = os.environ if environ is None else environ
    var_dir = env.get("RETORNO_VAR_DIR", "") or default_var_dir()

    mode = env.get("RETORNO_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise SettingsError(f"RETORNO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")

    url = env.get("RETORNO_DATABASE_URL", "") or f"sqlite:///{var_dir}/retorno.sqlite3"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if not (url.startswith("sqlite:///") or url.startswith("postgresql://")):
        raise SettingsError(
            f"RETORNO_DATABASE_URL must start with sqlite:/// or postgresql://, not {url.split(':', 1)[0]!r}"
        )
    if url.startswith("sqlite:///") and len(url) == len("sqlite:///"):
        raise SettingsError("RETORNO_DATABASE_URL names no SQLite file (sqlite:///path/to/file)")

    base_host = env.get("RETORNO_BASE_HOST", "localhost:8000").strip().lower()
    if not _HOST.match(base_host):
        raise SettingsError(f"RETORNO_BASE_HOST must be a host name with an optional port, not {base_host!r}")

    secret = env.get("RETORNO_SECRET_KEY", DEV_SECRET)
    if mode == "production" and secret == DEV_SECRET:
        raise SettingsError("RETORNO_SECRET_KEY is the development default; set a secret of your own")
    if len(secret) < 32:
        raise SettingsError("RETORNO_SECRET_KEY must be at least 32 characters long")

    proxies = tuple(p.strip() for p in env.get("RETORNO_TRUSTED_PROXIES", "").split(",") if p.strip())
    for proxy in proxies:
        if not re.match(r"^[0-9a-fA-F:.]+$", proxy):
            raise SettingsError(f"RETORNO_TRUSTED_PROXIES: {proxy!r} is not an IP address")

    smtp_url = env.get("RETORNO_SMTP_URL", "").strip()
    if smtp_url:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SettingsError(
                "RETORNO_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465"
            )
    smtp_ca_file = env.get("RETORNO_SMTP_CA_FILE", "").strip()
    smtp_connections = env.get("RETORNO_SMTP_CONNECTIONS", "32").strip()
    if not smtp_connections.isdigit() or not 1 <= int(smtp_connections) <= 200:
        raise SettingsError(
            f"RETORNO_SMTP_CONNECTIONS must be a whole number from 1 to 200, not {smtp_connections!r}"
        )
    if smtp_ca_file and not Path(smtp_ca_file).is_file():
        raise SettingsError(f"RETORNO_SMTP_CA_FILE: no file at {smtp_ca_file!r}")
    mail_from = env.get("RETORNO_MAIL_FROM", "").strip() or f"nao-responda@{base_host.split(':')[0]}"
    if "@" not in mail_from:
        raise SettingsError(f"RETORNO_MAIL_FROM must be an e-mail address, not {mail_from!r}")

    retention = {}
    for name, default in (("RETORNO_RETENTION_DAYS", 30), ("RETORNO_EVENT_RETENTION_DAYS", 90)):
        raw = env.get(name, "").strip() or str(default)
        if not raw.isdigit() or not 1 <= int(raw) <= 3650:
            raise SettingsError(f"{name} must be a number of days from 1 to 3650, not {raw!r}")
        retention[name] = int(raw)

    synchronous = env.get("RETORNO_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
    if synchronous not in ("FULL", "NORMAL"):
        raise SettingsError(f"RETORNO_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {synchronous!r}")

    data_key = env.get("RETORNO_DATA_KEY", "").strip()
    previous = tuple(k.strip() for k in env.get("RETORNO_DATA_KEYS_PREVIOUS", "").split(",") if k.strip())
    if mode == "production" and not data_key:
        raise SettingsError("RETORNO_DATA_KEY is required in production (make one: retorno secrets new-key)")
    for name, key in [("RETORNO_DATA_KEY", data_key)] * bool(data_key) + [
        ("RETORNO_DATA_KEYS_PREVIOUS", k) for k in previous
    ]:
        try:
            vault.decode_key(key)
        except ValueError as exc:
            raise SettingsError(f"{name} must be 32 random bytes in base64url ({exc})") from None
    if data_key and data_key == secret:
        raise SettingsError("RETORNO_DATA_KEY must not be the session secret (RETORNO_SECRET_KEY)")

    log_format = env.get("RETORNO_LOG_FORMAT", "text").strip().lower()
    if log_format not in ("text", "json"):
        raise SettingsError(f"RETORNO_LOG_FORMAT must be text or json, not {log_format!r}")

    allow_private = env.get("RETORNO_WEBHOOKS_ALLOW_PRIVATE", "").strip().lower()
    if allow_private not in ("", "0", "1", "false", "true"):
        raise SettingsError(f"RETORNO_WEBHOOKS_ALLOW_PRIVATE must be 1 or 0, not {allow_private!r}")

    platform_urls: dict[str, str] = {}
    for variable, fallback in (
        ("RETORNO_SHOPIFY_API_URL", ""),
        ("RETORNO_NUVEMSHOP_API_URL", "https://api.nuvemshop.com.br"),
        ("RETORNO_WHATSAPP_API_URL", "https://graph.facebook.com"),
    ):
        address = env.get(variable, fallback).strip().rstrip("/")
        if address and not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d+)?(/[\w.\-/]*)?", address):
            raise SettingsError(f"{variable} must be an http(s) address, not {address!r}")
        platform_urls[variable] = address

    pooling = env.get("RETORNO_DATABASE_POOLING", "").strip().lower()
    if pooling not in ("", "transaction"):
        raise SettingsError(f"RETORNO_DATABASE_POOLING must be empty or transaction, not {pooling!r}")
    if not url.startswith("postgresql://"):
        pooling = ""  # PgBouncer pools PostgreSQL's connections; a SQLite file has none to pool

    metrics_allow: list[str] = []
    for item in env.get("RETORNO_METRICS_ALLOW", "127.0.0.1,::1").split(","):
        if not item.strip():
            continue
        try:
            metrics_allow.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise SettingsError(
                f"RETORNO_METRICS_ALLOW: {item.strip()!r} is not an IP address or network"
            ) from None

    return Settings(
        database_url=url,
        base_host=base_host,
        secret_key=secret,
        env=mode,
        trusted_proxies=proxies,
        var_dir=var_dir,
        smtp_url=smtp_url,
        mail_from=mail_from,
        smtp_ca_file=smtp_ca_file,
        smtp_connections=int(smtp_connections),
        retention_days=retention["RETORNO_RETENTION_DAYS"],
        event_retention_days=retention["RETORNO_EVENT_RETENTION_DAYS"],
        sqlite_synchronous=synchronous,
        log_format=log_format,
        data_key=data_key,
        data_keys_previous=previous,
        webhooks_allow_private=allow_private in ("1", "true"),
        shopify_api_url=platform_urls["RETORNO_SHOPIFY_API_URL"],
        nuvemshop_api_url=platform_urls["RETORNO_NUVEMSHOP_API_URL"],
        whatsapp_api_url=platform_urls["RETORNO_WHATSAPP_API_URL"],
        database_pooling=pooling,
        metrics_allow=tuple(metrics_allow),
        metrics_dir=env.get("RETORNO_METRICS_DIR", "").strip() or f"{var_dir}/metrics",
    )
