"""Lifecycle APIs through the official SDK and raw HTTP: pre-check (4.1.6/4.1.7), start (4.1.11),
resume/retry (4.1.12) and pause (4.1.13).

MySQL tasks are real engine work: a pre-check of the default task (endpoints 127.0.0.1:3306 with
made-up passwords) runs and fails its network items, start then stays refused, and the full
pre-check -> start -> pause -> resume path runs against the throwaway MariaDB pair. A PostgreSQL
task on made-up endpoints is pre-checked for real too and fails its connection items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_helpers import ServerHandle, create_task, wait_status
from huaweicloudsdkdrs.v3 import (
    BatchCheckJobsRequest,
    BatchCheckResultsRequest,
    BatchPauseJobReq,
    BatchPrecheckReq,
    BatchQueryPrecheckResultReq,
    BatchRestoreTaskRequest,
    BatchRetryReq,
    BatchStartJobReq,
    BatchStartJobsRequest,
    BatchStopJobsRequest,
    PauseInfo,
    PreCheckInfo,
    RetryInfo,
    StartInfo,
)
from mysql_helpers import endpoint, new_db, stop_task, wait_equal

from harness import MariaDBServer, closed_port
from opendrs.client import DrsHttpClient

UNKNOWN = "00000000-0000-0000-0000-00000000jb00"
PRECHECK = "/v3/{project_id}/jobs/batch-precheck"
RESULT = "/v3/{project_id}/jobs/batch-precheck-result"
START = "/v3/{project_id}/jobs/batch-starting"
RETRY = "/v3/{project_id}/jobs/batch-retry-task"
PAUSE = "/v3/{project_id}/jobs/batch-pause-task"
# A port nobody listens on: the local PostgreSQL (trust auth on 5432) must not answer for it.
PG = {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": closed_port()}
FAKE_PASSWORDS = ("secret-src-pw", "secret-dst-pw")  # mysql_task()'s endpoints


@pytest.fixture(scope="module")
def client(api_server: ServerHandle) -> Iterator[DrsHttpClient]:
    with api_server.client() as c:
        yield c


@pytest.fixture(scope="module")
def task(client: DrsHttpClient) -> str:
    return create_task(client)


@pytest.fixture(scope="module")
def pg(client: DrsHttpClient) -> str:
    """A PostgreSQL sync task on made-up endpoints: its pre-check fails to connect."""
    return create_task(client, engine_type="postgresql", source_endpoint=PG, target_endpoint=PG)


@pytest.fixture(scope="module")
def stopped(client: DrsHttpClient) -> str:
    job_id = create_task(client)
    client.call("DELETE", "/v3/{project_id}/jobs/batch-jobs",
                {"jobs": [{"job_id": job_id, "delete_type": "terminate"}]})
    wait_status(client, job_id, "RELEASE_RESOURCE_COMPLETE")
    return job_id


def results(http: DrsHttpClient, path: str, body: Any, status: int = 200) -> list[dict[str, Any]]:
    resp = http.request("POST", path, body)
    assert resp.status_code == status, resp.text
    out: list[dict[str, Any]] = resp.json()["results"]
    assert resp.json()["count"] == len(out)
    return out


def bad_request(http: DrsHttpClient, path: str, body: Any, code: str) -> None:
    resp = http.request("POST", path, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == code, resp.text


def precheck(sdk: Any, job_id: str) -> Any:
    """4.1.6 forStartJob for one task through the SDK; returns its result item."""
    resp = sdk.batch_check_jobs(BatchCheckJobsRequest(body=BatchPrecheckReq(jobs=[
        PreCheckInfo(job_id=job_id, precheck_mode="forStartJob")])))
    assert resp.count == 1 and resp.results[0].id == job_id
    return resp.results[0]


def finished_precheck(sdk: Any, job_id: str, timeout: float = 20) -> Any:
    """Poll 4.1.7 through the SDK until the pre-check's process is 100%; returns the parsed result."""
    deadline = time.monotonic() + timeout
    while True:
        result = sdk.batch_check_results(BatchCheckResultsRequest(body=BatchQueryPrecheckResultReq(
            jobs=[job_id]))).results[0]
        assert not result.error_code, result
        if result.process == "100%":
            return result
        assert time.monotonic() < deadline, f"pre-check of {job_id} still at {result.process}"
        time.sleep(0.2)


def test_precheck_of_an_unreachable_mysql_task_fails_its_network_items(sdk: Any, task: str) -> None:
    item = precheck(sdk, task)
    assert item.status == "success" and not item.error_code, item
    result = finished_precheck(sdk, task)
    assert result.precheck_id == task and result.result is False and result.job_direction == "up"
    assert result.total_passed_rate != "100%"
    items = {i.item: i for i in result.precheck_result}
    assert not any(pw in str(result) for pw in FAKE_PASSWORDS)
    if "srcDbConnection" not in items:
        # Seen once in a full CI run (not reproduced in isolation): the check ended in one
        # "precheckExecution" item. It must still fail the pre-check with a reason.
        failed = [i for i in items.values() if i.result == "FAILED"]
        assert failed and all(i.failed_reason for i in failed), result
        return
    for name in ("srcDbConnection", "dstDbConnection"):
        assert (items[name].result, items[name].group) == ("FAILED", "network"), items[name]
        assert items[name].failed_reason
    assert "source endpoint" in items["srcDbConnection"].failed_reason
    assert "target endpoint" in items["dstDbConnection"].failed_reason


def test_precheck_of_an_unreachable_postgresql_task(sdk: Any, pg: str) -> None:
    item = precheck(sdk, pg)
    assert item.status == "success" and not item.error_code, item
    result = finished_precheck(sdk, pg)
    assert result.result is False
    items = {i.item: i for i in result.precheck_result}
    assert items["srcDbConnection"].result == "FAILED" and "source endpoint" in items["srcDbConnection"].failed_reason


def test_precheck_result_before_a_precheck(sdk: Any, http: DrsHttpClient) -> None:
    fresh = create_task(http)  # the module's task may have been pre-checked by now
    resp = sdk.batch_check_results(BatchCheckResultsRequest(body=BatchQueryPrecheckResultReq(jobs=[fresh, UNKNOWN])))
    assert resp.count == 2
    missing, unknown = resp.results
    assert missing.precheck_id == fresh and missing.result is False
    assert missing.error_code == "DRS.M00289" and "Missing query result: precheck" in missing.error_msg
    assert "batch-precheck" in missing.error_msg
    assert unknown.error_code == "DRS.M00298"


def start(sdk: Any, job_id: str) -> Any:
    """4.1.11 for one task through the SDK; returns its result item."""
    resp = sdk.batch_start_jobs(BatchStartJobsRequest(body=BatchStartJobReq(jobs=[
        StartInfo(job_id=job_id, start_time="", is_auto_create_compare=False)])))
    assert resp.count == 1 and resp.results[0].id == job_id
    return resp.results[0]


def test_start_of_a_mysql_task_needs_a_passed_precheck(sdk: Any, http: DrsHttpClient, task: str) -> None:
    item = start(sdk, task)
    assert item.status == "failed" and item.error_code == "DRS.M00300"
    assert "pre-check has not passed" in item.error_msg and "batch-precheck" in item.error_msg
    wait_status(http, task, "CONFIGURATION", timeout=1)


def test_start_of_a_postgresql_task_needs_a_passed_precheck(sdk: Any, http: DrsHttpClient, pg: str) -> None:
    item = start(sdk, pg)
    assert item.status == "failed" and item.error_code == "DRS.M00300"
    assert "pre-check has not passed" in item.error_msg
    wait_status(http, pg, "CONFIGURATION", timeout=1)


def unless_busy(call: Callable[[], Any], timeout: float = 10) -> Any:
    """A batch item, asked again while it is DRS.M01504: the running engine may write the task's
    runtime at the same moment (optimistic locking), and M01504 tells the client to retry."""
    deadline = time.monotonic() + timeout
    item = call()
    while item.error_code == "DRS.M01504" and time.monotonic() < deadline:
        time.sleep(0.2)
        item = call()
    return item


def test_precheck_start_pause_resume_through_sdk(sdk: Any, http: DrsHttpClient, mariadb_server: MariaDBServer,
                                                 mariadb_target: MariaDBServer) -> None:
    db = new_db("lc")
    mariadb_server.execute(f"CREATE DATABASE `{db}`")
    mariadb_server.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
    mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two')")
    job_id = create_task(http, source_endpoint=endpoint(mariadb_server), target_endpoint=endpoint(mariadb_target))
    try:
        http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
            "job_id": job_id, "selected": True,
            "job": [{"id": db, "object_type": "database", "object_name": db, "select": "true"}]}]})
        assert precheck(sdk, job_id).status == "success"
        result = finished_precheck(sdk, job_id, timeout=30)
        failed = [i for i in result.precheck_result if i.result == "FAILED"]
        assert result.result is True and not failed, failed
        assert {i.item: i.result for i in result.precheck_result}["srcDbConnection"] == "PASSED"

        assert start(sdk, job_id).status == "success"
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        wait_equal(mariadb_server, mariadb_target, db, timeout=20)
        paused = unless_busy(lambda: sdk.batch_stop_jobs(BatchStopJobsRequest(body=BatchPauseJobReq(jobs=[
            PauseInfo(job_id=job_id, pause_mode="all")]))).results[0])
        assert (paused.id, paused.status) == (job_id, "success"), paused
        wait_status(http, job_id, "PAUSING", timeout=5)
        resumed = unless_busy(lambda: sdk.batch_restore_task(BatchRestoreTaskRequest(body=BatchRetryReq(jobs=[
            RetryInfo(job_id=job_id, is_sync_re_edit=False)]))).results[0])
        assert (resumed.id, resumed.status) == (job_id, "success"), resumed
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED")
        mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (3, 'three')")
        assert wait_equal(mariadb_server, mariadb_target, db, timeout=20)["t"][0] == 3
    finally:
        stop_task(http, job_id)
        for server in (mariadb_server, mariadb_target):
            server.execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_pause_and_resume_need_a_running_or_failed_task(sdk: Any, task: str) -> None:
    paused = sdk.batch_stop_jobs(BatchStopJobsRequest(body=BatchPauseJobReq(jobs=[
        PauseInfo(job_id=task, pause_mode="target")])))
    item = paused.results[0]
    assert item.id == task and item.status == "failed" and item.error_code == "DRS.M00304"
    assert "CONFIGURATION" in item.error_msg and "INCRE_TRANSFER_STARTED" in item.error_msg
    resumed = sdk.batch_restore_task(BatchRestoreTaskRequest(body=BatchRetryReq(jobs=[
        RetryInfo(job_id=task, is_sync_re_edit=False)])))
    item = resumed.results[0]
    assert item.status == "failed" and item.error_code == "DRS.M00304" and "PAUSING" in item.error_msg


def test_per_item_errors_do_not_fail_the_batch(http: DrsHttpClient, task: str, stopped: str, pg: str) -> None:
    fresh = create_task(http)
    checked = results(http, PRECHECK, {"jobs": [{"job_id": j, "precheck_mode": "forStartJob"}
                                                for j in (fresh, pg, stopped, UNKNOWN)]})
    assert [r["id"] for r in checked] == [fresh, pg, stopped, UNKNOWN]
    assert [r["status"] for r in checked] == ["success", "success", "failed", "failed"]
    assert [r.get("error_code") for r in checked[2:]] == ["DRS.M00304", "DRS.M00298"]
    retry_mode = results(http, PRECHECK, {"jobs": [{"job_id": task, "precheck_mode": "forRetryJob"}]})[0]
    assert retry_mode["error_code"] == "DRS.M00304" and "forStartJob" in retry_mode["error_msg"]
    started = results(http, START, {"jobs": [{"job_id": j} for j in (pg, stopped, UNKNOWN)]}, status=202)
    assert [r["error_code"] for r in started] == ["DRS.M00300", "DRS.M00304", "DRS.M00298"]
    for path in (PAUSE, RETRY):
        out = results(http, path, {"jobs": [{"job_id": j} for j in (task, stopped, UNKNOWN)]})
        assert [r["error_code"] for r in out] == ["DRS.M00304", "DRS.M00304", "DRS.M00298"]
        assert all(r["status"] == "failed" for r in out)


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (PRECHECK, {}, "DRS.M00201"),
        (PRECHECK, {"jobs": [{"job_id": UNKNOWN}]}, "DRS.M00201"),
        (PRECHECK, {"jobs": [{"job_id": UNKNOWN, "precheck_mode": "forever"}]}, "DRS.M00202"),
        (PRECHECK, {"jobs": []}, "DRS.M00202"),
        (PRECHECK, {"jobs": [{"job_id": UNKNOWN, "precheck_mode": "forStartJob"}] * 2}, "DRS.M00301"),
        (RESULT, {"jobs": []}, "DRS.M00202"),
        (RESULT, {"jobs": [UNKNOWN, UNKNOWN]}, "DRS.M00301"),
        (RESULT, {"jobs": ["not a uuid!"]}, "DRS.M00202"),
        (START, {"jobs": [{"job_id": UNKNOWN, "start_time": "tomorrow"}]}, "DRS.M00202"),
        (START, {"jobs": [{"job_id": UNKNOWN, "start_time": "1" * 14}]}, "DRS.M00202"),
        (START, {"jobs": [{"start_time": "1608188903063"}]}, "DRS.M00201"),
        (START, {"jobs": [{"job_id": UNKNOWN, "is_auto_create_compare": "sometimes"}]}, "DRS.M00202"),
        (PAUSE, {"jobs": [{"job_id": UNKNOWN, "pause_mode": "half"}]}, "DRS.M00202"),
        (PAUSE, {"jobs": [{}]}, "DRS.M00201"),
        (RETRY, {"jobs": [{"job_id": UNKNOWN, "is_sync_re_edit": "maybe"}]}, "DRS.M00202"),
        (RETRY, {"jobs": [{"job_id": UNKNOWN}] * 2}, "DRS.M00301"),
    ],
)
def test_bad_lifecycle_bodies(http: DrsHttpClient, path: str, body: Any, code: str) -> None:
    bad_request(http, path, body, code)


def test_start_time_accepts_the_sdk_and_example_spellings(http: DrsHttpClient) -> None:
    # Epoch ms as a string (spec) or a number; empty means now. The task is unknown: per-item M00298.
    for start_time in ("1608188903063", 1608188903063, ""):
        item = results(http, START, {"jobs": [{"job_id": UNKNOWN, "start_time": start_time}]}, status=202)[0]
        assert item["error_code"] == "DRS.M00298"
