"""Registers every engine's task runner and check providers with the service (imported once at start-up)."""

from __future__ import annotations

from opendrs.jobs.model import Job
from opendrs.jobs.supervisor import register_runner
from opendrs.pipeline.runner import ReplicationRunner


def _mysql() -> None:
    from opendrs.engines.mysql.kit import MySQLKit
    from opendrs.engines.mysql.register import register

    def factory(job: Job) -> ReplicationRunner:
        return ReplicationRunner(job, MySQLKit)

    for engine_type in ("mysql", "mysql-to-mysql"):
        register_runner(engine_type, factory)
    register()


def _postgres() -> None:
    from opendrs.engines.postgres.kit import PostgresKit
    from opendrs.engines.postgres.register import register

    def factory(job: Job) -> ReplicationRunner:
        return ReplicationRunner(job, PostgresKit)

    register_runner("postgresql", factory)
    register()


_mysql()
_postgres()
