"""A shopper signs in with an e-mail code: an existing customer, or one that /join asked to create.

Joining leaves its wishes (name, consents, the invitation that brought the shopper) in the code's
data (`JoinData`); nothing is created until the code is used. `register` is a customer made by
staff or the API; `erase` is a shopper's deletion. Each writes its event (customer.created,
customer.erased) in its transaction.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from retorno import db
from retorno.auth import retention
from retorno.auth.codes import use_code
from retorno.auth.common import WrongCode
from retorno.brands.service import BrandView
from retorno.customers import service as customers
from retorno.customers.service import Identity
from retorno.customers.tables import Consent
from retorno.nps import service as nps
from retorno.outbox import service as outbox
from retorno.push import service as push
from retorno.referrals import invitations
from retorno.referrals import service as referrals
from retorno.vouchers import service as vouchers


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
            customer, created = await customers.upsert(brand.id, identity, now=now)
            if created:
                await _created(brand.id, customer, now)
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
            # "News and offers" at joining: by notification and by e-mail (WhatsApp is asked apart).
            await customers.record_consents(
                brand.id,
                customer.id,
                {"push": join.marketing, "email": join.marketing},
                source="app",
                now=now,
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


async def _created(brand_id: int, customer: customers.CustomerView, now: dt.datetime) -> None:
    await outbox.emit(
        brand_id=brand_id,
        kind="customer.created",
        now=now,
        payload={"customer_id": customer.id, "external_id": customer.external_id},
    )


async def register(
    *, brand_id: int, identity: Identity, now: dt.datetime
) -> tuple[customers.CustomerView, bool]:
    """`customers.upsert` for staff and the API, in the caller's transaction (or one of its own),
    with customer.created when the customer is new. (customer, created)"""

    async def work() -> tuple[customers.CustomerView, bool]:
        customer, created = await customers.upsert(brand_id, identity, now=now)
        if created:
            await _created(brand_id, customer, now)
        return customer, created

    return await db.write(work)


async def erase(*, brand_id: int, customer_id: int, now: dt.datetime) -> None:
    """Erase who the shopper is, at once (LGPD): sign-in data, devices, referral codes, unused
    vouchers and identifiers go; the money records stay without them. customer.erased carries the
    external id the brand's systems knew them by, so those can erase them too."""
    customer = await customers.get(brand_id, customer_id)
    await retention.forget_customer(brand_id=brand_id, customer_id=customer_id, email=customer.email)

    async def work() -> None:
        await vouchers.cancel_for_customer(customer_id=customer_id, now=now)
        await referrals.forget(customer_id=customer_id)
        await push.forget(customer_id=customer_id)
        await nps.forget(customer_id=customer_id)
        await customers.forget(brand_id, customer_id, now=now)
        await outbox.emit(
            brand_id=brand_id,
            kind="customer.erased",
            now=now,
            payload={"customer_id": customer_id, "external_id": customer.external_id},
        )

    await db.write(work)
