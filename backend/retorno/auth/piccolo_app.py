import os

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="auth",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    # The staff tables are defined in retorno.staff, but this app made them and keeps their migrations.
    table_classes=table_finder(
        modules=["retorno.auth.tables", "retorno.staff.tables"], exclude_imported=True
    ),
    migration_dependencies=["retorno.customers.piccolo_app"],
    commands=[],
)
