"""Response shapes of the comparison family, built from stored runs (names = the SDK's attribute_map).

Status vocabularies (DIGEST §4c): runs use the ``compare_task_status`` words; 4.1.18 results use the
string results (CONSISTENT, COMPARING, ...); 4.1.28–4.1.30 use the integer codes; 4.1.31 ``status``
is the "full comparison status" 1 in progress, 2 complete, 3 to be started, 4 cancelled; object
comparison uses 0 inconsistent, 2 consistent, 3 incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from opendrs.jobs.model import now_ms
from opendrs.store.compare_repo import CompareRun, DiffRecord, ObjectRecord, TableOutcome

REPORT_TTL_SECONDS = 7 * 24 * 3600  # how long an exported report stays downloadable (report_remain_seconds)

TEXT_RESULT = {"consistent": "CONSISTENT", "inconsistent": "INCONSISTENT", "running": "COMPARING",
               "waiting": "WAITING_FOR_COMPARISON", "failed": "FAILED_TO_COMPARE", "uncomparable": "CAN_NOT_COMPARE",
               "cancelled": "CAN_NOT_COMPARE"}
_RUNNING, _WAITING = "running", "waiting"
UNCOMPARABLE = frozenset({"uncomparable", "failed"})
OBJECT_RUN_TYPE = "object_comparison"  # 4.1.18 example's compare_type for object-level runs


def int_status(outcome: TableOutcome) -> int:
    """4.1.28/4.1.29 integer code of one table (11/12/13: the table is missing on a side)."""
    text = outcome.message
    if "does not exist on neither side" in text or "does not exist on neither" in text:
        return 13
    if "does not exist on the target" in text:
        return 12
    if "does not exist on the source" in text:
        return 11
    return {"consistent": 2, "inconsistent": 0, "failed": 4, "uncomparable": 4, "running": 5, "waiting": 6,
            "cancelled": 7}.get(outcome.status, 4)


def _group_status(outcomes: Sequence[TableOutcome]) -> str:
    states = {o.status for o in outcomes}
    for state in (_RUNNING, _WAITING, "cancelled", "failed", "inconsistent", "uncomparable"):
        if state in states:
            if state == _WAITING and states - {_WAITING}:
                return _RUNNING  # some tables done, some waiting: the database is being compared
            return state
    return "consistent"


def _group_code(outcomes: Sequence[TableOutcome]) -> int:
    state = _group_status(outcomes)
    return {"consistent": 2, "inconsistent": 0, "failed": 4, "uncomparable": 4, "running": 5, "waiting": 6,
            "cancelled": 7}[state]


def by_database(outcomes: Iterable[TableOutcome]) -> list[tuple[str, str, list[TableOutcome]]]:
    groups: dict[tuple[str, str], list[TableOutcome]] = {}
    for o in outcomes:
        groups.setdefault((o.source_db, o.target_db), []).append(o)
    return [(s, t, items) for (s, t), items in sorted(groups.items())]


def _counts(items: Sequence[TableOutcome]) -> dict[str, int]:
    return {"compare_num": len(items),
            "compare_end_num": sum(1 for o in items if o.status not in (_RUNNING, _WAITING)),
            "data_inconsistent_num": sum(1 for o in items if o.status == "inconsistent"),
            "uncomparable_num": sum(1 for o in items if o.status in UNCOMPARABLE)}


def line_overview(outcomes: Sequence[TableOutcome], status: int | None) -> list[dict[str, Any]]:
    """4.1.28 items (DataCompareOverviewInfo), filtered by the integer status."""
    out = [{"source_db_name": s, "target_db_name": t, "status": _group_code(items), **_counts(items)}
           for s, t, items in by_database(outcomes)]
    return [o for o in out if status is None or o["status"] == status]


def content_overview(outcomes: Sequence[TableOutcome]) -> list[dict[str, Any]]:
    """4.1.30 items (NodeContentCompareOverviewResult)."""
    return [{"source_db": s, "target_db": t, "status": _group_code(items), **_counts(items)}
            for s, t, items in by_database(outcomes)]


def line_detail(o: TableOutcome, row_filter: str) -> dict[str, Any]:
    """4.1.29 item (TableLineCompareResultInfo)."""
    return {"source_table_name": o.source_table, "source_row_num": o.source_rows, "target_table_name": o.target_table,
            "target_row_num": o.target_rows, "difference_row_num": abs(o.source_rows - o.target_rows),
            "status": int_status(o), "compare_line_config_filter": row_filter}


def content_detail(o: TableOutcome, row_filter: str) -> dict[str, Any]:
    """4.1.31 item (NodeContentCompareDetailResult)."""
    done = o.status not in (_RUNNING, _WAITING)
    progress = 100.0 if done else (100.0 * o.chunks_done / o.chunks_total if o.chunks_total else 0.0)
    full_status = {_RUNNING: 1, _WAITING: 3, "cancelled": 4}.get(o.status, 2)
    return {"source_db": o.source_db, "target_db": o.target_db, "source_table_name": o.source_table,
            "target_table_name": o.target_table, "source_row_num": o.source_rows, "target_row_num": o.target_rows,
            "difference_row_num": o.diff_count, "line_compare_result": done and o.source_rows == o.target_rows,
            "content_compare_result": o.status == "consistent", "message": o.message,
            "compare_line_config_filter": row_filter, "status": full_status,
            "complete_shard_count": o.chunks_done, "total_shard_count": o.chunks_total,
            "progress": round(progress, 2)}


def diff_info(d: DiffRecord) -> dict[str, Any]:
    """4.1.32 item (CompareJobContentDetailInfo): key values on each side where the row exists."""
    return {"source_key_value": [v or "" for v in d.key] if d.source_row is not None else [],
            "target_key_value": [v or "" for v in d.key] if d.target_row is not None else [],
            "select_sql": d.source_sql, "target_select_sql": d.target_sql}


def diff_counts(kinds: dict[str, int], total: int) -> dict[str, int]:
    return {"count": total, "target_meta_is_null": kinds.get("missing", 0),
            "source_meta_is_null": kinds.get("extra", 0), "source_target_meta_not_null": kinds.get("changed", 0)}


# --- runs ---------------------------------------------------------------------------------------


def iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remain_seconds(run: CompareRun) -> int:
    if run.export_status != "EXPORT_COMPLETE" or not run.export_time:
        return -1
    return max(0, REPORT_TTL_SECONDS - (now_ms() - run.export_time) // 1000)


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def compare_job_info(run: CompareRun) -> dict[str, Any]:
    """4.1.24 item (CompareJobInfo)."""
    return _drop_none({"id": run.id, "type": run.kind, "options": {k: str(v) for k, v in run.options.items()},
                       "start_time": iso(run.started_at or run.start_time), "end_time": iso(run.end_time),
                       "status": run.status, "export_status": run.export_status,
                       "report_remain_seconds": remain_seconds(run)})


def task_list_item(run: CompareRun) -> dict[str, Any]:
    """4.1.18 ``compare_task_list`` item (epoch-ms strings)."""
    return {"compare_task_id": run.id, "compare_type": OBJECT_RUN_TYPE if run.kind == "objects" else run.kind,
            "compare_task_status": run.status, "create_time": str(run.create_time),
            "end_time": str(run.end_time) if run.end_time else ""}


# --- objects ------------------------------------------------------------------------------------


def object_types(records: Sequence[ObjectRecord]) -> dict[str, list[ObjectRecord]]:
    out: dict[str, list[ObjectRecord]] = {}
    for r in records:
        out.setdefault(r.object_type, []).append(r)
    return out


def object_overview(records: Sequence[ObjectRecord], finished: bool) -> list[dict[str, Any]]:
    """4.1.34 ``compare_result`` items (ObjectsCompareOverviewInfo)."""
    out = []
    for kind, items in sorted(object_types(records).items()):
        same = all(r.status == "consistent" for r in items)
        out.append({"type": kind, "source_count": sum(1 for r in items if r.source_value is not None),
                    "target_count": sum(1 for r in items if r.target_value is not None),
                    "status": (2 if same else 0) if finished else 3})
    return out


def object_detail(r: ObjectRecord) -> dict[str, Any]:
    """4.1.35 item (ObjectsCompareDetailInfo)."""
    return {"source_db_name": r.source_db or "", "target_db_name": r.target_db or "",
            "source_db_value": r.source_value or "", "target_db_value": r.target_value or "",
            "status": 2 if r.status == "consistent" else 0, "error_message": r.message or _why(r)}


def _why(r: ObjectRecord) -> str:
    return {"missing": "missing on the target", "extra": "only on the target",
            "different": "definitions differ"}.get(r.status, "")


def object_results(run: CompareRun, records: Sequence[ObjectRecord]) -> dict[str, Any]:
    """4.1.18 ``object_level_compare_results`` (ObjectCompareResult)."""
    overview = []
    details: dict[str, list[dict[str, Any]]] = {}
    for kind, items in sorted(object_types(records).items()):
        diffs = [r for r in items if r.status != "consistent"]
        overview.append({"object_type": kind,
                         "object_compare_result": "INCONSISTENT" if diffs else "CONSISTENT",
                         "source_count": sum(1 for r in items if r.source_value is not None),
                         "target_count": sum(1 for r in items if r.target_value is not None),
                         "diff_count": len(diffs)})
        if diffs:
            details[kind] = [{"source_db_name": r.source_db or "", "target_db_name": r.target_db or "",
                              "source_db_value": r.source_value or "", "target_db_value": r.target_value or "",
                              "error_message": r.message or _why(r)} for r in diffs]
    out: dict[str, Any] = {"compare_task_id": run.id, "object_compare_overview": overview,
                           "object_compare_details": details}
    return {**out, **run_error(run)}


def run_error(run: CompareRun) -> dict[str, str]:
    return {"error_code": "DRS.M00004", "error_msg": run.error_msg} if run.status == "FAILED" else {}


def db_result(outcomes: Sequence[TableOutcome]) -> str:
    return TEXT_RESULT[_group_status(outcomes)]


def line_detail_text(o: TableOutcome) -> dict[str, Any]:
    """4.1.18 ``line_compare_detail`` item."""
    return {"source_table_name": o.source_table, "target_table_name": o.target_table,
            "source_row_num": o.source_rows, "target_row_num": o.target_rows,
            "diff_row_num": abs(o.source_rows - o.target_rows),
            "line_compare_result": TEXT_RESULT.get(o.status, "FAILED_TO_COMPARE")
            if o.status != "inconsistent" or o.source_rows != o.target_rows else "CONSISTENT",
            "message": o.message}


def content_detail_text(o: TableOutcome) -> dict[str, Any]:
    """4.1.18 ``content_compare_detail`` item."""
    done = o.status not in (_RUNNING, _WAITING)
    lines = TEXT_RESULT.get(o.status, "FAILED_TO_COMPARE")
    if done and o.status in ("consistent", "inconsistent"):
        lines = "CONSISTENT" if o.source_rows == o.target_rows else "INCONSISTENT"
    return {"source_db_name": o.source_db, "target_db_name": o.target_db, "source_table_name": o.source_table,
            "target_table_name": o.target_table, "source_row_num": o.source_rows, "target_row_num": o.target_rows,
            "diff_row_num": o.diff_count, "line_compare_result": lines,
            "content_compare_result": TEXT_RESULT.get(o.status, "FAILED_TO_COMPARE"), "message": o.message}
