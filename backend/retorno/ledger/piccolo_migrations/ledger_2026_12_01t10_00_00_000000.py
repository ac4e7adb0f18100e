from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Integer

ID = "2026-12-01T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "money columns are BIGINT (int4 stopped at R$ 21.474.836,47 on PostgreSQL)"
# SQLite's INTEGER is already 64-bit and it cannot ALTER a column's type: nothing to do there.

MONEY = {
    ("Sale", "sales"): ("total", "shipping", "cashback"),
    ("Lot", "ledger_lots"): ("amount", "remaining"),
    ("Refund", "sale_refunds"): ("amount", "reversed", "written_off"),
    ("Redemption", "redemptions"): ("order_total", "amount"),
    ("Entry", "ledger_entries"): ("amount",),
    ("Allocation", "ledger_allocations"): ("amount",),
    ("Account", "ledger_accounts"): ("debt",),
}


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)
    if Migration._meta.db.engine_type == "postgres":
        for (table_class_name, tablename), columns in MONEY.items():
            for column in columns:
                manager.alter_column(
                    table_class_name=table_class_name,
                    tablename=tablename,
                    column_name=column,
                    db_column_name=column,
                    column_class=BigInt,
                    old_column_class=Integer,
                )
    return manager
