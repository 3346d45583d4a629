"""PostgreSQL dialect of the comparison (psycopg 3): every value compared as its text output.

Why text: PostgreSQL's own text output is canonical per type (numeric keeps its scale,
timestamps drop trailing fractional zeros so precision does not matter, bytea is hex, arrays
and ranges have one spelling), so the two servers produce equal text for equal data. Sessions
pin the settings that change text output: ``TimeZone=UTC``, ``DateStyle=ISO``,
``IntervalStyle=postgres``, ``extra_float_digits=1`` (shortest exact floats; -0 is printed
as 0), ``bytea_output=hex``. A row hashes as ``md5(ROW(...)::text)``: the record output
quotes values and leaves NULL empty, so NULL and '' differ. Key values travel as text and are
bound back with an explicit cast to the column's declared type, so range predicates use the
index and compare in the column's own order. Reads are autocommit READ COMMITTED statements:
no locks, no long snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final

import psycopg

from opendrs.compare.dialect import PH, CompareError, CompareSession, Row, bind
from opendrs.compare.model import ColumnInfo, TableInfo
from opendrs.compare.objects import ObjectItem
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.config import DEFAULT_DB, connect_args, ssl_params
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

_FLOATS: Final = frozenset({"float4", "float8"})
_SESSION: Final = ("SET TIME ZONE 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET IntervalStyle = 'postgres'",
                   "SET extra_float_digits = 1", "SET bytea_output = 'hex'",
                   "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
INTERNAL_SCHEMAS: Final = frozenset({"information_schema", "opendrs_meta"})


class PostgresSession:
    """One psycopg connection in autocommit: each query is its own READ COMMITTED statement."""

    def __init__(self, ep: EndpointConfig, database: str | None) -> None:
        self.where = ep.where
        args = connect_args(ep)
        args.update(dbname=database or ep.db_name or DEFAULT_DB, application_name="opendrs-compare",
                    options="-c statement_timeout=0")
        try:
            with ssl_params(ep) as tls:
                self.conn: psycopg.Connection[Any] = psycopg.connect(**(args | tls))
        except psycopg.Error as exc:
            raise CompareError(f"cannot connect to PostgreSQL at {ep.where}: {str(exc).strip()}") from exc
        for stmt in _SESSION:
            self.conn.execute(stmt)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            cur = self.conn.execute(bind(sql), list(args))
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        except psycopg.Error as exc:
            raise CompareError(f"query on {self.where} failed: {str(exc).strip()}", detail=sql[:500]) from exc

    def run_transaction(self, statements: Sequence[str]) -> None:
        try:
            with self.conn.transaction():
                for stmt in statements:
                    self.conn.execute(stmt)
        except psycopg.Error as exc:
            raise CompareError(f"repair on {self.where} failed: {str(exc).strip()}") from exc

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def _session(session: CompareSession) -> PostgresSession:
    if not isinstance(session, PostgresSession):
        raise TypeError("a PostgreSQL session is required")
    return session


class PostgresCompareDialect:
    name = "postgresql"

    def connect(self, ep: EndpointConfig, database: str | None = None) -> PostgresSession:
        return PostgresSession(ep, database)

    def target_database(self, source: EndpointConfig, target: EndpointConfig) -> str | None:
        return target.db_name or source.db_name or DEFAULT_DB

    def quote(self, ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    def table_sql(self, ref: TableRef) -> str:
        return f"{self.quote(ref.schema)}.{self.quote(ref.name)}"

    def placeholder(self, column: ColumnInfo) -> str:
        return f"{PH}::{column.column_type}"

    def key_expr(self, column: ColumnInfo) -> str:
        return f"{self.quote(column.name)}::text"

    def is_integer(self, column: ColumnInfo) -> bool:
        return column.data_type in ("int2", "int4", "int8")

    def int_bound(self, value: int) -> Any:
        return str(value)  # bound as text with the column's cast, like every key value here

    def bucket_expr(self, column: ColumnInfo, base: int, width: int) -> str:
        return f"(({self.quote(column.name)})::int8 - {int(base)}) / {int(width)}"

    def text_expr(self, column: ColumnInfo) -> str:
        c = self.quote(column.name)
        if column.data_type in _FLOATS:
            return f"(CASE WHEN {c} = 0 THEN '0' ELSE {c}::text END)"
        return f"{c}::text"

    def row_hash_expr(self, columns: Sequence[ColumnInfo]) -> str:
        return f"md5(ROW({', '.join(self.text_expr(c) for c in columns)})::text)"

    def chunk_sum_expr(self, columns: Sequence[ColumnInfo]) -> str:
        return f"sum(('x' || substr({self.row_hash_expr(columns)}, 1, 16))::bit(64)::bigint)"

    def prepare(self, source: CompareSession, target: CompareSession) -> None:
        return None

    def _string(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def literal(self, column: ColumnInfo, text: str | None) -> str:
        if text is None:
            return "NULL"
        return f"{self._string(text)}::{column.column_type}"

    def match_expr(self, column: ColumnInfo, text: str | None) -> str:
        if text is None:
            return f"{self.quote(column.name)} IS NULL"
        return f"{self.text_expr(column)} = {self._string(text)}"

    def delete_one_sql(self, ref: TableRef, condition: str) -> str:
        table = self.table_sql(ref)
        return f"DELETE FROM {table} WHERE ctid = (SELECT ctid FROM {table} WHERE {condition} LIMIT 1)"

    def insert_prefix(self, info: TableInfo, columns: Sequence[ColumnInfo]) -> str:
        names = ", ".join(self.quote(c.name) for c in columns)
        override = " OVERRIDING SYSTEM VALUE" if any(c.identity_always for c in columns) else ""
        return f"INSERT INTO {self.table_sql(info.ref)} ({names}){override}"

    # --- catalog ------------------------------------------------------------------------
    def list_databases(self, session: CompareSession, selection: Selection) -> list[str]:
        """Schemas (the selection's "database" level for PostgreSQL), system ones left out."""
        rows = session.query("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg!_%' ESCAPE '!' "
                             "ORDER BY nspname")
        names = [str(r[0]) for r in rows if str(r[0]) not in INTERNAL_SCHEMAS]
        return [n for n in names if selection.includes_database(n)]

    def list_tables(self, session: CompareSession, database: str) -> list[str]:
        rows = session.query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {PH} AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
            [database])
        return [str(r[0]) for r in rows]

    def table_info(self, session: CompareSession, ref: TableRef) -> TableInfo | None:
        s = _session(session)
        found = s.query(
            "SELECT c.oid, c.reltuples, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE n.nspname = {PH} AND c.relname = {PH} AND c.relkind IN ('r', 'p')",
            [ref.schema, ref.name])
        if not found:
            return None
        oid, reltuples, size = found[0]
        cols = tuple(
            ColumnInfo(str(name), str(typname), str(fmt), not notnull, bool(generated), None, identity == "a")
            for name, typname, fmt, notnull, generated, identity in s.query(
                "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "a.attgenerated <> '', a.attidentity FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                f"WHERE a.attrelid = {PH} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [oid]))
        not_null = {c.name for c in cols if not c.nullable}
        key: tuple[str, ...] = ()
        for primary, names in s.query(
                "SELECT i.indisprimary, ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) "
                f"FROM pg_index i WHERE i.indrelid = {PH} AND i.indisunique AND i.indisvalid "
                "AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY NOT i.indisprimary, i.indexrelid", [oid]):
            names = tuple(str(n) for n in names)
            if names and (primary or all(n in not_null for n in names)):
                key = names
                break
        rows = max(int(reltuples or 0), 0)
        return TableInfo(ref, cols, key, rows, int(size or 0) // rows if rows else 0)

    def object_inventory(self, session: CompareSession, databases: Sequence[str]) -> list[ObjectItem]:
        from opendrs.compare.postgres_objects import inventory

        return inventory(session, databases)
