"""Helpers for end-to-end MySQL task tests: task set-up through the API, and source == target checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from e2e_helpers import create_task, wait_status

from harness import MariaDBServer
from opendrs.client import DrsHttpClient


def new_db(prefix: str = "e2e") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def endpoint(server: MariaDBServer) -> dict[str, Any]:
    return {"db_type": "mysql", "ip": "127.0.0.1", "db_port": server.port, "db_user": server.user,
            "db_password": server.password}


def checksums(server: MariaDBServer, db: str) -> dict[str, tuple[int, Any]]:
    """table -> (row count, CHECKSUM TABLE) for every base table of ``db``."""
    out: dict[str, tuple[int, Any]] = {}
    tables = server.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema=%s AND table_type='BASE TABLE'", (db,))
    for (name,) in tables:
        count = server.execute(f"SELECT COUNT(*) FROM `{db}`.`{name}`")[0][0]
        checksum = server.execute(f"CHECKSUM TABLE `{db}`.`{name}` EXTENDED")[0][1]
        out[name] = (int(count), checksum)
    return out


def wait_equal(source: MariaDBServer, target: MariaDBServer, db: str, timeout: float = 90,
               target_db: str | None = None) -> dict[str, tuple[int, Any]]:
    deadline = time.monotonic() + timeout
    want: dict[str, tuple[int, Any]] = {}
    got: dict[str, tuple[int, Any]] = {}
    while time.monotonic() < deadline:
        want = checksums(source, db)
        try:
            got = checksums(target, target_db or db)
        except Exception:  # noqa: BLE001 - target may not have the database yet
            got = {}
        if want == got:
            return want
        time.sleep(0.5)
    raise AssertionError(f"target never matched the source:\nsource={want}\ntarget={got}")


def start_mysql_task(http: DrsHttpClient, source: MariaDBServer, target: MariaDBServer, db: str,
                     task_type: str = "FULL_INCR_TRANS", extra_policy: dict[str, Any] | None = None,
                     full_sync: dict[str, str] | None = None,
                     configure: Callable[[str], None] | None = None, db_use_type: str = "sync") -> str:
    """Create, connect, select ``db``, precheck and start a MySQL task (sync by default); returns its id."""
    job_id = create_task(http, task_type=task_type, source_endpoint=endpoint(source),
                         target_endpoint=endpoint(target), db_use_type=db_use_type)
    tested = http.call("POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [
        {"id": job_id, "end_point_type": "so", **endpoint(source)},
        {"id": job_id, "end_point_type": "ta", **endpoint(target)}]})
    assert all(r["success"] for r in tested["results"]), tested
    http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
        "job_id": job_id, "selected": True,
        "job": [{"id": db, "object_type": "database", "object_name": db, "select": "true"}]}]})
    policy = {"job_id": job_id, "conflict_policy": "overwrite", "filter_ddl_policy": "drop_database",
              "ddl_trans": True, **(extra_policy or {})}
    http.call("POST", "/v3/{project_id}/jobs/batch-sync-policy", {"jobs": [policy]})
    if full_sync:
        http.call("PUT", f"/v3/{{project_id}}/job/{job_id}/tuning-params/modify-params", {"full_sync": full_sync})
    if configure is not None:
        configure(job_id)
    started = http.call("POST", "/v3/{project_id}/jobs/batch-precheck",
                        {"jobs": [{"job_id": job_id, "precheck_mode": "forStartJob"}]})
    assert started["results"][0]["status"] == "success", started
    deadline = time.monotonic() + 60
    result: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = http.call("POST", "/v3/{project_id}/jobs/batch-precheck-result", {"jobs": [job_id]})["results"][0]
        if result.get("process") == "100%":
            break
        time.sleep(0.3)
    failed = [i for i in result.get("precheck_result", []) if i.get("result") == "FAILED"]
    assert result.get("result") is True, failed or result
    resp = http.call("POST", "/v3/{project_id}/jobs/batch-starting", {"jobs": [{"job_id": job_id}]})
    assert resp["results"][0]["status"] == "success", resp
    return job_id


def detail(http: DrsHttpClient, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
    return result


def progress(http: DrsHttpClient, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = http.call("POST", "/v3/{project_id}/jobs/batch-progress", {"jobs": [job_id]})["results"][0]
    return result


def stop_task(http: DrsHttpClient, job_id: str) -> None:
    http.call("DELETE", "/v3/{project_id}/jobs/batch-jobs", {"jobs": [{"delete_type": "terminate", "job_id": job_id}]})
    wait_status(http, job_id, "RELEASE_RESOURCE_COMPLETE", timeout=60)
