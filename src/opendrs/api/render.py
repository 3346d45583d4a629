"""Task -> wire dictionaries, in the SDK's field spellings (DIGEST §10a: emit the SDK name)."""

from __future__ import annotations

from typing import Any

from opendrs.jobs.model import Job
from opendrs.jobs.service import public_endpoint
from opendrs.jobs.states import ALL_ACTION_NAMES, JobStatus, available_actions


def job_action(job: Job) -> dict[str, Any]:
    available = available_actions(job.status)
    current = job.runtime.get("current_action")
    return {
        "available_actions": available,
        "unavailable_actions": [a for a in ALL_ACTION_NAMES if a not in available],
        "current_action": current,
    }


def job_info(job: Job) -> dict[str, Any]:
    """4.1.20 JobInfo."""
    out: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "description": job.description,
        "create_time": str(job.create_time),
        "engine_type": job.engine_type,
        "net_type": job.net_type,
        "billing_tag": False,
        "job_direction": job.job_direction,
        "db_use_type": job.db_use_type,
        "task_type": job.task_type,
        "children": [],
        "node_newFramework": True,
        "job_action": job_action(job),
    }
    if job.runtime.get("failed_reason"):
        out["error_msg"] = job.runtime["failed_reason"]
    return out


def job_detail(job: Job) -> dict[str, Any]:
    """4.1.21 QueryJobResp (file 004 variant)."""
    c, r = job.config, job.runtime
    src = public_endpoint(c.get("source_endpoint"))
    return {
        "id": job.id,
        "parent_id": job.parent_id or "",
        "name": job.name,
        "status": job.status.value,
        "description": job.description,
        "create_time": str(job.create_time),
        "update_time": str(job.update_time),
        "task_type": job.task_type,
        "source_endpoint": src,
        "target_endpoint": public_endpoint(c.get("target_endpoint")),
        "net_type": job.net_type,
        "failed_reason": r.get("failed_reason", ""),
        "inst_info": {
            "engine_type": job.engine_type,
            "inst_type": c.get("node_type", "high"),
            "ip": "127.0.0.1",
            "public_ip": "",
            "start_time": str(r.get("actual_start_time", "")),
            "status": "deleted" if job.status is JobStatus.DELETED else "active",
            "volume_size": 0,
        },
        "actual_start_time": str(r.get("actual_start_time", "")),
        "full_transfer_complete_time": str(r.get("full_transfer_complete_time", "")),
        "job_direction": job.job_direction,
        "original_job_direction": c.get("original_job_direction", job.job_direction),
        "job_kernel_direction": job.job_direction,
        "db_use_type": job.db_use_type,
        "need_restart": False,
        "is_target_readonly": bool(c.get("is_target_readonly", False)),
        "conflict_policy": c.get("policy", {}).get("conflict_policy", "overwrite"),
        "filter_ddl_policy": c.get("policy", {}).get("filter_ddl_policy", ""),
        "speed_limit": c.get("speed_limit", []),
        "schema_type": "Replication",
        "node_num": int(c.get("node_num") or 1),
        "object_switch": bool(c.get("object_selection", {}).get("selected", False)),
        "master_job_id": "",
        "full_mode": "",
        "struct_trans": True,
        "index_trans": bool(c.get("policy", {}).get("index_trans", True)),
        "replace_definer": bool(c.get("replace_definer", False)),
        "migrate_user": bool(c.get("user_migration", {}).get("is_migrate_user", False)),
        "sync_database": bool(c.get("object_selection", {}).get("sync_database", False)),
        "error_code": r.get("error_code", ""),
        "error_message": r.get("failed_reason", ""),
        "az_code": (src or {}).get("az_code", ""),
        "vpc_id": (src or {}).get("vpc_id", ""),
        "subnet_id": (src or {}).get("subnet_id", ""),
        "security_group_id": (src or {}).get("security_group_id", ""),
        "multi_write": bool(c.get("multi_write", False)),
        "support_ip_v6": False,
        "inherit_id": "",
        "gtid": str(r.get("gtid", "")),
        "alarm_notify": c.get("alarm_notify", {}),
        "incre_start_position": str(r.get("incre_start_position", "")),
        "is_multi_az": False,
        "node_role": "",
        "object_infos": c.get("object_infos", []),
        "data_transformation": c.get("data_transformation", {"total_count": 0, "filter_conditions": []}),
        "tags": c.get("tags", []),
        "public_ip_list": c.get("public_ip_list", []),
        "bind_public_ip_state": "",
        "children": [],
        "is_open_fast_clean": bool(c.get("is_open_fast_clean", False)),
    }


def progress(job: Job) -> dict[str, Any]:
    """4.1.19 QueryProgressResp: figures the engine measured; "0"/"-1" until it reports."""
    p = job.runtime.get("progress", {})
    return {
        "job_id": job.id,
        "progress": str(p.get("progress", "0")),
        "incre_trans_delay": str(p.get("incre_trans_delay", "-1")),
        "incre_trans_delay_millis": str(p.get("incre_trans_delay_millis", "-1")),
        "task_mode": job.task_type,
        "transfer_status": job.status.value,
        "process_time": str(p.get("process_time", "")),
        "remaining_time": str(p.get("remaining_time", "")),
        "progress_map": p.get("progress_map", {}),
        "apply_rows_rate": int(p.get("apply_rows_rate", 0)),
        "apply_bytes_rate": int(p.get("apply_bytes_rate", 0)),
    }
