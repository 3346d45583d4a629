"""PostgreSQL comparisons through the API: the same service and engine code as MySQL, on real servers.

The task stays in CONFIGURATION (4.1.25 and 4.1.33 need no running task): source and target are
filled by hand, then the target is damaged and exactly that damage must be reported.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from e2e_helpers import ServerHandle, create_task

from harness import PostgresServer
from opendrs.client import DrsHttpClient

FINISHED = {"SUCCESSFUL", "FAILED", "CANCELLED"}


def _endpoint(server: PostgresServer, db: str) -> dict[str, Any]:
    return {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": server.port, "db_user": server.user,
            "db_password": server.password, "db_name": db}


def _fill(server: PostgresServer, db: str) -> None:
    server.execute(f'CREATE DATABASE "{db}"')
    server.execute("CREATE TABLE items (id INT PRIMARY KEY, name TEXT, amount NUMERIC(10,2), at TIMESTAMPTZ)",
                   dbname=db)
    server.execute("INSERT INTO items SELECT g, 'item ' || g, g * 1.5, TIMESTAMPTZ '2024-01-01 00:00:00+00' "
                   "+ g * INTERVAL '1 minute' FROM generate_series(1, 200) g", dbname=db)


def _run(http: DrsHttpClient, job_id: str, kind: str) -> dict[str, Any]:
    compare_id = http.call("POST", f"/v3/{{project_id}}/jobs/{job_id}/table/compare", {"type": kind})["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/table/compare")["compare_jobs"]
        run: dict[str, Any] = next(j for j in listed if j["id"] == compare_id)
        if run["status"] in FINISHED:
            if run["status"] == "FAILED":
                run["error_msg"] = http.call("POST", "/v3/{project_id}/jobs/query-compare-result", {
                    "job_id": job_id, "line_compare_id": compare_id, "current_page": 1, "per_page": 1,
                })["line_compare_results"].get("error_msg")
            return run
        time.sleep(0.3)
    raise AssertionError(f"comparison {compare_id} did not finish")


def test_postgresql_task_comparison(fresh_server: Callable[..., ServerHandle], postgres_server: PostgresServer,
                                    postgres_target: PostgresServer) -> None:
    db = f"cmp_{uuid.uuid4().hex[:8]}"
    _fill(postgres_server, db)
    _fill(postgres_target, db)
    server = fresh_server(extra_env={"OPENDRS_COMPARE_SETTLE_SECONDS": "3"})
    with server.client() as http:
        job_id = create_task(http, db_use_type="sync", engine_type="postgresql",
                             source_endpoint=_endpoint(postgres_server, db),
                             target_endpoint=_endpoint(postgres_target, db))
        clean = _run(http, job_id, "contents")
        assert clean["status"] == "SUCCESSFUL", clean.get("error_msg")
        base = f"/v3/{{project_id}}/jobs/{job_id}/compare/{clean['id']}"
        detail = http.call("GET", f"{base}/content-detail")["content_compare_result_infos"]
        assert [(d["source_table_name"], d["source_row_num"], d["content_compare_result"]) for d in detail] == [
            ("items", 200, True)]

        postgres_target.execute("DELETE FROM items WHERE id = 3", dbname=db)
        postgres_target.execute("UPDATE items SET amount = 0 WHERE id = 4", dbname=db)
        postgres_target.execute("INSERT INTO items VALUES (1000, 'extra', 1, NULL)", dbname=db)
        damaged = _run(http, job_id, "contents")
        assert damaged["status"] == "SUCCESSFUL", damaged.get("error_msg")
        diff = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/compare/{damaged['id']}/content-difference")
        assert (diff["count"], diff["target_meta_is_null"], diff["source_meta_is_null"],
                diff["source_target_meta_not_null"]) == (3, 1, 1, 1)
        keys = sorted((i["source_key_value"], i["target_key_value"]) for i in diff["contents_infos"])
        assert keys == [([], ["1000"]), (["3"], []), (["4"], ["4"])]

        lines = _run(http, job_id, "lines")
        assert lines["status"] == "SUCCESSFUL"
        rows = http.call("GET", f"/v3/{{project_id}}/jobs/{job_id}/compare/{lines['id']}/line-detail")
        assert [(t["source_row_num"], t["target_row_num"]) for t in rows["table_line_compare_result_infos"]] == [
            (200, 200)]
