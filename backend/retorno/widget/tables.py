"""The site widget's settings: one row per brand, made the first time the brand's owner opens the
widget's page (or a script asks with a key that exists)."""

from piccolo.columns import Boolean, ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from retorno.brands.tables import Brand


class WidgetSettings(Table, tablename="widget_settings"):
    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False, unique=True)
    # Public: it is in the store's script tag (pk_<random>); it says which brand, and nothing more.
    publishable_key = Varchar(length=64, unique=True, index=True)
    # Signs the shopper tokens the store's backend makes (HMAC-SHA256); sealed by retorno.vault.
    secret = Text()
    origins = Text(default="")  # the store's origins (scheme://host[:port]), one a line
    launcher = Boolean(default=True)  # the floating button that opens the programme's panel
    created_at = Timestamptz()
    updated_at = Timestamptz()
