"""Read side of the comparison APIs: stored runs and results, paginated and filtered as each page asks.

The routes hand over validated parameters and the checked task; answers are SDK-shaped dicts
(``compare_views``). Unknown comparison IDs are DRS.M00289; a task without the asked kind of run
(4.1.34 with no object comparison yet) is DRS.M00289 too.
"""

from __future__ import annotations

from typing import Any

from opendrs.errors import InvalidStatus, MissingQueryResult
from opendrs.jobs import compare_views as views
from opendrs.jobs.compare import (
    CONTENTS,
    DATA_KINDS,
    LINES,
    OBJECTS,
    CompareStatus,
    compare_service,
    create_run,
    get_run,
    parse_start_time,
    unfinished_data_runs,
)
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.selection import row_filters
from opendrs.store.compare_repo import CompareRepo, CompareRun, TableOutcome, TableQuery


def _filters(job: Job) -> dict[tuple[str, str], str]:
    return {(ref.schema, ref.name): cond for ref, cond in row_filters(job.config).items()}


def _page(items: list[Any], offset: int, limit: int) -> list[Any]:
    return items[offset: offset + limit]


# --- 4.1.17 / 4.1.18 --------------------------------------------------------------------------


def create_compare_task(svc: Services, job: Job, objects_level: bool,
                        data: dict[str, Any] | None) -> dict[str, Any]:
    """4.1.17: object and/or data-level runs; with neither, report the current ones (query only)."""
    out: dict[str, Any] = {"job_id": job.id}
    if objects_level:
        out["object_level_compare_create_result"] = {"compare_task_id": create_run(svc, job, OBJECTS).id}
    if data is not None:
        pending = unfinished_data_runs(svc, job.id)
        if pending and data["conflict_policy"] == "keep":
            error = InvalidStatus(detail="an unfinished data-level comparison exists")
            out["data_level_compare_create_result"] = {
                "compare_task_id": pending[0].id, "error_code": error.error_code,
                "error_msg": f"{error.error_msg} Comparison {pending[0].id} is unfinished and was kept "
                             "(conflict_policy keep)."}
        else:
            for run in pending:
                compare_service(svc).cancel(run.id)
            objects = data.get("compare_object_infos")  # given objects narrow even a quick comparison
            run = create_run(svc, job, data["compare_type"], objects,
                             start_time=parse_start_time(data.get("start_time")))
            out["data_level_compare_create_result"] = {"compare_task_id": run.id}
    if not objects_level and data is None:
        compare_service(svc)
        with svc.store.session() as s:
            repo = CompareRepo(s)
            latest_objects = repo.latest(job.id, OBJECTS)
            pending_data = [r for r in repo.unfinished(job.id) if r.kind in DATA_KINDS]
        if latest_objects is not None:
            out["object_level_compare_create_result"] = {"compare_task_id": latest_objects.id}
        if pending_data:
            out["data_level_compare_create_result"] = {"compare_task_id": pending_data[0].id}
    return out


def _results_for(svc: Services, job: Job, compare_id: str | None, kind: str) -> CompareRun | None:
    if compare_id:
        return get_run(svc, job, compare_id, [kind] if kind == OBJECTS else list(DATA_KINDS))
    with svc.store.session() as s:
        return CompareRepo(s).latest(job.id, kind)


def list_compare_results(svc: Services, job: Job, object_id: str | None, line_id: str | None,
                         content_id: str | None, page: int, per_page: int) -> dict[str, Any]:
    """4.1.18: the named runs' results (pages of ``per_page`` databases) and the task's run list."""
    compare_service(svc)
    offset = (page - 1) * per_page
    out: dict[str, Any] = {"job_id": job.id}
    if object_id:
        run = _results_for(svc, job, object_id, OBJECTS)
        if run is not None:
            with svc.store.session() as s:
                _, records = CompareRepo(s).objects(run.id)
            out["object_level_compare_results"] = views.object_results(run, records)
    if line_id:
        run = _results_for(svc, job, line_id, LINES)
        if run is not None:
            out["line_compare_results"] = _line_results(svc, run, offset, per_page)
    if content_id:
        run = _results_for(svc, job, content_id, CONTENTS)
        if run is not None:
            if run.kind != CONTENTS:
                raise MissingQueryResult(f"comparison {content_id} is a {run.kind} comparison")
            out["content_compare_results"] = _content_results(svc, run, offset, per_page)
    with svc.store.session() as s:
        total, runs = CompareRepo(s).list(job.id, offset=offset, limit=per_page)
    out["compare_task_list_results"] = {"compare_task_list": [views.task_list_item(r) for r in runs],
                                        "compare_task_list_count": total}
    return out


def _outcomes(svc: Services, run: CompareRun, query: TableQuery | None = None) -> list[TableOutcome]:
    with svc.store.session() as s:
        return CompareRepo(s).tables(run.id, query)[1]


def _line_results(svc: Services, run: CompareRun, offset: int, limit: int) -> dict[str, Any]:
    groups = views.by_database(_outcomes(svc, run))
    page = _page(groups, offset, limit)
    return {"compare_task_id": run.id,
            "line_compare_overview": [{"source_db_name": s, "target_db_name": t,
                                       "line_compare_result": views.db_result(items)} for s, t, items in page],
            "line_compare_overview_count": len(groups),
            "line_compare_details": [{"source_db_name": s,
                                      "line_compare_detail": [views.line_detail_text(o) for o in items],
                                      "line_compare_detail_count": len(items)} for s, _, items in page],
            **views.run_error(run)}


def _content_results(svc: Services, run: CompareRun, offset: int, limit: int) -> dict[str, Any]:
    groups = views.by_database(_outcomes(svc, run))
    page = _page(groups, offset, limit)
    details = []
    diffs = []
    for s_db, _, items in page:
        comparable = [o for o in items if o.status not in views.UNCOMPARABLE]
        not_comparable = [o for o in items if o.status in views.UNCOMPARABLE]
        details.append({"source_db_name": s_db,
                        "content_compare_detail": [views.content_detail_text(o) for o in comparable],
                        "content_compare_detail_count": len(comparable),
                        "content_uncompare_detail": [views.content_detail_text(o) for o in not_comparable],
                        "content_uncompare_detail_count": len(not_comparable)})
        for o in items:
            if o.status != "inconsistent":
                continue
            with svc.store.session() as s:
                count, _, rows = CompareRepo(s).diffs(run.id, o.source_db, o.source_table, 0, limit)
            diffs.append({"source_db_name": o.source_db, "source_table_name": o.source_table,
                          "content_compare_diff": [{"source_select_sql": d.source_sql,
                                                    "target_select_sql": d.target_sql,
                                                    "source_key_value": views.diff_info(d)["source_key_value"],
                                                    "target_key_value": views.diff_info(d)["target_key_value"]}
                                                   for d in rows],
                          "content_compare_diff_count": max(count, o.diff_count)})
    return {"compare_task_id": run.id,
            "content_compare_overview": [{"source_db_name": s, "target_db_name": t,
                                          "content_compare_result": views.db_result(items)}
                                         for s, t, items in page],
            "content_compare_overview_count": len(groups), "content_compare_details": details,
            "content_compare_diffs": diffs, **views.run_error(run)}


# --- 4.1.24 - 4.1.27 ----------------------------------------------------------------------------


def create_table_compare(svc: Services, job: Job, kind: str, objects: list[dict[str, Any]] | None,
                         options: dict[str, str] | None, start_time: str | None) -> dict[str, Any]:
    """4.1.25: a lines/contents run, now or at ``start_time``."""
    return {"id": create_run(svc, job, kind, objects, options, parse_start_time(start_time)).id}


def list_table_compares(svc: Services, job: Job, offset: int, limit: int) -> dict[str, Any]:
    """4.1.24: the task's data-level runs, newest first."""
    compare_service(svc)
    with svc.store.session() as s:
        total, runs = CompareRepo(s).list(job.id, DATA_KINDS, offset, limit)
    return {"count": total, "compare_jobs": [views.compare_job_info(r) for r in runs]}


# --- 4.1.28 - 4.1.32 ----------------------------------------------------------------------------


def line_overview(svc: Services, job: Job, compare_id: str, status: int | None, offset: int,
                  limit: int) -> dict[str, Any]:
    run = get_run(svc, job, compare_id, DATA_KINDS)
    items = views.line_overview(_outcomes(svc, run), status)
    return {"total_count": len(items), "data_compare_overview_infos": _page(items, offset, limit)}


def _type_statuses(detail_type: str | None) -> tuple[str, ...] | None:
    if detail_type == "compare":
        return ("consistent", "inconsistent", "running", "waiting", "cancelled")
    if detail_type == "unCompare":
        return tuple(views.UNCOMPARABLE)
    return None


def line_detail(svc: Services, job: Job, compare_id: str, status: int | None, detail_type: str | None,
                db_name: str | None, target_db_name: str | None, table: str | None, offset: int,
                limit: int) -> dict[str, Any]:
    run = get_run(svc, job, compare_id, DATA_KINDS)
    query = TableQuery(source_db=db_name, target_db=target_db_name, table_like=table,
                       statuses=_type_statuses(detail_type))
    filters = _filters(job)
    items = [views.line_detail(o, filters.get((o.source_db, o.source_table), ""))
             for o in _outcomes(svc, run, query)]
    items = [i for i in items if status is None or i["status"] == status]
    return {"total_count": len(items), "table_line_compare_result_infos": _page(items, offset, limit)}


def content_overview(svc: Services, job: Job, compare_id: str, offset: int, limit: int) -> dict[str, Any]:
    run = get_run(svc, job, compare_id, [CONTENTS])
    items = views.content_overview(_outcomes(svc, run))
    return {"total_count": len(items), "content_compare_result_infos": _page(items, offset, limit)}


def content_detail(svc: Services, job: Job, compare_id: str, db_name: str | None, target_db_name: str | None,
                   detail_type: str | None, offset: int, limit: int) -> dict[str, Any]:
    run = get_run(svc, job, compare_id, [CONTENTS])
    query = TableQuery(source_db=db_name, target_db=target_db_name, statuses=_type_statuses(detail_type))
    with svc.store.session() as s:
        total, outcomes = CompareRepo(s).tables(run.id, query, offset, limit)
    filters = _filters(job)
    return {"total_count": total, "content_compare_result_infos": [
        views.content_detail(o, filters.get((o.source_db, o.source_table), "")) for o in outcomes]}


def content_difference(svc: Services, job: Job, compare_id: str, table: str | None, db_name: str | None,
                       offset: int, limit: int) -> dict[str, Any]:
    run = get_run(svc, job, compare_id, [CONTENTS])
    with svc.store.session() as s:
        total, kinds, rows = CompareRepo(s).diffs(run.id, db_name, table, offset, limit)
    return {**views.diff_counts(kinds, total), "contents_infos": [views.diff_info(d) for d in rows]}


# --- 4.1.33 - 4.1.35 ----------------------------------------------------------------------------


def create_object_compare(svc: Services, job: Job) -> CompareRun:
    from opendrs.errors import CompareBusy

    compare_service(svc)
    with svc.store.session() as s:
        busy = [r for r in CompareRepo(s).unfinished(job.id) if r.kind == OBJECTS]
    if busy:
        raise CompareBusy(detail=f"object comparison {busy[0].id} is {busy[0].status}")
    return create_run(svc, job, OBJECTS)


def latest_objects(svc: Services, job: Job, compare_id: str | None) -> CompareRun:
    if compare_id:
        return get_run(svc, job, compare_id, [OBJECTS])
    compare_service(svc)
    with svc.store.session() as s:
        run = CompareRepo(s).latest(job.id, OBJECTS)
    if run is None:
        raise MissingQueryResult("this task has no object comparison yet", detail=f"task {job.id}")
    return run


def object_overview(svc: Services, job: Job) -> dict[str, Any]:
    """4.1.34: the latest object comparison."""
    run = latest_objects(svc, job, None)
    with svc.store.session() as s:
        _, records = CompareRepo(s).objects(run.id)
    doc: dict[str, Any] = {"compare_job_id": run.id, "create_time": views.iso(run.create_time),
                           "start_time": views.iso(run.started_at or run.start_time), "status": run.status,
                           "report_remain_seconds": views.remain_seconds(run),
                           "compare_result": views.object_overview(records, run.status == CompareStatus.SUCCESSFUL)}
    if run.export_status:
        doc["export_status"] = run.export_status
    if run.error_msg:
        doc["error_msg"] = run.error_msg
    return doc


def object_detail(svc: Services, job: Job, compare_type: str, compare_id: str | None, offset: int,
                  limit: int) -> dict[str, Any]:
    """4.1.35: one object type's objects (all of them, consistent ones with status 2)."""
    run = latest_objects(svc, job, compare_id)
    with svc.store.session() as s:
        total, records = CompareRepo(s).objects(run.id, compare_type, offset, limit)
    return {"count": total, "compare_detail": [views.object_detail(r) for r in records]}

