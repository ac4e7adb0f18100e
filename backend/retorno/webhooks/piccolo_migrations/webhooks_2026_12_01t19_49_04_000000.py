from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T19:49:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "the worker's queries: due deliveries, one at a time per endpoint and customer; listings"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="webhooks", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at)"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS webhook_deliveries_open ON webhook_deliveries (endpoint, customer, id) "
            "WHERE state IN ('pending', 'sending', 'failed')"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint, id)"
        )

    manager.add_raw(create_indexes)
    return manager
