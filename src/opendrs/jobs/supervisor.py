"""The task supervisor: the single place where engines plug in and tasks get worker threads.

It provisions new tasks (CREATING -> CONFIGURATION), starts scheduled ones when due, runs each
running task's ``Runner`` in its own thread with a ``RunContext``, releases resources of
terminated tasks, and on start-up resumes every task whose stored status says it was running.
One concurrency model for the pipeline: threads with blocking drivers (STYLE §7).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opendrs.errors import DrsError
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, now_ms
from opendrs.jobs.states import RUNNING, Action, JobStatus
from opendrs.store.repo import CheckpointRepo, JobRepo

log = logging.getLogger("opendrs.supervisor")


class Stopped(Exception):  # noqa: N818 - control flow, not an error
    """Raised inside a runner when the task was asked to stop or pause."""


@dataclass
class RunContext:
    """What a runner sees: its task, cooperative stop/pause, heartbeats and status reports."""

    job_id: str
    services: Services
    stop_event: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    _report: Callable[[str, Action, str], None] | None = None

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def check(self) -> None:
        """Call between batches: raises Stopped when the task must stop at this boundary."""
        if self.stop_event.is_set():
            raise Stopped(self.reason)

    def sleep(self, seconds: float) -> None:
        if self.stop_event.wait(seconds):
            raise Stopped(self.reason)

    def load(self) -> Job:
        with self.services.store.session() as s:
            job = JobRepo(s).get(self.job_id)
        if job is None:
            raise Stopped("task vanished")
        return job

    def update_runtime(self, **values: Any) -> None:
        """Merge progress/lag figures into the task's runtime document (shown by the API)."""
        for _ in range(5):
            try:
                with self.services.store.session() as s:
                    repo = JobRepo(s)
                    job = repo.get(self.job_id)
                    if job is None:
                        return
                    job.runtime.update(values)
                    repo.save(job)
                    return
            except DrsError:
                time.sleep(0.05)  # lost an optimistic-lock race with the API; read again

    def heartbeat(self, **detail: Any) -> None:
        with self.services.store.session() as s:
            CheckpointRepo(s).heartbeat(self.job_id, socket.gethostname(), detail)

    def advance(self, action: Action, reason: str = "") -> None:
        """Move the task through the state machine (e.g. FULL_DONE, INCR_STARTED)."""
        if self._report is not None:
            self._report(self.job_id, action, reason)


class Runner(Protocol):
    """One engine's way of running a task; returns when done, raises Stopped or fails."""

    def run(self, ctx: RunContext) -> None: ...

    def release(self, ctx: RunContext, force: bool) -> None: ...


RunnerFactory = Callable[[Job], Runner]
# engine_type -> factory. Engine packages register themselves (see opendrs.pipeline.registry).
RUNNERS: dict[str, RunnerFactory] = {}


def register_runner(engine_type: str, factory: RunnerFactory) -> None:
    RUNNERS[engine_type] = factory


def can_run(engine_type: str) -> bool:
    load_engines()
    return engine_type in RUNNERS


def load_engines() -> None:
    """Importing the registry registers every engine's runner, prechecks and providers (once)."""
    import opendrs.pipeline.registry  # noqa: F401


def _continues(job: Job) -> bool:
    """A full+incremental task whose full load finished goes on to CDC (also after a crash in between)."""
    return job.status is JobStatus.FULL_TRANSFER_COMPLETE and job.task_type == "FULL_INCR_TRANS"


@dataclass
class _Worker:
    thread: threading.Thread
    ctx: RunContext


class Supervisor:
    def __init__(self, services: Services, poll_seconds: float = 0.5) -> None:
        self.svc = services
        self.poll_seconds = poll_seconds
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        load_engines()
        self._loop = threading.Thread(target=self._run_loop, name="opendrs-supervisor", daemon=True)
        self._loop.start()

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop workers at a batch boundary; their tasks keep their status and resume next start."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.ctx.reason = "server shutdown"
            w.ctx.stop_event.set()
        deadline = time.monotonic() + timeout
        for w in workers:
            w.thread.join(max(0.0, deadline - time.monotonic()))
        if self._loop is not None:
            self._loop.join(timeout=5)

    def stop_worker(self, job_id: str, reason: str) -> None:
        with self._lock:
            w = self._workers.get(job_id)
        if w is not None:
            w.ctx.reason = reason
            w.ctx.stop_event.set()

    def is_running(self, job_id: str) -> bool:
        with self._lock:
            w = self._workers.get(job_id)
        return w is not None and w.thread.is_alive()

    # --- the loop ------------------------------------------------------------------------------
    def _run_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor tick failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def tick(self) -> None:
        """One pass over every task: provision, start due ones, run, release."""
        with self.svc.store.session() as s:
            jobs = JobRepo(s).active()
        for job in jobs:
            if self._stop.is_set():
                return
            try:
                self._handle(job)
            except DrsError as exc:
                log.info("job %s: %s (%s)", job.id, exc.error_msg, exc.detail)

    def _handle(self, job: Job) -> None:
        if job.status is JobStatus.CREATING:
            self._provision(job)
        elif job.status is JobStatus.WAITING_FOR_START:
            if int(job.config.get("start_time") or 0) <= now_ms():
                self._transition(job.id, Action.START_DUE, "scheduled start time reached")
                self._ensure_worker(job.id)
        elif job.status in RUNNING or _continues(job):
            self._ensure_worker(job.id)
        elif job.status is JobStatus.RELEASE_RESOURCE_STARTED:
            self._release(job)

    def _provision(self, job: Job) -> None:
        """Allocate the task's working directory (spill files, logs) under the data dir."""
        try:
            (self.svc.settings.data_dir / "jobs" / job.id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._transition(job.id, Action.PROVISION_FAILED, f"cannot create work dir: {exc}")
            return
        self._transition(job.id, Action.PROVISIONED, "worker resources allocated")

    def _transition(self, job_id: str, action: Action, reason: str) -> None:
        from opendrs.jobs.service import move, retry_concurrent

        def step() -> None:
            with self.svc.store.session() as s:
                repo = JobRepo(s)
                job = repo.get(job_id)
                if job is None:
                    return
                if action is Action.FAIL:
                    job.runtime["failed_reason"] = reason
                move(repo, job, action, reason)

        retry_concurrent(step)

    def _ensure_worker(self, job_id: str) -> None:
        with self._lock:
            existing = self._workers.get(job_id)
            if existing is not None and existing.thread.is_alive():
                return
            with self.svc.store.session() as s:
                job = JobRepo(s).get(job_id)
            if job is None or not (job.status in RUNNING or _continues(job)):
                return
            factory = RUNNERS.get(job.engine_type)
            if factory is None:
                self._transition(job.id, Action.FAIL, f"no engine can run {job.engine_type} tasks yet")
                return
            ctx = RunContext(job_id=job.id, services=self.svc, _report=self._report)
            runner = factory(job)
            thread = threading.Thread(target=self._work, args=(runner, ctx), name=f"job-{job.id[:8]}", daemon=True)
            self._workers[job.id] = _Worker(thread, ctx)
            thread.start()

    def _report(self, job_id: str, action: Action, reason: str) -> None:
        self._transition(job_id, action, reason)

    def _work(self, runner: Runner, ctx: RunContext) -> None:
        try:
            runner.run(ctx)
        except Stopped as stop:
            log.info("job %s stopped at a batch boundary: %s", ctx.job_id, stop)
        except DrsError as exc:
            log.warning("job %s failed: %s (%s)", ctx.job_id, exc.error_msg, exc.detail)
            self._fail(ctx.job_id, exc.error_msg if not exc.detail else f"{exc.error_msg} {exc.detail}")
        except Exception as exc:
            log.exception("job %s failed", ctx.job_id)
            self._fail(ctx.job_id, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                w = self._workers.get(ctx.job_id)
                if w is not None and w.ctx is ctx:
                    del self._workers[ctx.job_id]

    def _fail(self, job_id: str, reason: str) -> None:
        with self.svc.store.session() as s:
            job = JobRepo(s).get(job_id)
        if job is not None and job.status in RUNNING:
            self._transition(job_id, Action.FAIL, reason)

    def _release(self, job: Job) -> None:
        self.stop_worker(job.id, "task terminated")
        with self._lock:
            w = self._workers.get(job.id)
        if w is not None and w.thread.is_alive():
            return  # next tick, once the worker has stopped
        force = bool(job.runtime.get("force_terminate"))
        factory = RUNNERS.get(job.engine_type)
        if factory is not None:
            try:
                factory(job).release(RunContext(job_id=job.id, services=self.svc), force)
            except Exception as exc:  # noqa: BLE001 - any engine failure here means "release failed"
                log.warning("job %s: releasing resources failed: %s", job.id, exc)
                if not force:
                    self._transition(job.id, Action.RELEASE_FAILED, f"release failed: {exc}")
                    return
        self._transition(job.id, Action.RELEASED, "resources released")
