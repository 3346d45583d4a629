"""Helpers of the comparison tests: scopes over the session's throwaway servers, fresh databases."""

from __future__ import annotations

from typing import Any

from harness import MariaDBServer, PostgresServer
from opendrs.compare.model import CompareScope, RowDiff, TableResult
from opendrs.engines.base import EndpointConfig
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection


def endpoint(server: MariaDBServer | PostgresServer, db_type: str, db_name: str | None = None) -> EndpointConfig:
    return EndpointConfig(db_type=db_type, host=server.host, port=server.port, user=server.user,
                          password=server.password, db_name=db_name)


def mysql_scope(source: MariaDBServer, target: MariaDBServer, dbs: dict[str, set[str] | None], *,
                db_alias: dict[str, str] | None = None, table_alias: dict[TableRef, str] | None = None,
                filters: dict[TableRef, str] | None = None, **kwargs: Any) -> CompareScope:
    sel = Selection(everything=False, databases=dict(dbs), database_alias=db_alias or {},
                    table_alias=table_alias or {})
    return CompareScope("mysql", endpoint(source, "mysql"), endpoint(target, "mysql"), sel, filters or {}, **kwargs)


def pg_scope(source: PostgresServer, target: PostgresServer, schemas: dict[str, set[str] | None], *,
             dbname: str, filters: dict[TableRef, str] | None = None, **kwargs: Any) -> CompareScope:
    sel = Selection(everything=False, databases=dict(schemas))
    return CompareScope("postgresql", endpoint(source, "postgresql", dbname), endpoint(target, "postgresql", dbname),
                        sel, filters or {}, **kwargs)


def mysql_run(server: MariaDBServer, *statements: str) -> None:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
    finally:
        conn.close()


def mysql_both(source: MariaDBServer, target: MariaDBServer, *statements: str) -> None:
    mysql_run(source, *statements)
    mysql_run(target, *statements)


def fresh_mysql_db(source: MariaDBServer, target: MariaDBServer, db: str, target_db: str | None = None) -> None:
    mysql_run(source, f"DROP DATABASE IF EXISTS `{db}`", f"CREATE DATABASE `{db}`")
    tdb = target_db or db
    mysql_run(target, f"DROP DATABASE IF EXISTS `{tdb}`", f"CREATE DATABASE `{tdb}`")


def diff_set(result: TableResult) -> set[tuple[str, tuple[str | None, ...]]]:
    return {(d.kind, d.key) for d in result.diffs}


def by_table(results: list[TableResult]) -> dict[str, TableResult]:
    return {r.source.name: r for r in results}


def describe(diffs: list[RowDiff]) -> str:
    return "\n".join(f"{d.kind} {d.key} {d.source_row} {d.target_row}" for d in diffs)
