import os

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="points",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=table_finder(modules=["retorno.points.tables"], exclude_imported=True),
    migration_dependencies=[
        "retorno.brands.piccolo_app",
        "retorno.customers.piccolo_app",
        "retorno.ledger.piccolo_app",
        "retorno.vouchers.piccolo_app",
    ],
    commands=[],
)
