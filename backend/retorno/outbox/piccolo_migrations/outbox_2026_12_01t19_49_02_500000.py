from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T19:49:02:500000"
VERSION = "1.38.0"
DESCRIPTION = "events before webhooks existed are done for them; the webhooks fan-out's query"
# No endpoint existed before this migration, so nothing older is owed to one.


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="outbox", description=DESCRIPTION)

    async def backfill_and_index():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl("UPDATE outbox_events SET webhooks_done_at = created_at WHERE webhooks_done_at IS NULL")
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS outbox_events_webhooks_due ON outbox_events (run_after) "
            "WHERE webhooks_done_at IS NULL"
        )

    manager.add_raw(backfill_and_index)
    return manager
