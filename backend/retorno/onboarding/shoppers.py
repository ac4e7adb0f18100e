"""A shopper signs in with an e-mail code: an existing customer, or one that /join asked to create.

Joining leaves its wishes (name, consents, the invitation that brought the shopper) in the code's
data (`JoinData`); nothing is created until the code is used.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno import db
from retorno.auth.codes import use_code
from retorno.auth.common import WrongCode
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.customers.tables import Consent
from retorno.referrals import invitations


class JoinData(msgspec.Struct, kw_only=True):
    name: str
    marketing: bool = False
    regulations_version: int | None = None
    referral: str | None = None  # the invitation code the attribution cookie carried
    device: str = ""  # the hash of the joining browser's device cookie


async def sign_in_with_code(*, brand: BrandView, email: str, code: str, secret: str, now: dt.datetime) -> int:
    """The customer a correct code signs in: an existing one, or one /join asked to create (or claim)."""
    email = customers.normalize_email(email)
    used = await use_code(brand_id=brand.id, email=email, code=code, secret=secret, now=now)

    async def work() -> int:
        if used.purpose == "join":
            join = msgspec.convert(used.data, JoinData)
            existing = await customers.lookup(brand.id, Identity(email=email))
            identity = Identity(email=email, name=join.name if not (existing and existing.name) else None)
            customer, _ = await customers.upsert(brand.id, identity, now=now)
            if join.regulations_version is not None:
                await db.insert(
                    Consent,
                    brand=brand.id,
                    customer=customer.id,
                    kind="regulations",
                    granted=True,
                    version=join.regulations_version,
                    at=now,
                )
            await db.insert(
                Consent,
                brand=brand.id,
                customer=customer.id,
                kind="marketing",
                granted=join.marketing,
                at=now,
            )
            if join.referral:
                await invitations.attach(
                    brand_id=brand.id,
                    code=join.referral,
                    friend_id=customer.id,
                    existed=existing is not None,
                    device=join.device,
                    now=now,
                )
            return customer.id
        known = await customers.lookup(brand.id, Identity(email=email))
        if known is None:  # codes are only sent for known addresses; a deleted one lands here
            raise WrongCode()
        return known.id

    return await db.write(work)
