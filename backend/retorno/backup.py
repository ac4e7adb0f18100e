"""A consistent copy of a SQLite database while the app serves, and putting one back.

`retorno backup <file>` uses SQLite's online backup API: the copy is the database as it was at
one moment (a transaction committed before the copy began is in it; one committed during it is in
it whole or not at all), taken a few pages at a time so writers are held up for milliseconds,
not for the whole copy. It is written to `<file>.partial` and renamed into place when whole and
checked, so a file at `<file>` is always a complete database. `retorno restore <file>` checks the
file (SQLite's integrity check, and that it is a Retorno database) and copies it over the
configured database with the same API; stop the app and the workers first.

PostgreSQL has its own tools, which this does not replace: `pg_dump -Fc` and `pg_restore` (the
README gives the commands).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from retorno.errors import Invalid

PAGES_A_STEP = 1024  # 4 MB at SQLite's default page size: a writer waits for one step at most


def sqlite_path(database_url: str) -> Path:
    if not database_url.startswith("sqlite:///"):
        raise Invalid(
            "backup and restore are for SQLite; on PostgreSQL use pg_dump -Fc and pg_restore (the README)"
        )
    return Path(database_url.removeprefix("sqlite:///"))


def _check(conn: sqlite3.Connection, *, copy: bool) -> None:
    """SQLite's integrity check, and that it is a Retorno database (a copy made now, or a backup)."""
    ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        if copy:
            raise Invalid("the copy is damaged: %(problem)s", problem=ok)
        raise Invalid("the backup is damaged: %(problem)s", problem=ok)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"migration", "brands", "ledger_postings"} <= tables:
        if copy:
            raise Invalid("the copy is not a Retorno database")
        raise Invalid("the backup is not a Retorno database")


def backup(database_url: str, target: Path) -> int:
    """Copy the database to `target` (refused if it exists); the size in bytes."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise Invalid("there is no database at %(path)s", path=str(source_path))
    if target.exists():
        raise Invalid("%(path)s exists already: choose another file", path=str(target))
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=PAGES_A_STEP)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            _check(copy, copy=True)
        finally:
            copy.close()
    finally:
        source.close()
    os.replace(partial, target)
    return target.stat().st_size


def restore(database_url: str, backup_file: Path) -> None:
    """Put a backup in place of the configured database (the app and workers stopped)."""
    target_path = sqlite_path(database_url)
    if not backup_file.exists():
        raise Invalid("there is no backup at %(path)s", path=str(backup_file))
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        _check(source, copy=False)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path)
        try:
            source.backup(target, pages=PAGES_A_STEP)
            target.execute("PRAGMA journal_mode = WAL")  # as the app runs it
        finally:
            target.close()
    finally:
        source.close()
