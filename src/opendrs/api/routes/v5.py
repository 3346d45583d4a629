"""v5 APIs: task list (file 001), asynchronous batch creation and its read-back (file 002).

Thin routes: query/body validation in ``api/wire/v5.py``, use cases in ``jobs/async_batch.py``,
rendering in ``api/render_v5.py``. Errors are the spec's DrsError codes (the same catalogue as
v3); only "task not found" has a v5-specific code (DRS.10000010).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from opendrs.api import render_v5
from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.v5 import (
    BatchAsyncCreateJobReq,
    ListAsyncJobsQuery,
    ListJobsQuery,
    PageQuery,
    ShowJobDetailQuery,
)
from opendrs.errors import InvalidParameter, NotAvailableYet
from opendrs.jobs import async_batch
from opendrs.store.repo import JobFilter

router = APIRouter(tags=["v5"])

# ``type`` values of show_job_detail that OpenDRS answers (the whole JobDetailResp, whose
# progress and logs parts are what "progress" and "log" ask for).
DETAIL_TYPES = {"overview", "detail", "progress", "log"}


@router.get("/jobs")
def list_jobs(query: Annotated[ListJobsQuery, Query()], svc: Svc, caller: Caller) -> dict[str, Any]:
    """File 001: filter, sort and page the project's tasks of one scenario."""
    names = query.names()
    if len(names) > 10:
        raise InvalidParameter("name", detail="at most 10 task IDs")
    sort_key = query.sort_key or "create_time"
    f = JobFilter(
        db_use_type=query.job_type, engine_type=query.engine_type or None, net_type=query.net_type or None,
        status=query.status or None, name_or_ids=names,
        enterprise_project_id=query.enterprise_project_id or None, instance_ip=query.instance_ip or None,
        sort_key=sort_key, descending=(query.sort_dir or "desc") == "desc",
        offset=query.offset, limit=query.limit,
    )
    total, jobs = async_batch.list_jobs(svc, caller.project_id, f, query.instance_ids or (),
                                        sort_by_pay_mode=sort_key == "pay_mode")
    return {"total_count": total, "jobs": [render_v5.job_list_item(j) for j in jobs]}


@router.post("/jobs/batch-async-create", status_code=202)
def batch_create_jobs_async(body: BatchAsyncCreateJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Create every task of the batch (per-task errors kept); answer the batch id to poll."""
    submitter = async_batch.caller_identity(svc, caller.project_id, caller.name, caller.method)
    specs = [j.model_dump(exclude_none=True) for j in body.jobs]
    async_id = async_batch.create_batch(svc, submitter, specs)
    return {"job": {"async_job_id": async_id}}


@router.get("/batch-async-jobs")
def list_async_jobs(
    query: Annotated[ListAsyncJobsQuery, Query()], svc: Svc, caller: Caller
) -> dict[str, Any]:
    """The project's async batches, newest first by default."""
    batches = async_batch.list_batches(
        svc, caller.project_id, async_job_id=query.async_job_id or None, status=query.status or None,
        domain_name=query.domain_name or None, user_name=query.user_name or None,
        ascending=query.sort_dir == "asc",
    )
    page = batches[query.offset : query.offset + query.limit]
    return {"total_count": len(batches), "jobs": [render_v5.async_job(b) for b in page]}


@router.get("/batch-async-jobs/{async_job_id}")
def list_async_job_detail(
    async_job_id: str, query: Annotated[PageQuery, Query()], svc: Svc, caller: Caller
) -> dict[str, Any]:
    """File 002: details of the batch's tasks by create_time desc; rejected ones as CREATE_FAILED."""
    entries = async_batch.batch_entries(svc, caller.project_id, async_job_id)
    page = entries[query.offset : query.offset + query.limit]
    jobs = [render_v5.job_detail(e.job, e.events) if e.job is not None
            else render_v5.failed_entry(e.failure or {}, e.create_time) for e in page]
    return {"total_count": len(entries), "jobs": jobs}


@router.get("/jobs/{job_id}")
def show_job_detail(
    job_id: str, query: Annotated[ShowJobDetailQuery, Query()], svc: Svc, caller: Caller
) -> dict[str, Any]:
    """One task as JobDetailResp; ``type=log`` pages the logs with offset/limit."""
    if query.type not in DETAIL_TYPES:
        raise NotAvailableYet(f"type {query.type} is not available through the v5 API yet",
                              detail=f"supported: {sorted(DETAIL_TYPES)}")
    job, events = async_batch.job_with_events(svc, caller.project_id, job_id)
    detail = render_v5.job_detail(job, events, query.log_level or None)
    if query.type == "log":
        detail["logs"] = detail.get("logs", [])[query.offset : query.offset + query.limit]
    return {"job": detail}
