"""4.3.1 row filters and 4.3.2 conflict policies, on real MariaDB through the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_helpers import ServerHandle, wait_status
from mysql_helpers import detail, new_db, start_mysql_task, stop_task, wait_equal

from harness import MariaDBServer
from opendrs.client import DrsHttpClient


def _table(server: MariaDBServer, db: str, rows: int = 200) -> None:
    server.execute(f"CREATE DATABASE `{db}`")
    server.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20), n INT)")
    with server.connect() as conn, conn.cursor() as cur:
        cur.executemany(f"INSERT INTO `{db}`.t VALUES (%s, %s, %s)", [(i, f"v{i}", i) for i in range(rows)])
        conn.commit()


def _rows(server: MariaDBServer, db: str, where: str = "1") -> list[tuple[object, ...]]:
    return [tuple(r) for r in server.execute(f"SELECT id, v, n FROM `{db}`.t WHERE {where} ORDER BY id")]


def _wait_rows(target: MariaDBServer, db: str, want: list[tuple[object, ...]], timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    got: list[tuple[object, ...]] = []
    while time.monotonic() < deadline:
        try:
            got = _rows(target, db)
        except Exception:  # noqa: BLE001 - not created yet
            got = []
        if got == want:
            return
        time.sleep(0.3)
    raise AssertionError(f"target rows differ: want {len(want)} rows, got {len(got)}: {got[:5]}...")


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def test_row_filter_in_full_load_and_cdc(server: ServerHandle, mariadb_server: MariaDBServer,
                                         mariadb_target: MariaDBServer) -> None:
    db = new_db("filt")
    _table(mariadb_server, db)

    def add_rule(job_id: str) -> None:
        http.call("POST", "/v3/{project_id}/jobs/batch-transformation", {"jobs": [{
            "job_id": job_id, "object_info": [{"id": f"{db}-*-*-t", "select": "true"}],
            "transformation_info": {"transformation_type": "contentConditionalFilter",
                                    "value": "MOD(id, 2) = 0 AND v <> 'hide'"}}]})

    with server.client() as http:
        job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, configure=add_rule)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wanted = "MOD(id, 2) = 0 AND v <> 'hide'"
        _wait_rows(mariadb_target, db, _rows(mariadb_server, db, wanted))
        assert len(_rows(mariadb_target, db)) == 100
        mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (1001, 'odd', 1), (1002, 'even', 2), (1004, NULL, 4)")
        mariadb_server.execute(f"UPDATE `{db}`.t SET v = 'hide' WHERE id = 10")  # leaves the filter: removed
        mariadb_server.execute(f"UPDATE `{db}`.t SET n = -1 WHERE id IN (11, 12)")
        mariadb_server.execute(f"DELETE FROM `{db}`.t WHERE id = 14")
        _wait_rows(mariadb_target, db, _rows(mariadb_server, db, wanted))
        got = {r[0] for r in _rows(mariadb_target, db)}
        assert 1002 in got and 1001 not in got and 10 not in got and 1004 not in got and 14 not in got
        stop_task(http, job_id)


def _with_policy(policy: str) -> Callable[[DrsHttpClient], Callable[[str], None]]:
    def make(http: DrsHttpClient) -> Callable[[str], None]:
        def configure(job_id: str) -> None:
            http.call("POST", "/v3/{project_id}/jobs/batch-sync-policy", {"jobs": [{
                "job_id": job_id, "conflict_policy": policy, "filter_ddl_policy": "drop_database"}]})
        return configure
    return make


def test_conflict_policy_ignore_keeps_target_rows(server: ServerHandle, mariadb_server: MariaDBServer,
                                                  mariadb_target: MariaDBServer) -> None:
    db = new_db("ign")
    _table(mariadb_server, db, rows=20)
    with server.client() as http:
        job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, configure=_with_policy("ignore")(http))
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(mariadb_server, mariadb_target, db)
        mariadb_target.execute(f"INSERT INTO `{db}`.t VALUES (500, 'target-made', 0)")
        mariadb_target.execute(f"DELETE FROM `{db}`.t WHERE id = 3")
        mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (500, 'source-made', 1), (501, 'new', 1)")
        mariadb_server.execute(f"UPDATE `{db}`.t SET v = 'changed' WHERE id IN (3, 4)")
        # Wait on the last statement's effect: the UPDATE is its own transaction after the INSERT.
        _wait_until(lambda: mariadb_target.execute(f"SELECT v FROM `{db}`.t WHERE id = 4")[0][0] == "changed")
        assert mariadb_target.execute(f"SELECT v FROM `{db}`.t WHERE id = 501")[0][0] == "new"
        assert mariadb_target.execute(f"SELECT v FROM `{db}`.t WHERE id = 500")[0][0] == "target-made"
        assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.t WHERE id = 3")[0][0] == 0
        assert detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"
        stop_task(http, job_id)


def test_conflict_policy_stop_fails_the_task(server: ServerHandle, mariadb_server: MariaDBServer,
                                             mariadb_target: MariaDBServer) -> None:
    db = new_db("stp")
    _table(mariadb_server, db, rows=20)
    with server.client() as http:
        job_id = start_mysql_task(http, mariadb_server, mariadb_target, db, configure=_with_policy("stop")(http))
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(mariadb_server, mariadb_target, db)
        mariadb_target.execute(f"INSERT INTO `{db}`.t VALUES (700, 'target-made', 0)")
        mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (700, 'source-made', 1)")
        with pytest.raises(AssertionError, match="conflict on"):
            wait_status(http, job_id, "never", timeout=30)
        assert detail(http, job_id)["status"] == "INCRE_TRANSFER_FAILED"
        # The DBA fixes the target and retries: the task resumes and converges.
        mariadb_target.execute(f"DELETE FROM `{db}`.t WHERE id = 700")
        http.call("POST", "/v3/{project_id}/jobs/batch-retry-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        wait_equal(mariadb_server, mariadb_target, db)
        stop_task(http, job_id)


def _wait_until(check: Callable[[], object], timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached")
