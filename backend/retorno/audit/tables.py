"""Every change a staff member makes: who, when, what, before and after. Never updated or deleted."""

from piccolo.columns import ForeignKey, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.staff.tables import Staff


class AuditEvent(Table, tablename="audit_events"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=True, default=None, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.restrict, null=False)
    action = Varchar(length=60)
    target = Varchar(length=200, default="")
    before = Text(default="null")  # JSON
    after = Text(default="null")  # JSON
    at = Timestamptz()
