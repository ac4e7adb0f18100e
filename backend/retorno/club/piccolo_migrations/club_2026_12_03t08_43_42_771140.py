from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:42:771140"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: a benefit's use unique per (benefit, customer, brand)"


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="club", description=DESCRIPTION
    )

    if postgres:
        manager.drop_constraint(
            table_class_name="BenefitUse",
            tablename="club_uses",
            constraint_name="unique_club_use",
            schema=None,
        )
    else:

        async def drop_unique_club_use():
            await engine.run_ddl('DROP INDEX IF EXISTS "unique_club_use"')

        manager.add_raw(drop_unique_club_use)

    manager.add_constraint(
        table_class_name="BenefitUse",
        tablename="club_uses",
        constraint_name="unique_club_use_brand",
        constraint_class=Unique,
        params={
            "columns": ["benefit", "customer", "brand"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
