from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T18:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a customer's newest entry by index: the balance's memo is valid while it has not changed"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        # `SELECT MAX(id) ... WHERE customer = ? AND brand = ?` reads one index entry (the
        # statement's index is by time, so the newest id there meant every entry of the customer).
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ledger_entries_head ON ledger_entries (customer, brand, id)"
        )

    manager.add_raw(create_indexes)
    return manager
