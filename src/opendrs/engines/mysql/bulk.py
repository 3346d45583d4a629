"""The MySQL -> MySQL full-load fast path: rows leave the source as ``LOAD DATA`` lines.

Why: profiling the full load showed most of its CPU time in PyMySQL turning every value into
a Python object on the source side and escaping it back into SQL text on the target side
(``REPLACE ... VALUES``), all under one GIL. Here the SOURCE server formats each row as one
tab-separated, backslash-escaped line (``CONCAT_WS`` over per-column escapes), the driver
hands it over as a single ``bytes`` value, and the TARGET server parses it with ``LOAD DATA
LOCAL INFILE ... REPLACE``. Python only joins lines, so the per-value work happens in C inside
the two servers. No library does this (mydumper/myloader are separate C programs that write
whole files), hence the hand-written SQL.

Lossless by construction: text goes through utf8mb4 (a superset of every charset we accept),
numbers and temporals through their own text forms (FLOAT/DOUBLE(M,D) as exact doubles, see
``dialect.read_expr``), binary strings and spatial values as hex, BIT as its integer. Tables with any other
column type (vendor types) keep the classic row path (``encodable`` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from opendrs.engines.mysql.dialect import (
    ENUM_SET_TYPES,
    FIXED_POINT_TYPES,
    INTEGER_TYPES,
    SPATIAL_TYPES,
    TEMPORAL_TYPES,
    TEXT_TYPES,
    key_range_predicate,
    qualified_param,
    quote_ident,
    quote_param_ident,
    read_expr,
)
from opendrs.pipeline.model import Column, KeyRange, TableSchema

FORMAT: Final = "mysql-load-data"
_TEXTUAL: Final = TEXT_TYPES | ENUM_SET_TYPES | {"uuid", "inet4", "inet6"}
_PLAIN: Final = INTEGER_TYPES | FIXED_POINT_TYPES | TEMPORAL_TYPES | {"float", "double", "double precision", "real"}
# Spatial values travel as their stored bytes (SRID + WKB), which the column accepts back as is.
_HEX: Final = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}) | SPATIAL_TYPES
_NULL: Final = r"'\\N'"  # the two characters \N: LOAD DATA's NULL


def _kind(col: Column) -> str | None:
    """How a column travels: "text" (escaped utf8mb4), "plain" (its own text form), "hex", "bit", or None."""
    if col.charset == "binary" or col.data_type in _HEX:
        return "hex"
    if col.data_type == "bit":
        return "bit"
    if col.data_type in _TEXTUAL:
        return "text"
    if col.data_type in _PLAIN:
        return "plain"
    return None


def encodable(table: TableSchema) -> bool:
    """Every column has a lossless line form, and the table has a key to resume by."""
    return bool(table.key) and all(_kind(c) is not None for c in table.columns)


def _field(col: Column) -> str:
    name = quote_param_ident(col.name)
    kind = _kind(col)
    if kind == "hex":
        value = f"HEX({name})"
    elif kind == "bit":
        value = f"({name} + 0)"
    elif kind == "plain":
        value = read_expr(col)
    else:
        # Backslash first, then the three characters LOAD DATA would read as separators.
        value = f"CONVERT({name} USING utf8mb4)"
        for raw, escaped in (("'\\\\'", "'\\\\\\\\'"), ("CHAR(9)", r"'\\t'"), ("CHAR(10)", r"'\\n'"),
                             ("CHAR(13)", r"'\\r'")):
            value = f"REPLACE({value}, {raw}, {escaped})"
    return f"IFNULL({value}, {_NULL})"


def select_lines_sql(table: TableSchema, chunk: KeyRange, *, with_key: bool = True) -> tuple[str, list[object]]:
    """Key columns (as ``read_chunk`` returns them, for resuming; unless not ``with_key``) then the
    row's line, in key order."""
    keys = [table.columns[i] for i in table.key_indexes] if with_key else []
    line = "CONCAT_WS(CHAR(9), " + ", ".join(_field(c) for c in table.writable) + ")"
    cols = ", ".join([*(read_expr(c) for c in keys), f"CAST({line} AS BINARY)"])
    sql = f"SELECT {cols} FROM {qualified_param(table.ref)}"
    where, params = key_range_predicate(table, chunk)
    if where:
        sql += f" WHERE {where}"
    order = ", ".join(quote_param_ident(k) for k in table.key)
    return f"{sql} ORDER BY {order}", params


@dataclass(frozen=True)
class LoadStatement:
    """``LOAD DATA`` for one target table; ``{path}`` is filled per batch."""

    head: str
    tail: str

    def for_file(self, path: str) -> str:
        return f"{self.head}'{_sql_string(path)}'{self.tail}"


def load_statement(table: TableSchema, target_db: str, target_table: str) -> LoadStatement:
    targets: list[str] = []
    sets: list[str] = []
    for i, col in enumerate(table.writable):
        kind = _kind(col)
        if kind in ("hex", "bit"):
            var = f"@v{i}"
            targets.append(var)
            conv = f"UNHEX({var})" if kind == "hex" else f"CAST({var} AS UNSIGNED)"
            sets.append(f"{quote_ident(col.name)} = {conv}")
        else:
            targets.append(quote_ident(col.name))
    tail = (f" REPLACE INTO TABLE {quote_ident(target_db)}.{quote_ident(target_table)} CHARACTER SET utf8mb4"
            r" FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'"
            f" ({', '.join(targets)})")
    if sets:
        tail += " SET " + ", ".join(sets)
    return LoadStatement("LOAD DATA LOCAL INFILE ", tail)


def join_lines(lines: Sequence[bytes]) -> bytes:
    """Every line terminated, so a last line that is empty still counts as a row."""
    return b"\n".join(lines) + b"\n"


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "''")


__all__ = ["FORMAT", "LoadStatement", "encodable", "join_lines", "load_statement", "select_lines_sql"]
