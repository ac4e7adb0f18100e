"""The demo's NPS: answers to the surveys of the demo shoppers' purchases (`retorno demo --shoppers`),
so the admin's NPS page shows a score, a trend, channels and comments. Added once: a brand with
surveys already is left as it is."""

from __future__ import annotations

import datetime as dt
import secrets

from retorno import db
from retorno.nps import service as nps

# (score, comment): the demo brand's shoppers' own words, in its language.
ANSWERS = (
    (10, "Atendimento excelente, a vendedora me ajudou a escolher o tom certo."),
    (9, "Adoro o cashback, já usei duas vezes."),
    (8, ""),
    (6, "A entrega demorou mais do que o prometido."),
    (10, ""),
    (9, "Loja linda e produtos ótimos."),
    (3, "Fila grande no caixa e o provador estava fechado."),
    (7, "Bom, mas poderia ter mais opções de pagamento."),
    (10, "Recomendo para todas as minhas amigas!"),
    (9, ""),
    (5, ""),
    (10, "O app é muito fácil de usar."),
)


async def seed(*, brand_id: int, now: dt.datetime, prefix: str = "DEMO-") -> int:
    """Surveys for the brand's demo purchases (order ids starting with `prefix`), most answered;
    the survey switched on. How many were added."""
    if await db.fetch("SELECT id FROM nps_surveys WHERE brand = {} LIMIT 1", brand_id):
        return 0
    sales = await db.fetch(
        "SELECT id, customer, channel, occurred_at FROM sales WHERE brand = {} AND order_id LIKE {} "
        "AND cancelled_at IS NULL ORDER BY occurred_at",
        brand_id,
        prefix + "%",
    )

    async def add() -> int:
        for i, sale in enumerate(sales):
            asked = sale["occurred_at"] + dt.timedelta(days=3)
            if asked > now:
                continue
            answer = ANSWERS[i % len(ANSWERS)] if i % 6 != 5 else None  # some never answer
            answered = asked + dt.timedelta(hours=2 + i % 20) if answer else None
            await db.fetch(
                "INSERT INTO nps_surveys (brand, customer, sale, token, channel, asked_at, answered_at, "
                "score, comment, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
                "ON CONFLICT (sale, brand) DO NOTHING",
                brand_id,
                sale["customer"],
                sale["id"],
                secrets.token_urlsafe(24),
                sale["channel"],
                asked,
                answered,
                answer[0] if answer else None,
                answer[1] if answer else "",
                asked,
            )
        await nps.save_settings(brand_id=brand_id, settings=nps.NpsSettings(enabled=True), now=now)
        return len(sales)

    return await db.write(add)
