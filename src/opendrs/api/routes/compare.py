"""Comparison APIs (003 §4.1.17, §4.1.18, §4.1.24–§4.1.37), named after the SDK methods.

Every route validates its path, query and body in full and checks the task; the work is
``opendrs.jobs.compare`` (runs) and ``jobs.compare_queries`` / ``jobs.compare_report`` (answers). Tasks no
comparison engine handles (neither MySQL nor PostgreSQL on both sides) answer ``NotAvailableYet``
(HTTP 400, DRS.M00300). Unknown tasks are DRS.M00298 except in §4.1.32–§4.1.37, whose pages
document DRS.10000010; unknown comparison IDs are DRS.M00289.

Beyond the spec: ``POST /jobs/{job_id}/compare/{compare_job_id}/repair`` (docs/comparison.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response
from pydantic import AfterValidator

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.base import JobId
from opendrs.api.wire.compare import (
    LINE_STATUS_CODES,
    CompareJobId,
    CreateCompareTaskReq,
    CreateDataLevelTableCompareJobReq,
    CreateObjectCompareJobReq,
    DetailType,
    DownloadCompareResultReq,
    DownloadCompareType,
    ExportCompareResultReq,
    ObjectCompareType,
    QueryCompareResultReq,
    RepairReq,
    resolve_download,
)
from opendrs.errors import DrsError, JobNotFound, NotAvailableYet, TaskNotFoundV5
from opendrs.jobs import compare_queries as q
from opendrs.jobs import compare_report as report
from opendrs.jobs.compare import repair_run, require_comparable
from opendrs.jobs.context import Services
from opendrs.jobs.extras import CREATE_COMPARE_ALLOWED, check_compare
from opendrs.jobs.model import Job

router = APIRouter(tags=["comparison"])

DATA = "data comparison"
OBJECTS = "object comparison"
REPORT = "comparison report"


def _line_status(value: int | None) -> int | None:
    if value is not None and value not in LINE_STATUS_CODES:
        raise ValueError(f"status must be one of {sorted(LINE_STATUS_CODES)}")
    return value


JobIdPath = Annotated[JobId, Path()]
CompareJobIdPath = Annotated[CompareJobId, Path()]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
LineStatus = Annotated[int | None, Query(), AfterValidator(_line_status)]
Text = Annotated[str | None, Query(max_length=256)]


def _job(svc: Services, project_id: str, job_id: str, what: str, *, not_found: type[DrsError] = JobNotFound,
         **checks: Any) -> Job:
    """The checked task (see ``check_compare``), which a comparison engine must be able to handle."""
    job = check_compare(svc, project_id, job_id, what, not_found=not_found, **checks)
    require_comparable(job, what)
    return job


@router.post("/jobs/create-compare-task")
def create_compare_task(body: CreateCompareTaskReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.17: creating needs INCRE_TRANSFER_STARTED; both parts empty only queries the list."""
    allowed = None if body.query_only else CREATE_COMPARE_ALLOWED
    job = _job(svc, caller.project_id, body.job_id, DATA, allowed=allowed, cassandra_only=_token_fields(body))
    info = body.data_level_compare_info
    data = info.model_dump() if info is not None else None
    if data is not None:
        data["compare_object_infos"] = data.get("compare_object_infos") or None
    return q.create_compare_task(svc, job, body.object_level_compare_type == "objects", data)


def _token_fields(body: CreateCompareTaskReq) -> tuple[str, ...]:
    info = body.data_level_compare_info
    return ("compare_object_infos_with_token",) if info and info.compare_object_infos_with_token else ()


@router.post("/jobs/query-compare-result")
def list_compare_result(body: QueryCompareResultReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.18: results of the comparisons 4.1.17 created, paginated."""
    job = _job(svc, caller.project_id, body.job_id, DATA)
    return q.list_compare_results(svc, job, body.object_level_compare_id, body.line_compare_id,
                                  body.content_compare_id, body.current_page, body.per_page)


@router.get("/jobs/{job_id}/table/compare")
def list_data_level_table_compare_jobs(
    job_id: JobIdPath, svc: Svc, caller: Caller, limit: Limit = 1000, offset: Offset = 0
) -> dict[str, Any]:
    """4.1.24: data-level comparison jobs of a task."""
    return q.list_table_compares(svc, _job(svc, caller.project_id, job_id, DATA), offset, limit)


@router.post("/jobs/{job_id}/table/compare", status_code=202)
def create_data_level_table_compare_job(
    job_id: JobIdPath, body: CreateDataLevelTableCompareJobReq, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.1.25: row, value or sampling comparison of selected tables."""
    cassandra = tuple(n for n in ("compare_task_num", "compare_object_with_token") if getattr(body, n))
    job = _job(svc, caller.project_id, job_id, DATA, cassandra_only=cassandra, sampling=body.type == "random")
    if body.compare_transformation_infos:
        # The task's own row filters apply already; per-comparison filters are not supported.
        raise NotAvailableYet("per-comparison compare_transformation_infos are not available yet",
                              hint="The task's own row filters (4.3.1) are applied to every comparison.")
    objects = [o.model_dump() for o in body.compare_object or []] or None
    return q.create_table_compare(svc, job, body.type, objects, body.options, body.start_time)


@router.delete("/jobs/{job_id}/compare/{compare_job_id}")
def delete_compare_job(job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller
                       ) -> dict[str, Any]:
    """4.1.26: cancel a comparison job."""
    from opendrs.jobs.compare import cancel_run

    cancel_run(svc, _job(svc, caller.project_id, job_id, DATA), compare_job_id)
    return {}


@router.post("/jobs/{job_id}/table/compare/{compare_job_id}")
def start_promptly_data_level_table_compare_job(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.1.27: start a scheduled data-level comparison now."""
    from opendrs.jobs.compare import start_now

    start_now(svc, _job(svc, caller.project_id, job_id, DATA), compare_job_id)
    return {}


@router.get("/jobs/{job_id}/compare/{compare_job_id}/line-overview")
def list_data_compare_overview(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    status: LineStatus = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.28: row comparison per database."""
    job = _job(svc, caller.project_id, job_id, DATA)
    return q.line_overview(svc, job, compare_job_id, status, offset, limit)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/line-detail")
def list_data_compare_detail(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    status: LineStatus = None, type: Annotated[DetailType | None, Query()] = None,
    db_name: Text = None, target_db_name: Text = None, query_tb_name: Text = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.29: row comparison per table."""
    job = _job(svc, caller.project_id, job_id, DATA)
    return q.line_detail(svc, job, compare_job_id, status, type, db_name, target_db_name, query_tb_name,
                         offset, limit)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-overview")
def list_content_compare_overview(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.30: value comparison per database."""
    job = _job(svc, caller.project_id, job_id, DATA)
    return q.content_overview(svc, job, compare_job_id, offset, limit)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-detail")
def list_content_compare_detail(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    target_db_name: Text = None, db_name: Text = None,
    type: Annotated[DetailType | None, Query()] = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.31: value comparison per table."""
    job = _job(svc, caller.project_id, job_id, DATA)
    return q.content_detail(svc, job, compare_job_id, db_name, target_db_name, type, offset, limit)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-difference")
def list_content_compare_difference(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    table_name: Text = None, db_name: Text = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.32: the differing rows of a value comparison."""
    job = _job(svc, caller.project_id, job_id, DATA, not_found=TaskNotFoundV5)
    return q.content_difference(svc, job, compare_job_id, table_name, db_name, offset, limit)


@router.post("/jobs/{job_id}/object/compare", status_code=202)
def create_object_level_compare_job(
    job_id: JobIdPath, svc: Svc, caller: Caller,
    body: Annotated[CreateObjectCompareJobReq | None, Body()] = None,
) -> dict[str, Any]:
    """4.1.33: object-level comparison (``compare_task_num`` is for Cassandra DR only); 4.1.34 shows it."""
    cassandra = ("compare_task_num",) if body is not None and body.compare_task_num is not None else ()
    job = _job(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5, cassandra_only=cassandra)
    q.create_object_compare(svc, job)
    return {}


@router.get("/jobs/{job_id}/object/compare")
def list_obeject_level_compare_overview(job_id: JobIdPath, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.34: overview of the latest object comparison (SDK spelling "obeject")."""
    return q.object_overview(svc, _job(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5))


@router.get("/jobs/{job_id}/object/compare/{compare_type}")
def list_obeject_level_compare_detail(
    job_id: JobIdPath, compare_type: Annotated[ObjectCompareType, Path()], svc: Svc, caller: Caller,
    compare_job_id: Annotated[CompareJobId | None, Query()] = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.35: object comparison details of one object type."""
    job = _job(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5)
    return q.object_detail(svc, job, compare_type, compare_job_id, offset, limit)


@router.post("/jobs/{job_id}/compare/result/file")
def create_compare_result_file(
    job_id: JobIdPath, body: ExportCompareResultReq, svc: Svc, caller: Caller,
    region: Annotated[str | None, Header(alias="Region", max_length=64)] = None,
) -> dict[str, Any]:
    """4.1.36: generate the report file (the ``Region`` header is accepted, not required)."""
    job = _job(svc, caller.project_id, job_id, REPORT, not_found=TaskNotFoundV5)
    report.export(svc, job, body.compare_type, body.compare_job_id, body.time_zone)
    return {}


@router.get("/jobs/{job_id}/compare/result/file", response_class=Response)
def download_compare_result_file(
    job_id: JobIdPath, svc: Svc, caller: Caller,
    compare_type: Annotated[DownloadCompareType | None, Query()] = None,
    compare_job_id: Annotated[CompareJobId | None, Query()] = None,
    region: Annotated[str | None, Header(alias="Region", max_length=64)] = None,
    body: Annotated[DownloadCompareResultReq | None, Body()] = None,
) -> Response:
    """4.1.37: a GET the SDK sends with a JSON body; the query is read first, then the body.

    The report is a ZIP of CSV files (docs/comparison.md), not the spec's .xlsx.
    """
    kind, compare_id = resolve_download(compare_type, compare_job_id, body)
    job = _job(svc, caller.project_id, job_id, REPORT, not_found=TaskNotFoundV5)
    name, data = report.download(svc, job, kind, compare_id, body.time_zone if body else None)
    return Response(content=data, media_type=report.MEDIA_TYPE,
                    headers={"Content-Disposition": report.content_disposition(name)})


@router.post("/jobs/{job_id}/compare/{compare_job_id}/repair")
def repair_compare_differences(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    body: Annotated[RepairReq | None, Body()] = None,
) -> dict[str, Any]:
    """Beyond the spec: bring the target in line for the rows a contents comparison found different."""
    job = _job(svc, caller.project_id, job_id, "data repair")
    return repair_run(svc, job, compare_job_id, body.dry_run if body is not None else True)
