"""The spec's "test connection" entry point: pick the engine's checker by ``db_type``.

Why one function: the API (single and batch connection tests, spec 4.1.2) and the
prechecks call ``check_endpoint`` and get a ``CheckResult`` back for *any* input -- an
unknown engine, an out-of-range port, or a bug in a driver all come back as a spec code,
so one bad endpoint in a batch cannot fail the others.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Final

from opendrs.engines.base import CheckResult, ConnectCode, ConnectionChecker, EndpointConfig, fail
from opendrs.engines.mysql.config import MySQLChecker
from opendrs.engines.postgres.config import PostgresChecker
from opendrs.engines.redis.config import RedisChecker

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0

CHECKERS: Final[Mapping[str, ConnectionChecker]] = {
    "mysql": MySQLChecker(),
    "postgresql": PostgresChecker(),
    "redis": RedisChecker(),
    "rediscluster": RedisChecker(),
}


def check_endpoint(ep: EndpointConfig) -> CheckResult:
    """Test one endpoint for real; never raises. Connect timeouts are ``ep.connect_timeout``."""
    checker = CHECKERS.get(ep.db_type.lower())
    if checker is None:
        hint = f"db_type {ep.db_type!r} is not supported (supported: {', '.join(sorted(CHECKERS))})"
        return fail(ep, ConnectCode.ENGINE_MISMATCH, hint, hint)
    if not 0 < ep.port < 65536:
        return fail(ep, ConnectCode.PORT_CLOSED, f"port {ep.port} is out of range 1-65535")
    if not ep.host.strip():
        return fail(ep, ConnectCode.DNS, "the host name is empty")
    if not ep.connect_timeout > 0:
        ep = dataclasses.replace(ep, connect_timeout=DEFAULT_TIMEOUT)
    try:
        result = checker.check(ep)
    except Exception:  # last-resort guard so a driver bug cannot break a batch
        log.exception("connection check crashed for %s %s", ep.db_type, ep.where)
        return fail(ep, ConnectCode.INTERNAL, f"unexpected error while testing {ep.where}")
    if result.ok:
        log.info("connection test ok: %s %s (%s)", ep.db_type, ep.where, result.server_version)
    else:
        log.info("connection test failed: %s %s %s %s", ep.db_type, ep.where, result.error_code, result.detail)
    return result
