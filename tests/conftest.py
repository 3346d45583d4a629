"""Root test configuration: session fixtures for throwaway database servers.

The servers come from ``tests/harness`` (see its docstring). Every fixture is lazy -- a
server starts only when a test asks for it -- and honours an ``OPENDRS_TEST_*_DSN`` URL to
reuse an existing server instead. When a test that used a server fails, the tail of that
server's log is attached to the failure report.

Sections below: import path bootstrap, database server fixtures, reporting hooks. Add new
fixtures in their own section rather than mixing them into these.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

# --- import path --------------------------------------------------------------------------
# src/ layout: use the checkout's package when ``opendrs`` is not pip-installed in the venv.
if importlib.util.find_spec("opendrs") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from harness import BaseServer, MariaDBServer, PostgresServer, RedisServer, server_from_env  # noqa: E402

# --- database servers (session-scoped, lazy) ----------------------------------------------


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """Source MariaDB: ROW binlog, GTID strict mode, root/rootpw (or $OPENDRS_TEST_MYSQL_DSN)."""
    with server_from_env(MariaDBServer, "OPENDRS_TEST_MYSQL_DSN", name="mariadb-source") as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_target() -> Iterator[MariaDBServer]:
    """A second, independent MariaDB for source->target tests ($OPENDRS_TEST_MYSQL_TARGET_DSN)."""
    with server_from_env(MariaDBServer, "OPENDRS_TEST_MYSQL_TARGET_DSN", name="mariadb-target") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Source PostgreSQL: wal_level=logical, postgres/pgpw (or $OPENDRS_TEST_POSTGRES_DSN)."""
    with server_from_env(PostgresServer, "OPENDRS_TEST_POSTGRES_DSN", name="postgres-source") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_target() -> Iterator[PostgresServer]:
    """A second, independent PostgreSQL ($OPENDRS_TEST_POSTGRES_TARGET_DSN)."""
    with server_from_env(PostgresServer, "OPENDRS_TEST_POSTGRES_TARGET_DSN", name="postgres-target") as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Redis without persistence, password redispw (or $OPENDRS_TEST_REDIS_DSN)."""
    with server_from_env(RedisServer, "OPENDRS_TEST_REDIS_DSN", name="redis") as server:
        yield server


# --- reporting ----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, append the log tail of every managed server the test used."""
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, BaseServer) and value.managed and value.tmpdir is not None:
                title = f"server log: {name} ({value.host}:{value.port})"
                report.sections.append((title, value.log_text(60)))
    return report
