"""The comparison service (003 §4.1.17–§4.1.37, issue 5): runs comparisons and keeps their results.

A comparison run ("compare job" in the spec) compares one task's source and target: ``objects``
(object-level), ``lines`` (row counts) or ``contents`` (values, down to the differing rows). The
work itself is ``opendrs.compare.api`` (engine-neutral, over per-engine dialects); this module
owns the lifecycle around it:

* runs are stored (``store.compare_repo``) and start at their ``start_time`` (now, or scheduled);
  a small thread pool owned by ``CompareService`` runs them, a timer thread starts due ones;
* per-table results are stored as each table completes, so the overview APIs show live progress;
* cancelling is cooperative (the engine checks ``stop`` between chunks);
* after a server restart, runs that were RUNNING are marked FAILED ("interrupted by a server
  restart") rather than silently re-run: a comparison's verdict is only meaningful for the moment
  it ran, and the user decides whether to compare again. Scheduled (WAITING) runs keep waiting.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from opendrs.errors import DrsError, InvalidStatus, MissingQueryResult, NotAvailableYet
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.extras import load_job
from opendrs.jobs.model import Job, now_ms
from opendrs.store.compare_repo import (
    UNFINISHED,
    CompareRepo,
    CompareRun,
    DiffRecord,
    ObjectRecord,
    TableOutcome,
)

if TYPE_CHECKING:
    from opendrs.compare.api import CompareScope, ObjectDiff, TableResult

log = logging.getLogger("opendrs.compare.service")

OBJECTS, LINES, CONTENTS = "objects", "lines", "contents"
DATA_KINDS = (LINES, CONTENTS)
# DB types whose source->target pairs the comparison core handles (same engine on both sides).
COMPARABLE_DB_TYPES = frozenset({"mysql", "postgresql"})
FINAL_TABLE = frozenset({"consistent", "inconsistent", "failed", "uncomparable", "cancelled"})
MAX_DIFFS_PER_TABLE = 1000
DEFAULT_SETTLE_SECONDS = 30.0
PROGRESS_SECONDS = 0.5  # how often a table's in-between progress is stored


class CompareStatus(StrEnum):
    """``compare_task_status`` (4.1.18) / ``status`` (4.1.24, 4.1.34), the spec's words."""

    WAITING = "WAITING_FOR_RUNNING"
    RUNNING = "RUNNING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


def settle_seconds(svc: Services) -> float:
    """How long rows that differ are re-checked before being reported (CDC changes in flight).

    ``Settings.compare_settle_seconds`` when the settings have it, else ``$OPENDRS_COMPARE_SETTLE_SECONDS``.
    """
    configured = getattr(svc.settings, "compare_settle_seconds", None)
    try:
        return float(configured if configured is not None else
                     os.environ.get("OPENDRS_COMPARE_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS))
    except ValueError:
        return DEFAULT_SETTLE_SECONDS


def compare_engine(job: Job) -> str | None:
    """The engine a task's comparison runs on, or None when no comparison engine fits the task."""
    try:
        scenario = scenario_for(job.db_use_type, job.engine_type)
    except DrsError:
        return None
    if scenario.source_db_type == scenario.target_db_type and scenario.source_db_type in COMPARABLE_DB_TYPES:
        return scenario.source_db_type
    return None


def require_comparable(job: Job, what: str) -> None:
    if compare_engine(job) is None:
        raise NotAvailableYet(f"{what} is not available for engine_type {job.engine_type} yet")


# --- conversions from the engine's results --------------------------------------------------------


def _outcome(result: TableResult) -> tuple[TableOutcome, list[DiffRecord]]:
    # Reports between chunks (and while differences are re-checked) are provisional: ``final`` says done.
    done = result.final and result.status in FINAL_TABLE
    diffs = [DiffRecord(kind=d.kind, key_columns=list(d.key_columns), key=list(d.key), source_row=d.source_row,
                        target_row=d.target_row, source_sql=d.select_sql, target_sql=d.target_select_sql)
             for d in result.diffs]
    kinds = {k: sum(1 for d in diffs if d.kind == k) for k in ("missing", "extra", "changed")}
    outcome = TableOutcome(
        source_db=result.source.schema, source_table=result.source.name, target_db=result.target.schema,
        target_table=result.target.name, status=result.status if done else "running",
        source_rows=result.source_rows, target_rows=result.target_rows, diff_count=result.diff_count,
        message=result.message, chunks_done=result.chunks_done, chunks_total=result.chunks_total,
        seconds=result.seconds, **kinds)
    return outcome, diffs


def _object_record(diff: ObjectDiff) -> ObjectRecord:
    return ObjectRecord(object_type=diff.object_type, source_db=diff.source_db, target_db=diff.target_db,
                        source_value=diff.source_value, target_value=diff.target_value, status=diff.status,
                        message=diff.message)


def table_results(outcomes: Sequence[TableOutcome], diffs: Sequence[DiffRecord]) -> list[TableResult]:
    """Stored outcomes back into the engine's ``TableResult`` (for repair)."""
    from opendrs.compare.api import RowDiff, TableResult
    from opendrs.pipeline.model import TableRef

    by_table: dict[tuple[str, str], list[RowDiff]] = {}
    for d in diffs:
        by_table.setdefault((d.source_db, d.source_table), []).append(RowDiff(
            kind=d.kind, key_columns=tuple(d.key_columns), key=tuple(d.key), source_row=d.source_row,
            target_row=d.target_row, select_sql=d.source_sql, target_select_sql=d.target_sql))
    return [TableResult(source=TableRef(o.source_db, o.source_table), target=TableRef(o.target_db, o.target_table),
                        kind=CONTENTS, source_rows=o.source_rows, target_rows=o.target_rows, status=o.status,
                        diff_count=o.diff_count, diffs=by_table.get((o.source_db, o.source_table), []),
                        message=o.message)
            for o in outcomes]


# --- the service ----------------------------------------------------------------------------------


@dataclass
class _Active:
    stop: threading.Event


class CompareService:
    """Owns the worker threads and the scheduler thread; one per ``Services`` (see ``compare_service``).

    The threads are daemons: a server that stops does not wait for a long comparison (the run is
    then marked FAILED by ``recover`` at the next start).
    """

    def __init__(self, services: Services, workers: int = 2, poll_seconds: float = 0.5) -> None:
        self.svc = services
        self.poll_seconds = poll_seconds
        self.workers = workers
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._timer: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._threads = [threading.Thread(target=self._work, name=f"opendrs-compare-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()
        self._timer = threading.Thread(target=self._loop, name="opendrs-compare-timer", daemon=True)
        self._timer.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        self._halt.set()
        self._wake.set()
        with self._lock:
            for active in self._active.values():
                active.stop.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, *([self._timer] if self._timer else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))

    def recover(self) -> None:
        """Runs left RUNNING by a previous process cannot be resumed mid-table: mark them FAILED."""
        with self.svc.store.session() as s:
            repo = CompareRepo(s)
            for run in repo.unfinished():
                if run.status == CompareStatus.RUNNING:
                    repo.set_status(run.id, CompareStatus.FAILED, only_from=[CompareStatus.RUNNING],
                                    end_time=now_ms(), error_msg="interrupted by a server restart; compare again")
                    repo.finish_waiting(run.id, "cancelled", "interrupted by a server restart")

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._halt.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("comparison scheduler tick failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def tick(self) -> None:
        """Hand every due, waiting run to the pool (once)."""
        with self.svc.store.session() as s:
            waiting = [r for r in CompareRepo(s).unfinished() if r.status == CompareStatus.WAITING]
        now = now_ms()
        for run in waiting:
            if run.start_time > now:
                continue
            with self._lock:
                if run.id in self._active or self._halt.is_set():
                    continue
                self._active[run.id] = _Active(threading.Event())
            self._queue.put(run.id)

    def cancel(self, compare_id: str) -> bool:
        """Cancel a waiting or running run; False when it was already over."""
        with self.svc.store.session() as s:
            changed = CompareRepo(s).set_status(compare_id, CompareStatus.CANCELLED, only_from=UNFINISHED,
                                                end_time=now_ms())
            if changed:
                CompareRepo(s).finish_waiting(compare_id, "cancelled", "comparison cancelled")
        with self._lock:
            active = self._active.get(compare_id)
        if active is not None:
            active.stop.set()
        return changed

    # --- one run ---------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            compare_id = self._queue.get()
            if compare_id is None:
                return
            self._execute(compare_id)

    def _execute(self, compare_id: str) -> None:
        with self._lock:
            active = self._active.get(compare_id)
        stop = active.stop if active is not None else threading.Event()
        try:
            with self.svc.store.session() as s:
                repo = CompareRepo(s)
                run = repo.get(compare_id)
                if run is None or not repo.set_status(compare_id, CompareStatus.RUNNING,
                                                      only_from=[CompareStatus.WAITING], started_at=now_ms()):
                    return
            self._run(run, stop)
            self._finish(compare_id, CompareStatus.SUCCESSFUL, "")
        except DrsError as exc:
            log.warning("comparison %s failed: %s (%s)", compare_id, exc.error_msg, exc.detail)
            self._finish(compare_id, CompareStatus.FAILED, exc.error_msg + (f" {exc.detail}" if exc.detail else ""))
        except Exception as exc:
            log.exception("comparison %s failed", compare_id)
            self._finish(compare_id, CompareStatus.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._active.pop(compare_id, None)

    def _finish(self, compare_id: str, status: CompareStatus, message: str) -> None:
        with self.svc.store.session() as s:
            repo = CompareRepo(s)
            repo.set_status(compare_id, status, only_from=[CompareStatus.RUNNING], end_time=now_ms(),
                            error_msg=message[:4000])
            repo.finish_waiting(compare_id, "cancelled" if status is CompareStatus.SUCCESSFUL else "failed",
                                message or "not compared")

    def _run(self, run: CompareRun, stop: threading.Event) -> None:
        from opendrs.compare import api as core

        job = load_job(self.svc, run.project_id, run.job_id)
        scope = scope_for(self.svc, job)
        if run.kind == OBJECTS:
            found = core.compare_objects(scope, stop=stop.is_set)
            with self.svc.store.session() as s:
                CompareRepo(s).put_objects(run.id, [_object_record(d) for d in found])
            return
        pairs = select_tables(core.list_tables(scope), run.objects)
        planned = {(a.schema, a.name) for a, _ in pairs}
        # Tables the request names that the task does not replicate are reported, not silently dropped.
        unknown = [TableOutcome(item["db_name"], name, item["db_name"], name, status="uncomparable",
                                message="the table is not in the task's object selection")
                   for item in run.objects or [] for name in item.get("table_name") or []
                   if (item["db_name"], name) not in planned]
        with self.svc.store.session() as s:
            CompareRepo(s).plan_tables(run.id, [TableOutcome(a.schema, a.name, b.schema, b.name) for a, b in pairs]
                                       + unknown)
            for outcome in unknown:
                CompareRepo(s).put_table(run.id, outcome, [])

        last_write: dict[tuple[str, str], tuple[float, int]] = {}

        def progress(result: TableResult) -> None:
            outcome, diffs = _outcome(result)
            key = (outcome.source_db, outcome.source_table)
            if outcome.status == "running":
                # Between chunks: counts only, at most twice a second per table -- but a change in
                # the provisional difference count is always shown (the settle phase may be long).
                at, count = last_write.get(key, (0.0, 0))
                if time.monotonic() - at < PROGRESS_SECONDS and count == outcome.diff_count:
                    return
                last_write[key] = (time.monotonic(), outcome.diff_count)
                with self.svc.store.session() as s:
                    CompareRepo(s).put_table(run.id, outcome, None)
                return
            with self.svc.store.session() as s:
                CompareRepo(s).put_table(run.id, outcome, diffs)

        if not pairs:
            return
        results = core.compare_tables(scope, run.kind, [a for a, _ in pairs], progress=progress, stop=stop.is_set,
                                      settle_seconds=settle_seconds(self.svc), max_diffs=MAX_DIFFS_PER_TABLE)
        for result in results:
            progress(result)


def scope_for(svc: Services, job: Job) -> CompareScope:
    """The engine's view of the task; a task the core cannot compare fails with a clear message."""
    from opendrs.compare import api as core

    try:
        return core.scope_for_job(svc, job)
    except DrsError:
        raise
    except (NotImplementedError, KeyError, ValueError) as exc:
        raise NotAvailableYet(f"comparison is not available for engine_type {job.engine_type} yet",
                              detail=str(exc)) from exc


def select_tables(pairs: Sequence[tuple[Any, Any]], objects: list[Any] | None) -> list[tuple[Any, Any]]:
    """The (source, target) tables a request names: ``[{db_name, table_name[]}]``; None/[] = all."""
    if not objects:
        return list(pairs)
    wanted: dict[str, set[str] | None] = {}
    for item in objects:
        names = item.get("table_name") or None
        if item["db_name"] in wanted and (wanted[item["db_name"]] is None or names is None):
            wanted[item["db_name"]] = None
        else:
            wanted[item["db_name"]] = (wanted.get(item["db_name"]) or set()) | set(names or []) or None
    return [(a, b) for a, b in pairs
            if a.schema in wanted and (wanted[a.schema] is None or a.name in (wanted[a.schema] or ()))]


# --- process-wide instance ----------------------------------------------------------------------

_SERVICES: dict[int, CompareService] = {}
_SERVICES_LOCK = threading.Lock()


def compare_service(svc: Services) -> CompareService:
    """The running service of this process, started (with restart recovery) on first use."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(id(svc))
        if service is None or service.svc is not svc:
            service = CompareService(svc)
            service.start()
            _SERVICES[id(svc)] = service
        return service


def stop_compare_service(svc: Services) -> None:
    with _SERVICES_LOCK:
        service = _SERVICES.pop(id(svc), None)
    if service is not None:
        service.shutdown()


# --- use cases ------------------------------------------------------------------------------------


def create_run(svc: Services, job: Job, kind: str, objects: list[dict[str, Any]] | None = None,
               options: dict[str, str] | None = None, start_time: int | None = None) -> CompareRun:
    """Store a new run; it starts at ``start_time`` (epoch ms, None/past = at once)."""
    service = compare_service(svc)
    now = now_ms()
    run = CompareRun(id=str(uuid.uuid4()), job_id=job.id, project_id=job.project_id, kind=kind,
                     status=CompareStatus.WAITING, create_time=now, start_time=start_time or now,
                     objects=objects or None, options=dict(options or {}))
    with svc.store.session() as s:
        CompareRepo(s).add(run)
    service.wake()
    return run


def parse_start_time(value: str | None) -> int | None:
    return int(value) if value else None


def unfinished_data_runs(svc: Services, job_id: str) -> list[CompareRun]:
    with svc.store.session() as s:
        return [r for r in CompareRepo(s).unfinished(job_id) if r.kind in DATA_KINDS]


def get_run(svc: Services, job: Job, compare_id: str, kinds: Sequence[str] | None = None) -> CompareRun:
    """One run of this task (of one of ``kinds``), else DRS.M00289."""
    compare_service(svc)  # restart recovery has run before anything is read
    with svc.store.session() as s:
        run = CompareRepo(s).get(compare_id, job.id)
    if run is None or (kinds is not None and run.kind not in kinds):
        what = "/".join(kinds) if kinds else "comparison"
        raise MissingQueryResult(f"no {what} comparison {compare_id} for this task",
                                 detail=f"task {job.id}")
    return run


def cancel_run(svc: Services, job: Job, compare_id: str) -> None:
    run = get_run(svc, job, compare_id)
    if run.finished:
        raise InvalidStatus(detail=f"comparison {compare_id} is already {run.status}")
    compare_service(svc).cancel(compare_id)


def start_now(svc: Services, job: Job, compare_id: str) -> None:
    """4.1.27: a scheduled run starts at once."""
    run = get_run(svc, job, compare_id, DATA_KINDS)
    if run.status != CompareStatus.WAITING:
        raise InvalidStatus(detail=f"comparison {compare_id} is {run.status}, not waiting to start")
    with svc.store.session() as s:
        CompareRepo(s).set_status(compare_id, CompareStatus.WAITING, only_from=[CompareStatus.WAITING],
                                  start_time=now_ms())
    compare_service(svc).wake()


def repair_run(svc: Services, job: Job, compare_id: str, dry_run: bool) -> dict[str, Any]:
    """Beyond the spec: the target SQL that brings the differing rows in line (run unless ``dry_run``)."""
    from opendrs.compare import api as core

    require_comparable(job, "data repair")
    run = get_run(svc, job, compare_id, [CONTENTS])
    if run.status != CompareStatus.SUCCESSFUL:
        raise InvalidStatus(detail=f"comparison {compare_id} is {run.status}; repair needs a finished one")
    with svc.store.session() as s:
        repo = CompareRepo(s)
        _, outcomes = repo.tables(compare_id)
        _, _, diffs = repo.diffs(compare_id)
    stored = Counter((d.source_db, d.source_table) for d in diffs)
    # Tables with more differences than stored (or missing on a side) cannot be repaired row by row.
    partial = {(o.source_db, o.source_table) for o in outcomes
               if o.status == "inconsistent" and o.diff_count > stored[(o.source_db, o.source_table)]}
    results = [r for r in table_results(outcomes, diffs)
               if r.status == "inconsistent" and (r.source.schema, r.source.name) not in partial]
    scope = scope_for(svc, job)
    statements = core.repair(scope, results, dry_run)
    return {"compare_job_id": compare_id, "dry_run": dry_run, "executed": not dry_run,
            "statement_count": len(statements), "statements": statements,
            "incomplete_tables": sorted(f"{db}.{table}" for db, table in partial)}
