"""How the generic runner builds MySQL sources and targets for a task."""

from __future__ import annotations

import pymysql

from opendrs.engines.contracts import SourceEngine
from opendrs.engines.mysql.position import MySQLPosition, parse_file_and_position
from opendrs.engines.mysql.source import MySQLSource
from opendrs.engines.mysql.target import MySQLTarget
from opendrs.engines.mysql.users import migrate_users
from opendrs.errors import Transient
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.model import Position
from opendrs.pipeline.selection import Selection, row_filters

# Client/server errors that mean "connection lost or server restarting": retried from the checkpoint.
TRANSIENT_CODES = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055})


class MySQLKit:
    def __init__(self, services: Services) -> None:
        self.svc = services

    def source(self, job: Job) -> MySQLSource:
        return MySQLSource(endpoint_config(self.svc, job.config["source_endpoint"]), job.id)

    def target(self, job: Job) -> MySQLTarget:
        return MySQLTarget(endpoint_config(self.svc, job.config["target_endpoint"]),
                           replace_definer=bool(job.config.get("replace_definer", False)),
                           filters=row_filters(job.config))

    def migrate_users(self, job: Job) -> list[str]:
        """The accounts and roles chosen with 4.2.1, created on the target after the load; returns problems."""
        return migrate_users(self.svc, job, Selection.from_config(job.config))

    def start_position(self, source: SourceEngine, job: Job) -> Position:
        policy = job.config.get("policy") or {}
        if job.task_type == "INCR_TRANS" and policy.get("file_and_position"):
            file, pos = parse_file_and_position(str(policy["file_and_position"]))
            return MySQLPosition(file, pos, str(policy.get("gtid_set") or ""))
        return source.current_position()

    def is_transient(self, exc: BaseException) -> bool:
        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, Transient | pymysql.err.InterfaceError | ConnectionError | TimeoutError):
                return True
            if isinstance(seen, pymysql.err.OperationalError) and seen.args and seen.args[0] in TRANSIENT_CODES:
                return True
            seen = seen.__cause__ or seen.__context__
        return False
