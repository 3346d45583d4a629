"""4.1.2 / 4.1.3 connection tests through the official SDK against real throwaway servers."""

from __future__ import annotations

import json
from typing import Any

from e2e_helpers import create_task
from huaweicloudsdkdrs.v3 import (
    BatchJobActionReq,
    BatchSpecialTestConnectionReq,
    BatchTestConnectionReq,
    BatchValidateClustersConnectionsRequest,
    BatchValidateConnectionsRequest,
)
from huaweicloudsdkdrs.v3 import (
    TestEndPoint as SdkTestEndPoint,
)

from harness import MariaDBServer, PostgresServer, closed_port
from opendrs.client import DrsHttpClient


def _ep(job_id: str, side: str, server: Any, db_type: str, **overrides: Any) -> SdkTestEndPoint:
    args: dict[str, Any] = dict(id=job_id, net_type="eip", db_type=db_type, ip="127.0.0.1", db_port=server.port,
                                db_user=server.user, db_password=server.password, end_point_type=side)
    args.update(overrides)
    return SdkTestEndPoint(**args)


def test_mysql_both_sides_in_one_batch(sdk: Any, http: DrsHttpClient, mariadb_server: MariaDBServer,
                                       mariadb_target: MariaDBServer) -> None:
    job_id = create_task(http)
    resp = sdk.batch_validate_connections(BatchValidateConnectionsRequest(body=BatchTestConnectionReq(jobs=[
        _ep(job_id, "so", mariadb_server, "mysql"), _ep(job_id, "ta", mariadb_target, "mysql")])))
    assert [r.success for r in resp.results] == [True, True], resp
    detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
    assert detail["source_endpoint"]["db_port"] == mariadb_server.port
    assert detail["target_endpoint"]["db_port"] == mariadb_target.port
    assert detail["source_endpoint"]["db_password"] == "******"


def test_mysql_failures_are_diagnosed(sdk: Any, http: DrsHttpClient, mariadb_server: MariaDBServer) -> None:
    job_id = create_task(http)
    resp = sdk.batch_validate_connections(BatchValidateConnectionsRequest(body=BatchTestConnectionReq(jobs=[
        _ep(job_id, "so", mariadb_server, "mysql", db_password="wrong-password-1"),
        _ep(job_id, "so", mariadb_server, "mysql", db_port=closed_port()),
        _ep(job_id, "so", mariadb_server, "mysql", ip="no-such-host.invalid"),
        _ep(job_id, "so", mariadb_server, "mysql", db_name="no_such_database"),
        _ep(job_id, "so", mariadb_server, "postgresql"),
        _ep("00000000-0000-0000-0000-00000000jb00", "so", mariadb_server, "mysql"),
    ])))
    codes = [r.error_code for r in resp.results]
    assert codes == ["DRS.KE002", "DRS.KE003", "DRS.KE0018", "DRS.KE008", "DRS.M00202", "DRS.M00298"]
    assert not any(r.success for r in resp.results)
    assert "wrong-password-1" not in json.dumps([r.error_msg for r in resp.results])


def test_postgres_task(http: DrsHttpClient, postgres_server: PostgresServer) -> None:
    job_id = create_task(http, engine_type="postgresql",
                         source_endpoint={"db_type": "postgresql", "ip": "127.0.0.1"},
                         target_endpoint={"db_type": "postgresql", "ip": "127.0.0.1"})
    ok = {"id": job_id, "db_type": "postgresql", "ip": "127.0.0.1", "db_port": postgres_server.port,
          "db_user": postgres_server.user, "db_password": postgres_server.password, "end_point_type": "so",
          "db_name": "postgres"}
    results = http.call("POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [
        ok, {**ok, "db_password": "nope-nope"}, {**ok, "db_name": "missing_db"}]})["results"]
    assert [r.get("error_code") for r in results] == [None, "DRS.KE002", "DRS.KE008"]
    assert results[0]["success"] is True


def test_cluster_connection(sdk: Any, http: DrsHttpClient, mariadb_server: MariaDBServer) -> None:
    job_id = create_task(http)
    prop = json.dumps([{"dbtype": "mysql", "ip": "127.0.0.1", "dbport": mariadb_server.port, "dbuser": "root",
                        "dbpassword": mariadb_server.password, "endpointtype": "so"}])
    resp = sdk.batch_validate_clusters_connections(BatchValidateClustersConnectionsRequest(
        body=BatchSpecialTestConnectionReq(jobs=[BatchJobActionReq(action="testConnection", job_id=job_id,
                                                                   _property=prop)])))
    assert resp.results[0].status == "true" and resp.results[0].success is True
    bad = http.call("POST", "/v3/{project_id}/jobs/cluster/batch-connection",
                    {"jobs": [{"job_id": job_id, "property": "[not json"}]})["results"][0]
    assert bad["status"] == "false" and bad["error_code"] == "DRS.M00202"
