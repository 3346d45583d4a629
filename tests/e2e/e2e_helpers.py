"""Helpers for e2e tests: valid task bodies, polling, task creation."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from opendrs.client import DrsHttpClient

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerHandle:
    """A real server process on a free loopback port, with its own data dir."""

    data_dir: Path
    store_url: str | None = None
    port: int = field(default_factory=_free_port)
    ak: str = "E2EADMINAK0000000001"
    sk: str = "e2e-admin-secret-key-0123456789"
    project_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "OPENDRS_ADMIN_AK": self.ak, "OPENDRS_ADMIN_SK": self.sk,
               "OPENDRS_PROJECT_ID": self.project_id, **self.extra_env}
        cmd = [sys.executable, "-m", "opendrs", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.store_url:
            cmd += ["--store-url", self.store_url]
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.base_url}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer in time:\n{self.log_text()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as an operator would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, hard: bool = False) -> None:
        self.kill() if hard else self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:] if self.log_path and self.log_path.exists() else ""

    def client(self) -> DrsHttpClient:
        return DrsHttpClient(self.base_url, self.ak, self.sk, self.project_id)


def make_sdk_client(server: ServerHandle, version: str = "v3") -> Any:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig

    if version == "v3":
        from huaweicloudsdkdrs.v3 import DrsClient
    else:
        from huaweicloudsdkdrs.v5 import DrsClient
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (10, 120)
    creds = BasicCredentials(server.ak, server.sk, server.project_id)
    return (DrsClient.new_builder().with_http_config(config).with_credentials(creds)
            .with_endpoints([server.base_url]).build())


def unique_name(prefix: str = "task") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def mysql_task(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid 4.1.1 job body for MySQL->MySQL sync between two loopback endpoints."""
    job: dict[str, Any] = {
        "name": name or unique_name(),
        "db_use_type": "sync",
        "engine_type": "mysql",
        "job_direction": "up",
        "task_type": "FULL_INCR_TRANS",
        "net_type": "eip",
        "bind_eip": True,
        "node_type": "high",
        "source_endpoint": {"db_type": "mysql", "ip": "127.0.0.1", "db_port": 3306, "db_user": "root",
                            "db_password": "secret-src-pw"},
        "target_endpoint": {"db_type": "mysql", "ip": "127.0.0.1", "db_port": 3306, "db_user": "root",
                            "db_password": "secret-dst-pw"},
        "description": "e2e test task",
    }
    job.update(overrides)
    return job


def wait_status(client: DrsHttpClient, job_id: str, wanted: set[str] | str, timeout: float = 30) -> str:
    """Poll 4.1.22 until the task reaches one of ``wanted``."""
    targets = {wanted} if isinstance(wanted, str) else wanted
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        body = client.call("POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]})
        status = body["results"][0].get("status", "")
        if status in targets:
            return status
        if status.endswith("_FAILED"):
            detail = client.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
            raise AssertionError(f"task {job_id} is {status}: {detail.get('failed_reason')}")
        time.sleep(0.2)
    raise AssertionError(f"task {job_id} stuck in {status!r}, wanted {targets}")


def create_task(client: DrsHttpClient, **overrides: Any) -> str:
    """Create one task and wait until it is CONFIGURATION; returns its id."""
    body = client.call("POST", "/v3/{project_id}/jobs/batch-creation", {"jobs": [mysql_task(**overrides)]})
    result = body["results"][0]
    assert result.get("status") == "CREATING", result
    wait_status(client, result["id"], "CONFIGURATION")
    return str(result["id"])
