from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-23T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the worker's queries: due deliveries, and events not yet fanned out"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="push", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS push_deliveries_due ON push_deliveries (state, next_attempt_at)"
        )
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS push_subscriptions_brand ON push_subscriptions (brand)")
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS outbox_events_due ON outbox_events (run_after) WHERE done_at IS NULL"
        )

    manager.add_raw(create_indexes)
    return manager
