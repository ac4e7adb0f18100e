"""Staff members and their roles at brands.

These tables were created by the auth Piccolo app's first migration, and that app still owns
their migrations (retorno/auth/piccolo_app.py lists this module): a change to them is generated
with `retorno makemigrations auth`. Only the classes live here, so that nothing here imports
retorno.auth.
"""

from piccolo.columns import Boolean, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table

from retorno.brands.tables import Brand


class Staff(Table, tablename="staff"):
    id: Serial  # added by Piccolo; declared for the type checker
    email = Varchar(length=254, unique=True)
    name = Varchar(length=200, default="")
    platform_admin = Boolean(default=False)
    created_at = Timestamptz()


class StaffRole(Table, tablename="staff_roles"):
    id: Serial  # added by Piccolo; declared for the type checker
    staff = ForeignKey(Staff, on_delete=OnDelete.cascade, null=False)
    brand = ForeignKey(Brand, on_delete=OnDelete.cascade, null=False)
    role = Varchar(length=20)  # owner | manager | operator
    unique_staff_brand = Unique([staff, brand])
