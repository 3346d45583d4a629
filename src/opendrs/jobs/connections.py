"""Connection tests (4.1.2 / 4.1.3): really connect to the endpoint and remember the outcome."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from opendrs.errors import InvalidParameter, InvalidStatus, TaskBusy
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.model import now_ms
from opendrs.jobs.service import DEFAULT_PORTS, endpoint_secret, load, merge_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.store.repo import JobRepo

if TYPE_CHECKING:
    from opendrs.engines.base import CheckResult, EndpointConfig

SIDES = {"so": "source_endpoint", "ta": "target_endpoint"}


def endpoint_config(svc: Services, stored: dict[str, Any]) -> EndpointConfig:
    """Engine-side connection settings of a stored endpoint (password unsealed here only)."""
    from opendrs.engines.base import EndpointConfig

    db_type = str(stored.get("db_type", ""))
    return EndpointConfig(
        db_type=db_type,
        host=str(stored.get("ip") or ""),
        port=int(stored.get("db_port") or DEFAULT_PORTS.get(db_type, 0)),
        user=str(stored.get("db_user") or ""),
        password=endpoint_secret(svc, stored) or "",
        db_name=stored.get("db_name") or None,
        ssl_link=bool(stored.get("ssl_link")),
        ssl_ca_pem=stored.get("ssl_cert_key") or None,
    )


def _validate_item(svc: Services, project_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """Checks before connecting: task exists, is configuring, and the DB type fits its scenario."""
    with svc.store.session() as s:
        job = load(JobRepo(s), project_id, item["id"])
    if job.status is not JobStatus.CONFIGURATION:
        raise InvalidStatus(detail=f"connection tests need CONFIGURATION, task is {job.status.value}")
    scenario = scenario_for(job.db_use_type, job.engine_type)
    side = SIDES[item["end_point_type"]]
    expected = scenario.source_db_type if side == "source_endpoint" else scenario.target_db_type
    if item["db_type"] != expected:
        raise InvalidParameter("db_type", detail=f"{job.engine_type} {side} must be {expected}")
    stored = dict(job.config.get(side) or {})
    return merge_endpoint(svc, stored, {k: item.get(k) for k in (
        "db_type", "ip", "db_port", "db_user", "db_password", "db_name", "ssl_link", "ssl_cert_key",
        "ssl_cert_name", "ssl_cert_check_sum", "ssl_cert_password", "inst_id", "region", "project_id",
        "vpc_id", "subnet_id")})


def _record(svc: Services, project_id: str, job_id: str, side: str, endpoint: dict[str, Any],
            result: CheckResult) -> None:
    """Store the outcome; both sides of one task may finish at once, so retry a lost version race."""
    for attempt in range(10):
        try:
            _record_once(svc, project_id, job_id, side, endpoint, result)
            return
        except TaskBusy:
            if attempt == 9:
                raise
            time.sleep(0.02 * (attempt + 1))


def _record_once(svc: Services, project_id: str, job_id: str, side: str, endpoint: dict[str, Any],
                 result: CheckResult) -> None:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        tests = dict(job.runtime.get("connection_tests", {}))
        tests[side] = {"ok": result.ok, "at": now_ms(), "error_code": result.error_code,
                       "server_version": result.server_version}
        job.runtime["connection_tests"] = tests
        if result.ok:
            # A tested endpoint becomes the task's endpoint (what 4.1.4 would save next).
            job.config[side] = endpoint
        repo.save(job)


def test_connections(svc: Services, project_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run every test in parallel (each bounded by the engine's connect timeout)."""
    from opendrs.errors import DrsError

    def one(item: dict[str, Any]) -> dict[str, Any]:
        try:
            endpoint = _validate_item(svc, project_id, item)
        except DrsError as exc:
            return {"id": item["id"], "status": "failed", "success": False, "error_code": exc.error_code,
                    "error_msg": exc.error_msg}
        from opendrs.engines.connect import check_endpoint

        result = check_endpoint(endpoint_config(svc, endpoint))
        _record(svc, project_id, item["id"], SIDES[item["end_point_type"]], endpoint, result)
        if result.ok:
            return {"id": item["id"], "status": "success", "success": True}
        return {"id": item["id"], "status": "failed", "success": False, "error_code": result.error_code,
                "error_msg": result.error_msg}

    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(one, items))


_CLUSTER_KEYS = {
    "dbtype": "db_type", "dbport": "db_port", "ssllink": "ssl_link", "nettype": "net_type",
    "endpointtype": "end_point_type", "ip": "ip", "dbName": "db_name", "instid": "inst_id",
    "dbuser": "db_user", "dbpassword": "db_password", "sslcertkey": "ssl_cert_key",
    "sslcertname": "ssl_cert_name", "sslcertchecksum": "ssl_cert_check_sum",
}


def parse_cluster_property(job_id: str, raw: str) -> list[dict[str, Any]]:
    """4.1.3 ``property``: an escaped JSON list of endpoints with compact key names."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter("property", detail="property is not valid JSON") from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParameter("property", detail="property must be a JSON list of endpoint objects")
    out = []
    for entry in value:
        item = {_CLUSTER_KEYS[k]: v for k, v in entry.items() if k in _CLUSTER_KEYS}
        item["id"] = job_id
        if item.get("end_point_type") not in SIDES:
            raise InvalidParameter("endpointtype", detail="endpointtype must be so or ta (ls: not supported)")
        if not item.get("db_type") or not item.get("ip"):
            raise InvalidParameter("property", detail="dbtype and ip are mandatory")
        out.append(item)
    return out
