from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T17:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "NPS: the admin's figures read a brand's answers by when they were given"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="nps", description=DESCRIPTION)

    async def index():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS nps_surveys_answered ON nps_surveys (brand, answered_at)"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS nps_surveys_asked ON nps_surveys (customer, asked_at)"
        )

    manager.add_raw(index)
    return manager
