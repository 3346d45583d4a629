"""A small signed HTTP client for the OpenDRS/DRS API (used by the CLI, the demo and tests)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from opendrs.signing import sign_headers


class DrsHttpClient:
    """Signs every request with AK/SK exactly as the official SDK does."""

    def __init__(self, base_url: str, ak: str, sk: str, project_id: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.ak, self.sk, self.project_id = ak, sk, project_id
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DrsHttpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, sign: bool = True) -> httpx.Response:
        """``path`` may contain ``{project_id}``; ``body`` is JSON-encoded unless it is bytes."""
        path = path.replace("{project_id}", self.project_id)
        data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", "Host": urlsplit(self.base_url).netloc,
                "X-Project-Id": self.project_id, **(headers or {})}
        pairs: list[tuple[str, str]] = []
        for key, value in (params or {}).items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((key, str(v).lower() if isinstance(v, bool) else str(v)) for v in values)
        if sign:
            hdrs.update(sign_headers(self.ak, self.sk, method, path, pairs, hdrs, data))
        query: list[tuple[str, str | int | float | bool | None]] = list(pairs)
        return self._http.request(method, path, content=data or None, params=query or None,
                                  headers=hdrs)

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Request and decode; raises ``ApiError`` for a DRS error body."""
        resp = self.request(method, path, body, params)
        payload = resp.json() if resp.content else {}
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, payload.get("error_code", str(resp.status_code)),
                           payload.get("error_msg", resp.text))
        return payload


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status, self.code, self.message = status, code, message
