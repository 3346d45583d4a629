"""``opendrs task ...`` and ``opendrs login``: a thin client of the REST API.

Why a client and not the service layer: these commands must work from any machine that can
reach the server, with the same AK/SK-signed requests the official SDK sends, so they only
ever call the v3 API through ``DrsHttpClient``. People get rich tables and one-line errors
(``DRS.M00298: Job does not exist...`` on stderr, exit code 1); scripts get the API's own
JSON with ``--output json``. Connection settings come from options, ``OPENDRS_*`` variables
or the profile written by ``opendrs login`` (see ``opendrs.cli.config``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import httpx
import typer
import yaml  # type: ignore[import-untyped,unused-ignore]
from rich.console import Group, RenderableType
from rich.text import Text

from opendrs.cli import config
from opendrs.cli.output import (
    CliError,
    OutputFormat,
    cli_errors,
    die,
    emit,
    fmt_time,
    item_error,
    kv_table,
    status_text,
    stderr,
    stdout,
    table,
)
from opendrs.client import ApiError, DrsHttpClient


class DbUseType(StrEnum):
    migration = "migration"
    sync = "sync"
    cloudDataGuard = "cloudDataGuard"  # noqa: N815 - the API's own spelling


class Side(StrEnum):
    so = "so"
    ta = "ta"


BATCH_LIMIT = 10  # 4.1.1 accepts at most 10 tasks per request
MASK = "******"
SIDES = {"so": "source_endpoint", "ta": "target_endpoint"}
DELETABLE = {"CREATE_FAILED", "RELEASE_RESOURCE_COMPLETE", "RELEASE_CHILD_TRANSFER_COMPLETE"}
# Endpoint fields a connection test may send back (secrets are never in 4.1.21 output).
_TEST_FIELDS = ("db_type", "ip", "db_port", "db_user", "db_name", "inst_id", "ssl_link", "ssl_cert_name",
                "ssl_cert_check_sum", "region", "project_id", "vpc_id", "subnet_id")

CONN = "Connection (options, OPENDRS_* variables or `opendrs login`)"
EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint", envvar="OPENDRS_ENDPOINT", show_default=False,
    help=f"API base URL (default: the profile's, else {config.DEFAULT_ENDPOINT}).", rich_help_panel=CONN)]
AkOpt = Annotated[str | None, typer.Option(
    "--ak", envvar="OPENDRS_AK", show_default=False, help="Access key.", rich_help_panel=CONN)]
SkOpt = Annotated[str | None, typer.Option(
    "--sk", envvar="OPENDRS_SK", show_default=False,
    help="Secret key (prefer OPENDRS_SK or `opendrs login`: options are visible in `ps`).",
    rich_help_panel=CONN)]
ProjectOpt = Annotated[str | None, typer.Option(
    "--project-id", envvar="OPENDRS_PROJECT_ID", show_default=False, help="Project ID.", rich_help_panel=CONN)]
ProfileOpt = Annotated[str, typer.Option(
    "--profile", envvar="OPENDRS_PROFILE", help="Profile in the client config file.", rich_help_panel=CONN)]
OutputOpt = Annotated[OutputFormat, typer.Option(
    "--output", "-o", help="table or json (the raw API answer).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait before giving up.")]

task_app = typer.Typer(help="Replication tasks (a client of the REST API).", no_args_is_help=True)


# --- plumbing ---------------------------------------------------------------------------------


@contextmanager
def api(endpoint: str | None, ak: str | None, sk: str | None, project_id: str | None,
        profile: str) -> Iterator[DrsHttpClient]:
    """A signed client for the resolved settings; network failures become one clear line."""
    cfg = config.resolve(endpoint, ak, sk, project_id, profile)
    try:
        with cfg.client() as client:
            yield client
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach OpenDRS at {cfg.endpoint}: {exc}") from exc


def call(client: DrsHttpClient, method: str, path: str, body: Any = None,
         params: dict[str, Any] | None = None) -> Any:
    """Request and decode; a DRS error body raises ApiError, anything unexpected a CliError."""
    resp = client.request(method, path, body, params)
    try:
        payload = resp.json() if resp.content else {}
    except ValueError:
        raise CliError(f"HTTP {resp.status_code} from {path}: {resp.text[:300]}") from None
    # A DRS error body is an error even with a 2xx status (e.g. 202 DRS.M01504 "task busy").
    if isinstance(payload, dict) and payload.get("error_code") and "results" not in payload:
        raise ApiError(resp.status_code, str(payload["error_code"]), str(payload.get("error_msg", "")))
    if resp.status_code >= 400:
        raise CliError(f"HTTP {resp.status_code} from {path}: {resp.text[:300]}")
    return payload


def first_item(body: dict[str, Any]) -> dict[str, Any]:
    """The single result of a one-task batch call; its per-item error becomes the command's error."""
    results = body.get("results") or []
    if not results:
        die("the server answered without a result")
    item: dict[str, Any] = results[0]
    failure = item_error(item)
    if failure is not None:
        die(failure[1], failure[0])
    return item


def job_detail(client: DrsHttpClient, job_id: str) -> dict[str, Any]:
    """4.1.21 for one task."""
    return first_item(call(client, "POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]}))


def job_status(client: DrsHttpClient, job_id: str) -> str:
    """4.1.22 for one task."""
    item = first_item(call(client, "POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]}))
    return str(item.get("status", ""))


def wait_for(client: DrsHttpClient, job_id: str, wanted: set[str], failed: set[str], timeout: float,
             what: str, on_status: Callable[[str], None] | None = None) -> str:
    """Poll 4.1.22 (with a spinner on stderr) until ``wanted``; ``failed`` or the timeout is an error."""
    deadline = time.monotonic() + timeout
    status = ""
    with stderr().status(f"{what}: waiting for {' / '.join(sorted(wanted))}") as spinner:
        while True:
            status = job_status(client, job_id)
            spinner.update(f"{what}: {status}")
            if on_status is not None:
                on_status(status)
            if status in wanted:
                return status
            if status in failed:
                reason = job_detail(client, job_id).get("failed_reason") or "no reason given"
                die(f"{what}: task {job_id} is {status}: {reason}")
            if time.monotonic() > deadline:
                die(f"{what}: task {job_id} still {status} after {timeout:.0f}s")
            time.sleep(0.5)


def load_jobs(path: str) -> list[dict[str, Any]]:
    """Tasks from a YAML or JSON file (``-`` = stdin): one job, a list, or ``{"jobs": [...]}``."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("jobs"), list):
        doc = doc["jobs"]
    jobs = doc if isinstance(doc, list) else [doc]
    if not jobs or not all(isinstance(j, dict) for j in jobs):
        die(f"{path} must hold a task (a mapping in the 4.1.1 field names), a list of them, or jobs: [...]")
    return jobs


# --- human views --------------------------------------------------------------------------------


def jobs_table(jobs: list[dict[str, Any]]) -> RenderableType:
    """4.1.20 jobs as a table."""
    if not jobs:
        return Text("no tasks", style="dim")
    return table(
        ["ID", "NAME", "STATUS", "TYPE", "ENGINE", "MODE", "CREATED", "DESCRIPTION"],
        [[j.get("id"), j.get("name"), status_text(j.get("status")), j.get("db_use_type"),
          j.get("engine_type"), j.get("task_type"), fmt_time(j.get("create_time")), j.get("description")]
         for j in jobs],
    )


def detail_view(detail: dict[str, Any], progress: dict[str, Any] | None) -> RenderableType:
    """4.1.21 details plus 4.1.19 progress, the way an operator reads them."""
    parts: list[RenderableType] = [kv_table([
        ("ID", detail.get("id")),
        ("Name", detail.get("name")),
        ("Status", status_text(detail.get("status"))),
        ("Scenario", f"{detail.get('db_use_type')} / {detail.get('engine_type') or _engine(detail)}"
                     f" ({detail.get('job_direction')})"),
        ("Mode", detail.get("task_type")),
        ("Network", detail.get("net_type")),
        ("Created", fmt_time(detail.get("create_time"))),
        ("Updated", fmt_time(detail.get("update_time"))),
        ("Started", fmt_time(detail.get("actual_start_time"))),
        ("Full load done", fmt_time(detail.get("full_transfer_complete_time"))),
        ("Description", detail.get("description")),
        ("Failed reason", detail.get("failed_reason")),
    ])]
    endpoints = [(side, detail.get(field) or {}) for side, field in (("source", "source_endpoint"),
                                                                    ("target", "target_endpoint"))]
    parts.append(table(
        ["ENDPOINT", "DB TYPE", "HOST", "PORT", "USER", "PASSWORD", "DATABASE"],
        [[side, e.get("db_type"), e.get("ip"), e.get("db_port"), e.get("db_user"), e.get("db_password"),
          e.get("db_name")] for side, e in endpoints],
    ))
    if progress is not None:
        delay = progress.get("incre_trans_delay")
        parts.append(kv_table([
            ("Progress", f"{progress.get('progress', '0')}%"),
            ("Incremental delay", "-" if delay in (None, "", "-1") else f"{delay} s"),
            ("Transfer status", progress.get("transfer_status")),
            ("Elapsed", progress.get("process_time")),
            ("Remaining", progress.get("remaining_time")),
            ("Apply rate", f"{progress.get('apply_rows_rate', 0)} rows/s"),
        ], title="Progress"))
        phases = progress.get("progress_map") or {}
        if phases:
            parts.append(table(["PHASE", "COMPLETED", "REMAINING"],
                               [[k, v.get("completed"), v.get("remaining_time")] for k, v in phases.items()
                                if isinstance(v, dict)]))
    objects = detail.get("object_infos") or []
    if objects:
        parts.append(table(["OBJECT", "TYPE", "PARENT", "MAPPED TO"],
                           [[o.get("name") or o.get("id"), o.get("type"), o.get("parent_id"),
                             o.get("alias_name")] for o in objects], title="Selected objects"))
    return Group(*parts)


def _engine(detail: dict[str, Any]) -> str:
    return str((detail.get("inst_info") or {}).get("engine_type") or "")


# --- commands -----------------------------------------------------------------------------------


@task_app.command("list")
def list_tasks(
    db_use_type: Annotated[DbUseType | None, typer.Option(
        "--db-use-type", show_default=False,
        help="migration, sync or cloudDataGuard (default: all).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only tasks in this status.")] = None,
    engine_type: Annotated[str | None, typer.Option("--engine-type", help="e.g. mysql.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Task name or comma-separated IDs.")] = None,
    output: OutputOpt = OutputFormat.table,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """List tasks (4.1.20)."""
    with cli_errors(), api(endpoint, ak, sk, project_id, profile) as client:
        filters = {k: v for k, v in (("status", status), ("engine_type", engine_type), ("name", name)) if v}
        total = 0
        jobs: list[dict[str, Any]] = []
        for use_type in [db_use_type] if db_use_type else list(DbUseType):
            body = call(client, "POST", "/v3/{project_id}/jobs",
                        {"cur_page": 1, "per_page": 0, "db_use_type": use_type.value, **filters})
            total += int(body.get("total_record") or 0)
            jobs.extend(body.get("jobs") or [])
        jobs.sort(key=lambda j: str(j.get("create_time", "")), reverse=True)
        emit({"total_record": total, "jobs": jobs}, output, jobs_table(jobs))


@task_app.command("show")
def show_task(
    job_id: Annotated[str, typer.Argument(help="Task ID.")],
    output: OutputOpt = OutputFormat.table,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Show a task: details (4.1.21) and progress (4.1.19). Passwords come back masked."""
    with cli_errors(), api(endpoint, ak, sk, project_id, profile) as client:
        detail = job_detail(client, job_id)
        body = call(client, "POST", "/v3/{project_id}/jobs/batch-progress", {"jobs": [job_id]})
        results = body.get("results") or []
        progress = results[0] if results and item_error(results[0]) is None else None
        emit({"detail": detail, "progress": progress}, output, detail_view(detail, progress))


@task_app.command("create")
def create_tasks(
    file: Annotated[str, typer.Option("--file", "-f", help="YAML or JSON task file ('-' = stdin).")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the tasks are CONFIGURATION.")] = False,
    timeout: TimeoutOpt = 120.0,
    output: OutputOpt = OutputFormat.table,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Create tasks (4.1.1) from a file in the API's field names; prints their IDs."""
    with cli_errors():
        jobs = load_jobs(file)
        with api(endpoint, ak, sk, project_id, profile) as client:
            results: list[dict[str, Any]] = []
            for start in range(0, len(jobs), BATCH_LIMIT):
                body = call(client, "POST", "/v3/{project_id}/jobs/batch-creation",
                            {"jobs": jobs[start:start + BATCH_LIMIT]})
                results.extend(body.get("results") or [])
            created = [r["id"] for r in results if r.get("id") and item_error(r) is None]
            if wait:
                for job_id in created:
                    status = wait_for(client, job_id, {"CONFIGURATION"}, {"CREATE_FAILED"}, timeout,
                                      f"creating {job_id}")
                    for r in results:
                        if r.get("id") == job_id:
                            r["status"] = status
        emit({"count": len(results), "results": results}, output, table(
            ["NAME", "ID", "STATUS", "ERROR"],
            [[r.get("name"), r.get("id"), status_text(r.get("status")),
              " ".join(item_error(r) or ())] for r in results]))
        failed = [r for r in results if item_error(r) is not None]
        if failed:
            die(f"{len(failed)} of {len(results)} tasks were not created")


@task_app.command("delete")
def delete_tasks(
    job_ids: Annotated[list[str], typer.Argument(help="Task IDs.")],
    force: Annotated[bool, typer.Option("--force", help="force_terminate: stop without a clean shutdown.")]
    = False,
    timeout: TimeoutOpt = 300.0,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Stop (4.1.14 terminate or force_terminate), wait until released, then delete."""
    with cli_errors(), api(endpoint, ak, sk, project_id, profile) as client:
        for job_id in job_ids:
            status = job_status(client, job_id)
            if status not in DELETABLE:
                if status != "RELEASE_RESOURCE_STARTED":
                    kind = "force_terminate" if force else "terminate"
                    first_item(call(client, "DELETE", "/v3/{project_id}/jobs/batch-jobs",
                                    {"jobs": [{"delete_type": kind, "job_id": job_id}]}))
                wait_for(client, job_id, {"RELEASE_RESOURCE_COMPLETE"}, {"RELEASE_RESOURCE_FAILED"}, timeout,
                         f"stopping {job_id}")
            first_item(call(client, "DELETE", "/v3/{project_id}/jobs/batch-jobs",
                            {"jobs": [{"delete_type": "delete", "job_id": job_id}]}))
            stdout().print(f"deleted task {job_id}")


@task_app.command("test-connection")
def connection_test(
    job_id: Annotated[str, typer.Argument(help="Task ID.")],
    side: Annotated[Side, typer.Option("--side", help="so = source, ta = target.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]
    = False,
    stored_password: Annotated[bool, typer.Option(
        "--stored-password", help="Use the password stored with the task (no prompt).")] = False,
    output: OutputOpt = OutputFormat.table,
    endpoint: EndpointOpt = None, ak: AkOpt = None, sk: SkOpt = None, project_id: ProjectOpt = None,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Test the task's source or target connection (4.1.2) with the endpoint stored in the task."""
    with cli_errors(), api(endpoint, ak, sk, project_id, profile) as client:
        detail = job_detail(client, job_id)
        stored = detail.get(SIDES[side]) or {}
        if not stored.get("ip"):
            die(f"task {job_id} has no {SIDES[side]} address to test")
        item: dict[str, Any] = {k: stored[k] for k in _TEST_FIELDS if stored.get(k) not in (None, "", MASK)}
        item.update(id=job_id, end_point_type=side.value, net_type=detail.get("net_type") or None)
        password = _password(stored, password_stdin, stored_password)
        if password:
            item["db_password"] = password
        body = call(client, "POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [item]})
        result = (body.get("results") or [{}])[0]
        failure = item_error(result)
        where = f"{stored.get('db_user') or ''}@{stored.get('ip')}:{stored.get('db_port') or ''}"
        role = "source" if side is Side.so else "target"
        emit(body, output, Text(f"{role} {where}: connection ok", style="green") if failure is None else None)
        if failure is not None:
            die(failure[1], failure[0])


def _password(stored: dict[str, Any], from_stdin: bool, use_stored: bool) -> str | None:
    """The password to test with; None means "the one stored with the task"."""
    if use_stored:
        return None
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n") or None
    if not sys.stdin.isatty():
        die("no terminal to prompt for the password: use --password-stdin or --stored-password")
    who = f"{stored.get('db_user') or ''}@{stored.get('ip')}"
    answer: str = click.prompt(f"Password for {who} (empty: the one stored with the task)", default="",
                               hide_input=True, show_default=False)
    return answer or None


def login(
    endpoint: Annotated[str, typer.Option("--endpoint", envvar="OPENDRS_ENDPOINT", help="API base URL.")]
    = config.DEFAULT_ENDPOINT,
    ak: Annotated[str, typer.Option("--ak", envvar="OPENDRS_AK", help="Access key.")] = "",
    project_id: Annotated[str, typer.Option(
        "--project-id", envvar="OPENDRS_PROJECT_ID",
        help="Project ID (default: the credential's project).")] = "",
    sk_stdin: Annotated[bool, typer.Option("--sk-stdin", help="Read the secret key from stdin.")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check the credential first.")] = True,
    profile: ProfileOpt = config.DEFAULT_PROFILE,
) -> None:
    """Save endpoint, AK/SK and project in the client config (mode 0600) for the task commands."""
    with cli_errors():
        if not ak:
            die("--ak is required")
        if sk_stdin:
            secret = sys.stdin.readline().strip()
        elif sys.stdin.isatty():
            secret = str(click.prompt("Secret key", hide_input=True))
        else:
            die("no terminal to prompt for the secret key: pipe it in with --sk-stdin")
        if not secret:
            die("the secret key is empty")
        endpoint = endpoint.rstrip("/")
        if verify:
            project_id = _verified_project(endpoint, ak, secret, project_id)
        elif not project_id:
            die("--project-id is required with --no-verify")
        path = config.save_profile(config.ClientConfig(endpoint, ak, secret, project_id), profile)
        stdout().print(f"saved profile {profile!r} ({ak} on {endpoint}, project {project_id}) to {path}")


def _verified_project(endpoint: str, ak: str, sk: str, project_id: str) -> str:
    """Ask the server which project the credential acts on (GET /v3/projects); check it matches."""
    try:
        with DrsHttpClient(endpoint, ak, sk, project_id, timeout=15) as client:
            projects = call(client, "GET", "/v3/projects").get("projects") or []
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach OpenDRS at {endpoint}: {exc}") from exc
    if not projects:
        die("the server returned no project for this credential")
    actual = str(projects[0].get("id", ""))
    if project_id and project_id != actual:
        die(f"credential {ak} belongs to project {actual}, not {project_id}")
    return actual


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
    app.command("login")(login)
