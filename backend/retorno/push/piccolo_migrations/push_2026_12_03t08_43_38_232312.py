from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:38:232312"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: deliveries unique per (event, subscription, brand), preferences per (customer, brand)"
# SQLite cannot drop a column's UNIQUE without rebuilding the table: there push_preferences keeps
# UNIQUE (customer) beside the new (customer, brand), the same rows since a customer has one brand.


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="push", description=DESCRIPTION
    )

    if postgres:
        manager.alter_column(
            table_class_name="Preference",
            tablename="push_preferences",
            column_name="customer",
            db_column_name="customer",
            params={"unique": False},
            old_params={"unique": True},
            column_class=ForeignKey,
            old_column_class=ForeignKey,
            schema=None,
        )

    if postgres:
        manager.drop_constraint(
            table_class_name="Delivery",
            tablename="push_deliveries",
            constraint_name="unique_push_delivery",
            schema=None,
        )
    else:

        async def drop_unique_push_delivery():
            await engine.run_ddl('DROP INDEX IF EXISTS "unique_push_delivery"')

        manager.add_raw(drop_unique_push_delivery)

    manager.add_constraint(
        table_class_name="Delivery",
        tablename="push_deliveries",
        constraint_name="unique_push_delivery_brand",
        constraint_class=Unique,
        params={
            "columns": ["event", "subscription", "brand"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Preference",
        tablename="push_preferences",
        constraint_name="unique_push_preference",
        constraint_class=Unique,
        params={"columns": ["customer", "brand"], "nulls_distinct": True},
        schema=None,
    )

    return manager
