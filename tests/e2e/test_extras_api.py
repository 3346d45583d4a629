"""SDK-only v3 operations through the official SDK and raw HTTP: alarm notification (batch_set_smn),
availability zones, the LTS switch, tuning parameters and quotas."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_helpers import ServerHandle, create_task
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import (
    BatchImportSmnInfoReq,
    BatchSetAlarmNotifyInfo,
    BatchSetSmnRequest,
    ListAvailableZoneRequest,
    LtsInfo,
    LtsInfoJob,
    ModifyGroupAndStreamRequest,
    ModifyTuningParamsReq,
    QueryAvailableNodeTypeReq,
    QueryTuningParamsRequest,
    SelectedSetAlarmTaskReq,
    SelectGroupAndStreamRequest,
    ShowQuotasRequest,
    SubscriptionInfo,
    UpdateTuningParamsRequest,
)

from opendrs.client import DrsHttpClient

UNKNOWN = "00000000-0000-0000-0000-000000000jb0"


def raw_error(http: DrsHttpClient, method: str, path: str, body: Any = None, code: str = "") -> str:
    resp = http.request(method, path, body)
    payload = resp.json()
    assert resp.status_code == 400 and payload["error_code"] == code, payload
    return str(payload["error_msg"])


@pytest.fixture(scope="module")
def task(api_server: ServerHandle) -> str:
    with api_server.client() as http:
        return create_task(http)


# --- batch_set_smn --------------------------------------------------------------------------------


def test_batch_set_smn_stores_alarm_notify(sdk: Any, http: DrsHttpClient, task: str) -> None:
    info = BatchSetAlarmNotifyInfo(
        subscriptions=[SubscriptionInfo(endpoints=["dba@example.com"], protocol="email")],
        delay_time=120, rpo_delay=30, rto_delay=60, alarm_to_user=True)
    resp = sdk.batch_set_smn(BatchSetSmnRequest(body=BatchImportSmnInfoReq(
        jobs=[SelectedSetAlarmTaskReq(job_id=task, status="CONFIGURATION", engine_type="mysql"),
              SelectedSetAlarmTaskReq(job_id=UNKNOWN),
              SelectedSetAlarmTaskReq(job_id=task + "x", engine_type="mysql")],
        alarm_notify_info=info)))
    assert resp.count == 3
    ok, unknown, missing = resp.results
    assert (ok.id, ok.status) == (task, "success")
    assert (unknown.id, unknown.status, unknown.error_code) == (UNKNOWN, "failed", "DRS.M00298")
    assert missing.error_code == "DRS.M00298"

    detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [task]})["results"][0]
    alarm = detail["alarm_notify"]
    assert (alarm["delay_time"], alarm["rpo_delay"], alarm["rto_delay"], alarm["alarm_to_user"]) == (
        120, 30, 60, True)
    assert alarm["subscriptions"] == [{"endpoints": ["dba@example.com"], "protocol": "email"}]

    mismatch = http.call("POST", "/v3/{project_id}/jobs/batch-set-smn", {
        "jobs": [{"job_id": task, "engine_type": "postgresql"}], "alarm_notify_info": {"delay_time": 5}})
    assert mismatch["results"][0]["error_code"] == "DRS.M00202"


def test_batch_set_smn_bad_input(http: DrsHttpClient, task: str) -> None:
    path = "/v3/{project_id}/jobs/batch-set-smn"
    jobs = [{"job_id": task}]
    raw_error(http, "POST", path, {"jobs": jobs}, "DRS.M00201")
    raw_error(http, "POST", path, {"alarm_notify_info": {}}, "DRS.M00201")
    raw_error(http, "POST", path, {"jobs": [], "alarm_notify_info": {}}, "DRS.M00202")
    raw_error(http, "POST", path, {"jobs": jobs, "alarm_notify_info": {"delay_time": 3601}}, "DRS.M00202")
    raw_error(http, "POST", path, {"jobs": jobs, "alarm_notify_info": {
        "subscriptions": [{"endpoints": ["x"], "protocol": "pigeon"}]}}, "DRS.M00202")
    raw_error(http, "POST", path, {"jobs": jobs, "alarm_notify_info": {"alarm_to_user": True}}, "DRS.M00201")
    raw_error(http, "POST", path, {"jobs": [{"job_id": task, "status": "RUNNING"}], "alarm_notify_info": {}},
              "DRS.M00202")
    raw_error(http, "POST", path, {"jobs": jobs + jobs, "alarm_notify_info": {}}, "DRS.M00301")


# --- list_available_zone ---------------------------------------------------------------------------


def test_list_available_zone(sdk: Any, http: DrsHttpClient) -> None:
    resp = sdk.list_available_zone(ListAvailableZoneRequest(body=QueryAvailableNodeTypeReq(
        engine_type="mysql", db_use_type="sync", job_direction="up", node_type="high", multi_write="false")))
    assert [(z.code, z.name, z.status) for z in resp.az_infos] == [("local", "local", "ENABLED")]
    dr = http.call("POST", "/v3/{project_id}/available-zone", {
        "engine_type": "cloudDataGuard-mysql", "db_use_type": "dataGuard", "job_direction": "down",
        "multi_write": True})
    assert dr["az_infos"][0]["code"] == "local"

    path = "/v3/{project_id}/available-zone"
    raw_error(http, "POST", path, {"db_use_type": "sync", "job_direction": "up"}, "DRS.M00201")
    raw_error(http, "POST", path, {"engine_type": "mongodb", "db_use_type": "sync", "job_direction": "up"},
              "DRS.M00302")
    raw_error(http, "POST", path, {"engine_type": "mysql", "db_use_type": "sync", "job_direction": "left"},
              "DRS.M00202")
    raw_error(http, "POST", path, {"engine_type": "mysql", "db_use_type": "sync", "job_direction": "up",
                                   "node_type": "huge"}, "DRS.M00202")
    raw_error(http, "POST", path, {"engine_type": "mysql", "db_use_type": "sync", "job_direction": "up",
                                   "multi_write": "true"}, "DRS.M00202")


# --- LTS switch --------------------------------------------------------------------------------------


def test_lts_log_switch_round_trip(sdk: Any, http: DrsHttpClient, task: str) -> None:
    before = sdk.select_group_and_stream(SelectGroupAndStreamRequest(job_id=task))
    assert before.job.lts_enabled is False and before.job.log_group_id == ""

    sdk.modify_group_and_stream(ModifyGroupAndStreamRequest(job_id=task, body=LtsInfo(job=LtsInfoJob(
        log_group_id="grp-1", log_stream_id="stream_1", lts_enabled=True))))
    after = sdk.select_group_and_stream(SelectGroupAndStreamRequest(job_id=task))
    assert (after.job.log_group_id, after.job.log_stream_id, after.job.lts_enabled) == ("grp-1", "stream_1", True)

    path = f"/v3/{{project_id}}/jobs/{task}/lts-log-switch"
    http.call("PUT", path, {"job": {"lts_enabled": False}})
    assert http.call("GET", path)["job"] == {"log_group_id": "", "log_stream_id": "", "lts_enabled": False}

    raw_error(http, "PUT", path, {}, "DRS.M00201")
    raw_error(http, "PUT", path, {"job": {"log_group_id": "g"}}, "DRS.M00201")
    raw_error(http, "PUT", path, {"job": {"lts_enabled": True, "log_group_id": "g"}}, "DRS.M00201")
    raw_error(http, "PUT", path, {"job": {"lts_enabled": "sometimes"}}, "DRS.M00202")
    raw_error(http, "PUT", path, {"job": {"lts_enabled": True, "log_group_id": "g/1", "log_stream_id": "s"}},
              "DRS.M00202")
    raw_error(http, "GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/lts-log-switch", code="DRS.M00298")
    raw_error(http, "PUT", f"/v3/{{project_id}}/jobs/{UNKNOWN}/lts-log-switch", {"job": {"lts_enabled": False}},
              "DRS.M00298")


# --- tuning parameters -------------------------------------------------------------------------------


def _params(resp: Any, group: str) -> dict[str, str]:
    return {p.param_name: p.param_value for p in getattr(resp, group)}


def test_tuning_params_round_trip(sdk: Any, http: DrsHttpClient, task: str) -> None:
    defaults = sdk.query_tuning_params(QueryTuningParamsRequest(job_id=task))
    assert _params(defaults, "full_sync") == {"read_chunk_rows": "10000", "write_batch_rows": "10000",
                                              "parallel_tables": "4"}
    assert _params(defaults, "incre_apply") == {"apply_batch_rows": "500", "apply_threads": "1"}
    assert defaults.incre_capture == [] and defaults.incre_relay == []
    assert defaults.full_sync[0].range == "100-1000000" and defaults.full_sync[0].availability == "true"

    updated = sdk.update_tuning_params(UpdateTuningParamsRequest(job_id=task, body=ModifyTuningParamsReq(
        full_sync={"read_chunk_rows": "5000"}, incre_apply={"apply_threads": "8"})))
    assert updated.modify_result == "success"
    assert _params(updated, "full_sync")["read_chunk_rows"] == "5000"
    again = sdk.query_tuning_params(QueryTuningParamsRequest(job_id=task))
    assert _params(again, "full_sync")["read_chunk_rows"] == "5000"
    assert _params(again, "incre_apply") == {"apply_batch_rows": "500", "apply_threads": "8"}

    path = f"/v3/{{project_id}}/job/{task}/tuning-params/modify-params"
    # A rejected change stores nothing, not even the valid part.
    raw_error(http, "PUT", path, {"full_sync": {"write_batch_rows": 50, "turbo": "1"}}, "DRS.M00202")
    raw_error(http, "PUT", path, {"incre_capture": {"read_chunk_rows": "500"}}, "DRS.M00202")
    raw_error(http, "PUT", path, {"full_sync": {"read_chunk_rows": "99"}}, "DRS.M00202")
    raw_error(http, "PUT", path, {"incre_apply": {"apply_threads": "many"}}, "DRS.M00202")
    raw_error(http, "PUT", path, {"full_sync": ["read_chunk_rows"]}, "DRS.M00202")
    raw_error(http, "PUT", f"/v3/{{project_id}}/job/{UNKNOWN}/tuning-params/modify-params", {}, "DRS.M00298")
    raw_error(http, "GET", f"/v3/{{project_id}}/job/{UNKNOWN}/tuning-params/query-params", code="DRS.M00298")
    query = f"/v3/{{project_id}}/job/{task}/tuning-params/query-params"
    assert {p["param_name"]: p["param_value"] for p in http.call("GET", query)["full_sync"]}["write_batch_rows"] \
        == "10000"

    reset = http.call("PUT", path, {"recovery": True, "full_sync": {"parallel_tables": 2}})
    values = {p["param_name"]: p["param_value"] for p in reset["full_sync"] + reset["incre_apply"]}
    assert values == {"read_chunk_rows": "10000", "write_batch_rows": "10000", "parallel_tables": "2",
                      "apply_batch_rows": "500", "apply_threads": "1"}
    detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [task]})["results"][0]
    assert detail["id"] == task


# --- quotas ---------------------------------------------------------------------------------------------


def test_show_quotas_counts_tasks(sdk: Any, http: DrsHttpClient) -> None:
    before = sdk.show_quotas(ShowQuotasRequest()).quotas.resource
    assert (before.type, before.quota, before.max, before.min) == ("instances", 100, 100, 0)
    create_task(http)
    after = sdk.show_quotas(ShowQuotasRequest()).quotas.resource
    assert after.used == before.used + 1


def test_sdk_error_shape_for_unknown_task(sdk: Any) -> None:
    with pytest.raises(ClientRequestException) as info:
        sdk.query_tuning_params(QueryTuningParamsRequest(job_id=UNKNOWN))
    assert (info.value.status_code, info.value.error_code) == (400, "DRS.M00298")
