from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox events: drop attempts and locked_until, which nothing ever read"
# The worker claims events by done_at and run_after; a delivery's attempts live on push_deliveries.


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="outbox", description=DESCRIPTION)
    for column in ("attempts", "locked_until"):
        manager.drop_column(
            table_class_name="OutboxEvent", tablename="outbox_events", column_name=column, db_column_name=column
        )
    return manager
