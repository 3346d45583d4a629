"""Authentication as the cloud does it: IAM-style tokens and SDK-HMAC-SHA256 AK/SK signatures.

The signature arithmetic lives in ``opendrs.signing`` (shared with our client).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opendrs.crypto import SecretBox
from opendrs.errors import InvalidToken
from opendrs.jobs.model import now_ms
from opendrs.signing import ALGORITHM, DATE_FORMAT, canonical_query, hmac_hex, parse_query, string_to_sign


@dataclass(frozen=True)
class Principal:
    """Who is calling, and the one project they may act on."""

    project_id: str
    name: str
    method: str  # "token" | "aksk"


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request the signature covers."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


# --- tokens -----------------------------------------------------------------------------------


def issue_token(box: SecretBox, user: str, project_id: str, ttl_seconds: int) -> tuple[str, int]:
    """A sealed, self-describing token (survives restarts, nothing to store); returns (token, expiry ms)."""
    expires = now_ms() + ttl_seconds * 1000
    payload = json.dumps({"u": user, "p": project_id, "exp": expires}, separators=(",", ":"))
    return box.seal(payload), expires


def verify_token(box: SecretBox, token: str) -> Principal:
    try:
        doc = json.loads(box.open(token))
        user, project_id, expires = str(doc["u"]), str(doc["p"]), int(doc["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(detail="token does not verify") from exc
    if expires < now_ms():
        raise InvalidToken(detail="token expired")
    return Principal(project_id=project_id, name=user, method="token")


# --- AK/SK --------------------------------------------------------------------------------------


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """(access key, signed header names, signature) of an ``SDK-HMAC-SHA256`` header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise InvalidToken(detail=f"unsupported signing algorithm {algorithm!r}")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    try:
        return parts["Access"], parts["SignedHeaders"].split(";"), parts["Signature"]
    except KeyError as exc:
        raise InvalidToken(detail="malformed Authorization header") from exc


def canonical_query_candidates(raw_query: str) -> list[str]:
    """The query exactly as sent (the SDK sends it canonical) and re-sorted by the server."""
    if not raw_query:
        return [""]
    resorted = canonical_query(parse_query(raw_query))
    return [raw_query] if raw_query == resorted else [raw_query, resorted]


SecretLookup = Callable[[str], "tuple[str, str] | None"]


def verify_signature(req: SignedRequest, find_secret: SecretLookup, skew_seconds: int) -> tuple[str, str]:
    """Check an AK/SK-signed request; ``find_secret`` maps ak -> (sk, project_id). Returns (ak, project_id)."""
    ak, signed_headers, signature = parse_authorization(req.headers.get("authorization", ""))
    if "x-sdk-date" not in signed_headers or "host" not in signed_headers:
        raise InvalidToken(detail="X-Sdk-Date and Host must be signed")
    date_value = req.headers.get("x-sdk-date", "")
    try:
        signed_at = datetime.strptime(date_value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidToken(detail="bad X-Sdk-Date") from exc
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > skew_seconds:
        raise InvalidToken(detail="X-Sdk-Date is too far from the server clock")
    found = find_secret(ak)
    if found is None:
        raise InvalidToken(detail=f"unknown access key {ak}")
    sk, project_id = found
    for query in canonical_query_candidates(req.raw_query):
        text = string_to_sign(req.method, req.path, query, req.headers, signed_headers, req.body)
        if hmac.compare_digest(hmac_hex(sk, text), signature.lower()):
            return ak, project_id
    raise InvalidToken(detail="signature mismatch")
