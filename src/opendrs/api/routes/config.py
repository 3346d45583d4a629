"""Configuration APIs: objects, flow control, definer, data processing, sync policy, DB parameters.

Thin routes: request-only rules run for every item first (bad input is a 400 and nothing is
stored), then each task is configured in its own transaction with per-item results.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.base import item_error, item_ok
from opendrs.api.wire.config import (
    BatchDataTransformationReq,
    BatchLimitSpeedReq,
    BatchQueryParamReq,
    BatchReplaceDefinerReq,
    BatchSetupSyncPolicyReq,
    BatchUpdateDatabaseObjectReq,
    ModifyTargetParamsReq,
)
from opendrs.errors import DrsError
from opendrs.jobs import configure, speed
from opendrs.jobs.service import per_item

router = APIRouter(tags=["configuration"])
JOB_ID_PATTERN = r"^[0-9A-Za-z_-]+$"  # as wire.base.JobId


@router.put("/jobs/batch-select-objects", status_code=202)
def batch_set_objects(body: BatchUpdateDatabaseObjectReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.5: choose the databases/tables (``selected`` false = everything); read back in 4.1.21."""
    reqs = [j.model_dump() for j in body.jobs]
    configure.check_unique_ids([r["job_id"] for r in reqs])
    for r in reqs:
        configure.check_selection(r)

    def work(req: dict[str, Any]) -> dict[str, Any]:
        configure.set_objects(svc, caller.project_id, req)
        return {"job_id": req["job_id"], "status": True}

    def fail(req: dict[str, Any], exc: DrsError) -> dict[str, Any]:
        # DatabaseObjectResp: ``status`` is a Boolean here, unlike the other batch APIs.
        return {"job_id": req["job_id"], "status": False, "error_code": exc.error_code,
                "error_msg": exc.error_msg}

    results = per_item(reqs, work, fail)
    return {"all_counts": len(results), "results": results}


@router.put("/jobs/batch-limit-speed")
def batch_set_speed(body: BatchLimitSpeedReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.8: flow-control windows (``[]`` clears them); allowed while the task runs."""
    configure.check_unique_ids([j.job_id for j in body.speed_limits])
    items = [(j.job_id, speed.normalise([w.model_dump() for w in j.speed_limit])) for j in body.speed_limits]
    results = per_item(
        items,
        lambda it: (configure.set_speed(svc, caller.project_id, it[0], it[1]), item_ok(it[0]))[1],
        lambda it, exc: item_error(it[0], exc),
    )
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-replace-definer")
def batch_set_definer(body: BatchReplaceDefinerReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.16: replace the definer of source objects with the destination user (MySQL)."""
    configure.check_unique_ids([j.job_id for j in body.jobs])
    results = per_item(
        body.jobs,
        lambda j: (configure.set_definer(svc, caller.project_id, j.job_id, j.replace_definer),
                   item_ok(j.job_id))[1],
        lambda j, exc: item_error(j.job_id, exc),
    )
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-transformation")
def batch_change_data(body: BatchDataTransformationReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.3.1: add row-filter (processing) or configuration rules; one rule per table."""
    reqs = [j.model_dump() for j in body.jobs]
    for r in reqs:
        configure.check_transformation(r)
    results = per_item(
        reqs,
        lambda r: (configure.add_transformation(svc, caller.project_id, r), item_ok(r["job_id"]))[1],
        lambda r, exc: item_error(r["job_id"], exc),
    )
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-sync-policy")
def batch_set_policy(body: BatchSetupSyncPolicyReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.3.2: conflict/DDL/index policies and the incremental start position."""
    reqs = [j.model_dump() for j in body.jobs]
    configure.check_unique_ids([r["job_id"] for r in reqs])
    for r in reqs:
        configure.check_policy(r)
    results = per_item(
        reqs,
        lambda r: (configure.set_policy(svc, caller.project_id, r), item_ok(r["job_id"]))[1],
        lambda r, exc: item_error(r["job_id"], exc),
    )
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-get-params", status_code=202)
def batch_show_params(body: BatchQueryParamReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.9: source and destination parameters compared (MySQL migration / DR to the cloud)."""
    configure.check_unique_ids(body.jobs)
    params_list = configure.show_params(svc, caller.project_id, body.jobs, body.refresh)
    return {"count": len(params_list), "params_list": params_list}


@router.post("/jobs/{job_id}/params", status_code=202)
def update_params(body: ModifyTargetParamsReq, svc: Svc, caller: Caller,
                  job_id: str = Path(min_length=1, max_length=64, pattern=JOB_ID_PATTERN)) -> dict[str, Any]:
    """4.1.10: change destination parameters returned by 4.1.9."""
    configure.check_unique_ids([p.key for p in body.params], "key")
    return configure.update_params(svc, caller.project_id, job_id, body.group,
                                   [p.model_dump() for p in body.params])
