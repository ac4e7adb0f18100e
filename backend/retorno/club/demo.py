"""The demo's benefits club: a few partner benefits for Bella, so `make run` shows the club with each
way of using one. Added once: a brand that has benefits already is left as it is."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image, ImageDraw

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


def _cafe_picture() -> bytes:
    """A drawn cup of coffee on a warm ground: the demo's one benefit with a picture."""
    width, height = 960, 540
    img = Image.new("RGB", (width, height), "#F6E3CF")
    draw = ImageDraw.Draw(img)
    for y in range(height):  # a soft vertical gradient
        shade = int(30 * y / height)
        draw.line([(0, y), (width, y)], fill=(246 - shade, 227 - shade, 207 - shade))
    draw.ellipse((300, 380, 660, 460), fill="#E9D2BC", outline="#B88A63", width=6)  # the saucer
    draw.rounded_rectangle((360, 230, 600, 420), radius=40, fill="#FFFFFF", outline="#8A5A3B", width=8)
    draw.ellipse((560, 270, 660, 370), outline="#8A5A3B", width=14)  # the handle
    draw.ellipse((380, 238, 580, 272), fill="#6B3E26")  # the coffee
    for x in (420, 480, 540):  # steam
        draw.arc((x - 20, 120, x + 20, 180), 200, 340, fill="#B88A63", width=6)
        draw.arc((x - 20, 160, x + 20, 220), 20, 160, fill="#B88A63", width=6)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


async def seed(*, brand_id: int, slug: str, timezone: str, now: dt.datetime) -> int:
    """The demo benefits of `slug` for a brand with none yet; how many were added."""
    drafts = BENEFITS.get(slug, ())
    if not drafts or await club.benefits(brand_id=brand_id):
        return 0

    async def add() -> int:
        for draft in drafts:
            checked = club.check(draft, timezone=timezone)
            picture = club.picture(_cafe_picture()) if draft.how == "link" else None
            await club.create(brand_id=brand_id, benefit=checked, image=picture, now=now)
        return len(drafts)

    return await db.write(add)
