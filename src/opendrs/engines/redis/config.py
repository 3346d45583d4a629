"""Redis connection check: connect with redis-py, read the version, map failures.

Why here: the engine's "config" role turns an ``EndpointConfig`` into client settings
(ACL user, db index from ``db_name``, TLS) and is the first place a user's settings meet a
real server. Retries are off (redis-py retries by default, which would multiply the
user-visible timeout), RESP2 is forced so pre-6.0 servers work, and a ``rediscluster``
endpoint must really be a cluster node (``cluster_enabled:1``), else KE0059.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from opendrs.engines.base import CheckResult, ConnectCode, EndpointConfig, fail, invalid_ca, resolve_host
from opendrs.engines.redis.errors import translate

CLUSTER_TYPES = frozenset({"rediscluster"})


def db_index(ep: EndpointConfig) -> int | None:
    """``db_name`` as a Redis database index (empty means 0); None if it is not a number."""
    name = (ep.db_name or "0").strip()
    return int(name) if name.isdigit() else None


def client_args(ep: EndpointConfig, db: int) -> dict[str, Any]:
    """redis-py keyword arguments for ``ep``."""
    args: dict[str, Any] = {
        "host": ep.host,
        "port": ep.port,
        "username": ep.user or None,
        "password": ep.password or None,
        "db": db,
        "socket_connect_timeout": ep.connect_timeout,
        "socket_timeout": ep.connect_timeout,
        "retry": Retry(NoBackoff(), 0),
        "protocol": 2,
        "client_name": "opendrs-check",
    }
    if ep.ssl_link:
        args |= {
            "ssl": True,
            "ssl_check_hostname": False,
            "ssl_cert_reqs": "required" if ep.ssl_ca_pem else "none",
            "ssl_ca_data": ep.ssl_ca_pem,
        }
    return args


def check_connection(ep: EndpointConfig) -> CheckResult:
    """Connect, run ``INFO server`` (and ``INFO cluster``), and report; failures become KE codes."""
    early = resolve_host(ep) or invalid_ca(ep)
    if early is not None:
        return early
    db = db_index(ep)
    if db is None:
        return fail(ep, ConnectCode.DB_NOT_FOUND, f"Redis databases are numbered; got {ep.db_name!r}")
    client = redis.Redis(**client_args(ep, db))
    try:
        version = str(client.info("server").get("redis_version", "unknown"))
        if ep.db_type.lower() in CLUSTER_TYPES and not client.info("cluster").get("cluster_enabled"):
            hint = f"{ep.host}:{ep.port} is a standalone Redis, not a cluster node"
            return fail(ep, ConnectCode.ENGINE_MISMATCH, hint, hint)
    except redis.RedisError as exc:
        return translate(exc, ep)
    finally:
        client.close()
    return CheckResult.success(version, detail=f"connected to Redis {version} at {ep.host}:{ep.port}/{db}")


class RedisChecker:
    """``ConnectionChecker`` for ``db_type`` ``redis`` and ``rediscluster``."""

    def check(self, ep: EndpointConfig) -> CheckResult:
        return check_connection(ep)
