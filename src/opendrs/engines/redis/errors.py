"""Translate redis-py errors into the spec's connection-test codes (Appendix A.3).

Why by exception class first: redis-py already sorts server replies into classes
(WRONGPASS/NOAUTH -> AuthenticationError, NOPERM -> NoPermissionError); socket failures
arrive as ConnectionError/TimeoutError with the OSError as their context, which the shared
classifier in ``engines.base`` understands. Garbage replies mean another engine's port.
"""

from __future__ import annotations

import socket

import redis

from opendrs.engines.base import (
    REDIS,
    CheckResult,
    ConnectCode,
    EndpointConfig,
    fail,
    from_os_error,
    mismatch_or,
    os_error_in_chain,
    sniff_engine,
)


def translate(exc: redis.RedisError, ep: EndpointConfig) -> CheckResult:
    """Map one redis-py exception to a failed ``CheckResult`` (never raises)."""
    msg = str(exc)
    detail = f"{type(exc).__name__}: {msg}"
    hostport = f"{ep.host}:{ep.port}"
    lowered = msg.lower()
    if isinstance(exc, redis.AuthenticationError) or "without any password configured" in lowered:
        who = f"user {ep.user!r}" if ep.user else "the default user"
        return fail(ep, ConnectCode.BAD_CREDENTIALS, f"authentication failed for {who} at {hostport}", detail)
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return fail(ep, ConnectCode.INSUFFICIENT_PRIVILEGES, f"ACL denies {ep.user!r}: {msg}", detail)
    if isinstance(exc, redis.ResponseError) and "db index" in lowered:
        return fail(ep, ConnectCode.DB_NOT_FOUND, f"database index {ep.db_name!r} is out of range", detail)
    if isinstance(exc, redis.exceptions.InvalidResponse):
        fallback = fail(ep, ConnectCode.CONNECTION_FAILED, f"not a Redis reply from {hostport}", detail)
        return mismatch_or(ep, REDIS, fallback)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        cause = os_error_in_chain(exc)
        if isinstance(cause, ConnectionRefusedError | socket.gaierror):
            return from_os_error(cause, ep)
        if ep.ssl_link and sniff_engine(ep.host, ep.port, min(ep.connect_timeout, 1.0)) == REDIS:
            # Plain Redis answered our probe although TLS failed: TLS is not enabled there.
            return fail(ep, ConnectCode.SSL_INVALID, f"{hostport} does not speak TLS", detail)
        if cause is not None and "connecting to" in lowered:  # failed before any Redis traffic
            return from_os_error(cause, ep)
        code = ConnectCode.NETWORK if isinstance(exc, redis.TimeoutError) else ConnectCode.CONNECTION_FAILED
        return mismatch_or(ep, REDIS, fail(ep, code, f"{hostport}: {msg}", detail))
    return fail(ep, ConnectCode.CONNECTION_FAILED, f"{hostport}: {msg}", detail)
