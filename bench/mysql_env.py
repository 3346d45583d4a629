"""The MariaDB servers of the benchmark: the test launcher plus production-like memory and file access.

``opendrs.sandbox.MariaDBServer`` is tuned for many small tests (32 MB buffer pool, 8 MB redo
log) and has no option for extra server arguments, so the bench subclasses it and appends
its own flags to the command line (``mariadbd`` lets a later option override an earlier one):
a realistic buffer pool and redo log, ``secure_file_priv`` pointing at the bench's work dir
(for ``SELECT ... INTO OUTFILE`` / ``LOAD DATA INFILE``) and a packet size that fits dumps.
Everything else (ROW binlog, GTID strict mode, durability relaxed with
``innodb_flush_log_at_trx_commit=2`` and ``sync_binlog=0``) is what the tests use, and the
same for every tool measured.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql

from opendrs.sandbox import MariaDBServer


class BenchMariaDB(MariaDBServer):
    """A throwaway ``mariadbd`` with a big buffer pool and file access to ``file_dir``."""

    def __init__(self, *, buffer_pool: str, file_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buffer_pool = buffer_pool
        self.file_dir = file_dir

    def _command(self) -> list[str]:
        return [
            *super()._command(),
            f"--innodb-buffer-pool-size={self.buffer_pool}",
            "--innodb-log-file-size=512M",
            "--innodb-log-buffer-size=64M",
            "--innodb-io-capacity=2000",  # default 200 flushes a bulk load's dirty pages for minutes
            "--innodb-io-capacity-max=8000",
            f"--secure-file-priv={self.file_dir}",
            "--local-infile=1",
            "--max-allowed-packet=256M",
            "--max-connections=500",
            "--skip-slave-start",
        ]

    def mysql_env(self) -> dict[str, str]:
        """Environment for the command-line clients (password out of the process list)."""
        return {**os.environ, "MYSQL_PWD": self.password}

    def client_args(self) -> list[str]:
        return ["--protocol=TCP", f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def checksums(server: MariaDBServer, db: str, tables: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """table -> (row count, CHECKSUM TABLE) for the given (or every base) table of ``db``."""
    if tables is None:
        found = server.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
                               "AND table_type='BASE TABLE' ORDER BY table_name", (db,))
        tables = [str(r[0]) for r in found]
    out: dict[str, tuple[int, int]] = {}
    conn = server.connect(read_timeout=3600)
    try:
        with conn.cursor() as cur:
            for name in tables:
                cur.execute(f"SELECT COUNT(*) FROM {quote(db)}.{quote(name)}")
                count = int(cur.fetchone()[0])
                cur.execute(f"CHECKSUM TABLE {quote(db)}.{quote(name)}")
                row = cur.fetchone()
                out[name] = (count, int(row[1]) if row and row[1] is not None else -1)
    finally:
        conn.close()
    return out


def verify_equal(want: dict[str, tuple[int, int]], target: MariaDBServer, db: str) -> str:
    """Compare the target's counts and checksums with ``want``; returns "" when equal, else the difference."""
    try:
        got = checksums(target, db, list(want))
    except pymysql.err.MySQLError as exc:
        return f"cannot read the target: {exc}"
    bad = [f"{t}: source {want[t]} target {got.get(t)}" for t in want if got.get(t) != want[t]]
    return "; ".join(bad)


def drop_database(server: MariaDBServer, db: str, *, log_bin: bool = True) -> None:
    conn = server.connect(read_timeout=600)
    try:
        with conn.cursor() as cur:
            if not log_bin:
                cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute(f"DROP DATABASE IF EXISTS {quote(db)}")
    finally:
        conn.close()


@contextlib.contextmanager
def session(server: MariaDBServer, **kwargs: Any) -> Iterator[pymysql.cursors.Cursor]:
    """A cursor on a fresh autocommit connection with long timeouts (bulk statements take minutes)."""
    conn = server.connect(read_timeout=7200, write_timeout=7200, **kwargs)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def master_position(server: MariaDBServer) -> tuple[str, int]:
    """``SHOW MASTER STATUS`` as (file, position)."""
    rows = server.execute("SHOW MASTER STATUS")
    if not rows:
        raise RuntimeError(f"{server!r} has no binary log (SHOW MASTER STATUS is empty)")
    return str(rows[0][0]), int(rows[0][1])


def dirty_pages(server: MariaDBServer) -> int:
    rows = server.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
    return int(rows[0][1]) if rows else 0


def settle(server: MariaDBServer, *, timeout: float = 90.0, threshold: int = 200) -> int:
    """Flush InnoDB's dirty pages before a measured run, so no tool pays for the previous one's writes.

    Lowers ``innodb_max_dirty_pages_pct`` to 0 until at most ``threshold`` pages are dirty (or
    ``timeout`` passes), then restores it; returns the dirty pages left.
    """
    before = server.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")[0][0]
    server.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    try:
        deadline = time.monotonic() + timeout
        left = dirty_pages(server)
        while left > threshold and time.monotonic() < deadline:
            time.sleep(0.5)
            left = dirty_pages(server)
        return left
    finally:
        server.execute("SET GLOBAL innodb_max_dirty_pages_pct = %s", (before,))
