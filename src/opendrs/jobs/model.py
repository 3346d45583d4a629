"""Typed task record used inside the service; the store maps it to rows."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from opendrs.jobs.states import JobStatus


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id() -> str:
    """A UUID whose last group ends in ``jb`` + 3 chars, like the cloud's task IDs."""
    base = str(uuid.uuid4())
    suffix = "jb" + "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(3))
    return base[: -len(suffix)] + suffix


@dataclass
class Job:
    id: str
    project_id: str
    name: str
    status: JobStatus
    db_use_type: str
    engine_type: str
    job_direction: str
    task_type: str
    net_type: str
    description: str = ""
    enterprise_project_id: str = "0"
    parent_id: str | None = None
    async_job_id: str | None = None
    create_time: int = field(default_factory=now_ms)
    update_time: int = field(default_factory=now_ms)
    config: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # 0 = not stored yet


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    at: int
    from_status: str | None
    to_status: str
    action: str
    reason: str
