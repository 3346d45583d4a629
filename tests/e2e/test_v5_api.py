"""v5 APIs against a live server: list_jobs, batch_create_jobs_async, list_async_jobs,
list_async_job_detail and show_job_detail through the official v5 SDK, bad input raw."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from e2e_helpers import create_task, mysql_task, unique_name, wait_status
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v5 import (
    AlarmNotifyConfig,
    AsyncCreateJobReq,
    BaseEndpoint,
    BaseEndpointConfig,
    BatchAsyncCreateJobReq,
    BatchCreateJobsAsyncRequest,
    CloudBaseInfo,
    DbObject,
    JobBaseInfo,
    JobEndpointInfo,
    JobNodeInfo,
    JobNodeSpecInfo,
    ListAsyncJobDetailRequest,
    ListAsyncJobsRequest,
    ListJobsRequest,
    PolicyConfig,
    ResourceTag,
    ShowJobDetailRequest,
    SpeedLimitInfo,
)

from opendrs.client import ApiError, DrsHttpClient

# --- request builders ---------------------------------------------------------------------------


def sdk_job(name: str, engine_type: str = "mysql-to-mysql", src_db: str = "mysql", dst_db: str = "mysql",
            port: str = "3306") -> AsyncCreateJobReq:
    def side(db: str, role: str, password: str) -> JobEndpointInfo:
        kind = "cloud" if db == "gaussdbv5" else "offline"  # GaussDB is only offered as a cloud instance
        return JobEndpointInfo(
            db_type=db, endpoint_type=kind, endpoint_role=role,
            endpoint=BaseEndpoint(endpoint_name=db if kind == "offline" else f"cloud_{db}", ip="127.0.0.1",
                                  db_port=port, db_user="root", db_password=password),
            cloud=CloudBaseInfo(region="local") if kind == "cloud" else None,
            config=BaseEndpointConfig(is_target_readonly=False) if role == "ta" else None,
        )

    return AsyncCreateJobReq(
        base_info=JobBaseInfo(name=name, job_type="sync", engine_type=engine_type, job_direction="up",
                              task_type="FULL_INCR_TRANS", net_type="eip", description="v5 e2e",
                              tags=[ResourceTag(key="team", value="dba")]),
        source_endpoint=[side(src_db, "so", "v5-src-secret")],
        target_endpoint=[side(dst_db, "ta", "v5-dst-secret")],
        alarm_notify=AlarmNotifyConfig(alarm_to_user=False, delay_time=60),
        speed_limit=[SpeedLimitInfo(begin="01:00", end="02:59", speed="20")],
        policy_config=PolicyConfig(conflict_policy="overwrite", filter_ddl_policy="drop_database",
                                   ddl_trans=True, index_trans=True),
        db_object=DbObject(object_scope="all"),
        node_info=JobNodeInfo(spec=JobNodeSpecInfo(node_type="high")),
    )


def raw_job(name: str, **base: Any) -> dict[str, Any]:
    """The same job as a JSON body, for the raw bad-input tests."""
    def side(role: str) -> dict[str, Any]:
        return {"db_type": "mysql", "endpoint_type": "offline", "endpoint_role": role,
                "endpoint": {"endpoint_name": "mysql", "ip": "127.0.0.1", "db_port": "3306",
                             "db_user": "root", "db_password": "pw"}}

    return {
        "base_info": {"name": name, "job_type": "sync", "engine_type": "mysql-to-mysql",
                      "job_direction": "up", "net_type": "eip", **base},
        "source_endpoint": [side("so")], "target_endpoint": [side("ta")],
        "policy_config": {"conflict_policy": "ignore"}, "db_object": {"object_scope": "all"},
        "node_info": {"spec": {"node_type": "high"}},
    }


def create_async(sdk5: Any, jobs: list[AsyncCreateJobReq]) -> str:
    resp = sdk5.batch_create_jobs_async(BatchCreateJobsAsyncRequest(body=BatchAsyncCreateJobReq(jobs=jobs)))
    async_id = resp.job.async_job_id
    assert async_id
    return str(async_id)


def expect_error(http: DrsHttpClient, method: str, path: str, code: str, body: Any = None,
                 params: dict[str, Any] | None = None) -> None:
    with pytest.raises(ApiError) as err:
        http.call(method, path, body, params)
    assert err.value.status == 400, err.value
    assert err.value.code == code, err.value


# --- batch-async-create and its read-back ------------------------------------------------------


def test_async_create_reports_each_task_and_creates_the_valid_ones(sdk5: Any, http: DrsHttpClient) -> None:
    good = unique_name("v5good")
    async_id = create_async(sdk5, [
        sdk_job(good),
        sdk_job(unique_name("v5ora"), engine_type="oracle-to-gaussdbv5", src_db="oracle", dst_db="gaussdbv5"),
        sdk_job(good),  # duplicate name: rejected, the first one stands
    ])

    listed = sdk5.list_async_jobs(ListAsyncJobsRequest(async_job_id=async_id))
    assert listed.total_count == 1
    batch = listed.jobs[0]
    assert batch.async_job_id == async_id
    assert batch.status == "ASYNC_JOB_VALIDATE_FAILED"
    assert batch.user_name
    assert batch.create_time.endswith("Z")

    detail = sdk5.list_async_job_detail(ListAsyncJobDetailRequest(async_job_id=async_id))
    assert detail.total_count == 3
    created = [j for j in detail.jobs if j.id]
    failed = [j for j in detail.jobs if not j.id]
    assert len(created) == 1
    assert len(failed) == 2
    job = created[0]
    assert job.base_info.name == good
    assert job.base_info.engine_type == "mysql-to-mysql"
    assert job.base_info.job_type == "sync"
    assert job.base_info.tags[0].key == "team"
    src, dst = job.source_endpoint[0], job.target_endpoint[0]
    assert (src.endpoint_role, dst.endpoint_role) == ("so", "ta")
    assert src.endpoint.db_port == "3306"
    assert src.endpoint.ip == "127.0.0.1"
    assert src.endpoint.db_password == "******"
    assert dst.endpoint.db_password == "******"
    assert dst.config.is_target_readonly is False
    assert job.policy_config.conflict_policy == "overwrite"
    assert job.policy_config.filter_ddl_policy == "drop_database"
    assert job.speed_limit[0].begin == "01:00"
    assert job.speed_limit[0].speed == "20"
    assert job.alarm_notify.delay_time == 60
    assert job.node_info.spec.node_type == "high"
    assert job.progress_info.transfer_status == job.status
    assert any("create" in log.message for log in job.logs)
    codes = sorted(f.logs[0].message.split(":")[0] for f in failed)
    assert codes == ["DRS.M00277", "DRS.M00302"]
    assert all(f.status == "CREATE_FAILED" for f in failed)
    raw = http.call("GET", f"/v5/{{project_id}}/batch-async-jobs/{async_id}")
    assert "v5-src-secret" not in str(raw)
    assert "v5-dst-secret" not in str(raw)

    # The created task is a real task: visible through v3 and provisioned to CONFIGURATION.
    assert wait_status(http, job.id, "CONFIGURATION") == "CONFIGURATION"
    v3 = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job.id]})["results"][0]
    assert v3["name"] == good
    assert v3["speed_limit"][0]["end"] == "02:59"
    assert v3["source_endpoint"]["db_password"] == "******"


def test_async_batch_all_valid_is_committed_and_paged(sdk5: Any, http: DrsHttpClient) -> None:
    names = [unique_name("v5page"), unique_name("v5page")]
    async_id = create_async(sdk5, [sdk_job(n) for n in names])
    batch = sdk5.list_async_jobs(ListAsyncJobsRequest(async_job_id=async_id)).jobs[0]
    assert batch.status == "COMMIT_SUCCESS"

    page1 = sdk5.list_async_job_detail(ListAsyncJobDetailRequest(async_job_id=async_id, offset=0, limit=1))
    page2 = sdk5.list_async_job_detail(ListAsyncJobDetailRequest(async_job_id=async_id, offset=1, limit=1))
    assert page1.total_count == page2.total_count == 2
    assert len(page1.jobs) == len(page2.jobs) == 1
    assert {page1.jobs[0].base_info.name, page2.jobs[0].base_info.name} == set(names)
    assert page1.jobs[0].create_time >= page2.jobs[0].create_time  # newest first

    statuses = http.call("POST", "/v3/{project_id}/jobs/batch-status",
                         {"jobs": [page1.jobs[0].id, page2.jobs[0].id]})["results"]
    assert all("error_code" not in r for r in statuses)

    everything = sdk5.list_async_jobs(ListAsyncJobsRequest(limit=1000))
    assert async_id in [b.async_job_id for b in everything.jobs]
    committed = sdk5.list_async_jobs(ListAsyncJobsRequest(status="COMMIT_SUCCESS", limit=1000))
    assert all(b.status == "COMMIT_SUCCESS" for b in committed.jobs)


def test_async_detail_unknown_id(sdk5: Any, http: DrsHttpClient) -> None:
    expect_error(http, "GET", f"/v5/{{project_id}}/batch-async-jobs/{uuid.uuid4()}", "DRS.M00289")
    with pytest.raises(ClientRequestException) as err:
        sdk5.list_async_job_detail(ListAsyncJobDetailRequest(async_job_id=str(uuid.uuid4())))
    assert err.value.status_code == 400
    assert err.value.error_code == "DRS.M00289"


def test_async_create_bad_input(http: DrsHttpClient) -> None:
    path = "/v5/{project_id}/jobs/batch-async-create"
    expect_error(http, "POST", path, "DRS.M00201", {})
    expect_error(http, "POST", path, "DRS.M00202", {"jobs": []})
    missing_policy = raw_job(unique_name("v5bad"))
    del missing_policy["policy_config"]
    expect_error(http, "POST", path, "DRS.M00201", {"jobs": [missing_policy]})
    bad_port = raw_job(unique_name("v5bad"))
    bad_port["source_endpoint"][0]["endpoint"]["db_port"] = "70000"
    expect_error(http, "POST", path, "DRS.M00202", {"jobs": [bad_port]})
    expect_error(http, "POST", path, "DRS.M00202", {"jobs": [raw_job(unique_name("v5bad"), net_type="lan")]})
    expect_error(http, "POST", path, "DRS.M00202", {"jobs": [raw_job("x!")]})
    no_objects = raw_job(unique_name("v5bad"))
    no_objects["db_object"] = {"object_scope": "table"}
    expect_error(http, "POST", path, "DRS.M00202", {"jobs": [no_objects]})


def test_async_create_scenario_errors_are_per_task(http: DrsHttpClient) -> None:
    wrong_role = raw_job(unique_name("v5role"))
    wrong_role["source_endpoint"][0]["endpoint_role"] = "ta"
    two_sources = raw_job(unique_name("v5two"))
    two_sources["source_endpoint"] *= 2
    migration_conflict = raw_job(unique_name("v5mig"), job_type="migration", engine_type="mysql")
    body = http.call("POST", "/v5/{project_id}/jobs/batch-async-create",
                     {"jobs": [wrong_role, two_sources, migration_conflict]})
    detail = http.call("GET", f"/v5/{{project_id}}/batch-async-jobs/{body['job']['async_job_id']}")
    assert detail["total_count"] == 3
    assert all(j["status"] == "CREATE_FAILED" and "id" not in j for j in detail["jobs"])
    messages = " ".join(j["logs"][0]["message"] for j in detail["jobs"])
    for field in ("endpoint_role", "source_endpoint", "conflict_policy"):
        assert field in messages


# --- list_jobs ----------------------------------------------------------------------------------


def test_list_jobs_filters_sort_and_pages(sdk5: Any, http: DrsHttpClient) -> None:
    prefix = unique_name("v5list")
    ids = [create_task(http, name=f"{prefix}_{i}",
                       source_endpoint={**mysql_task()["source_endpoint"], "inst_id": f"inst-{prefix}-{i}"})
           for i in range(3)]
    name_filter = ",".join(ids)

    asc = sdk5.list_jobs(ListJobsRequest(job_type="sync", name=name_filter, sort_key="name", sort_dir="asc",
                                         limit=2, offset=0))
    assert asc.total_count == 3
    assert [j.name for j in asc.jobs] == [f"{prefix}_0", f"{prefix}_1"]
    rest = sdk5.list_jobs(ListJobsRequest(job_type="sync", name=name_filter, sort_key="name", sort_dir="asc",
                                          limit=2, offset=2))
    assert [j.name for j in rest.jobs] == [f"{prefix}_2"]
    desc = sdk5.list_jobs(ListJobsRequest(job_type="sync", name=name_filter, sort_key="name",
                                          sort_dir="desc"))
    assert [j.name for j in desc.jobs] == [f"{prefix}_2", f"{prefix}_1", f"{prefix}_0"]

    job = asc.jobs[0]
    assert job.job_type == "sync"
    assert job.engine_type == "mysql"
    assert job.net_type == "eip"
    assert job.status == "CONFIGURATION"
    assert job.charging_mode == "on_demand"
    assert job.create_time.endswith("Z")
    assert job.node_new_framework is True
    assert "START" in job.job_action.available_actions

    by_name = sdk5.list_jobs(ListJobsRequest(job_type="sync", name=f"{prefix}_1"))
    assert [j.id for j in by_name.jobs] == [ids[1]]
    assert sdk5.list_jobs(ListJobsRequest(job_type="migration", name=name_filter)).total_count == 0
    assert sdk5.list_jobs(ListJobsRequest(job_type="sync", name=name_filter, net_type="vpn")).total_count == 0
    assert sdk5.list_jobs(ListJobsRequest(job_type="sync", name=name_filter,
                                          status="CONFIGURATION")).total_count == 3
    by_instance = sdk5.list_jobs(ListJobsRequest(job_type="sync", instance_ids=[f"inst-{prefix}-0",
                                                                                 f"inst-{prefix}-2"]))
    assert sorted(j.id for j in by_instance.jobs) == sorted([ids[0], ids[2]])
    # The spec's repeated form, with the empty filters its examples send.
    raw = http.call("GET", "/v5/{project_id}/jobs", params={
        "job_type": "sync", "name": name_filter, "status": "", "engine_type": "", "net_type": "",
        "enterprise_project_id": "", "sort_key": "pay_mode", "sort_dir": "asc",
        "instance_ids": [f"inst-{prefix}-1", f"inst-{prefix}-2"]})
    assert sorted(j["id"] for j in raw["jobs"]) == sorted(ids[1:])


def test_list_jobs_bad_input(http: DrsHttpClient) -> None:
    path = "/v5/{project_id}/jobs"
    expect_error(http, "GET", path, "DRS.M00201", params={"limit": 10})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "replication"})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "limit": 0})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "limit": 1001})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "limit": "ten"})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "offset": -1})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "sort_dir": "up"})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "sort_key": "id"})
    expect_error(http, "GET", path, "DRS.M00202", params={"job_type": "sync", "status": "RUNNING"})
    expect_error(http, "GET", path, "DRS.M00202",
                 params={"job_type": "sync", "name": ",".join(str(uuid.uuid4()) for _ in range(11))})
    expect_error(http, "GET", path, "DRS.M00202",
                 params={"job_type": "sync", "instance_ids": [f"i{n}" for n in range(11)]})


# --- show_job_detail ----------------------------------------------------------------------------


def test_show_job_detail(sdk5: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    job = sdk5.show_job_detail(ShowJobDetailRequest(job_id=job_id, type="detail")).job
    assert job.id == job_id
    assert job.status == "CONFIGURATION"
    assert job.base_info.engine_type == "mysql"
    assert job.base_info.expired_days == "14"
    assert job.source_endpoint[0].endpoint.db_password == "******"
    assert job.source_endpoint[0].endpoint.endpoint_name == "mysql"
    logs = sdk5.show_job_detail(ShowJobDetailRequest(job_id=job_id, type="log", limit=1)).job.logs
    assert len(logs) == 1
    assert "CONFIGURATION" in logs[0].message

    path = f"/v5/{{project_id}}/jobs/{job_id}"
    unknown = f"/v5/{{project_id}}/jobs/{uuid.uuid4()}"
    expect_error(http, "GET", unknown, "DRS.10000010", params={"type": "detail"})
    expect_error(http, "GET", path, "DRS.M00201")
    expect_error(http, "GET", path, "DRS.M00202", params={"type": "everything"})
    expect_error(http, "GET", path, "DRS.M00300", params={"type": "network"})
