"""Which scenarios OpenDRS accepts, as data (STYLE §2): (db_use_type, engine_type) -> DB types.

Creating a task is allowed for every scenario listed here. Whether a task can *run* is a
separate question answered by the pipeline registry (an engine issue adds its runner).
"""

from __future__ import annotations

from dataclasses import dataclass

from opendrs.errors import UnsupportedScheme


@dataclass(frozen=True)
class Scenario:
    db_use_type: str
    engine_type: str
    source_db_type: str
    target_db_type: str
    task_types: frozenset[str] = frozenset({"FULL_TRANS", "FULL_INCR_TRANS", "INCR_TRANS"})
    net_types: frozenset[str] = frozenset({"vpn", "vpc", "eip"})


_ALL = frozenset({"FULL_TRANS", "FULL_INCR_TRANS", "INCR_TRANS"})
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("migration", "mysql", "mysql", "mysql"),
    Scenario("sync", "mysql", "mysql", "mysql"),
    Scenario("sync", "mysql-to-mysql", "mysql", "mysql"),
    Scenario("sync", "postgresql", "postgresql", "postgresql"),
    Scenario("migration", "postgresql", "postgresql", "postgresql"),
    Scenario("cloudDataGuard", "cloudDataGuard-mysql", "mysql", "mysql", frozenset({"FULL_INCR_TRANS"}),
             frozenset({"vpn", "eip"})),
)


def supported_summary() -> str:
    return ", ".join(sorted({f"{s.db_use_type}/{s.engine_type}" for s in SCENARIOS}))


def scenario_for(db_use_type: str, engine_type: str) -> Scenario:
    for s in SCENARIOS:
        if s.db_use_type == db_use_type and s.engine_type == engine_type:
            return s
    raise UnsupportedScheme(supported_summary(), detail=f"{db_use_type}/{engine_type} requested")
