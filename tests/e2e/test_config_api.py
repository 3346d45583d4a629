"""Configuration APIs through the official SDK and raw HTTP: objects (4.1.5), flow control (4.1.8),
definer (4.1.16), data processing (4.3.1), sync policy (4.3.2), DB parameters (4.1.9/4.1.10) and
users (4.2.1/4.2.2). What is stored is read back through 4.1.21 batch-detail.

Parameters and source users are read from real databases: the MySQL engine does it against the
throwaway MariaDB pair (``mariadb_server``/``mariadb_target``), the default task endpoints
(127.0.0.1:3306 with made-up passwords) show the "cannot connect" answer. PostgreSQL parameters
stay NotAvailableYet (DRS.M00300): 4.1.9/4.1.10 are MySQL-only in the spec.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from e2e_helpers import ServerHandle, create_task, wait_status
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import (
    BatchChangeDataRequest,
    BatchDataTransformationReq,
    BatchLimitSpeedReq,
    BatchQueryParamReq,
    BatchReplaceDefinerReq,
    BatchSetDefinerRequest,
    BatchSetObjectsRequest,
    BatchSetPolicyRequest,
    BatchSetSpeedRequest,
    BatchSetupSyncPolicyReq,
    BatchShowParamsRequest,
    BatchUpdateDatabaseObjectReq,
    BatchUpdateSrcUserReq,
    BatchUpdateUserRequest,
    CheckDataTransformationReq,
    ConfigTransformationVo,
    DatabaseInfo,
    DatabaseObjectVO,
    LimitSpeedReq,
    ListUsersRequest,
    ModifyTargetParamsReq,
    ParamsReqBean,
    ReplaceDefinerInfo,
    SpeedLimitInfo,
    SyncPolicyReq,
    TransformationInfo,
    UpdateDatabaseObjectReq,
    UpdateParamsRequest,
    UpdateUserReq,
    UserAccountVO,
    UserRoleVO,
)
from mysql_helpers import endpoint

from harness import MariaDBServer
from opendrs.client import DrsHttpClient

UNKNOWN = "00000000-0000-0000-0000-00000000jb00"
PG = {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": 5432, "db_user": "u", "db_password": "pw"}
# mysql_task()'s made-up endpoint passwords: no answer may ever contain them
FAKE_PASSWORDS = ("secret-src-pw", "secret-dst-pw")


@pytest.fixture(scope="module")
def client(api_server: ServerHandle) -> Iterator[DrsHttpClient]:
    with api_server.client() as c:
        yield c


def stop(client: DrsHttpClient, job_id: str) -> str:
    """Terminate a task: it is no longer configurable (RELEASE_RESOURCE_COMPLETE)."""
    client.call("DELETE", "/v3/{project_id}/jobs/batch-jobs",
                {"jobs": [{"job_id": job_id, "delete_type": "terminate"}]})
    wait_status(client, job_id, "RELEASE_RESOURCE_COMPLETE")
    return job_id


@pytest.fixture(scope="module")
def stopped(client: DrsHttpClient) -> str:
    return stop(client, create_task(client))


@pytest.fixture(scope="module")
def migration(client: DrsHttpClient) -> str:
    return create_task(client, db_use_type="migration")


@pytest.fixture(scope="module")
def real_migration(client: DrsHttpClient, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> str:
    """A MySQL migration task between the two throwaway MariaDB servers."""
    return create_task(client, db_use_type="migration", source_endpoint=endpoint(mariadb_server),
                       target_endpoint=endpoint(mariadb_target))


@pytest.fixture(scope="module")
def pg_sync(client: DrsHttpClient) -> str:
    return create_task(client, engine_type="postgresql", source_endpoint=PG, target_endpoint=PG)


def detail(client: DrsHttpClient, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = client.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
    return result


def bad_request(http: DrsHttpClient, method: str, path: str, body: Any, code: str) -> str:
    resp = http.request(method, path, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == code, resp.text
    return str(resp.json()["error_msg"])


def cannot_connect(msg: str) -> None:
    """The answer for the default (unreachable) endpoints: says where, never the password."""
    assert "cannot connect to MySQL at 127.0.0.1:3306" in msg, msg
    assert not any(pw in msg for pw in FAKE_PASSWORDS), msg


def one_item(http: DrsHttpClient, method: str, path: str, body: Any) -> dict[str, Any]:
    resp = http.request(method, path, body)
    assert resp.status_code in (200, 202), resp.text
    item: dict[str, Any] = resp.json()["results"][0]
    return item


# --- 4.1.5 objects ------------------------------------------------------------------------------

OBJECTS = "/v3/{project_id}/jobs/batch-select-objects"


def test_select_objects_through_sdk_and_read_back(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    resp = sdk.batch_set_objects(BatchSetObjectsRequest(body=BatchUpdateDatabaseObjectReq(jobs=[
        UpdateDatabaseObjectReq(job_id=job_id, selected=True, sync_database=False, job=[
            DatabaseInfo(id="shop", object_type="database", object_name="shop", select="partial"),
            DatabaseInfo(id="shop-*-*-orders", parent_id="shop", object_type="table", object_name="orders",
                         select="true", object_alias_name="orders_copy"),
        ])])))
    assert resp.all_counts == 1
    assert resp.results[0].job_id == job_id and resp.results[0].status is True
    d = detail(http, job_id)
    assert d["object_switch"] is True
    assert d["object_infos"][1] == {"id": "shop-*-*-orders", "parent_id": "shop", "type": "table", "name": "orders",
                                    "alias_name": "orders_copy", "select": "true"}
    # selected false = everything: the tree is cleared
    item = one_item(http, "PUT", OBJECTS, {"jobs": [{"job_id": job_id, "selected": False, "job": []}]})
    assert item == {"job_id": job_id, "status": True}
    assert detail(http, job_id)["object_infos"] == []


@pytest.mark.parametrize(
    ("job", "code", "hint"),
    [
        ({"selected": True, "job": []}, "DRS.M00201", "job"),
        ({"selected": False, "job": [{"id": "db1", "object_type": "database", "select": "true"}]}, "DRS.M00202",
         "set selected to true"),
        ({"selected": True, "job": [{"id": "db1", "object_type": "database", "select": "maybe"}]}, "DRS.M00202",
         "select"),
        ({"selected": True, "job": [{"id": "db1", "object_type": "index"}]}, "DRS.M00202", "object_type"),
        ({"selected": True, "job": [{"id": "db1-*-*-t1", "parent_id": "db2", "object_type": "table",
                                     "select": "true"}]}, "DRS.M00202", "db2-*-*-t1"),
        ({"selected": True, "job": [{"id": "db1-*-*-t1", "object_type": "table", "select": "true"}]},
         "DRS.M00201", "parent_id"),
        ({"selected": True, "job": [{"id": "db1", "object_type": "database", "select": "true"},
                                    {"id": "db1", "object_type": "database", "select": "true"}]},
         "DRS.M00301", "duplicate"),
        ({"selected": True, "job": [{"id": "db1", "object_type": "database", "select": "false"},
                                    {"id": "db1-*-*-t", "parent_id": "db1", "object_type": "table",
                                     "select": "true"}]}, "DRS.M00202", "partial"),
    ],
)
def test_bad_object_selections(http: DrsHttpClient, job: dict[str, Any], code: str, hint: str) -> None:
    msg = bad_request(http, "PUT", OBJECTS, {"jobs": [{"job_id": UNKNOWN, **job}]}, code)
    assert hint in msg


def test_object_selection_per_item_rules(client: DrsHttpClient, stopped: str, migration: str) -> None:
    body = {"jobs": [
        {"job_id": UNKNOWN, "selected": False},
        {"job_id": stopped, "selected": False},
        {"job_id": migration, "selected": True, "job": [
            {"id": "db1", "object_type": "database", "select": "true", "object_alias_name": "db2"}]},
    ]}
    resp = client.request("PUT", OBJECTS, body)
    assert resp.status_code == 202
    unknown, wrong_status, alias = resp.json()["results"]
    assert (unknown["status"], unknown["error_code"]) == (False, "DRS.M00298")
    assert wrong_status["error_code"] == "DRS.M00304" and "CONFIGURATION" in wrong_status["error_msg"]
    assert alias["error_code"] == "DRS.M00202" and "only for synchronization" in alias["error_msg"]


def test_no_object_selection_for_disaster_recovery(http: DrsHttpClient) -> None:
    dr = create_task(http, db_use_type="cloudDataGuard", engine_type="cloudDataGuard-mysql", multi_write=False)
    item = one_item(http, "PUT", OBJECTS, {"jobs": [{"job_id": dr, "selected": False}]})
    assert item["status"] is False and item["error_code"] == "DRS.M00300"


# --- 4.1.8 flow control ---------------------------------------------------------------------------

SPEED = "/v3/{project_id}/jobs/batch-limit-speed"


def test_flow_control_through_sdk_read_back_and_clear(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    resp = sdk.batch_set_speed(BatchSetSpeedRequest(body=BatchLimitSpeedReq(speed_limits=[LimitSpeedReq(
        job_id=job_id, speed_limit=[SpeedLimitInfo(begin="16:00", end="01:59", speed="15", is_utc=True),
                                    SpeedLimitInfo(begin="02:00", end="03:59", speed="100")])])))
    assert resp.count == 1 and resp.results[0].id == job_id and resp.results[0].status == "success"
    assert detail(http, job_id)["speed_limit"] == [
        {"begin": "16:00", "end": "01:59", "speed": "15", "is_utc": True},
        {"begin": "02:00", "end": "03:59", "speed": "100", "is_utc": True}]
    item = one_item(http, "PUT", SPEED, {"speed_limits": [{"job_id": job_id, "speed_limit": []}]})
    assert item["status"] == "success"
    assert detail(http, job_id)["speed_limit"] == []


def window(begin: str, end: str, speed: Any = "10") -> dict[str, Any]:
    return {"begin": begin, "end": end, "speed": speed}


@pytest.mark.parametrize(
    ("windows", "code", "hint"),
    [
        ([window("01:00", "03:30")], "DRS.M00202", "03:59"),
        ([window("1:00", "03:59")], "DRS.M00202", "hh:mm"),
        ([window("03:59", "03:59")], "DRS.M00306", "same"),
        ([window("22:00", "01:59"), window("01:00", "02:59")], "DRS.M00202", "overlap"),
        ([window(f"{h:02d}:00", f"{h:02d}:59") for h in range(11)], "DRS.M00202", "at most 10"),
        ([window("01:00", "01:59", "0")], "DRS.M00202", "9999"),
        ([window("01:00", "01:59", "10000")], "DRS.M00202", "9999"),
        ([{"begin": "01:00", "end": "01:59"}], "DRS.M00201", "speed"),
    ],
)
def test_bad_flow_control(http: DrsHttpClient, windows: list[dict[str, Any]], code: str, hint: str) -> None:
    msg = bad_request(http, "PUT", SPEED, {"speed_limits": [{"job_id": UNKNOWN, "speed_limit": windows}]}, code)
    assert hint in msg


def test_flow_control_per_item_rules(http: DrsHttpClient, stopped: str) -> None:
    incr = create_task(http, task_type="INCR_TRANS")
    body = {"speed_limits": [{"job_id": j, "speed_limit": [window("01:00", "01:59")]} for j in
                             (incr, stopped, UNKNOWN)]}
    resp = http.request("PUT", SPEED, body)
    assert resp.status_code == 200
    codes = [r["error_code"] for r in resp.json()["results"]]
    assert codes == ["DRS.M00403", "DRS.M00304", "DRS.M00298"]
    bad_request(http, "PUT", SPEED, {"speed_limits": [{"job_id": incr, "speed_limit": []}] * 2}, "DRS.M00301")
    bad_request(http, "PUT", SPEED, {"speed_limits": [{"job_id": incr}]}, "DRS.M00201")


# --- 4.1.16 definer -------------------------------------------------------------------------------

DEFINER = "/v3/{project_id}/jobs/batch-replace-definer"


def test_definer_through_sdk(sdk: Any, http: DrsHttpClient, pg_sync: str) -> None:
    job_id = create_task(http)
    resp = sdk.batch_set_definer(BatchSetDefinerRequest(body=BatchReplaceDefinerReq(jobs=[
        ReplaceDefinerInfo(job_id=job_id, replace_definer=True),
        ReplaceDefinerInfo(job_id=pg_sync, replace_definer=True)])))
    ok, pg = resp.results
    assert ok.status == "success" and detail(http, job_id)["replace_definer"] is True
    assert pg.status == "failed" and pg.error_code == "DRS.M00300" and "MySQL" in pg.error_msg


def test_bad_definer(http: DrsHttpClient, stopped: str) -> None:
    bad_request(http, "POST", DEFINER, {"jobs": [{"job_id": UNKNOWN}]}, "DRS.M00201")
    bad_request(http, "POST", DEFINER, {"jobs": [{"job_id": UNKNOWN, "replace_definer": "perhaps"}]}, "DRS.M00202")
    item = one_item(http, "POST", DEFINER, {"jobs": [{"job_id": stopped, "replace_definer": False}]})
    assert item["error_code"] == "DRS.M00304"
    item = one_item(http, "POST", DEFINER, {"jobs": [{"job_id": UNKNOWN, "replace_definer": False}]})
    assert item["error_code"] == "DRS.M00298"


# --- 4.3.1 data processing ------------------------------------------------------------------------

RULES = "/v3/{project_id}/jobs/batch-transformation"


def select_tables(http: DrsHttpClient, job_id: str, *tables: str) -> None:
    objs: list[dict[str, Any]] = [{"id": "db1", "object_type": "database", "select": "partial"}]
    objs += [{"id": f"db1-*-*-{t}", "parent_id": "db1", "object_type": "table", "select": "true"} for t in tables]
    assert one_item(http, "PUT", OBJECTS, {"jobs": [{"job_id": job_id, "selected": True, "job": objs}]})["status"]


def content_rule(job_id: str, value: str = "id>5", *ids: str) -> dict[str, Any]:
    return {"job_id": job_id, "object_info": [{"id": i, "select": "true"} for i in ids or ("db1-*-*-t1",)],
            "transformation_info": {"transformation_type": "contentConditionalFilter", "value": value}}


def test_data_processing_through_sdk_and_read_back(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    select_tables(http, job_id, "t1", "t2")
    resp = sdk.batch_change_data(BatchChangeDataRequest(body=BatchDataTransformationReq(jobs=[
        CheckDataTransformationReq(job_id=job_id, object_info=[DatabaseObjectVO(id="db1-*-*-t1", select="true")],
                                   transformation_info=TransformationInfo(
                                       transformation_type="contentConditionalFilter", value="name = 'a;b'")),
        CheckDataTransformationReq(job_id=job_id, transformation_info=TransformationInfo(
            transformation_type="configConditionalFilter", value="config"),
            config_transformation=ConfigTransformationVo(
                db_table_name="db1.t2", db_name="db1", table_name="t2", col_names="id,name",
                prim_key_or_index="id", indexs="name", values="name like '%a%'")),
    ])))
    assert [r.status for r in resp.results] == ["success", "success"]
    dt = detail(http, job_id)["data_transformation"]
    assert dt["total_count"] == 2
    first, second = dt["filter_conditions"]
    assert first["transformation_info"] == {"transformation_type": "contentConditionalFilter",
                                            "value": "name = 'a;b'"}
    assert first["data_transformation_object_infos"] == [{
        "id": "db1-*-*-t1-*-*---conditionFilter--", "data_transformation_type": "contentConditionalFilter",
        "db_name": "db1", "schema_name": "", "table_name": "t1"}]
    assert second["config_transformation"]["indexs"] == "name"
    assert second["data_transformation_object_infos"][0]["id"] == "db1-*-*-t2-*-*---configConditionFilter--"

    # one rule per table (M07000); the spelling "indexes" is accepted too
    again = one_item(http, "POST", RULES, {"jobs": [content_rule(job_id, "id<3")]})
    assert again["status"] == "failed" and again["error_code"] == "DRS.M07000"
    cfg = {"job_id": job_id, "transformation_info": {"transformation_type": "configConditionalFilter",
                                                     "value": "config"},
           "config_transformation": {"db_table_name": "db1.t1", "db_name": "db1", "table_name": "t1",
                                     "col_names": "id", "prim_key_or_index": "id", "indexes": "id",
                                     "values": "id <= 6"}}
    assert one_item(http, "POST", RULES, {"jobs": [cfg]})["status"] == "success"


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("id>5; drop table t1", "';'"),
        ("id>5 -- x", "comments"),
        ("id>5 /* x */", "comments"),
        ("1=1 or sleep(5)", "SLEEP"),
        ("id in (delete from t)", "DELETE"),
        ("name = 'abc", "quote"),
        ("(id>5", "parentheses"),
        ("config", "SQL condition"),
        ("x" * 257, "value"),
    ],
)
def test_unsafe_or_bad_filters_are_rejected(http: DrsHttpClient, value: str, hint: str) -> None:
    assert hint in bad_request(http, "POST", RULES, {"jobs": [content_rule(UNKNOWN, value)]}, "DRS.M00202")


def test_bad_data_processing_bodies(http: DrsHttpClient) -> None:
    bad_request(http, "POST", RULES, {"jobs": [{"job_id": UNKNOWN}]}, "DRS.M00201")
    bad_request(http, "POST", RULES, {"jobs": [{**content_rule(UNKNOWN), "object_info": []}]}, "DRS.M00201")
    bad_request(http, "POST", RULES, {"jobs": [content_rule(UNKNOWN, "id>1", "justatable")]}, "DRS.M00202")
    body = {"jobs": [{"job_id": UNKNOWN, "transformation_info": {"transformation_type": "rowFilter", "value": "x"}}]}
    bad_request(http, "POST", RULES, body, "DRS.M00202")
    body = {"jobs": [{"job_id": UNKNOWN, "transformation_info": {"transformation_type": "configConditionalFilter",
                                                                  "value": "config"}}]}
    bad_request(http, "POST", RULES, body, "DRS.M00201")


def test_data_processing_per_item_rules(http: DrsHttpClient, migration: str, stopped: str) -> None:
    fresh = create_task(http)
    resp = http.request("POST", RULES, {"jobs": [content_rule(j) for j in (fresh, migration, stopped, UNKNOWN)]})
    no_selection, not_sync, wrong_status, unknown = resp.json()["results"]
    assert no_selection["error_code"] == "DRS.M00300" and "batch-select-objects" in no_selection["error_msg"]
    assert not_sync["error_code"] == "DRS.M00300"
    assert wrong_status["error_code"] == "DRS.M00304"
    assert unknown["error_code"] == "DRS.M00298"
    select_tables(http, fresh, "t1")
    item = one_item(http, "POST", RULES, {"jobs": [content_rule(fresh, "id>1", "db1-*-*-other")]})
    assert item["error_code"] == "DRS.M00202" and "not among the selected objects" in item["error_msg"]


# --- 4.3.2 sync policy ----------------------------------------------------------------------------

POLICY = "/v3/{project_id}/jobs/batch-sync-policy"


def test_sync_policy_through_sdk_and_read_back(sdk: Any, http: DrsHttpClient) -> None:
    job_id = create_task(http)
    resp = sdk.batch_set_policy(BatchSetPolicyRequest(body=BatchSetupSyncPolicyReq(jobs=[SyncPolicyReq(
        job_id=job_id, conflict_policy="ignore", filter_ddl_policy="drop_database", ddl_trans=True,
        index_trans=False)])))
    assert resp.results[0].status == "success"
    d = detail(http, job_id)
    assert (d["conflict_policy"], d["filter_ddl_policy"], d["index_trans"]) == ("ignore", "drop_database", False)

    incr = create_task(http, task_type="INCR_TRANS")
    item = one_item(http, "POST", POLICY, {"jobs": [{
        "job_id": incr, "file_and_position": "mysql-bin.000277:805",
        "gtid_set": "e4979f26-4bc3-11ee-b279-fa163ef21d64:1-23,\n0d6c5f2e-4bc3-11ee-b279-fa163ef21d64:5"}]})
    assert item["status"] == "success", item


@pytest.mark.parametrize(
    ("fields", "code", "hint"),
    [
        ({"conflict_policy": "explode"}, "DRS.M00202", "conflict_policy"),
        ({"file_and_position": "mysql-bin:805"}, "DRS.M00202", "mysql-bin.000277:805"),
        ({"file_and_position": "my/bin.000277:805"}, "DRS.M00202", "File_name"),
        ({"gtid_set": "e4979f26-4bc3-11ee-b279-fa163ef21d64"}, "DRS.M00202", "server_uuid"),
        ({"gtid_set": "e4979f26-4bc3-11ee-b279-fa163ef21d64:1-23<"}, "DRS.M00202", "remove"),
        ({"gtid_set": "e4979f26-4bc3-11ee-b279-fa163ef21d64:9-3"}, "DRS.M00202", "ascending"),
        ({"gtid_set": "a" * 2049}, "DRS.M00202", "gtid_set"),
        ({"slot_name": "Bad-Slot"}, "DRS.M00202", "slot"),
        ({"ddl_trans": "sometimes"}, "DRS.M00202", "ddl_trans"),
    ],
)
def test_bad_sync_policies(http: DrsHttpClient, fields: dict[str, Any], code: str, hint: str) -> None:
    assert hint in bad_request(http, "POST", POLICY, {"jobs": [{"job_id": UNKNOWN, **fields}]}, code)


def test_sync_policy_fields_must_fit_the_engine(http: DrsHttpClient, pg_sync: str, stopped: str) -> None:
    mysql = create_task(http)
    cases = [
        (mysql, {"slot_name": "drs_slot"}, "PostgreSQL"),
        (mysql, {"export_snapshot": True}, "PostgreSQL"),
        (pg_sync, {"gtid_set": "e4979f26-4bc3-11ee-b279-fa163ef21d64:1-2"}, "MySQL"),
        (mysql, {"file_and_position": "mysql-bin.000001:4"}, "INCR_TRANS"),
        (mysql, {"ddl_topic": "ddl"}, "Kafka"),
        (mysql, {"filter_ddl_policy": "drop_databasefilter_all"}, "drop_database"),
    ]
    for job_id, fields, hint in cases:
        item = one_item(http, "POST", POLICY, {"jobs": [{"job_id": job_id, **fields}]})
        assert item["error_code"] == "DRS.M00202" and hint in item["error_msg"], (fields, item)
    item = one_item(http, "POST", POLICY, {"jobs": [{"job_id": pg_sync, "slot_name": "drs_slot",
                                                      "export_snapshot": True}]})
    assert item["status"] == "success"
    assert one_item(http, "POST", POLICY, {"jobs": [{"job_id": stopped}]})["error_code"] == "DRS.M00304"
    assert one_item(http, "POST", POLICY, {"jobs": [{"job_id": UNKNOWN}]})["error_code"] == "DRS.M00298"
    bad_request(http, "POST", POLICY, {"jobs": [{}]}, "DRS.M00201")


# --- 4.1.9 / 4.1.10 database parameters -----------------------------------------------------------

PARAMS = "/v3/{project_id}/jobs/batch-get-params"


def show_params(sdk: Any, job_id: str, refresh: str) -> dict[str, Any]:
    """4.1.9 through the SDK for one task: key -> parsed Params model."""
    resp = sdk.batch_show_params(BatchShowParamsRequest(body=BatchQueryParamReq(jobs=[job_id], refresh=refresh)))
    assert resp.count == 1 and len(resp.params_list) == 1
    return {p.key: p for p in resp.params_list[0].params}


def target_global(server: MariaDBServer, name: str) -> Any:
    return server.execute(f"SELECT @@GLOBAL.{name}")[0][0]


def test_parameter_comparison_through_sdk(sdk: Any, http: DrsHttpClient, real_migration: str,
                                          mariadb_target: MariaDBServer) -> None:
    params = show_params(sdk, real_migration, "1")
    lqt = params["long_query_time"]
    assert (lqt.group, lqt.data_type) == ("performance", "figure")
    assert lqt.compare_result in ("true", "false") and lqt.need_restart == "false"
    assert Decimal(lqt.target_value) == Decimal(str(target_global(mariadb_target, "long_query_time")))
    charset = params["character_set_server"]
    assert charset.group == "common" and charset.target_value == str(target_global(mariadb_target,
                                                                                      "character_set_server"))
    assert params["lower_case_table_names"].need_restart == "true"

    before = int(target_global(mariadb_target, "sort_buffer_size"))
    wanted = "1048576" if before != 1048576 else "2097152"
    try:
        resp = sdk.update_params(UpdateParamsRequest(job_id=real_migration, body=ModifyTargetParamsReq(
            group="performance", params=[ParamsReqBean(key="sort_buffer_size", target_value=wanted)])))
        assert resp.success is True and resp.should_restart == "false"
        assert int(target_global(mariadb_target, "sort_buffer_size")) == int(wanted)
        # refresh 0 answers from the cache, which the change updated
        assert show_params(sdk, real_migration, "0")["sort_buffer_size"].target_value == wanted
    finally:
        mariadb_target.execute("SET GLOBAL sort_buffer_size = %s", (before,))
    # only keys 4.1.9 returned for the group may change
    msg = bad_request(http, "POST", f"/v3/{{project_id}}/jobs/{real_migration}/params",
                      {"group": "common", "params": [{"key": "sort_buffer_size", "target_value": "1"}]}, "DRS.M00202")
    assert "not a common parameter" in msg


def test_parameters_of_unreachable_databases(sdk: Any, migration: str) -> None:
    with pytest.raises(ClientRequestException) as exc:
        sdk.batch_show_params(BatchShowParamsRequest(body=BatchQueryParamReq(jobs=[migration], refresh="1")))
    assert exc.value.status_code == 400 and exc.value.error_code == "DRS.M00300"
    cannot_connect(exc.value.error_msg)
    with pytest.raises(ClientRequestException) as exc:
        sdk.update_params(UpdateParamsRequest(job_id=migration, body=ModifyTargetParamsReq(
            group="performance", params=[ParamsReqBean(key="binlog_cache_size", target_value="32768")])))
    assert exc.value.error_code == "DRS.M00303" and "batch-get-params" in exc.value.error_msg


def test_parameter_validation(http: DrsHttpClient, migration: str, stopped: str, pg_sync: str) -> None:
    sync = create_task(http)
    down = create_task(http, db_use_type="migration", job_direction="down")
    assert "refresh 1" in bad_request(http, "POST", PARAMS, {"jobs": [migration], "refresh": 0}, "DRS.M00303")
    cannot_connect(bad_request(http, "POST", PARAMS, {"jobs": [migration], "refresh": 1}, "DRS.M00300"))
    assert "MySQL migration" in bad_request(http, "POST", PARAMS, {"jobs": [sync], "refresh": "1"}, "DRS.M00300")
    assert "MySQL migration" in bad_request(http, "POST", PARAMS, {"jobs": [pg_sync], "refresh": "1"}, "DRS.M00300")
    assert "job_direction up" in bad_request(http, "POST", PARAMS, {"jobs": [down], "refresh": "1"}, "DRS.M00300")
    bad_request(http, "POST", PARAMS, {"jobs": [UNKNOWN], "refresh": "1"}, "DRS.M00298")
    bad_request(http, "POST", PARAMS, {"jobs": [migration], "refresh": "2"}, "DRS.M00202")
    bad_request(http, "POST", PARAMS, {"jobs": [migration]}, "DRS.M00201")
    bad_request(http, "POST", PARAMS, {"jobs": [migration, migration], "refresh": "1"}, "DRS.M00301")
    path = f"/v3/{{project_id}}/jobs/{migration}/params"
    bad_request(http, "POST", path, {"group": "fast", "params": [{"key": "a", "target_value": "1"}]}, "DRS.M00202")
    bad_request(http, "POST", path, {"group": "common"}, "DRS.M00201")
    bad_request(http, "POST", path, {"group": "common", "params": [{"key": "a", "target_value": "1"}] * 2},
                "DRS.M00301")
    bad_request(http, "POST", "/v3/{project_id}/jobs/" + UNKNOWN + "/params",
                {"group": "common", "params": [{"key": "a", "target_value": "1"}]}, "DRS.M00298")


# --- 4.2.1 / 4.2.2 users --------------------------------------------------------------------------

USERS = "/v3/{project_id}/jobs/batch-update-user"


def test_user_migration_through_sdk(sdk: Any, http: DrsHttpClient, migration: str, pg_sync: str) -> None:
    resp = sdk.batch_update_user(BatchUpdateUserRequest(body=BatchUpdateSrcUserReq(jobs=[UpdateUserReq(
        job_id=migration, is_migrate_user=True, is_set_password=True, password="Global-pw-1",
        list=[UserAccountVO(id="app@%", account="app", is_transfer=True, roles=[], selected=True,
                            password="user-pw-1", is_set_password=True)],
        user_roles=[UserRoleVO(role="reporting", is_transfer=True, privileges="GRANT SELECT ON *.*",
                               selected=True)])])))
    assert resp.all_counts == 1
    item = resp.results[0]
    assert item.job_id == migration and item.is_success is True and item.is_global_password == "true"
    assert item.user_list[0].account == "app" and item.user_list[0].password == "******"
    assert item.roles_list[0].role == "reporting"
    d = detail(http, migration)
    assert d["migrate_user"] is True
    raw = str(http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [migration]}))
    assert "user-pw-1" not in raw and "Global-pw-1" not in raw

    # 4.2.2 reads the source: the default endpoints cannot be reached, for MySQL and PostgreSQL alike
    with pytest.raises(ClientRequestException) as exc:
        sdk.list_users(ListUsersRequest(job_id=migration))
    assert exc.value.status_code == 400 and exc.value.error_code == "DRS.M00300"
    cannot_connect(exc.value.error_msg)
    with pytest.raises(ClientRequestException) as exc:
        sdk.list_users(ListUsersRequest(job_id=pg_sync))
    assert exc.value.status_code == 400 and exc.value.error_code == "DRS.M00300"
    # The PostgreSQL engine really connects: the made-up endpoint is refused (or its password, when
    # a local server listens on 5432), and the message names the endpoint, never the password.
    assert "source endpoint" in exc.value.error_msg and "pw" not in exc.value.error_msg.split("password")[0]


def test_source_users_through_sdk(sdk: Any, http: DrsHttpClient, real_migration: str,
                                  mariadb_server: MariaDBServer) -> None:
    user = f"e2e_u_{uuid.uuid4().hex[:8]}"
    account = f"'{user}'@'%'"
    mariadb_server.execute(f"CREATE USER {account} IDENTIFIED BY 'pw-{user}'")
    try:
        mariadb_server.execute(f"GRANT SELECT ON *.* TO {account}")
        chosen = one_item(http, "PUT", USERS, {"jobs": [{
            "job_id": real_migration, "is_migrate_user": True, "is_set_password": False,
            "list": [{"id": account, "account": account, "is_transfer": True, "selected": True, "roles": []}],
            "user_roles": []}]})
        assert chosen["is_success"] is True, chosen
        resp = sdk.list_users(ListUsersRequest(job_id=real_migration))
    finally:
        mariadb_server.execute(f"DROP USER IF EXISTS {account}")
    assert (resp.job_id, resp.is_success, resp.message) == (real_migration, True, "SUCCESS")
    users = {u.id: u for u in resp.user_list}
    mine = users[account]
    assert (mine.account, mine.selected, mine.is_transfer, mine.password) == (account, True, True, None)
    assert "GRANT SELECT ON *.*" in mine.privileges and f"pw-{user}" not in str(resp)
    roots = [u for u in resp.user_list if u.id.startswith("'root'@")]
    assert roots and not any(u.is_transfer or u.selected for u in roots)


def test_user_migration_validation(http: DrsHttpClient, pg_sync: str) -> None:
    sync = create_task(http)
    stopped = stop(http, create_task(http, db_use_type="migration"))
    base = {"is_migrate_user": False, "is_set_password": False}
    bad_request(http, "PUT", USERS, {"jobs": [{"job_id": UNKNOWN, "is_set_password": False}]}, "DRS.M00201")
    bad_request(http, "PUT", USERS, {"jobs": [{"job_id": UNKNOWN, "is_migrate_user": True,
                                               "is_set_password": False}]}, "DRS.M00201")
    bad_request(http, "PUT", USERS, {"jobs": [{"job_id": UNKNOWN, **base, "is_set_password": True}]}, "DRS.M00201")
    bad_request(http, "PUT", USERS, {"jobs": [{"job_id": UNKNOWN, **base, "is_migrate_user": "perhaps"}]},
                "DRS.M00202")
    resp = http.request("PUT", USERS, {"jobs": [{"job_id": j, **base} for j in (sync, pg_sync, stopped, UNKNOWN)]})
    assert resp.status_code == 200
    not_supported, pg, wrong_status, unknown = resp.json()["results"]
    assert not_supported["is_success"] is False and not_supported["error_code"] == "DRS.M00300"
    assert pg["is_success"] is True
    assert wrong_status["error_code"] == "DRS.M00304" and unknown["error_code"] == "DRS.M00298"
    resp = http.request("GET", f"/v3/{{project_id}}/jobs/{sync}/get-src-user")
    assert resp.status_code == 400 and resp.json()["error_code"] == "DRS.M00300"
    resp = http.request("GET", f"/v3/{{project_id}}/jobs/{UNKNOWN}/get-src-user")
    assert resp.status_code == 400 and resp.json()["error_code"] == "DRS.M00298"
