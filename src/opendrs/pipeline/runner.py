"""The generic task runner: start -> structure -> full load -> incremental, for any engine pair.

It is what the supervisor runs in a task's worker thread. Every phase resumes from the
checkpoints kept in the TARGET database (written in the same transactions as the data), so a
kill -9 at any moment loses nothing and applies nothing twice. Transient failures (source
restart, network cut, target down) are retried with back-off from the last checkpoint before
the task is declared failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opendrs.engines.contracts import SourceEngine, TargetEngine
from opendrs.jobs.context import Services
from opendrs.jobs.extras import tuning_value
from opendrs.jobs.model import Job, now_ms
from opendrs.jobs.states import Action, JobStatus
from opendrs.jobs.supervisor import RunContext, Stopped
from opendrs.pipeline.cdc import Cdc, CdcSettings, CdcStats
from opendrs.pipeline.fullload import Cancelled, FullLoad, FullLoadSettings
from opendrs.pipeline.model import Catalog, Position, TableRef
from opendrs.pipeline.selection import Selection
from opendrs.pipeline.throttle import Throttle

log = logging.getLogger("opendrs.runner")

# Objects that act on data by themselves: created at cut-over (task stop), never while we apply.
CUTOVER_KINDS = frozenset({"trigger", "event"})


class EngineKit(Protocol):
    """How one engine pair builds its sides for a task, and which errors are worth a retry."""

    def source(self, job: Job) -> SourceEngine: ...

    def target(self, job: Job) -> TargetEngine: ...

    def start_position(self, source: SourceEngine, job: Job) -> Position:
        """Where CDC starts: the 4.3.2 position for INCR_TRANS when given, else "now"."""
        ...

    def is_transient(self, exc: BaseException) -> bool: ...


@dataclass
class RetryPolicy:
    max_seconds: float = 600.0  # keep trying for 10 minutes (a target down for a minute recovers)
    first_delay: float = 1.0
    max_delay: float = 15.0


def _split(catalog: Catalog, cutover: bool) -> Catalog:
    keep = [o for o in catalog.objects if (o.kind in CUTOVER_KINDS) == cutover]
    return Catalog(databases=catalog.databases if not cutover else [], tables=catalog.tables if not cutover else [],
                   objects=keep)


class ReplicationRunner:
    """``make_kit`` builds the engine kit from the service container (it unseals endpoint passwords)."""

    def __init__(self, job: Job, make_kit: Callable[[Services], EngineKit], full: FullLoadSettings | None = None,
                 cdc: CdcSettings | None = None, retry: RetryPolicy | None = None) -> None:
        self.job_id = job.id
        self.make_kit = make_kit
        self.full_settings = full or FullLoadSettings()
        self.cdc_settings = cdc or CdcSettings()
        self.retry = retry or RetryPolicy()
        self._last_commit_ts = 0.0
        self._last_progress: dict[str, Any] = {}

    # --- Runner protocol ------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> None:
        self.kit = self.make_kit(ctx.services)
        while not ctx.stopping:
            job = ctx.load()
            status = job.status
            if status is JobStatus.STARTJOBING:
                self._with_retries(ctx, lambda: self._start(ctx, ctx.load()))
            elif status is JobStatus.FULL_TRANSFER_STARTED:
                self._with_retries(ctx, lambda: self._full(ctx, ctx.load()))
            elif status is JobStatus.FULL_TRANSFER_COMPLETE and job.task_type == "FULL_INCR_TRANS":
                ctx.advance(Action.INCR_STARTED, "full load complete, incremental sync starts")
            elif status is JobStatus.INCRE_TRANSFER_STARTED:
                self._with_retries(ctx, lambda: self._incremental(ctx, ctx.load()))
                return
            else:
                return

    def release(self, ctx: RunContext, force: bool) -> None:
        """Cut-over: create triggers and events on the target, forget the task's checkpoints."""
        job = ctx.load()
        if not job.runtime.get("actual_start_time"):
            return  # never started: nothing was created on either side
        self.kit = self.make_kit(ctx.services)
        source, target = self.kit.source(job), self.kit.target(job)
        try:
            selection = Selection.from_config(job.config)
            cutover = _split(source.discover(selection), cutover=True)
            if cutover.objects and job.runtime.get("full_transfer_complete_time"):
                target.finish(cutover, selection)
            drop = getattr(target, "drop_checkpoints", None)
            if callable(drop):
                drop(job.id)
            # Sources that keep server-side state for the task (a PostgreSQL slot pinning WAL,
            # its publication) drop it here, so a stopped task leaves nothing behind.
            free = getattr(source, "release", None)
            if callable(free):
                free()
        finally:
            source.close()
            target.close()

    # --- phases ---------------------------------------------------------------------------------
    def _start(self, ctx: RunContext, job: Job) -> None:
        selection = Selection.from_config(job.config)
        source, target = self.kit.source(job), self.kit.target(job)
        try:
            catalog = source.discover(selection)
            if target.read_checkpoint(job.id, "start") is None:
                # The position is taken BEFORE any row is read: CDC replays from here.
                position = self.kit.start_position(source, job)
                if job.task_type != "INCR_TRANS":
                    target.prepare(catalog, selection, drop_existing=False)
                target.write_checkpoint(job.id, "start", {"position": position.to_dict(), "at": now_ms(),
                                                          "tables": [str(t.ref) for t in catalog.tables]})
        finally:
            source.close()
            target.close()
        ctx.update_runtime(actual_start_time=now_ms(), incre_start_position="")
        if job.task_type == "INCR_TRANS":
            ctx.advance(Action.INCR_STARTED, "incremental-only task: capture starts at the configured position")
        else:
            ctx.advance(Action.FULL_STARTED, f"full load of {len(catalog.tables)} tables starts")

    def _full(self, ctx: RunContext, job: Job) -> None:
        selection = Selection.from_config(job.config)
        probe = self.kit.source(job)
        try:
            catalog = probe.discover(selection)
        finally:
            probe.close()
        settings = self._tuned_full(job)
        load = FullLoad(job.id, catalog, selection, lambda: self.kit.source(job), lambda: self.kit.target(job),
                        settings, lambda: ctx.stopping, self._throttle(ctx))
        began = time.monotonic()
        try:
            load.run(lambda snap: self._report_full(ctx, snap))
        except Cancelled as exc:
            raise Stopped(ctx.reason or "stopped") from exc
        copied = time.monotonic()
        log.info("job %s: rows copied in %.1fs; building the structure after the data", job.id, copied - began)
        target, source = self.kit.target(job), self.kit.source(job)
        try:
            target.finish(_split(catalog, cutover=False), selection)
            log.info("job %s: structure after the data built in %.1fs", job.id, time.monotonic() - copied)
            # Where the load ended: CDC replays up to here over copied rows (see Cdc.loaded).
            target.write_checkpoint(job.id, "loaded", {"position": source.current_position().to_dict()})
        finally:
            target.close()
            source.close()
        done = f"full load complete: {load.progress.snapshot()['rows']} rows"
        migrate_users = getattr(self.kit, "migrate_users", None)  # 4.2.1, engines that support it
        if callable(migrate_users):
            problems: list[str] = migrate_users(job)
            if problems:
                done += f"; {len(problems)} account step(s) could not be done on the target: " + "; ".join(problems)
        ctx.update_runtime(full_transfer_complete_time=now_ms())
        ctx.advance(Action.FULL_DONE, done)
        if job.task_type == "FULL_INCR_TRANS":
            ctx.advance(Action.INCR_STARTED, "incremental sync starts from the position taken before the load")

    def _incremental(self, ctx: RunContext, job: Job) -> None:
        job = ctx.load()
        selection = Selection.from_config(job.config)
        source, target = self.kit.source(job), self.kit.target(job)
        try:
            catalog = source.discover(selection)
            saved = target.read_checkpoint(job.id, "cdc") or target.read_checkpoint(job.id, "start")
            if saved is None:
                raise RuntimeError("no start position recorded on the target; restart the task from CONFIGURATION")
            start = source.position_from_dict(saved["position"])
            skip: dict[TableRef, Position] = {}
            for name, doc in target.read_checkpoints(job.id, "keyless:").items():
                schema, _, table = name.removeprefix("keyless:").partition(".")
                skip[TableRef(schema, table)] = source.position_from_dict(doc["position"])
            policy = job.config.get("policy") or {}
            loaded_doc = target.read_checkpoint(job.id, "loaded")
            cdc = Cdc(job.id, catalog, selection, source, target, start, skip, self.cdc_settings,
                      lambda: ctx.stopping, ddl_enabled=bool(policy.get("ddl_trans", True)),
                      throttle=self._throttle(ctx), conflict_policy=str(policy.get("conflict_policy") or "overwrite"),
                      loaded=source.position_from_dict(loaded_doc["position"]) if loaded_doc else None)

            def refresh() -> None:
                fresh = source.discover(selection)
                catalog.tables[:] = fresh.tables

            cdc.run(lambda stats: self._report_cdc(ctx, stats), refresh)
        finally:
            source.close()
            target.close()

    # --- helpers --------------------------------------------------------------------------------
    def _with_retries(self, ctx: RunContext, phase: Callable[[], None]) -> None:
        """Run a phase; retry transient failures with back-off. The budget counts from the first
        failure of a streak: a phase that ran fine for a while before failing starts a new one."""
        streak_started: float | None = None
        delay = self.retry.first_delay
        while True:
            began = time.monotonic()
            try:
                phase()
                if streak_started is not None:
                    ctx.update_runtime(retrying="")
                return
            except Stopped:
                raise
            except Exception as exc:
                now = time.monotonic()
                if streak_started is None or now - began > 60:
                    streak_started, delay = now, self.retry.first_delay
                if not self.kit.is_transient(exc) or now - streak_started > self.retry.max_seconds:
                    raise
                log.warning("job %s: transient failure, retrying in %.0fs: %s", self.job_id, delay, exc)
                self._report_stall(ctx, f"{type(exc).__name__}: {exc}"[:500])
                ctx.sleep(delay)
                delay = min(delay * 2, self.retry.max_delay)

    def _report_stall(self, ctx: RunContext, reason: str) -> None:
        """While retrying, lag keeps growing and the API says why (nothing is being applied)."""
        progress = dict(self._last_progress)
        if self._last_commit_ts and progress.get("incre_trans_delay_millis", "-1") != "-1":
            delay_ms = max(0, int((time.time() - self._last_commit_ts) * 1000))
            progress.update(incre_trans_delay=str(delay_ms // 1000), incre_trans_delay_millis=str(delay_ms),
                            apply_rows_rate=0, apply_bytes_rate=0)
        ctx.update_runtime(retrying=reason, progress=progress)

    def _throttle(self, ctx: RunContext) -> Throttle:
        return Throttle(lambda: list(ctx.load().config.get("speed_limit") or []), ctx.sleep)

    def _tuned_full(self, job: Job) -> FullLoadSettings:
        """The task's tuning parameters (query_tuning_params / update_tuning_params) win."""
        return FullLoadSettings(
            batch_rows=tuning_value(job, "full_sync", "write_batch_rows"),
            rows_per_range=self.full_settings.rows_per_range,
            parallel=tuning_value(job, "full_sync", "parallel_tables"),
        )

    def _report_full(self, ctx: RunContext, snap: dict[str, Any]) -> None:
        pct = int(snap["fraction"] * 100)
        ctx.update_runtime(progress={
            "progress": str(pct),
            "incre_trans_delay": "-1",
            "incre_trans_delay_millis": "-1",
            "process_time": str(snap["elapsed_s"]),
            "remaining_time": str(snap["remaining_s"]),
            "progress_map": {
                "struct": {"completed": "100", "remaining_time": "0"},
                "data": {"completed": str(pct), "remaining_time": str(snap["remaining_s"])},
                "index": {"completed": "100" if pct == 100 else "0", "remaining_time": "0"},
            },
            "apply_rows_rate": snap["rows_per_s"],
            "apply_bytes_rate": snap["bytes_per_s"],
            "full": {"rows": snap["rows"], "estimate": snap["estimate"], "tables_done": snap["tables_done"],
                     "tables": snap["tables"], "per_table": snap["per_table"]},
        })
        ctx.heartbeat(phase="full", rows=snap["rows"])

    def _report_cdc(self, ctx: RunContext, stats: CdcStats) -> None:
        rows_rate, bytes_rate = stats.rates()
        if stats.last_commit_ts:
            self._last_commit_ts = stats.last_commit_ts
        delay_ms = stats.delay_ms
        self._last_progress = {
            "progress": "100",
            "incre_trans_delay": str(-1 if delay_ms < 0 else delay_ms // 1000),
            "incre_trans_delay_millis": str(delay_ms),
            "process_time": str(int(time.monotonic() - stats.started)),
            "remaining_time": "0",
            "progress_map": {k: {"completed": "100", "remaining_time": "0"} for k in ("struct", "data", "index")},
            "apply_rows_rate": rows_rate,
            "apply_bytes_rate": bytes_rate,
            "cdc": {"applied_changes": stats.applied_changes, "applied_txns": stats.applied_txns,
                    "position": stats.position, "last_commit_ts": stats.last_commit_ts},
        }
        ctx.update_runtime(progress=self._last_progress, incre_start_position=stats.location,
                           gtid=str(stats.position.get("gtid_set", "")))
        ctx.heartbeat(phase="incremental", delay_ms=delay_ms)
