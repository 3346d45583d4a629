"""psycopg 3 connections for moving data: one place for the session settings readers and writers share.

Why pinned settings: values travel as PostgreSQL's own text (docs/postgresql.md), so both ends
must render and parse text the same way -- ISO dates, UTC for timestamptz, hex bytea, exact
floats, ``postgres`` interval style. With these fixed a value read on one server and written
on the other is the same value, whatever the servers' defaults are.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any, Final

import psycopg

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.config import DEFAULT_DB, connect_args, ssl_params
from opendrs.errors import DrsError, Transient

# Session settings for every data connection (libpq ``options``).
SESSION_OPTIONS: Final = ("-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 "
                          "-c bytea_output=hex -c client_encoding=UTF8 -c statement_timeout=0 "
                          "-c idle_in_transaction_session_timeout=0 -c lock_timeout=0")
# SQLSTATEs worth a retry from the last checkpoint.
TRANSIENT_SQLSTATES: Final = frozenset({
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "53300",  # too_many_connections
    "55006",  # object_in_use (e.g. the slot is still active in the previous, dying walsender)
    "08000", "08003", "08006", "08001", "08004",  # connection exceptions
})


# What a client tool (pg_dump, psql) prints when the server went away or could not be reached.
LOST_CONNECTION: Final = re.compile(
    r"could not connect|server closed|terminating connection|Connection refused|timeout expired|timed out|"
    r"the database system is (?:starting up|shutting down|in recovery mode)|connection to server|"
    r"no connection to the server|Connection reset")


class PgEngineError(DrsError):
    """A PostgreSQL engine step failed; the message says what and what to do (shown to the DBA)."""

    message = "%s"


class PgUnavailable(PgEngineError, Transient):
    """The server could not be reached; the supervisor may retry."""


def tool_error(what: str, stderr: str) -> PgEngineError:
    """A failed pg_dump/psql run: ``PgUnavailable`` (retried) when the connection was the problem."""
    text = " ".join(stderr.split())[:1000]
    cls = PgUnavailable if LOST_CONNECTION.search(text) else PgEngineError
    return cls(f"{what} failed: {text or 'no error message'}")


def dbname_of(ep: EndpointConfig) -> str:
    return ep.db_name or DEFAULT_DB


def connect(ep: EndpointConfig, *, dbname: str | None = None, autocommit: bool = True,
            application_name: str = "opendrs") -> psycopg.Connection[Any]:
    """A data connection with the pinned session settings; failures to connect are ``PgUnavailable``."""
    args = connect_args(ep)
    args.update(dbname=dbname or dbname_of(ep), autocommit=autocommit, application_name=application_name,
                options=SESSION_OPTIONS, connect_timeout=max(2, int(ep.connect_timeout) + 5))
    try:
        with ssl_params(ep) as tls:
            return psycopg.connect(**(args | tls))
    except psycopg.OperationalError as exc:
        raise PgUnavailable(f"cannot connect to PostgreSQL at {ep.host}:{ep.port}/{args['dbname']}: "
                            f"{' '.join(str(exc).split())}") from exc


def close_quietly(conn: psycopg.Connection[Any] | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(psycopg.Error, OSError):
        conn.close()


def is_transient(exc: BaseException) -> bool:
    """Connection losses, restarts, serialization failures and deadlocks: retried from the checkpoint."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Transient | ConnectionError | TimeoutError):
            return True
        sqlstate = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if sqlstate in TRANSIENT_SQLSTATES:
            return True
        if isinstance(seen, psycopg.OperationalError | psycopg.InterfaceError) and not sqlstate:
            return True  # lost connection: libpq reports no SQLSTATE
        if _is_psycopg2_connection_error(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_psycopg2_connection_error(exc: BaseException) -> bool:
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - psycopg2 is a pinned dependency
        return False
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        return not getattr(exc, "pgcode", None) or exc.pgcode in TRANSIENT_SQLSTATES
    return False


@contextlib.contextmanager
def tool_env(ep: EndpointConfig, application: str, **extra: str) -> Iterator[dict[str, str]]:
    """Environment for libpq's command-line tools (pg_dump, psql): the password and TLS settings
    travel in the environment, never on a command line; a CA file exists only inside the with."""
    env = {**os.environ, "PGPASSWORD": ep.password, "PGAPPNAME": application,
           "PGCONNECT_TIMEOUT": str(max(2, int(ep.connect_timeout) + 5)), **extra}
    with ssl_params(ep) as tls:
        env["PGSSLMODE"] = tls["sslmode"]
        if "sslrootcert" in tls:
            env["PGSSLROOTCERT"] = tls["sslrootcert"]
        yield env

