"""Runs OpenDRS the way a user does: ``opendrs serve`` as a subprocess, driven through the REST API.

The bench measures the real product path (API -> supervisor -> runner -> engines), not a
library call, so the figures include whatever the service adds. The same server process
serves every run; its RSS (process tree, sampled from /proc, plus the kernel's VmHWM reset
before each run) is the "peak RSS" of the results.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from common import BenchError, RssSampler, wait_until

from opendrs.client import ApiError, DrsHttpClient
from opendrs.sandbox import MariaDBServer, free_port

AK = "BENCHADMINAK00000001"
SK = "bench-admin-secret-key-0123456789"  # noqa: S105 - throwaway local server


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class OpenDrsServer:
    """An ``opendrs serve`` child process on a free loopback port with its own data dir."""

    def __init__(self, workdir: Path, log_level: str = "info") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.project_id = uuid.uuid4().hex
        self.log_level = log_level
        self.log_path = workdir / "opendrs-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> OpenDrsServer:
        env = {**os.environ, "OPENDRS_ADMIN_AK": AK, "OPENDRS_ADMIN_SK": SK, "OPENDRS_PROJECT_ID": self.project_id}
        cmd = [sys.executable, "-m", "opendrs", "serve", "--port", str(self.port), "--data-dir",
               str(self.workdir / "opendrs-data"), "--log-level", self.log_level]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_die_with_parent)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BenchError(f"opendrs serve exited early:\n{self.log_tail()}")
            try:
                return httpx.get(f"{self.base_url}/openapi.json", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=timeout, what="opendrs serve to answer")
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def client(self) -> DrsHttpClient:
        return DrsHttpClient(self.base_url, AK, SK, self.project_id, timeout=120)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def endpoint(server: MariaDBServer) -> dict[str, Any]:
    return {"db_type": "mysql", "ip": server.host, "db_port": server.port, "db_user": server.user,
            "db_password": server.password}


def status(http: DrsHttpClient, job_id: str) -> str:
    body = http.call("POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]})
    return str(body["results"][0].get("status", ""))


def detail(http: DrsHttpClient, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
    return result


def progress(http: DrsHttpClient, job_id: str) -> dict[str, Any]:
    result: dict[str, Any] = http.call("POST", "/v3/{project_id}/jobs/batch-progress", {"jobs": [job_id]})["results"][0]
    return result


def wait_status(http: DrsHttpClient, job_id: str, wanted: set[str], timeout: float,
                on_poll: Callable[[str], None] | None = None, interval: float = 0.2) -> float:
    """Poll 4.1.22 until one of ``wanted``; a *_FAILED status raises with the task's failed_reason."""
    def check() -> bool:
        current = status(http, job_id)
        if current in wanted:
            return True
        if current.endswith("_FAILED"):
            raise BenchError(f"OpenDRS task {job_id} is {current}: {detail(http, job_id).get('failed_reason')}")
        if on_poll is not None:
            on_poll(current)
        return False

    return wait_until(check, timeout=timeout, what=f"task {job_id} to reach {sorted(wanted)}", interval=interval)


def prepare_task(http: DrsHttpClient, source: MariaDBServer, target: MariaDBServer, db: str, *, task_type: str,
                 db_use_type: str, policy: dict[str, Any] | None = None,
                 tuning: dict[str, dict[str, str]] | None = None) -> str:
    """Create, connection-test, select ``db``, set policy/tuning and precheck a task; returns its id (not started)."""
    return configure_task(http, "mysql", endpoint(source), endpoint(target),
                          [{"id": db, "object_type": "database", "object_name": db, "select": "true"}],
                          task_type=task_type, db_use_type=db_use_type, policy=policy, tuning=tuning)


def configure_task(http: DrsHttpClient, engine_type: str, source: dict[str, Any], target: dict[str, Any],
                   objects: list[dict[str, Any]], *, task_type: str, db_use_type: str,
                   policy: dict[str, Any] | None = None, tuning: dict[str, dict[str, str]] | None = None) -> str:
    """Create a task of any engine, test both endpoints, select ``objects`` (4.1.5), set policy/tuning, precheck."""
    job = {"name": f"bench_{uuid.uuid4().hex[:10]}", "db_use_type": db_use_type, "engine_type": engine_type,
           "job_direction": "up", "task_type": task_type, "net_type": "eip", "bind_eip": True, "node_type": "high",
           "source_endpoint": source, "target_endpoint": target, "description": "bench"}
    created = http.call("POST", "/v3/{project_id}/jobs/batch-creation", {"jobs": [job]})["results"][0]
    if created.get("status") != "CREATING":
        raise BenchError(f"task creation failed: {created}")
    job_id = str(created["id"])
    wait_status(http, job_id, {"CONFIGURATION"}, timeout=60)
    tested = http.call("POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [
        {"id": job_id, "end_point_type": "so", **source},
        {"id": job_id, "end_point_type": "ta", **target}]})
    if not all(r.get("success") for r in tested["results"]):
        raise BenchError(f"connection test failed: {tested}")
    http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects",
              {"jobs": [{"job_id": job_id, "selected": True, "job": objects}]})
    if policy:
        http.call("POST", "/v3/{project_id}/jobs/batch-sync-policy", {"jobs": [{"job_id": job_id, **policy}]})
    if tuning:
        http.call("PUT", f"/v3/{{project_id}}/job/{job_id}/tuning-params/modify-params", tuning)
    started = http.call("POST", "/v3/{project_id}/jobs/batch-precheck",
                        {"jobs": [{"job_id": job_id, "precheck_mode": "forStartJob"}]})
    if started["results"][0].get("status") != "success":
        raise BenchError(f"precheck did not start: {started}")
    result: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal result
        result = http.call("POST", "/v3/{project_id}/jobs/batch-precheck-result", {"jobs": [job_id]})["results"][0]
        return result.get("process") == "100%"

    wait_until(finished, timeout=120, what="the precheck", interval=0.3)
    if result.get("result") is not True:
        failed = [f"{i.get('item')}: {i.get('failed_reason') or i.get('data')}"
                  for i in result.get("precheck_result", []) if i.get("result") == "FAILED"]
        raise BenchError(f"precheck failed: {failed or result}")
    return job_id


def start_task(http: DrsHttpClient, job_id: str) -> float:
    """4.1.11 start; returns the monotonic time of the call (the measured interval begins here)."""
    began = time.monotonic()
    resp = http.call("POST", "/v3/{project_id}/jobs/batch-starting", {"jobs": [{"job_id": job_id}]})
    if resp["results"][0].get("status") != "success":
        raise BenchError(f"start failed: {resp}")
    return began


def stop_task(http: DrsHttpClient, job_id: str, timeout: float = 120) -> None:
    """Terminate (4.1.14) and wait for the release; a task that is already over is fine."""
    try:
        http.call("DELETE", "/v3/{project_id}/jobs/batch-jobs",
                  {"jobs": [{"delete_type": "terminate", "job_id": job_id}]})
    except ApiError:
        return
    wait_status(http, job_id, {"RELEASE_RESOURCE_COMPLETE"}, timeout=timeout)


@contextlib.contextmanager
def _stopped_on_error(http: DrsHttpClient, job_id: str) -> Iterator[None]:
    """A run that fails or times out must not leave its task writing to the target during the next run."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(BenchError, ApiError, httpx.HTTPError):
            stop_task(http, job_id, timeout=60)
        raise


def full_load(server: OpenDrsServer, source: MariaDBServer, target: MariaDBServer, db: str, *, parallel_tables: int,
              timeout: float, on_poll: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
    """A FULL_TRANS migration of ``db``: (seconds from start to FULL_TRANSFER_COMPLETE, peak RSS, info)."""
    return timed_full_load(server, lambda http: prepare_task(
        http, source, target, db, task_type="FULL_TRANS", db_use_type="migration",
        tuning={"full_sync": {"parallel_tables": str(parallel_tables)}}), timeout=timeout, on_poll=on_poll)


def timed_full_load(server: OpenDrsServer, prepare: Callable[[DrsHttpClient], str], *, timeout: float,
                    on_poll: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
    """Start the task ``prepare`` made (pre-checked) and time it to FULL_TRANSFER_COMPLETE, whatever the engine."""
    with server.client() as http:
        job_id = prepare(http)
        last: dict[str, Any] = {}
        next_report = 0.0

        def poll(current: str) -> None:
            nonlocal next_report  # progress at most every 2 s: the API shares the worker's process (GIL)
            if current == "FULL_TRANSFER_STARTED" and time.monotonic() >= next_report:
                next_report = time.monotonic() + 2.0
                last.update(progress(http, job_id))
            on_poll(f"{current} {last.get('progress', '?')}%  {last.get('apply_rows_rate', '?')} rows/s")

        with RssSampler(server.pid) as rss, _stopped_on_error(http, job_id):
            began = start_task(http, job_id)
            done = wait_status(http, job_id, {"FULL_TRANSFER_COMPLETE"}, timeout=timeout, on_poll=poll, interval=0.25)
            peak = rss.peak
        info = {"job_id": job_id, "last_rows_per_s": last.get("apply_rows_rate")}
        stop_task(http, job_id)
    return done - began, peak, info


def incremental(server: OpenDrsServer, source: MariaDBServer, target: MariaDBServer, db: str, *,
                start: tuple[str, int], caught_up: Callable[[], bool], timeout: float,
                on_poll: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
    """An INCR_TRANS sync from binlog ``start``: (seconds from start until ``caught_up()``, peak RSS, lag info)."""
    policy = {"conflict_policy": "overwrite", "filter_ddl_policy": "drop_database", "ddl_trans": True,
              "file_and_position": f"{start[0]}:{start[1]}"}
    with server.client() as http:
        job_id = prepare_task(http, source, target, db, task_type="INCR_TRANS", db_use_type="sync", policy=policy)
        lag: dict[str, Any] = {"max_delay_ms": -1, "max_apply_rows_rate": 0, "samples": []}
        next_report = 0.0

        def poll() -> None:
            nonlocal next_report
            if time.monotonic() < next_report:
                return
            next_report = time.monotonic() + 2.0
            prog = progress(http, job_id)
            delay, rows_rate = int(prog.get("incre_trans_delay_millis") or -1), int(prog.get("apply_rows_rate") or 0)
            lag["max_delay_ms"] = max(lag["max_delay_ms"], delay)
            lag["max_apply_rows_rate"] = max(lag["max_apply_rows_rate"], rows_rate)
            lag["samples"].append({"t": round(time.monotonic() - began, 1), "delay_ms": delay, "rows_per_s": rows_rate})
            cdc = prog.get("cdc") or {}
            on_poll(f"{prog.get('transfer_status', '')} applied {cdc.get('applied_changes', '?')} "
                    f"delay {delay} ms  {rows_rate} changes/s")

        with RssSampler(server.pid) as rss, _stopped_on_error(http, job_id):
            began = start_task(http, job_id)
            done = wait_until(caught_up, timeout=timeout, what="OpenDRS CDC to catch up", on_poll=poll)
            peak = rss.peak
        time.sleep(1.2)  # one more report interval, so the API's figures cover the end of the stream
        final = progress(http, job_id)
        lag["final_delay_ms"] = final.get("incre_trans_delay_millis")
        lag["final_apply_rows_rate"] = final.get("apply_rows_rate")
        lag["job_id"] = job_id
        stop_task(http, job_id)
    return done - began, peak, lag
