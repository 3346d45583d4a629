"""Translate PyMySQL errors into the spec's connection-test codes (Appendix A.3).

Why a table: server error numbers are stable across MySQL and MariaDB versions, so the
mapping is data; only the client-side errors (2003 can't connect, 2013 lost connection
during the handshake) need a look at the wrapped socket error or at the peer's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pymysql  # type: ignore[import-untyped,unused-ignore]

from opendrs.engines.base import (
    MYSQL,
    CheckResult,
    ConnectCode,
    EndpointConfig,
    fail,
    from_os_error,
    mismatch_or,
    os_error_in_chain,
)

# Server (1xxx/3xxx/4xxx) and client (2xxx) error numbers with a specific meaning.
BY_ERRNO: Final[Mapping[int, ConnectCode]] = {
    1045: ConnectCode.BAD_CREDENTIALS,  # ER_ACCESS_DENIED_ERROR
    1698: ConnectCode.BAD_CREDENTIALS,  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    1049: ConnectCode.DB_NOT_FOUND,  # ER_BAD_DB_ERROR
    1044: ConnectCode.INSUFFICIENT_PRIVILEGES,  # ER_DBACCESS_DENIED_ERROR (also hides unknown dbs)
    1142: ConnectCode.INSUFFICIENT_PRIVILEGES,  # ER_TABLEACCESS_DENIED_ERROR
    1143: ConnectCode.INSUFFICIENT_PRIVILEGES,  # ER_COLUMNACCESS_DENIED_ERROR
    1227: ConnectCode.INSUFFICIENT_PRIVILEGES,  # ER_SPECIFIC_ACCESS_DENIED_ERROR
    1370: ConnectCode.INSUFFICIENT_PRIVILEGES,  # ER_PROCACCESS_DENIED_ERROR
    1130: ConnectCode.REMOTE_NOT_ALLOWED,  # ER_HOST_NOT_PRIVILEGED
    3118: ConnectCode.ACCOUNT_LOCKED,  # MySQL ER_ACCOUNT_HAS_BEEN_LOCKED
    4151: ConnectCode.ACCOUNT_LOCKED,  # MariaDB ER_ACCOUNT_HAS_BEEN_LOCKED
    1820: ConnectCode.PASSWORD_EXPIRED,  # ER_MUST_CHANGE_PASSWORD
    1862: ConnectCode.PASSWORD_EXPIRED,  # ER_MUST_CHANGE_PASSWORD_LOGIN
    3159: ConnectCode.SSL_INVALID,  # MySQL ER_SECURE_TRANSPORT_REQUIRED
    2026: ConnectCode.SSL_INVALID,  # CR_SSL_CONNECTION_ERROR
    2061: ConnectCode.SHA2_NEEDS_SSL,  # CR_AUTH_PLUGIN_ERR (caching_sha2 needs TLS or RSA key)
}

_HANDSHAKE_LOST: Final = frozenset({2006, 2013, 2027})  # gone away / lost / malformed packet


def _hint(code: ConnectCode, ep: EndpointConfig, message: str) -> str:
    if code is ConnectCode.BAD_CREDENTIALS:
        extra = "" if ep.ssl_link else "; if the account REQUIREs SSL, enable SSL"
        return f"access denied for user {ep.user!r} at {ep.host}:{ep.port}{extra}"
    if code is ConnectCode.DB_NOT_FOUND:
        return f"database {ep.db_name!r} does not exist on {ep.host}:{ep.port}"
    if code is ConnectCode.INSUFFICIENT_PRIVILEGES:
        return f"user {ep.user!r} may not access {ep.where}: {message}"
    return f"{ep.where}: {message}"


def translate(exc: pymysql.MySQLError, ep: EndpointConfig) -> CheckResult:
    """Map one PyMySQL exception to a failed ``CheckResult`` (never raises)."""
    args = exc.args
    number = args[0] if args and isinstance(args[0], int) else None
    message = str(args[1]) if len(args) > 1 else str(exc)
    detail = f"MySQL error {number}: {message}"
    code = BY_ERRNO.get(number) if number is not None else None
    if code is not None:
        return fail(ep, code, _hint(code, ep, message), detail)
    if number == 2003:  # CR_CONN_HOST_ERROR wraps the socket error
        original = getattr(exc, "original_exception", None)
        cause = original if isinstance(original, OSError) else os_error_in_chain(exc)
        if cause is not None:
            return from_os_error(cause, ep)
        return fail(ep, ConnectCode.NETWORK, f"cannot reach {ep.host}:{ep.port}", detail)
    if number in _HANDSHAKE_LOST or isinstance(exc, pymysql.InternalError):
        # TCP worked but no MySQL handshake: a slow server, or another engine on that port.
        code = ConnectCode.NETWORK if "timed out" in message else ConnectCode.CONNECTION_FAILED
        fallback = fail(ep, code, f"no MySQL handshake from {ep.host}:{ep.port}: {message}", detail)
        return mismatch_or(ep, MYSQL, fallback)
    return fail(ep, ConnectCode.CONNECTION_FAILED, f"{ep.where}: {message}", detail)
