"""Data comparison (issue 5) on a live MySQL task, through the official SDK, raw HTTP and the CLI.

One server (settle time 10 s instead of 30 s, so differences that really exist are reported
sooner) and one FULL_INCR task in INCRE_TRANSFER_STARTED for the module. The untouched task is
compared while the source keeps changing (zero differences); then the target is corrupted on
purpose (rows deleted, inserted, updated; an index dropped) and exactly those differences must
come back from the content-difference and object-detail APIs, the report ZIP and the CLI; the
repair extra then brings the target back in line and the next comparison is clean.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huaweicloudsdkdrs.v3 as v3
import pytest
from e2e_helpers import ServerHandle, create_task, make_sdk_client, wait_status
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import (
    CompareObjectInfo,
    CreateCompareResultFileRequest,
    CreateCompareTaskReq,
    CreateCompareTaskRequest,
    CreateDataLevelCompareReq,
    CreateDataLevelTableCompareJobReq,
    CreateDataLevelTableCompareJobRequest,
    CreateObjectCompareJobReq,
    CreateObjectLevelCompareJobRequest,
    DeleteCompareJobRequest,
    ExportCompareResultReq,
    ListCompareResultRequest,
    ListContentCompareDetailRequest,
    ListContentCompareDifferenceRequest,
    ListContentCompareOverviewRequest,
    ListDataCompareDetailRequest,
    ListDataCompareOverviewRequest,
    ListDataLevelTableCompareJobsRequest,
    ListObejectLevelCompareDetailRequest,
    ListObejectLevelCompareOverviewRequest,
    QueryCompareResultReq,
    StartPromptlyDataLevelTableCompareJobRequest,
)
from mysql_helpers import new_db, start_mysql_task, stop_task, wait_equal
from test_sdk_conformance import conforms
from typer.testing import CliRunner

from harness import MariaDBServer
from opendrs.cli.main import app as cli_app
from opendrs.client import DrsHttpClient

ROWS = 300
FINISHED = {"SUCCESSFUL", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    tmp = Path(tempfile.mkdtemp(prefix="opendrs-compare-"))
    handle = ServerHandle(data_dir=tmp / "data", extra_env={"OPENDRS_COMPARE_SETTLE_SECONDS": "10"})
    handle.start()
    yield handle
    handle.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def http(server: ServerHandle) -> Iterator[DrsHttpClient]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def sdk(server: ServerHandle) -> Any:
    return make_sdk_client(server, "v3")


def _seed(src: MariaDBServer, db: str) -> None:
    src.execute(f"CREATE DATABASE `{db}`")
    src.execute(f"""CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(10,2),
                    ratio DOUBLE, created DATETIME(3), note TEXT NULL, KEY idx_name (name))""")
    src.execute(f"CREATE TABLE `{db}`.events (a INT, b VARCHAR(20))")
    src.execute(f"CREATE TABLE `{db}`.busy (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    with src.connect() as conn, conn.cursor() as cur:
        cur.executemany(f"INSERT INTO `{db}`.orders VALUES (%s,%s,%s,%s,%s,%s)",
                        [(i, f"name {i}", f"{i}.25", i / 7, f"2024-01-02 03:04:{i % 60:02d}.125",
                          None if i % 5 else f"note {i}") for i in range(1, ROWS + 1)])
        cur.executemany(f"INSERT INTO `{db}`.events VALUES (%s,%s)", [(i % 4, "dup") for i in range(20)])
        cur.executemany(f"INSERT INTO `{db}`.busy (v) VALUES (%s)", [(i,) for i in range(50)])
        conn.commit()


@pytest.fixture(scope="module")
def live(http: DrsHttpClient, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer
         ) -> Iterator[tuple[str, str]]:
    """(task id, database) of a running FULL_INCR task whose target has caught up."""
    db = new_db("cmp")
    _seed(mariadb_server, db)
    job_id = start_mysql_task(http, mariadb_server, mariadb_target, db)
    wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
    wait_equal(mariadb_server, mariadb_target, db)
    yield job_id, db
    stop_task(http, job_id)


# --- helpers ------------------------------------------------------------------------------------


def wait_run(http: DrsHttpClient, job_id: str, compare_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll 4.1.24 until the comparison is over."""
    deadline = time.monotonic() + timeout
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        listed = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/table/compare")
        item = next((j for j in listed["compare_jobs"] if j["id"] == compare_id), {})
        if item.get("status") in FINISHED:
            if item["status"] == "FAILED":  # the reason is in 4.1.18's error_msg
                item["error_msg"] = http.call("POST", "/v3/{project_id}/jobs/query-compare-result", {
                    "job_id": job_id, "line_compare_id": compare_id, "current_page": 1, "per_page": 1,
                })["line_compare_results"].get("error_msg")
            return item
        time.sleep(0.3)
    raise AssertionError(f"comparison {compare_id} did not finish: {item}")


def wait_objects(http: DrsHttpClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    overview: dict[str, Any] = {}
    while time.monotonic() < deadline:
        overview = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/object/compare")
        if overview.get("status") in FINISHED:
            return overview
        time.sleep(0.3)
    raise AssertionError(f"object comparison did not finish: {overview}")


def contents_run(sdk: Any, job_id: str, db: str, tables: list[str] | None = None) -> str:
    body = CreateDataLevelTableCompareJobReq(type="contents", compare_mode="", compare_object=[
        CompareObjectInfo(db_name=db, table_name=tables or [])])
    resp = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(job_id=job_id, body=body))
    return str(resp.id)


def check_conforms(http: DrsHttpClient, model: str, method: str, path: str, body: Any = None,
                   params: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = http.request(method, path, body, params=params)
    assert resp.status_code in (200, 202), resp.text
    doc: dict[str, Any] = resp.json()
    assert not conforms(v3, model, doc), conforms(v3, model, doc)
    return doc


class Writer:
    """Keeps the source busy (inserts, updates, deletes on ``busy``, updates on ``orders``)."""

    def __init__(self, src: MariaDBServer, db: str) -> None:
        self.src, self.db = src, db
        self.stop = threading.Event()
        self.writes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.src.connect() as conn, conn.cursor() as cur:
            i = 0
            while not self.stop.is_set():
                i += 1
                cur.execute(f"INSERT INTO `{self.db}`.busy (v) VALUES (%s)", (i,))
                cur.execute(f"UPDATE `{self.db}`.busy SET v = v + 1 WHERE id = %s", (1 + i % 50,))
                cur.execute(f"UPDATE `{self.db}`.orders SET ratio = ratio + 1 WHERE id = %s", (1 + i % ROWS,))
                if i % 3 == 0:
                    cur.execute(f"DELETE FROM `{self.db}`.busy WHERE id = %s", (50 + i // 3,))
                conn.commit()
                self.writes += 1
                time.sleep(0.02)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


# --- tests --------------------------------------------------------------------------------------


def test_live_task_under_writes_has_no_differences(
    sdk: Any, http: DrsHttpClient, live: tuple[str, str], mariadb_server: MariaDBServer
) -> None:
    job_id, db = live
    with Writer(mariadb_server, db) as writer:
        time.sleep(0.5)
        created = sdk.create_compare_task(CreateCompareTaskRequest(body=CreateCompareTaskReq(
            job_id=job_id, object_level_compare_type="objects",
            data_level_compare_info=CreateDataLevelCompareReq(conflict_policy="cancel", compare_type="lines"))))
        line_id = created.data_level_compare_create_result.compare_task_id
        object_id = created.object_level_compare_create_result.compare_task_id
        content_id = contents_run(sdk, job_id, db)
        contents = wait_run(http, job_id, content_id)
        lines = wait_run(http, job_id, line_id)
    assert writer.writes > 10
    assert contents["status"] == lines["status"] == "SUCCESSFUL", (contents.get("error_msg"), lines.get("error_msg"))
    diff = sdk.list_content_compare_difference(ListContentCompareDifferenceRequest(
        job_id=job_id, compare_job_id=content_id))
    assert (diff.count, diff.contents_infos) == (0, [])
    detail = sdk.list_content_compare_detail(ListContentCompareDetailRequest(
        job_id=job_id, compare_job_id=content_id))
    assert {r.source_table_name for r in detail.content_compare_result_infos} == {"orders", "events", "busy"}
    assert all(r.content_compare_result for r in detail.content_compare_result_infos), detail
    orders = next(r for r in detail.content_compare_result_infos if r.source_table_name == "orders")
    assert (orders.source_row_num, orders.target_row_num, orders.difference_row_num) == (ROWS, ROWS, 0)
    # Row counts of the tables whose row count does not change agree (``busy`` keeps growing).
    counted = sdk.list_data_compare_detail(ListDataCompareDetailRequest(job_id=job_id, compare_job_id=line_id))
    statuses = {t.source_table_name: (t.status, t.source_row_num) for t in counted.table_line_compare_result_infos}
    assert statuses["orders"] == (2, ROWS) and statuses["events"] == (2, 20), statuses

    # 4.1.18 through the SDK: the object, line and content results and the task list parse.
    objects = wait_objects(http, job_id)
    assert objects["status"] == "SUCCESSFUL" and objects["compare_result"], objects.get("error_msg")
    result = sdk.list_compare_result(ListCompareResultRequest(body=QueryCompareResultReq(
        job_id=job_id, object_level_compare_id=object_id, line_compare_id=line_id, content_compare_id=content_id,
        current_page=1, per_page=10)))
    assert result.object_level_compare_results.compare_task_id == object_id
    assert {o.object_compare_result for o in result.object_level_compare_results.object_compare_overview} == {
        "CONSISTENT"}
    assert result.content_compare_results.content_compare_overview[0].content_compare_result == "CONSISTENT"
    assert result.line_compare_results.line_compare_overview[0].source_db_name == db
    ids = {t.compare_task_id: t for t in result.compare_task_list_results.compare_task_list}
    assert ids[object_id].compare_type == "object_comparison" and ids[content_id].compare_task_status == "SUCCESSFUL"


def test_corrupted_target_reports_exactly_the_damage(
    sdk: Any, http: DrsHttpClient, live: tuple[str, str], mariadb_server: MariaDBServer,
    mariadb_target: MariaDBServer, server: ServerHandle,
) -> None:
    job_id, db = live
    wait_equal(mariadb_server, mariadb_target, db)
    mariadb_target.execute(f"DELETE FROM `{db}`.orders WHERE id IN (5, 6)")
    mariadb_target.execute(f"INSERT INTO `{db}`.orders VALUES (10001, 'intruder', 1.00, 0, NULL, NULL)")
    mariadb_target.execute(f"UPDATE `{db}`.orders SET name = 'tampered' WHERE id = 7")
    mariadb_target.execute(f"ALTER TABLE `{db}`.orders DROP INDEX idx_name")

    content_id = contents_run(sdk, job_id, db, ["orders", "events"])
    assert wait_run(http, job_id, content_id)["status"] == "SUCCESSFUL"
    diff = sdk.list_content_compare_difference(ListContentCompareDifferenceRequest(
        job_id=job_id, compare_job_id=content_id, db_name=db, table_name="orders", limit=100))
    assert (diff.count, diff.target_meta_is_null, diff.source_meta_is_null, diff.source_target_meta_not_null) == (
        4, 2, 1, 1)
    keys = {(tuple(i.source_key_value), tuple(i.target_key_value)) for i in diff.contents_infos}
    assert keys == {(("5",), ()), (("6",), ()), ((), ("10001",)), (("7",), ("7",))}
    assert all("orders" in i.select_sql and "orders" in i.target_select_sql for i in diff.contents_infos)

    detail = sdk.list_content_compare_detail(ListContentCompareDetailRequest(
        job_id=job_id, compare_job_id=content_id, type="compare"))
    by_table = {r.source_table_name: r for r in detail.content_compare_result_infos}
    assert set(by_table) == {"orders", "events"}
    assert (by_table["orders"].difference_row_num, by_table["orders"].content_compare_result) == (4, False)
    assert (by_table["orders"].source_row_num, by_table["orders"].target_row_num) == (ROWS, ROWS - 1)
    assert by_table["events"].content_compare_result is True
    overview = sdk.list_content_compare_overview(ListContentCompareOverviewRequest(
        job_id=job_id, compare_job_id=content_id))
    assert [(o.source_db, o.status, o.compare_num, o.compare_end_num, o.data_inconsistent_num)
            for o in overview.content_compare_result_infos] == [(db, 0, 2, 2, 1)]
    lines = sdk.list_data_compare_overview(ListDataCompareOverviewRequest(job_id=job_id, compare_job_id=content_id))
    assert lines.total_count == 1 and lines.data_compare_overview_infos[0].status == 0
    line_detail = sdk.list_data_compare_detail(ListDataCompareDetailRequest(
        job_id=job_id, compare_job_id=content_id, query_tb_name="ord"))
    assert [(t.source_table_name, t.difference_row_num) for t in line_detail.table_line_compare_result_infos] == [
        ("orders", 1)]
    base = f"/v3/{{project_id}}/jobs/{job_id}/compare/{content_id}"
    for model, suffix in (("ListContentCompareDifferenceResponse", "content-difference"),
                          ("ListContentCompareDetailResponse", "content-detail"),
                          ("ListContentCompareOverviewResponse", "content-overview"),
                          ("ListDataCompareOverviewResponse", "line-overview"),
                          ("ListDataCompareDetailResponse", "line-detail")):
        check_conforms(http, model, "GET", f"{base}/{suffix}")
    check_conforms(http, "ListCompareResultResponse", "POST", "/v3/{project_id}/jobs/query-compare-result",
                   {"job_id": job_id, "content_compare_id": content_id, "line_compare_id": content_id,
                    "current_page": 1, "per_page": 5})
    check_conforms(http, "ListDataLevelTableCompareJobsResponse", "GET",
                   f"/v3/{{project_id}}/jobs/{job_id}/table/compare")

    # Object comparison (4.1.33 - 4.1.35) finds the dropped index, and only that.
    sdk.create_object_level_compare_job(CreateObjectLevelCompareJobRequest(job_id=job_id,
                                                                           body=CreateObjectCompareJobReq()))
    objects = wait_objects(http, job_id)
    assert objects["status"] == "SUCCESSFUL", objects
    sdk_overview = sdk.list_obeject_level_compare_overview(ListObejectLevelCompareOverviewRequest(job_id=job_id))
    statuses = {r.type: r.status for r in sdk_overview.compare_result}
    assert statuses["INDEX"] == 0 and statuses["TABLE"] == 2 and statuses["DB"] == 2, statuses
    assert [t for t, s in statuses.items() if s != 2] == ["INDEX"], statuses
    index = sdk.list_obeject_level_compare_detail(ListObejectLevelCompareDetailRequest(
        job_id=job_id, compare_type="INDEX", compare_job_id=sdk_overview.compare_job_id))
    broken = [d for d in index.compare_detail if d.status != 2]
    assert len(broken) == 1 and "idx_name" in broken[0].source_db_value and not broken[0].target_db_value, broken
    check_conforms(http, "ListCompareResultResponse", "POST", "/v3/{project_id}/jobs/query-compare-result",
                   {"job_id": job_id, "object_level_compare_id": sdk_overview.compare_job_id,
                    "current_page": 1, "per_page": 5})
    check_conforms(http, "ListObejectLevelCompareOverviewResponse", "GET",
                   f"/v3/{{project_id}}/jobs/{job_id}/object/compare")
    check_conforms(http, "ListObejectLevelCompareDetailResponse", "GET",
                   f"/v3/{{project_id}}/jobs/{job_id}/object/compare/INDEX")

    # Export (4.1.36) and download (4.1.37): a ZIP of CSV files holding exactly the four rows.
    sdk.create_compare_result_file(CreateCompareResultFileRequest(
        job_id=job_id, region="local-1", body=ExportCompareResultReq(compare_type="contents",
                                                                     compare_job_id=content_id)))
    listed = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/table/compare")
    mine = next(j for j in listed["compare_jobs"] if j["id"] == content_id)
    assert mine["export_status"] == "EXPORT_COMPLETE" and mine["report_remain_seconds"] > 0
    resp = http.request("GET", f"/v3/{{project_id}}/jobs/{job_id}/compare/result/file",
                        params={"compare_type": "contents", "compare_job_id": content_id})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.headers["content-disposition"] == f'attachment; filename="compare_contents_{content_id}_UTC.zip"'
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        assert sorted(archive.namelist()) == ["differences.csv", "summary.csv", "tables.csv"]
        rows = list(csv.DictReader(io.StringIO(archive.read("differences.csv").decode("utf-8-sig"))))
    assert sorted((r["kind"], json.loads(r["key"])[0]) for r in rows) == [
        ("changed", "7"), ("extra", "10001"), ("missing", "5"), ("missing", "6")]
    objects_zip = http.request("GET", f"/v3/{{project_id}}/jobs/{job_id}/compare/result/file",
                               params={"compare_type": "objects_comparison"})
    with zipfile.ZipFile(io.BytesIO(objects_zip.content)) as archive:
        text = archive.read("objects.csv").decode("utf-8-sig")
    assert "idx_name" in text and "missing" in text

    # The CLI finds the same differences and prints the repair SQL without running it (exit 2).
    env = {"OPENDRS_ENDPOINT": server.base_url, "OPENDRS_AK": server.ak, "OPENDRS_SK": server.sk,
           "OPENDRS_PROJECT_ID": server.project_id, "OPENDRS_CLIENT_CONFIG": str(server.data_dir / "client.yaml")}
    out = CliRunner().invoke(cli_app, ["compare", job_id, "--type", "contents", "--table", f"{db}.orders",
                                       "--repair", "--dry-run", "--output", "json"], env=env)
    assert out.exit_code == 2, out.output
    doc = json.loads(out.stdout)
    assert doc["differences"] == 4 and doc["repair"]["dry_run"] is True
    assert [t["table"] for t in doc["tables"]] == [f"{db}.orders"]
    assert (doc["tables"][0]["missing_on_target"], doc["tables"][0]["only_on_target"],
            doc["tables"][0]["changed"]) == (2, 1, 1)
    assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.orders WHERE id IN (5, 6)")[0][0] == 0

    # A running comparison (held in its settle phase by the real differences) can be cancelled.
    running = contents_run(sdk, job_id, db, ["orders"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/table/compare")["compare_jobs"]
        if next(j for j in state if j["id"] == running)["status"] == "RUNNING":
            break
        time.sleep(0.1)
    sdk.delete_compare_job(DeleteCompareJobRequest(job_id=job_id, compare_job_id=running))
    assert wait_run(http, job_id, running, timeout=30)["status"] == "CANCELLED"

    # Repair: dry run returns the SQL and changes nothing; the real run fixes the rows.
    repair_path = f"/v3/{{project_id}}/jobs/{job_id}/compare/{content_id}/repair"
    dry = http.call("POST", repair_path, {"dry_run": True})
    assert dry["dry_run"] is True and dry["statement_count"] == len(dry["statements"]) >= 3
    assert any("10001" in s for s in dry["statements"]), dry
    assert mariadb_target.execute(f"SELECT COUNT(*) FROM `{db}`.orders WHERE id IN (5, 6)")[0][0] == 0
    done = http.call("POST", repair_path, {"dry_run": False})
    assert done["executed"] is True and done["statements"] == dry["statements"]
    again = contents_run(sdk, job_id, db)
    assert wait_run(http, job_id, again)["status"] == "SUCCESSFUL"
    clean = sdk.list_content_compare_difference(ListContentCompareDifferenceRequest(
        job_id=job_id, compare_job_id=again))
    assert clean.count == 0
    assert mariadb_target.execute(f"SELECT name FROM `{db}`.orders WHERE id = 7")[0][0] == "name 7"

    # And the CLI's human summary for a clean comparison exits 0.
    ok = CliRunner().invoke(cli_app, ["compare", job_id, "--type", "lines", "--table", db], env=env)
    assert ok.exit_code == 0, ok.output
    assert "SUCCESSFUL" in ok.stdout and "orders" in ok.stdout and "SOURCE ROWS" in ok.stdout, ok.stdout
    mariadb_target.execute(f"ALTER TABLE `{db}`.orders ADD INDEX idx_name (name)")


def test_scheduled_start_promptly_and_cancel(sdk: Any, http: DrsHttpClient, live: tuple[str, str]) -> None:
    job_id, db = live
    soon = int(time.time() * 1000) + 3000
    scheduled = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(
        job_id=job_id, body=CreateDataLevelTableCompareJobReq(type="lines", start_time=str(soon)))).id
    later = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(
        job_id=job_id, body=CreateDataLevelTableCompareJobReq(
            type="lines", start_time="1809366237000", compare_mode="",
            compare_object=[CompareObjectInfo(db_name=db, table_name=["orders", "ghost"])]))).id
    parked = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(
        job_id=job_id, body=CreateDataLevelTableCompareJobReq(type="contents", start_time="1809366237000"))).id
    listed = sdk.list_data_level_table_compare_jobs(ListDataLevelTableCompareJobsRequest(job_id=job_id, limit=10))
    status = {j.id: j.status for j in listed.compare_jobs}
    assert status[scheduled] == status[later] == status[parked] == "WAITING_FOR_RUNNING"

    ran = wait_run(http, job_id, scheduled)
    assert ran["status"] == "SUCCESSFUL"
    started = calendar.timegm(time.strptime(ran["start_time"], "%Y-%m-%dT%H:%M:%SZ"))
    assert started >= soon // 1000 - 1, (ran, soon)

    sdk.start_promptly_data_level_table_compare_job(StartPromptlyDataLevelTableCompareJobRequest(
        job_id=job_id, compare_job_id=later))
    assert wait_run(http, job_id, later)["status"] == "SUCCESSFUL"
    compared = sdk.list_data_compare_detail(ListDataCompareDetailRequest(
        job_id=job_id, compare_job_id=later, type="compare"))
    assert [(t.source_table_name, t.status) for t in compared.table_line_compare_result_infos] == [("orders", 2)]
    ghost = sdk.list_data_compare_detail(ListDataCompareDetailRequest(
        job_id=job_id, compare_job_id=later, type="unCompare"))
    assert [t.source_table_name for t in ghost.table_line_compare_result_infos] == ["ghost"]

    sdk.delete_compare_job(DeleteCompareJobRequest(job_id=job_id, compare_job_id=parked))
    assert wait_run(http, job_id, parked)["status"] == "CANCELLED"
    with pytest.raises(ClientRequestException) as again:
        sdk.delete_compare_job(DeleteCompareJobRequest(job_id=job_id, compare_job_id=parked))
    assert again.value.error_code == "DRS.M00304"
    with pytest.raises(ClientRequestException) as unknown:
        sdk.start_promptly_data_level_table_compare_job(StartPromptlyDataLevelTableCompareJobRequest(
            job_id=job_id, compare_job_id="00000000-0000-0000-0000-000000000000"))
    assert unknown.value.error_code == "DRS.M00289"


def test_conflict_policy_keep_and_cancel(sdk: Any, http: DrsHttpClient, live: tuple[str, str]) -> None:
    job_id, _ = live
    path = "/v3/{project_id}/jobs/create-compare-task"
    future = {"compare_type": "lines", "start_time": "1809366237000"}
    first = check_conforms(http, "CreateCompareTaskResponse", "POST", path, {
        "job_id": job_id, "data_level_compare_info": {"conflict_policy": "cancel", **future}})
    first_id = first["data_level_compare_create_result"]["compare_task_id"]
    kept = check_conforms(http, "CreateCompareTaskResponse", "POST", path, {
        "job_id": job_id, "data_level_compare_info": {"conflict_policy": "keep", **future}})
    assert kept["data_level_compare_create_result"]["compare_task_id"] == first_id
    assert kept["data_level_compare_create_result"]["error_code"] == "DRS.M00304"
    queried = http.call("POST", path, {"job_id": job_id})
    assert queried["data_level_compare_create_result"]["compare_task_id"] == first_id
    replaced = sdk.create_compare_task(CreateCompareTaskRequest(body=CreateCompareTaskReq(
        job_id=job_id, data_level_compare_info=CreateDataLevelCompareReq(
            conflict_policy="cancel", compare_type="lines", start_time="1809366237000"))))
    second_id = replaced.data_level_compare_create_result.compare_task_id
    assert second_id != first_id
    assert wait_run(http, job_id, first_id)["status"] == "CANCELLED"
    http.call("DELETE", f"/v3/{{project_id}}/jobs/{job_id}/compare/{second_id}")
    assert wait_run(http, job_id, second_id)["status"] == "CANCELLED"


def test_postgresql_task_fails_with_a_clear_message(sdk: Any, http: DrsHttpClient) -> None:
    """A PostgreSQL task whose source cannot be reached: the comparison FAILS with the reason, no 5xx."""
    pg = {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": 1, "db_user": "postgres", "db_password": "x"}
    job_id = create_task(http, engine_type="postgresql", source_endpoint=pg, target_endpoint=pg)
    compare_id = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(
        job_id=job_id, body=CreateDataLevelTableCompareJobReq(type="lines"))).id
    run = wait_run(http, job_id, compare_id)
    assert run["status"] == "FAILED" and run["error_msg"], run
