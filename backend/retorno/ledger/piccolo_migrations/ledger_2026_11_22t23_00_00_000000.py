from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for the statement (keyset pagination) and for spending lots"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_entries_statement "
            "ON ledger_entries (customer, occurred_at DESC, id DESC)"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_lots_spendable "
            "ON ledger_lots (customer, remaining, available_at, expires_at)"
        )

    manager.add_raw(create_indexes)
    return manager
