"""Task use cases shared by every API group: load, transition, batch, endpoints, create, delete.

Each batch item runs in its own transaction so one bad item never rolls back the others
(the spec answers batch calls per item).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from opendrs.errors import (
    ConcurrentUpdate,
    DrsError,
    DuplicateInRequest,
    DuplicateTagKey,
    InvalidParameter,
    JobNotFound,
    NameExists,
    ServiceAbnormal,
    TagTooLong,
    TaskDeleted,
)
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.states import Action, JobStatus, next_status
from opendrs.store.repo import JobRepo

log = logging.getLogger("opendrs.jobs")

T = TypeVar("T")
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432, "redis": 6379, "rediscluster": 6379}
SECRET_FIELDS = ("db_password", "ssl_cert_password")
MASK = "******"


# --- loading and moving tasks -------------------------------------------------------------------


def load(repo: JobRepo, project_id: str, job_id: str, allow_deleted: bool = False) -> Job:
    job = repo.get(job_id, project_id)
    if job is None:
        raise JobNotFound(detail=f"job {job_id} not in project {project_id}")
    if job.status is JobStatus.DELETED and not allow_deleted:
        raise TaskDeleted(detail=f"job {job_id} is deleted")
    return job


def move(repo: JobRepo, job: Job, action: Action, reason: str = "") -> JobStatus:
    """Apply one state-machine transition and record it as an event."""
    before = job.status
    target = next_status(before, action, _paused_from(job))
    if action is Action.PAUSE:
        job.runtime["paused_from"] = before.value
    job.status = target
    if target in (JobStatus.FULL_TRANSFER_STARTED, JobStatus.INCRE_TRANSFER_STARTED, JobStatus.STARTJOBING):
        job.runtime.pop("failed_reason", None)
    repo.save(job)
    repo.add_event(job.id, before.value, target.value, action.value, reason)
    log.info("job %s: %s -[%s]-> %s %s", job.id, before.value, action.value, target.value, reason)
    return target


def _paused_from(job: Job) -> JobStatus | None:
    value = job.runtime.get("paused_from")
    return JobStatus(value) if value else None


def retry_concurrent(work: Callable[[], T], attempts: int = 8) -> T:
    """Redo a step whose transaction lost an optimistic-lock race (e.g. with a worker's progress report)."""
    for attempt in range(attempts):
        try:
            return work()
        except ConcurrentUpdate:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def per_item(items: Iterable[T], work: Callable[[T], dict[str, Any]],
             on_error: Callable[[T, DrsError], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``work`` per item; a DrsError becomes that item's error entry, the rest go on."""
    out: list[dict[str, Any]] = []
    for item in items:
        try:
            out.append(retry_concurrent(lambda item=item: work(item)))  # type: ignore[misc]
        except DrsError as exc:
            if exc.detail:
                log.info("batch item rejected: %s (%s)", exc.error_msg, exc.detail)
            out.append(on_error(item, exc))
        except Exception as exc:
            log.exception("batch item failed unexpectedly")
            out.append(on_error(item, ServiceAbnormal(detail=repr(exc))))
    return out


def check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise DuplicateInRequest(what, detail=f"{what} {v} repeated")
        seen.add(v)


# --- endpoints: passwords sealed at rest, masked on the way out -------------------------------


def seal_endpoint(svc: Services, endpoint: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stored form of an endpoint: secrets replaced by ``<name>_sealed``; absent secrets kept."""
    out = {k: v for k, v in endpoint.items() if v is not None and k not in SECRET_FIELDS}
    for name in SECRET_FIELDS:
        value = endpoint.get(name)
        if value:
            out[f"{name}_sealed"] = svc.box.seal(str(value))
        elif previous and previous.get(f"{name}_sealed"):
            out[f"{name}_sealed"] = previous[f"{name}_sealed"]
    return out


def merge_endpoint(svc: Services, stored: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    base = {k: v for k, v in (stored or {}).items() if not k.endswith("_sealed")}
    base.update({k: v for k, v in update.items() if v is not None and k not in SECRET_FIELDS})
    return seal_endpoint(svc, {**base, **{k: update.get(k) for k in SECRET_FIELDS}}, stored)


def public_endpoint(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """Endpoint as returned by the API: never a password, only a mask when one is set."""
    if stored is None:
        return None
    out = {k: v for k, v in stored.items() if not k.endswith("_sealed")}
    for name in SECRET_FIELDS:
        if stored.get(f"{name}_sealed"):
            out[name] = MASK
    return out


def endpoint_secret(svc: Services, stored: dict[str, Any], name: str = "db_password") -> str | None:
    sealed = stored.get(f"{name}_sealed")
    return svc.box.open(sealed) if sealed else None


# --- create -----------------------------------------------------------------------------------


def _check_tags(tags: list[dict[str, Any]] | None) -> None:
    if not tags:
        return
    keys = [t["key"] for t in tags]
    if len(set(keys)) != len(keys):
        raise DuplicateTagKey()
    for t in tags:
        if len(t["key"]) > 36 or len(t.get("value") or "") > 43:
            raise TagTooLong()


def create_job(svc: Services, project_id: str, req: dict[str, Any], async_job_id: str | None = None) -> Job:
    """Validate one 4.1.1 item against the scenario table and store it as CREATING."""
    scenario = scenario_for(req["db_use_type"], req["engine_type"])
    if req["task_type"] not in scenario.task_types:
        raise InvalidParameter("task_type", detail=f"{scenario.engine_type} allows {sorted(scenario.task_types)}")
    if req["net_type"] not in scenario.net_types:
        raise InvalidParameter("net_type", detail=f"{scenario.engine_type} allows {sorted(scenario.net_types)}")
    if req["net_type"] == "eip" and req.get("bind_eip") is False:
        raise InvalidParameter("bind_eip", detail="bind_eip must be true for net_type eip")
    for side, expected in (("source_endpoint", scenario.source_db_type), ("target_endpoint", scenario.target_db_type)):
        if req[side]["db_type"] != expected:
            raise InvalidParameter(f"{side}.db_type", detail=f"{scenario.engine_type} needs {expected}")
    _check_tags(req.get("tags"))
    for tag in req.get("sys_tags") or []:
        if tag["key"] != "_sys_enterprise_project_id":
            raise InvalidParameter("sys_tags", detail="only _sys_enterprise_project_id is allowed")
    enterprise = next((t["value"] for t in req.get("sys_tags") or []), "0") or "0"
    config: dict[str, Any] = {
        k: v for k, v in req.items()
        if v is not None and k not in {"name", "db_use_type", "engine_type", "job_direction", "task_type",
                                        "net_type", "description", "source_endpoint", "target_endpoint"}
    }
    config.setdefault("expired_days", "14")
    if req["job_direction"] == "up" and scenario.target_db_type == "mysql":
        config.setdefault("is_target_readonly", True)
    for side in ("source_endpoint", "target_endpoint"):
        config[side] = seal_endpoint(svc, req[side])
    job = Job(
        id=new_job_id(), project_id=project_id, name=req["name"], status=JobStatus.CREATING,
        db_use_type=req["db_use_type"], engine_type=req["engine_type"], job_direction=req["job_direction"],
        task_type=req["task_type"], net_type=req["net_type"], description=req.get("description") or "",
        enterprise_project_id=enterprise, async_job_id=async_job_id, config=config, runtime={},
    )
    with svc.store.session() as s:
        repo = JobRepo(s)
        if repo.name_taken(project_id, job.name):
            raise NameExists(detail=f"name {job.name} in use")
        repo.add(job)
        repo.add_event(job.id, None, JobStatus.CREATING.value, "create", "created through the API")
    if svc.supervisor is not None:
        svc.supervisor.wake()
    return job


# --- stop and delete (4.1.14) -----------------------------------------------------------------


def delete_job(svc: Services, project_id: str, job_id: str, delete_type: str) -> None:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        if delete_type == "delete":
            move(repo, job, Action.DELETE, "deleted through the API")
            return
        if delete_type == "roll_back_upgrade_active_standby":
            raise InvalidParameter("delete_type", detail="no active/standby upgrade to roll back")
        job.runtime["force_terminate"] = delete_type == "force_terminate"
        move(repo, job, Action.TERMINATE, f"{delete_type} through the API")
    if svc.supervisor is not None:
        svc.supervisor.wake()
