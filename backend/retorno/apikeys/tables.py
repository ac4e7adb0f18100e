from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand


class ApiKey(Table, tablename="api_keys"):
    """A key is shown once; only its SHA-256 is kept (the key is 256 random bits, so no slow hash)."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False, index=True)
    name = Varchar(length=100, default="")
    prefix = Varchar(length=16, unique=True, index=True)  # public part, to find the row
    secret_hash = Varchar(length=64)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class IdempotentAnswer(Table, tablename="api_idempotency"):
    """An answer given to a POST sent with an Idempotency-Key, replayed to a retry with that key
    (the same request) for a day; the same key with another request is a conflict."""

    id: Serial  # added by Piccolo; declared for the type checker

    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False)
    key = Varchar(length=255)
    request_digest = Varchar(length=64)  # method, path and body
    status = Integer(default=0)
    body = Text(default="")
    created_at = Timestamptz(index=True)
    unique_key = Unique([brand, key])
