from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:36:930788"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: a device unique per (customer, device, brand)"


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="referrals", description=DESCRIPTION
    )

    if postgres:
        manager.drop_constraint(
            table_class_name="Device",
            tablename="customer_devices",
            constraint_name="unique_customer_device",
            schema=None,
        )
    else:

        async def drop_unique_customer_device():
            await engine.run_ddl('DROP INDEX IF EXISTS "unique_customer_device"')

        manager.add_raw(drop_unique_customer_device)

    manager.add_constraint(
        table_class_name="Device",
        tablename="customer_devices",
        constraint_name="unique_customer_device_brand",
        constraint_class=Unique,
        params={
            "columns": ["customer", "device", "brand"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
