from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-23T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a friend is referred once per brand; referrals are found by their first purchase"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="referrals", description=DESCRIPTION)

    async def create_indexes():
        from piccolo.apps.migrations.tables import Migration

        engine = Migration._meta.db
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS referrals_one_per_friend ON referrals (brand, friend) "
            "WHERE friend IS NOT NULL"
        )
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS referrals_sale ON referrals (sale)")

    manager.add_raw(create_indexes)
    return manager
