"""In Chromium: the vouchers page shows a QR code that reads back as the voucher's code, and the
invite page's copy-link fallback puts the invitation link on the clipboard."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import segno
from PIL import Image

from tests.browser.helpers import first_page, join_with_code, sales_for, screenshot

SLUG = "bella"
BORDER = 4  # segno's quiet zone as the app draws it (portal/rewards.py)


def modules_of(png: bytes, size: int) -> list[list[bool]]:
    """The dark/light modules of a screenshot of a QR code of `size` modules (quiet zone included),
    read at the centre of each module."""
    image = Image.open(io.BytesIO(png)).convert("L")
    step_x, step_y = image.width / size, image.height / size
    return [
        [image.getpixel((int((x + 0.5) * step_x), int((y + 0.5) * step_y))) < 128 for x in range(size)]
        for y in range(size)
    ]


def test_the_vouchers_page_shows_a_qr_that_reads_as_the_code(
    live_server, open_context, tmp_path: Path
) -> None:
    email = f"qr-{uuid.uuid4().hex[:8]}@example.com"
    sales_for(live_server, SLUG, email, "QR")  # two purchases above R$ 20,00: two vouchers
    context = open_context("qr")
    page = first_page(context)
    join_with_code(page, live_server, SLUG, "Quitéria Código", email)
    page.goto(live_server.url(SLUG, "/vouchers"))
    vouchers = page.locator("li.voucher[data-code]")
    assert vouchers.count() == 2
    for i in range(vouchers.count()):
        item = vouchers.nth(i)
        code = item.get_attribute("data-code")
        assert item.locator("code").inner_text() == code
        expected = segno.make_qr(code, error="m")
        size = len(expected.matrix) + 2 * BORDER
        png = item.locator("figure.voucher-qr svg").screenshot()
        seen = modules_of(png, size)
        wanted = [[bool(v) for v in row] for row in expected.matrix_iter(border=BORDER)]
        assert seen == wanted, f"the QR on screen does not encode {code}"
        # And the reverse: the matrix read from the screen is that of this code and of no other.
        other = segno.make_qr(code[:-1] + ("2" if code[-1] != "2" else "3"), error="m")
        assert seen != [[bool(v) for v in row] for row in other.matrix_iter(border=BORDER)]
    screenshot(page, tmp_path / "vouchers.png")


def test_the_invite_page_copies_the_link(live_server, open_context, tmp_path: Path) -> None:
    email = f"invite-{uuid.uuid4().hex[:8]}@example.com"
    context = open_context("invite")
    origin = live_server.url(SLUG, "/").rstrip("/")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page = first_page(context)
    join_with_code(page, live_server, SLUG, "Iara Convite", email)
    page.goto(live_server.url(SLUG, "/invite"))
    link = page.locator("#invite-link").input_value()
    assert link.startswith(f"{origin}/r/")
    assert page.locator("#share-whatsapp").get_attribute("href").startswith("https://wa.me/?text=")
    copy = page.locator("#copy-link")
    copy.wait_for(state="visible")
    copy.click()
    page.locator(".copy-status", has_text="Copiado.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    # Web Share where the browser has it; otherwise its button stays hidden and the fallbacks serve.
    has_share = page.evaluate("typeof navigator.share === 'function'")
    assert page.locator("#share-button").is_visible() == has_share
    # The copied link works: it opens the invitation for a friend.
    friend = context.new_page()
    friend.goto(link)
    assert "Iara convidou você" in friend.locator("h1").inner_text()
    screenshot(page, tmp_path / "invite.png")
