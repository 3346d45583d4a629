"""Comparison (4.1.17-4.1.37) and DR (4.4.1-4.4.5) APIs through the official SDK and raw HTTP.

Comparison requests are validated and checked against the task here (validation, unknown task,
unknown comparison ID, status gates, engine-only options); real comparison results on live MySQL
tasks are tested in test_compare_mysql.py. No DR engine exists yet, so a fully valid DR request
answers DRS.M00300 ("... is not available for engine_type X yet"). DR read APIs answer from
what the engine reported in ``job.runtime["dr"]``; the tests write such a report into the store
the way an engine would.

One test needs a task parked in INCRE_TRANSFER_STARTED: on the normal server the supervisor
would fail it at once (no engine can run it), so that test uses a second, in-process HTTP
server started without the supervisor.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from e2e_helpers import ServerHandle, create_task, make_sdk_client, mysql_task
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import (
    BatchListRposAndRtosRequest,
    BatchListStructDetailRequest,
    BatchListStructProcessRequest,
    BatchQueryJobReq,
    BatchQueryJobReqPage,
    BatchQueryRpoAndRtoReq,
    BatchSwitchoverReq,
    BatchSwitchoverRequest,
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
    DownloadCompareResultFileRequest,
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
    PageReq,
    QueryCompareResultReq,
    ShowMonitoringDataRequest,
    StartPromptlyDataLevelTableCompareJobRequest,
)

from opendrs.client import DrsHttpClient
from opendrs.jobs.states import JobStatus
from opendrs.jobs.supervisor import can_run
from opendrs.store.db import Store
from opendrs.store.repo import JobRepo

UNKNOWN = "00000000-0000-0000-0000-000000000jb0"
COMPARE_ID = "48c6acb4-1473-48fd-8676-df3705758c27"
NOT_AVAILABLE = "DRS.M00300"
NO_RESULT = "DRS.M00289"


# --- helpers ------------------------------------------------------------------------------------


def sdk_error(call: Callable[[], Any], code: str, status: int = 400) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    assert (info.value.status_code, info.value.error_code) == (status, code), info.value.error_msg
    return info.value


def raw_error(http: DrsHttpClient, method: str, path: str, body: Any = None, code: str = "",
              params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> str:
    resp = http.request(method, path, body, params=params, headers=headers)
    payload = resp.json()
    assert resp.status_code == 400 and payload["error_code"] == code, payload
    return str(payload["error_msg"])


def patch_job(server: ServerHandle, job_id: str, status: JobStatus | None = None,
              runtime: dict[str, Any] | None = None) -> None:
    """Change a task in the server's store, as the engine's status/runtime reports would."""
    store = Store(f"sqlite:///{(server.data_dir / 'opendrs.db').resolve()}")
    try:
        with store.session() as s:
            repo = JobRepo(s)
            job = repo.get(job_id)
            assert job is not None
            if status is not None:
                job.status = status
            if runtime is not None:
                job.runtime.update(runtime)
            repo.save(job)
    finally:
        store.dispose()


def dr_task(http: DrsHttpClient) -> str:
    return create_task(http, db_use_type="cloudDataGuard", engine_type="cloudDataGuard-mysql",
                       multi_write=False, task_type="FULL_INCR_TRANS", net_type="eip")


DR_REPORT: dict[str, Any] = {
    "rpo_info": {"check_point": "mysql-bin.000514:197", "delay": 12, "gtid_set": "NA", "time": 1608277625000},
    "rto_info": {"check_point": "mysql-bin.000514:150", "delay": "40", "gtid_set": "NA",
                 "time": "2020-12-18 15:47:05"},
    "monitor": {"src_normal": True, "dst_normal": True, "sr_offset": "mysql-bin.000445:191", "sr_delay": 0,
                "dst_delay": 81, "src_rps": "3", "bandwidth": "37", "mem_used_inMB": "2166",
                "cpuUsed_percent": "1.4", "node_volume_inGB": 100, "node_mem_inMB": 8192,
                "migration_bytes_per_second": 789456},
    "struct_process": {"create_time": 1608429670521, "result": [
        {"type": "table", "status": 2, "src_count": 3, "dst_count": 3, "start_time": 1608097599000,
         "end_time": 1608097600000},
        {"type": "database", "status": 2, "src_count": 1, "dst_count": 1, "start_time": 1608097599000,
         "end_time": 1608097600000}]},
    "struct_detail": {"create_time": 1608429484785, "objects": {"table": [
        {"progress": 100, "src_DB": "db1", "src_TB": f"t{i}", "dst_DB": "db1", "dst_TB": f"t{i}"}
        for i in range(3)]}},
}


@pytest.fixture(scope="module")
def tasks(api_server: ServerHandle) -> dict[str, str]:
    """A sync task (CONFIGURATION), a DR task in INCRE_TRANSFER_FAILED with an engine report, a bare
    DR task in INCRE_TRANSFER_FAILED, and a DR task still in CONFIGURATION."""
    with api_server.client() as http:
        ids = {"sync": create_task(http), "dr": dr_task(http), "dr_bare": dr_task(http),
               "dr_config": dr_task(http)}
    patch_job(api_server, ids["dr"], JobStatus.INCRE_TRANSFER_FAILED, {"dr": DR_REPORT})
    patch_job(api_server, ids["dr_bare"], JobStatus.INCRE_TRANSFER_FAILED)
    return ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, str]]:
    """An HTTP server with the real app but no supervisor, holding one INCRE_TRANSFER_STARTED task."""
    from pydantic import SecretStr

    from opendrs.api.app import bootstrap_identity, create_app
    from opendrs.jobs.context import Services
    from opendrs.jobs.service import create_job
    from opendrs.settings import Settings

    handle = ServerHandle(data_dir=Path(tmp_path_factory.mktemp("quiet")), port=_free_port(),
                          project_id=uuid.uuid4().hex)
    settings = Settings(data_dir=handle.data_dir, admin_ak=handle.ak, admin_sk=SecretStr(handle.sk),
                        project_id=handle.project_id)
    svc = Services.build(settings)
    bootstrap_identity(svc)
    job = create_job(svc, handle.project_id, mysql_task())
    with svc.store.session() as s:
        repo = JobRepo(s)
        stored = repo.get(job.id)
        assert stored is not None
        stored.status = JobStatus.INCRE_TRANSFER_STARTED
        repo.save(stored)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, svc), host="127.0.0.1", port=handle.port,
                                           lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield handle, job.id
    server.should_exit = True
    thread.join(10)
    svc.store.dispose()


# --- 4.1.17 / 4.1.18 ----------------------------------------------------------------------------


def _compare_body(job_id: str) -> CreateCompareTaskReq:
    return CreateCompareTaskReq(
        job_id=job_id, object_level_compare_type="objects",
        data_level_compare_info=CreateDataLevelCompareReq(
            conflict_policy="keep", compare_type="lines",
            compare_object_infos=[CompareObjectInfo(db_name="may_5", table_name=["t0", "t1"])]))


def test_create_compare_task_status_gate(

    sdk: Any, tasks: dict[str, str], quiet: tuple[ServerHandle, str]
) -> None:
    gated = sdk_error(lambda: sdk.create_compare_task(CreateCompareTaskRequest(body=_compare_body(tasks["sync"]))),
                      "DRS.M00304")
    assert "current task status" in gated.error_msg
    handle, running = quiet
    quiet_sdk = make_sdk_client(handle)
    created = quiet_sdk.create_compare_task(CreateCompareTaskRequest(body=_compare_body(running)))
    assert created.job_id == running
    assert created.object_level_compare_create_result.compare_task_id
    assert created.data_level_compare_create_result.compare_task_id


def test_create_compare_task_bad_input(http: DrsHttpClient, tasks: dict[str, str]) -> None:
    path = "/v3/{project_id}/jobs/create-compare-task"
    info = {"conflict_policy": "keep", "compare_type": "lines"}
    raw_error(http, "POST", path, {"data_level_compare_info": info}, "DRS.M00201")  # no job_id
    raw_error(http, "POST", path, {"job_id": UNKNOWN, "data_level_compare_info": info}, "DRS.M00298")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "object_level_compare_type": "tables"}, "DRS.M00202")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "data_level_compare_info": {
        "conflict_policy": "drop", "compare_type": "lines"}}, "DRS.M00202")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "data_level_compare_info": {
        "conflict_policy": "keep"}}, "DRS.M00201")
    # Object-level and value comparison cannot run together (objects + lines can).
    msg = raw_error(http, "POST", path, {"job_id": tasks["sync"], "object_level_compare_type": "objects",
                                         "data_level_compare_info": {**info, "compare_type": "contents"}},
                    "DRS.M00202")
    assert "compare_type" in msg
    # An explicitly empty compare_mode needs the objects to compare.
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "data_level_compare_info": {
        **info, "compare_mode": None}}, "DRS.M00201")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "data_level_compare_info": {
        **info, "start_time": "tomorrow"}}, "DRS.M00202")
    # Token ranges are for Cassandra DR tasks only (checked before the status gate).
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "data_level_compare_info": {
        **info, "compare_object_infos_with_token": [{"db_name": "ks", "table_name_with_token": [
            {"table_name": "t", "min_token": "0", "max_token": "9"}]}]}}, "DRS.M00202")
    # Both parts empty = query the comparison list only: no status gate.
    assert http.call("POST", path, {"job_id": tasks["sync"]})["job_id"] == tasks["sync"]
    assert http.call("POST", path, {"job_id": tasks["sync"], "object_level_compare_type": "",
                                    "data_level_compare_info": {}})["job_id"] == tasks["sync"]


def test_list_compare_result(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    body = QueryCompareResultReq(job_id=tasks["sync"], line_compare_id=COMPARE_ID, current_page=1, per_page=10)
    sdk_error(lambda: sdk.list_compare_result(ListCompareResultRequest(body=body)), NO_RESULT)
    listed = sdk.list_compare_result(ListCompareResultRequest(body=QueryCompareResultReq(
        job_id=tasks["sync"], current_page=1, per_page=10)))
    assert listed.job_id == tasks["sync"] and listed.compare_task_list_results is not None
    path = "/v3/{project_id}/jobs/query-compare-result"
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "per_page": 10}, "DRS.M00201")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "current_page": 1}, "DRS.M00201")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "current_page": 0, "per_page": 10}, "DRS.M00202")
    raw_error(http, "POST", path, {"job_id": tasks["sync"], "current_page": 1, "per_page": "many"}, "DRS.M00202")
    raw_error(http, "POST", path, {"job_id": UNKNOWN, "current_page": 1, "per_page": 10}, "DRS.M00298")


# --- 4.1.24 - 4.1.27 -----------------------------------------------------------------------------


def test_data_level_table_compare_jobs(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    job = tasks["sync"]
    listed = sdk.list_data_level_table_compare_jobs(ListDataLevelTableCompareJobsRequest(job_id=job, limit=10,
                                                                                       offset=0))
    assert isinstance(listed.count, int)
    path = f"/v3/{{project_id}}/jobs/{job}/table/compare"
    raw_error(http, "GET", path, params={"limit": 1001}, code="DRS.M00202")
    raw_error(http, "GET", path, params={"limit": 0}, code="DRS.M00202")
    raw_error(http, "GET", path, params={"offset": -1}, code="DRS.M00202")
    raw_error(http, "GET", path, params={"limit": "ten"}, code="DRS.M00202")
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/table/compare", code="DRS.M00298")
    raw_error(http, "GET", "/v3/{project_id}/jobs/bad$id/table/compare", code="DRS.M00202")

    body = CreateDataLevelTableCompareJobReq(
        type="contents", start_time="1809366237000", options={"contentCompareType": "dynamic"},
        compare_object=[CompareObjectInfo(db_name="t_auto_db", table_name=[])])
    scheduled = sdk.create_data_level_table_compare_job(CreateDataLevelTableCompareJobRequest(job_id=job, body=body))
    assert scheduled.id
    raw_error(http, "POST", path, {"compare_object": [{"db_name": "d"}]}, "DRS.M00201")  # no type
    raw_error(http, "POST", path, {"type": "checksum"}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "options": {"comparePolicy": "oneToMany"}}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "options": {"speed": "fast"}}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "compare_object": [{"table_name": ["t"]}]}, "DRS.M00201")
    raw_error(http, "POST", path, {"type": "lines", "proportion_value": 20.1}, "DRS.M00202")
    # Sampling and thread counts are for GaussDB / Cassandra DR tasks only.
    raw_error(http, "POST", path, {"type": "random", "proportion_value": 20.1}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "compare_task_num": 2}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "compare_transformation_infos": [{
        "object_info": [{"id": "t_auto_db-*-*test-*-*users"}],
        "transformation_info": {"transformationType": "rowFilter", "value": "id>100"}}]}, "DRS.M00202")
    raw_error(http, "POST", path, {"type": "lines", "compare_mode": "", "compare_object": [],
                                   "compare_transformation_infos": [{
                                       "object_info": [{"id": "t_auto_db-*-*test-*-*users"}],
                                       "transformation_info": {"transformationType": "contentConditionalFilter",
                                                               "value": "id>100"}}]}, NOT_AVAILABLE)
    raw_error(http, "POST", f"/v3/{{project_id}}/jobs/{UNKNOWN}/table/compare", {"type": "lines"}, "DRS.M00298")

    sdk_error(lambda: sdk.delete_compare_job(DeleteCompareJobRequest(job_id=job, compare_job_id=COMPARE_ID)),
              NO_RESULT)
    raw_error(http, "DELETE", f"/v3/{{project_id}}/jobs/{UNKNOWN}/compare/{COMPARE_ID}", code="DRS.M00298")
    sdk_error(lambda: sdk.start_promptly_data_level_table_compare_job(
        StartPromptlyDataLevelTableCompareJobRequest(job_id=job, compare_job_id=COMPARE_ID)), NO_RESULT)
    sdk.delete_compare_job(DeleteCompareJobRequest(job_id=job, compare_job_id=scheduled.id))
    raw_error(http, "POST", f"/v3/{{project_id}}/jobs/{UNKNOWN}/table/compare/{COMPARE_ID}", code="DRS.M00298")


# --- 4.1.28 - 4.1.32 -----------------------------------------------------------------------------


def test_line_and_content_results(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    job = tasks["sync"]
    base = f"/v3/{{project_id}}/jobs/{job}/compare/{COMPARE_ID}"
    sdk_error(lambda: sdk.list_data_compare_overview(ListDataCompareOverviewRequest(
        job_id=job, compare_job_id=COMPARE_ID, status=2, limit=10, offset=0)), NO_RESULT)
    raw_error(http, "GET", f"{base}/line-overview", params={"status": 1}, code="DRS.M00202")
    raw_error(http, "GET", f"{base}/line-overview", params={"status": 24}, code="DRS.M00202")
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/compare/{COMPARE_ID}/line-overview",
              code="DRS.M00298")

    sdk_error(lambda: sdk.list_data_compare_detail(ListDataCompareDetailRequest(
        job_id=job, compare_job_id=COMPARE_ID, status=0, type="compare", db_name="db1", target_db_name="db1",
        query_tb_name="tb", limit=10, offset=0)), NO_RESULT)
    raw_error(http, "GET", f"{base}/line-detail", params={"type": "everything"}, code="DRS.M00202")
    raw_error(http, "GET", f"{base}/line-detail", params={"limit": 5000}, code="DRS.M00202")

    sdk_error(lambda: sdk.list_content_compare_overview(ListContentCompareOverviewRequest(
        job_id=job, compare_job_id=COMPARE_ID, limit=10, offset=0)), NO_RESULT)
    raw_error(http, "GET", f"{base}/content-overview", params={"offset": -5}, code="DRS.M00202")

    sdk_error(lambda: sdk.list_content_compare_detail(ListContentCompareDetailRequest(
        job_id=job, compare_job_id=COMPARE_ID, type="unCompare", limit=10, offset=0)), NO_RESULT)
    raw_error(http, "GET", f"{base}/content-detail", params={"type": "uncompare"}, code="DRS.M00202")

    sdk_error(lambda: sdk.list_content_compare_difference(ListContentCompareDifferenceRequest(
        job_id=job, compare_job_id=COMPARE_ID, table_name="tb1", db_name="db1", limit=10, offset=0)),
        NO_RESULT)
    raw_error(http, "GET", f"{base}/content-difference", params={"limit": 0}, code="DRS.M00202")
    msg = raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/compare/{COMPARE_ID}/content-difference",
                    code="DRS.10000010")
    assert msg == "Task not found. Check the task ID."


# --- 4.1.33 - 4.1.37 -----------------------------------------------------------------------------


def test_object_level_compare(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    job = tasks["sync"]
    sdk.create_object_level_compare_job(CreateObjectLevelCompareJobRequest(job_id=job,
                                                                           body=CreateObjectCompareJobReq()))
    path = f"/v3/{{project_id}}/jobs/{job}/object/compare"
    raw_error(http, "POST", path, {"compare_task_num": 2}, "DRS.M00202")  # Cassandra DR only
    raw_error(http, "POST", path, {"compare_task_num": "two"}, "DRS.M00202")
    raw_error(http, "POST", f"/v3/{{project_id}}/jobs/{UNKNOWN}/object/compare", {}, "DRS.10000010")

    overview = sdk.list_obeject_level_compare_overview(ListObejectLevelCompareOverviewRequest(job_id=job))
    assert overview.compare_job_id and overview.status
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/object/compare", code="DRS.10000010")

    sdk_error(lambda: sdk.list_obeject_level_compare_detail(ListObejectLevelCompareDetailRequest(
        job_id=job, compare_type="TABLE", compare_job_id=COMPARE_ID, limit=10, offset=0)), NO_RESULT)
    assert http.call("GET", f"{path}/EXTENSIONS")["count"] == 0
    raw_error(http, "GET", f"{path}/COLUMN", code="DRS.M00202")
    raw_error(http, "GET", f"{path}/TABLE", params={"limit": 1001}, code="DRS.M00202")
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/object/compare/TABLE", code="DRS.10000010")


def test_compare_result_files(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    job = tasks["sync"]
    fresh = create_task(http)  # no object comparison yet: nothing to export
    sdk_error(lambda: sdk.create_compare_result_file(CreateCompareResultFileRequest(
        job_id=fresh, region="local-1", body=ExportCompareResultReq(compare_type="objects_comparison",
                                                                    time_zone="GMT +08:00"))), NO_RESULT)
    path = f"/v3/{{project_id}}/jobs/{job}/compare/result/file"
    raw_error(http, "POST", path, {"compare_type": "contents", "compare_job_id": COMPARE_ID}, NO_RESULT)
    raw_error(http, "POST", path, {"time_zone": "GMT +08:00"}, "DRS.M00201")
    raw_error(http, "POST", path, {"compare_type": "lines"}, "DRS.M00201")  # needs compare_job_id
    raw_error(http, "POST", path, {"compare_type": "repair_data", "compare_job_id": COMPARE_ID}, "DRS.M00202")
    raw_error(http, "POST", path, {"compare_type": "objects_comparison", "time_zone": "UTC+8"}, "DRS.M00202")
    raw_error(http, "POST", f"/v3/{{project_id}}/jobs/{UNKNOWN}/compare/result/file",
              {"compare_type": "objects_comparison"}, "DRS.10000010", headers={"Region": "local-1"})

    # 4.1.37: a GET with a JSON body; the query is read first, then the body.
    sdk_error(lambda: sdk.download_compare_result_file(DownloadCompareResultFileRequest(
        job_id=job, compare_type="contents", compare_job_id=COMPARE_ID, region="local-1",
        body=ExportCompareResultReq(compare_type="contents", compare_job_id=COMPARE_ID))), NO_RESULT)
    raw_error(http, "GET", path, {"compare_type": "repair_data", "compare_job_id": COMPARE_ID}, NO_RESULT)
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{fresh}/compare/result/file",
              params={"compare_type": "objects_comparison"}, code=NO_RESULT)
    raw_error(http, "GET", path, code="DRS.M00201")
    raw_error(http, "GET", path, {"compare_job_id": COMPARE_ID}, "DRS.M00201")
    raw_error(http, "GET", path, params={"compare_type": "lines"}, code="DRS.M00201")
    raw_error(http, "GET", path, params={"compare_type": "everything"}, code="DRS.M00202")
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/compare/result/file",
              params={"compare_type": "objects_comparison"}, code="DRS.10000010")


# --- 4.4.1 - 4.4.5 -------------------------------------------------------------------------------


def _by_id(results: list[Any], field: str = "job_id") -> dict[str, Any]:
    return {getattr(r, field) if not isinstance(r, dict) else r[field]: r for r in results}


def test_batch_switchover(sdk: Any, http: DrsHttpClient, tasks: dict[str, str],
                          quiet: tuple[ServerHandle, str]) -> None:
    ids = [tasks["dr"], tasks["dr_config"], tasks["sync"], UNKNOWN]
    resp = sdk.batch_switchover(BatchSwitchoverRequest(body=BatchSwitchoverReq(jobs=ids, is_pause_job=True)))
    assert resp.count == 4
    got = _by_id(resp.results)
    assert got[tasks["dr"]].error_code == NOT_AVAILABLE
    assert "switchover is not available for engine_type cloudDataGuard-mysql" in got[tasks["dr"]].error_msg
    assert got[tasks["dr_config"]].error_code == "DRS.M00304"
    assert got[tasks["sync"]].error_code == "DRS.M00300"
    assert "disaster recovery" in got[tasks["sync"]].error_msg
    assert got[UNKNOWN].error_code == "DRS.M00298"

    path = "/v3/{project_id}/jobs/batch-switchover"
    raw_error(http, "POST", path, {}, "DRS.M00201")
    raw_error(http, "POST", path, {"jobs": []}, "DRS.M00202")
    raw_error(http, "POST", path, {"jobs": [tasks["dr"], tasks["dr"]]}, "DRS.M00301")
    raw_error(http, "POST", path, {"jobs": [tasks["dr"]], "is_pause_job": "maybe"}, "DRS.M00202")
    raw = http.request("POST", path, {"jobs": [tasks["dr"]]})
    assert raw.status_code == 202 and raw.json()["results"][0]["job_id"] == tasks["dr"]


def test_batch_rpo_and_rto(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    ids = [tasks["dr"], tasks["dr_bare"], tasks["sync"], UNKNOWN]
    resp = sdk.batch_list_rpos_and_rtos(BatchListRposAndRtosRequest(body=BatchQueryRpoAndRtoReq(jobs=ids)))
    got = _by_id(resp.results)
    rpo, rto = got[tasks["dr"]].rpo_info, got[tasks["dr"]].rto_info
    assert (rpo.check_point, rpo.delay, rpo.gtid_set, rpo.time) == ("mysql-bin.000514:197", "12", "NA",
                                                                     "2020-12-18 07:47:05")
    assert (rto.check_point, rto.delay, rto.time) == ("mysql-bin.000514:150", "40", "2020-12-18 15:47:05")
    bare_code = "DRS.M00289" if can_run("cloudDataGuard-mysql") else NOT_AVAILABLE
    assert got[tasks["dr_bare"]].error_code == bare_code
    assert got[tasks["sync"]].error_code == "DRS.M00300"
    assert got[UNKNOWN].error_code == "DRS.M00298"
    raw_error(http, "POST", "/v3/{project_id}/jobs/batch-rpo-and-rto", {"jobs": "all"}, "DRS.M00202")


def test_monitoring_data(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    resp = sdk.show_monitoring_data(ShowMonitoringDataRequest(body=BatchQueryJobReq(jobs=[tasks["dr"]])))
    mon = resp.results[0].data_guard_minitor
    assert resp.results[0].id == tasks["dr"]
    assert (mon.src_normal, mon.sr_offset, mon.dst_delay, mon.node_mem_in_mb, mon.cpu_used_percent) == (
        True, "mysql-bin.000445:191", 81, 8192, "1.4")
    assert mon.dst_offset == "N/A" and mon.migration_bytes_per_second == 789456
    body = http.call("POST", "/v3/{project_id}/jobs/disaster-recovery-monitoring-data",
                     {"jobs": [tasks["sync"], UNKNOWN]})
    got = _by_id(body["results"], "id")
    assert got[tasks["sync"]]["error_code"] == "DRS.M00300" and "error_msg" in got[tasks["sync"]]
    assert got[UNKNOWN]["error_code"] == "DRS.M00298"
    raw_error(http, "POST", "/v3/{project_id}/jobs/disaster-recovery-monitoring-data", {"jobs": ["a b"]},
              "DRS.M00202")


def test_struct_process_and_detail(sdk: Any, http: DrsHttpClient, tasks: dict[str, str]) -> None:
    resp = sdk.batch_list_struct_process(BatchListStructProcessRequest(
        body=BatchQueryJobReq(jobs=[tasks["dr"], tasks["sync"]])))
    got = _by_id(resp.results)
    process = got[tasks["dr"]].struct_process
    assert process.create_time == "1608429670521"
    assert [(r.type, r.status, r.src_count, r.end_time) for r in process.result] == [
        ("table", 2, 3, 1608097600000), ("database", 2, 1, 1608097600000)]
    assert got[tasks["sync"]].error_code == "DRS.M00300" and got[tasks["sync"]].error_message

    detail = sdk.batch_list_struct_detail(BatchListStructDetailRequest(
        type="table", body=BatchQueryJobReqPage(jobs=[tasks["dr"], UNKNOWN], page_req=PageReq(cur_page=2, per_page=2))))
    got = _by_id(detail.results)
    sd = got[tasks["dr"]].struct_detail
    assert sd.total_record == 3 and sd.create_time == "1608429484785"
    assert [(r.src_db, r.src_tb, r.progress) for r in sd.list] == [("db1", "t2", 100)]
    assert got[UNKNOWN].error_code == "DRS.M00298" and got[UNKNOWN].error_message

    empty = http.call("POST", "/v3/{project_id}/jobs/view/batch-struct-detail", {"jobs": [tasks["dr"]]})
    assert empty["results"][0]["struct_detail"]["total_record"] == 0
    over = http.call("POST", "/v3/{project_id}/jobs/table/batch-struct-detail",
                     {"jobs": [tasks["dr"]], "page_req": {"cur_page": 3, "per_page": 2}})
    assert over["results"][0]["error_code"] == "DRS.M00210"
    raw_error(http, "POST", "/v3/{project_id}/jobs/column/batch-struct-detail", {"jobs": [tasks["dr"]]},
              "DRS.M00202")
    raw_error(http, "POST", "/v3/{project_id}/jobs/table/batch-struct-detail",
              {"jobs": [tasks["dr"]], "page_req": {"per_page": 101}}, "DRS.M00202")
    raw_error(http, "POST", "/v3/{project_id}/jobs/batch-struct-process", {"jobs": [UNKNOWN, UNKNOWN]},
              "DRS.M00301")
