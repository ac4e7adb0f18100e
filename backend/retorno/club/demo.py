"""The demo's benefits club: a few partner benefits for Bella, so `make run` shows the club with each
way of using one. Added once: a brand that has benefits already is left as it is."""

from __future__ import annotations

import datetime as dt

from retorno import db
from retorno.club import service as club
from retorno.club.service import Draft

# The partners' texts are the demo brand's own content (as its brand.toml is), in its language.
BENEFITS = {
    "bella": (
        Draft(
            title="15% na mensalidade da academia",
            partner="Academia Corpo Livre",
            description="Mostre este cartão na recepção de qualquer unidade.\n"
            "Vale para a matrícula e para as mensalidades enquanto você for cliente Bella.",
            how="show",
            position="10",
        ),
        Draft(
            title="R$ 20 de desconto em buquês",
            partner="Flor de Lis Floricultura",
            description="Em compras a partir de R$ 120 no site ou na loja. Um uso por pessoa.",
            how="code",
            code="BELLAFLOR20",
            position="20",
        ),
        Draft(
            title="Café e fatia de bolo por R$ 12",
            partner="Café Aurora",
            description="De segunda a sexta, das 14h às 18h, nas lojas de São Paulo.",
            how="link",
            url="https://cafeaurora.example/bella",
            position="30",
        ),
        Draft(
            title="Design de sobrancelhas cortesia",
            partner="Studio Olhar",
            description="Para clientes VIP: agende pelo WhatsApp do studio e diga o código.",
            how="code",
            code="VIPOLHAR",
            segments=("vip",),
            position="40",
        ),
    ),
}


async def seed(*, brand_id: int, slug: str, timezone: str, now: dt.datetime) -> int:
    """The demo benefits of `slug` for a brand with none yet; how many were added."""
    drafts = BENEFITS.get(slug, ())
    if not drafts or await club.benefits(brand_id=brand_id):
        return 0

    async def add() -> int:
        for draft in drafts:
            checked = club.check(draft, timezone=timezone)
            await club.create(brand_id=brand_id, benefit=checked, image=None, now=now)
        return len(drafts)

    return await db.write(add)
