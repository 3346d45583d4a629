"""Repair: SQL that brings the target's reported rows in line with the source (beyond the spec).

Why from the results and not from a fresh read: the statements repair exactly what the user
saw in the report (a dry run prints them for review), written from the canonical text the
comparison read, as typed literals of the target's columns. Per table: DELETE the extra rows,
UPDATE the changed columns, INSERT the missing rows, by key; a keyless table deletes one copy
of a surplus row (``LIMIT 1`` / ``ctid``) and inserts missing copies. Generated columns are
never written. Executed one transaction per table, so a failure leaves that table untouched.

Only the rows a result lists are repaired: when ``diff_count`` exceeded ``max_diffs``, compare
and repair again.
"""

from __future__ import annotations

from collections.abc import Sequence

from opendrs.compare.catalog import dialect_for
from opendrs.compare.dialect import CompareDialect, CompareError, CompareSession
from opendrs.compare.model import CHANGED, EXTRA, MISSING, ColumnInfo, CompareScope, RowDiff, TableInfo, TableResult


def _where_key(d: CompareDialect, info: TableInfo, diff: RowDiff) -> str:
    parts = []
    for name, value in zip(diff.key_columns, diff.key, strict=True):
        col = info.column(name)
        parts.append(f"{d.quote(name)} IS NULL" if value is None else f"{d.quote(name)} = {d.literal(col, value)}")
    return " AND ".join(parts)


def _writable(info: TableInfo, row: dict[str, str | None]) -> list[ColumnInfo]:
    return [c for c in info.columns if c.name in row and not c.generated]


def _insert(d: CompareDialect, info: TableInfo, row: dict[str, str | None]) -> str:
    cols = _writable(info, row)
    values = ", ".join(d.literal(c, row[c.name]) for c in cols)
    return f"{d.insert_prefix(info, cols)} VALUES ({values})"


def table_statements(d: CompareDialect, info: TableInfo, result: TableResult) -> list[str]:
    """Statements for one table: deletes, then updates, then inserts (keeps unique keys free)."""
    table = d.table_sql(info.ref)
    deletes: list[str] = []
    updates: list[str] = []
    inserts: list[str] = []
    for diff in result.diffs:
        if diff.kind == EXTRA and diff.target_row is not None:
            if diff.key_columns:
                deletes.append(f"DELETE FROM {table} WHERE {_where_key(d, info, diff)}")
            else:
                cond = " AND ".join(d.match_expr(info.column(n), v) for n, v in diff.target_row.items()
                                    if info.has(n))
                deletes.append(d.delete_one_sql(info.ref, cond))
        elif diff.kind == MISSING and diff.source_row is not None:
            inserts.append(_insert(d, info, diff.source_row))
        elif diff.kind == CHANGED and diff.source_row is not None and diff.target_row is not None:
            changed = [c for c in _writable(info, diff.source_row)
                       if diff.source_row[c.name] != diff.target_row.get(c.name) and c.name not in diff.key_columns]
            if changed:
                sets = ", ".join(f"{d.quote(c.name)} = {d.literal(c, diff.source_row[c.name])}" for c in changed)
                updates.append(f"UPDATE {table} SET {sets} WHERE {_where_key(d, info, diff)}")
    return deletes + updates + inserts


def _plan(d: CompareDialect, session: CompareSession,
          results: Sequence[TableResult]) -> list[tuple[TableResult, list[str]]]:
    out: list[tuple[TableResult, list[str]]] = []
    for res in results:
        if not res.diffs or res.kind != "contents":
            continue
        info = d.table_info(session, res.target)
        if info is None:
            raise CompareError(f"cannot repair {res.target}: the table does not exist on the target")
        stmts = table_statements(d, info, res)
        if stmts:
            out.append((res, stmts))
    return out


def _target_session(scope: CompareScope) -> tuple[CompareDialect, CompareSession]:
    d = dialect_for(scope.engine_type)
    return d, d.connect(scope.target, d.target_database(scope.source, scope.target))


def repair_statements(scope: CompareScope, results: Sequence[TableResult]) -> list[str]:
    d, session = _target_session(scope)
    try:
        return [s for _, stmts in _plan(d, session, results) for s in stmts]
    finally:
        session.close()


def repair(scope: CompareScope, results: Sequence[TableResult], dry_run: bool) -> list[str]:
    d, session = _target_session(scope)
    try:
        planned = _plan(d, session, results)
        if not dry_run:
            for _, stmts in planned:
                session.run_transaction(stmts)
        return [s for _, stmts in planned for s in stmts]
    finally:
        session.close()
