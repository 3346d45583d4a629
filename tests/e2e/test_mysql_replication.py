"""MySQL -> MySQL through the API on real MariaDB servers: full load, CDC, DDL, pause/resume, kill -9.

Every check compares the target with the source (row counts and CHECKSUM TABLE per table).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from e2e_helpers import ServerHandle, wait_status
from mysql_helpers import checksums, detail, new_db, progress, start_mysql_task, stop_task, wait_equal

from harness import MariaDBServer


def _seed(server: MariaDBServer, db: str, rows: int = 2000) -> None:
    server.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    server.execute(f"""CREATE TABLE `{db}`.t_pk (
        id BIGINT PRIMARY KEY, v VARCHAR(64), d DECIMAL(20,6), dt DATETIME(6), j JSON, b BLOB,
        u INT UNSIGNED, t TIME(6), e ENUM('a','b','c'), s SET('x','y','z'), bits BIT(13),
        g INT AS (u + 1) VIRTUAL, UNIQUE KEY uk_v (v))""")
    server.execute(f"CREATE TABLE `{db}`.t_comp (a INT, b VARCHAR(10), x INT, PRIMARY KEY (a, b))")
    server.execute(f"CREATE TABLE `{db}`.t_nokey (a INT, b TEXT)")
    server.execute(f"CREATE VIEW `{db}`.v_pk AS SELECT id, v FROM `{db}`.t_pk WHERE id < 10")
    with server.connect() as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO `{db}`.t_pk (id, v, d, dt, j, b, u, t, e, s, bits) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [(i, f"v{i} 😀", f"{i}.123456", f"2024-01-02 03:04:05.{i % 999999:06d}", f'{{"k": {i}}}',
              bytes([i % 256]) * 10, i * 7, f"-{i % 838}:01:02.5", "abc"[i % 3], "x,z", i % 8192)
             for i in range(rows)])
        cur.executemany(f"INSERT INTO `{db}`.t_comp VALUES (%s,%s,%s)",
                        [(i // 10, f"k{i % 10}", i) for i in range(rows // 4)])
        cur.executemany(f"INSERT INTO `{db}`.t_nokey VALUES (%s,%s)", [(i % 7, "dup") for i in range(100)])
        conn.commit()


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def test_full_load_then_cdc(server: ServerHandle, mariadb_server: MariaDBServer,
                            mariadb_target: MariaDBServer) -> None:
    db = new_db("repl")
    _seed(mariadb_server, db)
    with server.client() as http:
        job_id = start_mysql_task(http, mariadb_server, mariadb_target, db)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(mariadb_server, mariadb_target, db)
        assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.v_pk")[0][0] == 10

        with mariadb_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{db}`.t_pk (id, v, u) VALUES (100001, 'new', 1), (100002, 'new2', 2)")
            cur.execute(f"UPDATE `{db}`.t_pk SET v = CONCAT(v, '!'), u = u + 1 WHERE id < 50")
            cur.execute(f"UPDATE `{db}`.t_pk SET id = id + 500000 WHERE id BETWEEN 50 AND 59")  # key change
            cur.execute(f"DELETE FROM `{db}`.t_pk WHERE id BETWEEN 60 AND 80")
            cur.execute(f"DELETE FROM `{db}`.t_nokey WHERE a = 3 LIMIT 2")
            cur.execute(f"UPDATE `{db}`.t_nokey SET b = 'changed' WHERE a = 4")
            cur.execute(f"UPDATE `{db}`.t_comp SET x = -x WHERE a = 1")
            conn.commit()
        wait_equal(mariadb_server, mariadb_target, db)

        mariadb_server.execute(f"ALTER TABLE `{db}`.t_comp ADD COLUMN z INT DEFAULT 7")
        mariadb_server.execute(f"INSERT INTO `{db}`.t_comp (a, b, x, z) VALUES (999, 'ddl', 1, 8)")
        try:
            wait_equal(mariadb_server, mariadb_target, db)
        except AssertionError as exc:
            d = detail(http, job_id)
            log = server.log_text()[-3000:]
            raise AssertionError(f"{exc}\ntask: {d['status']} {d['failed_reason']}\n{log}") from None

        # 4.1.15 on a running task: the new (here: same, real) password is stored sealed and used
        # by the worker from its next connection on.
        changed = http.call("PUT", "/v3/{project_id}/jobs/batch-modify-pwd", {"jobs": [
            {"job_id": job_id, "end_point_type": "so", "db_password": mariadb_server.password},
            {"job_id": job_id, "end_point_type": "ta", "db_password": mariadb_target.password}]})
        assert [r["status"] for r in changed["results"]] == ["success", "success"], changed

        prog = progress(http, job_id)
        assert prog["transfer_status"] == "INCRE_TRANSFER_STARTED"
        assert int(prog["incre_trans_delay_millis"]) >= 0
        assert detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"

        # Pause: changes wait on the source; resume: they arrive.
        http.call("POST", "/v3/{project_id}/jobs/batch-pause-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "PAUSING")
        mariadb_server.execute(f"INSERT INTO `{db}`.t_pk (id, v) VALUES (200000, 'while paused')")
        time.sleep(2)
        assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.t_pk WHERE id = 200000")[0][0] == 0
        http.call("POST", "/v3/{project_id}/jobs/batch-retry-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        wait_equal(mariadb_server, mariadb_target, db)
        stop_task(http, job_id)


class _Writer:
    """Keeps writing to the source (inserts, updates, deletes) until stopped."""

    def __init__(self, server: MariaDBServer, db: str) -> None:
        self.server, self.db = server, db
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        rnd = random.Random(7)
        try:
            with self.server.connect() as conn, conn.cursor() as cur:
                next_id = 10_000_000
                while not self.stop.is_set():
                    for _ in range(5):
                        op = rnd.random()
                        if op < 0.5:
                            cur.execute(f"INSERT INTO `{self.db}`.t_pk (id, v, u) VALUES (%s, %s, %s)",
                                        (next_id, f"w{next_id}", next_id % 1000))
                            next_id += 1
                        elif op < 0.85:
                            cur.execute(f"UPDATE `{self.db}`.t_pk SET u = u + 1 WHERE id = %s",
                                        (rnd.randrange(0, 3000),))
                        else:
                            cur.execute(f"DELETE FROM `{self.db}`.t_pk WHERE id = %s", (rnd.randrange(0, 3000),))
                    conn.commit()
                    self.count += 1
                    time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def __enter__(self) -> _Writer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def big_db(mariadb_server: MariaDBServer) -> str:
    db = new_db("kill")
    _seed(mariadb_server, db, rows=30_000)
    return db


def test_kill9_during_full_load_and_cdc(server: ServerHandle, mariadb_server: MariaDBServer,
                                        mariadb_target: MariaDBServer, big_db: str) -> None:
    """The server is SIGKILLed mid full load and three times mid CDC under writes: nothing lost or doubled."""
    db = big_db
    with _Writer(mariadb_server, db) as writer:
        with server.client() as http:
            # Small batches, one worker: the load takes long enough to be killed in the middle.
            job_id = start_mysql_task(http, mariadb_server, mariadb_target, db,
                                      full_sync={"write_batch_rows": "20", "parallel_tables": "1"})
            wait_status(http, job_id, "FULL_TRANSFER_STARTED", timeout=60)
            time.sleep(0.3)
            killed_in = progress(http, job_id)
        server.restart(hard=True)
        with server.client() as http:
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=180)
        for _ in range(3):
            time.sleep(random.uniform(0.5, 2.0))
            server.restart(hard=True)
        assert writer.count > 0
    assert writer.error is None, writer.error
    assert killed_in["transfer_status"] == "FULL_TRANSFER_STARTED", killed_in
    with server.client() as http:
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
        result = wait_equal(mariadb_server, mariadb_target, db, timeout=120)
        assert result["t_pk"][0] > 30_000
        stop_task(http, job_id)
    assert checksums(mariadb_server, db) == checksums(mariadb_target, db)
