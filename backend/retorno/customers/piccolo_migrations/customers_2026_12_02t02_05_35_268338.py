from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T02:05:35:268338"
VERSION = "1.38.0"
DESCRIPTION = "consent source; the marketing consent becomes push and e-mail"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="customers", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Consent",
        tablename="consents",
        column_name="source",
        db_column_name="source",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "app",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    async def per_channel():
        """The one marketing consent there was covered offers by push and e-mail (as the API
        described it): it becomes those two channels' consents, with the same time. (Piccolo
        runs this before adding the column: `source` then defaults to 'app' for every row.)"""
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "INSERT INTO consents (brand, customer, kind, granted, version, at) "
            "SELECT brand, customer, 'email', granted, version, at FROM consents WHERE kind = 'marketing'"
        )
        await engine.run_ddl("UPDATE consents SET kind = 'push' WHERE kind = 'marketing'")

    manager.add_raw(per_channel)
    return manager
