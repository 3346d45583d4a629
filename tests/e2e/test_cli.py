"""The ``opendrs`` command line as a user runs it: a subprocess against a live server.

Admin commands (credentials, users, projects) work on the server's store; the task
commands are signed API clients. Errors must be one line on stderr with the DRS code,
exit code 1, and never a traceback; ``--output json`` must parse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e_helpers import create_task, mysql_task, unique_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(api_server: Any, tmp_path: Path) -> Any:
    """Run ``python -m opendrs ...``; the server's AK/SK come from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDRS_")}
    env.update(OPENDRS_ENDPOINT=api_server.base_url, OPENDRS_AK=api_server.ak, OPENDRS_SK=api_server.sk,
               OPENDRS_PROJECT_ID=api_server.project_id,
               OPENDRS_CLIENT_CONFIG=str(tmp_path / "client.yaml"))  # never the user's real profile

    def run(*args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None,
            drop_env: tuple[str, ...] = (), timeout: float = 60) -> subprocess.CompletedProcess[str]:
        run_env = {k: v for k, v in {**env, **(extra_env or {})}.items() if k not in drop_env}
        return subprocess.run(
            [sys.executable, "-m", "opendrs", *args], input=stdin if stdin is not None else "",
            capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=timeout, check=False,
        )

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """A clean failure: exit 1, a message on stderr, no traceback anywhere."""
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip()
    return result.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- admin commands -----------------------------------------------------------------------------


def test_credentials_create_list_use_delete(cli: Any, api_server: Any) -> None:
    data_dir = str(api_server.data_dir)
    created = json.loads(ok(cli("credentials", "create", "--data-dir", data_dir, "--project-id",
                                api_server.project_id, "--description", "cli e2e", "-o", "json")))
    ak, sk = created["ak"], created["sk"]
    assert created["project_id"] == api_server.project_id
    assert len(sk) >= 30

    listed = ok(cli("credentials", "list", "--data-dir", data_dir))
    assert ak in listed
    assert "cli e2e" in listed
    assert sk not in listed
    as_json = json.loads(ok(cli("credentials", "list", "--data-dir", data_dir, "-o", "json")))
    assert {c["ak"] for c in as_json} >= {ak, api_server.ak}
    assert all("sk" not in c for c in as_json)

    # The running server accepts the new pair at once.
    ok(cli("task", "list", "-o", "json", "--ak", ak, "--sk", sk))

    ok(cli("credentials", "delete", ak, "--data-dir", data_dir))
    err = failed(cli("task", "list", "--ak", ak, "--sk", sk))
    assert err.startswith("DRS.")
    assert "no credential" in failed(cli("credentials", "delete", ak, "--data-dir", data_dir))


def test_credentials_on_a_fresh_store(cli: Any, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert "no OpenDRS store" in failed(cli("credentials", "list", "--data-dir", store))
    result = cli("credentials", "create", "--data-dir", store, "--project", "analytics", "--ak", "ANALYTICS01")
    assert "ANALYTICS01" in ok(result)
    assert "cannot be shown again" in result.stderr
    projects = json.loads(ok(cli("projects", "list", "--data-dir", store, "-o", "json")))
    assert "analytics" in {p["name"] for p in projects}
    # An existing AK is not silently given a new secret.
    assert "already exists" in failed(cli("credentials", "create", "--data-dir", store, "--ak", "ANALYTICS01"))
    assert "--ak must be" in failed(cli("credentials", "create", "--data-dir", store, "--ak", "bad ak"))


def test_users_create_with_stdin_then_log_in(cli: Any, api_server: Any) -> None:
    data_dir = str(api_server.data_dir)
    name = unique_name("user")
    password = "s3cret-password"
    ok(cli("users", "create", name, "--project-id", api_server.project_id, "--password-stdin",
           "--data-dir", data_dir, stdin=password + "\n"))
    users = json.loads(ok(cli("users", "list", "--data-dir", data_dir, "-o", "json")))
    assert {"name": name, "project_id": api_server.project_id} in [
        {"name": u["name"], "project_id": u["project_id"]} for u in users]
    assert password not in ok(cli("users", "list", "--data-dir", data_dir))

    token = httpx.post(f"{api_server.base_url}/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": name, "password": password}}},
        "scope": {"project": {"id": api_server.project_id}}}}, timeout=10)
    assert token.status_code == 201, token.text
    assert token.headers["X-Subject-Token"]

    # No terminal and no --password-stdin: refuse instead of hanging or reading argv.
    assert "--password-stdin" in failed(cli("users", "create", unique_name("user"), "--data-dir", data_dir))
    assert "at least 8" in failed(cli("users", "create", unique_name("user"), "--password-stdin",
                                      "--data-dir", data_dir, stdin="short\n"))
    ok(cli("users", "delete", name, "--data-dir", data_dir))
    assert "no user" in failed(cli("users", "delete", name, "--data-dir", data_dir))


# --- task commands --------------------------------------------------------------------------------


def test_task_create_list_show_delete_round_trip(cli: Any, tmp_path: Path) -> None:
    job = mysql_task(description="from the cli")
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(job))

    created = json.loads(ok(cli("task", "create", "-f", str(task_file), "--wait", "-o", "json")))
    assert created["count"] == 1
    result = created["results"][0]
    job_id = result["id"]
    assert result["name"] == job["name"]
    assert result["status"] == "CONFIGURATION"

    listed = json.loads(ok(cli("task", "list", "--db-use-type", "sync", "-o", "json")))
    assert job_id in [j["id"] for j in listed["jobs"]]
    assert job_id in ok(cli("task", "list", "--status", "CONFIGURATION"))

    shown = ok(cli("task", "show", job_id))
    for expected in (job_id, job["name"], "CONFIGURATION", "from the cli", "******"):
        assert expected in shown
    assert job["source_endpoint"]["db_password"] not in shown
    as_json = json.loads(ok(cli("task", "show", job_id, "-o", "json")))
    assert as_json["detail"]["id"] == job_id
    assert as_json["detail"]["source_endpoint"]["db_password"] == "******"
    assert as_json["progress"]["job_id"] == job_id
    assert "secret-src-pw" not in json.dumps(as_json)

    assert f"deleted task {job_id}" in ok(cli("task", "delete", job_id))
    assert "DRS.M05004" in failed(cli("task", "show", job_id))


def test_task_create_from_json_reports_each_item(cli: Any, tmp_path: Path) -> None:
    good, bad = mysql_task(), mysql_task(engine_type="no-such-engine")
    task_file = tmp_path / "tasks.json"
    task_file.write_text(json.dumps({"jobs": [good, bad]}))
    result = cli("task", "create", "-f", str(task_file))
    err = failed(result)
    assert "1 of 2 tasks were not created" in err
    assert good["name"] in result.stdout
    assert "DRS.M" in result.stdout  # the failed item's own code is in the table

    (tmp_path / "bad.json").write_text("{")
    assert "is not valid JSON" in failed(cli("task", "create", "-f", str(tmp_path / "bad.json")))
    assert "cannot read" in failed(cli("task", "create", "-f", str(tmp_path / "missing.yaml")))


def test_task_create_from_stdin(cli: Any) -> None:
    body = json.loads(ok(cli("task", "create", "-f", "-", "-o", "json", stdin=yaml.safe_dump([mysql_task()]))))
    assert body["results"][0]["status"] == "CREATING"


def test_unknown_task_id_is_one_clean_error_line(cli: Any) -> None:
    missing = "5f2ae4a4-0000-4000-8000-00000000jb00"
    for args in (("task", "show", missing), ("task", "delete", missing),
                 ("task", "test-connection", missing, "--side", "so", "--stored-password")):
        err = failed(cli(*args))
        assert err.strip().splitlines() == ["DRS.M00298: Job does not exist, please check job id."]


def test_connection_and_settings_errors(cli: Any) -> None:
    port = closed_port()
    err = failed(cli("task", "list", "--endpoint", f"http://127.0.0.1:{port}"))
    assert f"cannot reach OpenDRS at http://127.0.0.1:{port}" in err
    err = failed(cli("task", "list", drop_env=("OPENDRS_AK", "OPENDRS_SK")))
    assert "missing --ak / OPENDRS_AK, --sk / OPENDRS_SK" in err
    assert "DRS.M00100" in failed(cli("task", "list", "--sk", "wrong-secret"))
    assert "no profile 'nope'" in failed(cli("task", "list", "--profile", "nope",
                                             drop_env=("OPENDRS_AK", "OPENDRS_SK")))


def test_test_connection_uses_the_stored_endpoint(cli: Any, http: Any) -> None:
    port = closed_port()
    job_id = create_task(http, source_endpoint={"db_type": "mysql", "ip": "127.0.0.1", "db_port": port,
                                                "db_user": "root", "db_password": "pw"})
    err = failed(cli("task", "test-connection", job_id, "--side", "so", "--password-stdin", stdin="pw\n"))
    assert re.match(r"^DRS\.KE\d+: ", err), err
    body = json.loads(cli("task", "test-connection", job_id, "--side", "so", "--stored-password",
                          "-o", "json").stdout)
    assert body["results"][0]["success"] is False
    assert "--password-stdin" in failed(cli("task", "test-connection", job_id, "--side", "ta"))


def test_login_writes_a_private_profile(cli: Any, api_server: Any, tmp_path: Path) -> None:
    profile_path = tmp_path / "client.yaml"
    no_env = ("OPENDRS_AK", "OPENDRS_SK", "OPENDRS_PROJECT_ID", "OPENDRS_ENDPOINT")
    out = ok(cli("login", "--endpoint", api_server.base_url, "--ak", api_server.ak, "--sk-stdin",
                 stdin=api_server.sk + "\n", drop_env=no_env))
    assert api_server.project_id in out  # found through GET /v3/projects
    assert stat.S_IMODE(profile_path.stat().st_mode) == 0o600
    saved = yaml.safe_load(profile_path.read_text())["profiles"]["default"]
    assert saved == {"endpoint": api_server.base_url, "ak": api_server.ak, "sk": api_server.sk,
                     "project_id": api_server.project_id}
    json.loads(ok(cli("task", "list", "-o", "json", drop_env=no_env)))

    # A wrong secret is caught before anything is saved.
    err = failed(cli("login", "--endpoint", api_server.base_url, "--ak", api_server.ak, "--sk-stdin",
                     "--profile", "broken", stdin="wrong\n", drop_env=no_env))
    assert err.startswith("DRS.")
    assert "broken" not in profile_path.read_text()
    assert "--sk-stdin" in failed(cli("login", "--ak", api_server.ak, drop_env=no_env))


# --- the demo (slow: two MariaDB servers and a server process) --------------------------------------


@pytest.mark.slow
def test_demo_runs_and_cleans_up(cli: Any) -> None:
    if not (shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()):
        pytest.skip("mariadbd is not installed")
    result = cli("demo", "--port", "0", timeout=600)
    out = ok(result)
    for expected in ("source connection test passed", "target connection test passed", "opendrs task list",
                     "X-Auth-Token", "temp dirs deleted"):
        assert expected in out
    assert "the changes reached the target" in out or "Not in this build yet" in out
    data_dir = re.search(r"data dir (\S+?)\)", out.replace("\n", ""))
    assert data_dir is not None
    assert not Path(data_dir.group(1)).parent.exists()
