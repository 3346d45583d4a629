"""``opendrs compare``: compare a task's source and target through the REST API, with a progress bar.

Like ``opendrs task``, a thin client: it creates the comparison with 4.1.25 (lines/contents) or
4.1.33 (objects), follows it with the overview APIs (rich progress bar on stderr), and prints a
summary per table (rows on each side, differences, the first differing rows) or, with
``--output json``, one JSON document. ``--repair`` asks the server for the repair SQL of a contents
comparison (``--dry-run`` only prints it). Exit code 0 = consistent (or repaired), 2 = differences
found, 1 = error.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from opendrs.cli import config
from opendrs.cli.output import CliError, OutputFormat, cli_errors, die, emit, kv_table, stderr, table
from opendrs.cli.tasks import AkOpt, EndpointOpt, OutputOpt, ProfileOpt, ProjectOpt, SkOpt, TimeoutOpt, api, call
from opendrs.client import DrsHttpClient

FINISHED = {"SUCCESSFUL", "FAILED", "CANCELLED", "TIMEOUT_INTERRUPT"}
SHOW_ROWS = 5  # differing rows printed per table
EXIT_DIFFERENT = 2


class CompareKind(StrEnum):
    lines = "lines"
    contents = "contents"
    objects = "objects"


def _objects(tables: list[str]) -> list[dict[str, Any]] | None:
    """``db.table`` / ``db`` options as 4.1.25 ``compare_object`` (a bare ``db`` = all its tables)."""
    if not tables:
        return None
    grouped: dict[str, list[str] | None] = {}
    for spec in tables:
        db, _, name = spec.partition(".")
        if not db:
            raise CliError(f"--table {spec!r}: use db.table or db")
        if not name or grouped.get(db, []) is None:
            grouped[db] = None
        else:
            grouped.setdefault(db, [])
            current = grouped[db]
            if current is not None:
                current.append(name)
    return [{"db_name": db, "table_name": names or []} for db, names in grouped.items()]


def _base(job_id: str) -> str:
    return f"/v3/{{project_id}}/jobs/{job_id}"


def _run_status(client: DrsHttpClient, job_id: str, compare_id: str) -> dict[str, Any]:
    listed = call(client, "GET", f"{_base(job_id)}/table/compare", params={"limit": 1000})
    for item in listed.get("compare_jobs") or []:
        if item.get("id") == compare_id:
            return dict(item)
    raise CliError(f"comparison {compare_id} vanished from task {job_id}")


def _follow_data(client: DrsHttpClient, job_id: str, compare_id: str, timeout: float) -> dict[str, Any]:
    """Poll the run and its line overview (tables done / total) until it is over."""
    deadline = time.monotonic() + timeout
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tables"),
               TimeElapsedColumn())
    with Progress(*columns, console=stderr(), transient=True) as bar:
        task = bar.add_task("comparing", total=None)
        while True:
            run = _run_status(client, job_id, compare_id)
            overview = call(client, "GET", f"{_base(job_id)}/compare/{compare_id}/line-overview")
            infos = overview.get("data_compare_overview_infos") or []
            total = sum(int(i.get("compare_num") or 0) for i in infos)
            done = sum(int(i.get("compare_end_num") or 0) for i in infos)
            bar.update(task, total=total or None, completed=done, description=str(run.get("status", "")).lower())
            if run.get("status") in FINISHED:
                return run
            if time.monotonic() > deadline:
                die(f"comparison {compare_id} still {run.get('status')} after {timeout:.0f}s "
                    f"(cancel it with DELETE {_base(job_id)}/compare/{compare_id})")
            time.sleep(0.5)


def _data_summary(client: DrsHttpClient, job_id: str, compare_id: str, kind: str) -> dict[str, Any]:
    base = f"{_base(job_id)}/compare/{compare_id}"
    if kind == CompareKind.lines:
        tables = []
        for db in call(client, "GET", f"{base}/line-overview").get("data_compare_overview_infos") or []:
            detail = call(client, "GET", f"{base}/line-detail", params={"db_name": db.get("source_db_name")})
            tables += [{"table": f"{db.get('source_db_name')}.{t.get('source_table_name')}",
                        "target_table": f"{db.get('target_db_name')}.{t.get('target_table_name')}",
                        "source_rows": t.get("source_row_num"), "target_rows": t.get("target_row_num"),
                        "differences": t.get("difference_row_num"), "status": t.get("status")}
                       for t in detail.get("table_line_compare_result_infos") or []]
        return {"tables": tables, "differences": sum(int(t["differences"] or 0) for t in tables)}
    detail = call(client, "GET", f"{base}/content-detail")
    tables = []
    for t in detail.get("content_compare_result_infos") or []:
        item = {"table": f"{t.get('source_db')}.{t.get('source_table_name')}",
                "target_table": f"{t.get('target_db')}.{t.get('target_table_name')}",
                "source_rows": t.get("source_row_num"), "target_rows": t.get("target_row_num"),
                "differences": t.get("difference_row_num"), "consistent": t.get("content_compare_result"),
                "message": t.get("message") or ""}
        if int(item["differences"] or 0):
            rows = call(client, "GET", f"{base}/content-difference", params={
                "db_name": t.get("source_db"), "table_name": t.get("source_table_name"), "limit": SHOW_ROWS})
            item["first_differences"] = rows.get("contents_infos") or []
            item["missing_on_target"] = rows.get("target_meta_is_null")
            item["only_on_target"] = rows.get("source_meta_is_null")
            item["changed"] = rows.get("source_target_meta_not_null")
        tables.append(item)
    return {"tables": tables, "differences": sum(int(t["differences"] or 0) for t in tables)}


def _objects_run(client: DrsHttpClient, job_id: str, timeout: float) -> dict[str, Any]:
    call(client, "POST", f"{_base(job_id)}/object/compare", {})
    deadline = time.monotonic() + timeout
    with stderr().status("comparing objects") as spinner:
        while True:
            overview = call(client, "GET", f"{_base(job_id)}/object/compare")
            spinner.update(f"comparing objects: {overview.get('status')}")
            if overview.get("status") in FINISHED:
                break
            if time.monotonic() > deadline:
                die(f"object comparison still {overview.get('status')} after {timeout:.0f}s")
            time.sleep(0.5)
    compare_id = overview.get("compare_job_id")
    different: dict[str, list[dict[str, Any]]] = {}
    for item in overview.get("compare_result") or []:
        if item.get("status") == 2:
            continue
        detail = call(client, "GET", f"{_base(job_id)}/object/compare/{item['type']}",
                      params={"compare_job_id": compare_id})
        different[item["type"]] = [d for d in detail.get("compare_detail") or [] if d.get("status") != 2]
    return {"compare_job_id": compare_id, "type": "objects", "status": overview.get("status"),
            "error_msg": overview.get("error_msg", ""), "objects": overview.get("compare_result") or [],
            "object_differences": different,
            "differences": sum(len(v) for v in different.values())}


# --- human views --------------------------------------------------------------------------------


def _row_text(diff: dict[str, Any]) -> str:
    source, target = diff.get("source_key_value") or [], diff.get("target_key_value") or []
    key = ", ".join(source or target)
    if source and not target:
        return f"missing on target: key ({key})"
    if target and not source:
        return f"only on target: key ({key})"
    return f"different: key ({key})"


def summary_view(doc: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = [kv_table([
        ("Comparison", doc.get("compare_job_id")), ("Type", doc.get("type")), ("Status", doc.get("status")),
        ("Differences", doc.get("differences"))] + ([("Error", doc["error_msg"])] if doc.get("error_msg") else []))]
    if doc.get("type") == "objects":
        parts.append(table(["TYPE", "SOURCE", "TARGET", "RESULT"], [
            [o.get("type"), o.get("source_count"), o.get("target_count"),
             "consistent" if o.get("status") == 2 else "DIFFERENT"] for o in doc.get("objects") or []]))
        for kind, items in (doc.get("object_differences") or {}).items():
            for d in items:
                parts.append(Text(f"{kind}: source={d.get('source_db_value') or '-'} "
                                  f"target={d.get('target_db_value') or '-'} {d.get('error_message') or ''}",
                                  style="yellow"))
    else:
        parts.append(table(["TABLE", "SOURCE ROWS", "TARGET ROWS", "DIFFERENCES"], [
            [t.get("table"), t.get("source_rows"), t.get("target_rows"), t.get("differences")]
            for t in doc.get("tables") or []]))
        for t in doc.get("tables") or []:
            for d in t.get("first_differences") or []:
                parts.append(Text(f"{t['table']}: {_row_text(d)}", style="yellow"))
    repair = doc.get("repair")
    if repair:
        verb = "would run" if repair.get("dry_run") else "ran"
        parts.append(Text(f"repair {verb} {repair.get('statement_count')} statement(s)", style="bold"))
        if repair.get("dry_run"):
            parts.extend(Text(f"  {s};") for s in repair.get("statements") or [])
    return Group(*parts)


def compare(
    job_id: Annotated[str, typer.Argument(help="Task ID.")],
    kind: Annotated[CompareKind, typer.Option("--type", help="lines (row counts), contents (values) or "
                                                             "objects.")] = CompareKind.contents,
    tables: Annotated[list[str] | None, typer.Option(
        "--table", help="db.table or db to compare (repeatable; default: the task's whole selection).")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="Repair the differing rows on the target "
                                                          "(contents only).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --repair: only print the SQL.")] = False,
    timeout: TimeoutOpt = 3600.0,
    output: OutputOpt = OutputFormat.table,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Compare a task's source and target and print what differs (exit code 2 when something does)."""
    with cli_errors():
        if repair and kind is not CompareKind.contents:
            raise CliError("--repair needs --type contents (it repairs the differing rows)")
        with api(endpoint, ak, sk, project_id, profile) as client:
            if kind is CompareKind.objects:
                if tables:
                    raise CliError("--table does not apply to object comparison")
                doc = _objects_run(client, job_id, timeout)
            else:
                body: dict[str, Any] = {"type": kind.value}
                objects = _objects(tables or [])
                if objects:
                    body.update(compare_mode="", compare_object=objects)
                compare_id = call(client, "POST", f"{_base(job_id)}/table/compare", body)["id"]
                run = _follow_data(client, job_id, compare_id, timeout)
                doc = {"compare_job_id": compare_id, "type": kind.value, "status": run.get("status"),
                       **_data_summary(client, job_id, compare_id, kind.value)}
                if run.get("status") != "SUCCESSFUL":
                    doc["error_msg"] = _failure(client, job_id, compare_id)
                if repair and run.get("status") == "SUCCESSFUL" and doc["differences"]:
                    doc["repair"] = call(client, "POST", f"{_base(job_id)}/compare/{compare_id}/repair",
                                         {"dry_run": dry_run})
            emit(doc, output, summary_view(doc))
        if doc.get("status") != "SUCCESSFUL":
            raise CliError(f"comparison {doc.get('status')}: {doc.get('error_msg') or 'no reason given'}")
    if doc.get("differences") and not (doc.get("repair") and not dry_run):
        raise typer.Exit(EXIT_DIFFERENT)


def _failure(client: DrsHttpClient, job_id: str, compare_id: str) -> str:
    body = call(client, "POST", "/v3/{project_id}/jobs/query-compare-result", {
        "job_id": job_id, "line_compare_id": compare_id, "current_page": 1, "per_page": 1})
    return str((body.get("line_compare_results") or {}).get("error_msg") or "")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
