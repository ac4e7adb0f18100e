from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.constraints import Unique

ID = "2026-12-03T09:09:35:397810"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: an event's dedupe key unique per (dedupe_key, brand)"
# SQLite cannot drop a column's UNIQUE without rebuilding the table: there outbox_events keeps
# UNIQUE (dedupe_key) beside the new (dedupe_key, brand), the same rows since a key names a row of
# one brand.


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="outbox", description=DESCRIPTION
    )

    if postgres:
        manager.alter_column(
            table_class_name="OutboxEvent",
            tablename="outbox_events",
            column_name="dedupe_key",
            db_column_name="dedupe_key",
            params={"unique": False},
            old_params={"unique": True},
            column_class=Varchar,
            old_column_class=Varchar,
            schema=None,
        )

    manager.add_constraint(
        table_class_name="OutboxEvent",
        tablename="outbox_events",
        constraint_name="unique_outbox_dedupe",
        constraint_class=Unique,
        params={"columns": ["dedupe_key", "brand"], "nulls_distinct": True},
        schema=None,
    )

    return manager
