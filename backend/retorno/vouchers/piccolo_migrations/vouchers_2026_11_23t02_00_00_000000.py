from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-23T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "at most one open use per voucher: concurrent redemptions of one code cannot both win"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vouchers", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS voucher_uses_open ON voucher_uses (voucher) "
            "WHERE released_at IS NULL"
        )
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS vouchers_sale ON vouchers (sale)")

    manager.add_raw(create_indexes)
    return manager
