"""MySQL/MariaDB dialect of the comparison (PyMySQL): canonical text, MD5 row hashes, chunk sums.

Why these expressions: a row's canonical text is built in SQL on both servers, so equal data
gives equal text whatever the client: temporals are printed with six fractional digits
(``DATETIME(0)`` vs ``DATETIME(6)`` of the same instant compare equal; sessions run at
``+00:00`` so TIMESTAMPs are not shifted), floating point as the server prints it (15
significant digits: the last-bit noise of a re-computed DOUBLE does not count, and -0 is 0),
binary values as hex, non-utf8mb4 text converted to utf8mb4 (the bytes of the characters
are compared, never the collation's idea of equality). ``CONCAT_WS`` drops NULLs, so a
bitmap of the nullable columns' NULL flags is appended: NULL and '' hash differently. A chunk's
checksum is ``COUNT(*)`` plus the SUM of 60 bits of each row's MD5 (order-independent, exact
in DECIMAL). Reads are plain SELECTs in READ COMMITTED autocommit: no locks, no snapshot held.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any, Final

import pymysql
from pymysql.converters import escape_string

from opendrs.compare.dialect import PH, CompareError, CompareSession, Row, bind
from opendrs.compare.model import ColumnInfo, TableInfo
from opendrs.compare.objects import ObjectItem
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.connection import connect, session_for_apply
from opendrs.engines.mysql.dialect import SYSTEM_DATABASES
from opendrs.engines.mysql.discover import INTERNAL_DATABASES, table_schema
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

_NUMERIC: Final = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
                             "year"})
_INTEGER: Final = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
_FLOAT: Final = frozenset({"float", "double", "real"})
_DATETIME: Final = frozenset({"datetime", "timestamp"})
_BINARY: Final = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry",
                            "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
                            "geometrycollection"})
_NUMBER_TEXT: Final = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def _has_crc32c(session: CompareSession) -> bool:
    try:
        session.query("SELECT CRC32C('')")
    except CompareError:
        return False
    return True


def _is_binary(col: ColumnInfo) -> bool:
    return col.data_type in _BINARY or col.charset == "binary"


class MySQLSession:
    """One PyMySQL connection in READ COMMITTED autocommit (every SELECT sees committed data, locks nothing)."""

    def __init__(self, ep: EndpointConfig) -> None:
        self.where = ep.where
        self.conn = connect(ep, database="", read_timeout=None)
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(bind(sql), list(args))
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise CompareError(f"query on {self.where} failed: {exc}", detail=sql[:500]) from exc

    def run_transaction(self, statements: Sequence[str]) -> None:
        """Statements are complete SQL (literals inlined): executed without parameter formatting."""
        try:
            self.conn.begin()
            session_for_apply(self.conn)
            with self.conn.cursor() as cur:
                for stmt in statements:
                    cur.execute(stmt)
            self.conn.commit()
        except pymysql.MySQLError as exc:
            self.conn.rollback()
            raise CompareError(f"repair on {self.where} failed: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(pymysql.MySQLError):  # already gone: nothing to release
            self.conn.close()


class MySQLCompareDialect:
    """Row hashes are MD5 of the canonical row text, or CRC32 and CRC32C of it where both servers have CRC32C."""

    name = "mysql"

    def __init__(self) -> None:
        self.crc64 = False

    def connect(self, ep: EndpointConfig, database: str | None = None) -> MySQLSession:
        return MySQLSession(ep)

    def target_database(self, source: EndpointConfig, target: EndpointConfig) -> str | None:
        return None

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("`", "``") + "`"

    def table_sql(self, ref: TableRef) -> str:
        return f"{self.quote(ref.schema)}.{self.quote(ref.name)}"

    def placeholder(self, column: ColumnInfo) -> str:
        return PH

    def key_expr(self, column: ColumnInfo) -> str:
        return self.quote(column.name)  # native values bind back exactly (bigint, DECIMAL, DATETIME(6), bytes)

    def is_integer(self, column: ColumnInfo) -> bool:
        return column.data_type in _INTEGER

    def int_bound(self, value: int) -> Any:
        return value

    def bucket_expr(self, column: ColumnInfo, base: int, width: int) -> str:
        return f"({self.quote(column.name)} - {int(base)}) DIV {int(width)}"

    def text_expr(self, column: ColumnInfo) -> str:
        c = self.quote(column.name)
        if _is_binary(column):
            return f"HEX({c})"
        if column.data_type in _DATETIME:
            return f"DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"
        if column.data_type == "time":
            return f"TIME_FORMAT({c}, '%H:%i:%s.%f')"
        if column.data_type in _NUMERIC or column.data_type in _FLOAT or column.data_type == "date":
            return f"CAST({c} AS CHAR)"
        if column.charset not in (None, "utf8mb4"):
            return f"CONVERT({c} USING utf8mb4)"
        return c

    def row_text_expr(self, columns: Sequence[ColumnInfo]) -> str:
        parts = [self.text_expr(c) for c in columns]
        nullable = [f"{self.quote(c.name)} IS NULL" for c in columns if c.nullable]
        if nullable:
            parts.append(f"CONCAT({', '.join(nullable)})")
        return f"CONCAT_WS('#', {', '.join(parts)})"

    def row_hash_expr(self, columns: Sequence[ColumnInfo]) -> str:
        row = self.row_text_expr(columns)
        if self.crc64:
            return f"CONCAT(CRC32({row}), '-', CRC32C({row}))"
        return f"MD5({row})"

    def chunk_sum_expr(self, columns: Sequence[ColumnInfo]) -> str:
        row = self.row_text_expr(columns)
        if self.crc64:
            return f"CONCAT(SUM(CRC32({row})), '-', SUM(CRC32C({row})))"
        return f"SUM(CAST(CONV(SUBSTRING(MD5({row}), 1, 15), 16, 10) AS UNSIGNED))"

    def prepare(self, source: CompareSession, target: CompareSession) -> None:
        """CRC32 + CRC32C (64 bits, ~40% cheaper than MD5) when both servers have CRC32C (MariaDB 10.8+)."""
        self.crc64 = all(_has_crc32c(s) for s in (source, target))

    def literal(self, column: ColumnInfo, text: str | None) -> str:
        if text is None:
            return "NULL"
        if _is_binary(column):
            digits = text if len(text) % 2 == 0 else "0" + text
            return f"X'{digits}'"
        if column.data_type in _NUMERIC and _NUMBER_TEXT.match(text):
            return text  # unquoted: a quoted number would compare as DOUBLE (wrong above 2**53)
        return self._string(text)

    def _string(self, text: str) -> str:
        return "'" + escape_string(text) + "'"

    def match_expr(self, column: ColumnInfo, text: str | None) -> str:
        if text is None:
            return f"{self.quote(column.name)} IS NULL"
        return f"{self.text_expr(column)} = {self._string(text)}"

    def delete_one_sql(self, ref: TableRef, condition: str) -> str:
        return f"DELETE FROM {self.table_sql(ref)} WHERE {condition} LIMIT 1"

    def insert_prefix(self, info: TableInfo, columns: Sequence[ColumnInfo]) -> str:
        return f"INSERT INTO {self.table_sql(info.ref)} ({', '.join(self.quote(c.name) for c in columns)})"

    # --- catalog ------------------------------------------------------------------------
    def list_databases(self, session: CompareSession, selection: Selection) -> list[str]:
        found = [str(r[0]) for r in session.query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")]
        user = [d for d in found if d.lower() not in SYSTEM_DATABASES and d not in INTERNAL_DATABASES]
        return [d for d in user if selection.includes_database(d)]

    def list_tables(self, session: CompareSession, database: str) -> list[str]:
        return [str(r[0]) for r in session.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + PH
            + " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [database])]

    def table_info(self, session: CompareSession, ref: TableRef) -> TableInfo | None:
        """Columns and key through the engine's own discovery (same key choice as replication)."""
        if ref.name not in self.list_tables(session, ref.schema):
            return None
        if not isinstance(session, MySQLSession):
            raise TypeError("a MySQL session is required")
        schema = table_schema(session.conn, ref)
        columns = tuple(ColumnInfo(c.name, c.data_type, c.column_type, c.nullable, c.generated, c.charset)
                        for c in schema.columns)
        avg = schema.bytes_estimate // schema.rows_estimate if schema.rows_estimate else 0
        return TableInfo(ref, columns, schema.key, schema.rows_estimate, avg)

    def object_inventory(self, session: CompareSession, databases: Sequence[str]) -> list[ObjectItem]:
        from opendrs.compare.mysql_objects import inventory

        return inventory(session, databases)
