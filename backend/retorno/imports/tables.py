"""An import of past sales the worker processes in chunks: the file, where it got to, what it found."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from retorno.brands.tables import Brand
from retorno.staff.tables import Staff


class ImportJob(Table, tablename="import_jobs"):
    id: Serial  # added by Piccolo; declared for the type checker
    brand = ForeignKey(Brand, on_delete=OnDelete.restrict, null=False, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.restrict, null=False)
    filename = Varchar(length=200, default="")
    header = Text()  # JSON: the CSV's column names
    body = Text()  # the CSV after its header line
    state = Varchar(length=12, default="queued")  # queued | running | done
    total = Integer(default=0)  # rows in the file
    position = Integer(default=0)  # characters of `body` already processed
    done_rows = Integer(default=0)
    imported = Integer(default=0)
    skipped = Integer(default=0)
    rejected = Integer(default=0)
    problems = Text(default="[]")  # JSON: the rejected rows (line, order_id, reason)
    lease_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
