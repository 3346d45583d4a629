"""Repository of comparison runs and their results (issue 5): the only code touching those rows.

A run (``CompareRun``) is one comparison of a task. Lines/contents runs get one ``TableOutcome``
per table, written when the table completes so the overview APIs show live progress; contents
runs keep the differing rows (``DiffRecord``, capped per table by the engine); object runs keep
one ``ObjectRecord`` per object compared.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from opendrs.store.models import CompareDiffRow, CompareJobRow, CompareObjectRow, CompareTableRow

# compare_task_status words (DIGEST §4c) a run can be in before it is over.
UNFINISHED = ("WAITING_FOR_RUNNING", "RUNNING")
# Table statuses before its outcome is known.
PENDING = ("waiting", "running")


@dataclass
class CompareRun:
    id: str
    job_id: str
    project_id: str
    kind: str
    status: str
    create_time: int
    start_time: int
    objects: list[Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    started_at: int | None = None
    end_time: int | None = None
    error_msg: str = ""
    tables_total: int = 0
    tables_done: int = 0
    export_status: str | None = None
    export_time: int | None = None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


@dataclass
class TableOutcome:
    source_db: str
    source_table: str
    target_db: str
    target_table: str
    status: str = "waiting"
    source_rows: int = 0
    target_rows: int = 0
    diff_count: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    message: str = ""
    chunks_done: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    id: int | None = None


@dataclass
class DiffRecord:
    kind: str
    key_columns: list[str]
    key: list[str | None]
    source_row: dict[str, Any] | None
    target_row: dict[str, Any] | None
    source_sql: str = ""
    target_sql: str = ""
    source_db: str = ""
    source_table: str = ""


@dataclass
class ObjectRecord:
    object_type: str
    source_db: str | None
    target_db: str | None
    source_value: str | None
    target_value: str | None
    status: str
    message: str = ""


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


_RUN = _names(CompareRun)
_TABLE = [n for n in _names(TableOutcome) if n != "id"]
_DIFF = [n for n in _names(DiffRecord) if n not in ("source_db", "source_table")]
_OBJECT = _names(ObjectRecord)


def _run(row: CompareJobRow) -> CompareRun:
    run = CompareRun(**{n: getattr(row, n) for n in _RUN})
    run.options = dict(run.options or {})
    return run


def _table(row: CompareTableRow) -> TableOutcome:
    return TableOutcome(id=row.id, **{n: getattr(row, n) for n in _TABLE})


@dataclass(frozen=True)
class TableQuery:
    """Filters of 4.1.29 / 4.1.31 (None = any)."""

    source_db: str | None = None
    target_db: str | None = None
    table_like: str | None = None
    statuses: tuple[str, ...] | None = None


class CompareRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # --- runs ---------------------------------------------------------------------------------
    def add(self, run: CompareRun) -> None:
        self.s.add(CompareJobRow(**{n: getattr(run, n) for n in _RUN}))
        self.s.flush()

    def get(self, compare_id: str, job_id: str | None = None) -> CompareRun | None:
        row = self.s.get(CompareJobRow, compare_id)
        if row is None or (job_id is not None and row.job_id != job_id):
            return None
        return _run(row)

    def save(self, run: CompareRun) -> None:
        row = self.s.get(CompareJobRow, run.id)
        if row is None:
            self.add(run)
            return
        for n in _RUN:
            setattr(row, n, getattr(run, n))

    def set_status(self, compare_id: str, status: str, *, only_from: Sequence[str] | None = None,
                   **values: Any) -> bool:
        """Compare-and-set the status (so a cancel and a finishing worker cannot both win)."""
        stmt = update(CompareJobRow).where(CompareJobRow.id == compare_id)
        if only_from is not None:
            stmt = stmt.where(CompareJobRow.status.in_(list(only_from)))
        result = self.s.execute(stmt.values(status=status, **values))
        return bool(getattr(result, "rowcount", 0))

    def set_export(self, compare_id: str, export_status: str, export_time: int | None) -> None:
        self.s.execute(update(CompareJobRow).where(CompareJobRow.id == compare_id)
                       .values(export_status=export_status, export_time=export_time))

    def list(self, job_id: str, kinds: Iterable[str] | None = None, offset: int = 0,
             limit: int | None = None) -> tuple[int, builtins.list[CompareRun]]:
        """Newest first."""
        stmt = select(CompareJobRow).where(CompareJobRow.job_id == job_id)
        if kinds is not None:
            stmt = stmt.where(CompareJobRow.kind.in_(list(kinds)))
        total = self.s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        stmt = stmt.order_by(CompareJobRow.create_time.desc(), CompareJobRow.id).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return int(total), [_run(r) for r in self.s.scalars(stmt)]

    def latest(self, job_id: str, kind: str) -> CompareRun | None:
        _, runs = self.list(job_id, [kind], 0, 1)
        return runs[0] if runs else None

    def unfinished(self, job_id: str | None = None) -> builtins.list[CompareRun]:
        stmt = select(CompareJobRow).where(CompareJobRow.status.in_(UNFINISHED))
        if job_id is not None:
            stmt = stmt.where(CompareJobRow.job_id == job_id)
        return [_run(r) for r in self.s.scalars(stmt.order_by(CompareJobRow.start_time))]

    # --- table results ------------------------------------------------------------------------
    def plan_tables(self, compare_id: str, tables: Sequence[TableOutcome]) -> None:
        """The tables a run will compare, all ``waiting``: the overview counts them from the start."""
        self.s.execute(delete(CompareTableRow).where(CompareTableRow.compare_id == compare_id))
        for t in tables:
            self.s.add(CompareTableRow(compare_id=compare_id, **{n: getattr(t, n) for n in _TABLE}))
        self.s.execute(update(CompareJobRow).where(CompareJobRow.id == compare_id)
                       .values(tables_total=len(tables), tables_done=0))

    def put_table(self, compare_id: str, outcome: TableOutcome, diffs: Sequence[DiffRecord] | None) -> None:
        """Store a table's outcome (replacing an earlier one); count it done once it is final.

        ``diffs`` replace the stored differing rows; None keeps them (progress between chunks).
        """
        row = self.s.scalars(select(CompareTableRow).where(
            CompareTableRow.compare_id == compare_id, CompareTableRow.source_db == outcome.source_db,
            CompareTableRow.source_table == outcome.source_table)).first()
        was_done = row is not None and row.status not in PENDING
        if row is None:
            row = CompareTableRow(compare_id=compare_id)
            self.s.add(row)
        for n in _TABLE:
            setattr(row, n, getattr(outcome, n))
        self.s.flush()
        if diffs is not None:
            self.s.execute(delete(CompareDiffRow).where(CompareDiffRow.table_id == row.id))
            for d in diffs:
                self.s.add(CompareDiffRow(table_id=row.id, **{n: getattr(d, n) for n in _DIFF}))
        if not was_done and outcome.status not in PENDING:
            self.s.execute(update(CompareJobRow).where(CompareJobRow.id == compare_id)
                           .values(tables_done=CompareJobRow.tables_done + 1))

    def finish_waiting(self, compare_id: str, status: str, message: str) -> None:
        """Tables never reached (cancel, failure) get a final status instead of ``waiting``."""
        self.s.execute(update(CompareTableRow).where(
            CompareTableRow.compare_id == compare_id, CompareTableRow.status == "waiting"
        ).values(status=status, message=message))

    def tables(self, compare_id: str, query: TableQuery | None = None, offset: int = 0,
               limit: int | None = None) -> tuple[int, builtins.list[TableOutcome]]:
        q = query or TableQuery()
        stmt = select(CompareTableRow).where(CompareTableRow.compare_id == compare_id)
        if q.source_db is not None:
            stmt = stmt.where(CompareTableRow.source_db == q.source_db)
        if q.target_db is not None:
            stmt = stmt.where(CompareTableRow.target_db == q.target_db)
        if q.table_like:
            stmt = stmt.where(CompareTableRow.source_table.contains(q.table_like, autoescape=True))
        if q.statuses is not None:
            stmt = stmt.where(CompareTableRow.status.in_(list(q.statuses)))
        total = self.s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        stmt = stmt.order_by(CompareTableRow.source_db, CompareTableRow.source_table).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return int(total), [_table(r) for r in self.s.scalars(stmt)]

    def diffs(self, compare_id: str, source_db: str | None = None, source_table: str | None = None,
              offset: int = 0, limit: int | None = None) -> tuple[int, dict[str, int], builtins.list[DiffRecord]]:
        """Stored differing rows: (how many, how many per kind, one page of them)."""
        stmt = (select(CompareDiffRow, CompareTableRow.source_db, CompareTableRow.source_table)
                .join(CompareTableRow, CompareDiffRow.table_id == CompareTableRow.id)
                .where(CompareTableRow.compare_id == compare_id))
        if source_db is not None:
            stmt = stmt.where(CompareTableRow.source_db == source_db)
        if source_table is not None:
            stmt = stmt.where(CompareTableRow.source_table == source_table)
        sub = stmt.subquery()
        kinds = {str(k): int(n) for k, n in self.s.execute(
            select(sub.c.kind, func.count()).group_by(sub.c.kind))}
        stmt = stmt.order_by(CompareTableRow.source_db, CompareTableRow.source_table, CompareDiffRow.id)
        stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        out = [DiffRecord(source_db=db, source_table=tb, **{n: getattr(row, n) for n in _DIFF})
               for row, db, tb in self.s.execute(stmt)]
        return sum(kinds.values()), kinds, out

    # --- objects ------------------------------------------------------------------------------
    def put_objects(self, compare_id: str, objects: Sequence[ObjectRecord]) -> None:
        self.s.execute(delete(CompareObjectRow).where(CompareObjectRow.compare_id == compare_id))
        for o in objects:
            self.s.add(CompareObjectRow(compare_id=compare_id, **{n: getattr(o, n) for n in _OBJECT}))

    def objects(self, compare_id: str, object_type: str | None = None, offset: int = 0,
                limit: int | None = None) -> tuple[int, builtins.list[ObjectRecord]]:
        stmt = select(CompareObjectRow).where(CompareObjectRow.compare_id == compare_id)
        if object_type is not None:
            stmt = stmt.where(CompareObjectRow.object_type == object_type)
        total = self.s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        stmt = stmt.order_by(CompareObjectRow.id).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return int(total), [ObjectRecord(**{n: getattr(r, n) for n in _OBJECT}) for r in self.s.scalars(stmt)]
