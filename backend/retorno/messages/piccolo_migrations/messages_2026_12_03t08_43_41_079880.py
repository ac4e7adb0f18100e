from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.constraints import Unique

ID = "2026-12-03T08:43:41:079880"
VERSION = "1.38.0"
DESCRIPTION = "distributable by brand: campaign members unique per (campaign, customer, brand), a message's key and token per (key, brand) and (token, brand)"
# SQLite cannot drop a column's UNIQUE without rebuilding the table: there messages keeps UNIQUE
# (key) and UNIQUE (token) beside the new ones with brand, the same rows (a key names its shopper,
# who has one brand; a token is random).


async def forwards():
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    postgres = engine.engine_type == "postgres"
    manager = MigrationManager(
        migration_id=ID, app_name="messages", description=DESCRIPTION
    )

    if postgres:
        manager.alter_column(
            table_class_name="Message",
            tablename="messages",
            column_name="key",
            db_column_name="key",
            params={"unique": False},
            old_params={"unique": True},
            column_class=Varchar,
            old_column_class=Varchar,
            schema=None,
        )

    if postgres:
        manager.drop_constraint(
            table_class_name="Member",
            tablename="message_campaign_members",
            constraint_name="unique_campaign_member",
            schema=None,
        )
    else:

        async def drop_unique_campaign_member():
            await engine.run_ddl('DROP INDEX IF EXISTS "unique_campaign_member"')

        manager.add_raw(drop_unique_campaign_member)

    manager.add_constraint(
        table_class_name="Member",
        tablename="message_campaign_members",
        constraint_name="unique_campaign_member_brand",
        constraint_class=Unique,
        params={
            "columns": ["campaign", "customer", "brand"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Message",
        tablename="messages",
        constraint_name="unique_message_key",
        constraint_class=Unique,
        params={"columns": ["key", "brand"], "nulls_distinct": True},
        schema=None,
    )

    if postgres:
        manager.alter_column(
            table_class_name="Message",
            tablename="messages",
            column_name="token",
            db_column_name="token",
            params={"unique": False},
            old_params={"unique": True},
            column_class=Varchar,
            old_column_class=Varchar,
            schema=None,
        )

    manager.add_constraint(
        table_class_name="Message",
        tablename="messages",
        constraint_name="unique_message_token",
        constraint_class=Unique,
        params={"columns": ["token", "brand"], "nulls_distinct": True},
        schema=None,
    )

    return manager
