"""Translate psycopg/libpq errors into the spec's connection-test codes (Appendix A.3).

Why by message: libpq reports login failures (bad password, pg_hba.conf, unknown database)
as plain text with no SQLSTATE on the client side, so the mapping is an ordered table of
message patterns -- first match wins, most specific first. After a successful login we
have SQLSTATEs and use them. Server messages are matched in English (lc_messages = C/en).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import psycopg

from opendrs.engines.base import POSTGRESQL, CheckResult, ConnectCode, EndpointConfig, fail, mismatch_or

# (pattern, code, hint template); hints may use {user}, {db}, {hostport}, {msg}.
PATTERNS: Final[Sequence[tuple[re.Pattern[str], ConnectCode, str]]] = [
    (
        re.compile(r"no pg_hba\.conf entry|pg_hba\.conf rejects"),
        ConnectCode.PG_HBA_REJECTED,
        "pg_hba.conf on {hostport} has no rule admitting user {user!r} from this host{ssl}",
    ),
    (
        re.compile(r"is not permitted to log in"),
        ConnectCode.NO_LOGIN,
        "role {user!r} has NOLOGIN on {hostport}",
    ),
    (
        re.compile(r'database ".*" does not exist'),
        ConnectCode.DB_NOT_FOUND,
        "database {db!r} does not exist on {hostport}",
    ),
    (
        re.compile(
            r'password authentication failed|role ".*" does not exist|no password supplied'
            r"|authentication failed for user"
        ),
        ConnectCode.BAD_CREDENTIALS,
        "authentication failed for user {user!r} at {hostport}",
    ),
    (
        re.compile(r"permission denied|must be superuser|insufficient privilege"),
        ConnectCode.INSUFFICIENT_PRIVILEGES,
        "user {user!r} lacks a privilege on {hostport}: {msg}",
    ),
]

# Signs that TCP worked but the peer is not speaking PostgreSQL (or not in time).
PROTOCOL_CONFUSION: Final = re.compile(
    r"expected authentication request|invalid response to SSL negotiation|received invalid response"
    r"|server closed the connection unexpectedly|unexpected message|timeout expired|lost synchronization"
)

TRANSPORT: Final[Sequence[tuple[re.Pattern[str], ConnectCode, str]]] = [
    (
        re.compile(r"\bSSL\b|certificate", re.IGNORECASE),
        ConnectCode.SSL_INVALID,
        "TLS with {hostport} failed: {msg}",
    ),
    (
        re.compile(r"could not translate host name|failed to resolve host"),
        ConnectCode.DNS,
        "the host name {host!r} could not be resolved",
    ),
    (re.compile(r"Connection refused"), ConnectCode.PORT_CLOSED, "nothing is listening on {hostport}"),
    (
        re.compile(r"Network is unreachable|No route to host|Connection timed out|Host is down"),
        ConnectCode.NETWORK,
        "{hostport} is unreachable",
    ),
]


def _hint(template: str, ep: EndpointConfig, msg: str) -> str:
    return template.format(
        user=ep.user,
        db=ep.db_name or "postgres",
        host=ep.host,
        hostport=f"{ep.host}:{ep.port}",
        msg=msg,
        ssl="" if ep.ssl_link else " (without SSL; if only hostssl rules exist, enable SSL)",
    )


# 'connection failed: connection to server at "h", port 5432 failed: FATAL:  <message>' (per attempt)
_LIBPQ_PREFIX: Final = re.compile(
    r'(?:connection failed: )?connection to server (?:at "[^"]*", port \d+|on socket "[^"]*") failed: '
    r"(?:FATAL: +)?"
)


def _server_message(exc: psycopg.Error) -> str:
    """The useful part of a libpq message: the last attempt's text, on one line, without prefixes."""
    return _LIBPQ_PREFIX.split(" ".join(str(exc).split()))[-1].strip()


def translate(exc: psycopg.Error, ep: EndpointConfig) -> CheckResult:
    """Map one psycopg exception to a failed ``CheckResult`` (never raises)."""
    text = str(exc)
    msg = _server_message(exc)
    detail = f"{type(exc).__name__}: {text}"
    if exc.sqlstate == "42501":  # insufficient_privilege, after login
        return fail(ep, ConnectCode.INSUFFICIENT_PRIVILEGES, f"{ep.where}: {msg}", detail)
    for pattern, code, template in PATTERNS:
        if pattern.search(text):
            return fail(ep, code, _hint(template, ep, msg), detail)
    if isinstance(exc, psycopg.errors.ConnectionTimeout) or PROTOCOL_CONFUSION.search(text):
        timed_out = "timeout" in text
        code = ConnectCode.NETWORK if timed_out else ConnectCode.CONNECTION_FAILED
        fallback = fail(ep, code, f"no PostgreSQL handshake from {ep.host}:{ep.port}: {msg}", detail)
        return mismatch_or(ep, POSTGRESQL, fallback)
    for pattern, code, template in TRANSPORT:
        if pattern.search(text):
            return fail(ep, code, _hint(template, ep, msg), detail)
    return fail(ep, ConnectCode.CONNECTION_FAILED, f"{ep.where}: {msg}", detail)
