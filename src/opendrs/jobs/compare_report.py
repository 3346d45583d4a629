"""Comparison reports (4.1.36 export, 4.1.37 download): a ZIP of CSV files.

The spec streams an ``.xlsx``; OpenDRS writes CSV files in a ZIP instead because no well-kept
xlsx writer is among its dependencies, and CSV opens in every spreadsheet (docs/comparison.md).
Export writes the file under ``<data_dir>/compare-reports/`` and marks the run EXPORT_COMPLETE;
download serves that file, or builds a fresh one when the run was never exported.
``repair_data`` downloads hold the repair SQL of a contents comparison (dry run).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from opendrs.errors import InvalidParameter
from opendrs.jobs.compare import CONTENTS, DATA_KINDS, OBJECTS, get_run, repair_run
from opendrs.jobs.compare_queries import latest_objects
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, now_ms
from opendrs.store.compare_repo import CompareRepo, CompareRun

MEDIA_TYPE = "application/zip"
_TZ = re.compile(r"^GMT ?([+-])(\d{2}):(\d{2})$")


def _zone(time_zone: str | None) -> dt.timezone:
    m = _TZ.match(time_zone or "")
    if not m:
        return dt.UTC
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return dt.timezone(dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes))


def _when(ms: int | None, zone: dt.timezone) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def _csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: spreadsheets then read UTF-8 correctly


def run_for(svc: Services, job: Job, compare_type: str, compare_id: str | None) -> CompareRun:
    """The run a report is about; the type must fit it (``lines`` fits a contents run too)."""
    if compare_type == "objects_comparison":
        return latest_objects(svc, job, compare_id)
    if compare_type == "random":
        raise InvalidParameter("compare_type", detail="sampling comparison is not available for this task")
    assert compare_id is not None  # the wire model requires it for data-level types
    kinds = list(DATA_KINDS) if compare_type == "lines" else [CONTENTS]
    return get_run(svc, job, compare_id, kinds)


def file_name(run: CompareRun, compare_type: str, time_zone: str | None) -> str:
    zone = (time_zone or "UTC").replace(" ", "").replace(":", "")
    return f"compare_{compare_type}_{run.id}_{zone}.zip"


def build(svc: Services, job: Job, run: CompareRun, compare_type: str, time_zone: str | None) -> bytes:
    zone = _zone(time_zone)
    files: dict[str, bytes] = {"summary.csv": _csv([
        ["task_id", "compare_job_id", "type", "status", "create_time", "start_time", "end_time", "error_msg"],
        [job.id, run.id, run.kind, run.status, _when(run.create_time, zone),
         _when(run.started_at, zone), _when(run.end_time, zone), run.error_msg]])}
    with svc.store.session() as s:
        repo = CompareRepo(s)
        if run.kind == OBJECTS:
            _, objects = repo.objects(run.id)
            files["objects.csv"] = _csv(
                [["object_type", "source_db", "target_db", "source_value", "target_value", "status", "message"]]
                + [[o.object_type, o.source_db, o.target_db, o.source_value, o.target_value, o.status, o.message]
                   for o in objects])
        elif compare_type != "repair_data":
            _, tables = repo.tables(run.id)
            files["tables.csv"] = _csv(
                [["source_db", "source_table", "target_db", "target_table", "source_rows", "target_rows",
                  "row_difference", "differing_rows", "status", "message"]]
                + [[t.source_db, t.source_table, t.target_db, t.target_table, t.source_rows, t.target_rows,
                    t.source_rows - t.target_rows, t.diff_count if run.kind == CONTENTS else "", t.status,
                    t.message] for t in tables])
            if run.kind == CONTENTS and compare_type == CONTENTS:
                _, _, diffs = repo.diffs(run.id)
                files["differences.csv"] = _csv(
                    [["source_db", "source_table", "kind", "key_columns", "key", "source_row", "target_row",
                      "source_select_sql", "target_select_sql"]]
                    + [[d.source_db, d.source_table, d.kind, ",".join(d.key_columns),
                        json.dumps(d.key, ensure_ascii=False),
                        json.dumps(d.source_row, ensure_ascii=False) if d.source_row is not None else "",
                        json.dumps(d.target_row, ensure_ascii=False) if d.target_row is not None else "",
                        d.source_sql, d.target_sql] for d in diffs])
    if compare_type == "repair_data":
        repair = repair_run(svc, job, run.id, dry_run=True)
        files["repair.sql"] = "".join(f"{stmt};\n" for stmt in repair["statements"]).encode("utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _path(svc: Services, run: CompareRun, compare_type: str) -> Path:
    return svc.settings.data_dir / "compare-reports" / f"{run.id}-{compare_type}.zip"


def export(svc: Services, job: Job, compare_type: str, compare_id: str | None, time_zone: str | None) -> None:
    """4.1.36: write the report file now (reports are small: differing rows are capped per table)."""
    run = run_for(svc, job, compare_type, compare_id)
    with svc.store.session() as s:
        CompareRepo(s).set_export(run.id, "EXPORTING", None)
    try:
        data = build(svc, job, run, compare_type, time_zone)
        path = _path(svc, run, compare_type)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except Exception:
        with svc.store.session() as s:
            CompareRepo(s).set_export(run.id, "EXPORT_COMMON_FAILED", None)
        raise
    with svc.store.session() as s:
        # Only the export columns change; a concurrent status change of the run must survive.
        CompareRepo(s).set_export(run.id, "EXPORT_COMPLETE", now_ms())


def download(svc: Services, job: Job, compare_type: str, compare_id: str | None,
             time_zone: str | None) -> tuple[str, bytes]:
    """4.1.37: (file name, ZIP bytes): the exported file if there is one, else a fresh report."""
    run = run_for(svc, job, compare_type, compare_id)
    path = _path(svc, run, compare_type)
    data = path.read_bytes() if path.exists() and compare_type != "repair_data" else build(
        svc, job, run, compare_type, time_zone)
    return file_name(run, compare_type, time_zone), data


def content_disposition(name: str) -> str:
    return f'attachment; filename="{name}"'

