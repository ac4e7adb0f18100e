"""Sending the messages decided for e-mail and WhatsApp (the worker runs it; push has its own
lanes in retorno/worker.py): claim a batch, send it all at once, record the answers.

E-mail goes through the mailer (SMTP over TLS, pooled connections); WhatsApp through the Cloud
API with the brand's approved template. Each answer is recorded: sent with the provider's id,
retried with backoff (a rate limit, a server that did not answer), or fallen back to the next
channel (a refused address, a template Meta did not approve, a token that no longer works).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from retorno import metrics
from retorno.brands import service as brands
from retorno.brands.service import BrandView
from retorno.mail import MailNotSent
from retorno.messages import email
from retorno.messages import service as messages
from retorno.messages import settings as message_settings
from retorno.messages.service import Outgoing, Result
from retorno.messages.settings import Credentials
from retorno.messages.whatsapp import Client, WhatsAppError

log = logging.getLogger("retorno.messages")


class Sender:
    def __init__(
        self,
        *,
        mailer: Any,
        whatsapp: Client,
        origin_of: Callable[[BrandView], str],
        clock: Callable[[], dt.datetime],
        batch: int = 100,
        lanes: int = 2,
    ) -> None:
        self.mailer, self.whatsapp, self.origin_of, self.clock = mailer, whatsapp, origin_of, clock
        self.batch, self.lanes = batch, lanes

    async def run(self, now: dt.datetime) -> int:
        """Lanes side by side until nothing is due; how many messages were decided."""
        done = await asyncio.gather(*(self._lane(now) for _ in range(self.lanes)))
        return sum(done)

    async def _lane(self, now: dt.datetime) -> int:
        total = 0
        while True:
            outgoing = await messages.claim(now=now, origin_of=self.origin_of, limit=self.batch)
            if not outgoing:
                return total
            # Read once per batch, not per message: unsealing them per message was a third of the
            # worker's time on WhatsApp (bench/messages.py), and a saved token counts from the next batch.
            credentials = {
                b: await message_settings.credentials(b)
                for b in sorted({o.brand_id for o in outgoing if o.channel == "whatsapp"})
            }
            results = await asyncio.gather(*(self.send(out, credentials) for out in outgoing))
            await messages.record(list(zip(outgoing, results, strict=True)), now=self.clock())
            decided = ["sent" if r.provider_id else "retry" if r.transient else "refused" for r in results]
            for channel in ("email", "whatsapp"):
                metrics.delivered(
                    channel, (d for o, d in zip(outgoing, decided, strict=True) if o.channel == channel)
                )
            sent, retried = decided.count("sent"), decided.count("retry")
            log.info(
                "%d messages sent, %d to retry, %d to the next channel",
                sent,
                retried,
                len(results) - sent - retried,
            )
            total += len(outgoing)
            now = self.clock()

    async def send(self, out: Outgoing, credentials: dict[int, Credentials | None] | None = None) -> Result:
        """One message through its channel; `credentials` are the brands' WhatsApp accounts when the
        caller read them already (else read here)."""
        brand = await brands.brand_by_id(out.brand_id)
        if brand is None:
            return Result(detail="brand gone")
        if out.channel == "email":
            return await self._email(out, brand)
        if credentials is None or out.brand_id not in credentials:
            return await self._whatsapp(out, brand, await message_settings.credentials(brand.id))
        return await self._whatsapp(out, brand, credentials[out.brand_id])

    async def _email(self, out: Outgoing, brand: BrandView) -> Result:
        message = email.build(
            brand=brand,
            origin=self.origin_of(brand),
            to=out.to,
            subject=out.fields.get("subject", ""),
            body=out.fields.get("body", ""),
            link=out.link,
            unsubscribe=out.unsubscribe,
            now=self.clock(),
            lang=out.lang,
        )
        try:
            message_id = await self.mailer.send(message, log_sent=False)
        except MailNotSent as exc:
            return Result(transient=not getattr(exc, "permanent", False), detail=str(exc))
        return Result(provider_id=message_id or f"<memory-{out.id}>")

    async def _whatsapp(self, out: Outgoing, brand: BrandView, credentials: Credentials | None) -> Result:
        if credentials is None:
            return Result(detail="WhatsApp is not set up")
        try:
            wamid = await self.whatsapp.send_template(
                phone_number_id=credentials.number_id,
                token=credentials.token,
                to=out.to,
                template=out.fields.get("template", ""),
                language=out.lang.replace("-", "_"),
                parameters=out.parameters,
            )
        except WhatsAppError as exc:
            log.info("WhatsApp refused a message: code %s, status %s", exc.code, exc.status)
            return Result(
                transient=exc.transient, detail=f"{exc.code or exc.status or ''} {exc.title}".strip()
            )
        return Result(provider_id=wamid)
