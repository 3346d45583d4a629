"""Pre-check, start, pause and resume against a real SQLite store and a running supervisor.

No engine can run a task yet, so each test registers a pre-check and a tiny runner (a loop of
``ctx.sleep``) for a made-up engine type and drives the real use cases of ``jobs.lifecycle``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from opendrs.errors import InvalidRequest, InvalidStatus, MissingQueryResult, NotAvailableYet, TaskBusy
from opendrs.jobs import lifecycle
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id, now_ms
from opendrs.jobs.states import Action, JobStatus
from opendrs.jobs.supervisor import RUNNERS, RunContext, Supervisor
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

ENGINE = "unit-test-engine"
PROJECT = "p-unit"
S = JobStatus


class LoopRunner:
    """Reports the full phase started, then idles in 50 ms batches until stopped."""

    runs = 0

    def __init__(self, _job: Job) -> None:
        pass

    def run(self, ctx: RunContext) -> None:
        LoopRunner.runs += 1
        if ctx.load().status is S.STARTJOBING:
            ctx.advance(Action.FULL_STARTED, "test runner: full phase")
        while True:
            ctx.sleep(0.05)

    def release(self, ctx: RunContext, force: bool) -> None:
        return None


def passing_check(_svc: Services, job: Job) -> list[dict[str, Any]]:
    return [
        {"item": "srcDbConnection", "result": "PASSED", "group": "network"},
        {"item": "srcCollHasTtlIndex", "result": "ALARM", "group": "db_params", "failed_reason": "TTL"},
    ]


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    services = Services.build(Settings(data_dir=tmp_path))
    services.supervisor = Supervisor(services, poll_seconds=0.05)
    services.supervisor.start()
    monkeypatch.setitem(RUNNERS, ENGINE, LoopRunner)
    monkeypatch.setitem(lifecycle.PRECHECKS, ENGINE, passing_check)
    LoopRunner.runs = 0
    yield services
    services.supervisor.shutdown(timeout=5)
    services.store.dispose()


def make_job(svc: Services, status: JobStatus = S.CONFIGURATION, engine: str = ENGINE, **runtime: Any) -> str:
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"t_{uuid.uuid4().hex[:8]}", status=status,
              db_use_type="sync", engine_type=engine, job_direction="up", task_type="FULL_INCR_TRANS",
              net_type="eip", config={"source_endpoint": {"db_type": "mysql", "ip": "10.0.0.1"}},
              runtime=dict(runtime))
    with svc.store.session() as s:
        JobRepo(s).add(job)
    return job.id


def get(svc: Services, job_id: str) -> Job:
    with svc.store.session() as s:
        job = JobRepo(s).get(job_id)
    assert job is not None
    return job


def wait_for(what: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def passed_precheck(svc: Services, job_id: str) -> None:
    lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob").join(5)
    assert lifecycle.precheck_result(svc, PROJECT, job_id)["result"] is True


def actions(svc: Services, job_id: str) -> list[str]:
    with svc.store.session() as s:
        return [e.action for e in JobRepo(s).events(job_id)]


def test_precheck_start_pause_resume_with_a_real_worker(svc: Services) -> None:
    assert svc.supervisor is not None
    job_id = make_job(svc)
    with pytest.raises(InvalidRequest, match="pre-check has not passed"):
        lifecycle.start_job(svc, PROJECT, job_id)

    passed_precheck(svc, job_id)
    result = lifecycle.precheck_result(svc, PROJECT, job_id)
    assert result["precheck_id"] == job_id and result["process"] == "100%"
    assert result["total_passed_rate"] == "100%"  # ALARM warns but passes
    assert [i["result"] for i in result["precheck_result"]] == ["PASSED", "ALARM"]

    assert lifecycle.start_job(svc, PROJECT, job_id, "", {"is_auto_create_compare": False}) is S.STARTJOBING
    assert get(svc, job_id).config["is_auto_create_compare"] is False
    wait_for(lambda: get(svc, job_id).status is S.FULL_TRANSFER_STARTED and svc.supervisor.is_running(job_id))

    assert lifecycle.pause_job(svc, PROJECT, job_id, "target") is S.PAUSING
    paused = get(svc, job_id)
    assert paused.status is S.PAUSING and paused.runtime["pause_mode"] == "target"
    wait_for(lambda: not svc.supervisor.is_running(job_id))
    time.sleep(0.2)
    assert not svc.supervisor.is_running(job_id)  # the supervisor does not restart a paused task

    assert lifecycle.resume_job(svc, PROJECT, job_id) is S.FULL_TRANSFER_STARTED  # back to the paused phase
    wait_for(lambda: svc.supervisor.is_running(job_id) and LoopRunner.runs == 2)
    assert "pause_mode" not in get(svc, job_id).runtime
    assert actions(svc, job_id) == ["precheck", "start", "full_started", "pause", "resume"]


def test_scheduled_start_waits_then_the_supervisor_starts_it(svc: Services) -> None:
    job_id = make_job(svc)
    passed_precheck(svc, job_id)
    when = now_ms() + 400
    assert lifecycle.start_job(svc, PROJECT, job_id, str(when)) is S.WAITING_FOR_START
    assert get(svc, job_id).config["start_time"] == str(when)
    wait_for(lambda: get(svc, job_id).status is S.FULL_TRANSFER_STARTED)
    assert now_ms() >= when
    assert actions(svc, job_id)[-3:] == ["schedule", "start_due", "full_started"]


def test_a_start_time_in_the_past_starts_now(svc: Services) -> None:
    job_id = make_job(svc)
    passed_precheck(svc, job_id)
    assert lifecycle.start_job(svc, PROJECT, job_id, str(now_ms() - 60_000)) is S.STARTJOBING
    assert "start_time" not in get(svc, job_id).config


def test_parse_start_time() -> None:
    assert lifecycle.parse_start_time(None) is None
    assert lifecycle.parse_start_time("") is None
    assert lifecycle.parse_start_time("1000", now=2000) is None
    assert lifecycle.parse_start_time("2000", now=2000) is None
    assert lifecycle.parse_start_time("3000", now=2000) == 3000


def test_failed_precheck_blocks_the_start(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lifecycle.PRECHECKS, ENGINE, lambda _s, _j: [
        {"item": "srcDbConnection", "result": "PASSED", "group": "network"},
        {"item": "dstDbPrivilegesIsEnough", "result": "FAILED", "group": "db_user_privilege",
         "failed_reason": "no INSERT on db1"},
    ])
    job_id = make_job(svc)
    lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob").join(5)
    result = lifecycle.precheck_result(svc, PROJECT, job_id)
    assert result["result"] is False and result["total_passed_rate"] == "50%"
    with pytest.raises(InvalidRequest, match="found problems"):
        lifecycle.start_job(svc, PROJECT, job_id)
    assert get(svc, job_id).status is S.CONFIGURATION


def test_a_crashing_precheck_reports_a_failed_item(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(_svc: Services, _job: Job) -> list[dict[str, Any]]:
        raise RuntimeError("source unreachable")

    monkeypatch.setitem(lifecycle.PRECHECKS, ENGINE, crash)
    job_id = make_job(svc)
    lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob").join(5)
    result = lifecycle.precheck_result(svc, PROJECT, job_id)
    assert result["result"] is False and result["process"] == "100%"
    assert "source unreachable" in result["precheck_result"][0]["failed_reason"]


def test_precheck_progress_is_visible_and_a_second_run_is_refused(
        svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow(_svc: Services, _job: Job) -> list[dict[str, Any]]:
        release.wait(5)
        return []

    monkeypatch.setitem(lifecycle.PRECHECKS, ENGINE, slow)
    job_id = make_job(svc)
    thread = lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob")
    running = lifecycle.precheck_result(svc, PROJECT, job_id)
    assert running["process"] == "0%" and running["result"] is False
    with pytest.raises(TaskBusy):
        lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob")
    with pytest.raises(InvalidRequest, match="still running"):
        lifecycle.start_job(svc, PROJECT, job_id)
    release.set()
    thread.join(5)
    assert lifecycle.precheck_result(svc, PROJECT, job_id)["result"] is True


def test_a_config_change_after_the_precheck_needs_a_new_one(svc: Services) -> None:
    job_id = make_job(svc)
    passed_precheck(svc, job_id)
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = repo.get(job_id)
        assert job is not None
        job.config["object_selection"] = {"selected": False, "sync_database": False, "job": []}
        repo.save(job)
    with pytest.raises(InvalidRequest, match="changed after the pre-check"):
        lifecycle.start_job(svc, PROJECT, job_id)
    passed_precheck(svc, job_id)
    assert lifecycle.start_job(svc, PROJECT, job_id) is S.STARTJOBING


def test_precheck_result_before_any_precheck_is_m00289(svc: Services) -> None:
    with pytest.raises(MissingQueryResult) as err:
        lifecycle.precheck_result(svc, PROJECT, make_job(svc))
    assert err.value.error_code == "DRS.M00289" and "batch-precheck" in err.value.error_msg


def test_engines_without_a_precheck_or_runner_answer_not_available(svc: Services) -> None:
    job_id = make_job(svc, engine="nosuchengine")
    with pytest.raises(NotAvailableYet, match="pre-check is not available for engine_type nosuchengine yet"):
        lifecycle.start_precheck(svc, PROJECT, job_id, "forStartJob")
    with pytest.raises(NotAvailableYet, match="starting a task is not available for engine_type nosuchengine"):
        lifecycle.start_job(svc, PROJECT, job_id)


def test_precheck_mode_must_fit_the_status(svc: Services) -> None:
    with pytest.raises(InvalidStatus) as err:
        lifecycle.start_precheck(svc, PROJECT, make_job(svc), "forRetryJob")
    assert err.value.error_code == "DRS.M00304" and "forStartJob" in err.value.error_msg
    with pytest.raises(InvalidStatus, match="forRetryJob"):
        lifecycle.start_precheck(svc, PROJECT, make_job(svc, S.INCRE_TRANSFER_FAILED), "forStartJob")
    lifecycle.start_precheck(svc, PROJECT, make_job(svc, S.INCRE_TRANSFER_FAILED), "forRetryJob").join(5)


def test_pause_and_resume_are_refused_where_the_state_machine_says_so(svc: Services) -> None:
    job_id = make_job(svc)
    with pytest.raises(InvalidStatus) as err:
        lifecycle.pause_job(svc, PROJECT, job_id)
    assert "CONFIGURATION" in err.value.error_msg and "INCRE_TRANSFER_STARTED" in err.value.error_msg
    with pytest.raises(InvalidStatus, match="PAUSING"):
        lifecycle.resume_job(svc, PROJECT, job_id)
    with pytest.raises(InvalidStatus, match="already been started"):
        lifecycle.start_job(svc, PROJECT, make_job(svc, S.INCRE_TRANSFER_STARTED))
    assert actions(svc, job_id) == []


def test_retry_of_a_failed_task_goes_back_to_the_failed_phase(svc: Services) -> None:
    assert svc.supervisor is not None
    job_id = make_job(svc, S.INCRE_TRANSFER_FAILED, failed_reason="binlog purged")
    assert lifecycle.resume_job(svc, PROJECT, job_id, is_sync_re_edit=False) is S.INCRE_TRANSFER_STARTED
    job = get(svc, job_id)
    assert "failed_reason" not in job.runtime and job.runtime["is_sync_re_edit"] is False
    wait_for(lambda: svc.supervisor.is_running(job_id))
    assert actions(svc, job_id) == ["resume"]


def test_resume_needs_an_engine_that_can_run(svc: Services) -> None:
    job_id = make_job(svc, S.PAUSING, engine="nosuchengine", paused_from="INCRE_TRANSFER_STARTED")
    with pytest.raises(NotAvailableYet, match="resuming a task"):
        lifecycle.resume_job(svc, PROJECT, job_id)
    assert get(svc, job_id).status is S.PAUSING


def test_a_precheck_cut_short_by_a_restart_reads_as_failed(svc: Services) -> None:
    job_id = make_job(svc, precheck={"precheck_id": "x", "process": "0%", "result": False,
                                     "precheck_result": [], "started_at": now_ms()})
    result = lifecycle.precheck_result(svc, PROJECT, job_id)
    assert result["process"] == "100%" and result["result"] is False
    assert "run 4.1.6 batch-precheck again" in result["precheck_result"][0]["failed_reason"]
    with pytest.raises(InvalidRequest, match="interrupted"):
        lifecycle.start_job(svc, PROJECT, job_id)
    passed_precheck(svc, job_id)
