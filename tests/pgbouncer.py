"""Debian's PgBouncer in transaction pooling mode, started by the tests in front of the test
PostgreSQL: each transaction may run on a different server connection, as in production.

`RETORNO_TEST_PGBOUNCER=1` (with RETORNO_TEST_DATABASE_URL) puts the whole session behind one
(conftest.py); tests/test_pgbouncer.py starts its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    def __init__(self, upstream_url: str, *, pool_size: int = 8) -> None:
        parts = urlsplit(upstream_url)
        self.upstream, self.user = parts, parts.username or "postgres"
        self.port, self.pool_size = _free_port(), pool_size
        self.folder = Path(tempfile.mkdtemp(prefix="retorno-pgbouncer-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The upstream's URL with PgBouncer's address instead."""
        netloc = f"{self.user}@127.0.0.1:{self.port}"
        return urlunsplit(self.upstream._replace(netloc=netloc))

    def start(self) -> None:
        host, port = self.upstream.hostname or "127.0.0.1", self.upstream.port or 5432
        (self.folder / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"  # the test server trusts local connections too
            f"auth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 1000\n"
            "max_db_connections = 0\n"
            "server_reset_query =\n"
        )
        self.folder.chmod(0o755)
        for file in self.folder.iterdir():
            file.chmod(0o644)
        # PgBouncer refuses to run as root; -u drops to PostgreSQL's own user.
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        command = [BINARY, *as_user, str(self.folder / "pgbouncer.ini")]
        log = open(self.folder / "pgbouncer.log", "wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"PgBouncer did not start: {(self.folder / 'pgbouncer.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
