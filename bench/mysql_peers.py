"""The tools OpenDRS is compared with: mysqldump, mydumper/myloader, INTO OUTFILE + LOAD DATA, a native replica.

Each full-load peer copies ``bench`` from the source into an empty ``bench`` on the target and
returns; the caller times it and verifies the copy (row counts + CHECKSUM TABLE). A missing
tool raises ``Skipped`` with the note to print, never an error. Every child process runs with
a deadline and is killed when it passes; its stderr goes to a file whose tail ends up in the
error message.

Settings worth knowing when reading the figures: mysqldump runs with its defaults
(``--opt``: extended inserts, keys disabled during the load) plus ``--single-transaction``;
mydumper/myloader use 2 threads, split tables into chunks of ``--rows`` and myloader, by its
default, does NOT binlog on the target (every other tool and OpenDRS do; the ``mydumper-binlog``
row runs it with ``--enable-binlog`` for a like-for-like figure); the OUTFILE path
copies the two tables in two threads.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymysql
from common import BenchError, Skipped, wait_until
from mysql_data import marker_present
from mysql_env import BenchMariaDB, quote, session

# --- child processes ---------------------------------------------------------------------------


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def run_pipeline(cmds: list[list[str]], *, env: dict[str, str], timeout: float, logs: Path, what: str) -> None:
    """Run ``cmds[0] | cmds[1] | ...``; raise ``BenchError`` on a non-zero exit or after ``timeout``."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    errs: list[Path] = []
    try:
        for i, cmd in enumerate(cmds):
            err = logs / f"{what.replace(' ', '_')}-{i}-{Path(cmd[0]).name}.err"
            errs.append(err)
            stdin: Any = procs[-1].stdout if procs else subprocess.DEVNULL
            last = i == len(cmds) - 1
            with err.open("wb") as err_fh:
                proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                                        stderr=err_fh, env=env, start_new_session=True)
            if procs and procs[-1].stdout is not None:
                procs[-1].stdout.close()  # the next process owns the pipe now (SIGPIPE reaches the writer)
            procs.append(proc)
        deadline = time.monotonic() + timeout
        for proc in procs:
            proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what}: still running after {timeout:.0f}s; killed") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, cmd, err in zip(procs, cmds, errs, strict=True):
        if proc.returncode != 0:
            raise BenchError(f"{what}: {Path(cmd[0]).name} exited with {proc.returncode}:\n{_tail(err)}")


def have(tool: str, install: str) -> str:
    """Absolute path of ``tool`` or ``Skipped`` saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        raise Skipped(f"{tool} not installed ({install})")
    return path


def _client(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise Skipped(f"none of {', '.join(names)} is installed")


# --- full-load peers ---------------------------------------------------------------------------


def mysqldump_copy(source: BenchMariaDB, target: BenchMariaDB, db: str, *, timeout: float, logs: Path) -> None:
    """``mariadb-dump --single-transaction db | mariadb db`` (the target database exists and is empty)."""
    dump = [_client("mariadb-dump", "mysqldump"), *source.client_args(), "--single-transaction",
            "--default-character-set=utf8mb4", "--max-allowed-packet=256M", db]
    load = [_client("mariadb", "mysql"), *target.client_args(), "--default-character-set=utf8mb4",
            "--max-allowed-packet=256M", db]
    env = source.mysql_env()  # both servers share the root password
    run_pipeline([dump, load], env=env, timeout=timeout, logs=logs, what="mysqldump")


def mydumper_copy(source: BenchMariaDB, target: BenchMariaDB, db: str, *, threads: int, chunk_rows: int,
                  workdir: Path, timeout: float, logs: Path, enable_binlog: bool = False) -> dict[str, float]:
    """``mydumper -t N -r rows`` into a fresh directory, then ``myloader -t N``; returns the phases' seconds.

    ``enable_binlog``: myloader ``--enable-binlog``, so the target writes its binlog as OpenDRS's
    load does (by default myloader turns it off for its sessions, which saves the target that work).
    """
    dumper, loader = have("mydumper", "apt-get install -y mydumper"), have("myloader", "apt-get install -y mydumper")
    out = workdir / "mydumper"
    shutil.rmtree(out, ignore_errors=True)
    common = ["--host", source.host, "--user", source.user, "--password", source.password]
    began = time.monotonic()
    deadline = began + timeout
    run_pipeline([[dumper, *common, "--port", str(source.port), "--database", db, "--threads", str(threads),
                   "--rows", str(chunk_rows), "--trx-consistency-only", "--outputdir", str(out), "--verbose", "1"]],
                 env=source.mysql_env(), timeout=timeout, logs=logs, what="mydumper")
    dumped = time.monotonic()
    run_pipeline([[loader, *common, "--port", str(target.port), "--directory", str(out), "--database", db,
                   "--threads", str(threads), "--overwrite-tables", "--verbose", "1",
                   *(["--enable-binlog"] if enable_binlog else [])]],
                 env=target.mysql_env(), timeout=max(1.0, deadline - time.monotonic()), logs=logs, what="myloader")
    loaded = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    return {"dump_s": round(dumped - began, 2), "load_s": round(loaded - dumped, 2)}


def _tables(server: BenchMariaDB, db: str) -> list[str]:
    rows = server.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
                          "AND table_type='BASE TABLE' ORDER BY data_length DESC", (db,))
    return [str(r[0]) for r in rows]


def outfile_copy(source: BenchMariaDB, target: BenchMariaDB, db: str, *, threads: int, workdir: Path) -> None:
    """Per table (``threads`` at a time): SELECT INTO OUTFILE on the source, LOAD DATA INFILE on the target."""
    out = workdir / "outfile"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()

    def one(table: str) -> None:
        path = out / f"{table}.tsv"
        with session(source) as cur:
            cur.execute(f"SHOW CREATE TABLE {quote(db)}.{quote(table)}")
            create = str(cur.fetchone()[1])  # type: ignore[index]
            cur.execute(f"SELECT * INTO OUTFILE %s CHARACTER SET binary FROM {quote(db)}.{quote(table)}",
                        (str(path),))
        with session(target) as cur:
            cur.execute(f"USE {quote(db)}")
            cur.execute(create)
            cur.execute(f"LOAD DATA INFILE %s INTO TABLE {quote(table)} CHARACTER SET binary", (str(path),))
        path.unlink()

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outfile") as pool:
        for future in [pool.submit(one, t) for t in _tables(source, db)]:
            future.result()
    shutil.rmtree(out, ignore_errors=True)


# --- native replica ----------------------------------------------------------------------------


def _slave_status(replica: BenchMariaDB) -> dict[str, Any]:
    conn = replica.connect(cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
            return dict(row) if row else {}
    finally:
        conn.close()


def stop_replica(replica: BenchMariaDB) -> None:
    with session(replica) as cur:
        cur.execute("STOP SLAVE")
        cur.execute("RESET SLAVE ALL")


def replica_catch_up(replica: BenchMariaDB, source: BenchMariaDB, start: tuple[str, int], *,
                     threads: int, timeout: float, on_poll: Callable[[str], None]) -> tuple[float, dict[str, Any]]:
    """Replicate from ``start`` into the (already reset, stopped) replica; returns (seconds, lag stats).

    ``threads`` = 0 is the classic single SQL thread; N > 0 sets ``slave_parallel_threads`` = N
    (MariaDB's default optimistic mode, commit order preserved). Catch-up ends when the
    stream's marker row is visible on the replica.
    """
    with session(replica) as cur:
        cur.execute("RESET MASTER")  # forget GTIDs of earlier rounds: the same stream is replayed again
        cur.execute("SET GLOBAL gtid_slave_pos = ''")
        cur.execute("SET GLOBAL gtid_strict_mode = 0")
        cur.execute(f"SET GLOBAL slave_parallel_threads = {int(threads)}")
        cur.execute("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                    "MASTER_LOG_FILE=%s, MASTER_LOG_POS=%s, MASTER_USE_GTID=no",
                    (source.host, source.port, source.user, source.password, start[0], start[1]))
        started = time.monotonic()
        cur.execute("START SLAVE")
    lag: dict[str, Any] = {"max_seconds_behind_master": 0}

    def poll() -> None:
        status = _slave_status(replica)
        if status.get("Last_SQL_Errno") or status.get("Last_IO_Errno"):
            raise BenchError(f"native replica failed: SQL {status.get('Last_SQL_Error')!r} "
                             f"IO {status.get('Last_IO_Error')!r}")
        behind = status.get("Seconds_Behind_Master")
        if behind is not None:
            lag["max_seconds_behind_master"] = max(lag["max_seconds_behind_master"], int(behind))
        on_poll(f"exec {status.get('Relay_Master_Log_File')}:{status.get('Exec_Master_Log_Pos')} behind {behind}s")

    done = wait_until(lambda: marker_present(replica), timeout=timeout, what="the native replica to catch up",
                      on_poll=poll)
    stop_replica(replica)
    return done - started, lag
