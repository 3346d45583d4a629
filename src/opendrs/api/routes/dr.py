"""Disaster-recovery APIs (003 §4.4.1–§4.4.5), named after the SDK methods.

Batch calls answer per item: an unknown task (DRS.M00298), a task that is not a DR task
(DRS.M00300), a wrong status (DRS.M00304) or missing engine figures fail that item only. Each
API keeps its documented message field: ``error_msg`` in 4.4.1/4.4.2/4.4.3, ``error_message``
in 4.4.4/4.4.5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.dr import BatchQueryJobReqPage, BatchSwitchoverReq, DrJobsReq, StructType
from opendrs.errors import DrsError
from opendrs.jobs import extras
from opendrs.jobs.service import per_item

router = APIRouter(tags=["disaster recovery"])


def _batch(ids: list[str], work: Callable[[str], dict[str, Any]], id_field: str = "job_id",
           msg_field: str = "error_msg") -> dict[str, Any]:
    def fail(job_id: str, exc: DrsError) -> dict[str, Any]:
        return {id_field: job_id, "error_code": exc.error_code, msg_field: exc.error_msg}

    results = per_item(ids, work, fail)
    return {"count": len(results), "results": results}


@router.post("/jobs/batch-switchover", status_code=202)
def batch_switchover(body: BatchSwitchoverReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.4.1: swap primary and standby of DR tasks in progress or failed."""
    pause = body.is_pause_job
    return _batch(body.jobs, lambda job_id: extras.switchover(svc, caller.project_id, job_id, pause))


@router.post("/jobs/batch-rpo-and-rto", status_code=202)
def batch_list_rpos_and_rtos(body: DrJobsReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.4.2: RPO (source -> node) and RTO (node -> DR database) as the engine measured them."""
    return _batch(body.jobs, lambda job_id: extras.rpo_rto(svc, caller.project_id, job_id))


@router.post("/jobs/disaster-recovery-monitoring-data")
def show_monitoring_data(body: DrJobsReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.4.3: DR monitoring figures (``data_guard_minitor``, the SDK's spelling)."""
    return _batch(body.jobs, lambda job_id: extras.monitoring(svc, caller.project_id, job_id), id_field="id")


@router.post("/jobs/batch-struct-process")
def batch_list_struct_process(body: DrJobsReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.4.4: DR initialisation progress per object type."""
    return _batch(body.jobs, lambda job_id: extras.struct_process(svc, caller.project_id, job_id),
                  msg_field="error_message")


@router.post("/jobs/{type}/batch-struct-detail")
def batch_list_struct_detail(
    type: Annotated[StructType, Path()], body: BatchQueryJobReqPage, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.4.5: initialised objects of one type, paginated by ``page_req``."""
    page = body.page_req
    cur_page, per_page = (page.cur_page, page.per_page) if page is not None else (1, 5)

    def work(job_id: str) -> dict[str, Any]:
        return extras.struct_detail(svc, caller.project_id, job_id, type, cur_page, per_page)

    return _batch(body.jobs, work, msg_field="error_message")
