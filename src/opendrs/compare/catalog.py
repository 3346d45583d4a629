"""Which tables a comparison covers and which dialect speaks to them.

Why separate: the API's ``list_tables``, the row comparison and the object comparison all
need the same answer to "which source tables does the task's selection include, and what
are they called on the target" (database and table renames of ``Selection``).
"""

from __future__ import annotations

from opendrs.compare.dialect import CompareDialect, CompareSession
from opendrs.compare.model import CompareScope
from opendrs.errors import InvalidParameter
from opendrs.pipeline.model import TableRef

MYSQL_ENGINES = frozenset({"mysql", "mysql-to-mysql", "cloudDataGuard-mysql", "mariadb"})
POSTGRES_ENGINES = frozenset({"postgresql", "postgres", "pg"})


def dialect_for(engine_type: str) -> CompareDialect:
    """The dialect of a task's engine type (``mysql-to-mysql`` and friends are MySQL)."""
    if engine_type in MYSQL_ENGINES or engine_type.startswith("mysql"):
        from opendrs.compare.mysql import MySQLCompareDialect

        return MySQLCompareDialect()
    if engine_type in POSTGRES_ENGINES:
        from opendrs.compare.postgres import PostgresCompareDialect

        return PostgresCompareDialect()
    raise InvalidParameter("engine_type", detail=f"comparison does not support engine type {engine_type!r}")


def selected_tables(dialect: CompareDialect, session: CompareSession, scope: CompareScope) -> list[TableRef]:
    """Source base tables the selection includes, in database/table name order."""
    out: list[TableRef] = []
    sel = scope.selection
    for db in dialect.list_databases(session, sel):
        out.extend(ref for ref in (TableRef(db, t) for t in dialect.list_tables(session, db)) if sel.includes(ref))
    return out


def open_sessions(dialect: CompareDialect, scope: CompareScope) -> tuple[CompareSession, CompareSession]:
    """(source, target) sessions; PostgreSQL opens the task's database on each side."""
    src = dialect.connect(scope.source, scope.source.db_name)
    try:
        tgt = dialect.connect(scope.target, dialect.target_database(scope.source, scope.target))
    except BaseException:
        src.close()
        raise
    return src, tgt
