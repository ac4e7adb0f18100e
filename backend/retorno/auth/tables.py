"""Sessions, sign-in codes, passkeys, WebAuthn challenges, rate limits.

The staff tables are defined in retorno/staff/tables.py; this app (piccolo_app.py) still owns
their migrations. `Staff` is imported here for the foreign keys (and retorno/imports/tables.py
still imports it from here).
"""

from piccolo.columns import JSONB, Bytea, ForeignKey, Integer, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer
from retorno.staff.tables import Staff


class Session(Table, tablename="sessions"):
    """A signed-in browser: the cookie holds a random token, the database only its SHA-256."""

    id: Serial  # added by Piccolo; declared for the type checker

    token_hash = Varchar(length=64, unique=True)
    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=True, default=None)  # None: platform host
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class LoginCode(Table, tablename="login_codes"):
    """A 6-digit code sent by e-mail: hashed, single use, 10 minutes, 5 tries."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=True, default=None)
    email = Varchar(length=254, index=True)
    code_hash = Varchar(length=64)
    purpose = Varchar(length=10)  # login | join | staff
    data = JSONB(default="{}")  # what /join asked for: name, consents, regulations version
    attempts = Integer(default=0)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class Passkey(Table, tablename="passkeys"):
    """A shopper's (brand set) or a staff member's (platform host: brand None) passkey."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=True, default=None)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    credential_id = Varchar(length=1400, unique=True)  # base64url
    public_key = Bytea()
    sign_count = Integer(default=0)
    name = Varchar(length=60, default="")
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)


class Challenge(Table, tablename="webauthn_challenges"):
    """32 random bytes given to one ceremony: found by its hash, used once, within 5 minutes."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=True, default=None)  # None: platform host
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=True, default=None)
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=True, default=None)
    purpose = Varchar(length=12)  # register | authenticate
    challenge_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class RateLimit(Table, tablename="rate_limits"):
    """A fixed-window counter every app process sees."""

    id: Serial  # added by Piccolo; declared for the type checker

    key = Varchar(length=300, unique=True)
    window_start = Timestamptz()
    # The column's name shadows Table.count(), which this table (used only in raw SQL) never calls;
    # renaming it would take a migration.
    count = Integer(default=0)  # type: ignore[assignment]
