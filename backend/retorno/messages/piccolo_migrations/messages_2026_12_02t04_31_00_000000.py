from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T04:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the messages waiting to be decided, in the order the claim takes them"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="messages", description=DESCRIPTION)

    async def create_index():
        """The claim reads `state IN ('queued', 'held') AND due_at <= now ORDER BY due_at, id`:
        without this it sorted every waiting message (~8 ms a claim with 10,000 queued,
        bench/messages.py). Partial: sent messages, most of the table, are not in it."""
        from piccolo.apps.migrations.tables import Migration

        await Migration._meta.db.run_ddl(
            "CREATE INDEX IF NOT EXISTS messages_waiting ON messages (due_at, id) "
            "WHERE state IN ('queued', 'held')"
        )

    manager.add_raw(create_index)
    return manager
