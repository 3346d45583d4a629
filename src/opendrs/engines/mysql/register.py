"""Plugs the MySQL pre-check, parameter comparison and user listing into the service layer.

One function, called once from ``opendrs.pipeline.registry`` at start-up, so importing an
engine module never changes global state by itself.
"""

from __future__ import annotations

from typing import Final

MYSQL_ENGINE_TYPES: Final = ("mysql", "mysql-to-mysql", "cloudDataGuard-mysql")


def register() -> None:
    """Register for every MySQL engine type: 4.1.6/4.1.7 pre-check, 4.1.9/4.1.10 parameters, 4.2.2 users."""
    from opendrs.engines.mysql.params import MySQLParams
    from opendrs.engines.mysql.users import list_source_users
    from opendrs.jobs.configure import DB_PARAMS, SOURCE_USERS
    from opendrs.jobs.lifecycle import register_precheck
    from opendrs.precheck.mysql import run_precheck

    params = MySQLParams()
    for engine_type in MYSQL_ENGINE_TYPES:
        register_precheck(engine_type, run_precheck)
        DB_PARAMS[engine_type] = params
        SOURCE_USERS[engine_type] = list_source_users
