"""Lifecycle APIs: pre-check and its result, start, pause, resume/retry (4.1.6, 4.1.7, 4.1.11-4.1.13)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.base import item_error, item_ok
from opendrs.api.wire.lifecycle import (
    BatchPauseJobReq,
    BatchPrecheckReq,
    BatchQueryPrecheckResultReq,
    BatchRetryReq,
    BatchStartJobReq,
)
from opendrs.errors import DrsError
from opendrs.jobs import lifecycle
from opendrs.jobs.configure import check_unique_ids
from opendrs.jobs.service import per_item

router = APIRouter(tags=["lifecycle"])


@router.post("/jobs/batch-precheck")
def batch_check_jobs(body: BatchPrecheckReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.6: starts the engine's pre-check in the background; poll 4.1.7 for the result."""
    check_unique_ids([j.job_id for j in body.jobs])
    results = per_item(
        body.jobs,
        lambda j: (lifecycle.start_precheck(svc, caller.project_id, j.job_id, j.precheck_mode),
                   item_ok(j.job_id, precheck_id=j.job_id))[1],
        lambda j, exc: item_error(j.job_id, exc),
    )
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-precheck-result")
def batch_check_results(body: BatchQueryPrecheckResultReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.7: progress and items of each task's latest pre-check."""
    check_unique_ids(body.jobs)

    def work(job_id: str) -> dict[str, Any]:
        return lifecycle.precheck_result(svc, caller.project_id, job_id)

    def fail(job_id: str, exc: DrsError) -> dict[str, Any]:
        return {"precheck_id": job_id, "result": False, "error_code": exc.error_code,
                "error_msg": exc.error_msg}

    results = per_item(body.jobs, work, fail)
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-starting", status_code=202)
def batch_start_jobs(body: BatchStartJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.11: start now, or at ``start_time`` (epoch ms), once the pre-check has passed."""
    check_unique_ids([j.job_id for j in body.jobs])

    def work(j: Any) -> dict[str, Any]:
        extras = {"is_only_init_task": j.is_only_init_task,
                  "is_auto_create_compare": j.is_auto_create_compare}
        lifecycle.start_job(svc, caller.project_id, j.job_id, j.start_time, extras)
        return item_ok(j.job_id)

    results = per_item(body.jobs, work, lambda j, exc: item_error(j.job_id, exc))
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-retry-task")
def batch_restore_task(body: BatchRetryReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.12: resume a paused task or retry a failed one from the phase that failed."""
    check_unique_ids([j.job_id for j in body.jobs])
    def work(j: Any) -> dict[str, Any]:
        lifecycle.resume_job(svc, caller.project_id, j.job_id, j.is_sync_re_edit)
        return item_ok(j.job_id)

    results = per_item(body.jobs, work, lambda j, exc: item_error(j.job_id, exc))
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-pause-task")
def batch_stop_jobs(body: BatchPauseJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.13: pause a running task; its worker stops at the next batch boundary."""
    check_unique_ids([j.job_id for j in body.jobs])
    results = per_item(
        body.jobs,
        lambda j: (lifecycle.pause_job(svc, caller.project_id, j.job_id, j.pause_mode), item_ok(j.job_id))[1],
        lambda j, exc: item_error(j.job_id, exc),
    )
    return {"count": len(results), "results": results}
