"""SDK-HMAC-SHA256 request signing, shared by the server's verifier and our own HTTP client.

Hand-written because no library implements the cloud SDK's scheme (DIGEST §8b); it is
cross-checked against ``huaweicloudsdkcore.signer.Signer`` in the unit tests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_plus

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_uri(path: str) -> str:
    uri = "/".join(_encode(seg) for seg in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw_query.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def string_to_sign(method: str, path: str, query: str, headers: Mapping[str, str], signed_headers: list[str],
                   body: bytes) -> str:
    """``headers`` must have lower-case names."""
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed_headers)
    payload_hash = (headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()) if body else EMPTY_HASH
    canonical = "\n".join(
        [method.upper(), canonical_uri(path), query, canonical_headers, ";".join(signed_headers), payload_hash]
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{headers.get('x-sdk-date', '')}\n{digest}"


def hmac_hex(sk: str, text: str) -> str:
    return hmac.new(sk.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign_headers(ak: str, sk: str, method: str, path: str, query_pairs: list[tuple[str, str]],
                 headers: dict[str, str], body: bytes, now: datetime | None = None) -> dict[str, str]:
    """Headers to add (X-Sdk-Date, Authorization) so the server accepts the request."""
    stamp = (now or datetime.now(UTC)).strftime(DATE_FORMAT)
    lower = {k.lower(): v for k, v in headers.items()}
    lower["x-sdk-date"] = stamp
    signed = sorted(k for k in lower if "_" not in k)
    text = string_to_sign(method, path, canonical_query(query_pairs), lower, signed, body)
    auth = f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed)}, Signature={hmac_hex(sk, text)}"
    return {"X-Sdk-Date": stamp, "Authorization": auth}
