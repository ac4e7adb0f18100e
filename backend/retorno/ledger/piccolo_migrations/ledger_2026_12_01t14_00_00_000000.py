from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import BigInt, Boolean, ForeignKey, Serial, Timestamptz, Varchar
from piccolo.table import Table

ID = "2026-12-01T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "double entry: the postings between a brand's accounts, and which lots have matured"
# The next migration fills both in from the entries, lots and allocations already there.


def _table(name: str, tablename: str) -> type[Table]:
    return type(name, (Table,), {"id": Serial(null=False, primary_key=True)}, tablename=tablename)


Brand = _table("Brand", "brands")
Customer = _table("Customer", "customers")
Entry = _table("Entry", "ledger_entries")
Lot = _table("Lot", "ledger_lots")
Refund = _table("Refund", "sale_refunds")


def _fk(references: type[Table], *, null: bool, index: bool = False) -> ForeignKey:
    return ForeignKey(
        references=references,
        on_delete=OnDelete.restrict,
        on_update=OnUpdate.cascade,
        null=null,
        default=None,
        index=index,
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="ledger", description=DESCRIPTION)
    manager.add_table(class_name="Posting", tablename="ledger_postings", columns=None)
    columns = {
        "brand": _fk(Brand, null=False),
        "account": Varchar(length=24, default=""),
        "customer": _fk(Customer, null=True, index=True),
        "amount": BigInt(default=0),
        "occurred_at": Timestamptz(),
        "entry": _fk(Entry, null=True),
        "lot": _fk(Lot, null=True),
        "refund": _fk(Refund, null=True),
        "created_at": Timestamptz(),
    }
    for name, column in columns.items():
        manager.add_column(
            table_class_name="Posting",
            tablename="ledger_postings",
            column_name=name,
            db_column_name=name,
            column_class_name=type(column).__name__,
            column_class=type(column),
            params=column._meta.params,
        )
    manager.add_column(
        table_class_name="Lot",
        tablename="ledger_lots",
        column_name="matured",
        db_column_name="matured",
        column_class_name="Boolean",
        column_class=Boolean,
        params={"default": False},
    )
    return manager
