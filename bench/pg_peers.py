"""The tools OpenDRS is compared with on PostgreSQL: pg_dump/pg_restore, pgcopydb, a COPY pipe, a subscription.

Each full-load peer copies ``bench`` from the source into an empty ``bench`` on the target and
returns; the caller times it and verifies the copy (row count + md5 per table). A missing
tool raises ``Skipped`` with the note to print. Child processes run through
``mysql_peers.run_pipeline`` (deadline, stderr to a file whose tail lands in the error).

Settings worth knowing when reading the figures: pg_dump/pg_restore use the directory format
with 2 jobs each and pg_dump's default compression (gzip; ``--pg-dump-compress`` changes it);
a directory dump cannot be piped, so the dump is written to disk, then restored (both timed).
pgcopydb ``clone`` runs with 2 table jobs and 2 index jobs (its defaults otherwise, including
its VACUUM ANALYZE of the target). The COPY pipe creates the tables
(``pg_dump --section=pre-data | psql``), runs one ``psql COPY TO STDOUT | psql COPY FROM STDIN``
per table, two tables at a time, then builds the keys and indexes (``--section=post-data``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import BenchError, wait_until
from mysql_peers import have, run_pipeline
from pg_data import MARK_TABLE, sql_text
from pg_env import BenchPostgres, bindir, connect, ident, server_conninfo, server_uri, slot_active, slot_lag_bytes


def tool(name: str) -> str:
    """A client binary of the servers' own PostgreSQL version (pg_dump refuses to dump a newer server)."""
    path = bindir() / name
    if not path.exists():
        return have(name, "apt-get install -y postgresql-client")
    return str(path)


# --- command lines (pure) ----------------------------------------------------------------------


def pg_dump_cmd(pg_dump: str, source_conninfo: str, out: Path, jobs: int, compress: str | None = None) -> list[str]:
    """``compress`` None: pg_dump's default (gzip for the directory format), else its ``--compress`` value."""
    cmd = [pg_dump, "--format=directory", f"--jobs={jobs}", "--no-sync", f"--file={out}"]
    if compress is not None:
        cmd.append(f"--compress={compress}")
    return [*cmd, f"--dbname={source_conninfo}"]


def pg_restore_cmd(pg_restore: str, target_conninfo: str, dump: Path, jobs: int) -> list[str]:
    return [pg_restore, f"--jobs={jobs}", "--exit-on-error", "--no-owner", f"--dbname={target_conninfo}", str(dump)]


def pgcopydb_cmd(pgcopydb: str, source_uri: str, target_uri: str, workdir: Path, jobs: int) -> list[str]:
    return [pgcopydb, "clone", "--source", source_uri, "--target", target_uri, "--dir", str(workdir),
            "--table-jobs", str(jobs), "--index-jobs", str(jobs), "--no-owner"]


def psql_cmd(psql: str, conninfo: str, command: str | None = None) -> list[str]:
    cmd = [psql, "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", f"--dbname={conninfo}"]
    return [*cmd, "-c", command] if command is not None else cmd


def copy_commands(psql: str, source_conninfo: str, target_conninfo: str, table: str) -> list[list[str]]:
    """``psql -c 'COPY t TO STDOUT' | psql -c 'COPY t FROM STDIN'`` for one table."""
    name = ident(table)
    return [psql_cmd(psql, source_conninfo, f"COPY {name} TO STDOUT"),
            psql_cmd(psql, target_conninfo, f"COPY {name} FROM STDIN")]


# --- full-load peers ---------------------------------------------------------------------------


def pg_dump_restore_copy(source: BenchPostgres, target: BenchPostgres, db: str, *, jobs: int, workdir: Path,
                         timeout: float, logs: Path, compress: str | None = None) -> dict[str, float]:
    """``pg_dump -Fd -j N`` to a fresh directory, then ``pg_restore -j N`` into the (empty) target database."""
    out = workdir / "pgdump"
    shutil.rmtree(out, ignore_errors=True)
    began = time.monotonic()
    run_pipeline([pg_dump_cmd(tool("pg_dump"), server_conninfo(source, db), out, jobs, compress)],
                 env=source.client_env(),
                 timeout=timeout, logs=logs, what="pg_dump")
    dumped = time.monotonic()
    run_pipeline([pg_restore_cmd(tool("pg_restore"), server_conninfo(target, db), out, jobs)],
                 env=target.client_env(), timeout=max(1.0, timeout - (dumped - began)), logs=logs, what="pg_restore")
    loaded = time.monotonic()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return {"dump_s": round(dumped - began, 2), "restore_s": round(loaded - dumped, 2), "dump_bytes": size}


def pgcopydb_copy(source: BenchPostgres, target: BenchPostgres, db: str, *, jobs: int, workdir: Path,
                  timeout: float, logs: Path) -> dict[str, Any]:
    """``pgcopydb clone`` (schema, data with N COPY jobs, indexes with N jobs) into the empty target database."""
    exe = have("pgcopydb", "apt-get install -y pgcopydb")
    out = workdir / "pgcopydb"
    shutil.rmtree(out, ignore_errors=True)
    env = {**source.client_env(), "PATH": f"{bindir()}:{source.client_env().get('PATH', '')}"}
    env.pop("PGPASSWORD")  # the URIs carry the passwords (pgcopydb connects to both sides)
    run_pipeline([pgcopydb_cmd(exe, server_uri(source, db), server_uri(target, db), out, jobs)], env=env,
                 timeout=timeout, logs=logs, what="pgcopydb")
    shutil.rmtree(out, ignore_errors=True)
    return {}


def _tables_by_size(source: BenchPostgres, db: str) -> list[str]:
    with connect(source, db) as conn:
        rows = conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind = 'r' "
                            "ORDER BY pg_total_relation_size(c.oid) DESC").fetchall()
    return [str(r[0]) for r in rows]


def copy_pipe_copy(source: BenchPostgres, target: BenchPostgres, db: str, *, parallel: int, timeout: float,
                   logs: Path) -> dict[str, float]:
    """Tables from pre-data DDL, then one COPY pipe per table (``parallel`` at a time), then keys and indexes."""
    pg_dump, psql = tool("pg_dump"), tool("psql")
    src, dst = server_conninfo(source, db), server_conninfo(target, db)
    env = source.client_env()  # both servers share the password
    began = time.monotonic()
    run_pipeline([[pg_dump, "--schema-only", "--section=pre-data", f"--dbname={src}"], psql_cmd(psql, dst)],
                 env=env, timeout=timeout, logs=logs, what="copy pre-data")
    ddl = time.monotonic()

    def one(table: str) -> None:
        run_pipeline(copy_commands(psql, src, dst, table), env=env, timeout=timeout, logs=logs, what=f"copy {table}")

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="copy-pipe") as pool:
        for future in [pool.submit(one, t) for t in _tables_by_size(source, db)]:
            future.result()
    copied = time.monotonic()
    run_pipeline([[pg_dump, "--schema-only", "--section=post-data", f"--dbname={src}"], psql_cmd(psql, dst)],
                 env=env, timeout=timeout, logs=logs, what="copy post-data")
    done = time.monotonic()
    return {"pre_data_s": round(ddl - began, 2), "copy_s": round(copied - ddl, 2),
            "post_data_s": round(done - copied, 2)}


# --- native logical replication ----------------------------------------------------------------


def prepare_native(source: BenchPostgres, db: str, publication: str, slot: str, tables: list[str]) -> None:
    """Publication and pgoutput slot on the source, made BEFORE the change stream is written."""
    with connect(source, db) as conn:
        conn.execute(f"DROP PUBLICATION IF EXISTS {ident(publication)}")
        conn.execute(f"CREATE PUBLICATION {ident(publication)} FOR TABLE {', '.join(ident(t) for t in tables)}")
        if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))


def subscription_sql(name: str, source_conninfo: str, password: str, publication: str, slot: str) -> str:
    """CREATE SUBSCRIPTION on the existing slot, without the initial copy (the target already has the rows)."""
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"  # libpq value quoting
    conn = f"{source_conninfo} password={quoted}"
    return (f"CREATE SUBSCRIPTION {ident(name)} CONNECTION {sql_text(conn)} PUBLICATION {ident(publication)} "
            f"WITH (create_slot = false, slot_name = {sql_text(slot)}, copy_data = false)")


def subscription_catch_up(source: BenchPostgres, target: BenchPostgres, source_db: str, target_db: str, *,
                          publication: str, slot: str, caught_up: Callable[[], bool], timeout: float,
                          on_poll: Callable[[str], None]) -> tuple[float, dict[str, Any]]:
    """CREATE SUBSCRIPTION in ``target_db``; returns (seconds until ``caught_up()``, lag figures).

    ``caught_up`` is the same check as OpenDRS's (marker row there, then the checksums equal),
    so both pay for one checksum inside the measured time.
    """
    name = "bench_native_sub"
    create = subscription_sql(name, server_conninfo(source, source_db), source.password, publication, slot)
    lag: dict[str, Any] = {"max_lag_bytes": 0, "samples": []}
    with connect(target, target_db) as conn:
        began = time.monotonic()
        conn.execute(create)

    def poll() -> None:
        if "start_to_streaming_s" not in lag and slot_active(source, slot):
            lag["start_to_streaming_s"] = round(time.monotonic() - began, 2)
        behind = slot_lag_bytes(source, slot)
        if behind is not None:
            lag["max_lag_bytes"] = max(lag["max_lag_bytes"], behind)
            lag["samples"].append({"t": round(time.monotonic() - began, 1), "lag_bytes": behind})
        with connect(target, target_db) as c:
            row = c.execute("SELECT received_lsn::text, latest_end_lsn::text FROM pg_stat_subscription "
                            "WHERE subname = %s AND relid IS NULL", (name,)).fetchone()
        on_poll(f"received {row[0] if row else '?'} behind {behind if behind is not None else '?'} bytes")

    done = wait_until(caught_up, timeout=timeout,
                      what=f"the native subscription to apply {MARK_TABLE}", on_poll=poll, interval=0.2)
    time.sleep(1.2)  # the subscriber reports its flush position asynchronously
    lag["final_lag_bytes"] = slot_lag_bytes(source, slot)
    lag["samples"] = lag["samples"][-20:]
    return done - began, lag


def drop_subscription(target: BenchPostgres, target_db: str, name: str = "bench_native_sub") -> None:
    """Drop the subscription and with it the source's slot (nothing left pinned)."""
    try:
        with connect(target, target_db) as conn:
            conn.execute(f"DROP SUBSCRIPTION IF EXISTS {ident(name)}")
    except Exception as exc:  # noqa: BLE001 - best effort at cleanup; say why
        raise BenchError(f"could not drop the subscription {name}: {exc}") from exc
