from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-12-03T08:43:36:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger_allocations.brand from its entry's; NOT NULL on PostgreSQL (SQLite cannot alter a column)"


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)

    async def backfill():
        await engine.run_ddl(
            "UPDATE ledger_allocations SET brand = "
            "(SELECT e.brand FROM ledger_entries e WHERE e.id = ledger_allocations.entry) WHERE brand IS NULL"
        )

    manager.add_raw(backfill)  # raw steps run before the column changes below
    if engine.engine_type == "postgres":
        manager.alter_column(
            table_class_name="Allocation",
            tablename="ledger_allocations",
            column_name="brand",
            db_column_name="brand",
            params={"null": False},
            old_params={"null": True},
            column_class=ForeignKey,
            old_column_class=ForeignKey,
        )
    return manager
