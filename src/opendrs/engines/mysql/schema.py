"""Target structure: create the selected databases and tables before the data, and views,
routines, triggers and events after it, under the task's target names.

Why replay the source's own DDL (``SHOW CREATE``) instead of generating it: every detail a
DBA relies on -- column types, defaults, generated columns, AUTO_INCREMENT, charsets and
collations, partitions, comments, FULLTEXT/SPATIAL indexes -- then comes out identical, and
a rename touches names only.

Secondary indexes of large InnoDB tables (``DEFER_INDEX_ROWS``) are built after the data:
plain ``KEY`` lines are left out of the CREATE TABLE and ``add_deferred_indexes`` adds
whatever the target lacks in one ALTER per table (a sorted bulk build instead of a random
B-tree insert per row). PRIMARY and UNIQUE keys stay (the load's REPLACE relies on them),
and so does every index of a table with foreign keys (InnoDB would make its own index for
the constraint) or with FULLTEXT/SPATIAL keys (their place among the plain keys would
change). Finding the missing ones from the source's DDL and the target's catalog, rather
than remembering what was left out, keeps a retried or resumed task right whatever
happened in between.

Every step is idempotent (``IF NOT EXISTS`` / drop-then-create for objects), so a retried
task can run it again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Final, TypeAlias

import pymysql

from opendrs.engines.mysql.connection import APPLY_SQL_MODE, UTC_OFFSET, MySQLEngineError
from opendrs.engines.mysql.dialect import (
    qualified,
    quote_ident,
    rename_database_ddl,
    rename_references,
    rename_table_ddl,
    replace_definer,
    split_session,
)
from opendrs.pipeline.model import Catalog, ObjectDDL, TableRef
from opendrs.pipeline.selection import Selection

Conn: TypeAlias = "pymysql.connections.Connection[Any]"

# Objects that never act by themselves: safe to create while changes are still being applied.
PASSIVE_KINDS: Final = ("function", "procedure", "view")
# Objects that change data on their own: a trigger fires on every applied row (doubling what
# the source's own trigger already wrote), an event runs on its schedule. Create them at
# cut-over / task end, not before CDC has stopped.
ACTIVE_KINDS: Final = ("trigger", "event")
DEFER_INDEX_ROWS: Final = 100_000
# One plain secondary index line of SHOW CREATE TABLE: "  KEY `name` (`a`,`b`(5)) COMMENT '...',"
_PLAIN_KEY: Final = re.compile(r"^  KEY `((?:[^`]|``)+)` \(.*\)(?: USING \w+)?(?: COMMENT '(?:[^']|'')*')?,?$")
# Tables whose indexes all stay: foreign keys need theirs, and FULLTEXT/SPATIAL keys sort among
# the plain ones, so re-adding plain keys at the end would change SHOW CREATE TABLE's order.
_KEEP_ALL: Final = re.compile(r"^  (?:CONSTRAINT .* FOREIGN KEY|FULLTEXT KEY|SPATIAL KEY) ", re.MULTILINE)
_DROP_KEYWORD: Final = {"view": "VIEW", "procedure": "PROCEDURE", "function": "FUNCTION", "trigger": "TRIGGER",
                        "event": "EVENT"}
# sql_mode flags MySQL 8 removed: a routine from MySQL 5.7 may carry them.
_REMOVED_MODES: Final = frozenset(
    {"NO_AUTO_CREATE_USER", "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "MYSQL323", "MYSQL40",
     "POSTGRESQL", "ORACLE", "MSSQL", "DB2", "MAXDB"}
)
_HINTS: Final = {
    1418: "set GLOBAL log_bin_trust_function_creators=1 on the target (binary logging is on and the function "
          "is not declared DETERMINISTIC, NO SQL or READS SQL DATA)",
    1227: "the target user {user} may not create objects for another definer: enable definer replacement "
          "or grant it SUPER / SET USER",
    1273: "the target does not know this collation: use a target version that supports the source's collations",
    1115: "the target does not know this character set: use a target version that supports it",
    1286: "the target does not have this storage engine: install it or convert the table first",
    1044: "grant the target user CREATE, DROP, ALTER, INDEX, CREATE VIEW, CREATE ROUTINE, TRIGGER and EVENT",
    1142: "grant the target user CREATE, DROP, ALTER, INDEX, CREATE VIEW, CREATE ROUTINE, TRIGGER and EVENT",
}


def rename_maps(catalog: Catalog, selection: Selection) -> tuple[dict[TableRef, TableRef], dict[str, str]]:
    """(table/view renames, database renames) of the selection, for rewriting DDL references."""
    tables: dict[TableRef, TableRef] = {}
    for ref in [t.ref for t in catalog.tables] + [TableRef(o.schema, o.name) for o in catalog.objects
                                                   if o.kind == "view"]:
        target = selection.target(ref)
        if target != ref:
            tables[ref] = target
    databases = {d.schema: selection.target_database(d.schema) for d in catalog.databases}
    return tables, {k: v for k, v in databases.items() if k != v}


def _run(cur: Any, sql: str, what: str, target_user: str = "the target user") -> None:
    try:
        cur.execute(sql)
    except pymysql.MySQLError as exc:
        number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        reason = f"could not {what} on the target: MySQL error {number}: {text}"
        hint = _HINTS.get(number or 0)
        if hint:
            reason += f" -- {hint.format(user=target_user)}"
        raise MySQLEngineError(reason, detail=f"{reason}\nstatement: {sql[:2000]}") from exc


def create_structure(
    conn: Conn, catalog: Catalog, selection: Selection, *, drop_existing: bool, replace_definer: bool
) -> None:
    """Create the databases (renamed per ``selection``) and tables (``IF NOT EXISTS``).

    ``drop_existing`` drops each selected target table first (never a whole database: it may
    hold tables the task does not own). ``replace_definer`` has no effect here (tables have
    no definer); it is accepted so both structure steps take the same task options.
    """
    del replace_definer
    tables, databases = rename_maps(catalog, selection)
    with conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks=0, sql_mode=%s, time_zone=%s", (APPLY_SQL_MODE, UTC_OFFSET))
        for db in catalog.databases:
            target_db = selection.target_database(db.schema)
            _run(cur, rename_database_ddl(db.create_sql, target_db), f"create database {quote_ident(target_db)}")
        for table in catalog.tables:
            if not table.create_sql:
                raise MySQLEngineError(f"no CREATE TABLE statement was discovered for {table.ref}")
            target = selection.target(table.ref)
            if drop_existing:
                _run(cur, f"DROP TABLE IF EXISTS {qualified(target)}", f"drop table {qualified(target)}")
            create = table.create_sql
            if table.rows_estimate >= DEFER_INDEX_ROWS:
                create, _ = split_secondary_keys(create)
            ddl = rename_table_ddl(create, table.ref, target, tables, databases)
            _run(cur, ddl, f"create table {qualified(target)} (from source {qualified(table.ref)})")


def split_secondary_keys(create_sql: str) -> tuple[str, dict[str, str]]:
    """(CREATE TABLE without its deferrable KEY lines, index name -> ``KEY ...`` definition)."""
    lines = create_sql.split("\n")
    if _KEEP_ALL.search(create_sql) or not re.search(r"\)\s*ENGINE=InnoDB", create_sql, re.IGNORECASE):
        return create_sql, {}
    keep: list[str] = []
    keys: dict[str, str] = {}
    for line in lines:
        m = _PLAIN_KEY.match(line)
        if m is None:
            keep.append(line)
            continue
        keys[m.group(1).replace("``", "`")] = line.strip().rstrip(",")
    if not keys:
        return create_sql, {}
    close = next(i for i, line in enumerate(keep) if line.startswith(")"))
    keep[close - 1] = keep[close - 1].rstrip(",")
    return "\n".join(keep), keys


def add_deferred_indexes(conn: Conn, catalog: Catalog, selection: Selection) -> None:
    """Add the secondary indexes a table's source DDL has and its target copy lacks (after the load)."""
    with conn.cursor() as cur:
        for table in catalog.tables:
            _, keys = split_secondary_keys(table.create_sql or "")
            if not keys:
                continue
            target = selection.target(table.ref)
            cur.execute("SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s "
                        "AND table_name = %s", (target.schema, target.name))
            present = {str(r[0]).lower() for r in cur.fetchall()}
            missing = [definition for name, definition in keys.items() if name.lower() not in present]
            if missing:
                _run(cur, f"ALTER TABLE {qualified(target)} " + ", ".join(f"ADD {d}" for d in missing),
                     f"build the secondary indexes of {qualified(target)} after its data")


def _set_sql_mode(cur: Any, mode: str) -> None:
    """The object's stored sql_mode, minus flags the target no longer knows (MySQL 5.7 -> 8)."""
    try:
        cur.execute("SET SESSION sql_mode=%s", (mode,))
    except pymysql.MySQLError as exc:
        if not exc.args or exc.args[0] != 1231:
            raise
        kept = ",".join(m for m in mode.split(",") if m and m.upper() not in _REMOVED_MODES)
        cur.execute("SET SESSION sql_mode=%s", (kept,))


def _apply_session(cur: Any, session: Mapping[str, str], what: str) -> None:
    try:
        if "sql_mode" in session:
            _set_sql_mode(cur, session["sql_mode"])
        if "time_zone" in session:
            cur.execute("SET SESSION time_zone=%s", (session["time_zone"],))
    except pymysql.MySQLError as exc:
        reason = (f"could not {what} on the target: its stored session settings {dict(session)} are not "
                  f"accepted there ({exc.args[-1] if exc.args else exc}); for a named time zone, load the "
                  "time zone tables on the target (mariadb-tzinfo-to-sql / mysql_tzinfo_to_sql)")
        raise MySQLEngineError(reason, detail=reason) from exc


def object_target(obj: ObjectDDL, selection: Selection) -> TableRef:
    """Where an object lands: views may be renamed like tables; others follow their database."""
    if obj.kind == "view":
        return selection.target(TableRef(obj.schema, obj.name))
    return TableRef(selection.target_database(obj.schema), obj.name)


def target_object_ddl(
    obj: ObjectDDL, tables: Mapping[TableRef, TableRef], databases: Mapping[str, str], *, definer: str | None
) -> tuple[dict[str, str], str]:
    """(session settings, CREATE statement) for ``obj`` on the target: renamed, definer rewritten."""
    session, ddl = split_session(obj.create_sql)
    if obj.kind in ("view", "trigger"):  # names are qualified in these (see discover)
        ddl = rename_references(ddl, tables, databases)
    if definer is not None:
        ddl = replace_definer(ddl, definer)
    return session, ddl


def create_objects(
    conn: Conn,
    catalog: Catalog,
    selection: Selection,
    *,
    replace_definer: bool,
    target_user: str,
    kinds: Collection[str] | None = None,
) -> None:
    """Create views, routines, triggers and events in the catalog's (dependency) order.

    Each object is dropped first if it exists, then created from the source's DDL under
    the sql_mode (and, for events, time_zone) it was defined with. ``replace_definer``
    rewrites ``DEFINER=`` to ``CURRENT_USER`` -- the connected ``target_user`` -- so
    objects work on a target without the source's accounts. ``kinds`` limits the run (e.g.
    ``PASSIVE_KINDS`` before CDC, ``ACTIVE_KINDS`` at cut-over); None creates all.
    """
    tables, databases = rename_maps(catalog, selection)
    definer = "CURRENT_USER" if replace_definer else None
    with conn.cursor() as cur:
        for obj in catalog.objects:
            if obj.kind not in _DROP_KEYWORD or (kinds is not None and obj.kind not in kinds):
                continue
            target = object_target(obj, selection)
            session, ddl = target_object_ddl(obj, tables, databases, definer=definer)
            what = f"create {obj.kind} {qualified(target)}"
            _run(cur, f"USE {quote_ident(target.schema)}", f"use database {quote_ident(target.schema)}")
            try:
                _apply_session(cur, session, what)
                _run(cur, f"DROP {_DROP_KEYWORD[obj.kind]} IF EXISTS {qualified(target)}", f"replace {obj.kind} "
                     f"{qualified(target)}", target_user)
                _run(cur, ddl, what, target_user)
            finally:
                cur.execute("SET SESSION sql_mode=%s, time_zone=%s", (APPLY_SQL_MODE, UTC_OFFSET))


__all__ = [
    "ACTIVE_KINDS",
    "DEFER_INDEX_ROWS",
    "add_deferred_indexes",
    "PASSIVE_KINDS",
    "create_objects",
    "create_structure",
    "object_target",
    "rename_maps",
    "split_secondary_keys",
    "target_object_ddl",
]
