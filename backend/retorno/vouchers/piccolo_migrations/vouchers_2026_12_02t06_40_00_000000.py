from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T06:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a coupon is used at most once per order while that use is open; a shopper's uses found by index"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vouchers", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS coupon_uses_open_order ON coupon_uses (coupon, order_id) "
            "WHERE released_at IS NULL"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS coupon_uses_customer ON coupon_uses (coupon, customer) "
            "WHERE released_at IS NULL"
        )
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS coupon_uses_order ON coupon_uses (brand, order_id)")

    manager.add_raw(create_indexes)
    return manager
