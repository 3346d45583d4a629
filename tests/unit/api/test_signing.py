"""Our signature arithmetic against the official SDK's signer, and the verifier's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from opendrs.api.auth import SignedRequest, verify_signature
from opendrs.errors import InvalidToken
from opendrs.signing import DATE_FORMAT, sign_headers

AK, SK, PROJECT = "AKTEST0000000000000", "sk-secret-value", "p1"


def _sdk_signed(method: str, path: str, query: list[tuple[str, object]], body: bytes) -> SdkRequest:
    req = SdkRequest(method=method, schema="http", host="127.0.0.1:8080", resource_path=path, query_params=query,
                     header_params={"Content-Type": "application/json", "X-Project-Id": PROJECT,
                                    "User-Agent": "huaweicloud-usdk-python/3.0", "X-Language": "en-us"},
                     body=body)
    return Signer(BasicCredentials(AK, SK, PROJECT)).sign(req)


def _as_server_sees(req: SdkRequest) -> SignedRequest:
    path, _, query = req.uri.partition("?")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in req.header_params.items()}
    return SignedRequest(req.method, path, query, headers, req.body or b"")


def _lookup(ak: str) -> tuple[str, str] | None:
    return (SK, PROJECT) if ak == AK else None


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("POST", "/v3/p1/jobs/batch-status", [], b'{"jobs": ["a"]}'),
        ("GET", "/v5/p1/jobs", [("job_type", "sync"), ("limit", 10), ("name", "a b,c~d")], b""),
        ("GET", "/v5/p1/jobs", [("instance_ids", "x"), ("instance_ids", "a")], b""),
        ("DELETE", "/v3/p1/jobs/batch-jobs", [], '{"jobs": [{"n": "é"}]}'.encode()),
    ],
)
def test_sdk_signature_verifies(method: str, path: str, query: list[tuple[str, object]], body: bytes) -> None:
    signed = _sdk_signed(method, path, query, body)
    assert verify_signature(_as_server_sees(signed), _lookup, 900) == (AK, PROJECT)


def test_our_client_signature_matches_the_sdk() -> None:
    now = datetime.now(UTC)
    sdk_req = SdkRequest(method="POST", schema="http", host="h:1", resource_path="/v3/p1/jobs", query_params=[],
                         header_params={"Content-Type": "application/json", "Host": "h:1",
                                        "X-Sdk-Date": now.strftime(DATE_FORMAT)}, body=b"{}")
    Signer(BasicCredentials(AK, SK, PROJECT)).sign(sdk_req)
    ours = sign_headers(AK, SK, "POST", "/v3/p1/jobs", [], {"Content-Type": "application/json", "Host": "h:1"},
                        b"{}", now=now)
    assert ours["Authorization"] == sdk_req.header_params["Authorization"]


def test_tampered_body_is_refused() -> None:
    seen = _as_server_sees(_sdk_signed("POST", "/v3/p1/jobs", [], b'{"a": 1}'))
    tampered = SignedRequest(seen.method, seen.path, seen.raw_query, seen.headers, b'{"a": 2}')
    with pytest.raises(InvalidToken):
        verify_signature(tampered, _lookup, 900)


def test_wrong_secret_unknown_key_and_stale_date_are_refused() -> None:
    seen = _as_server_sees(_sdk_signed("POST", "/v3/p1/jobs", [], b"{}"))
    with pytest.raises(InvalidToken):
        verify_signature(seen, lambda ak: ("other-sk", PROJECT), 900)
    with pytest.raises(InvalidToken):
        verify_signature(seen, lambda ak: None, 900)
    old = (datetime.now(UTC) - timedelta(minutes=20)).replace(tzinfo=None)
    headers = {"Content-Type": "application/json", "Host": "h", "X-Sdk-Date": old.strftime(DATE_FORMAT)}
    req = SdkRequest(method="GET", schema="http", host="h", resource_path="/v3/p1/x", query_params=[],
                     header_params=headers, body=b"")
    Signer(BasicCredentials(AK, SK, PROJECT)).sign(req)
    with pytest.raises(InvalidToken, match="Invalid token"):
        verify_signature(_as_server_sees(req), _lookup, 900)
