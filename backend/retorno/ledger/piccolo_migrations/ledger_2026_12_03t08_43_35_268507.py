from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Serial
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Unique
from piccolo.table import Table


class Brand(Table, tablename="brands", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-12-03T08:43:35:268507"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: ledger_allocations gets its entry's brand; a debt account unique per (customer, brand)"
# ledger_allocations.brand is added nullable and filled from its entry by the next migration, which
# then makes it NOT NULL on PostgreSQL (SQLite cannot alter a column; Citus is PostgreSQL anyway).
# SQLite cannot drop a column's UNIQUE without rebuilding the table: there ledger_accounts keeps
# UNIQUE (customer) beside the new (customer, brand), the same rows since a customer has one brand.


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="ledger", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Allocation",
        tablename="ledger_allocations",
        column_name="brand",
        db_column_name="brand",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Brand,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    if postgres:
        manager.alter_column(
            table_class_name="Account",
            tablename="ledger_accounts",
            column_name="customer",
            db_column_name="customer",
            params={"unique": False},
            old_params={"unique": True},
            column_class=ForeignKey,
            old_column_class=ForeignKey,
            schema=None,
        )

    manager.add_constraint(
        table_class_name="Account",
        tablename="ledger_accounts",
        constraint_name="unique_ledger_account",
        constraint_class=Unique,
        params={"columns": ["customer", "brand"], "nulls_distinct": True},
        schema=None,
    )

    return manager
