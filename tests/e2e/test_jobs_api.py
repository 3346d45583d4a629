"""Task APIs through the official SDK and raw HTTP: create, list, detail, status, modify, delete, passwords."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_helpers import create_task, mysql_task, unique_name, wait_status
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import (
    BatchCreateJobReq,
    BatchCreateJobsRequest,
    BatchDeleteJobReq,
    BatchDeleteJobsRequest,
    BatchListJobDetailsRequest,
    BatchListJobStatusRequest,
    BatchListProgressesRequest,
    BatchModifyJobReq,
    BatchModifyPwdReq,
    BatchQueryJobReqPage,
    BatchQueryProgressReq,
    BatchResetPasswordRequest,
    BatchUpdateJobRequest,
    CreateJobReq,
    DeleteJobReq,
    Endpoint,
    ListAvailableNodeTypesRequest,
    ModifyJobReq,
    ModifyPwdEndPoint,
    QueryJobsReq,
    ResourceTag,
    ShowJobListRequest,
)

from opendrs.client import DrsHttpClient


def _sdk_job(name: str, **overrides: Any) -> CreateJobReq:
    args: dict[str, Any] = dict(
        name=name, db_use_type="migration", engine_type="mysql", job_direction="up", task_type="FULL_TRANS",
        net_type="vpn", node_type="high", description="made by the SDK",
        source_endpoint=Endpoint(db_type="mysql", ip="10.0.0.1", db_port=3306, db_user="u", db_password="pw-src-1"),
        target_endpoint=Endpoint(db_type="mysql", ip="10.0.0.2", db_port=3306, db_user="u", db_password="pw-dst-1"),
        tags=[ResourceTag(key="team", value="dba")],
    )
    args.update(overrides)
    return CreateJobReq(**args)


def test_create_list_detail_status_through_sdk(sdk: Any, http: DrsHttpClient) -> None:
    name = unique_name("sdk")
    created = sdk.batch_create_jobs(BatchCreateJobsRequest(body=BatchCreateJobReq(jobs=[_sdk_job(name)])))
    assert created.count == 1
    result = created.results[0]
    assert result.status == "CREATING" and result.name == name and result.create_time.isdigit()
    wait_status(http, result.id, "CONFIGURATION")

    listed = sdk.show_job_list(ShowJobListRequest(body=QueryJobsReq(
        cur_page=1, per_page=10, db_use_type="migration", name=name)))
    assert listed.total_record == 1
    info = listed.jobs[0]
    assert (info.id, info.status, info.engine_type, info.task_type) == (result.id, "CONFIGURATION", "mysql",
                                                                         "FULL_TRANS")
    assert "START" in info.job_action.available_actions

    detail = sdk.batch_list_job_details(BatchListJobDetailsRequest(body=BatchQueryJobReqPage(jobs=[result.id])))
    d = detail.results[0]
    assert d.name == name and d.description == "made by the SDK"
    assert d.source_endpoint.ip == "10.0.0.1" and d.target_endpoint.db_port == 3306
    assert d.source_endpoint.db_password == "******"  # masked, never the password
    assert d.tags[0].key == "team" and d.is_target_readonly is True

    status = sdk.batch_list_job_status(BatchListJobStatusRequest(body=BatchQueryJobReqPage(jobs=[result.id])))
    assert status.results[0].status == "CONFIGURATION"

    progress = sdk.batch_list_progresses(BatchListProgressesRequest(body=BatchQueryProgressReq(jobs=[result.id])))
    assert progress.results[0].job_id == result.id and progress.results[0].transfer_status == "CONFIGURATION"

    raw = json.dumps(http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [result.id]}))
    assert "pw-src-1" not in raw and "pw-dst-1" not in raw and "sealed" not in raw


def test_modify_then_stop_and_delete_through_sdk(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    new_name = unique_name("renamed")
    mod = sdk.batch_update_job(BatchUpdateJobRequest(body=BatchModifyJobReq(jobs=[ModifyJobReq(
        job_id=job_id, name=new_name, description="changed",
        target_endpoint=Endpoint(db_type="mysql", ip="127.0.0.9", db_port=3307, db_user="x", db_password="np"),
    )])))
    assert mod.results[0].status == "success"
    d = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
    assert (d["name"], d["description"], d["target_endpoint"]["ip"]) == (new_name, "changed", "127.0.0.9")

    stop = sdk.batch_delete_jobs(BatchDeleteJobsRequest(body=BatchDeleteJobReq(jobs=[
        DeleteJobReq(delete_type="terminate", job_id=job_id)])))
    assert stop.results[0].status == "success"
    wait_status(http, job_id, "RELEASE_RESOURCE_COMPLETE")
    gone = sdk.batch_delete_jobs(BatchDeleteJobsRequest(body=BatchDeleteJobReq(jobs=[
        DeleteJobReq(delete_type="delete", job_id=job_id)])))
    assert gone.results[0].status == "success"
    again = http.call("POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]})["results"][0]
    assert again["error_code"] == "DRS.M05004"


def test_password_change_needs_a_started_task(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    resp = sdk.batch_reset_password(BatchResetPasswordRequest(body=BatchModifyPwdReq(jobs=[
        ModifyPwdEndPoint(job_id=job_id, end_point_type="so", db_password="new-pw")])))
    item = resp.results[0]
    assert item.status == "failed" and item.error_code == "DRS.M00304" and item.end_point_type == "so"


def test_node_types(sdk: Any) -> None:
    resp = sdk.list_available_node_types(ListAvailableNodeTypesRequest(
        engine_type="mysql", db_use_type="migration", job_direction="up"))
    assert {n.node_type for n in resp.node_types} >= {"micro", "high", "2xlarge"}


def test_batch_answers_per_item(http: DrsHttpClient) -> None:
    good, dup = unique_name("ok"), unique_name("dup")
    create_task(http, name=dup)
    body = {"jobs": [mysql_task(good), mysql_task(dup), mysql_task(unique_name(), engine_type="mongodb")]}
    resp = http.request("POST", "/v3/{project_id}/jobs/batch-creation", body)
    assert resp.status_code == 202
    results = resp.json()["results"]
    assert results[0]["status"] == "CREATING"
    assert results[1]["error_code"] == "DRS.M00277"
    assert results[2]["error_code"] == "DRS.M00302" and "sync/postgresql" in results[2]["error_msg"]

    status = http.call("POST", "/v3/{project_id}/jobs/batch-status",
                       {"jobs": [results[0]["id"], "00000000-0000-0000-0000-00000000jb00"]})["results"]
    assert status[0]["status"] in {"CREATING", "CONFIGURATION"}
    assert status[1]["error_code"] == "DRS.M00298"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "DRS.M00201"),
        ({"jobs": []}, "DRS.M00202"),
        ({"jobs": "x"}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "name": "1bad name"}]}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "db_use_type": "teleport"}]}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "net_type": None}]}, "DRS.M00202"),
        ({"jobs": [{k: v for k, v in mysql_task().items() if k != "source_endpoint"}]}, "DRS.M00201"),
        ({"jobs": [{**mysql_task(), "description": "a" * 257}]}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "description": "<script>"}]}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "expired_days": "7"}]}, "DRS.M00202"),
        ({"jobs": [{**mysql_task(), "source_endpoint": {"db_type": "mysql", "db_port": 70000}}]}, "DRS.M00202"),
    ],
)
def test_bad_create_bodies(http: DrsHttpClient, body: dict[str, Any], code: str) -> None:
    resp = http.request("POST", "/v3/{project_id}/jobs/batch-creation", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == code


def test_malformed_json_and_wrong_method(http: DrsHttpClient) -> None:
    resp = http.request("POST", "/v3/{project_id}/jobs/batch-creation", b"{not json")
    assert resp.status_code == 400 and resp.json()["error_code"] == "DRS.M00007"
    resp = http.request("GET", "/v3/{project_id}/jobs/batch-creation")
    assert resp.status_code == 405 and resp.json()["error_code"].startswith("DRS.")
    resp = http.request("POST", "/v3/{project_id}/no-such-api", {})
    assert resp.status_code == 404 and "error_msg" in resp.json()


def test_list_paging_rules(http: DrsHttpClient) -> None:
    resp = http.request("POST", "/v3/{project_id}/jobs", {"cur_page": 3, "per_page": 0, "db_use_type": "sync"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "DRS.M00210"
    resp = http.request("POST", "/v3/{project_id}/jobs", {"cur_page": 1, "per_page": 101, "db_use_type": "sync"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "DRS.M00202"
    ids = [create_task(http) for _ in range(3)]
    page1 = http.call("POST", "/v3/{project_id}/jobs", {"cur_page": 1, "per_page": 2, "db_use_type": "sync"})
    page2 = http.call("POST", "/v3/{project_id}/jobs", {"cur_page": 2, "per_page": 2, "db_use_type": "sync"})
    assert page1["total_record"] == page2["total_record"] >= 3
    seen = [j["id"] for j in page1["jobs"] + page2["jobs"]]
    assert len(seen) == len(set(seen)) == 4
    by_ids = http.call("POST", "/v3/{project_id}/jobs",
                       {"cur_page": 1, "per_page": 0, "db_use_type": "sync", "name": ",".join(ids)})
    assert {j["id"] for j in by_ids["jobs"]} == set(ids)


def test_sdk_raises_the_spec_error(sdk: Any) -> None:
    with pytest.raises(ClientRequestException) as exc:
        sdk.batch_create_jobs(BatchCreateJobsRequest(body=BatchCreateJobReq(jobs=[
            _sdk_job(unique_name(), db_use_type="cloudDataGuard", engine_type="cloudDataGuard-mysql")])))
    assert exc.value.status_code == 400 and exc.value.error_code == "DRS.M00202"
