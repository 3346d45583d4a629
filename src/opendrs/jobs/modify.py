"""Changing a task: 4.1.4 modification and 4.1.15 password change."""

from __future__ import annotations

from typing import Any

from opendrs.errors import InvalidParameter, InvalidStatus, NameExists
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.service import _check_tags, load, merge_endpoint
from opendrs.jobs.states import EDITABLE_METADATA, PASSWORD_CHANGE_ALLOWED, JobStatus
from opendrs.store.repo import JobRepo

# Fields that are plain metadata and may change while the task runs (DIGEST §10c #45).
METADATA = {"name", "description", "alarm_notify", "tags"}
SCENARIO = {"task_type", "engine_type", "net_type", "job_direction", "db_use_type"}
CONFIG_ONLY = {"node_type", "store_db_info", "is_recreate", "is_target_readonly", "replace_definer"}


def modify_job(svc: Services, project_id: str, req: dict[str, Any]) -> None:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, req["job_id"])
        changes = {k: v for k, v in req.items() if k != "job_id"}
        structural = set(changes) - METADATA
        if job.status not in EDITABLE_METADATA:
            raise InvalidStatus(detail=f"task is {job.status.value}")
        if structural and job.status is not JobStatus.CONFIGURATION:
            raise InvalidStatus(detail=f"{sorted(structural)} can only change while configuring")
        if "name" in changes and changes["name"] != job.name:
            if repo.name_taken(project_id, changes["name"], except_id=job.id):
                raise NameExists()
            job.name = changes["name"]
        if "description" in changes:
            job.description = changes["description"] or ""
        if "tags" in changes:
            _check_tags(changes["tags"])
            job.config["tags"] = changes["tags"]
        if "alarm_notify" in changes:
            job.config["alarm_notify"] = {k: v for k, v in changes["alarm_notify"].items() if v is not None}
        new_scenario = {k: changes.get(k) or getattr(job, k) for k in SCENARIO}
        if any(k in changes for k in SCENARIO):
            scenario = scenario_for(new_scenario["db_use_type"], new_scenario["engine_type"])
            if new_scenario["task_type"] not in scenario.task_types:
                raise InvalidParameter("task_type")
            if new_scenario["net_type"] not in scenario.net_types:
                raise InvalidParameter("net_type")
            for k, v in new_scenario.items():
                setattr(job, k, v)
        for side in ("source_endpoint", "target_endpoint"):
            if changes.get(side):
                scenario = scenario_for(job.db_use_type, job.engine_type)
                expected = scenario.source_db_type if side == "source_endpoint" else scenario.target_db_type
                if changes[side].get("db_type") != expected:
                    raise InvalidParameter(f"{side}.db_type")
                job.config[side] = merge_endpoint(svc, job.config.get(side), changes[side])
        for key in CONFIG_ONLY:
            if key in changes and changes[key] is not None:
                job.config[key] = changes[key]
        repo.save(job)
        repo.add_event(job.id, job.status.value, job.status.value, "modify",
                       "modified: " + ", ".join(sorted(changes)))


def change_password(svc: Services, project_id: str, job_id: str, end_point_type: str, password: str) -> None:
    """The worker picks the new password up when it next (re)connects."""
    side = "source_endpoint" if end_point_type == "so" else "target_endpoint"
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        if job.status not in PASSWORD_CHANGE_ALLOWED:
            raise InvalidStatus(detail=f"password change not allowed in {job.status.value}")
        job.config[side] = merge_endpoint(svc, job.config.get(side), {"db_password": password})
        repo.save(job)
        repo.add_event(job.id, job.status.value, job.status.value, "modify_password", f"{end_point_type} password")
