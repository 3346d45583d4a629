"""The throwaway-server harness works: servers start with CDC settings, die, and come back.

Why: every integration suite stands on these fixtures; a server silently started without
ROW binlog or logical WAL would make CDC tests fail in confusing ways far from the cause.
Kill/restart tests use their own short-lived instances so the session servers stay intact.
"""

from __future__ import annotations

import socket

import psycopg
import pymysql
import pytest
import redis

from harness import (
    ExternalServerError,
    MariaDBServer,
    PostgresServer,
    RedisServer,
    ServerStartError,
    ServerURL,
    closed_port,
    free_port,
)

# --- session servers answer with the settings CDC needs -----------------------------------


def test_mariadb_has_row_binlog_and_gtid_strict_mode(mariadb_server: MariaDBServer) -> None:
    rows = mariadb_server.execute(
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@gtid_strict_mode, @@log_slave_updates"
    )
    assert rows == [(1, "ROW", "FULL", 1, 1)]


def test_mariadb_source_and_target_are_distinct(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    assert mariadb_server.port != mariadb_target.port
    source_id = mariadb_server.execute("SELECT @@server_id")[0][0]
    target_id = mariadb_target.execute("SELECT @@server_id")[0][0]
    assert source_id != target_id


def test_mariadb_password_auth_over_tcp(mariadb_server: MariaDBServer) -> None:
    with pytest.raises(pymysql.OperationalError) as excinfo:
        mariadb_server.connect(password="not-the-password")
    assert excinfo.value.args[0] == 1045


def test_postgres_has_logical_wal_and_replication_hba(
    postgres_server: PostgresServer, postgres_target: PostgresServer
) -> None:
    assert postgres_server.execute("SHOW wal_level") == [("logical",)]
    assert int(postgres_server.execute("SHOW max_replication_slots")[0][0]) >= 10
    rules = postgres_server.execute(
        "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND type = 'host'"
    )
    assert rules[0][0] >= 1
    assert postgres_target.execute("SHOW wal_level") == [("logical",)]
    assert postgres_server.port != postgres_target.port


def test_postgres_password_auth_over_tcp(postgres_server: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        postgres_server.connect(password="not-the-password")


def test_redis_answers_and_requires_password(redis_server: RedisServer) -> None:
    client = redis_server.client()
    assert client.ping() is True
    assert client.config_get("save") == {"save": ""}
    with pytest.raises(redis.AuthenticationError):
        redis_server.client(password=None, protocol=2).ping()


# --- lifecycle: kill -9 and restart on the same port ------------------------------------


def test_mariadb_survives_kill_and_restart() -> None:
    with MariaDBServer(name="harness-kill") as server:
        port = server.port
        server.execute("CREATE DATABASE harness")
        server.execute("CREATE TABLE harness.t (id INT PRIMARY KEY)")
        server.execute("INSERT INTO harness.t VALUES (1), (2)")
        server.kill()
        assert not server.is_running()
        with pytest.raises(pymysql.OperationalError):
            server.connect(connect_timeout=1)
        server.restart()
        assert server.port == port
        assert server.execute("SELECT count(*) FROM harness.t") == [(2,)]
    assert server.tmpdir is None  # cleaned up


def test_postgres_survives_kill_and_restart() -> None:
    with PostgresServer(name="harness-kill") as server:
        server.execute("CREATE TABLE t (id int PRIMARY KEY)")
        server.execute("INSERT INTO t VALUES (1), (2)")
        server.kill()
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            server.connect(connect_timeout=2)
        server.restart()
        assert server.execute("SELECT count(*) FROM t") == [(2,)]
        server.stop()
        server.start()
        assert server.execute("SHOW wal_level") == [("logical",)]


def test_redis_kill_and_restart() -> None:
    with RedisServer(name="harness-kill") as server:
        server.client().set("k", "v")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            server.client(socket_connect_timeout=1).ping()
        server.restart()
        assert server.client().ping() is True
        assert server.client().get("k") is None  # no persistence, by design


def test_start_failure_reports_the_server_log() -> None:
    class BrokenMariaDB(MariaDBServer):
        def _command(self) -> list[str]:
            return [*super()._command(), "--no-such-option-for-harness-test"]

    server = BrokenMariaDB(name="harness-broken", start_timeout=20)
    try:
        with pytest.raises(ServerStartError, match="no-such-option-for-harness-test"):
            server.start()
    finally:
        server.cleanup()


# --- ports and DSNs -----------------------------------------------------------------------


def test_closed_port_refuses_and_free_port_binds() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


def test_server_url_parsing_and_external_servers_are_not_ours() -> None:
    url = ServerURL.parse("mysql://app:p%40ss@db.example:3307/shop", default_port=3306)
    assert (url.host, url.port, url.user, url.password, url.database) == (
        "db.example",
        3307,
        "app",
        "p@ss",
        "shop",
    )
    assert ServerURL.parse("redis://:pw@h/", default_port=6379).port == 6379
    external = MariaDBServer(external=url)
    assert not external.managed
    assert external.dsn == "mysql://app:p%40ss@db.example:3307/shop"
    with pytest.raises(ExternalServerError):
        external.kill()
