"""PostgreSQL connection check: connect with psycopg 3, read the version, map failures.

Why here: the engine's "config" role turns an ``EndpointConfig`` into libpq parameters
(``sslmode``, a temporary ``sslrootcert`` for an uploaded CA) and is the first place a
user's settings meet a real server, so failures come back as KE codes, never exceptions.
``ssl_link = False`` means ``sslmode=disable`` (what the user asked for, and errors stay
unambiguous); ``True`` means ``require``, or ``verify-ca`` when a CA PEM is given.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg

from opendrs.engines.base import CheckResult, EndpointConfig, invalid_ca, resolve_host
from opendrs.engines.postgres.errors import translate

DEFAULT_DB = "postgres"


@contextlib.contextmanager
def ssl_params(ep: EndpointConfig) -> Iterator[dict[str, str]]:
    """libpq TLS parameters for ``ep``; a CA PEM lives in a temp file only while connecting."""
    if not ep.ssl_link:
        yield {"sslmode": "disable"}
        return
    if not ep.ssl_ca_pem:
        yield {"sslmode": "require"}
        return
    fd, path = tempfile.mkstemp(prefix="opendrs-ca-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(ep.ssl_ca_pem)
        yield {"sslmode": "verify-ca", "sslrootcert": path}
    finally:
        os.unlink(path)


def connect_args(ep: EndpointConfig) -> dict[str, Any]:
    """psycopg keyword arguments for ``ep`` except TLS (see ``ssl_params``)."""
    timeout_ms = int(ep.connect_timeout * 1000)
    return {
        "host": ep.host,
        "port": ep.port,
        "user": ep.user,
        "password": ep.password,
        "dbname": ep.db_name or DEFAULT_DB,
        "connect_timeout": max(2, math.ceil(ep.connect_timeout)),  # libpq's floor is 2 s
        "application_name": "opendrs-check",
        "gssencmode": "disable",  # no Kerberos here; a GSS attempt also garbles network errors
        "options": f"-c statement_timeout={timeout_ms}",
        "autocommit": True,
    }


def check_connection(ep: EndpointConfig) -> CheckResult:
    """Connect, run ``SHOW server_version``, and report; every failure becomes a KE code."""
    early = resolve_host(ep) or invalid_ca(ep)
    if early is not None:
        return early
    try:
        with ssl_params(ep) as tls, psycopg.connect(**(connect_args(ep) | tls)) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        return translate(exc, ep)
    version = str(row[0]) if row else "unknown"
    return CheckResult.success(version, detail=f"connected to PostgreSQL {version} at {ep.where}")


class PostgresChecker:
    """``ConnectionChecker`` for ``db_type == "postgresql"``."""

    def check(self, ep: EndpointConfig) -> CheckResult:
        return check_connection(ep)
