"""Brands: resolve a request's host to its brand, import and export brand packs, serve assets."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nh3
from markdown_it import MarkdownIt
from piccolo.columns import Column

from retorno import cache, db
from retorno.brands import images, palette
from retorno.brands.pack import BANNER_FILE, Contact, Pack, Theme
from retorno.brands.rules import Rules
from retorno.brands.tables import Brand, BrandAsset, BrandHost, Regulations
from retorno.cache import TTLCache
from retorno.errors import Field, Invalid, NotFound

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_ALLOWED_TAGS = {
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "a",
    "blockquote",
    "code",
    "pre",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


class BrandView(msgspec.Struct, frozen=True, kw_only=True):
    """What a request needs of its brand; `rules_json` is decoded only where rules are used."""

    id: int
    slug: str
    name: str
    short_name: str
    locale: str
    currency: str
    timezone: str
    primary_color: str
    accent_color: str
    background_color: str
    font: str = "system"
    corners: str = "round"
    banner_width: int = 0  # 0: no banner
    banner_height: int = 0
    contact_email: str
    contact_whatsapp: str
    contact_phone: str
    contact_hours: str
    app_version: int
    rules_json: str = "{}"

    @property
    def on_primary(self) -> str:
        return images.text_on(self.primary_color)

    @property
    def dark_primary(self) -> str:
        """The app bar's colour in the dark scheme (brands/palette.py), for the dark theme-color."""
        return palette.dark_scheme(self.primary_color, self.accent_color)["primary"]

    @property
    def on_background(self) -> str:
        return images.text_on(self.background_color)

    @property
    def banner(self) -> bool:
        return self.banner_width > 0

    def rules(self) -> Rules:
        return msgspec.json.decode(self.rules_json, type=Rules)


class RegulationsView(msgspec.Struct, frozen=True, kw_only=True):
    """A version of a brand's regulations: its Markdown and the sanitised HTML made from it."""

    version: int
    html: str
    markdown: str
    published_at: dt.datetime


class ImportResult(msgspec.Struct, frozen=True):
    slug: str
    status: str  # created | updated | unchanged


_VIEW_COLUMNS = (
    Brand.id,
    Brand.slug,
    Brand.name,
    Brand.short_name,
    Brand.locale,
    Brand.currency,
    Brand.timezone,
    Brand.primary_color,
    Brand.accent_color,
    Brand.background_color,
    Brand.font,
    Brand.corners,
    Brand.banner_width,
    Brand.banner_height,
    Brand.contact_email,
    Brand.contact_whatsapp,
    Brand.contact_phone,
    Brand.contact_hours,
    Brand.app_version,
    Brand.rules.as_alias("rules_json"),
)


def _view(row: dict) -> BrandView:
    return msgspec.convert(row, BrandView)


def render_markdown(text: str) -> str:
    """Markdown to HTML that keeps structure and links and nothing that can run."""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        url_schemes={"https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
    )


def _bare(host: str) -> str:
    return host.split(":", 1)[0]


_MISSING = object()
_by_host = TTLCache()
_by_slug = TTLCache()


async def brand_for_host(host: str, *, base_host: str) -> BrandView | None:
    """`<slug>.<BASE_HOST>` or a custom host to its brand; None for an unknown host.

    Every request on a brand host asks this, so answers are kept a few seconds (see cache.py).
    """
    host = host.strip().lower()
    cached = _by_host.get((host, base_host), _MISSING)
    if cached is not _MISSING:
        return cached
    brand = await _brand_for_host(host, base_host)
    _by_host.put((host, base_host), brand)
    return brand


async def _brand_for_host(host: str, base_host: str) -> BrandView | None:
    suffix = "." + base_host
    if host.endswith(suffix):
        slug = host.removesuffix(suffix)
        row = await Brand.select(*_VIEW_COLUMNS).where(Brand.slug == slug).first()
    else:
        row = await (
            Brand.select(*_VIEW_COLUMNS)
            .where(Brand.id.is_in(BrandHost.select(BrandHost.brand).where(BrandHost.host == _bare(host))))
            .first()
        )
    return _view(row) if row else None


async def get_brand(slug: str) -> BrandView:
    cached = _by_slug.get(slug)
    if cached is not None:
        return cached
    row = await Brand.select(*_VIEW_COLUMNS).where(Brand.slug == slug).first()
    if row is None:
        raise NotFound("no brand with the slug %(slug)r", slug=slug)
    _by_slug.put(slug, _view(row))
    return _view(row)


_by_id = TTLCache()


async def brand_by_id(brand_id: int) -> BrandView | None:
    cached = _by_id.get(brand_id, _MISSING)
    if cached is not _MISSING:
        return cached
    row = await Brand.select(*_VIEW_COLUMNS).where(Brand.id == brand_id).first()
    brand = _view(row) if row else None
    _by_id.put(brand_id, brand)
    return brand


async def list_brands() -> list[BrandView]:
    rows = await Brand.select(*_VIEW_COLUMNS).order_by(Brand.name)
    return [_view(r) for r in rows]


async def asset(brand_id: int, name: str) -> tuple[bytes, str, str] | None:
    """An asset's bytes, content type and digest (the ETag)."""
    row = await (
        BrandAsset.select(BrandAsset.data, BrandAsset.content_type, BrandAsset.digest)
        .where((BrandAsset.brand == brand_id) & (BrandAsset.name == name))
        .first()
    )
    return (bytes(row["data"]), row["content_type"], row["digest"]) if row else None


async def asset_digests(brand_id: int) -> dict[str, str]:
    rows = await BrandAsset.select(BrandAsset.name, BrandAsset.digest).where(BrandAsset.brand == brand_id)
    return {r["name"]: r["digest"] for r in rows}


async def current_regulations(brand_id: int) -> RegulationsView | None:
    row = await (
        Regulations.select(
            Regulations.version, Regulations.html, Regulations.markdown, Regulations.published_at
        )
        .where(Regulations.brand == brand_id)
        .order_by(Regulations.version, ascending=False)
        .first()
    )
    return RegulationsView(**row) if row else None


def _logo_for(pack: Pack) -> bytes:
    return pack.logo_png or images.monogram(pack.name, pack.theme.primary, images.text_on(pack.theme.primary))


async def _put_asset(brand_id: int, name: str, data: bytes, content_type: str) -> None:
    digest = hashlib.sha256(data).hexdigest()[:32]
    existing = await (
        BrandAsset.select(BrandAsset.id, BrandAsset.digest)
        .where((BrandAsset.brand == brand_id) & (BrandAsset.name == name))
        .first()
    )
    if existing is None:
        await BrandAsset.insert(
            BrandAsset(brand=brand_id, name=name, data=data, content_type=content_type, digest=digest)
        )
    elif existing["digest"] != digest:
        await BrandAsset.update({BrandAsset.data: data, BrandAsset.digest: digest}).where(
            BrandAsset.id == existing["id"]
        )


async def import_pack(
    pack: Pack,
    *,
    base_host: str,
    now: dt.datetime | None = None,
    on_created: Callable[[int, dt.datetime], Awaitable[None]] | None = None,
) -> ImportResult:
    """Create or update a brand from a checked pack, all or nothing; unchanged packs change nothing.
    `on_created(brand_id, now)` runs in the transaction that creates a brand (its push keys: see
    `retorno.onboarding.brand`)."""
    now = now or dt.datetime.now(dt.UTC)
    digest = hashlib.sha256(f"{pack.digest()}:{images.VERSION}".encode()).hexdigest()
    for host in pack.hosts:
        if _bare(host) == _bare(base_host) or host.endswith("." + _bare(base_host)):
            raise Invalid(
                "%(field)s: %(host)r is under the platform's own host; brands get <slug>.%(base)s "
                "without listing it",
                field=Field("hosts"),
                host=host,
                base=base_host,
            )
    banner_size = images.png_size(pack.banner_png) if pack.banner_png is not None else (0, 0)
    async with db.transaction():
        row = (
            await Brand.select(Brand.id, Brand.pack_digest, Brand.app_version)
            .where(Brand.slug == pack.slug)
            .first()
        )
        if row is not None and row["pack_digest"] == digest:
            return ImportResult(pack.slug, "unchanged")
        taken = await BrandHost.select(BrandHost.host, BrandHost.brand.slug).where(
            BrandHost.host.is_in(pack.hosts or ["-"])
        )
        clashes = [t["host"] for t in taken if t["brand.slug"] != pack.slug]
        if clashes:
            raise Invalid(
                "%(field)s: %(hosts)s already belong to another brand",
                field=Field("hosts"),
                hosts=", ".join(clashes),
            )
        values: dict[Column, Any] = {
            Brand.name: pack.name,
            Brand.short_name: pack.short_name,
            Brand.locale: pack.locale,
            Brand.currency: pack.currency,
            Brand.timezone: pack.timezone,
            Brand.primary_color: pack.theme.primary,
            Brand.accent_color: pack.theme.accent,
            Brand.background_color: pack.theme.background,
            Brand.font: pack.theme.font,
            Brand.corners: pack.theme.corners,
            Brand.banner_width: banner_size[0],
            Brand.banner_height: banner_size[1],
            Brand.contact_email: pack.contact.email,
            Brand.contact_whatsapp: pack.contact.whatsapp,
            Brand.contact_phone: pack.contact.phone,
            Brand.contact_hours: pack.contact.hours,
            Brand.rules: msgspec.json.encode(pack.rules).decode(),
            Brand.pack_digest: digest,
            Brand.updated_at: now,
        }
        if row is None:
            inserted = await Brand.insert(
                Brand(
                    slug=pack.slug,
                    created_at=now,
                    app_version=1,
                    **{c._meta.name: v for c, v in values.items()},
                )
            )
            brand_id, status = inserted[0]["id"], "created"
            if on_created is not None:
                await on_created(brand_id, now)
        else:
            brand_id, status = row["id"], "updated"
            changes: dict[Column | str, Any] = dict(values.items())  # update() also takes column names
            changes[Brand.app_version] = row["app_version"] + 1
            await Brand.update(changes).where(Brand.id == brand_id)
        await BrandHost.delete().where(BrandHost.brand == brand_id)
        if pack.hosts:
            await BrandHost.insert(*[BrandHost(brand=brand_id, host=h) for h in pack.hosts])
        logo = _logo_for(pack)
        await _put_asset(brand_id, "logo.png", logo, "image/png")
        for name, data in images.make_icons(logo, pack.theme.background).items():
            await _put_asset(brand_id, name, data, "image/png")
        if pack.banner_png is not None:
            await _put_asset(brand_id, BANNER_FILE, pack.banner_png, "image/png")
        else:
            await BrandAsset.delete().where((BrandAsset.brand == brand_id) & (BrandAsset.name == BANNER_FILE))
        if pack.regulations_md:
            latest = await (
                Regulations.select(Regulations.version, Regulations.markdown)
                .where(Regulations.brand == brand_id)
                .order_by(Regulations.version, ascending=False)
                .first()
            )
            if latest is None or latest["markdown"] != pack.regulations_md:
                await Regulations.insert(
                    Regulations(
                        brand=brand_id,
                        version=(latest["version"] + 1) if latest else 1,
                        markdown=pack.regulations_md,
                        html=render_markdown(pack.regulations_md),
                        published_at=now,
                    )
                )
    cache.clear_all()  # this process sees the change at once; others within cache.SECONDS
    return ImportResult(pack.slug, status)


async def custom_hosts(brand_id: int) -> list[str]:
    """The brand's own domains, beside <slug>.<BASE_HOST>."""
    rows = await BrandHost.select(BrandHost.host).where(BrandHost.brand == brand_id)
    return sorted(r["host"] for r in rows)


async def export_pack(slug: str) -> Pack:
    brand = await get_brand(slug)
    hosts = await custom_hosts(brand.id)
    logo = await asset(brand.id, "logo.png")
    banner = await asset(brand.id, BANNER_FILE) if brand.banner else None
    regulations = await (
        Regulations.select(Regulations.markdown)
        .where(Regulations.brand == brand.id)
        .order_by(Regulations.version, ascending=False)
        .first()
    )
    return Pack(
        slug=brand.slug,
        name=brand.name,
        short_name=brand.short_name,
        locale=brand.locale,
        currency=brand.currency,
        timezone=brand.timezone,
        hosts=hosts,
        theme=Theme(
            primary=brand.primary_color,
            accent=brand.accent_color,
            background=brand.background_color,
            font=brand.font,
            corners=brand.corners,
        ),
        contact=Contact(
            email=brand.contact_email,
            whatsapp=brand.contact_whatsapp,
            phone=brand.contact_phone,
            hours=brand.contact_hours,
        ),
        rules=brand.rules(),
        logo_png=logo[0] if logo else None,
        regulations_md=regulations["markdown"] if regulations else "",
        banner_png=banner[0] if banner else None,
    )
