"""v5 use cases: asynchronous batch creation of tasks, and the reads the v5 API needs.

A v5 create request describes a whole task at once (base info, endpoint lists, policies,
objects, node). Each task is translated into the v3 4.1.1 create dictionary and created by
``service.create_job`` -- one code path for both API versions -- with everything else kept
in ``job.config`` under the keys the v3 configuration APIs use (``policy``, ``speed_limit``,
``alarm_notify``, ``user_migration``). Each task is its own item: one bad task never stops the
others; its error is kept in the batch document so ``list_async_job_detail`` can show it.
Creation is quick (tasks start CREATING and the supervisor provisions them), so the batch
record is written once, with its final status (SDK enum):

* ``COMMIT_SUCCESS``: every task was created;
* ``ASYNC_JOB_VALIDATE_FAILED``: at least one task was rejected (the others were created).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from opendrs.errors import (
    DrsError,
    EmptyParameter,
    InvalidParameter,
    MissingQueryResult,
    TaskDeleted,
    TaskNotFoundV5,
)
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, JobEvent, now_ms
from opendrs.jobs.service import create_job, per_item
from opendrs.jobs.states import JobStatus
from opendrs.store.identity import IdentityRepo
from opendrs.store.repo import AsyncJobRepo, JobFilter, JobRepo

COMMIT_SUCCESS = "COMMIT_SUCCESS"
VALIDATE_FAILED = "ASYNC_JOB_VALIDATE_FAILED"
# v5 endpoint_name per (db_type, endpoint_type); the cloud flavours have their own spellings.
_CLOUD_NAMES = {"gaussredis": "cloud_gaussdb_redis", "mongodb": "cloud_mongodb"}


# --- create -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitter:
    """Who submitted the batch, as list_async_jobs reports it."""

    project_id: str
    user_name: str
    domain_name: str


def caller_identity(svc: Services, project_id: str, name: str, method: str) -> Submitter:
    """The caller's IAM user and domain (AK/SK callers: the credential's user, else the AK)."""
    with svc.store.session() as s:
        repo = IdentityRepo(s, svc.box)
        user = name
        if method == "aksk":
            cred = next((c for c in repo.credentials() if c.ak == name), None)
            user = (cred.user_name if cred else None) or name
        domain = next((d for n, d, _p in repo.users() if n == user), "default")
    return Submitter(project_id=project_id, user_name=user, domain_name=domain)


def create_batch(svc: Services, submitter: Submitter, jobs: Sequence[dict[str, Any]]) -> str:
    """Create every task of a v5 batch-async-create body; returns the batch id."""
    async_id = str(uuid.uuid4())

    def work(spec: dict[str, Any]) -> dict[str, Any]:
        job = create_job(svc, submitter.project_id, to_create_request(svc, spec), async_job_id=async_id)
        return {"job_id": job.id, "name": job.name}

    def fail(spec: dict[str, Any], exc: DrsError) -> dict[str, Any]:
        base = spec["base_info"]
        return {"job_id": None, "name": base.get("name"), "base_info": base, "error_code": exc.error_code,
                "error_msg": exc.error_msg, "at": now_ms()}

    items = per_item(jobs, work, fail)
    status = VALIDATE_FAILED if any(i["job_id"] is None for i in items) else COMMIT_SUCCESS
    doc = {"user_name": submitter.user_name, "domain_name": submitter.domain_name, "items": items}
    with svc.store.session() as s:
        AsyncJobRepo(s).add(async_id, submitter.project_id, status, doc)
    return async_id


def to_create_request(svc: Services, spec: dict[str, Any]) -> dict[str, Any]:
    """One v5 AsyncCreateJobReq (model_dump, no None) -> the 4.1.1 dict ``create_job`` takes.

    Checks what depends on the scenario (the wire model already checked shapes and enums).
    """
    base = spec["base_info"]
    scenario = scenario_for(base["job_type"], base["engine_type"])
    if base["job_type"] != "sync" and spec["node_info"]["spec"]["node_type"] != "high":
        raise InvalidParameter("node_type", detail="only sync tasks may use a node_type other than high")
    if base.get("charging_mode") == "period":
        if base["job_type"] == "migration":
            raise InvalidParameter("charging_mode", detail="yearly/monthly is not offered for migration")
        if not spec.get("period_order"):
            raise EmptyParameter("period_order")
    source = _single_endpoint(spec["source_endpoint"], "so", "source_endpoint")
    target = _single_endpoint(spec["target_endpoint"], "ta", "target_endpoint")
    policy = dict(spec["policy_config"])
    _check_policy(base["job_type"], scenario.source_db_type, policy)
    req: dict[str, Any] = {
        "name": base["name"],
        "db_use_type": base["job_type"],
        "engine_type": base["engine_type"],
        "job_direction": base["job_direction"],
        "task_type": base.get("task_type", "FULL_INCR_TRANS"),
        "net_type": base["net_type"],
        "bind_eip": True if base["net_type"] == "eip" else None,
        "node_type": spec["node_info"]["spec"]["node_type"],
        "node_num": (source.get("config") or {}).get("node_num"),
        "is_target_readonly": (target.get("config") or {}).get("is_target_readonly"),
        "source_endpoint": _v3_endpoint(source),
        "target_endpoint": _v3_endpoint(target),
        "tags": base.get("tags"),
        "sys_tags": ([{"key": "_sys_enterprise_project_id", "value": base["enterprise_project_id"]}]
                     if base.get("enterprise_project_id") else None),
        "description": base.get("description"),
        "multi_write": base.get("multi_write"),
        "expired_days": base.get("expired_days"),
        "public_ip_list": spec.get("public_ip_list"),
        "is_open_fast_clean": base.get("is_open_fast_clean"),
        "charging_mode": base.get("charging_mode", "on_demand"),
        # Configuration the v3 APIs set one by one, stored under their keys.
        "policy": policy,
        "speed_limit": spec.get("speed_limit"),
        "alarm_notify": spec.get("alarm_notify"),
        "user_migration": _sealed_users(svc, spec["user_migration"]) if spec.get("user_migration") else None,
        "db_object": spec["db_object"],
        "db_param": spec.get("db_param"),
        "tuning_params": spec.get("tuning_params"),
        "period_order": spec.get("period_order") if base.get("charging_mode") == "period" else None,
        "node_vpc": spec["node_info"].get("vpc"),
        "node_base_info": spec["node_info"].get("base_info"),
        # v5's scheduled start is recorded; starting stays an explicit call (4.1.11).
        "scheduled_start_time": base.get("start_time") or None,
    }
    return req


def _single_endpoint(entries: list[dict[str, Any]], role: str, field_name: str) -> dict[str, Any]:
    """The supported scenarios have one database per side (lists serve Redis Cluster/GaussDB)."""
    if len(entries) != 1:
        raise InvalidParameter(field_name, detail=f"{field_name} must hold exactly one endpoint")
    entry = entries[0]
    if entry["endpoint_role"] != role:
        raise InvalidParameter("endpoint_role", detail=f"{field_name} needs endpoint_role {role}")
    db_type, kind = entry["db_type"], entry["endpoint_type"]
    expected = {"offline": db_type, "ecs": f"ecs_{db_type}",
                "cloud": _CLOUD_NAMES.get(db_type, f"cloud_{db_type}")}
    if entry["endpoint"]["endpoint_name"] != expected[kind]:
        raise InvalidParameter("endpoint_name", detail=f"{db_type}/{kind} is endpoint_name {expected[kind]}")
    if kind in ("ecs", "cloud") and not (entry.get("cloud") or {}).get("region"):
        raise EmptyParameter("region", detail=f"{field_name}: region is mandatory for {kind} databases")
    if entry["endpoint"].get("source_sharding"):
        raise InvalidParameter("source_sharding", detail="physical source shards apply to GaussDB only")
    return entry


def _v3_endpoint(entry: dict[str, Any]) -> dict[str, Any]:
    """v5 JobEndpointInfo -> the flat v3 Endpoint; v5-only details kept alongside for read-back."""
    ep, cloud = entry["endpoint"], entry.get("cloud") or {}
    vpc, ssl = entry.get("vpc") or {}, entry.get("ssl") or {}
    out: dict[str, Any] = {
        "db_type": entry["db_type"],
        "ip": ep.get("ip"),
        "db_port": int(ep["db_port"]) if ep.get("db_port") else None,
        "db_user": ep["db_user"],
        "db_password": ep["db_password"],
        "inst_id": ep.get("instance_id"),
        "inst_name": ep.get("instance_name"),
        "db_name": ep.get("db_name"),
        "region": cloud.get("region"),
        "project_id": cloud.get("project_id"),
        "az_code": cloud.get("az_code"),
        "vpc_id": vpc.get("vpc_id"),
        "subnet_id": vpc.get("subnet_id"),
        "security_group_id": vpc.get("security_group_id"),
        "ssl_link": ssl.get("ssl_link"),
        "ssl_cert_name": ssl.get("ssl_cert_name"),
        "ssl_cert_key": ssl.get("ssl_cert_key"),
        "ssl_cert_check_sum": ssl.get("ssl_cert_check_sum"),
        "ssl_cert_password": ssl.get("ssl_cert_password"),
        "endpoint_id": ep.get("id") or str(uuid.uuid4()),
        "endpoint_name": ep["endpoint_name"],
        "endpoint_type": entry["endpoint_type"],
        "customized_dns": entry.get("customized_dns"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _check_policy(job_type: str, source_db: str, policy: dict[str, Any]) -> None:
    """SDK PolicyConfig rules: conflict policy is a sync feature; MySQL sync filters drop_database only."""
    if job_type == "migration" and policy.get("conflict_policy"):
        raise InvalidParameter("conflict_policy", detail="migration has no incremental conflict policy")
    if job_type == "sync" and policy.get("filter_ddl_policy") == "":
        raise InvalidParameter("filter_ddl_policy", detail="sync tasks can only filter drop_database")
    if policy.get("increment_read_mode") and source_db != "oracle":
        raise InvalidParameter("increment_read_mode", detail="logminer/xstream apply to Oracle sources only")


def _sealed_users(svc: Services, users: dict[str, Any]) -> dict[str, Any]:
    """User migration settings with every password sealed at rest, like endpoint passwords."""
    if users.get("is_set_password") and not users.get("password"):
        raise EmptyParameter("password", detail="is_set_password needs the unified password")
    out = {k: v for k, v in users.items() if k not in ("password", "user_list")}
    if users.get("password"):
        out["password_sealed"] = svc.box.seal(users["password"])
    sealed_list = []
    for user in users.get("user_list") or []:
        if user.get("is_set_password") and not user.get("password"):
            raise EmptyParameter("password", detail=f"user {user['account']} needs a password")
        entry = {k: v for k, v in user.items() if k != "password"}
        if user.get("password"):
            entry["password_sealed"] = svc.box.seal(user["password"])
        sealed_list.append(entry)
    if "user_list" in users:
        out["user_list"] = sealed_list
    return out


# --- read side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsyncBatch:
    id: str
    status: str
    create_time: int
    user_name: str
    domain_name: str


@dataclass(frozen=True)
class BatchEntry:
    """One task of a batch: the created task with its events, or the rejection kept for it."""

    create_time: int
    job: Job | None = None
    events: list[JobEvent] = field(default_factory=list)
    failure: dict[str, Any] | None = None


def list_batches(svc: Services, project_id: str, *, async_job_id: str | None = None,
                 status: str | None = None, domain_name: str | None = None, user_name: str | None = None,
                 ascending: bool = False) -> list[AsyncBatch]:
    with svc.store.session() as s:
        rows = AsyncJobRepo(s).list(project_id)
        batches = [AsyncBatch(r.id, r.status, r.create_time, str(r.doc.get("user_name", "")),
                              str(r.doc.get("domain_name", ""))) for r in rows]
    wanted = [b for b in batches
              if (not async_job_id or b.id == async_job_id) and (not status or b.status == status)
              and (not domain_name or b.domain_name == domain_name)
              and (not user_name or b.user_name == user_name)]
    wanted.sort(key=lambda b: (b.create_time, b.id), reverse=not ascending)
    return wanted


def batch_entries(svc: Services, project_id: str, async_job_id: str) -> list[BatchEntry]:
    """Every task of a batch, newest first (file 002); unknown id -> M00289."""
    with svc.store.session() as s:
        row = AsyncJobRepo(s).get(project_id, async_job_id)
        if row is None:
            raise MissingQueryResult(f"async_job_id {async_job_id}", detail="no such batch in this project")
        created_at, items = row.create_time, list(row.doc.get("items", []))
        repo = JobRepo(s)
        created = repo.by_async_job(project_id, async_job_id)
        jobs = {j.id: j for j in created}
        entries: list[BatchEntry] = []
        for item in items:
            job = jobs.get(item.get("job_id") or "")
            if job is not None:
                entries.append(BatchEntry(job.create_time, job=job, events=repo.events(job.id)))
            else:
                entries.append(BatchEntry(int(item.get("at") or created_at), failure=item))
    entries.sort(key=lambda e: e.create_time, reverse=True)
    return entries


def job_with_events(svc: Services, project_id: str, job_id: str) -> tuple[Job, list[JobEvent]]:
    """A task for GET /v5/{project_id}/jobs/{job_id}; unknown id -> DRS.10000010 (v5's code)."""
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = repo.get(job_id, project_id)
        if job is None:
            raise TaskNotFoundV5(detail=f"job {job_id} not in project {project_id}")
        if job.status is JobStatus.DELETED:
            raise TaskDeleted(detail=f"job {job_id} is deleted")
        return job, repo.events(job.id)


def list_jobs(svc: Services, project_id: str, f: JobFilter, instance_ids: Sequence[str] = (),
              sort_by_pay_mode: bool = False) -> tuple[int, list[Job]]:
    """v5 list: the repository's filters plus instance IDs and the ``pay_mode`` sort key."""
    if not instance_ids and not sort_by_pay_mode:
        with svc.store.session() as s:
            return JobRepo(s).list(project_id, f)
    with svc.store.session() as s:
        _total, jobs = JobRepo(s).list(project_id, replace(f, offset=0, limit=None))
    if instance_ids:
        wanted = set(instance_ids)
        jobs = [j for j in jobs if any((j.config.get(side) or {}).get("inst_id") in wanted
                                       for side in ("source_endpoint", "target_endpoint"))]
    if sort_by_pay_mode:
        jobs.sort(key=lambda j: (str(j.config.get("charging_mode") or "on_demand"), j.create_time, j.id),
                  reverse=f.descending)
    end = None if f.limit is None else f.offset + f.limit
    return len(jobs), jobs[f.offset : end]
