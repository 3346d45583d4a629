"""Task APIs: create, connection tests, modify, stop/delete, passwords, list, detail, status, progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from opendrs.api import render
from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.base import item_error, item_ok
from opendrs.api.wire.jobs import (
    BatchClusterConnectionReq,
    BatchCreateJobReq,
    BatchDeleteJobReq,
    BatchModifyJobReq,
    BatchModifyPwdReq,
    BatchQueryJobReqPage,
    BatchTestConnectionReq,
    JobIdsBody,
    QueryJobsReq,
)
from opendrs.errors import DrsError, InvalidPage
from opendrs.jobs import connections, modify
from opendrs.jobs.service import create_job, delete_job, load, per_item
from opendrs.store.repo import JobFilter, JobRepo

router = APIRouter(tags=["tasks"])


@router.post("/jobs/batch-creation", status_code=202)
def batch_create_jobs(body: BatchCreateJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.1: each task starts CREATING and becomes CONFIGURATION once provisioned."""

    def work(req: Any) -> dict[str, Any]:
        job = create_job(svc, caller.project_id, req.model_dump())
        return {"id": job.id, "name": job.name, "status": job.status.value, "create_time": str(job.create_time),
                "child_ids": []}

    def fail(req: Any, exc: DrsError) -> dict[str, Any]:
        return {"name": req.name, "status": "failed", "error_code": exc.error_code, "error_msg": exc.error_msg}

    results = per_item(body.jobs, work, fail)
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-connection")
def batch_validate_connections(body: BatchTestConnectionReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.2: real connection tests; diagnostics are DRS.KE* codes per item (HTTP 200)."""
    results = connections.test_connections(svc, caller.project_id, [j.model_dump() for j in body.jobs])
    return {"count": len(results), "results": results}


@router.post("/jobs/cluster/batch-connection")
def batch_validate_clusters_connections(
    body: BatchClusterConnectionReq, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.1.3: every endpoint in ``property`` is tested; the item succeeds when all connect."""
    results: list[dict[str, Any]] = []
    for item in body.jobs:
        try:
            endpoints = connections.parse_cluster_property(item.job_id, item.property)
        except DrsError as exc:
            results.append({"id": item.job_id, "status": "false", "success": False,
                            "error_code": exc.error_code, "error_msg": exc.error_msg})
            continue
        outcome = connections.test_connections(svc, caller.project_id, endpoints)
        failed = next((o for o in outcome if not o["success"]), None)
        if failed is None:
            results.append({"id": item.job_id, "status": "true", "success": True})
        else:
            results.append({"id": item.job_id, "status": "false", "success": False,
                            "error_code": failed.get("error_code"), "error_msg": failed.get("error_msg")})
    return {"count": len(results), "results": results}


@router.put("/jobs/batch-modification")
def batch_update_job(body: BatchModifyJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.4: metadata in any live status; endpoints and scenario only while configuring."""
    def work(req: Any) -> dict[str, Any]:
        modify.modify_job(svc, caller.project_id, req.model_dump(exclude_unset=True))
        return item_ok(req.job_id)

    results = per_item(body.jobs, work, lambda req, exc: item_error(req.job_id, exc))
    return {"count": len(results), "results": results}


@router.delete("/jobs/batch-jobs", status_code=202)
def batch_delete_jobs(body: BatchDeleteJobReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.14: terminate/force_terminate stop the task; delete removes a stopped one."""
    def work(req: Any) -> dict[str, Any]:
        delete_job(svc, caller.project_id, req.job_id, req.delete_type)
        return item_ok(req.job_id)

    results = per_item(body.jobs, work, lambda req, exc: item_error(req.job_id, exc))
    return {"count": len(results), "results": results}


@router.put("/jobs/batch-modify-pwd")
def batch_reset_password(body: BatchModifyPwdReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.15: new password for a started task's source (so) or target (ta)."""
    def work(req: Any) -> dict[str, Any]:
        modify.change_password(svc, caller.project_id, req.job_id, req.end_point_type, req.db_password)
        return item_ok(req.job_id, end_point_type=req.end_point_type)

    results = per_item(body.jobs, work,
                       lambda req, exc: {**item_error(req.job_id, exc), "end_point_type": req.end_point_type})
    return {"count": len(results), "results": results}


@router.post("/jobs")
def show_job_list(body: QueryJobsReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.20: filter and paginate the project's tasks (per_page 0 = all)."""
    if body.per_page == 0 and body.cur_page not in (0, 1):
        raise InvalidPage("cur_page must be 0 or 1 when per_page is 0")
    names = [n.strip() for n in (body.name or "").split(",") if n.strip()]
    if len(names) > 100:
        raise InvalidPage("at most 100 names or IDs")
    page = max(body.cur_page, 1)
    f = JobFilter(
        db_use_type=body.db_use_type, engine_type=body.engine_type or None, net_type=body.net_type or None,
        status=body.status or None, name_or_ids=names, enterprise_project_id=body.enterprise_project_id or None,
        instance_ip=body.instance_ip or None,
        offset=0 if body.per_page == 0 else (page - 1) * body.per_page,
        limit=None if body.per_page == 0 else body.per_page,
    )
    with svc.store.session() as s:
        total, jobs = JobRepo(s).list(caller.project_id, f)
    if body.tags:
        wanted = body.tags if isinstance(body.tags, dict) else {t.key: t.value for t in body.tags}
        jobs = [j for j in jobs if _has_tags(j.config.get("tags") or [], wanted)]
        total = len(jobs) if body.per_page == 0 else total
    return {"total_record": total, "jobs": [render.job_info(j) for j in jobs]}


def _has_tags(tags: list[dict[str, Any]], wanted: dict[str, str]) -> bool:
    have = {t.get("key"): t.get("value") for t in tags}
    return all(have.get(k) == v for k, v in wanted.items())


def _for_each(svc: Svc, project_id: str, ids: list[str], fn: Any, id_field: str = "id",
              msg_field: str = "error_msg") -> list[dict[str, Any]]:
    def work(job_id: str) -> dict[str, Any]:
        with svc.store.session() as s:
            result: dict[str, Any] = fn(load(JobRepo(s), project_id, job_id))
            return result

    def fail(job_id: str, exc: DrsError) -> dict[str, Any]:
        return {id_field: job_id, "error_code": exc.error_code, msg_field: exc.error_msg}

    return per_item(ids, work, fail)


@router.post("/jobs/batch-detail")
def batch_list_job_details(body: BatchQueryJobReqPage, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.21: full details; unknown IDs answer per item."""
    results = _for_each(svc, caller.project_id, body.jobs, render.job_detail, msg_field="error_message")
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-status")
def batch_list_job_status(body: BatchQueryJobReqPage, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.22: status only."""
    results = _for_each(svc, caller.project_id, body.jobs,
                        lambda j: {"id": j.id, "status": j.status.value}, msg_field="error_message")
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-progress")
def batch_list_progresses(body: JobIdsBody, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.19: measured progress and lag as the engine last reported them."""
    results = _for_each(svc, caller.project_id, body.jobs, render.progress, id_field="job_id")
    return {"count": len(results), "results": results}


NODE_TYPES = ["micro", "small", "medium", "high", "xlarge", "2xlarge"]


@router.get("/node-type")
def list_available_node_types(
    caller: Caller,
    engine_type: str = Query(min_length=1, max_length=64),
    db_use_type: str = Query(min_length=1, max_length=32),
    job_direction: str = Query(min_length=1, max_length=16),
    is_use_sellout_info: bool | None = Query(default=None),
    is_multi_write: bool | None = Query(default=None),
) -> dict[str, Any]:
    """4.1.23: a self-hosted node has no flavours to sell out; every size maps to worker limits."""
    from opendrs.jobs.capabilities import scenario_for

    scenario_for(db_use_type, engine_type)
    if job_direction not in {"up", "down", "non-dbs"}:
        from opendrs.errors import InvalidParameter

        raise InvalidParameter("job_direction")
    return {"node_types": [{"node_type": n, "is_sellout": False} for n in NODE_TYPES]}
