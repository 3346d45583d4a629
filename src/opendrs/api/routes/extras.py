"""SDK-only v3 operations (no section in 003; DIGEST §9 last rows), named after the SDK methods.

Alarm notification, the LTS switch and tuning parameters are real settings stored on the task;
zones and quotas describe this node and this project.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.base import JobId, item_error, item_ok
from opendrs.api.wire.extras import (
    BatchImportSmnInfoReq,
    LtsInfo,
    ModifyTuningParamsReq,
    QueryAvailableZoneReq,
)
from opendrs.jobs import extras
from opendrs.jobs.service import per_item

router = APIRouter(tags=["settings"])

JobIdPath = Annotated[JobId, Path()]


@router.post("/jobs/batch-set-smn")
def batch_set_smn(body: BatchImportSmnInfoReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Apply one alarm-notification setting to many tasks (stored as the task's ``alarm_notify``)."""
    alarm = body.alarm_notify_info.model_dump()

    def work(req: Any) -> dict[str, Any]:
        extras.set_alarm_notify(svc, caller.project_id, req.job_id, req.engine_type, alarm)
        return item_ok(req.job_id)

    results = per_item(body.jobs, work, lambda req, exc: item_error(req.job_id, exc))
    return {"count": len(results), "results": results}


@router.post("/available-zone")
def list_available_zone(body: QueryAvailableZoneReq, caller: Caller) -> dict[str, Any]:
    """A self-hosted node is one availability zone, offered for every supported scenario."""
    return {"az_infos": extras.available_zones(body.db_use_type, body.engine_type, body.multi_write)}


@router.get("/jobs/{job_id}/lts-log-switch")
def select_group_and_stream(job_id: JobIdPath, svc: Svc, caller: Caller) -> dict[str, Any]:
    """The task's LTS log group/stream switch as last stored (disabled by default)."""
    return {"job": extras.get_lts(svc, caller.project_id, job_id)}


@router.put("/jobs/{job_id}/lts-log-switch")
def modify_group_and_stream(job_id: JobIdPath, body: LtsInfo, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Store the LTS switch; enabling it needs both a log group and a log stream."""
    extras.set_lts(svc, caller.project_id, job_id, body.job.model_dump())
    return {}


@router.get("/job/{job_id}/tuning-params/query-params")
def query_tuning_params(job_id: JobIdPath, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Every tunable the engines honour, with its current value (override or default) and range."""
    return extras.get_tuning(svc, caller.project_id, job_id)


@router.put("/job/{job_id}/tuning-params/modify-params")
def update_tuning_params(job_id: JobIdPath, body: ModifyTuningParamsReq, svc: Svc, caller: Caller
                         ) -> dict[str, Any]:
    """Override tunables (unknown names or out-of-range values: DRS.M00202); ``recovery`` resets first."""
    return extras.set_tuning(svc, caller.project_id, job_id, body.groups(), bool(body.recovery))


@router.get("/quotas")
def show_quotas(svc: Svc, caller: Caller) -> dict[str, Any]:
    """Tasks in this project against the per-project maximum."""
    return extras.quotas(svc, caller.project_id)
