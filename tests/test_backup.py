"""`retorno backup` and `retorno restore`: a consistent copy of the SQLite database taken while an
app process takes a stream of sales, put back in place, with every sale acknowledged before the
copy began in it and the ledger adding up; refusals in plain words; PostgreSQL pointed to pg_dump."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, LiveServer, free_port, server_env


def retorno(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "retorno", *args], env=env, capture_output=True, text=True)


def ledger_adds_up(path: Path) -> None:
    """Each unit's postings sum to zero, each entry's postings too, and no lot is below zero."""
    conn = sqlite3.connect(path)
    try:
        units = conn.execute("SELECT unit, SUM(amount) FROM ledger_postings GROUP BY unit").fetchall()
        assert all(total == 0 for _, total in units), units
        entries = conn.execute(
            "SELECT entry, SUM(amount) FROM ledger_postings WHERE entry IS NOT NULL GROUP BY entry "
            "HAVING SUM(amount) <> 0"
        ).fetchall()
        assert entries == []
        assert conn.execute("SELECT COUNT(*) FROM ledger_lots WHERE remaining < 0").fetchone()[0] == 0
        lots = conn.execute(
            "SELECT COUNT(*) FROM sales s WHERE s.cashback > 0 AND NOT EXISTS "
            "(SELECT 1 FROM ledger_lots l WHERE l.sale = s.id AND l.unit = 'brl')"
        ).fetchone()[0]
        assert lots == 0  # every sale's cashback is there with it: no half of a transaction
    finally:
        conn.close()


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's backup; on PostgreSQL the command points to pg_dump")
def test_a_backup_during_a_stream_of_sales_restores_every_acknowledged_sale(tmp_path: Path) -> None:
    db_path = tmp_path / "live.sqlite3"
    port = free_port()
    env = server_env(f"sqlite:///{db_path}", port, tmp_path, "test")
    assert retorno(env, "demo").returncode == 0
    key = retorno(env, "apikeys", "create", "bella").stdout.strip().splitlines()[-1]
    server = LiveServer(port, env, tmp_path / "server.log", args=("--no-worker",))
    server.start()
    acknowledged: list[tuple[float, str]] = []  # (when the 201 came back, order id)
    stop = threading.Event()

    def sell() -> None:
        with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=10) as api:
            n = 0
            while not stop.is_set():
                n += 1
                order = f"B-{n}"
                body = {"order_id": order, "customer": {"email": f"s{n % 40}@example.com"}, "total": 1000 + n}
                if api.post(server.url(None, "/api/v1/sales"), json=body).status_code == 201:
                    acknowledged.append((time.monotonic(), order))

    sellers = [threading.Thread(target=sell) for _ in range(2)]
    try:
        for t in sellers:
            t.start()
        while len(acknowledged) < 100:
            time.sleep(0.05)
        began = time.monotonic()
        copy = tmp_path / "copy.sqlite3"
        done = retorno(env, "backup", str(copy))
        assert done.returncode == 0, done.stderr
        assert "backup:" in done.stdout
        time.sleep(0.3)  # sales go on after the copy
    finally:
        stop.set()
        for t in sellers:
            t.join()
        server.stop()
    before = {order for at, order in acknowledged if at < began}
    assert len(before) >= 100 and len(acknowledged) > len(before)
    assert not (tmp_path / "copy.sqlite3.partial").exists()

    again = retorno(env, "backup", str(copy))
    assert again.returncode == 2 and "exists already" in again.stderr  # never over another file

    # Put it back as the database of a fresh place, and serve from it.
    restored_path = tmp_path / "restored.sqlite3"
    port2 = free_port()
    env2 = server_env(f"sqlite:///{restored_path}", port2, tmp_path, "test")
    asked = retorno(env2, "restore", str(copy))
    assert asked.returncode == 2 and "--yes" in asked.stdout  # it says what it will do first
    put = retorno(env2, "restore", str(copy), "--yes")
    assert put.returncode == 0, put.stderr
    conn = sqlite3.connect(restored_path)
    try:
        kept = {r[0] for r in conn.execute("SELECT order_id FROM sales")}
    finally:
        conn.close()
    assert before <= kept, sorted(before - kept)[:5]
    ledger_adds_up(restored_path)
    served = LiveServer(port2, env2, tmp_path / "restored.log", args=("--no-worker",))
    served.start()
    try:
        with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=10) as api:
            first = sorted(before, key=lambda o: int(o.split("-")[1]))[0]
            found = api.get(served.url(None, f"/api/v1/sales/{first}"))
            assert found.status_code == 200, found.text
    finally:
        served.stop()


@pytest.mark.skipif(bool(PG_URL), reason="SQLite files")
def test_restore_refuses_what_is_no_retorno_database(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", free_port(), tmp_path, "test")
    junk = tmp_path / "junk.sqlite3"
    conn = sqlite3.connect(junk)
    conn.execute("CREATE TABLE x (y)")
    conn.commit()
    conn.close()
    refused = retorno(env, "restore", str(junk), "--yes")
    assert refused.returncode == 2 and "not a Retorno database" in refused.stderr
    missing = retorno(env, "restore", str(tmp_path / "none.sqlite3"), "--yes")
    assert missing.returncode == 2 and "no backup" in missing.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # nothing was written


def test_on_postgresql_backup_points_to_pg_dump(tmp_path: Path) -> None:
    env = server_env("postgresql://postgres@127.0.0.1:5432/retorno_none", free_port(), tmp_path, "test")
    refused = retorno(env, "backup", str(tmp_path / "x"))
    assert refused.returncode == 2 and "pg_dump" in refused.stderr
