"""Task -> v5 wire dictionaries (SDK v5 ``JobListResp``, ``JobDetailResp``, ``AsyncJobResp``).

v5 writes times as ISO-8601 UTC (``2022-11-07T16:15:18Z``, files 001/002), ports as strings,
and each side of a task as a list of ``JobEndpointInfo``. Passwords never leave: a set one is
shown as the mask, like the v3 read-back. Absent values are left out rather than invented.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opendrs.api.render import job_action
from opendrs.jobs.async_batch import AsyncBatch
from opendrs.jobs.model import Job, JobEvent
from opendrs.jobs.service import MASK, public_endpoint
from opendrs.jobs.states import FAILED, JobStatus

_BAD_STATUSES = {s.value for s in FAILED} | {
    JobStatus.CREATE_FAILED.value, JobStatus.RELEASE_RESOURCE_FAILED.value,
    JobStatus.CHANGE_JOB_FAILED.value, JobStatus.CHILD_TRANSFER_FAILED.value,
    JobStatus.REBUILD_NODE_FAILED.value, JobStatus.NODE_UPGRADE_FAILED.value,
}


def iso(ms: int | str | None) -> str | None:
    if ms in (None, ""):
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --- list --------------------------------------------------------------------------------------


def job_list_item(job: Job) -> dict[str, Any]:
    """JobListResp of GET /v5/{project_id}/jobs."""
    return _compact({
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "description": job.description,
        "create_time": iso(job.create_time),
        "engine_type": job.engine_type,
        "net_type": job.net_type,
        "charging_mode": job.config.get("charging_mode", "on_demand"),
        "billing_tag": False,
        "job_direction": job.job_direction,
        "job_type": job.db_use_type,
        "task_type": job.task_type,
        "enterprise_project_id": job.enterprise_project_id,
        "job_mode": "single",
        "is_multi_az": False,
        "node_new_framework": True,
        "job_action": job_action(job),
        "children": [],
    })


def async_job(batch: AsyncBatch) -> dict[str, Any]:
    """AsyncJobResp of GET /v5/{project_id}/batch-async-jobs."""
    return {"async_job_id": batch.id, "status": batch.status, "domain_name": batch.domain_name,
            "user_name": batch.user_name, "create_time": iso(batch.create_time)}


# --- detail ------------------------------------------------------------------------------------


def base_info(job: Job) -> dict[str, Any]:
    c = job.config
    return _compact({
        "name": job.name,
        "job_type": job.db_use_type,
        "multi_write": bool(c.get("multi_write", False)),
        "engine_type": job.engine_type,
        "job_direction": job.job_direction,
        "task_type": job.task_type,
        "net_type": job.net_type,
        "charging_mode": c.get("charging_mode", "on_demand"),
        "enterprise_project_id": job.enterprise_project_id,
        "description": job.description,
        "start_time": str(c.get("start_time") or c.get("scheduled_start_time") or "") or None,
        "expired_days": str(c.get("expired_days", "14")),
        "tags": [{"key": t.get("key"), "value": t.get("value", "")} for t in c.get("tags") or []],
        "is_open_fast_clean": bool(c.get("is_open_fast_clean", False)),
    })


def endpoint_info(stored: dict[str, Any] | None, role: str, job: Job) -> list[dict[str, Any]]:
    """The stored flat endpoint as a one-element list of JobEndpointInfo."""
    ep = public_endpoint(stored)
    if not ep:
        return []
    db_type = str(ep.get("db_type", ""))
    kind = ep.get("endpoint_type") or ("cloud" if ep.get("inst_id") else "offline")
    name = ep.get("endpoint_name") or (db_type if kind == "offline" else f"{kind}_{db_type}")
    out: dict[str, Any] = {
        "db_type": db_type,
        "endpoint_type": kind,
        "endpoint_role": role,
        "endpoint": _compact({
            "id": ep.get("endpoint_id"),
            "endpoint_name": name,
            "ip": ep.get("ip"),
            "db_port": str(ep["db_port"]) if ep.get("db_port") is not None else None,
            "db_user": ep.get("db_user"),
            "db_password": ep.get("db_password"),
            "instance_id": ep.get("inst_id"),
            "instance_name": ep.get("inst_name"),
            "db_name": ep.get("db_name"),
        }),
    }
    cloud = _compact({k: ep.get(k) for k in ("region", "project_id", "az_code")})
    vpc = _compact({k: ep.get(k) for k in ("vpc_id", "subnet_id", "security_group_id")})
    ssl = _compact({k: ep.get(k) for k in ("ssl_link", "ssl_cert_name", "ssl_cert_key", "ssl_cert_check_sum",
                                           "ssl_cert_password")})
    config = _compact({
        "is_target_readonly": job.config.get("is_target_readonly") if role == "ta" else None,
        "node_num": job.config.get("node_num") if role == "so" else None,
    })
    for key, value in (("cloud", cloud), ("vpc", vpc), ("config", config), ("ssl", ssl),
                       ("customized_dns", ep.get("customized_dns"))):
        if value:
            out[key] = value
    return [out]


def _alarm(c: dict[str, Any]) -> dict[str, Any] | None:
    a = c.get("alarm_notify")
    if not a:
        return None
    keys = ("alarm_to_user", "topic_urn", "delay_time", "rpo_delay", "rto_delay")
    return _compact({k: a.get(k) for k in keys})


def _speed(c: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"begin": s.get("begin"), "end": s.get("end"), "speed": str(s.get("speed"))}
            for s in c.get("speed_limit") or []]


def _users(c: dict[str, Any]) -> dict[str, Any] | None:
    u = c.get("user_migration")
    if not u:
        return None
    out = _compact({"is_migrate_user": u.get("is_migrate_user"), "is_set_password": u.get("is_set_password"),
                    "password": MASK if u.get("password_sealed") else None})
    if "user_list" in u:
        out["user_list"] = [_compact({"id": x.get("id"), "account": x.get("account"),
                                      "is_set_password": x.get("is_set_password"),
                                      "password": MASK if x.get("password_sealed") else None})
                            for x in u.get("user_list") or []]
    if "role_list" in u:
        out["role_list"] = [{"role": r.get("role")} for r in u.get("role_list") or []]
    return out


_POLICY_KEYS = ("filter_ddl_policy", "conflict_policy", "index_trans", "ddl_trans", "data_sync_topology_type",
                "support_ddl_info", "sync_type_policy", "increment_read_mode", "dml_types",
                "is_create_table_with_index")


def _node(job: Job) -> dict[str, Any]:
    c = job.config
    base = dict(c.get("node_base_info") or {})
    base["status"] = job.status.value
    out: dict[str, Any] = {"spec": {"node_type": c.get("node_type", "high")}, "base_info": base}
    if c.get("node_vpc"):
        out["vpc"] = c["node_vpc"]
    return out


def logs(events: list[JobEvent], level: str | None = None) -> list[dict[str, Any]]:
    """The task's state-machine events as TaskLogInfo, newest first."""
    out = []
    for e in reversed(events):
        lvl = "Error" if e.to_status in _BAD_STATUSES else "Info"
        if level and lvl != level:
            continue
        moved = f"{e.from_status} -> {e.to_status}" if e.from_status else e.to_status
        out.append({"level": lvl, "message": f"{e.action}: {moved}" + (f" ({e.reason})" if e.reason else ""),
                    "create_time": iso(e.at)})
    return out


def _network(job: Job) -> list[dict[str, Any]]:
    out = []
    for side, test in (job.runtime.get("connection_tests") or {}).items():
        ep = job.config.get(side) or {}
        out.append(_compact({"ip": ep.get("ip"), "success": bool(test.get("ok")),
                             "status": "success" if test.get("ok") else "failed",
                             "result": test.get("server_version"), "error_code": test.get("error_code")}))
    return out


def _precheck(job: Job) -> dict[str, Any] | None:
    """Pre-check outcome as the v3 precheck APIs keep it in ``runtime["precheck"]``."""
    p = job.runtime.get("precheck")
    if not isinstance(p, dict):
        return None
    items = p.get("precheck_results") or p.get("precheck_result") or []
    return _compact({
        "result": p.get("result"),
        "process": p.get("process"),
        "total_passed_rate": p.get("total_passed_rate"),
        "rds_instance_id": p.get("rds_instance_id"),
        "job_direction": p.get("job_direction", job.job_direction),
        "precheck_results": items if isinstance(items, list) else None,
    })


def progress_info(job: Job) -> dict[str, Any]:
    """JobProgressInfo: the figures the engine last reported (as 4.1.19 shows them)."""
    p = job.runtime.get("progress", {})
    return _compact({
        "progress": str(p.get("progress", "0")),
        "incr_trans_delay": str(p.get("incre_trans_delay", "-1")),
        "incr_trans_delay_millis": str(p.get("incre_trans_delay_millis", "-1")),
        "task_mode": job.task_type,
        "transfer_status": job.status.value,
        "process_time": str(p["process_time"]) if p.get("process_time") else None,
        "remaining_time": str(p["remaining_time"]) if p.get("remaining_time") else None,
        "progress_map": p.get("progress_map") or None,
    })


def job_detail(job: Job, events: list[JobEvent], log_level: str | None = None) -> dict[str, Any]:
    """JobDetailResp (file 002 / SDK): everything configured plus what the engine reported."""
    c = job.config
    out: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "create_time": iso(job.create_time),
        "base_info": base_info(job),
        "source_endpoint": endpoint_info(c.get("source_endpoint"), "so", job),
        "target_endpoint": endpoint_info(c.get("target_endpoint"), "ta", job),
        "alarm_notify": _alarm(c),
        "speed_limit": _speed(c),
        "user_migration": _users(c),
        "policy_config": _compact({k: c.get("policy", {}).get(k) for k in _POLICY_KEYS}),
        "db_param": c.get("db_param"),
        "tuning_params": c.get("tuning_params"),
        "period_order": c.get("period_order"),
        "node_info": _node(job),
        "logs": logs(events, log_level),
        "network_results": _network(job),
        "precheck_result": _precheck(job),
        "progress_info": progress_info(job),
        "public_ip_list": c.get("public_ip_list") or None,
        "children": [],
    }
    return _compact(out)


def failed_entry(failure: dict[str, Any], create_time: int) -> dict[str, Any]:
    """A task of an async batch that was rejected: its requested base info and the reason."""
    base = dict(failure.get("base_info") or {})
    return {
        "status": JobStatus.CREATE_FAILED.value,
        "create_time": iso(create_time),
        "base_info": base,
        "logs": [{"level": "Error", "message": f"{failure.get('error_code')}: {failure.get('error_msg')}",
                  "create_time": iso(create_time)}],
    }
