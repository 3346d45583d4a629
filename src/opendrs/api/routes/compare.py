"""Comparison APIs (003 §4.1.17, §4.1.18, §4.1.24–§4.1.37), named after the SDK methods.

Every route validates its path, query and body in full and checks the task; the answer is then
``NotAvailableYet`` (HTTP 400, DRS.M00300) until a comparison engine exists. Unknown tasks are
DRS.M00298 except in §4.1.32–§4.1.37, whose pages document DRS.10000010.
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
    resolve_download,
)
from opendrs.errors import TaskNotFoundV5
from opendrs.jobs.extras import CREATE_COMPARE_ALLOWED, comparison_unavailable

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


@router.post("/jobs/create-compare-task")
def create_compare_task(body: CreateCompareTaskReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.17: creating needs INCRE_TRANSFER_STARTED; both parts empty only queries the list."""
    allowed = None if body.query_only else CREATE_COMPARE_ALLOWED
    comparison_unavailable(svc, caller.project_id, body.job_id, DATA, allowed=allowed,
                           cassandra_only=_token_fields(body))


def _token_fields(body: CreateCompareTaskReq) -> tuple[str, ...]:
    info = body.data_level_compare_info
    return ("compare_object_infos_with_token",) if info and info.compare_object_infos_with_token else ()


@router.post("/jobs/query-compare-result")
def list_compare_result(body: QueryCompareResultReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.18: results of the comparisons 4.1.17 created, paginated."""
    comparison_unavailable(svc, caller.project_id, body.job_id, DATA)


@router.get("/jobs/{job_id}/table/compare")
def list_data_level_table_compare_jobs(
    job_id: JobIdPath, svc: Svc, caller: Caller, limit: Limit = 1000, offset: Offset = 0
) -> dict[str, Any]:
    """4.1.24: data-level comparison jobs of a task."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.post("/jobs/{job_id}/table/compare", status_code=202)
def create_data_level_table_compare_job(
    job_id: JobIdPath, body: CreateDataLevelTableCompareJobReq, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.1.25: row, value or sampling comparison of selected tables."""
    cassandra = tuple(n for n in ("compare_task_num", "compare_object_with_token") if getattr(body, n))
    comparison_unavailable(svc, caller.project_id, job_id, DATA, cassandra_only=cassandra,
                           sampling=body.type == "random")


@router.delete("/jobs/{job_id}/compare/{compare_job_id}")
def delete_compare_job(job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller
                       ) -> dict[str, Any]:
    """4.1.26: cancel a comparison job."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.post("/jobs/{job_id}/table/compare/{compare_job_id}")
def start_promptly_data_level_table_compare_job(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """4.1.27: start a scheduled data-level comparison now."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/line-overview")
def list_data_compare_overview(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    status: LineStatus = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.28: row comparison per database."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/line-detail")
def list_data_compare_detail(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    status: LineStatus = None, type: Annotated[DetailType | None, Query()] = None,
    db_name: Text = None, target_db_name: Text = None, query_tb_name: Text = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.29: row comparison per table."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-overview")
def list_content_compare_overview(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.30: value comparison per database."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-detail")
def list_content_compare_detail(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    target_db_name: Text = None, db_name: Text = None,
    type: Annotated[DetailType | None, Query()] = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.31: value comparison per table."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA)


@router.get("/jobs/{job_id}/compare/{compare_job_id}/content-difference")
def list_content_compare_difference(
    job_id: JobIdPath, compare_job_id: CompareJobIdPath, svc: Svc, caller: Caller,
    table_name: Text = None, db_name: Text = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.32: the differing rows of a value comparison."""
    comparison_unavailable(svc, caller.project_id, job_id, DATA, not_found=TaskNotFoundV5)


@router.post("/jobs/{job_id}/object/compare", status_code=202)
def create_object_level_compare_job(
    job_id: JobIdPath, svc: Svc, caller: Caller,
    body: Annotated[CreateObjectCompareJobReq | None, Body()] = None,
) -> dict[str, Any]:
    """4.1.33: object-level comparison (``compare_task_num`` is for Cassandra DR only)."""
    cassandra = ("compare_task_num",) if body is not None and body.compare_task_num is not None else ()
    comparison_unavailable(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5,
                           cassandra_only=cassandra)


@router.get("/jobs/{job_id}/object/compare")
def list_obeject_level_compare_overview(job_id: JobIdPath, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.1.34: overview of the latest object comparison (SDK spelling "obeject")."""
    comparison_unavailable(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5)


@router.get("/jobs/{job_id}/object/compare/{compare_type}")
def list_obeject_level_compare_detail(
    job_id: JobIdPath, compare_type: Annotated[ObjectCompareType, Path()], svc: Svc, caller: Caller,
    compare_job_id: Annotated[CompareJobId | None, Query()] = None, limit: Limit = 1000, offset: Offset = 0,
) -> dict[str, Any]:
    """4.1.35: object comparison details of one object type."""
    comparison_unavailable(svc, caller.project_id, job_id, OBJECTS, not_found=TaskNotFoundV5)


@router.post("/jobs/{job_id}/compare/result/file")
def create_compare_result_file(
    job_id: JobIdPath, body: ExportCompareResultReq, svc: Svc, caller: Caller,
    region: Annotated[str | None, Header(alias="Region", max_length=64)] = None,
) -> dict[str, Any]:
    """4.1.36: generate the report file (the ``Region`` header is accepted, not required)."""
    comparison_unavailable(svc, caller.project_id, job_id, REPORT, not_found=TaskNotFoundV5)


@router.get("/jobs/{job_id}/compare/result/file", response_class=Response)
def download_compare_result_file(
    job_id: JobIdPath, svc: Svc, caller: Caller,
    compare_type: Annotated[DownloadCompareType | None, Query()] = None,
    compare_job_id: Annotated[CompareJobId | None, Query()] = None,
    region: Annotated[str | None, Header(alias="Region", max_length=64)] = None,
    body: Annotated[DownloadCompareResultReq | None, Body()] = None,
) -> Response:
    """4.1.37: a GET the SDK sends with a JSON body; the query is read first, then the body."""
    resolve_download(compare_type, compare_job_id, body)
    comparison_unavailable(svc, caller.project_id, job_id, REPORT, not_found=TaskNotFoundV5)
