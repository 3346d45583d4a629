"""4.3.2 conflict policies and pause/resume of a PostgreSQL task, on real servers through the API."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from e2e_helpers import ServerHandle, wait_status
from pg_helpers import create_db, new_db, run, start_pg_task, stop_task, wait_equal

from harness import PostgresServer
from opendrs.client import DrsHttpClient

DDL = ("CREATE TABLE t (id int PRIMARY KEY, v text, n int);"
       "INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 20) g;")


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def _value(server: PostgresServer, db: str, key: int) -> object:
    rows = run(server, db, "SELECT v FROM t WHERE id = %s", (key,))
    return rows[0][0] if rows else None


def _wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("condition never became true")


def _detail(http: DrsHttpClient, job_id: str) -> dict[str, object]:
    result: dict[str, object] = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})[
        "results"][0]
    return result


def test_conflict_policy_ignore_keeps_target_rows_and_pause_resume(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgign")
    create_db(postgres_server, db, DDL, postgres_target)
    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db, extra_policy={"conflict_policy": "ignore"})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        run(postgres_target, db, "INSERT INTO t VALUES (500, 'target-made', 0)")
        run(postgres_target, db, "DELETE FROM t WHERE id = 3")
        run(postgres_server, db, "INSERT INTO t VALUES (500, 'source-made', 1), (501, 'new', 1)")
        run(postgres_server, db, "UPDATE t SET v = 'changed' WHERE id IN (3, 4)")
        # Wait on the last statement's effect: the UPDATE is its own transaction after the INSERT.
        _wait_until(lambda: _value(postgres_target, db, 4) == "changed")
        assert _value(postgres_target, db, 501) == "new"
        assert _value(postgres_target, db, 500) == "target-made"
        assert _value(postgres_target, db, 3) is None
        assert _detail(http, job_id)["status"] == "INCRE_TRANSFER_STARTED"

        # Pause: changes wait on the source (in the slot); resume: they arrive.
        http.call("POST", "/v3/{project_id}/jobs/batch-pause-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "PAUSING")
        run(postgres_server, db, "INSERT INTO t VALUES (600, 'while paused', 0)")
        time.sleep(2)
        assert _value(postgres_target, db, 600) is None
        http.call("POST", "/v3/{project_id}/jobs/batch-retry-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        _wait_until(lambda: _value(postgres_target, db, 600) == "while paused")
        stop_task(http, job_id)


def test_conflict_policy_stop_fails_the_task_and_a_retry_resumes(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgstp")
    create_db(postgres_server, db, DDL, postgres_target)
    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db, extra_policy={"conflict_policy": "stop"})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        run(postgres_target, db, "INSERT INTO t VALUES (700, 'target-made', 0)")
        run(postgres_server, db, "INSERT INTO t VALUES (700, 'source-made', 1)")
        with pytest.raises(AssertionError, match="conflict on"):
            wait_status(http, job_id, "never", timeout=60)
        assert _detail(http, job_id)["status"] == "INCRE_TRANSFER_FAILED"
        # The DBA fixes the target and retries: the task resumes and converges.
        run(postgres_target, db, "DELETE FROM t WHERE id = 700")
        http.call("POST", "/v3/{project_id}/jobs/batch-retry-task", {"jobs": [{"job_id": job_id}]})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        stop_task(http, job_id)


def test_row_filter_in_full_load_and_cdc(server: ServerHandle, postgres_server: PostgresServer,
                                         postgres_target: PostgresServer) -> None:
    db = new_db("pgfilt")
    create_db(postgres_server, db, DDL.replace("20) g", "200) g"), postgres_target)
    wanted = "id % 2 = 0 AND v <> 'hide'"

    def rows(server_: PostgresServer, where: str = "true") -> list[tuple[object, ...]]:
        return run(server_, db, f"SELECT id, v, n FROM t WHERE {where} ORDER BY id")

    with server.client() as http:
        def configure(job_id: str) -> None:
            http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
                "job_id": job_id, "selected": True, "job": [
                    {"id": f"{db}-*-*-public", "parent_id": db, "object_type": "schema", "object_name": "public",
                     "select": "partial"},
                    {"id": f"{db}-*-*-public-*-*-t", "parent_id": "public", "object_type": "table",
                     "object_name": "t", "select": "true"}]}]})
            http.call("POST", "/v3/{project_id}/jobs/batch-transformation", {"jobs": [{
                "job_id": job_id, "object_info": [{"id": f"{db}-*-*-public-*-*-t", "select": "true"}],
                "transformation_info": {"transformation_type": "contentConditionalFilter", "value": wanted}}]})

        job_id = start_pg_task(http, postgres_server, postgres_target, db, schemas=(), configure=configure)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        _wait_until(lambda: rows(postgres_target) == rows(postgres_server, wanted))
        assert len(rows(postgres_target)) == 100
        run(postgres_server, db, "INSERT INTO t VALUES (1001, 'odd', 1), (1002, 'even', 2), (1004, NULL, 4)")
        run(postgres_server, db, "UPDATE t SET v = 'hide' WHERE id = 10")  # leaves the filter: removed
        run(postgres_server, db, "UPDATE t SET n = -1 WHERE id IN (11, 12)")
        run(postgres_server, db, "DELETE FROM t WHERE id = 14")
        _wait_until(lambda: rows(postgres_target) == rows(postgres_server, wanted))
        got = {r[0] for r in rows(postgres_target)}
        assert 1002 in got and 1001 not in got and 10 not in got and 1004 not in got and 14 not in got
        stop_task(http, job_id)
