"""Identity on a live server: tokens, AK/SK signatures, project isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_helpers import ServerHandle, create_task, make_sdk_client, mysql_task
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdrs.v3 import BatchListJobStatusRequest, BatchQueryJobReqPage

from opendrs.client import DrsHttpClient
from opendrs.jobs.context import Services
from opendrs.settings import Settings
from opendrs.signing import DATE_FORMAT, sign_headers
from opendrs.store.identity import IdentityRepo


def _admin(server: ServerHandle) -> Services:
    return Services.build(Settings(data_dir=server.data_dir))


@pytest.fixture(scope="module")
def other_project(api_server: ServerHandle) -> tuple[str, str, str]:
    """A second project with its own AK/SK: (project_id, ak, sk)."""
    svc = _admin(api_server)
    with svc.store.session() as s:
        repo = IdentityRepo(s, svc.box)
        pid = repo.ensure_project(None, "other-team")
        ak, sk = repo.create_credential(pid, description="test")
    svc.store.dispose()
    return pid, ak, sk


def test_no_credentials_is_401(api_server: ServerHandle) -> None:
    resp = httpx.post(f"{api_server.base_url}/v3/{api_server.project_id}/jobs/batch-status", json={"jobs": ["x"]})
    assert resp.status_code == 401 and resp.json()["error_code"] == "DRS.M00100"
    resp = httpx.post(f"{api_server.base_url}/v3/{api_server.project_id}/jobs/batch-status", json={"jobs": ["x"]},
                      headers={"X-Auth-Token": "forged"})
    assert resp.status_code == 401 and resp.json()["error_code"] == "DRS.M00100"


def test_password_token_flow(api_server: ServerHandle) -> None:
    svc = _admin(api_server)
    with svc.store.session() as s:
        IdentityRepo(s, svc.box).create_user("alice", "alice-pw-123", api_server.project_id)
    svc.store.dispose()
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "password": "alice-pw-123", "domain": {"name": "default"}}}},
        "scope": {"project": {"id": api_server.project_id}}}}
    resp = httpx.post(f"{api_server.base_url}/v3/auth/tokens", json=auth)
    assert resp.status_code == 201, resp.text
    token = resp.headers["X-Subject-Token"]
    assert resp.json()["token"]["project"]["id"] == api_server.project_id
    ok = httpx.post(f"{api_server.base_url}/v3/{api_server.project_id}/jobs",
                    json={"cur_page": 1, "per_page": 1, "db_use_type": "sync"}, headers={"X-Auth-Token": token})
    assert ok.status_code == 200 and "total_record" in ok.json()
    auth["auth"]["identity"]["password"]["user"]["password"] = "wrong"
    bad = httpx.post(f"{api_server.base_url}/v3/auth/tokens", json=auth)
    assert bad.status_code == 401 and bad.json()["error_code"] == "DRS.M00100"
    assert "alice-pw-123" not in api_server.log_text()


def test_foreign_project_is_403_and_invisible(api_server: ServerHandle, http: DrsHttpClient,
                                              other_project: tuple[str, str, str]) -> None:
    job_id = create_task(http)
    pid, ak, sk = other_project
    with DrsHttpClient(api_server.base_url, ak, sk, pid) as other:
        # Their credential on our project's path: forbidden.
        resp = other.request("POST", f"/v3/{api_server.project_id}/jobs/batch-status", {"jobs": [job_id]})
        assert resp.status_code == 403 and resp.json()["error_code"] == "DRS.M00261"
        # On their own project: our task does not exist for them.
        result = other.call("POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]})["results"][0]
        assert result["error_code"] == "DRS.M00298"
        listed = other.call("POST", "/v3/{project_id}/jobs", {"cur_page": 1, "per_page": 0, "db_use_type": "sync"})
        assert job_id not in {j["id"] for j in listed["jobs"]}


def _signed(server: ServerHandle, body: bytes, sk: str | None = None, when: datetime | None = None) -> httpx.Response:
    path = f"/v3/{server.project_id}/jobs/batch-status"
    headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{server.port}"}
    headers.update(sign_headers(server.ak, sk or server.sk, "POST", path, [], headers, body, now=when))
    return httpx.post(server.base_url + path, content=body, headers=headers)


def test_signature_failures(api_server: ServerHandle) -> None:
    body = b'{"jobs": ["x"]}'
    assert _signed(api_server, body).status_code == 200
    assert _signed(api_server, body, sk="not-the-secret").status_code == 401
    stale = datetime.now(UTC) - timedelta(minutes=16)
    resp = _signed(api_server, body, when=stale)
    assert resp.status_code == 401 and resp.json()["error_code"] == "DRS.M00100"
    # Body changed after signing.
    path = f"/v3/{api_server.project_id}/jobs/batch-status"
    headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{api_server.port}"}
    headers.update(sign_headers(api_server.ak, api_server.sk, "POST", path, [], headers, body))
    resp = httpx.post(api_server.base_url + path, content=b'{"jobs": ["y"]}', headers=headers)
    assert resp.status_code == 401
    assert DATE_FORMAT  # the date format is the SDK's


def test_sdk_with_wrong_secret_gets_401(api_server: ServerHandle) -> None:
    wrong = ServerHandle(data_dir=api_server.data_dir, port=api_server.port, ak=api_server.ak, sk="wrong",
                         project_id=api_server.project_id)
    client: Any = make_sdk_client(wrong)
    with pytest.raises(ClientRequestException) as exc:
        client.batch_list_job_status(BatchListJobStatusRequest(body=BatchQueryJobReqPage(jobs=["x"])))
    assert exc.value.status_code == 401 and exc.value.error_code == "DRS.M00100"


def test_passwords_never_logged(api_server: ServerHandle, http: DrsHttpClient) -> None:
    http.call("POST", "/v3/{project_id}/jobs/batch-creation",
              {"jobs": [mysql_task(source_endpoint={"db_type": "mysql", "ip": "127.0.0.1",
                                                    "db_password": "TopSecret-4242"})]})
    assert "TopSecret-4242" not in api_server.log_text()
    db_bytes = (api_server.data_dir / "opendrs.db").read_bytes()
    assert b"TopSecret-4242" not in db_bytes
