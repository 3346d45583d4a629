"""Use cases of the comparison, disaster-recovery and SDK-only APIs.

* Comparison (003 §4.1.17–§4.1.37): requests are checked against the task here (it exists, its
  status, engine-only options); ``opendrs.jobs.compare`` runs them. Tasks no comparison engine
  handles are answered with ``NotAvailableYet`` — never with a made-up result.
* Disaster recovery (§4.4.x): only ``cloudDataGuard`` tasks qualify. RPO/RTO, monitoring and
  initialisation figures are what the engine reported in ``job.runtime["dr"]``::

      {"rpo_info": {"check_point", "delay" (ms), "gtid_set", "time" (epoch ms or text)},
       "rto_info": {...same...},
       "monitor": {QueryDataGuardMonitorResponse wire names: "src_normal", "sr_delay", ...},
       "struct_process": {"create_time": ms, "result": [{"type", "status", "src_count", "dst_count",
                                                         "start_time", "end_time"}]},
       "struct_detail": {"create_time": ms, "objects": {<4.4.5 type>: [{"progress", "src_DB", "src_TB",
                                                                       "dst_DB", "dst_TB"}]}}}

  A DR engine fills it with ``RunContext.update_runtime(dr=...)``.
* SDK-only settings (alarm notification, LTS switch, tuning parameters) are stored in
  ``job.config`` and read back; zones and quotas are answered from this node and the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NoReturn

from opendrs.errors import (
    DrsError,
    InvalidPage,
    InvalidParameter,
    InvalidRequest,
    InvalidStatus,
    JobNotFound,
    MissingQueryResult,
    NotAvailableYet,
)
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.jobs.service import load
from opendrs.jobs.states import EDITABLE_METADATA, JobStatus
from opendrs.jobs.supervisor import can_run
from opendrs.store.repo import JobFilter, JobRepo


def load_job(svc: Services, project_id: str, job_id: str, not_found: type[DrsError] = JobNotFound) -> Job:
    """Read one task; ``not_found`` is the error this API documents for an unknown ID."""
    with svc.store.session() as s:
        try:
            return load(JobRepo(s), project_id, job_id)
        except JobNotFound as exc:
            if not_found is JobNotFound:
                raise
            raise not_found(detail=exc.detail) from exc


# --- comparison ---------------------------------------------------------------------------------

# Engine types the spec reserves some comparison options for (4.1.17, 4.1.25, 4.1.33). None of
# OpenDRS's scenarios is one of them, so those options are invalid for every task here.
CASSANDRA_DR_ENGINES = frozenset(
    {"cloudDataGuard-cassandra", "cloudDataGuard-gausscassandra-to-gausscassandra"}
)
SAMPLING_ENGINES = frozenset({"gaussdbv5", "gaussdbv5ha"})  # GaussDB sources only (4.1.25 "random")
CREATE_COMPARE_ALLOWED = frozenset({JobStatus.INCRE_TRANSFER_STARTED})


def check_compare(
    svc: Services,
    project_id: str,
    job_id: str,
    what: str,
    *,
    not_found: type[DrsError] = JobNotFound,
    allowed: Collection[JobStatus] | None = None,
    cassandra_only: Collection[str] = (),
    sampling: bool = False,
) -> Job:
    """Check a comparison request against its task and return the task.

    Order: unknown task, options the task's engine cannot take (DRS.M00202), status.

    ``allowed``: statuses the API may be called in (else DRS.M00304); ``cassandra_only``: names of
    the given options that only Cassandra DR tasks accept; ``sampling``: a "random" comparison.
    """
    job = load_job(svc, project_id, job_id, not_found)
    for name in cassandra_only:
        if job.engine_type not in CASSANDRA_DR_ENGINES:
            raise InvalidParameter(name, detail=f"{name} is for Cassandra DR tasks, not {job.engine_type}")
    if sampling and job.engine_type not in SAMPLING_ENGINES:
        raise InvalidParameter("type", detail=f"sampling is for GaussDB sources, not {job.engine_type}")
    if allowed is not None and job.status not in allowed:
        raise InvalidStatus(detail=f"{what} needs status {sorted(s.value for s in allowed)}, task is "
                                   f"{job.status.value}")
    return job


# --- disaster recovery --------------------------------------------------------------------------

DR_USE_TYPE = "cloudDataGuard"
# "Disaster recovery in progress" / "Disaster recovery failed" (DIGEST §10c #50).
SWITCHOVER_ALLOWED = frozenset({JobStatus.INCRE_TRANSFER_STARTED, JobStatus.INCRE_TRANSFER_FAILED})


def dr_job(svc: Services, project_id: str, job_id: str) -> Job:
    job = load_job(svc, project_id, job_id)
    if job.db_use_type != DR_USE_TYPE:
        raise InvalidRequest("this API is only for disaster recovery (cloudDataGuard) tasks",
                             detail=f"task {job_id} is a {job.db_use_type} task")
    return job


def switchover(svc: Services, project_id: str, job_id: str, pause_after: bool) -> NoReturn:
    """4.4.1: gate on the DR status; the role swap itself needs the DR engine."""
    job = dr_job(svc, project_id, job_id)
    if job.status not in SWITCHOVER_ALLOWED:
        raise InvalidStatus(detail=f"switchover needs DR in progress or failed, task is {job.status.value}")
    raise NotAvailableYet(
        f"primary/standby switchover is not available for engine_type {job.engine_type} yet",
        detail=f"is_pause_job={pause_after}",
    )


def _reported(job: Job, key: str, what: str) -> Any:
    """The engine's figures, or why there are none (no engine at all vs. not reported yet)."""
    value = (job.runtime.get("dr") or {}).get(key)
    if value:
        return value
    if not can_run(job.engine_type):
        raise NotAvailableYet(f"{what} is not available for engine_type {job.engine_type} yet")
    raise MissingQueryResult(f"the engine has not reported {what} for this task yet")


def _text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _clock(value: Any) -> str:
    """4.4.2 ``time`` is "yyyy-MM-dd HH:mm:ss" (UTC here); engines may report epoch ms."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return _text(value)


def _point(doc: dict[str, Any]) -> dict[str, str]:
    return {"check_point": _text(doc.get("check_point"), "NA"), "delay": _text(doc.get("delay"), "0"),
            "gtid_set": _text(doc.get("gtid_set"), "NA"), "time": _clock(doc.get("time"))}


def rpo_rto(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    """4.4.2 result item."""
    job = dr_job(svc, project_id, job_id)
    rpo = _reported(job, "rpo_info", "RPO/RTO")
    rto = _reported(job, "rto_info", "RPO/RTO")
    return {"job_id": job.id, "rpo_info": _point(rpo), "rto_info": _point(rto)}


_MONITOR_BOOL = ("src_normal", "dst_normal")
_MONITOR_INT = ("sr_delay", "dst_delay", "node_volume_inGB", "node_mem_inMB", "migration_bytes_per_second")
_MONITOR_TEXT = ("sr_offset", "node_offset", "dst_offset", "src_rps", "src_io", "bandwidth", "dst_rps",
                 "dst_io", "trans_inMB", "trans_lines", "volume_used_inGB", "mem_used_inMB",
                 "cpuUsed_percent")


def monitoring(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    """4.4.3 result item, in the SDK's spellings (incl. ``data_guard_minitor``)."""
    job = dr_job(svc, project_id, job_id)
    doc = _reported(job, "monitor", "DR monitoring data")
    out: dict[str, Any] = {k: bool(doc.get(k, False)) for k in _MONITOR_BOOL}
    out.update({k: _int(doc.get(k)) for k in _MONITOR_INT})
    out.update({k: _text(doc.get(k), "N/A" if k.endswith("_offset") else "0") for k in _MONITOR_TEXT})
    return {"id": job.id, "data_guard_minitor": out}


def struct_process(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    """4.4.4 result item: initialisation progress per object type."""
    job = dr_job(svc, project_id, job_id)
    doc = _reported(job, "struct_process", "DR initialization progress")
    result = [{"type": _text(r.get("type")), "status": _int(r.get("status")),
               "src_count": _int(r.get("src_count")), "dst_count": _int(r.get("dst_count")),
               "start_time": _int(r.get("start_time")), "end_time": _int(r.get("end_time"))}
              for r in doc.get("result") or []]
    process = {"create_time": _text(doc.get("create_time")), "result": result}
    return {"job_id": job.id, "struct_process": process}


_DETAIL_TEXT = ("src_DB", "src_TB", "dst_DB", "dst_TB")


def struct_detail(svc: Services, project_id: str, job_id: str, obj_type: str, cur_page: int,
                  per_page: int) -> dict[str, Any]:
    """4.4.5 result item: one page of initialised objects of ``obj_type`` (per_page 0 = all)."""
    job = dr_job(svc, project_id, job_id)
    doc = _reported(job, "struct_detail", "DR initialization details")
    rows = list((doc.get("objects") or {}).get(obj_type) or [])
    if per_page:
        pages = max(1, -(-len(rows) // per_page))
        if cur_page > pages:
            raise InvalidPage(f"cur_page {cur_page} exceeds the {pages} page(s)")
        rows_page = rows[(cur_page - 1) * per_page : cur_page * per_page]
    else:
        rows_page = rows
    listing = [{"progress": _int(r.get("progress")), **{k: _text(r.get(k)) for k in _DETAIL_TEXT}}
               for r in rows_page]
    detail = {"total_record": len(rows), "create_time": _text(doc.get("create_time")), "list": listing}
    return {"job_id": job.id, "struct_detail": detail}


# --- SDK-only: alarm notification, zones, LTS, tuning, quotas -----------------------------------


def _editable(repo: JobRepo, project_id: str, job_id: str) -> Job:
    job = load(repo, project_id, job_id)
    if job.status not in EDITABLE_METADATA:
        raise InvalidStatus(detail=f"task is {job.status.value}")
    return job


def set_alarm_notify(svc: Services, project_id: str, job_id: str, engine_type: str | None,
                     alarm: dict[str, Any]) -> None:
    """``batch_set_smn``: the same store as 4.1.4 ``alarm_notify`` (shown by 4.1.21)."""
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = _editable(repo, project_id, job_id)
        if engine_type and engine_type != job.engine_type:
            raise InvalidParameter("engine_type", detail=f"task {job_id} is {job.engine_type}")
        job.config["alarm_notify"] = {k: v for k, v in alarm.items() if v is not None}
        repo.save(job)


# One self-hosted node is one availability zone.
LOCAL_ZONE = {"code": "local", "name": "local", "status": "ENABLED"}


def available_zones(db_use_type: str, engine_type: str, multi_write: bool | None) -> list[dict[str, str]]:
    """``list_available_zone``: the scenario must exist; dual-active needs a DR scenario."""
    use_type = DR_USE_TYPE if db_use_type == "dataGuard" else db_use_type
    scenario_for(use_type, engine_type)
    if multi_write and use_type != DR_USE_TYPE:
        raise InvalidParameter("multi_write", detail="dual-active applies to DR tasks only")
    return [dict(LOCAL_ZONE)]


LTS_DEFAULT = {"log_group_id": "", "log_stream_id": "", "lts_enabled": False}


def get_lts(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    job = load_job(svc, project_id, job_id)
    return {**LTS_DEFAULT, **(job.config.get("lts") or {})}


def set_lts(svc: Services, project_id: str, job_id: str, lts: dict[str, Any]) -> None:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = _editable(repo, project_id, job_id)
        job.config["lts"] = {**LTS_DEFAULT, **{k: v for k, v in lts.items() if v is not None}}
        repo.save(job)


@dataclass(frozen=True)
class Tunable:
    """One tuning parameter an engine honours: integer in [low, high], ``default`` when unset."""

    group: str
    name: str
    default: int
    low: int
    high: int
    meaning: str

    def check(self, value: str) -> int:
        text = value.strip()
        if not text.lstrip("-").isdigit() or not self.low <= int(text) <= self.high:
            raise InvalidParameter(self.name, detail=f"{self.name} must be an integer {self.low}-{self.high}")
        return int(text)


TUNING_GROUPS = ("full_sync", "incre_capture", "incre_apply", "incre_relay")
TUNABLES: tuple[Tunable, ...] = (
    Tunable("full_sync", "read_chunk_rows", 10_000, 100, 1_000_000, "rows read per snapshot chunk"),
    Tunable("full_sync", "write_batch_rows", 10_000, 1, 100_000, "rows per target load transaction"),
    Tunable("full_sync", "parallel_tables", 4, 1, 64, "tables copied at the same time"),
    Tunable("incre_apply", "apply_batch_rows", 500, 1, 100_000, "change rows per target transaction"),
    Tunable("incre_apply", "apply_threads", 1, 1, 64, "parallel apply workers"),
)
_BY_NAME = {(t.group, t.name): t for t in TUNABLES}


def tuning_value(job: Job, group: str, name: str) -> int:
    """What an engine should use: the stored override, else the documented default."""
    tunable = _BY_NAME[(group, name)]
    stored = ((job.config.get("tuning_params") or {}).get(group) or {}).get(name)
    return tunable.default if stored is None else int(stored)


def tuning_params(job: Job) -> dict[str, Any]:
    """QueryTuningParamsResponse: every group, every tunable with its current value and range."""
    out: dict[str, Any] = {g: [] for g in TUNING_GROUPS}
    for t in TUNABLES:
        out[t.group].append({"param_name": t.name, "param_value": str(tuning_value(job, t.group, t.name)),
                             "availability": "true", "range": f"{t.low}-{t.high}"})
    return out


def get_tuning(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    return tuning_params(load_job(svc, project_id, job_id))


def set_tuning(svc: Services, project_id: str, job_id: str, groups: dict[str, dict[str, str]],
               recovery: bool) -> dict[str, Any]:
    """Validate every name/value first, then store (all or nothing); ``recovery`` resets to defaults."""
    checked: dict[str, dict[str, str]] = {}
    for group, params in groups.items():
        for name, value in params.items():
            tunable = _BY_NAME.get((group, name))
            if tunable is None:
                known = sorted(t.name for t in TUNABLES if t.group == group)
                raise InvalidParameter(name, detail=f"{group} has no tunable {name}; known: {known}")
            checked.setdefault(group, {})[name] = str(tunable.check(value))
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = _editable(repo, project_id, job_id)
        stored: dict[str, dict[str, str]] = {} if recovery else dict(job.config.get("tuning_params") or {})
        for group, params in checked.items():
            stored[group] = {**(stored.get(group) or {}), **params}
        job.config["tuning_params"] = stored
        repo.save(job)
    return {**tuning_params(job), "modify_result": "success"}


DEFAULT_MAX_JOBS_PER_PROJECT = 100


def quotas(svc: Services, project_id: str) -> dict[str, Any]:
    """``show_quotas``: tasks (not deleted) in this project against the configured maximum."""
    limit = int(getattr(svc.settings, "max_jobs_per_project", DEFAULT_MAX_JOBS_PER_PROJECT))
    with svc.store.session() as s:
        used, _ = JobRepo(s).list(project_id, JobFilter())
    resource = {"type": "instances", "min": 0, "max": limit, "quota": limit, "used": used}
    return {"quotas": {"resource": resource}}
