"""Task lifecycle use cases: pre-check, start, pause, resume (003 §4.1.6/4.1.7, 4.1.11-4.1.13).

Every status change goes through ``service.move`` (state machine + event row); the supervisor
then does the work: ``wake()`` after start/resume lets it start a worker at once, and
``stop_worker`` after a pause stops the running one at its next batch boundary.

A pre-check really queries the databases, which is engine work, so engines plug in here:
``PRECHECKS[engine_type]`` is a function returning check items
``{item, result PASSED|ALARM|FAILED, failed_reason, data, raw_error_msg, group}``. It runs in a
background thread; its result lands in ``job.runtime["precheck"]`` where 4.1.7 reads it and
4.1.11 requires ``result`` true for the configuration it examined (``configure.config_digest``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from opendrs.errors import InvalidRequest, MissingQueryResult, TaskBusy
from opendrs.jobs.configure import config_digest, not_available, require_status
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, now_ms
from opendrs.jobs.service import load, move
from opendrs.jobs.states import FAILED, Action, JobStatus, allowed
from opendrs.jobs.supervisor import can_run
from opendrs.store.repo import JobRepo

log = logging.getLogger("opendrs.lifecycle")
S = JobStatus

PrecheckFn = Callable[[Services, Job], list[dict[str, Any]]]
# engine_type -> the engine's pre-check. Engine packages register theirs (register_precheck).
PRECHECKS: dict[str, PrecheckFn] = {}
RESULTS = ("PASSED", "ALARM", "FAILED")
ITEM_FIELDS = ("item", "result", "failed_reason", "data", "raw_error_msg", "group")

# Which status each precheck_mode is for (4.1.6 "specify the value based on the task status").
PRECHECK_MODES: dict[str, frozenset[JobStatus]] = {
    "forStartJob": frozenset({S.CONFIGURATION}),
    "forRetryJob": FAILED | {S.INCRE_TRANSFER_STARTED, S.PAUSING},
}
_MODE_HINTS = {
    "forStartJob": "Use precheck_mode forStartJob for a task in CONFIGURATION.",
    "forRetryJob": "Use precheck_mode forRetryJob for a failed, paused or incrementally running task.",
}

_running: set[str] = set()  # job ids whose pre-check thread is alive in this process
_running_lock = threading.Lock()


def register_precheck(engine_type: str, fn: PrecheckFn) -> None:
    PRECHECKS[engine_type] = fn


# --- 4.1.6 / 4.1.7 pre-check -------------------------------------------------------------------


def start_precheck(svc: Services, project_id: str, job_id: str, mode: str) -> threading.Thread:
    """Validate, mark the pre-check as running ("0%") and run it in a background thread."""
    claimed = False
    try:
        with svc.store.session() as s:
            repo = JobRepo(s)
            job = load(repo, project_id, job_id)
            if job.status not in PRECHECK_MODES[mode]:
                other = "forRetryJob" if mode == "forStartJob" else "forStartJob"
                hint = (_MODE_HINTS[other] if job.status in PRECHECK_MODES[other]
                        else "A pre-check runs before the first start (CONFIGURATION) or before a retry.")
                require_status(job, PRECHECK_MODES[mode], hint)
            check = PRECHECKS.get(job.engine_type)
            if check is None:
                raise not_available("pre-check", job.engine_type)
            with _running_lock:
                if job.id in _running:
                    raise TaskBusy(detail="a pre-check of this task is still running; poll 4.1.7")
                _running.add(job.id)
                claimed = True
            job.runtime["precheck"] = {
                "precheck_id": job.id, "mode": mode, "process": "0%", "result": False,
                "total_passed_rate": "0%", "precheck_result": [], "started_at": now_ms(),
            }
            repo.save(job)
            repo.add_event(job.id, job.status.value, job.status.value, "precheck",
                           f"pre-check started ({mode})")
        thread = threading.Thread(target=_run_precheck, args=(svc, job.id, check),
                                  name=f"precheck-{job.id[:8]}", daemon=True)
        thread.start()
    except BaseException:
        if claimed:
            _release(job_id)
        raise
    return thread


def _release(job_id: str) -> None:
    with _running_lock:
        _running.discard(job_id)


def _is_running(job_id: str) -> bool:
    with _running_lock:
        return job_id in _running


def interrupted(doc: dict[str, Any]) -> dict[str, Any]:
    """A pre-check left unfinished by a server restart (pre-checks run in the server process)."""
    item = {"item": "precheckExecution", "result": "FAILED", "group": "precheck", "data": "", "raw_error_msg": "",
            "failed_reason": "the pre-check was interrupted by a server restart; run 4.1.6 batch-precheck again"}
    return {**doc, "process": "100%", "result": False, "total_passed_rate": "0%", "precheck_result": [item]}


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: "" if raw.get(k) is None else str(raw.get(k)) for k in ITEM_FIELDS}
    if out["result"] not in RESULTS:
        out["result"] = "FAILED"
        out["failed_reason"] = out["failed_reason"] or "the check returned no valid result"
    if raw.get("failed_sub_jobs"):
        out["failed_sub_jobs"] = list(raw["failed_sub_jobs"])
    return out


def summarise(items: list[dict[str, Any]]) -> tuple[bool, str]:
    """(passed?, total_passed_rate): ALARM items warn but pass (the spec's DDS example)."""
    if not items:
        return True, "100%"
    passed = sum(1 for i in items if i["result"] != "FAILED")
    return passed == len(items), f"{passed * 100 // len(items)}%"


def _run_precheck(svc: Services, job_id: str, check: PrecheckFn) -> None:
    try:
        with svc.store.session() as s:
            job = JobRepo(s).get(job_id)
        if job is None:
            return
        digest = config_digest(job)
        try:
            items = [_item(i) for i in check(svc, job)]
        except Exception as exc:
            log.exception("pre-check of job %s crashed", job_id)
            items = [{"item": "precheckExecution", "result": "FAILED", "group": "precheck",
                      "failed_reason": f"{type(exc).__name__}: {exc}"[:512], "data": "", "raw_error_msg": ""}]
        result, rate = summarise(items)
        _store_precheck(svc, job_id, {"process": "100%", "result": result, "total_passed_rate": rate,
                                      "precheck_result": items, "finished_at": now_ms(),
                                      "config_digest": digest})
        log.info("job %s: pre-check finished, result=%s (%s passed)", job_id, result, rate)
    finally:
        _release(job_id)


def _store_precheck(svc: Services, job_id: str, values: dict[str, Any]) -> None:
    """Merge into runtime["precheck"], retrying when an API call changed the task meanwhile."""
    for _ in range(20):
        try:
            with svc.store.session() as s:
                repo = JobRepo(s)
                job = repo.get(job_id)
                if job is None:
                    return
                job.runtime["precheck"] = {**(job.runtime.get("precheck") or {}), **values}
                repo.save(job)
                return
        except TaskBusy:
            time.sleep(0.05)
    log.error("job %s: could not store the pre-check result", job_id)


def precheck_result(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    """4.1.7 QueryPreCheckResp of the latest pre-check."""
    with svc.store.session() as s:
        job = load(JobRepo(s), project_id, job_id)
    doc = job.runtime.get("precheck")
    if not doc:
        raise MissingQueryResult("precheck. Start one with 4.1.6 batch-precheck first")
    if doc.get("process") != "100%" and not _is_running(job.id):
        doc = interrupted(doc)
    return {
        "precheck_id": doc.get("precheck_id", job.id),
        "result": bool(doc.get("result")),
        "process": doc.get("process", "0%"),
        "total_passed_rate": doc.get("total_passed_rate", "0%"),
        "rds_instance_id": (job.config.get("target_endpoint") or {}).get("inst_id", ""),
        "job_direction": job.job_direction,
        "precheck_result": doc.get("precheck_result", []),
    }


# --- 4.1.11 start ------------------------------------------------------------------------------


def parse_start_time(value: str | None, now: int | None = None) -> int | None:
    """Epoch-ms string -> a future moment, or None for "now" (empty, past or present)."""
    if not value:
        return None
    when = int(value)
    return when if when > (now if now is not None else now_ms()) else None


def start_job(svc: Services, project_id: str, job_id: str, start_time: str | None = None,
              extras: dict[str, Any] | None = None) -> JobStatus:
    """CONFIGURATION + a runnable engine + a passed pre-check of this configuration -> start/schedule."""
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        hint = ("The task has already been started." if job.status is not S.CREATING
                else "Wait until the task is in CONFIGURATION.")
        require_status(job, {S.CONFIGURATION}, hint)
        if not can_run(job.engine_type):
            raise not_available("starting a task", job.engine_type)
        check_passed_precheck(job)
        for key, value in (extras or {}).items():
            if value is not None:
                job.config[key] = value
        when = parse_start_time(start_time)
        if when is None:
            job.config.pop("start_time", None)
            status = move(repo, job, Action.START, "started through the API")
        else:
            job.config["start_time"] = str(when)
            status = move(repo, job, Action.SCHEDULE, f"scheduled through the API for {when}")
    _wake(svc)
    return status


def check_passed_precheck(job: Job) -> None:
    doc = job.runtime.get("precheck") or {}
    if doc.get("result") is not True:
        if not doc:
            why = "it has not been run"
        elif doc.get("process") == "100%":
            why = "it found problems"
        else:
            why = "it is still running" if _is_running(job.id) else "it was interrupted"
        raise InvalidRequest(f"the pre-check has not passed ({why}). Run 4.1.6 batch-precheck, wait until "
                             "4.1.7 batch-precheck-result reports result true, then start the task")
    if doc.get("config_digest") != config_digest(job):
        raise InvalidRequest("the task's configuration changed after the pre-check passed. Run 4.1.6 "
                             "batch-precheck again, then start the task")


# --- 4.1.13 pause / 4.1.12 resume ----------------------------------------------------------------

PAUSE_HINT = "A task can be paused only while its full or incremental phase runs (FULL_TRANSFER_STARTED or " \
             "INCRE_TRANSFER_STARTED)."
RESUME_HINT = "Only a paused task (PAUSING) or a failed one (START_JOB_FAILED, FULL_TRANSFER_FAILED, " \
              "INCRE_TRANSFER_FAILED) can be resumed or retried."


def pause_job(svc: Services, project_id: str, job_id: str, pause_mode: str = "all") -> JobStatus:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        if not allowed(job.status, Action.PAUSE):
            require_status(job, (), PAUSE_HINT)
        job.runtime["pause_mode"] = pause_mode
        status = move(repo, job, Action.PAUSE, f"paused through the API (pause_mode {pause_mode})")
    if svc.supervisor is not None:
        svc.supervisor.stop_worker(job_id, "paused")
    return status


def resume_job(svc: Services, project_id: str, job_id: str, is_sync_re_edit: bool | None = None) -> JobStatus:
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        if not allowed(job.status, Action.RESUME):
            require_status(job, (), RESUME_HINT)
        if not can_run(job.engine_type):
            raise not_available("resuming a task", job.engine_type)
        was = job.status
        job.runtime.pop("pause_mode", None)
        if is_sync_re_edit is not None:
            job.runtime["is_sync_re_edit"] = is_sync_re_edit
        verb = "resumed" if was is S.PAUSING else "retried"
        status = move(repo, job, Action.RESUME, f"{verb} through the API")
    _wake(svc)
    return status


def _wake(svc: Services) -> None:
    if svc.supervisor is not None:
        svc.supervisor.wake()

