"""Connection tests (spec 4.1.2) against real throwaway servers, one failure cause at a time.

Why: the whole value of the connection test is telling the user *which* thing is wrong --
name, port, password, database, pg_hba.conf, TLS, or the wrong engine on that port -- with
the spec's code and message, and never echoing the password back. Each case below breaks
exactly one thing on a real server and checks the code, the spec text and the scrubbing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest

from harness import BaseServer, MariaDBServer, PostgresServer, RedisServer, closed_port
from opendrs.engines.base import CheckResult, EndpointConfig
from opendrs.engines.connect import check_endpoint

# Expected texts, copied from the spec (Appendix A.3) rather than from the code under test.
SPEC = {
    "DRS.KE001": "Failed to connect to the database network.",
    "DRS.KE002": "The username or password is incorrect.",
    "DRS.KE003": "The port cannot be accessed.",
    "DRS.KE004": "Connection failed. Handling suggestion: Please check the security group/firewall/SSL",
    "DRS.KE006": "The remote connection permission is not configured in pg_hba.conf",
    "DRS.KE007": "The database user does not have the login permission.",
    "DRS.KE008": "The specified source database does not exist. Handling suggestion: Create a database",
    "DRS.KE010": "SSL is not enabled or the certificate is invalid.",
    "DRS.KE013": "Insufficient permissions.",
    "DRS.KE0018": "Failed to resolve the domain name.",
    "DRS.KE0059": "The connected DB engine does not match the DB engine supported by the task.",
}

ENGINES = ["mysql", "postgresql", "redis"]
SERVER_FIXTURE = {"mysql": "mariadb_server", "postgresql": "postgres_server", "redis": "redis_server"}
FAST = 2.0  # connect timeout for cases that must wait for a silent peer


def endpoint(db_type: str, server: BaseServer, **changes: object) -> EndpointConfig:
    """An endpoint that works against ``server``; ``changes`` break one thing."""
    ep = EndpointConfig(
        db_type=db_type,
        host=server.host,
        port=server.port,
        user="" if db_type == "redis" else server.user,
        password=server.password,
        db_name=None,
    )
    return replace(ep, **changes)  # type: ignore[arg-type]


def assert_fails(result: CheckResult, ep: EndpointConfig, *codes: str) -> None:
    assert not result.ok, result
    assert result.error_code in codes, result
    assert result.error_msg is not None
    assert result.error_msg.startswith(SPEC[result.error_code]), result.error_msg
    assert result.server_version is None
    for text in (result.error_msg, result.detail or "", repr(result)):
        assert ep.password not in text


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> tuple[str, BaseServer]:
    db_type: str = request.param
    server: BaseServer = request.getfixturevalue(SERVER_FIXTURE[db_type])
    return db_type, server


# --- the same six situations for every engine ---------------------------------------------


def test_success_reads_server_version(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    result = check_endpoint(endpoint(db_type, server))
    assert result.ok, result
    assert result.error_code is None
    assert result.error_msg is None
    assert result.server_version
    expected = {"mysql": "MariaDB", "postgresql": "15", "redis": "7."}[db_type]
    assert expected in result.server_version


def test_wrong_password(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    ep = endpoint(db_type, server, password=f"Wr0ng-{uuid.uuid4().hex}")
    assert_fails(check_endpoint(ep), ep, "DRS.KE002", "DRS.KE0037")


def test_unknown_database(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    missing = "99" if db_type == "redis" else "no_such_db_xyz"
    ep = endpoint(db_type, server, db_name=missing)
    result = check_endpoint(ep)
    assert_fails(result, ep, "DRS.KE008")
    assert result.error_msg is not None
    assert missing in result.error_msg


def test_closed_port(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    ep = endpoint(db_type, server, port=closed_port())
    result = check_endpoint(ep)
    assert_fails(result, ep, "DRS.KE003")
    assert result.error_msg is not None
    assert str(ep.port) in result.error_msg


def test_unresolvable_host(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    ep = endpoint(db_type, server, host="no-such-host.invalid")
    result = check_endpoint(ep)
    assert_fails(result, ep, "DRS.KE0018")
    assert result.error_msg is not None
    assert "no-such-host.invalid" in result.error_msg


def test_ssl_requested_but_server_has_no_tls(engine: tuple[str, BaseServer]) -> None:
    db_type, server = engine
    ep = endpoint(db_type, server, ssl_link=True, connect_timeout=FAST)
    assert_fails(check_endpoint(ep), ep, "DRS.KE010")


def test_password_is_scrubbed_even_if_the_server_echoes_it(engine: tuple[str, BaseServer]) -> None:
    # A database named like the password makes the server's own error message contain it.
    db_type, server = engine
    user, secret = f"u_{uuid.uuid4().hex[:8]}", f"sekrit{uuid.uuid4().hex[:8]}"
    if isinstance(server, MariaDBServer):
        server.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'")
    elif isinstance(server, PostgresServer):
        server.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{secret}'")
    else:
        assert isinstance(server, RedisServer)
        server.client().acl_setuser(user, enabled=True, passwords=[f"+{secret}"], commands=["+@all"])
    ep = endpoint(db_type, server, user=user, password=secret, db_name=secret)
    try:
        result = check_endpoint(ep)
        assert_fails(result, ep, "DRS.KE008", "DRS.KE013")
        assert "***" in (result.error_msg or "")  # it was there, and got replaced
    finally:
        if isinstance(server, MariaDBServer):
            server.execute(f"DROP USER '{user}'@'%'")
        elif isinstance(server, PostgresServer):
            server.execute(f"DROP ROLE {user}")
        else:
            assert isinstance(server, RedisServer)
            server.client().acl_deluser(user)


# --- wrong engine on the port -------------------------------------------------------------

MISMATCHES = [
    ("mysql", "redis_server"),
    ("mysql", "postgres_server"),
    ("postgresql", "mariadb_server"),
    ("postgresql", "redis_server"),
    ("redis", "mariadb_server"),
    ("redis", "postgres_server"),
]


@pytest.mark.parametrize(("db_type", "other"), MISMATCHES)
def test_wrong_engine_on_the_port(db_type: str, other: str, request: pytest.FixtureRequest) -> None:
    server: BaseServer = request.getfixturevalue(other)
    ep = endpoint(db_type, server, user="someone", password="pw-mismatch-1", connect_timeout=FAST)
    result = check_endpoint(ep)
    assert_fails(result, ep, "DRS.KE0059")
    assert result.error_msg is not None
    assert f"{server.host}:{server.port}" in result.error_msg


def test_unsupported_db_type_never_raises(redis_server: RedisServer) -> None:
    ep = endpoint("oracle", redis_server)
    assert_fails(check_endpoint(ep), ep, "DRS.KE0059")


def test_endpoint_repr_hides_secrets() -> None:
    ep = EndpointConfig("mysql", "h", 1, "u", "hunter2-pw", ssl_ca_pem="-----BEGIN CERT")
    assert "hunter2-pw" not in repr(ep)
    assert "BEGIN CERT" not in repr(ep)


# --- engine-specific causes ---------------------------------------------------------------


@pytest.fixture
def pg_role(postgres_server: PostgresServer) -> Callable[..., str]:
    """Create throwaway roles (dropped afterwards); returns their names."""
    created: list[str] = []

    def make(*options: str, password: str = "role-pw-1") -> str:
        name = f"r_{uuid.uuid4().hex[:10]}"
        postgres_server.execute(f"CREATE ROLE {name} {' '.join(options)} PASSWORD '{password}'")
        created.append(name)
        return name

    yield make
    for name in created:
        postgres_server.execute(f"DROP ROLE IF EXISTS {name}")


def test_postgres_pg_hba_reject(postgres_server: PostgresServer, pg_role: Callable[..., str]) -> None:
    if not postgres_server.managed:
        pytest.skip("needs a harness-launched PostgreSQL (edits pg_hba.conf)")
    user = pg_role("LOGIN")
    rule = f"host all {user} 127.0.0.1/32 reject"
    postgres_server.add_hba_rule(rule)
    try:
        ep = endpoint("postgresql", postgres_server, user=user, password="role-pw-1")
        result = check_endpoint(ep)
        assert_fails(result, ep, "DRS.KE006")
        assert result.error_msg is not None
        assert user in result.error_msg
    finally:
        postgres_server.remove_hba_rule(rule)
    assert check_endpoint(ep).ok


def test_postgres_role_without_login(postgres_server: PostgresServer, pg_role: Callable[..., str]) -> None:
    ep = endpoint("postgresql", postgres_server, user=pg_role("NOLOGIN"), password="role-pw-1")
    assert_fails(check_endpoint(ep), ep, "DRS.KE007")


def test_postgres_no_connect_privilege(postgres_server: PostgresServer, pg_role: Callable[..., str]) -> None:
    db = f"locked_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {db}")
    postgres_server.execute(f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC")
    try:
        ep = endpoint("postgresql", postgres_server, user=pg_role("LOGIN"), password="role-pw-1", db_name=db)
        assert_fails(check_endpoint(ep), ep, "DRS.KE013")
    finally:
        postgres_server.execute(f"DROP DATABASE {db}")


def test_mysql_user_without_privileges_on_database(mariadb_server: MariaDBServer) -> None:
    user, db = f"u_{uuid.uuid4().hex[:8]}", f"d_{uuid.uuid4().hex[:8]}"
    mariadb_server.execute(f"CREATE DATABASE {db}")
    mariadb_server.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'user-pw-1'")
    try:
        ep = endpoint("mysql", mariadb_server, user=user, password="user-pw-1", db_name=db)
        assert_fails(check_endpoint(ep), ep, "DRS.KE013")
        assert check_endpoint(replace(ep, db_name=None)).ok  # the account itself is fine
    finally:
        mariadb_server.execute(f"DROP USER '{user}'@'%'")
        mariadb_server.execute(f"DROP DATABASE {db}")


def test_redis_acl_user_without_permissions(redis_server: RedisServer) -> None:
    user = f"u_{uuid.uuid4().hex[:8]}"
    client = redis_server.client()
    client.acl_setuser(user, enabled=True, passwords=["+user-pw-1"], commands=["+ping"])
    try:
        ep = endpoint("redis", redis_server, user=user, password="user-pw-1")
        assert_fails(check_endpoint(ep), ep, "DRS.KE013")
    finally:
        client.acl_deluser(user)


def test_rediscluster_endpoint_on_a_standalone_redis(redis_server: RedisServer) -> None:
    ep = endpoint("rediscluster", redis_server)
    assert_fails(check_endpoint(ep), ep, "DRS.KE0059")
