"""Contracts shared by every engine's connection check (spec 4.1.2, "test connection").

Why: the API, the prechecks and the task runner all ask the same question -- "can we reach
this database with these settings?" -- and want an answer, not an exception: a
``CheckResult`` carrying the spec's ``DRS.KE*`` code and its exact English message
(Appendix A.3). Engine packages (``mysql/``, ``postgres/``, ``redis/``) fill it in from
their driver's errors; this module holds the value types, the code table, and the network
helpers every engine needs in the same way: bounded name resolution, socket-error
classification, and a tiny protocol sniffer that tells MySQL, PostgreSQL and Redis apart
so "you pointed the MySQL task at a Redis port" gets its own code (KE0059).

Nothing here ever puts the password into a message or a log detail (see ``fail``).
"""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to connect; built at the API edge from the spec's endpoint fields."""

    db_type: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    db_name: str | None = None
    ssl_link: bool = False
    ssl_ca_pem: str | None = field(default=None, repr=False)
    connect_timeout: float = 5.0

    @property
    def where(self) -> str:
        """``host:port[/db]`` for hints and logs (never includes credentials)."""
        base = f"{self.host}:{self.port}"
        return f"{base}/{self.db_name}" if self.db_name else base


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a connection test: ``ok`` or the spec's error pair, plus a log-only detail."""

    ok: bool
    error_code: str | None
    error_msg: str | None
    server_version: str | None
    detail: str | None = None

    @classmethod
    def success(cls, server_version: str, detail: str | None = None) -> CheckResult:
        return cls(ok=True, error_code=None, error_msg=None, server_version=server_version, detail=detail)


class ConnectionChecker(Protocol):
    """One per engine: connects for real, returns a result; never raises for bad input/creds."""

    def check(self, ep: EndpointConfig) -> CheckResult: ...


class ConnectCode(StrEnum):
    """The Appendix A.3 codes a connection test can return."""

    NETWORK = "DRS.KE001"
    BAD_CREDENTIALS = "DRS.KE002"
    PORT_CLOSED = "DRS.KE003"
    CONNECTION_FAILED = "DRS.KE004"
    REMOTE_NOT_ALLOWED = "DRS.KE005"
    PG_HBA_REJECTED = "DRS.KE006"
    NO_LOGIN = "DRS.KE007"
    DB_NOT_FOUND = "DRS.KE008"
    SSL_INVALID = "DRS.KE010"
    NO_DB_ACCESS = "DRS.KE012"
    INSUFFICIENT_PRIVILEGES = "DRS.KE013"
    INTERNAL = "DRS.KE014"
    DNS = "DRS.KE0018"
    SSL_CERT_INCORRECT = "DRS.KE0022"
    SHA2_NEEDS_SSL = "DRS.KE0036"
    PG_BAD_CREDENTIALS = "DRS.KE0037"
    ACCOUNT_LOCKED = "DRS.KE0038"
    PASSWORD_EXPIRED = "DRS.KE0055"  # noqa: S105 - an error code, not a password
    ENGINE_MISMATCH = "DRS.KE0059"


# Exact English messages from the spec (Appendix A.3, Table A-4).
MESSAGES: Final[Mapping[ConnectCode, str]] = {
    ConnectCode.NETWORK: "Failed to connect to the database network.",
    ConnectCode.BAD_CREDENTIALS: "The username or password is incorrect.",
    ConnectCode.PORT_CLOSED: "The port cannot be accessed.",
    ConnectCode.CONNECTION_FAILED: (
        "Connection failed. Handling suggestion: Please check the security group/firewall/SSL "
        "configuration of the database."
    ),
    ConnectCode.REMOTE_NOT_ALLOWED: (
        "The database user must allow remote connections. Handling suggestion: Run CREATE USER "
        "'Account'@'%' IDENTIFIED BY 'Password' to create a user that allows remote connections. "
        "After the migration, delete this user."
    ),
    ConnectCode.PG_HBA_REJECTED: (
        "The remote connection permission is not configured in pg_hba.conf for the replication "
        'instance and database user. Handling suggestion: Add "host all *** (dbuser) 0.0.0.0/0 '
        'password" to the pg_hba.conf configuration file to grant the remote connection '
        "permission to the user and restart the database. After the migration is complete, delete "
        "this record and restart the database again."
    ),
    ConnectCode.NO_LOGIN: (
        "The database user does not have the login permission. Handling suggestion: Run alter role "
        "*** (dbuser) login to grant the login permission."
    ),
    ConnectCode.DB_NOT_FOUND: (
        "The specified source database does not exist. Handling suggestion: Create a database or "
        "enter an existing database name."
    ),
    ConnectCode.SSL_INVALID: (
        "SSL is not enabled or the certificate is invalid. Handling suggestion: Enable SSL or upload "
        "a valid SSL CA certificate."
    ),
    ConnectCode.NO_DB_ACCESS: "The user does not have the permission to access the database.",
    ConnectCode.INSUFFICIENT_PRIVILEGES: "Insufficient permissions.",
    ConnectCode.INTERNAL: "Internal error.",
    ConnectCode.DNS: "Failed to resolve the domain name.",
    ConnectCode.SSL_CERT_INCORRECT: (
        "The SSL certificate is incorrect. Handling suggestion: Upload a correct SSL certificate."
    ),
    ConnectCode.SHA2_NEEDS_SSL: (
        "SSL must be enabled when the database password plugin caching_sha2_password is verified. "
        "Handling suggestion: Enable SSL or create a user."
    ),
    ConnectCode.PG_BAD_CREDENTIALS: (
        "The username or password is incorrect. Handling suggestion: Check that the input username "
        "and password for the connection test are correct."
    ),
    ConnectCode.ACCOUNT_LOCKED: (
        "The account is locked. Handling suggestion: Contact technical support to unlock the account."
    ),
    ConnectCode.PASSWORD_EXPIRED: "Password has expired. Handling suggestion: Please reset the password.",
    ConnectCode.ENGINE_MISMATCH: ("The connected DB engine does not match the DB engine supported by the task."),
}


def scrub(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` in ``text`` with ``***``."""
    return text.replace(secret, "***") if secret else text


def fail(ep: EndpointConfig, code: ConnectCode, hint: str | None = None, detail: str | None = None) -> CheckResult:
    """A failed result: spec message + optional `` Detail: <hint>``; password scrubbed from both."""
    msg = MESSAGES[code]
    if hint:
        msg = f"{msg} Detail: {scrub(' '.join(hint.split()), ep.password)}"
    log_detail = scrub(detail, ep.password) if detail else None
    return CheckResult(ok=False, error_code=code.value, error_msg=msg, server_version=None, detail=log_detail)


def resolve_host(ep: EndpointConfig) -> CheckResult | None:
    """KE0018 if ``ep.host`` does not resolve within the connect timeout, else None.

    Done up front (drivers report DNS failures in four different ways) in a daemon thread,
    because ``getaddrinfo`` itself has no timeout.
    """
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=lookup, name="opendrs-resolve", daemon=True)
    worker.start()
    worker.join(ep.connect_timeout)
    if not outcome:
        return fail(ep, ConnectCode.DNS, f"resolving {ep.host!r} timed out", f"DNS timeout for {ep.host}")
    exc = outcome[0]
    if exc is None:
        return None
    return fail(ep, ConnectCode.DNS, f"the host name {ep.host!r} could not be resolved", str(exc))


def invalid_ca(ep: EndpointConfig) -> CheckResult | None:
    """KE0022 if ``ssl_link`` is on and the uploaded CA is not loadable PEM, else None."""
    if not (ep.ssl_link and ep.ssl_ca_pem):
        return None
    try:
        ssl.create_default_context(cadata=ep.ssl_ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        return fail(ep, ConnectCode.SSL_CERT_INCORRECT, "the CA certificate is not valid PEM", str(exc))
    return None


_UNREACHABLE: Final = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT, errno.ENETDOWN}
)


def from_os_error(exc: OSError, ep: EndpointConfig) -> CheckResult:
    """Classify a socket-level failure: DNS, refused port, unreachable/timeout, TLS, other."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return fail(ep, ConnectCode.SSL_INVALID, f"TLS handshake with {ep.where} failed: {exc}", text)
    if isinstance(exc, socket.gaierror):
        return fail(ep, ConnectCode.DNS, f"the host name {ep.host!r} could not be resolved", text)
    if isinstance(exc, ConnectionRefusedError):
        return fail(ep, ConnectCode.PORT_CLOSED, f"nothing is listening on {ep.host}:{ep.port}", text)
    if isinstance(exc, TimeoutError) or exc.errno in _UNREACHABLE:
        return fail(ep, ConnectCode.NETWORK, f"{ep.host}:{ep.port} is unreachable or timed out", text)
    return fail(ep, ConnectCode.CONNECTION_FAILED, f"{ep.where}: {exc}", text)


def os_error_in_chain(exc: BaseException) -> OSError | None:
    """The first ``OSError`` among ``exc`` and its causes/contexts (drivers wrap them)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# --- protocol sniffing ---------------------------------------------------------------------

MYSQL, POSTGRESQL, REDIS = "mysql", "postgresql", "redis"
_PG_SSL_REQUEST: Final = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


def _exchange(host: str, port: int, payload: bytes, timeout: float) -> bytes | None:
    """Send ``payload`` (maybe empty), return the first bytes back (b"" if none); None if no TCP."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    with sock:
        try:
            if payload:
                sock.sendall(payload)
            return sock.recv(64)
        except OSError:  # timeout, reset: the peer did not answer this probe
            return b""


def sniff_engine(host: str, port: int, timeout: float = 1.0) -> str | None:
    """Which protocol the TCP peer speaks: ``"mysql"``, ``"postgresql"``, ``"redis"`` or None.

    MySQL/MariaDB greet first (5th byte: protocol version 10, or 0xff for an error packet);
    Redis answers an inline ``PING`` with ``+``/``-``; PostgreSQL answers an SSLRequest with
    a single ``S``/``N``. Only used after a failed login, so the probes cost nothing normally.
    """
    first = _exchange(host, port, b"", timeout)
    if first is None:
        return None
    if len(first) >= 5 and first[4] in (10, 0xFF):
        return MYSQL
    if first:
        return None  # greets, but not like MySQL (SSH, SMTP, ...)
    reply = _exchange(host, port, b"PING\r\n", timeout)
    if reply and reply[:1] in (b"+", b"-"):
        return REDIS
    reply = _exchange(host, port, _PG_SSL_REQUEST, timeout)
    if reply and reply[:1] in (b"S", b"N"):
        return POSTGRESQL
    return None


def mismatch_or(ep: EndpointConfig, expected: str, fallback: CheckResult) -> CheckResult:
    """KE0059 if the peer evidently speaks another engine's protocol, else ``fallback``."""
    found = sniff_engine(ep.host, ep.port, min(ep.connect_timeout, 1.0))
    if found is None or found == expected:
        return fallback
    hint = f"{ep.host}:{ep.port} speaks the {found} protocol, but the task expects {expected}"
    return fail(ep, ConnectCode.ENGINE_MISMATCH, hint, f"{hint}; driver said: {fallback.detail}")
