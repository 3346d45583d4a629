"""Faults on purpose, through the API on real MariaDB pairs: after each one the target equals the source.

Why: a replication task lives for weeks, and in that time every part of its world fails at
least once -- the source restarts, the network drops a connection, the target goes down, the
OpenDRS process is killed, someone runs a huge batch job or leaves a transaction open. Each
test here causes one such fault while the source keeps taking writes, then checks that the
task converged (row counts and ``CHECKSUM TABLE`` equal for every table, keyless ones
included, so nothing was lost or applied twice) and that it says so itself (status still
``INCRE_TRANSFER_STARTED``, ``failed_reason`` empty, the retry visible in the server log).

Each test uses its own ``opendrs serve`` process and its own database. Servers that a test
kills or stops are its own ``MariaDBServer`` instances, never the session's shared ones.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pymysql
import pytest
from e2e_helpers import ServerHandle, wait_status
from mysql_helpers import checksums, detail, new_db, progress, start_mysql_task, stop_task, wait_equal

from harness import MariaDBServer, ServerURL, free_port
from harness.proxy import TcpProxy
from opendrs.client import DrsHttpClient

SLOW_LOAD = {"write_batch_rows": "20", "parallel_tables": "1"}  # with LOAD_ROWS: a load of several seconds
LOAD_ROWS = 60_000
RETRY_LOG = "transient failure, retrying"  # what the runner logs before each retry


# --- data and writers ---------------------------------------------------------------------------


def seed(server: MariaDBServer, db: str, pk_rows: int = 2000, comp_rows: int = 500, nokey_rows: int = 300) -> None:
    """A keyed, a composite-key and a keyless table (the keyless one with exact duplicates)."""
    server.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    server.execute(f"CREATE TABLE `{db}`.t_pk (id BIGINT PRIMARY KEY, v VARCHAR(64), n INT, "
                   "d DECIMAL(20,6), ts DATETIME(6), b VARBINARY(32), j JSON)")
    server.execute(f"CREATE TABLE `{db}`.t_comp (a INT, b VARCHAR(16), x INT, PRIMARY KEY (a, b))")
    server.execute(f"CREATE TABLE `{db}`.t_nokey (a INT, b VARCHAR(40))")
    with server.connect() as conn, conn.cursor() as cur:
        for start in range(0, pk_rows, 5000):
            cur.executemany(
                f"INSERT INTO `{db}`.t_pk VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(i, f"v{i} 😀", i % 977, f"{i}.{i % 1000:06d}", f"2024-01-02 03:04:05.{i % 999999:06d}",
                  bytes([i % 256]) * 8, f'{{"k": {i}}}') for i in range(start, min(start + 5000, pk_rows))])
        cur.executemany(f"INSERT INTO `{db}`.t_comp VALUES (%s, %s, %s)",
                        [(i // 10, f"k{i % 10}", i) for i in range(comp_rows)])
        cur.executemany(f"INSERT INTO `{db}`.t_nokey VALUES (%s, %s)", [(i % 50, "dup") for i in range(nokey_rows)])


@dataclass
class Writer:
    """Keeps committing small mixed transactions to the source until stopped; survives outages.

    Counts committed transactions; a transaction whose COMMIT was cut off is simply retried
    with new random choices (the tests compare the target with the source, not with a model).
    """

    server: MariaDBServer
    db: str
    seed: int = 7
    pk_range: int = 2000
    pause: float = 0.005
    committed: int = 0
    errors: int = 0
    fatal: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _txn(self, cur: Any, rnd: random.Random, next_id: int) -> int:
        db = self.db
        for _ in range(rnd.randint(2, 6)):
            op = rnd.random()
            if op < 0.35:
                cur.execute(f"INSERT INTO `{db}`.t_pk (id, v, n) VALUES (%s, %s, %s)", (next_id, f"w{next_id}", 1))
                next_id += 1
            elif op < 0.6:
                cur.execute(f"UPDATE `{db}`.t_pk SET n = n + 1, v = %s WHERE id = %s",
                            (f"u{rnd.random():.6f}", rnd.randrange(self.pk_range)))
            elif op < 0.7:
                cur.execute(f"DELETE FROM `{db}`.t_pk WHERE id = %s", (rnd.randrange(self.pk_range),))
            elif op < 0.8:
                cur.execute(f"INSERT INTO `{db}`.t_comp VALUES (%s, %s, 1) ON DUPLICATE KEY UPDATE x = x + 1",
                            (rnd.randrange(100), f"k{rnd.randrange(12)}"))
            elif op < 0.9:
                cur.execute(f"INSERT INTO `{db}`.t_nokey VALUES (%s, 'dup')", (rnd.randrange(50),))
            elif op < 0.95:
                cur.execute(f"UPDATE `{db}`.t_nokey SET b = %s WHERE a = %s LIMIT 1",
                            (f"u{rnd.randrange(1000)}", rnd.randrange(50)))
            else:
                cur.execute(f"DELETE FROM `{db}`.t_nokey WHERE a = %s LIMIT 1", (rnd.randrange(50),))
        return next_id

    def _run(self) -> None:
        rnd = random.Random(self.seed)
        next_id = 10_000_000 + self.seed * 1_000_000
        while not self.stop.is_set():
            try:
                with self.server.connect(autocommit=False, read_timeout=10, write_timeout=10) as conn, \
                        conn.cursor() as cur:
                    while not self.stop.is_set():
                        next_id = self._txn(cur, rnd, next_id)
                        conn.commit()
                        self.committed += 1
                        time.sleep(self.pause)
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError):
                self.errors += 1  # the source is down or restarting: try again shortly
                next_id += 1000  # a cut-off INSERT may or may not have committed
                self.stop.wait(0.2)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.fatal = exc
                return

    def __enter__(self) -> Writer:
        self.thread = threading.Thread(target=self._run, name="source-writer", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=15)
        assert self.fatal is None, f"writer failed: {self.fatal!r}"


# --- checks -------------------------------------------------------------------------------------


def log_text(server: ServerHandle) -> str:
    """The whole server log (``ServerHandle.log_text`` keeps only the tail)."""
    assert server.log_path is not None
    return server.log_path.read_text(errors="replace")


def converge(http: DrsHttpClient, server: ServerHandle, job_id: str, source: MariaDBServer, target: MariaDBServer,
             db: str, timeout: float = 90, what: str = "") -> dict[str, tuple[int, Any]]:
    """Target == source for every table (counts and CHECKSUM TABLE), and the task says all is well."""
    try:
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=timeout)
        result = wait_equal(source, target, db, timeout=timeout)
    except AssertionError as exc:
        task = detail(http, job_id)
        raise AssertionError(f"{what}: {exc}\ntask {task['status']}: {task['failed_reason']!r}\n"
                             f"server log tail:\n{server.log_text()[-3000:]}") from None
    assert checksums(source, db) == checksums(target, db), what
    task = detail(http, job_id)
    assert (task["status"], task["failed_reason"]) == ("INCRE_TRANSFER_STARTED", ""), (what, task)
    return result


def wait_progress(http: DrsHttpClient, job_id: str, percent: float, timeout: float = 60) -> dict[str, Any]:
    """Until the full load reports ``percent`` done (or CDC began); returns the last progress."""
    deadline = time.monotonic() + timeout
    prog: dict[str, Any] = {}
    while time.monotonic() < deadline:
        prog = progress(http, job_id)
        if prog["transfer_status"] != "FULL_TRANSFER_STARTED" and prog["transfer_status"] not in (
                "STARTJOBING", "CONFIGURATION"):
            return prog
        if prog["transfer_status"] == "FULL_TRANSFER_STARTED" and float(prog["progress"] or 0) >= percent:
            return prog
        time.sleep(0.05)
    raise AssertionError(f"full load never reached {percent}%: {prog}")


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def _unique_server_id() -> int:
    """Away from the small ids the session's servers get (the pre-check rejects equal server_ids)."""
    return random.randrange(1000, 1 << 30)


@pytest.fixture
def own_source() -> Iterator[MariaDBServer]:
    """A source MariaDB this test may kill and restart (fixed port: the task's endpoint stays valid)."""
    with MariaDBServer(name="fault-source", port=free_port(), server_id=_unique_server_id()) as srv:
        yield srv


# --- (a) writes during the full load --------------------------------------------------------------


def test_writes_during_full_load_are_neither_lost_nor_doubled(server: ServerHandle, mariadb_server: MariaDBServer,
                                                              mariadb_target: MariaDBServer) -> None:
    db = new_db("during_load")
    seed(mariadb_server, db, pk_rows=LOAD_ROWS, comp_rows=2000, nokey_rows=2000)
    with Writer(mariadb_server, db, pk_range=LOAD_ROWS) as writer, server.client() as http:
        job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, full_sync=SLOW_LOAD)
        wait_status(http, job_id, "FULL_TRANSFER_STARTED", timeout=60)
        at_load_start = writer.committed
        load_started = time.monotonic()
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        load_seconds = time.monotonic() - load_started
        during_load = writer.committed - at_load_start
        time.sleep(1)
    assert during_load > 50, f"only {during_load} source transactions during a {load_seconds:.1f}s load"
    with server.client() as http:
        result = converge(http, server, job_id, mariadb_server, mariadb_target, db, what="writes during load")
        stop_task(http, job_id)
    assert result["t_pk"][0] > LOAD_ROWS and result["t_nokey"][0] > 0
    print(f"full load {load_seconds:.1f}s with {during_load} concurrent source transactions; final {result}")


# --- (b) source restart mid-CDC -----------------------------------------------------------------


def test_source_restart_mid_cdc(server: ServerHandle, own_source: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    """SIGKILL of the source (a crash), then a clean restart, both under writes: the task retries and converges."""
    source = own_source
    db = new_db("src_restart")
    seed(source, db)
    with server.client() as http:
        job_id = start_mysql_task(http, source, mariadb_target, db)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
        with Writer(source, db) as writer:
            time.sleep(1.5)
            source.kill()  # crash: no shutdown, the binlog ends wherever it ends
            time.sleep(2)
            assert detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"  # retrying, not failed
            source.start()
            time.sleep(3)
            source.restart()  # graceful this time
            time.sleep(2)
        assert writer.committed > 20 and writer.errors > 0, (writer.committed, writer.errors)
        converge(http, server, job_id, source, mariadb_target, db, timeout=90, what="source restarts")
        assert RETRY_LOG in log_text(server), "the retry after the source restart is not in the server log"
        stop_task(http, job_id)


# --- (c) connection cut by a proxy ----------------------------------------------------------------


def test_source_connection_cut_mid_full_load_and_mid_cdc(server: ServerHandle, mariadb_server: MariaDBServer,
                                                         mariadb_target: MariaDBServer) -> None:
    db = new_db("cut")
    seed(mariadb_server, db, pk_rows=LOAD_ROWS, comp_rows=2000, nokey_rows=2000)
    with TcpProxy(mariadb_server.host, mariadb_server.port, lifetime=300) as proxy, server.client() as http:
        via_proxy = MariaDBServer(external=ServerURL.parse(  # the source, as the task sees it: behind the proxy
            f"mysql://{mariadb_server.user}:{mariadb_server.password}@127.0.0.1:{proxy.port}/", default_port=3306))
        with Writer(mariadb_server, db, pk_range=LOAD_ROWS) as writer:  # writes straight to the source
            job_id = start_mysql_task(http, via_proxy, mariadb_target, db, full_sync=SLOW_LOAD)
            cut_in_load = 0
            for percent in (10, 40):
                prog = wait_progress(http, job_id, percent)
                if prog["transfer_status"] == "FULL_TRANSFER_STARTED":
                    cut_in_load += proxy.cut()
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
            cut_in_cdc = 0
            for _ in range(3):
                time.sleep(1.5)
                cut_in_cdc += proxy.cut()
            proxy.block()  # a few seconds in which the source is unreachable
            time.sleep(3)
            assert detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"
            proxy.unblock()
            time.sleep(1)
            assert writer.committed > 0
        assert cut_in_load >= 1, "the full load finished before the proxy could cut it"
        # One binlog connection per stream, re-opened after a back-off of 1 s then 2 s: three cuts 1.5 s
        # apart find it at least twice.
        assert cut_in_cdc >= 2, f"only {cut_in_cdc} connections were cut during CDC"
        converge(http, server, job_id, mariadb_server, mariadb_target, db, what="proxy cuts")
        assert log_text(server).count(RETRY_LOG) >= 4, "the retries after the cuts are not in the server log"
        stop_task(http, job_id)
    print(f"cut {cut_in_load} connections during the load, {cut_in_cdc} during CDC; "
          f"{proxy.connections_total} proxied connections in all")


# --- (d) target down --------------------------------------------------------------------------------


@dataclass
class OutageRun:
    down_seconds: int
    statuses: set[str]  # the task's status, polled every second while the target was down
    lags: list[int]  # incre_trans_delay_millis, polled likewise
    writes_during: int  # source transactions committed meanwhile
    converged: str  # "" when the target equals the source afterwards, else why not
    retry_logged: bool


@pytest.fixture(scope="module", params=[20, pytest.param(60, marks=pytest.mark.slow)], ids=lambda s: f"{s}s")
def target_outage(request: pytest.FixtureRequest, mariadb_server: MariaDBServer) -> Iterator[OutageRun]:
    """CDC under writes; the target is shut down for ``down_seconds`` and started again."""
    down_seconds = int(request.param)
    tmp = Path(tempfile.mkdtemp(prefix="opendrs-e2e-outage-"))
    server = ServerHandle(data_dir=tmp / "data")
    target = MariaDBServer(name="fault-target", port=free_port(), server_id=_unique_server_id())
    try:
        target.start()
        server.start()
        db = new_db("tgt_down")
        seed(mariadb_server, db)
        with server.client() as http:
            job_id = start_mysql_task(http, mariadb_server, target, db)
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
            statuses: set[str] = set()
            lags: list[int] = []
            with Writer(mariadb_server, db) as writer:
                time.sleep(1)
                target.stop()
                before = writer.committed
                deadline = time.monotonic() + down_seconds
                while time.monotonic() < deadline:
                    statuses.add(detail(http, job_id)["status"])
                    lags.append(int(progress(http, job_id)["incre_trans_delay_millis"]))
                    time.sleep(1)
                writes = writer.committed - before
                target.start()
                time.sleep(1)
            converged = ""
            try:
                converge(http, server, job_id, mariadb_server, target, db, timeout=60,
                         what=f"target down {down_seconds}s")
            except AssertionError as exc:
                converged = str(exc)
            run = OutageRun(down_seconds, statuses, lags, writes, converged, RETRY_LOG in log_text(server))
            print(f"\ntarget down {down_seconds}s: status {statuses}, incre_trans_delay_millis {lags}")
            yield run
            stop_task(http, job_id)
    finally:
        server.kill()
        target.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_target_down_then_back(target_outage: OutageRun) -> None:
    run = target_outage
    assert run.statuses == {"INCRE_TRANSFER_STARTED"}, f"the task gave up while the target was down: {run.statuses}"
    assert run.writes_during > 100, "the source did not keep taking writes"
    assert run.converged == ""
    assert run.retry_logged, "the retries while the target was down are not in the server log"


def test_lag_reported_while_the_target_is_down_grows(target_outage: OutageRun) -> None:
    """Was a bug: batch-progress was only updated by a running CDC loop, so during the outage
    incre_trans_delay_millis stayed frozen at its last value (325 ms through a 20 s outage).
    The runner updates it when it retries (back-off 1, 2, 4, 8, 15 s), hence half the outage."""
    run = target_outage
    assert max(run.lags) >= run.down_seconds * 1000 // 2, f"lag during a {run.down_seconds}s outage: {run.lags}"


# --- (e) kill -9 of the OpenDRS server at random points ---------------------------------------------


def test_kill9_at_random_points_of_full_load_and_cdc(server: ServerHandle, mariadb_server: MariaDBServer,
                                                     mariadb_target: MariaDBServer) -> None:
    seed_value = int(os.environ.get("OPENDRS_FAULT_SEED") or random.randrange(2**32))
    print(f"kill -9 schedule seed: {seed_value} (rerun with OPENDRS_FAULT_SEED={seed_value})")
    rnd = random.Random(seed_value)
    db = new_db("kill9")
    seed(mariadb_server, db, pk_rows=LOAD_ROWS, comp_rows=3000, nokey_rows=5000)
    kills: list[str] = []
    try:
        with Writer(mariadb_server, db, seed=seed_value % 1000, pk_range=LOAD_ROWS):
            with server.client() as http:
                job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, full_sync=SLOW_LOAD)
            for point in sorted(rnd.uniform(5, 80) for _ in range(2)):  # two kills in the full load
                with server.client() as http:
                    prog = wait_progress(http, job_id, point, timeout=90)
                kills.append(f"{prog['transfer_status']}@{prog['progress']}%")
                server.restart(hard=True)
            for _ in range(3):  # three in CDC
                with server.client() as http:
                    wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
                time.sleep(rnd.uniform(0.2, 3.0))
                with server.client() as http:
                    kills.append(progress(http, job_id)["transfer_status"])
                server.restart(hard=True)
            time.sleep(1)
        with server.client() as http:
            result = converge(http, server, job_id, mariadb_server, mariadb_target, db, timeout=120,
                              what=f"kill -9 at {kills}")
            stop_task(http, job_id)
        # The restarted server resumed the load (planned it again from the target's checkpoints).
        assert log_text(server).count("full load of 3 tables") >= 2, "the full load was not resumed after a kill"
    except AssertionError as exc:
        raise AssertionError(f"seed {seed_value}, kills at {kills}: {exc}") from None
    assert any(k.startswith("FULL_TRANSFER_STARTED") for k in kills), f"seed {seed_value}: no kill in the load: {kills}"
    assert result["t_nokey"] == checksums(mariadb_server, db)["t_nokey"]
    print(f"kills at {kills}; final {result}")


# --- (f) one 1,000,000-row transaction ----------------------------------------------------------------


def _vm_kib(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field_name} in /proc/{pid}/status")


BIG_TXN_ROWS = int(os.environ.get("OPENDRS_BIG_TXN_ROWS", "1000000"))  # set larger to see memory grow with it
# What the pipeline may hold for one big transaction beyond its idle footprint: a part being
# captured and a batch being applied (20,000 changes / 16-32 MiB of row events each), plus slack.
RSS_GROWTH_BUDGET_MIB = 128


@dataclass
class BigTxnRun:
    rows: int
    commit_s: float
    applied_s: float
    baseline_mib: int
    peak_mib: int
    converged: str  # "" when the target equals the source, else why not


@pytest.fixture(scope="module")
def big_txn_run(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> Iterator[BigTxnRun]:
    """One INSERT ... SELECT of BIG_TXN_ROWS rows during CDC, watched through the server's /proc status."""
    tmp = Path(tempfile.mkdtemp(prefix="opendrs-e2e-bigtxn-"))
    server = ServerHandle(data_dir=tmp / "data")
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        db = new_db("million")
        seed(mariadb_server, db, pk_rows=1000)
        mariadb_server.execute(f"CREATE TABLE `{db}`.big (id BIGINT PRIMARY KEY, n INT, s VARCHAR(32))")
        with server.client() as http:
            job_id = start_mysql_task(http, mariadb_server, mariadb_target, db)
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
            time.sleep(2)
            baseline = _vm_kib(pid, "VmHWM")  # everything before the big transaction, incl. the full load
            started = time.monotonic()
            mariadb_server.execute(f"INSERT INTO `{db}`.big SELECT seq, seq % 1000, MD5(seq) "
                                   f"FROM `{db}`.seq_1_to_{BIG_TXN_ROWS}")
            commit_s = time.monotonic() - started
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.big")[0][0] == BIG_TXN_ROWS:
                    break
                time.sleep(1)
            applied_s = time.monotonic() - started
            converged = ""
            try:
                converge(http, server, job_id, mariadb_server, mariadb_target, db, timeout=120, what="big transaction")
            except AssertionError as exc:
                converged = str(exc)
            peak = _vm_kib(pid, "VmHWM")
            run = BigTxnRun(BIG_TXN_ROWS, commit_s, applied_s, baseline // 1024, peak // 1024, converged)
            print(f"\n{run.rows}-row INSERT: committed on the source in {commit_s:.1f}s, all on the target after "
                  f"{applied_s:.1f}s; opendrs serve peak RSS (VmHWM) {run.baseline_mib} MiB before, "
                  f"{run.peak_mib} MiB after")
            yield run
            stop_task(http, job_id)
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_million_row_transaction_converges(big_txn_run: BigTxnRun) -> None:
    assert big_txn_run.converged == ""


@pytest.mark.slow
def test_million_row_transaction_memory_is_bounded(big_txn_run: BigTxnRun) -> None:
    """Was a bug: the capture queue was bounded by its number of items (4096), and a big source
    transaction arrives as parts of 20,000 changes, so capture outran apply and queued most of
    it: +200..272 MiB of peak RSS for 1M rows, +473 MiB for 3M. Bounded by changes: +39 MiB."""
    growth = big_txn_run.peak_mib - big_txn_run.baseline_mib
    assert growth <= RSS_GROWTH_BUDGET_MIB, (
        f"peak RSS grew by {growth} MiB (to {big_txn_run.peak_mib} MiB) for one {big_txn_run.rows}-row transaction")


# --- (g) a long-open transaction during the full load ------------------------------------------------


def test_long_open_transaction_during_full_load(server: ServerHandle, mariadb_server: MariaDBServer,
                                                mariadb_target: MariaDBServer) -> None:
    db = new_db("open_txn")
    seed(mariadb_server, db, pk_rows=10_000)
    open_conn = mariadb_server.connect(autocommit=False)
    try:
        with open_conn.cursor() as cur:  # BEGIN before the task starts; COMMIT after the load
            cur.execute("BEGIN")
            cur.executemany(f"INSERT INTO `{db}`.t_pk (id, v, n) VALUES (%s, 'open', 0)",
                            [(i,) for i in range(5_000_000, 5_000_500)])
            cur.execute(f"UPDATE `{db}`.t_pk SET v = 'open-updated' WHERE id < 100")
            cur.executemany(f"INSERT INTO `{db}`.t_nokey VALUES (%s, 'open')", [(i,) for i in range(200)])
        with server.client() as http:
            job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, full_sync=SLOW_LOAD)
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
            time.sleep(1)
            assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.t_pk WHERE v LIKE 'open%%'")[0][0] == 0
            open_conn.commit()
            converge(http, server, job_id, mariadb_server, mariadb_target, db, what="long-open transaction")
            assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.t_pk WHERE v LIKE 'open%%'")[0][0] == 600
            assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.t_nokey WHERE b = 'open'")[0][0] == 200
            stop_task(http, job_id)
    finally:
        with contextlib.suppress(pymysql.err.Error):
            open_conn.close()


# --- the retry budget ---------------------------------------------------------------------------------

# Was a bug (runner.ReplicationRunner._with_retries): the 10-minute retry budget was measured from
# the start of the PHASE, not from the failure, so the first transient failure after 10 minutes of
# CDC (or of a long full load) was not retried and the task went straight to INCRE_TRANSFER_FAILED.


class _RetryCtx:
    """The two RunContext methods ``_with_retries`` uses."""

    def __init__(self) -> None:
        self.runtime: dict[str, Any] = {}
        self.slept: list[float] = []

    def update_runtime(self, **values: Any) -> None:
        self.runtime.update(values)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class _TransientKit:
    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)


def test_a_source_restart_after_eleven_minutes_of_cdc_is_retried_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast, deterministic reproduction of the slow e2e test below (fake clock, no servers)."""
    from opendrs.jobs.model import Job
    from opendrs.jobs.supervisor import RunContext
    from opendrs.pipeline import runner as runner_module

    clock = [1000.0]
    monkeypatch.setattr(runner_module, "time", SimpleNamespace(monotonic=lambda: clock[0], time=lambda: clock[0]))
    kit = cast(runner_module.EngineKit, _TransientKit())
    runner = runner_module.ReplicationRunner(cast(Job, SimpleNamespace(id="job-1")), lambda _svc: kit)
    runner.kit = kit
    calls = 0

    def cdc_phase() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # CDC ran fine for 11 minutes, then the source restarted
            clock[0] += 11 * 60
            raise ConnectionError("lost the binlog connection to the source")
        # the retry: CDC resumes from the checkpoint and (here) stops cleanly

    ctx = _RetryCtx()
    runner._with_retries(cast(RunContext, ctx), cdc_phase)
    assert calls == 2 and ctx.slept == [1.0]


@pytest.mark.slow
def test_a_source_connection_cut_after_eleven_minutes_of_cdc_is_retried(
        server: ServerHandle, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    db = new_db("late_cut")
    seed(mariadb_server, db)
    with TcpProxy(mariadb_server.host, mariadb_server.port, lifetime=1200) as proxy, server.client() as http:
        via_proxy = MariaDBServer(external=ServerURL.parse(
            f"mysql://{mariadb_server.user}:{mariadb_server.password}@127.0.0.1:{proxy.port}/", default_port=3306))
        job_id = start_mysql_task(http, via_proxy, mariadb_target, db)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
        with Writer(mariadb_server, db, pause=0.5):
            deadline = time.monotonic() + 11 * 60
            while time.monotonic() < deadline:
                assert detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"
                time.sleep(5)
            assert proxy.cut() >= 1
            time.sleep(3)
        converge(http, server, job_id, mariadb_server, mariadb_target, db, what="a cut after 11 minutes of CDC")
        stop_task(http, job_id)
