"""Plugs the PostgreSQL pre-check, parameter comparison and user listing into the service layer.

Called once from ``opendrs.pipeline.registry`` at start-up, like the MySQL engine's ``register``,
so importing an engine module never changes global state by itself.
"""

from __future__ import annotations

from typing import Final

POSTGRES_ENGINE_TYPES: Final = ("postgresql",)


def register() -> None:
    """Register for every PostgreSQL engine type: 4.1.6/4.1.7 pre-check, 4.1.9/4.1.10 parameters, 4.2.2 users."""
    from opendrs.engines.postgres.params import PostgresParams
    from opendrs.engines.postgres.users import list_source_users
    from opendrs.jobs.configure import DB_PARAMS, SOURCE_USERS
    from opendrs.jobs.lifecycle import register_precheck
    from opendrs.precheck.postgres import run_precheck

    params = PostgresParams()
    for engine_type in POSTGRES_ENGINE_TYPES:
        register_precheck(engine_type, run_precheck)
        DB_PARAMS[engine_type] = params
        SOURCE_USERS[engine_type] = list_source_users
