from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-23T05:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for a brand's movements and sales by time (reports, the brand's home)"
# The movements' index covers kind and amount: a report reads nothing else, and without them
# SQLite looked up each row in the table (slower than the scan it replaced).


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_entries_brand_time ON ledger_entries (brand, occurred_at, kind, amount)"
        )
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS sales_brand_time ON sales (brand, occurred_at)")

    manager.add_raw(create_indexes)
    return manager
