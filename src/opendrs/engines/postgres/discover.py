"""Discover the selected schemas, tables and other objects of ONE PostgreSQL database.

Selection mapping (docs/postgresql.md): the pipeline's "database" level is the PostgreSQL
SCHEMA of the task's database (the source endpoint's ``db_name``). A 4.1.5 item naming the
database itself (not a schema) selects every schema of it.

Structure is not rebuilt from this catalog (``pg_dump`` writes it, see schema.py); the catalog
carries what the data path needs: columns in ``attnum`` order with their declared types, the
key, the size estimates, and the non-table objects for ordering and post-load steps.
Partitioned tables are replicated as their root: rows of every leaf are read through the
root, and the publication publishes via the root (``publish_via_partition_root``).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from opendrs.pipeline.model import Catalog, Column, ObjectDDL, TableRef, TableSchema
from opendrs.pipeline.selection import Selection

META_SCHEMA: Final = "opendrs_meta"
# Above this many rows a table without statistics is not counted exactly (estimate only steers splitting).
_COUNT_CAP: Final = 1_000_000

_USER_SCHEMA = ("n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'opendrs_meta') "
                "AND n.nspname NOT LIKE 'pg_temp\\_%%' AND n.nspname NOT LIKE 'pg_toast\\_temp\\_%%'")
# Objects created by an extension belong to it (CREATE EXTENSION makes them), never to the task.
_NOT_EXTENSION_MEMBER = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {cls}::regclass "
                         "AND d.objid = {oid} AND d.deptype = 'e')")


def schemas(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMA} AND "
                        + _NOT_EXTENSION_MEMBER.format(cls="'pg_namespace'", oid="n.oid")
                        + " ORDER BY n.nspname").fetchall()
    return [str(r[0]) for r in rows]


def effective_selection(selection: Selection, dbname: str, existing: list[str]) -> Selection:
    """A 4.1.5 "database" item that names the task's database rather than one of its schemas selects all."""
    if selection.everything:
        return selection
    for name, tables in selection.databases.items():
        if name == dbname and name not in existing and tables is None:
            return Selection(everything=True, databases={}, database_alias={}, table_alias=selection.table_alias)
    return selection


def discover(conn: psycopg.Connection[Any], selection: Selection, dbname: str) -> Catalog:
    """The selected tables (columns, key, estimates) and objects of the connected database."""
    names = schemas(conn)
    selection = effective_selection(selection, dbname, names)
    chosen = [s for s in names if selection.includes_database(s)]
    catalog = Catalog()
    catalog.databases = [ObjectDDL("schema", s, s, "") for s in chosen]
    if not chosen:
        return catalog
    rows = conn.execute(
        f"""SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples,
                   coalesce(pg_total_relation_size(c.oid), 0)  -- NULL for a table dropped meanwhile
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
               AND n.nspname = ANY(%s)
               AND {_NOT_EXTENSION_MEMBER.format(cls="'pg_class'", oid="c.oid")}
             ORDER BY n.nspname, c.relname""", (chosen,)).fetchall()
    for oid, schema, name, relkind, reltuples, size in rows:
        ref = TableRef(str(schema), str(name))
        if not selection.includes(ref):
            continue
        estimate, nbytes = _estimates(conn, int(oid), ref, str(relkind), float(reltuples), int(size))
        catalog.tables.append(TableSchema(ref=ref, columns=_columns(conn, int(oid)), key=_key(conn, int(oid)),
                                          rows_estimate=estimate, bytes_estimate=nbytes))
    catalog.objects = _objects(conn, chosen, selection)
    return catalog


def _estimates(conn: psycopg.Connection[Any], oid: int, ref: TableRef, relkind: str, reltuples: float,
               size: int) -> tuple[int, int]:
    """(rows, bytes) from the statistics; leaves summed for a partitioned root; -1 (never analyzed) counted."""
    if relkind == "p":
        row = conn.execute(
            "SELECT coalesce(sum(c.reltuples), 0), coalesce(sum(pg_total_relation_size(c.oid)), 0), "
            "coalesce(bool_or(c.reltuples < 0), false) FROM pg_partition_tree(%s::oid) t "
            "JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf", (oid,)).fetchone()
        assert row is not None
        reltuples = -1.0 if row[2] else float(row[0])
        size = int(row[1])
    if reltuples < 0:
        counted = conn.execute(
            f'SELECT count(*) FROM (SELECT 1 FROM "{_q(ref.schema)}"."{_q(ref.name)}" LIMIT {_COUNT_CAP}) s'
        ).fetchone()
        reltuples = float(counted[0]) if counted else 0.0
    return int(reltuples), size


def _q(name: str) -> str:
    return name.replace('"', '""')


def _columns(conn: psycopg.Connection[Any], oid: int) -> list[Column]:
    rows = conn.execute(
        """SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                  a.attgenerated <> ''
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""", (oid,)).fetchall()
    # Identity columns are NOT generated: their values are copied (OVERRIDING SYSTEM VALUE).
    return [Column(name=str(n), data_type=str(t), column_type=str(ft), nullable=bool(nul), generated=bool(gen))
            for n, t, ft, nul, gen in rows]


def _key(conn: psycopg.Connection[Any], oid: int) -> tuple[str, ...]:
    """The primary key, else the narrowest valid, immediate NOT NULL unique index without expressions."""
    rows = conn.execute(
        """SELECT i.indisprimary, i.indexrelid,
                  array_agg(a.attname ORDER BY k.ord), bool_and(a.attnotnull)
             FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid AND i.indimmediate
              AND i.indpred IS NULL AND i.indexprs IS NULL
              AND k.ord <= i.indnkeyatts
            GROUP BY i.indisprimary, i.indexrelid
            ORDER BY i.indisprimary DESC, count(*), i.indexrelid""", (oid,)).fetchall()
    for primary, _index, cols, notnull in rows:
        if primary or notnull:
            return tuple(str(c) for c in cols)
    return ()


def _objects(conn: psycopg.Connection[Any], chosen: list[str], selection: Selection) -> list[ObjectDDL]:
    """Types, sequences, functions, views and materialized views of the chosen schemas, in creation order.

    ``create_sql`` stays empty: pg_dump writes the structure. The list steers the post-load
    steps (sequence values, materialized view refresh) and what a task reports it moved.
    """
    out: list[ObjectDDL] = []
    types = conn.execute(
        f"""SELECT n.nspname, t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = ANY(%s) AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
               AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
               AND {_NOT_EXTENSION_MEMBER.format(cls="'pg_type'", oid="t.oid")}
             ORDER BY t.oid""", (chosen,)).fetchall()
    kinds = {"e": "enum", "d": "domain", "r": "range", "m": "multirange", "c": "composite"}
    out += [ObjectDDL(f"type:{kinds[str(k)]}", str(s), str(n), "") for s, n, k in types]
    rels = conn.execute(
        f"""SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY(%s) AND c.relkind IN ('S', 'v', 'm')
               AND {_NOT_EXTENSION_MEMBER.format(cls="'pg_class'", oid="c.oid")}
             ORDER BY c.oid""", (chosen,)).fetchall()
    funcs = conn.execute(
        f"""SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.prokind
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = ANY(%s) AND {_NOT_EXTENSION_MEMBER.format(cls="'pg_proc'", oid="p.oid")}
             ORDER BY p.oid""", (chosen,)).fetchall()
    out += [ObjectDDL("procedure" if k == "p" else "function", str(s), str(n), "") for s, n, k in funcs]
    kinds = {"S": "sequence", "v": "view", "m": "materialized_view"}
    for schema, name, kind in rels:
        if kind != "S" and not selection.includes(TableRef(str(schema), str(name))):
            continue  # a view not selected with a partly selected schema
        out.append(ObjectDDL(kinds[str(kind)], str(schema), str(name), ""))
    return out


def excluded_relations(conn: psycopg.Connection[Any], chosen: list[str], selection: Selection) -> list[TableRef]:
    """Tables, views and materialized views of the chosen schemas the selection leaves out (pg_dump -T)."""
    if selection.everything:
        return []
    rows = conn.execute(
        """SELECT n.nspname, c.relname, rn.nspname, r.relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
             JOIN pg_namespace rn ON rn.oid = r.relnamespace
            WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""",
        (chosen,)).fetchall()
    # A partition goes with its root: left out exactly when the root is.
    return [TableRef(str(s), str(n)) for s, n, rs, rn in rows if not selection.includes(TableRef(str(rs), str(rn)))]


__all__ = ["META_SCHEMA", "discover", "effective_selection", "excluded_relations", "schemas"]
