"""Screenshots of the site widget: the demo store's products (badges), its cart for a visitor and for
a shopper with a balance, the launcher's panel, all on a laptop and a phone; and the admin's page.

    python -m tests.screenshots_widget [--out screenshots]

Like tests/screenshots.py it runs `retorno demo` and `retorno serve` on a database of its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.browser.helpers import ARGS, CHROMIUM, admin_sign_in, sales_for
from tests.conftest import LiveServer, free_port, server_env
from tests.screenshots import LAPTOP, OWNERS, PHONE, _shoot

SHOPPER = "ana@exemplo.com.br"


def shoot_widget(browser: Browser, server: LiveServer, out: Path) -> None:
    sales_for(server, "bella", SHOPPER, "SHOT")
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        context = browser.new_context(
            viewport=viewport, locale="pt-BR", device_scale_factor=2 if name == "phone" else 1
        )
        page = context.new_page()
        for slug in ("bella", "mare"):
            _shoot(
                page, server.url(None, f"/dev/store?brand={slug}"), out / f"widget-{slug}-{name}-products.png"
            )
            _shoot(
                page,
                server.url(None, f"/dev/store/cart?brand={slug}"),
                out / f"widget-{slug}-{name}-cart.png",
            )
        _shoot(
            page,
            server.url(None, f"/dev/store/cart?brand=bella&shopper={SHOPPER}"),
            out / f"widget-bella-{name}-cart-shopper.png",
        )
        _shoot(
            page,
            server.url(None, f"/dev/store/cart?brand=bella&shopper={SHOPPER}&ttl=-60"),
            out / f"widget-bella-{name}-cart-expired.png",
        )
        page.goto(server.url(None, "/dev/store?brand=bella"))
        page.locator("retorno-launcher button.lb").click()
        page.locator("retorno-launcher [role=dialog]").wait_for()
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"widget-bella-{name}-panel.png"))
        context.close()
    admin = browser.new_context(viewport=LAPTOP, locale="pt-BR")
    page = admin.new_page()
    admin_sign_in(page, server, OWNERS["bella"])
    _shoot(page, server.url(None, "/admin/b/bella/widget"), out / "admin-widget.png")
    page.click("#rotate-secret")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / "admin-widget-rotated.png"), full_page=True)
    admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retorno-widget-screens-") as tmp:
        port = free_port()
        env = server_env(f"sqlite:///{tmp}/screens.sqlite3", port, Path(tmp), "development")
        server = LiveServer(port, env, Path(tmp) / "server.log")
        server.cli("demo")
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                shoot_widget(browser, server, args.out)
                browser.close()
        finally:
            server.stop()
    print(f"screenshots in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
