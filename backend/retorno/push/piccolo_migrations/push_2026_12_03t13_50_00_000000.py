from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T13:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a shopper's devices by customer and brand, in id order: the fan-out reads them per notice"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="push", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        # Without it SQLite (no statistics) read `WHERE brand = ? AND customer = ? ORDER BY id` by
        # the brand index, to skip the sort: every subscription of the brand for each shopper, a
        # campaign's fan-out quadratic in its audience (bench/push.py: 65% of the worker's time).
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS push_subscriptions_customer_brand "
            "ON push_subscriptions (customer, brand, id)"
        )

    manager.add_raw(create_indexes)
    return manager
