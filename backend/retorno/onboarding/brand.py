"""A brand from its pack: created or updated by the brands domain, and a new brand's push keys
made in the same transaction, so every brand can sign its notifications from the start."""

from __future__ import annotations

import datetime as dt

from retorno.brands import service as brands
from retorno.brands.pack import Pack
from retorno.push import keys as push_keys


async def import_brand(pack: Pack, *, base_host: str, now: dt.datetime | None = None) -> brands.ImportResult:
    """`brands.import_pack`, and the keys of a brand it creates."""
    return await brands.import_pack(pack, base_host=base_host, now=now, on_created=push_keys.create_keys)
