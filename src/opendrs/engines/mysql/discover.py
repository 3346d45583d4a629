"""Source discovery: what a task moves (databases, tables with columns and keys, views,
routines, triggers, events) and the DDL to recreate each, read from information_schema and
``SHOW CREATE``.

Why ``SHOW CREATE``: it is the server's own canonical DDL, so every column type, default,
generated column, charset/collation, partition and index type survives, and the target's
``SHOW CREATE TABLE`` comes out identical. Objects are normalised so the target side can
rename them mechanically (see ``dialect.rename_references``): view and trigger headers name their
database explicitly, and routine/trigger/event ``sql_mode`` (and an event's ``time_zone``)
travel with the DDL as a session header, because the server stores them with the object.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias

import pymysql

from opendrs.engines.mysql.connection import MySQLEngineError, MySQLUnavailable
from opendrs.engines.mysql.dialect import (
    SYSTEM_DATABASES,
    canonical_trigger,
    canonical_view,
    qualified,
    qualified_references,
    quote_ident,
    with_session,
)
from opendrs.pipeline.model import Catalog, Column, ObjectDDL, TableRef, TableSchema
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.mysql.discover")

# Our own bookkeeping on a target (checkpoints); never copied when that target is a source.
INTERNAL_DATABASES: Final = frozenset({"opendrs_meta"})
# EXTRA of a generated column: "VIRTUAL GENERATED" / "STORED GENERATED" ("PERSISTENT" in old MariaDB).
_GENERATED_EXTRA: Final = ("VIRTUAL", "STORED GENERATED", "PERSISTENT")
_CONNECTION_LOST: Final = frozenset({1053, 2006, 2013, 2055})

Conn: TypeAlias = "pymysql.connections.Connection[Any]"


def _text(value: Any) -> Any:
    """information_schema text comes back as bytes on some server versions."""
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else value


def _rows(conn: Conn, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    try:
        with conn.cursor() as cur:
            cur.execute(sql, tuple(args) or None)
            return [tuple(_text(v) for v in row) for row in cur.fetchall()]
    except pymysql.MySQLError as exc:
        raise _error("read the source catalog", exc) from exc


def _error(what: str, exc: pymysql.MySQLError) -> MySQLEngineError:
    number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    reason = f"could not {what}: MySQL error {number}: {text}"
    if number in (1044, 1142, 1227, 1370):
        reason += " -- grant the migration user SELECT, SHOW VIEW, TRIGGER, EVENT and SHOW DATABASES on the source"
    if number in _CONNECTION_LOST:
        return MySQLUnavailable(reason, detail=reason)
    return MySQLEngineError(reason, detail=reason)


_GONE: Final = frozenset({1049, 1146, 1305, 1356, 1360, 1539})  # dropped between listing and SHOW CREATE


def _show_create(conn: Conn, what: str, target: str) -> tuple[str, dict[str, str]] | None:
    """``SHOW CREATE <what> <target>``: (DDL, stored sql_mode/time_zone); None if it vanished."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE {what} {target}")
            names = [str(d[0]).lower() for d in cur.description or ()]
            row = cur.fetchone()
    except pymysql.MySQLError as exc:
        if exc.args and exc.args[0] in _GONE:
            log.warning("%s %s disappeared during discovery; skipped", what.lower(), target)
            return None
        raise _error(f"run SHOW CREATE {what} {target}", exc) from exc
    if row is None:
        return None
    cells = dict(zip(names, (_text(v) for v in row), strict=False))
    ddl = next((cells[n] for n in names if n.startswith("create ") or n == "sql original statement"), None)
    if ddl is None:  # the account may see that the object exists but not its definition
        raise MySQLEngineError(
            f"the source hides the definition of {what.lower()} {target}: grant the migration user "
            "SELECT on mysql.proc (MariaDB) / SHOW_ROUTINE (MySQL 8), or use the definer account"
        )
    session = {k: str(cells[k]) for k in ("sql_mode", "time_zone") if cells.get(k) is not None}
    return str(ddl), session


# --- databases ----------------------------------------------------------------------------
def list_databases(conn: Conn, selection: Selection) -> list[str]:
    """User databases the selection includes; a selected database missing on the source is an error."""
    found = [r[0] for r in _rows(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")]
    user = [d for d in found if d.lower() not in SYSTEM_DATABASES and d not in INTERNAL_DATABASES]
    if not selection.everything:
        missing = sorted(set(selection.databases) - set(found))
        if missing:
            raise MySQLEngineError(
                f"selected database(s) {', '.join(missing)} do not exist on the source (or the "
                "migration user cannot see them): fix the object selection or grant access"
            )
    return [d for d in user if selection.includes_database(d)]


def _database_ddl(conn: Conn, db: str) -> ObjectDDL | None:
    shown = _show_create(conn, "DATABASE", quote_ident(db))
    return None if shown is None else ObjectDDL("database", db, db, shown[0])


# --- tables -------------------------------------------------------------------------------
def _is_generated(extra: str, expression: str | None) -> bool:
    upper = (extra or "").upper()
    if "DEFAULT_GENERATED" in upper:  # MySQL 8: an expression DEFAULT, not a generated column
        upper = upper.replace("DEFAULT_GENERATED", "")
        expression = None
    return bool(expression) or any(tag in upper for tag in _GENERATED_EXTRA)


def _load_tables(conn: Conn, db: str, only: str | None = None) -> list[TableSchema]:
    """Base tables of ``db`` (or just ``only``) with columns, key, DDL and size estimates."""
    name_filter = " AND TABLE_NAME = %s" if only is not None else ""
    args: list[Any] = [db] if only is None else [db, only]
    listed = _rows(
        conn,
        "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'{name_filter} ORDER BY TABLE_NAME",
        args,
    )
    columns: dict[str, list[Column]] = {}
    for table, name, data_type, column_type, nullable, extra, expression, charset in _rows(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, EXTRA, GENERATION_EXPRESSION, "
        f"CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s{name_filter} "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION",
        args,
    ):
        columns.setdefault(table, []).append(
            Column(
                name=name,
                data_type=str(data_type).lower(),
                column_type=str(column_type).lower(),
                nullable=nullable == "YES",
                generated=_is_generated(extra, expression),
                charset=charset,
            )
        )
    # No ORDER BY on purpose: the servers list a table's indexes in their internal order
    # (PRIMARY, then unique keys in definition order), which is what "first unique" means.
    indexes: dict[str, dict[str, list[tuple[int, str | None, bool]]]] = {}
    for table, index, non_unique, seq, column in _rows(
        conn,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA = %s{name_filter}",
        args,
    ):
        indexes.setdefault(table, {}).setdefault(index, []).append((int(seq), column, int(non_unique) == 0))
    tables: list[TableSchema] = []
    for name, rows, data_length in listed:
        ref = TableRef(db, name)
        shown = _show_create(conn, "TABLE", qualified(ref))
        if shown is None or name not in columns:
            continue
        cols = columns[name]
        tables.append(
            TableSchema(
                ref=ref,
                columns=cols,
                key=choose_key(cols, indexes.get(name, {})),
                create_sql=shown[0],
                rows_estimate=int(rows or 0),
                bytes_estimate=int(data_length or 0),
            )
        )
    return tables


def choose_key(columns: Sequence[Column], indexes: dict[str, list[tuple[int, str | None, bool]]]) -> tuple[str, ...]:
    """PRIMARY, else the first UNIQUE index whose columns are all NOT NULL, else ().

    ``indexes`` maps index name -> [(seq_in_index, column or None for a functional part, unique)].
    """
    not_null = {c.name for c in columns if not c.nullable}
    ordered = sorted(indexes, key=lambda n: n != "PRIMARY")  # stable: keeps the server's order
    for index in ordered:
        parts = sorted(indexes[index], key=lambda p: p[0])
        if not parts or not all(unique for _, _, unique in parts):
            continue
        names = [column for _, column, _ in parts]
        if any(n is None for n in names):
            continue  # functional key part: no column to order or match by
        key = tuple(n for n in names if n is not None)
        if index == "PRIMARY" or all(n in not_null for n in key):
            return key
    return ()


def table_schema(conn: Conn, ref: TableRef) -> TableSchema:
    """One table as it is now (CDC re-reads a table after DDL touched it)."""
    found = _load_tables(conn, ref.schema, ref.name)
    if not found:
        raise MySQLEngineError(f"table {ref} does not exist on the source (or the migration user cannot see it)")
    return found[0]


# --- objects ------------------------------------------------------------------------------
def _views(conn: Conn, db: str, selection: Selection) -> list[ObjectDDL]:
    views: list[ObjectDDL] = []
    for (name,) in _rows(
        conn, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME", [db]
    ):
        if not selection.includes(TableRef(db, name)):
            continue
        shown = _show_create(conn, "VIEW", qualified(TableRef(db, name)))
        if shown is not None:
            views.append(ObjectDDL("view", db, name, canonical_view(shown[0], db, name)))
    return views


def _routines(conn: Conn, db: str) -> list[ObjectDDL]:
    found: list[ObjectDDL] = []
    for name, kind in _rows(
        conn,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
        "AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        [db],
    ):
        shown = _show_create(conn, kind, qualified(TableRef(db, name)))
        if shown is not None:
            found.append(ObjectDDL(kind.lower(), db, name, with_session(*shown)))
    return found


def _triggers(conn: Conn, db: str, selection: Selection) -> list[ObjectDDL]:
    found: list[ObjectDDL] = []
    for name, table, timing, event in _rows(
        conn,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = %s ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        [db],
    ):
        ref = TableRef(db, table)
        if not selection.includes(ref):
            continue
        shown = _show_create(conn, "TRIGGER", qualified(TableRef(db, name)))
        if shown is not None:
            ddl = canonical_trigger(shown[0], TableRef(db, name), ref, timing, event)
            found.append(ObjectDDL("trigger", db, name, with_session(ddl, shown[1]), depends_on=(str(ref),)))
    return found


def _events(conn: Conn, db: str) -> list[ObjectDDL]:
    found: list[ObjectDDL] = []
    for (name,) in _rows(
        conn, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY EVENT_NAME", [db]
    ):
        shown = _show_create(conn, "EVENT", qualified(TableRef(db, name)))
        if shown is not None:
            found.append(ObjectDDL("event", db, name, with_session(*shown)))
    return found


def order_views(views: Iterable[ObjectDDL], tables: Iterable[TableRef]) -> list[ObjectDDL]:
    """Views with ``depends_on`` filled in (referenced tables and views), views after the views they use."""
    pending = list(views)
    known = {TableRef(v.schema, v.name) for v in pending} | set(tables)
    view_names = {str(TableRef(v.schema, v.name)) for v in pending}
    resolved: list[ObjectDDL] = []
    for v in pending:
        refs = sorted(str(r) for r in qualified_references(v.create_sql) & known if r != TableRef(v.schema, v.name))
        resolved.append(ObjectDDL(v.kind, v.schema, v.name, v.create_sql, tuple(refs)))
    ordered: list[ObjectDDL] = []
    done: set[str] = set()
    while resolved:
        ready = [v for v in resolved if all(d in done or d not in view_names for d in v.depends_on)]
        if not ready:  # a cycle cannot be created in MySQL; keep the rest in name order
            ready = resolved[:1]
        for v in ready:
            ordered.append(v)
            done.add(str(TableRef(v.schema, v.name)))
            resolved.remove(v)
    return ordered


# --- entry point --------------------------------------------------------------------------
def discover(conn: Conn, selection: Selection) -> Catalog:
    """The selected databases, base tables and objects, in creation order.

    Objects come as functions, procedures, views (dependencies first), triggers, events:
    routines first because views may call functions, while routine bodies are not checked
    at creation. Views count as tables for the selection; triggers follow their table;
    routines and events follow their database. Selected tables that do not exist are an error.
    """
    catalog = Catalog()
    functions: list[ObjectDDL] = []
    procedures: list[ObjectDDL] = []
    views: list[ObjectDDL] = []
    triggers: list[ObjectDDL] = []
    events: list[ObjectDDL] = []
    for db in list_databases(conn, selection):
        database = _database_ddl(conn, db)
        if database is None:
            continue
        catalog.databases.append(database)
        tables = [t for t in _load_tables(conn, db) if selection.includes(t.ref)]
        catalog.tables.extend(tables)
        db_views = _views(conn, db, selection)
        views.extend(db_views)
        _check_selected(selection, db, {t.ref.name for t in tables} | {v.name for v in db_views})
        for routine in _routines(conn, db):
            (functions if routine.kind == "function" else procedures).append(routine)
        triggers.extend(_triggers(conn, db, selection))
        events.extend(_events(conn, db))
    ordered_views = order_views(views, [t.ref for t in catalog.tables])
    catalog.objects = [*functions, *procedures, *ordered_views, *triggers, *events]
    return catalog


def _check_selected(selection: Selection, db: str, found: set[str]) -> None:
    chosen = None if selection.everything else selection.databases.get(db)
    if not chosen:
        return
    missing = sorted(chosen - found)
    if missing:
        raise MySQLEngineError(
            f"selected table(s) {', '.join(missing)} of database {db} do not exist on the source as "
            "base tables or views (system-versioned tables and sequences are not supported): fix the object selection"
        )


__all__ = ["INTERNAL_DATABASES", "choose_key", "discover", "list_databases", "order_views", "table_schema"]
