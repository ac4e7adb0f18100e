"""Piccolo's configuration: the domains' apps, and the engine `retorno.db.use()` installed.

Piccolo's migration runner looks the engine up here; `DB` is resolved on each access so that
tests and the CLI can install the engine they built from their settings.
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
    ]
)


def __getattr__(name: str):
    if name == "DB":
        from retorno import db

        return db.current()
    raise AttributeError(name)
