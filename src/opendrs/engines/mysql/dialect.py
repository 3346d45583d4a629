"""MySQL/MariaDB SQL text as data and pure functions: quoting, type facts, and the statements
the full load and the apply path run (chunk reads, REPLACE, deletes by key or by full row).

Why pure: every statement here is built from a ``TableSchema`` alone, so it is unit-tested
without a server and the readers/writers stay free of string fiddling.

Two choices that are easy to get wrong:

* Key ranges are written as expanded comparisons, ``a > x OR (a = x AND b > y)``, not as the
  row constructor ``(a, b) > (x, y)``: MariaDB 10.11 (and MySQL) plan the row constructor as
  a full index scan, which makes every chunk read O(table); the expanded form is a range scan.
* Some key columns do not sort the way their driver value compares: ENUM and SET sort by
  their numeric index, BIT by its integer value, and FLOAT is printed by the server with 6
  significant digits. Key *boundaries* are therefore read as ``col + 0`` / ``col + 0E0``
  (numbers that compare exactly like the sort order) and row *values* of FLOAT columns as
  ``col + 0E0`` (the exact single-precision value as a double, which writes back to the same
  float bits, and matches what the binlog gives CDC).

Statements meant to run WITH parameters have ``%`` in identifiers doubled, because PyMySQL
%-formats the whole statement text when arguments are given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opendrs.pipeline.model import Column, KeyRange, Row, TableRef, TableSchema

# --- type facts (information_schema.COLUMNS.DATA_TYPE, lower case) -------------------------
INTEGER_TYPES: Final = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
FIXED_POINT_TYPES: Final = frozenset({"decimal", "numeric"})
FLOAT32_TYPES: Final = frozenset({"float"})
APPROX_TYPES: Final = frozenset({"float", "double", "double precision", "real"})
TEMPORAL_TYPES: Final = frozenset({"date", "datetime", "timestamp", "time", "year"})
BINARY_TYPES: Final = frozenset(
    {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"}
)
SPATIAL_TYPES: Final = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
     "geometrycollection", "geomcollection"}
)
TEXT_TYPES: Final = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"})
ENUM_SET_TYPES: Final = frozenset({"enum", "set"})
# Sorted by a number (ENUM/SET index, BIT value), not by the string/bytes the driver returns.
NUMERIC_SORT_TYPES: Final = frozenset({"enum", "set", "bit"})
SYSTEM_DATABASES: Final = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


def is_binary(col: Column) -> bool:
    """Values come back as ``bytes`` (binary strings, BLOB, BIT, spatial, or charset ``binary``)."""
    return col.data_type in BINARY_TYPES or col.data_type in SPATIAL_TYPES or col.charset == "binary"


def is_temporal(col: Column) -> bool:
    return col.data_type in TEMPORAL_TYPES


def is_spatial(col: Column) -> bool:
    return col.data_type in SPATIAL_TYPES


# --- quoting ----------------------------------------------------------------------------------
def quote_ident(name: str) -> str:
    """Backquote an identifier (``a`b`` -> ```a``b```). For statements run WITHOUT parameters."""
    return "`" + name.replace("`", "``") + "`"


def qualified(ref: TableRef) -> str:
    """```db`.`table``` for statements run WITHOUT parameters."""
    return f"{quote_ident(ref.schema)}.{quote_ident(ref.name)}"


def _p(sql_fragment: str) -> str:
    """Make identifier text safe inside a statement that PyMySQL will %-format."""
    return sql_fragment.replace("%", "%%")


def quote_param_ident(name: str) -> str:
    """``quote_ident`` for statements run WITH parameters (``%`` doubled)."""
    return _p(quote_ident(name))


def qualified_param(ref: TableRef) -> str:
    """``qualified`` for statements run WITH parameters (``%`` doubled)."""
    return _p(qualified(ref))


# --- expressions --------------------------------------------------------------------------
def read_expr(col: Column) -> str:
    """The select-list expression that yields a column's value losslessly (param-safe).

    FLOAT is read as ``col + 0E0``: the server prints FLOAT with 6 significant digits, which
    loses bits; as a double it is exact and writes back to the same single-precision value.
    DOUBLE(M,D) likewise: its text form has D decimals, not the stored double's bits (the
    binlog decoder yields the same exact doubles, so a full image matches in both phases).
    """
    q = quote_param_ident(col.name)
    if col.data_type in FLOAT32_TYPES or (col.data_type == "double" and "," in col.column_type):
        return f"({q} + 0E0)"
    return q


def key_order_expr(col: Column) -> str:
    """The select-list expression for a key boundary: a value comparing like the sort order."""
    q = quote_param_ident(col.name)
    if col.data_type in NUMERIC_SORT_TYPES:
        return f"({q} + 0)"
    if col.data_type in FLOAT32_TYPES:
        return f"({q} + 0E0)"
    return q


def _key_columns(table: TableSchema) -> list[Column]:
    return [table.columns[i] for i in table.key_indexes]


def _compare(names: Sequence[str], bound: Row, strict: str, last: str) -> tuple[str, list[Any]]:
    """``(k1 strict v1) OR (k1 = v1 AND k2 strict v2) OR ... (... AND kn last vn)``.

    A redundant leading ``k1 >= v1`` / ``k1 <= v1`` term helps older optimizers pick a range.
    """
    if len(bound) != len(names):
        raise ValueError(f"key bound {bound!r} does not match key columns {list(names)}")
    terms: list[str] = []
    params: list[Any] = []
    for i, name in enumerate(names):
        eq = [f"{n} = %s" for n in names[:i]]
        op = last if i == len(names) - 1 else strict
        terms.append("(" + " AND ".join([*eq, f"{name} {op} %s"]) + ")")
        params.extend(bound[: i + 1])
    if len(names) == 1:
        return terms[0], params
    lead = f"{names[0]} {strict[0]}= %s"
    return f"({lead} AND ({' OR '.join(terms)}))", [bound[0], *params]


def key_range_predicate(table: TableSchema, chunk: KeyRange) -> tuple[str, list[Any]]:
    """WHERE text (param-safe) and parameters for keys in ``(chunk.lower, chunk.upper]``; "" if unbounded."""
    parts: list[str] = []
    params: list[Any] = []
    if chunk.lower is None and chunk.upper is None:
        return "", params
    if not table.key:
        raise ValueError(f"{table.ref} has no key, so it cannot be read by key range")
    names = [quote_param_ident(c.name) for c in _key_columns(table)]
    if chunk.lower is not None:
        sql, args = _compare(names, chunk.lower, ">", ">")
        parts.append(sql)
        params.extend(args)
    if chunk.upper is not None:
        sql, args = _compare(names, chunk.upper, "<", "<=")
        parts.append(sql)
        params.extend(args)
    return " AND ".join(parts), params


def _order_by(table: TableSchema) -> str:
    return ", ".join(quote_param_ident(k) for k in table.key)


# --- statements -------------------------------------------------------------------------------
def select_chunk_sql(table: TableSchema, chunk: KeyRange) -> tuple[str, list[Any]]:
    """Every column (in ``table.columns`` order) of the rows in ``chunk``, in key order."""
    cols = ", ".join(read_expr(c) for c in table.columns)
    sql = f"SELECT {cols} FROM {qualified_param(table.ref)}"
    where, params = key_range_predicate(table, chunk)
    if where:
        sql += f" WHERE {where}"
    if table.key:
        sql += f" ORDER BY {_order_by(table)}"
    return sql, params


def boundary_probe_sql(table: TableSchema, after: Row | None, step: int) -> tuple[str, list[Any]]:
    """The key ``step`` rows past ``after`` (or from the start), read via the key's index only."""
    if not table.key:
        raise ValueError(f"{table.ref} has no key to chunk by")
    if step < 1:
        raise ValueError("rows per chunk must be at least 1")
    cols = ", ".join(key_order_expr(c) for c in _key_columns(table))
    sql = f"SELECT {cols} FROM {qualified_param(table.ref)}"
    params: list[Any] = []
    if after is not None:
        where, params = key_range_predicate(table, KeyRange(after, None))
        sql += f" WHERE {where}"
    sql += f" ORDER BY {_order_by(table)} LIMIT 1 OFFSET {int(step) - 1}"
    return sql, params


def values_placeholder(n: int) -> str:
    """``(%s, %s, ...)`` for one row of ``n`` values."""
    return "(" + ", ".join(["%s"] * n) + ")"


def replace_prefix(target: TableRef, columns: Sequence[Column]) -> str:
    """``REPLACE INTO `db`.`t` (`a`, `b`) VALUES `` -- append ``values_placeholder`` per row."""
    names = ", ".join(quote_param_ident(c.name) for c in columns)
    return f"REPLACE INTO {qualified_param(target)} ({names}) VALUES "


def replace_sql(target: TableRef, columns: Sequence[Column]) -> str:
    """One-row REPLACE; ``cursor.executemany`` batches it into multi-row statements.

    Pass only writable columns (``TableSchema.writable``): generated columns are computed.
    """
    return replace_prefix(target, columns) + values_placeholder(len(columns))


def insert_sql(target: TableRef, columns: Sequence[Column]) -> str:
    """Like ``replace_sql`` with plain INSERT (keyless tables, where REPLACE has nothing to match)."""
    return "INSERT" + replace_sql(target, columns)[len("REPLACE"):]


def delete_by_key_sql(target: TableRef, key: Sequence[str], count: int = 1) -> str:
    """Delete ``count`` rows by key: ``WHERE (`a`, `b`) IN ((%s, %s), ...)`` (a range scan)."""
    if not key:
        raise ValueError(f"{target} has no key; use delete_by_row_sql")
    if count < 1:
        raise ValueError("count must be at least 1")
    cols = ", ".join(quote_param_ident(k) for k in key)
    lhs = cols if len(key) == 1 else f"({cols})"
    one = "%s" if len(key) == 1 else values_placeholder(len(key))
    return f"DELETE FROM {qualified_param(target)} WHERE {lhs} IN ({', '.join([one] * count)})"


def delete_by_row_sql(target: TableRef, columns: Sequence[Column]) -> str:
    """Delete ONE row equal to a full image (keyless tables): NULL-safe ``<=>`` on every column.

    Pass the writable columns; FLOAT values must be the exact doubles ``read_expr`` yields.
    """
    if not columns:
        raise ValueError(f"{target}: no columns to match a row on")
    match = " AND ".join(f"{quote_param_ident(c.name)} <=> %s" for c in columns)
    return f"DELETE FROM {qualified_param(target)} WHERE {match} LIMIT 1"


# --- DDL rewriting (renames, definers, stored session settings) ----------------------------
_IDENT = r"`(?:[^`]|``)*`"
_STRING = r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\""
_USER_PART = rf"(?:`(?:[^`]|``)*`|{_STRING}|[A-Za-z0-9_$.%-]+)"
_DEFINER = rf"DEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|{_USER_PART}(?:\s*@\s*{_USER_PART})?)"
# The clauses that may precede the object keyword in CREATE VIEW/PROCEDURE/FUNCTION/TRIGGER/EVENT.
_OBJECT_HEAD = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?P<definer>{_DEFINER})?",
    re.IGNORECASE,
)
_VIEW_NAME = re.compile(rf"\bVIEW\s+(?:{_IDENT}\s*\.\s*)?{_IDENT}\s+AS\b", re.IGNORECASE)
_TRIGGER_HEAD = re.compile(r"\bTRIGGER\b.*?\bFOR\s+EACH\s+ROW\b", re.IGNORECASE | re.DOTALL)
_TABLE_HEAD = re.compile(
    rf"^\s*CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{_IDENT}\s*\.\s*)?{_IDENT}", re.IGNORECASE
)
_DATABASE_HEAD = re.compile(
    rf"^\s*CREATE\s+(?:DATABASE|SCHEMA)\s+(?:/\*!32312\s+IF\s+NOT\s+EXISTS\s*\*/\s*|IF\s+NOT\s+EXISTS\s+)?{_IDENT}",
    re.IGNORECASE,
)
# One token at a time, so string literals and comments are skipped and identifiers never
# split: a comment (not a /*! versioned */ one, which is SQL), a quoted string, or `a`
# optionally followed by .`b`.
_TOKENS = re.compile(
    rf"/\*(?!!).*?\*/|--\s[^\n]*|#[^\n]*|{_STRING}|`((?:[^`]|``)*)`(?:\s*\.\s*`((?:[^`]|``)*)`)?",
    re.DOTALL,
)
# A foreign key's parent table, with string literals (comments, defaults) skipped.
_REFERENCES = re.compile(rf"{_STRING}|\bREFERENCES\s+({_IDENT})(?:\s*\.\s*({_IDENT}))?", re.IGNORECASE)
_SESSION = re.compile(r"^/\*opendrs-session (\{.*?\}) \*/\n", re.DOTALL)


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace("``", "`")


def with_session(ddl: str, session: Mapping[str, str]) -> str:
    """Prefix ``ddl`` with the session settings the server stored with the object.

    Routines, triggers and events keep the ``sql_mode`` (events also the ``time_zone``) they
    were created under, and it changes how their bodies behave; the target must recreate
    them under the same settings. The header is a plain comment, harmless if executed.
    """
    if not session:
        return ddl
    return f"/*opendrs-session {json.dumps(dict(session), sort_keys=True)} */\n{ddl}"


def split_session(sql: str) -> tuple[dict[str, str], str]:
    """Inverse of ``with_session``: (settings, DDL without the header)."""
    m = _SESSION.match(sql)
    if m is None:
        return {}, sql
    return {str(k): str(v) for k, v in json.loads(m.group(1)).items()}, sql[m.end():]


def replace_definer(ddl: str, definer: str = "CURRENT_USER") -> str:
    """Rewrite the ``DEFINER=...`` clause of a CREATE VIEW/routine/trigger/event header.

    Only the header is touched (the body may mention DEFINER in strings or comments); DDL
    without a definer clause is returned unchanged.
    """
    m = _OBJECT_HEAD.match(ddl)
    if m is None or m.group("definer") is None:
        return ddl
    return ddl[: m.start("definer")] + f"DEFINER={definer}" + ddl[m.end("definer"):]


def canonical_view(ddl: str, db: str, name: str) -> str:
    """``SHOW CREATE VIEW`` with the view's own name qualified (MySQL prints it bare, MariaDB qualified)."""
    m = _VIEW_NAME.search(ddl)
    if m is None:
        raise ValueError(f"unexpected CREATE VIEW text for {db}.{name}: {ddl[:200]}")
    return ddl[: m.start()] + f"VIEW {qualified(TableRef(db, name))} AS" + ddl[m.end():]


def canonical_trigger(ddl: str, trigger: TableRef, table: TableRef, timing: str, event: str) -> str:
    """A trigger's header rewritten from what information_schema says, both names qualified.

    MariaDB returns the CREATE TRIGGER text as the user typed it (names quoted or not,
    qualified or not), which cannot be renamed reliably; the header is rebuilt, the body kept.
    """
    head = _OBJECT_HEAD.match(ddl)
    start = head.end() if head is not None else 0
    m = _TRIGGER_HEAD.search(ddl, start)
    if m is None:
        raise ValueError(f"unexpected CREATE TRIGGER text for {trigger}: {ddl[:200]}")
    canonical = f"TRIGGER {qualified(trigger)} {timing.upper()} {event.upper()} ON {qualified(table)} FOR EACH ROW"
    return ddl[: m.start()] + canonical + ddl[m.end():]


def qualified_references(ddl: str) -> set[TableRef]:
    """Every backquoted ```db`.`name``` pair in ``ddl`` (string literals skipped)."""
    found: set[TableRef] = set()
    for m in _TOKENS.finditer(ddl):
        if m.group(2) is not None:
            found.add(TableRef(m.group(1).replace("``", "`"), m.group(2).replace("``", "`")))
    return found


def _map(ref: TableRef, tables: Mapping[TableRef, TableRef], databases: Mapping[str, str]) -> TableRef:
    if ref in tables:
        return tables[ref]
    if ref.schema in databases:
        return TableRef(databases[ref.schema], ref.name)
    return ref


def rename_references(ddl: str, tables: Mapping[TableRef, TableRef], databases: Mapping[str, str]) -> str:
    """Rewrite every ```db`.`name``` pair per ``tables`` (exact renames) or ``databases`` (db renames).

    For view bodies and canonical trigger headers, where the server qualifies every table.
    A pair that maps to itself keeps its original text.
    """

    def swap(m: re.Match[str]) -> str:
        if m.group(2) is None:
            return m.group(0)
        ref = TableRef(m.group(1).replace("``", "`"), m.group(2).replace("``", "`"))
        new = _map(ref, tables, databases)
        return m.group(0) if new == ref else qualified(new)

    return _TOKENS.sub(swap, ddl)


def rename_table_ddl(
    ddl: str, source: TableRef, target: TableRef, tables: Mapping[TableRef, TableRef], databases: Mapping[str, str]
) -> str:
    """``SHOW CREATE TABLE`` text as ``CREATE TABLE IF NOT EXISTS `tdb`.`t``` with renamed FK parents.

    Nothing else changes: columns, defaults, indexes, options and partitions stay verbatim.
    """
    m = _TABLE_HEAD.match(ddl)
    if m is None:
        raise ValueError(f"unexpected CREATE TABLE text for {source}: {ddl[:200]}")
    body = ddl[m.end():]

    def parent(ref_match: re.Match[str]) -> str:
        first, second = ref_match.group(1), ref_match.group(2)
        if first is None:  # a string literal
            return ref_match.group(0)
        ref = TableRef(_unquote(first), _unquote(second)) if second else TableRef(source.schema, _unquote(first))
        new = _map(ref, tables, databases)
        if new == ref:
            return ref_match.group(0)
        name = quote_ident(new.name) if new.schema == target.schema else qualified(new)
        return f"REFERENCES {name}"

    return f"CREATE TABLE IF NOT EXISTS {qualified(target)}" + _REFERENCES.sub(parent, body)


def rename_database_ddl(ddl: str, target_db: str) -> str:
    """``SHOW CREATE DATABASE`` text as ``CREATE DATABASE IF NOT EXISTS `target``` (options kept)."""
    m = _DATABASE_HEAD.match(ddl)
    if m is None:
        raise ValueError(f"unexpected CREATE DATABASE text: {ddl[:200]}")
    return f"CREATE DATABASE IF NOT EXISTS {quote_ident(target_db)}" + ddl[m.end():]



__all__ = [
    "APPROX_TYPES",
    "BINARY_TYPES",
    "ENUM_SET_TYPES",
    "FIXED_POINT_TYPES",
    "FLOAT32_TYPES",
    "INTEGER_TYPES",
    "NUMERIC_SORT_TYPES",
    "SPATIAL_TYPES",
    "SYSTEM_DATABASES",
    "TEMPORAL_TYPES",
    "TEXT_TYPES",
    "boundary_probe_sql",
    "canonical_trigger",
    "canonical_view",
    "delete_by_key_sql",
    "delete_by_row_sql",
    "insert_sql",
    "is_binary",
    "is_spatial",
    "is_temporal",
    "key_order_expr",
    "key_range_predicate",
    "qualified",
    "qualified_references",
    "qualified_param",
    "quote_ident",
    "quote_param_ident",
    "read_expr",
    "rename_database_ddl",
    "rename_references",
    "rename_table_ddl",
    "replace_definer",
    "replace_prefix",
    "replace_sql",
    "select_chunk_sql",
    "split_session",
    "values_placeholder",
    "with_session",
]
