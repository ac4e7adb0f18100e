from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a shopper's vouchers by expiry: the home finds the next active one among thousands"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vouchers", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS vouchers_customer_expiry ON vouchers (customer, expires_at) "
            "WHERE cancelled_at IS NULL"
        )

    manager.add_raw(create_indexes)
    return manager
