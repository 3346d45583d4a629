"""OpenDRS PostgreSQL tasks for the bench, driven through the REST API like ``opendrs_driver`` does for MySQL.

Only the task set-up differs from MySQL (endpoints carry ``db_name``, objects are selected by
schema); the server, status polling, start/stop and the RSS sampler are ``opendrs_driver``'s.

CDC "from the same position": the MySQL bench hands OpenDRS the binlog position recorded
before the stream. A PostgreSQL task's position is its replication slot, and the precheck
(rightly) refuses a first start on a slot that already exists. So the bench starts the
INCR_TRANS task BEFORE the stream is written (the task creates its slot and publication and
reaches INCRE_TRANSFER_STARTED with nothing to apply), pauses it (4.1.13: the walsender goes
away, the slot keeps the WAL), writes the stream, and measures from the resume (4.1.12) until
the stream's marker row and the checksums are on the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common import BenchError, RssSampler, wait_until
from opendrs_driver import (
    OpenDrsServer,
    _stopped_on_error,
    configure_task,
    detail,
    progress,
    start_task,
    status,
    stop_task,
    timed_full_load,
    wait_status,
)
from pg_env import BenchPostgres, slot_active, slot_lag_bytes

from opendrs.client import DrsHttpClient


def pg_endpoint(server: BenchPostgres, db: str | None = None) -> dict[str, Any]:
    ep: dict[str, Any] = {"db_type": "postgresql", "ip": server.host, "db_port": server.port, "db_user": server.user,
                          "db_password": server.password}
    if db is not None:
        ep["db_name"] = db
    return ep


def select_schema(db: str, schema: str = "public") -> dict[str, Any]:
    """The 4.1.5 object list selecting one schema of ``db``."""
    return {"id": f"{db}-*-*-{schema}", "parent_id": db, "object_type": "schema", "object_name": schema,
            "select": "true"}


def prepare_pg_task(http: DrsHttpClient, source: BenchPostgres, target: BenchPostgres, db: str, *, task_type: str,
                    db_use_type: str, policy: dict[str, Any] | None = None,
                    tuning: dict[str, dict[str, str]] | None = None) -> str:
    """Create, connection-test, select ``db``.public, set policy/tuning and precheck a task; returns its id."""
    return configure_task(http, "postgresql", pg_endpoint(source, db), pg_endpoint(target), [select_schema(db)],
                          task_type=task_type, db_use_type=db_use_type, policy=policy, tuning=tuning)


def full_load(server: OpenDrsServer, source: BenchPostgres, target: BenchPostgres, db: str, *, parallel_tables: int,
              timeout: float, on_poll: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
    """A FULL_TRANS migration of ``db``: (seconds from start to FULL_TRANSFER_COMPLETE, peak RSS, info)."""
    return timed_full_load(server, lambda http: prepare_pg_task(
        http, source, target, db, task_type="FULL_TRANS", db_use_type="migration",
        tuning={"full_sync": {"parallel_tables": str(parallel_tables)}}), timeout=timeout, on_poll=on_poll)


class PausedCdc:
    """An INCR_TRANS task started before the change stream and paused: its slot holds the stream."""

    def __init__(self, server: OpenDrsServer, source: BenchPostgres, target: BenchPostgres, db: str) -> None:
        self.server, self.source, self.target, self.db = server, source, target, db
        self.job_id = ""
        self.slot = ""

    def arm(self, timeout: float = 180) -> str:
        """Start the task, wait until it streams, pause it and wait until its walsender is gone; returns its slot."""
        policy = {"conflict_policy": "overwrite", "ddl_trans": False}
        with self.server.client() as http:
            self.job_id = prepare_pg_task(http, self.source, self.target, self.db, task_type="INCR_TRANS",
                                          db_use_type="sync", policy=policy)
            self.slot = ("opendrs_" + self.job_id.replace("-", "").lower())[:63]
            with _stopped_on_error(http, self.job_id):
                start_task(http, self.job_id)
                wait_status(http, self.job_id, {"INCRE_TRANSFER_STARTED"}, timeout=timeout)
                wait_until(lambda: slot_active(self.source, self.slot), timeout=timeout,
                           what=f"the task's slot {self.slot} to be streamed")
                http.call("POST", "/v3/{project_id}/jobs/batch-pause-task", {"jobs": [{"job_id": self.job_id}]})
                wait_status(http, self.job_id, {"PAUSING"}, timeout=timeout)
                wait_until(lambda: not slot_active(self.source, self.slot), timeout=timeout,
                           what=f"the paused task to let go of its slot {self.slot}")
        return self.slot

    def catch_up(self, caught_up: Callable[[], bool], *, timeout: float,
                 on_poll: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
        """Resume; (seconds from the resume until ``caught_up()``, peak RSS, lag figures)."""
        lag: dict[str, Any] = {"max_delay_ms": -1, "max_apply_rows_rate": 0, "max_lag_bytes": 0, "samples": []}
        with self.server.client() as http:
            next_report = 0.0
            began = 0.0

            def poll() -> None:
                nonlocal next_report
                if "resume_to_streaming_s" not in lag and slot_active(self.source, self.slot):
                    lag["resume_to_streaming_s"] = round(time.monotonic() - began, 2)  # the restart's own cost
                if time.monotonic() < next_report:
                    return
                next_report = time.monotonic() + 2.0
                prog = progress(http, self.job_id)
                delay = int(prog.get("incre_trans_delay_millis") or -1)
                rows_rate = int(prog.get("apply_rows_rate") or 0)
                behind = slot_lag_bytes(self.source, self.slot) or 0
                lag["max_delay_ms"] = max(lag["max_delay_ms"], delay)
                lag["max_apply_rows_rate"] = max(lag["max_apply_rows_rate"], rows_rate)
                lag["max_lag_bytes"] = max(lag["max_lag_bytes"], behind)
                lag["samples"].append({"t": round(time.monotonic() - began, 1), "delay_ms": delay,
                                       "rows_per_s": rows_rate, "lag_bytes": behind})
                current = status(http, self.job_id)
                if current.endswith("_FAILED"):
                    raise BenchError(f"OpenDRS task {self.job_id} is {current}: "
                                     f"{detail(http, self.job_id).get('failed_reason')}")
                on_poll(f"{current} delay {delay} ms  {rows_rate} changes/s  slot behind {behind:,} bytes")

            with RssSampler(self.server.pid) as rss, _stopped_on_error(http, self.job_id):
                began = time.monotonic()
                resp = http.call("POST", "/v3/{project_id}/jobs/batch-retry-task", {"jobs": [{"job_id": self.job_id}]})
                if resp["results"][0].get("status") != "success":
                    raise BenchError(f"resume failed: {resp}")
                done = wait_until(caught_up, timeout=timeout, what="OpenDRS CDC to catch up", on_poll=poll)
                peak = rss.peak
            time.sleep(1.2)  # one more report interval, so the API's figures cover the end of the stream
            final = progress(http, self.job_id)
            lag["final_delay_ms"] = final.get("incre_trans_delay_millis")
            lag["final_apply_rows_rate"] = final.get("apply_rows_rate")
            lag["final_lag_bytes"] = slot_lag_bytes(self.source, self.slot)
            lag["job_id"] = self.job_id
            lag["samples"] = lag["samples"][-20:]
            stop_task(http, self.job_id)
            # Stop must drop the task's slot: nothing left pinned on the source.
            lag["slot_left_after_stop"] = bool(self.source.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)))
        return done - began, peak, lag

    def abandon(self) -> None:
        """Stop the task (drops its slot and publication) after a failure before the measured part."""
        if not self.job_id:
            return
        with self.server.client() as http:
            stop_task(http, self.job_id)
