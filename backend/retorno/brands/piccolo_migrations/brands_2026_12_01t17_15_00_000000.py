from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T17:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a brand's font, corner style and banner size"


def _params(**extra):
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="brands", description=DESCRIPTION)
    for name, default in (("font", "system"), ("corners", "round")):
        manager.add_column(
            table_class_name="Brand",
            tablename="brands",
            column_name=name,
            db_column_name=name,
            column_class_name="Varchar",
            column_class=Varchar,
            params=_params(length=16, default=default),
            schema=None,
        )
    for name in ("banner_width", "banner_height"):
        manager.add_column(
            table_class_name="Brand",
            tablename="brands",
            column_name=name,
            db_column_name=name,
            column_class_name="Integer",
            column_class=Integer,
            params=_params(default=0),
            schema=None,
        )
    return manager
