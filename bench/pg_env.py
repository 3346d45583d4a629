"""The PostgreSQL servers of the benchmark: the test launcher plus production-like memory, and checksums.

``opendrs.sandbox.PostgresServer`` is tuned for many small tests (``shared_buffers=32MB``) and
has no option for extra settings, so the bench subclasses it and appends its own ``-c`` flags
to the postmaster's command line (a later ``-c`` overrides an earlier one): a realistic
``shared_buffers``, a ``max_wal_size`` that does not force a checkpoint every few MB during a
bulk load, and room for the extra slots/senders/workers the native subscription needs.
``fsync=off`` and ``full_page_writes=off`` are what the tests use, the same for every tool.

Checksums are per table: the row count and the md5 of the md5s of every row's text in
primary-key order, read with fixed session settings so both sides print values alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from opendrs.sandbox import PostgresServer

# Both sides print values the same way, whatever the servers' defaults.
SESSION = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"
BINDIR_GLOB = "/usr/lib/postgresql/*/bin"


class BenchPostgres(PostgresServer):
    """A throwaway postmaster with ``shared_buffers`` of the bench's choosing and bulk-load friendly WAL."""

    def __init__(self, *, shared_buffers: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shared_buffers = shared_buffers

    def _command(self) -> list[str]:
        return [*super()._command(), *settings_args(extra_settings(self.shared_buffers))]

    def client_env(self) -> dict[str, str]:
        """Environment for the command-line clients: password out of the process list, fixed session settings."""
        return {**os.environ, "PGPASSWORD": self.password, "PGOPTIONS": SESSION, "PGCONNECT_TIMEOUT": "10"}


def extra_settings(shared_buffers: str) -> dict[str, str]:
    """The settings the bench adds on top of the test launcher's (see the module docstring)."""
    return {
        "shared_buffers": shared_buffers,
        "max_wal_size": "4GB",  # below 1GB OpenDRS's precheck warns: the load checkpoints constantly
        "checkpoint_timeout": "30min",
        "maintenance_work_mem": "256MB",  # index builds after the load (pg_restore, pgcopydb, OpenDRS)
        "work_mem": "16MB",
        "max_connections": "200",
        "max_replication_slots": "20",
        "max_wal_senders": "20",
        "max_logical_replication_workers": "8",
        "max_worker_processes": "16",
        "max_slot_wal_keep_size": "-1",
        "wal_sender_timeout": "300s",
        "synchronous_commit": "off",  # as fsync=off already: no tool waits for a WAL flush per commit
    }


def settings_args(settings: dict[str, str]) -> list[str]:
    """``{"a": "1"}`` -> ``["-c", "a=1"]`` for the postmaster's command line."""
    out: list[str] = []
    for key, value in settings.items():
        out += ["-c", f"{key}={value}"]
    return out


def bindir() -> Path:
    """The bin dir of the newest installed PostgreSQL (the servers' own version: its pg_dump can dump them)."""
    import glob

    dirs = glob.glob(BINDIR_GLOB)
    if not dirs:
        raise FileNotFoundError(f"no PostgreSQL binaries under {BINDIR_GLOB}")
    return Path(max(dirs, key=lambda d: float(Path(d).parent.name)))


def conninfo(host: str, port: int, user: str, db: str) -> str:
    """A libpq keyword string without the password (that travels in PGPASSWORD)."""
    def q(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"host={q(host)} port={port} user={q(user)} dbname={q(db)}"


def uri(host: str, port: int, user: str, password: str, db: str) -> str:
    """A postgres:// URI (for pgcopydb, which wants URIs); the password is percent-encoded."""
    return f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(db, safe='')}"


def server_conninfo(server: PostgresServer, db: str) -> str:
    return conninfo(server.host, server.port, server.user, db)


def server_uri(server: PostgresServer, db: str) -> str:
    return uri(server.host, server.port, server.user, server.password, db)


def ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def parse_lsn(text: str) -> int:
    """``16/B374D848`` -> an integer byte position."""
    hi, sep, lo = text.partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(hi, 16) << 32) | int(lo, 16)


def checksum_query(table: str, key: str) -> sql.Composed:
    """count + md5 over the md5 of each row's text in ``key`` order (md5s keep string_agg far below 1 GB)."""
    rel = sql.Identifier(table)
    return sql.SQL("SELECT count(*), md5(coalesce(string_agg(md5(ROW(bench_cs.*)::text), '' ORDER BY {key}), '')) "
                   "FROM {rel} bench_cs").format(key=sql.Identifier("bench_cs", key), rel=rel)


@contextlib.contextmanager
def connect(server: PostgresServer, db: str, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
    with server.connect(dbname=db, options=SESSION, connect_timeout=10, **kwargs) as conn:
        yield conn


def checksums(server: PostgresServer, db: str, tables: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """table -> (rows, md5) for the given (or every public base) table of ``db``; the key is the first PK column."""
    out: dict[str, tuple[int, str]] = {}
    with connect(server, db) as conn:
        if tables is None:
            tables = [str(r[0]) for r in conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY relname").fetchall()]
        for table in tables:
            row = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (sql.Identifier(table).as_string(conn),)).fetchone()
            key = str(row[0]) if row else "id"
            got = conn.execute(checksum_query(table, key)).fetchone()
            assert got is not None
            out[table] = (int(got[0]), str(got[1]))
    return out


def diff_checksums(want: dict[str, tuple[int, str]], got: dict[str, tuple[int, str]]) -> str:
    """"" when every table of ``want`` has the same (count, md5) in ``got``, else what differs."""
    bad = [f"{t}: source {want[t]} target {got.get(t)}" for t in sorted(want) if got.get(t) != want[t]]
    return "; ".join(bad)


def verify_equal(want: dict[str, tuple[int, str]], target: PostgresServer, db: str) -> str:
    try:
        got = checksums(target, db, list(want))
    except psycopg.Error as exc:
        return f"cannot read the target: {str(exc).strip()}"
    return diff_checksums(want, got)


def drop_database(server: PostgresServer, db: str) -> None:
    """Drop ``db`` (subscriptions in it first: they own a remote slot; FORCE ends leftover sessions)."""
    exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
    if not exists:
        return
    with connect(server, db) as conn:
        for (name,) in conn.execute("SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                                    "WHERE d.datname = current_database()").fetchall():
            sub = sql.Identifier(str(name))
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sub))
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(sub))
            conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sub))
    server.execute(f"DROP DATABASE IF EXISTS {ident(db)} WITH (FORCE)")


def create_database(server: PostgresServer, db: str) -> None:
    drop_database(server, db)
    server.execute(f"CREATE DATABASE {ident(db)}")


def settle(*servers: PostgresServer) -> None:
    """CHECKPOINT each server, so no tool pays for the dirty buffers of the one before it."""
    for server in servers:
        server.execute("CHECKPOINT")


def current_lsn(server: PostgresServer) -> int:
    return parse_lsn(str(server.execute("SELECT pg_current_wal_lsn()::text")[0][0]))


def slot_lag_bytes(server: PostgresServer, slot: str) -> int | None:
    """WAL bytes between the source's current position and the slot's confirmed_flush_lsn (None: no slot)."""
    rows = server.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                          "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def slot_active(server: PostgresServer, slot: str) -> bool:
    rows = server.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    return bool(rows and rows[0][0])


def rows_written(server: PostgresServer, db: str) -> dict[str, int]:
    """Rows inserted + updated per public table of ``db`` (cumulative statistics): more than the table holds
    means a tool wrote rows twice (overlapping ranges, retried batches). Read after the verification, so the
    writers' sessions have ended and flushed their statistics."""
    with connect(server, db) as conn:
        rows = conn.execute("SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
                            "WHERE schemaname = 'public' ORDER BY relname").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
