from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:39:585693"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: a held refund unique per (connection, refund_id, brand)"


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="stores", description=DESCRIPTION
    )

    if postgres:
        manager.drop_constraint(
            table_class_name="HeldRefund",
            tablename="store_held_refunds",
            constraint_name="unique_store_held_refund",
            schema=None,
        )
    else:

        async def drop_unique_store_held_refund():
            await engine.run_ddl('DROP INDEX IF EXISTS "unique_store_held_refund"')

        manager.add_raw(drop_unique_store_held_refund)

    manager.add_constraint(
        table_class_name="HeldRefund",
        tablename="store_held_refunds",
        constraint_name="unique_store_held_refund_brand",
        constraint_class=Unique,
        params={
            "columns": ["connection", "refund_id", "brand"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
