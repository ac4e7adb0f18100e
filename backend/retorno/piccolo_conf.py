"""Piccolo's configuration: the domains' apps, and the engine `retorno.db.use()` installed.

Piccolo's migration runner looks the engine up here as `DB`, which `retorno.db.use()` sets, so
that tests and the CLI install the engine they built from their settings. This module imports
nothing of ours.
"""

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(
    apps=[
        "retorno.brands.piccolo_app",
        "retorno.customers.piccolo_app",
        "retorno.outbox.piccolo_app",
        "retorno.ledger.piccolo_app",
        "retorno.apikeys.piccolo_app",
        "retorno.auth.piccolo_app",
        "retorno.vouchers.piccolo_app",
        "retorno.referrals.piccolo_app",
        "retorno.push.piccolo_app",
        "retorno.audit.piccolo_app",
        "retorno.imports.piccolo_app",
        "retorno.webhooks.piccolo_app",
        "retorno.stores.piccolo_app",
        "retorno.widget.piccolo_app",
        "retorno.messages.piccolo_app",
        "retorno.club.piccolo_app",
        "retorno.points.piccolo_app",
        "retorno.nps.piccolo_app",
    ]
)


def __getattr__(name: str):
    if name == "DB":  # `retorno.db.use(engine)` sets DB; until then there is none
        raise RuntimeError("no database engine in use: call retorno.db.use(engine) first")
    raise AttributeError(name)
