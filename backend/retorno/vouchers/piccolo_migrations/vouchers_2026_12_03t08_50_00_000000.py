from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T08:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: the open use of a voucher, and of a coupon per order, unique with the brand"
# The same rows as before (a voucher and a coupon belong to one brand); the new index is made
# before the old one goes, so no moment is without one.


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vouchers", description=DESCRIPTION)

    async def recreate_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS voucher_uses_open_brand ON voucher_uses (voucher, brand) "
            "WHERE released_at IS NULL"
        )
        await engine.run_ddl("DROP INDEX IF EXISTS voucher_uses_open")
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS coupon_uses_open_order_brand ON coupon_uses (coupon, order_id, brand) "
            "WHERE released_at IS NULL"
        )
        await engine.run_ddl("DROP INDEX IF EXISTS coupon_uses_open_order")

    manager.add_raw(recreate_indexes)
    return manager
