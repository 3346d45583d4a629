"""PostgreSQL pre-check (4.1.6/4.1.7) and source users (4.2.2) through the live HTTP API, against the
throwaway PostgreSQL pair: create -> connection test -> select a schema -> pre-check, first with a
table that has no replica identity (FAILED, start refused), then fixed (passed); and the source's
roles listed for the same task.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import create_task

from harness import PostgresServer
from opendrs.client import DrsHttpClient


def pg_endpoint(server: PostgresServer, db: str) -> dict[str, Any]:
    return {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": server.port, "db_user": server.user,
            "db_password": server.password, "db_name": db}


@pytest.fixture
def database(postgres_server: PostgresServer, postgres_target: PostgresServer) -> Iterator[str]:
    db = f"e2e_pc_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {db}")
    postgres_target.execute(f"CREATE DATABASE {db}")
    postgres_server.execute("CREATE SCHEMA shop", dbname=db)
    postgres_server.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, note text)", dbname=db)
    postgres_server.execute("CREATE TABLE shop.audit (at timestamptz, what text)", dbname=db)
    yield db
    for server in (postgres_server, postgres_target):
        server.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def precheck(http: DrsHttpClient, job_id: str) -> dict[str, Any]:
    started = http.call("POST", "/v3/{project_id}/jobs/batch-precheck",
                        {"jobs": [{"job_id": job_id, "precheck_mode": "forStartJob"}]})
    assert started["results"][0]["status"] == "success", started
    deadline = time.monotonic() + 60
    while True:
        result: dict[str, Any] = http.call("POST", "/v3/{project_id}/jobs/batch-precheck-result",
                                           {"jobs": [job_id]})["results"][0]
        if result.get("process") == "100%":
            return result
        assert time.monotonic() < deadline, result
        time.sleep(0.3)


def test_postgres_precheck_and_users_through_the_api(http: DrsHttpClient, postgres_server: PostgresServer,
                                                     postgres_target: PostgresServer, database: str) -> None:
    src, dst = pg_endpoint(postgres_server, database), pg_endpoint(postgres_target, database)
    job_id = create_task(http, engine_type="postgresql", source_endpoint=src, target_endpoint=dst)
    tested = http.call("POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [
        {"id": job_id, "end_point_type": "so", **src}, {"id": job_id, "end_point_type": "ta", **dst}]})
    assert all(r["success"] for r in tested["results"]), tested
    http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
        "job_id": job_id, "selected": True,
        "job": [{"id": f"{database}-*-*-shop", "parent_id": database, "object_type": "schema",
                 "object_name": "shop", "select": "true"}]}]})

    result = precheck(http, job_id)
    assert result["result"] is False
    failed = {i["item"]: i for i in result["precheck_result"] if i["result"] == "FAILED"}
    assert list(failed) == ["srcTableReplicaIdentityCheck"], failed
    assert "ALTER TABLE shop.audit REPLICA IDENTITY FULL;" in failed["srcTableReplicaIdentityCheck"]["failed_reason"]
    assert {i["group"] for i in result["precheck_result"]} >= {"network", "db_version", "db_user_privilege",
                                                                 "db_params", "db_target_status"}
    refused = http.call("POST", "/v3/{project_id}/jobs/batch-starting", {"jobs": [{"job_id": job_id}]})
    assert refused["results"][0]["status"] == "failed", refused

    postgres_server.execute("ALTER TABLE shop.audit REPLICA IDENTITY FULL", dbname=database)
    fixed = precheck(http, job_id)
    assert fixed["result"] is True, [i for i in fixed["precheck_result"] if i["result"] == "FAILED"]
    alarms = {i["item"]: i["result"] for i in fixed["precheck_result"] if i["result"] != "PASSED"}
    assert alarms == {"srcTableReplicaIdentityCheck": "ALARM"}
    assert "pgpw" not in str(fixed)

    users = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/get-src-user")
    assert users["is_success"] is True and users["job_id"] == job_id
    listed = {u["id"]: u for u in users["user_list"]}
    assert listed["postgres"]["is_transfer"] is False and "CREATE ROLE postgres WITH SUPERUSER" in \
        listed["postgres"]["privileges"]
    assert not any(r["role"].startswith("pg_") for r in users["roles_list"])
