from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T20:23:06:000000"
VERSION = "1.38.0"
DESCRIPTION = "a sale recorded before updated_at changed last at its latest refund or cancellation, or when recorded"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def backfill_and_index():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "UPDATE sales SET updated_at = COALESCE("
            "(SELECT MAX(r.created_at) FROM sale_refunds r WHERE r.sale = sales.id), created_at) "
            "WHERE updated_at IS NULL"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS sales_changed ON sales (brand, updated_at, id)"
        )

    manager.add_raw(backfill_and_index)
    return manager
