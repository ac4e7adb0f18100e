from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Varchar
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:44:262472"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: one survey per (sale, brand), its token unique per (token, brand)"
# SQLite cannot drop a column's UNIQUE without rebuilding the table: there nps_surveys keeps UNIQUE
# (sale) and UNIQUE (token) beside the new ones with brand, the same rows (a sale has one brand; a
# token is random).


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="nps", description=DESCRIPTION
    )

    if postgres:
        manager.alter_column(
            table_class_name="Survey",
            tablename="nps_surveys",
            column_name="sale",
            db_column_name="sale",
            params={"unique": False},
            old_params={"unique": True},
            column_class=ForeignKey,
            old_column_class=ForeignKey,
            schema=None,
        )

    manager.add_constraint(
        table_class_name="Survey",
        tablename="nps_surveys",
        constraint_name="unique_nps_sale",
        constraint_class=Unique,
        params={"columns": ["sale", "brand"], "nulls_distinct": True},
        schema=None,
    )

    if postgres:
        manager.alter_column(
            table_class_name="Survey",
            tablename="nps_surveys",
            column_name="token",
            db_column_name="token",
            params={"unique": False},
            old_params={"unique": True},
            column_class=Varchar,
            old_column_class=Varchar,
            schema=None,
        )

    manager.add_constraint(
        table_class_name="Survey",
        tablename="nps_surveys",
        constraint_name="unique_nps_token",
        constraint_class=Unique,
        params={"columns": ["token", "brand"], "nulls_distinct": True},
        schema=None,
    )

    return manager
