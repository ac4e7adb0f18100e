"""A brand, its hosts, its binary assets (logo, icons, banner) and its versioned regulations."""

from piccolo.columns import (
    JSONB,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Unique
from piccolo.table import Table


class Brand(Table, tablename="brands"):
    id: Serial  # added by Piccolo; declared for the type checker
    slug = Varchar(length=32, unique=True, index=True)
    name = Varchar(length=100)
    short_name = Varchar(length=12)
    locale = Varchar(length=5, default="pt-BR")
    currency = Varchar(length=3, default="BRL")
    timezone = Varchar(length=64, default="America/Sao_Paulo")
    primary_color = Varchar(length=7)
    accent_color = Varchar(length=7)
    background_color = Varchar(length=7)
    # The look of the brand's app beyond its colours (brands.pack.FONTS, CORNERS); the banner's size
    # in pixels, 0 without one (its image is the asset banner.png).
    font = Varchar(length=16, default="system")
    corners = Varchar(length=16, default="round")
    banner_width = Integer(default=0)
    banner_height = Integer(default=0)
    contact_email = Varchar(length=254, default="")
    contact_whatsapp = Varchar(length=20, default="")
    contact_phone = Varchar(length=20, default="")
    contact_hours = Varchar(length=200, default="")
    # The rule sections of the brand pack, normalised to centavos and basis points (brands.rules.Rules).
    rules = JSONB(default="{}")
    # Hash of the normalised pack: an unchanged re-import is recognised and changes nothing.
    pack_digest = Varchar(length=64, default="")
    # Bumped on every change a browser must see: theme, logo, name; part of the app's cache names.
    app_version = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class BrandHost(Table, tablename="brand_hosts"):
    """A custom domain of a brand; the default host <slug>.<BASE_HOST> is not stored."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False)
    host = Varchar(length=253, unique=True, index=True)


class BrandAsset(Table, tablename="brand_assets"):
    """A re-encoded logo or an icon generated from it, served from the brand's own host."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False)
    name = Varchar(length=64)
    content_type = Varchar(length=64)
    data = Bytea()
    digest = Varchar(length=64)
    unique_brand_name = Unique([brand, name])


class Regulations(Table, tablename="brand_regulations"):
    """Each saved text is a new version; shoppers accept a version, so versions are never edited."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False)
    version = Integer()
    markdown = Text()
    html = Text()
    published_at = Timestamptz()
    unique_brand_version = Unique([brand, version])
