"""Staff and their roles, sessions, sign-in codes, passkeys, WebAuthn challenges, rate limits."""

from piccolo.columns import JSONB, Boolean, Bytea, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.customers.tables import Customer


class Staff(Table, tablename="staff"):
    email = Varchar(length=254, unique=True)
    name = Varchar(length=200, default="")
    platform_admin = Boolean(default=False)
    created_at = Timestamptz()


class StaffRole(Table, tablename="staff_roles"):
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=False)
    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False)
    role = Varchar(length=20)  # owner | manager | operator
    unique_staff_brand = Unique([staff, brand])


class Session(Table, tablename="sessions"):
    """A signed-in browser: the cookie holds a random token, the database only its SHA-256."""

    token_hash = Varchar(length=64, unique=True)
    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=True, default=None)  # None: platform host
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=True, default=None, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class LoginCode(Table, tablename="login_codes"):
    """A 6-digit code sent by e-mail: hashed, single use, 10 minutes, 5 tries."""

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

    key = Varchar(length=300, unique=True)
    window_start = Timestamptz()
    count = Integer(default=0)
