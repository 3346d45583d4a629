"""Repositories: the only code that reads and writes ORM rows."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from opendrs.errors import ConcurrentUpdate
from opendrs.jobs.model import Job, JobEvent, now_ms
from opendrs.jobs.states import JobStatus
from opendrs.store.models import AsyncJobRow, CheckpointRow, HeartbeatRow, JobEventRow, JobRow

_COLUMNS = (
    "id", "project_id", "name", "db_use_type", "engine_type", "job_direction", "task_type", "net_type",
    "description", "enterprise_project_id", "parent_id", "async_job_id", "create_time", "update_time",
)


def _to_job(row: JobRow) -> Job:
    return Job(
        status=JobStatus(row.status),
        config=dict(row.config or {}),
        runtime=dict(row.runtime or {}),
        version=row.version,
        **{c: getattr(row, c) for c in _COLUMNS},
    )


@dataclass
class JobFilter:
    """List filters of 4.1.20 / v5 list, already validated."""

    db_use_type: str | None = None
    engine_type: str | None = None
    net_type: str | None = None
    status: str | None = None
    name_or_ids: Sequence[str] = ()
    enterprise_project_id: str | None = None
    instance_ip: str | None = None
    include_deleted: bool = False
    sort_key: str = "create_time"
    descending: bool = True
    offset: int = 0
    limit: int | None = None


class JobRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, job: Job) -> None:
        row = JobRow(status=job.status.value, config=job.config, runtime=job.runtime,
                     **{c: getattr(job, c) for c in _COLUMNS})
        self.s.add(row)
        self.s.flush()
        job.version = row.version

    def get(self, job_id: str, project_id: str | None = None) -> Job | None:
        row = self.s.get(JobRow, job_id)
        if row is None or (project_id is not None and row.project_id != project_id):
            return None
        return _to_job(row)

    def save(self, job: Job) -> None:
        """Write back ``job``; raises TaskBusy if someone else changed it since it was read."""
        row = self.s.get(JobRow, job.id)
        if row is None or row.version != job.version:
            raise ConcurrentUpdate(detail=f"job {job.id} changed concurrently")
        job.update_time = now_ms()
        for c in _COLUMNS:
            setattr(row, c, getattr(job, c))
        row.status = job.status.value
        row.config = dict(job.config)
        row.runtime = dict(job.runtime)
        try:
            self.s.flush()
        except StaleDataError as exc:
            raise ConcurrentUpdate(detail=f"job {job.id} changed concurrently") from exc
        job.version = row.version

    def name_taken(self, project_id: str, name: str, except_id: str | None = None) -> bool:
        q = select(func.count()).select_from(JobRow).where(
            JobRow.project_id == project_id, JobRow.name == name, JobRow.status != JobStatus.DELETED.value
        )
        if except_id:
            q = q.where(JobRow.id != except_id)
        return bool(self.s.scalar(q))

    def _filtered(self, project_id: str, f: JobFilter) -> Select[JobRow]:
        q = select(JobRow).where(JobRow.project_id == project_id)
        if not f.include_deleted:
            q = q.where(JobRow.status != JobStatus.DELETED.value)
        if f.db_use_type:
            q = q.where(JobRow.db_use_type == f.db_use_type)
        if f.engine_type:
            q = q.where(JobRow.engine_type == f.engine_type)
        if f.net_type:
            q = q.where(JobRow.net_type == f.net_type)
        if f.status:
            q = q.where(JobRow.status == f.status)
        if f.enterprise_project_id:
            q = q.where(JobRow.enterprise_project_id == f.enterprise_project_id)
        if f.name_or_ids:
            q = q.where(or_(JobRow.name.in_(list(f.name_or_ids)), JobRow.id.in_(list(f.name_or_ids))))
        return q

    def list(self, project_id: str, f: JobFilter) -> tuple[int, list[Job]]:
        q = self._filtered(project_id, f)
        rows = [_to_job(r) for r in self.s.scalars(q)]
        if f.instance_ip:
            rows = [j for j in rows if _has_ip(j, f.instance_ip)]
        key = f.sort_key if f.sort_key in {"name", "status", "create_time", "net_type", "job_direction"} else (
            "create_time"
        )
        rows.sort(key=lambda j: (getattr(j, key), j.id), reverse=f.descending)
        total = len(rows)
        end = None if f.limit is None else f.offset + f.limit
        return total, rows[f.offset : end]

    def active(self) -> builtins.list[Job]:
        """Every task, any project, that is not deleted (the supervisor's view at start-up)."""
        q = select(JobRow).where(JobRow.status != JobStatus.DELETED.value)
        return [_to_job(r) for r in self.s.scalars(q)]

    def by_async_job(self, project_id: str, async_job_id: str) -> builtins.list[Job]:
        q = select(JobRow).where(JobRow.project_id == project_id, JobRow.async_job_id == async_job_id)
        return sorted((_to_job(r) for r in self.s.scalars(q)), key=lambda j: j.create_time, reverse=True)

    # --- events -----------------------------------------------------------------------
    def add_event(self, job_id: str, from_status: str | None, to_status: str, action: str, reason: str) -> None:
        self.s.add(JobEventRow(job_id=job_id, at=now_ms(), from_status=from_status, to_status=to_status,
                               action=action, reason=reason))

    def events(self, job_id: str) -> builtins.list[JobEvent]:
        q = select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(JobEventRow.id)
        return [JobEvent(r.job_id, r.at, r.from_status, r.to_status, r.action, r.reason) for r in self.s.scalars(q)]


def _has_ip(job: Job, ip: str) -> bool:
    return any((job.config.get(side) or {}).get("ip") == ip for side in ("source_endpoint", "target_endpoint"))


class AsyncJobRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, async_id: str, project_id: str, status: str, doc: dict[str, Any]) -> None:
        self.s.add(AsyncJobRow(id=async_id, project_id=project_id, create_time=now_ms(), status=status, doc=doc))

    def get(self, project_id: str, async_id: str) -> AsyncJobRow | None:
        row = self.s.get(AsyncJobRow, async_id)
        return row if row is not None and row.project_id == project_id else None

    def list(self, project_id: str) -> builtins.list[AsyncJobRow]:
        q = select(AsyncJobRow).where(AsyncJobRow.project_id == project_id).order_by(AsyncJobRow.create_time.desc())
        return list(self.s.scalars(q))


class CheckpointRepo:
    """Metadata-side checkpoints (the target-side copy is authoritative for applied data)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, job_id: str, name: str) -> dict[str, Any] | None:
        row = self.s.get(CheckpointRow, (job_id, name))
        return None if row is None else {"version": row.version, **row.doc}

    def put(self, job_id: str, name: str, version: int, doc: dict[str, Any]) -> None:
        row = self.s.get(CheckpointRow, (job_id, name))
        if row is None:
            self.s.add(CheckpointRow(job_id=job_id, name=name, version=version, doc=doc, updated_at=now_ms()))
        else:
            row.version, row.doc, row.updated_at = version, doc, now_ms()

    def heartbeat(self, job_id: str, node: str, detail: dict[str, Any]) -> None:
        row = self.s.get(HeartbeatRow, job_id)
        if row is None:
            self.s.add(HeartbeatRow(job_id=job_id, node=node, at=now_ms(), detail=detail))
        else:
            row.node, row.at, row.detail = node, now_ms(), detail
