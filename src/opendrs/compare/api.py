"""The comparison's public interface: what the service layer (jobs/compare.py) and the CLI call.

Contract in one place: ``scope_for_job`` turns a task into a ``CompareScope``; ``list_tables``,
``compare_objects``, ``compare_tables``, ``repair_statements`` and ``repair`` work on a scope
and return plain results (model.py). Long calls are cooperative: ``stop()`` is polled between
chunks, and ``progress(result)`` is called with a table's result whenever it changes (the last
call for a table carries its final result, as does the returned list).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opendrs.compare.catalog import dialect_for, selected_tables
from opendrs.compare.dialect import ByteBudget, CompareDialect, CompareSession
from opendrs.compare.model import (
    CONSISTENT,
    FAILED,
    INCONSISTENT,
    CompareScope,
    ObjectDiff,
    RowDiff,
    TableResult,
)
from opendrs.compare.objects import compare_objects as _compare_objects
from opendrs.compare.repair import repair as _repair
from opendrs.compare.repair import repair_statements as _repair_statements
from opendrs.compare.rows import (
    SOURCE,
    TARGET,
    SideError,
    Stopped,
    TableComparer,
    Tuning,
    failed,
    plan_table,
    settle,
    uncomparable,
)
from opendrs.errors import DrsError, InvalidParameter
from opendrs.pipeline.model import TableRef

if TYPE_CHECKING:
    from opendrs.jobs.context import Services
    from opendrs.jobs.model import Job

KINDS = ("lines", "contents")
STOPPED_MESSAGE = "the comparison was stopped before this table was finished"

__all__ = [
    "CompareScope",
    "ObjectDiff",
    "RowDiff",
    "TableResult",
    "compare_objects",
    "compare_tables",
    "list_tables",
    "repair",
    "repair_statements",
    "scope_for_job",
]


def scope_for_job(services: Services, job: Job) -> CompareScope:
    """The scope of a task: its endpoints, selection with renames, row filters and current speed limit."""
    from opendrs.jobs.connections import endpoint_config
    from opendrs.jobs.speed import current_limit_mb
    from opendrs.pipeline.selection import Selection, row_filters

    engine = "postgresql" if job.engine_type.startswith("postgres") else "mysql"
    limit = current_limit_mb(job.config.get("speed_limit") or [], datetime.now(UTC))
    return CompareScope(
        engine_type=engine,
        source=endpoint_config(services, job.config.get("source_endpoint") or {}),
        target=endpoint_config(services, job.config.get("target_endpoint") or {}),
        selection=Selection.from_config(job.config),
        row_filters=row_filters(job.config),
        limit_mb=float(limit) if limit is not None else None,
    )


def list_tables(scope: CompareScope) -> list[tuple[TableRef, TableRef]]:
    """(source, target) of every base table the selection includes, by source name."""
    dialect = dialect_for(scope.engine_type)
    session = dialect.connect(scope.source, scope.source.db_name)
    try:
        return [(ref, scope.selection.target(ref)) for ref in selected_tables(dialect, session, scope)]
    finally:
        session.close()


def compare_objects(scope: CompareScope, stop: Callable[[], bool] = lambda: False) -> list[ObjectDiff]:
    """Every selected object on either side with its status (consistent, missing, extra, different)."""
    return _compare_objects(scope, stop)


def repair_statements(scope: CompareScope, results: Sequence[TableResult]) -> list[str]:
    """Target SQL that brings the reported rows in line with the source (DELETE extra, INSERT, UPDATE)."""
    return _repair_statements(scope, results)


def repair(scope: CompareScope, results: Sequence[TableResult], dry_run: bool) -> list[str]:
    """``dry_run``: the SQL only; else run it on the target, one transaction per table, and return it."""
    return _repair(scope, results, dry_run)


def compare_tables(scope: CompareScope, kind: str, tables: Sequence[TableRef] | None = None, *,
                   progress: Callable[[TableResult], None] | None = None,
                   stop: Callable[[], bool] = lambda: False,
                   settle_seconds: float = 30.0, max_diffs: int = 1000) -> list[TableResult]:
    """Compare row counts (``lines``) or contents (``contents``) of the selected tables.

    ``tables`` are source TableRefs (None = the whole selection). Differences are re-checked for
    up to ``settle_seconds`` and only those that still hold are reported. A source connection
    failure with ``tables`` None raises (there is no table list to report on); any other
    failure is a FAILED result naming the side. When stopped, the table in progress is FAILED
    with ``STOPPED_MESSAGE`` and later tables are left out.
    """
    if kind not in KINDS:
        raise InvalidParameter("compare_type", detail=f"kind must be one of {KINDS}, not {kind!r}")
    dialect = dialect_for(scope.engine_type)
    sel = scope.selection
    try:
        src = dialect.connect(scope.source, scope.source.db_name)
    except DrsError as exc:
        if tables is None:
            raise
        return [failed(t, sel.target(t), kind, exc.error_msg, SOURCE) for t in tables]
    try:
        refs = list(tables) if tables is not None else selected_tables(dialect, src, scope)
        try:
            tgt = dialect.connect(scope.target, dialect.target_database(scope.source, scope.target))
        except DrsError as exc:
            return [failed(t, sel.target(t), kind, exc.error_msg, TARGET) for t in refs]
        try:
            dialect.prepare(src, tgt)
            return _Run(dialect, src, tgt, scope, kind, progress, stop, settle_seconds, max_diffs).run(refs)
        finally:
            tgt.close()
    finally:
        src.close()


class _Run:
    """One compare_tables call: tables in order, then one shared settle phase."""

    def __init__(self, dialect: CompareDialect, src: CompareSession, tgt: CompareSession, scope: CompareScope,
                 kind: str, progress: Callable[[TableResult], None] | None, stop: Callable[[], bool],
                 settle_seconds: float, max_diffs: int) -> None:
        self.d, self.src, self.tgt, self.scope, self.kind = dialect, src, tgt, scope, kind
        self.progress, self.stop, self.settle_seconds, self.max_diffs = progress, stop, settle_seconds, max_diffs
        self.budget = ByteBudget(scope.limit_mb)
        self.tuning = Tuning(chunk_rows=scope.chunk_rows)

    def _emit(self, result: TableResult) -> None:
        if self.progress is not None:
            self.progress(result)

    def run(self, refs: Sequence[TableRef]) -> list[TableResult]:
        results: list[TableResult] = []
        comparers: list[TableComparer] = []
        line_checks: list[tuple[TableResult, str | None]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="opendrs-compare") as pool:
            for ref in refs:
                target = self.scope.selection.target(ref)
                if self.stop():
                    break
                try:
                    result, comparer = self._one(ref, target, pool)
                except Stopped:
                    stopped = failed(ref, target, self.kind, STOPPED_MESSAGE)
                    self._emit(stopped)
                    results.append(stopped)
                    return results
                results.append(result)
                recheck = self.settle_seconds > 0 and result.status == INCONSISTENT and result.missing is None
                if comparer is not None and recheck:
                    comparers.append(comparer)
                elif recheck:
                    line_checks.append((result, self.scope.row_filters.get(ref)))
                result.final = not recheck
                self._emit(result)
            started = time.monotonic()
            if comparers:
                settle(comparers, self.settle_seconds, self.stop)
                for c in comparers:
                    c.finish()
                    c.result.seconds += time.monotonic() - started
            if line_checks:
                self._settle_lines(line_checks, started)
            for res in [c.result for c in comparers] + [r for r, _ in line_checks]:
                res.final = True
                self._emit(res)
        return results

    def _one(self, ref: TableRef, target: TableRef, pool: ThreadPoolExecutor) -> tuple[TableResult,
                                                                                         TableComparer | None]:
        started = time.monotonic()
        try:
            s_info = self.d.table_info(self.src, ref)
        except DrsError as exc:
            return failed(ref, target, self.kind, exc.error_msg, SOURCE), None
        try:
            t_info = self.d.table_info(self.tgt, target)
        except DrsError as exc:
            return failed(ref, target, self.kind, exc.error_msg, TARGET), None
        if s_info is None or t_info is None:
            side = "both" if s_info is None and t_info is None else SOURCE if s_info is None else TARGET
            where = {"both": "on neither side", SOURCE: "on the source", TARGET: "on the target"}[side]
            res = TableResult(ref, target, self.kind, 0, 0, INCONSISTENT, 0, [], message=f"the table does not exist "
                              f"{where}", missing=side)
            if side == TARGET:
                try:
                    res.source_rows = self._count(self.src, ref, self.scope.row_filters.get(ref))
                except DrsError as exc:
                    res.message += f"; counting the source failed: {exc.error_msg}"
                res.diff_count = res.source_rows
            return res, None
        plan = plan_table(ref, target, s_info, t_info, self.scope.row_filters.get(ref))
        if not plan.columns:
            return uncomparable(ref, target, self.kind, "the two tables have no column in common"), None
        if self.kind == "lines":
            return self._lines(ref, target, plan.row_filter, started), None
        comparer = TableComparer(self.d, self.src, self.tgt, plan, pool, self.budget, self.stop, self.tuning,
                                 self.max_diffs, self._emit)
        try:
            return comparer.run(), comparer
        except SideError as exc:
            res = comparer.result
            res.status, res.failed_side = FAILED, exc.side
            res.message = f"{res.message}; {exc}" if res.message else str(exc)
            return res, None

    def _count(self, session: CompareSession, ref: TableRef, row_filter: str | None) -> int:
        where = f" WHERE ({row_filter})" if row_filter else ""
        return int(session.query(f"SELECT COUNT(*) FROM {self.d.table_sql(ref)}{where}")[0][0])

    def _lines(self, ref: TableRef, target: TableRef, row_filter: str | None, started: float) -> TableResult:
        res = TableResult(ref, target, "lines", 0, 0, CONSISTENT, 0, [], chunks_total=1)
        for side, session, table in ((SOURCE, self.src, ref), (TARGET, self.tgt, target)):
            try:
                n = self._count(session, table, row_filter)
            except DrsError as exc:
                res.status, res.failed_side, res.message = FAILED, side, exc.error_msg
                return res
            if side == SOURCE:
                res.source_rows = n
            else:
                res.target_rows = n
        res.chunks_done = 1
        res.diff_count = abs(res.source_rows - res.target_rows)
        res.status = INCONSISTENT if res.diff_count else CONSISTENT
        res.seconds = time.monotonic() - started
        return res

    def _settle_lines(self, checks: list[tuple[TableResult, str | None]], started: float) -> None:
        """Re-count tables whose counts differ until they agree or the settle time is over."""
        deadline = started + self.settle_seconds
        waiting = list(checks)
        while waiting and time.monotonic() < deadline and not self.stop():
            time.sleep(min(1.5, max(deadline - time.monotonic(), 0)))
            still = []
            for res, row_filter in waiting:
                fresh = self._lines(res.source, res.target, row_filter, time.monotonic())
                res.source_rows, res.target_rows = fresh.source_rows, fresh.target_rows
                res.diff_count, res.status = fresh.diff_count, fresh.status
                if fresh.status == FAILED:
                    res.failed_side, res.message = fresh.failed_side, fresh.message
                self._emit(res)
                if res.status == INCONSISTENT:
                    still.append((res, row_filter))
            waiting = still
