"""Full-load reads on the source: split a table into key ranges, stream one range's rows.

Why boundary probes: ``SELECT key ... WHERE key > last ORDER BY key LIMIT 1 OFFSET n-1``
walks the key's index n entries at a time, so chunks hold ~n rows however skewed or sparse
the key values are, and nothing but one key tuple is ever held in memory. Min/max arithmetic
on an integer key would be cheaper to plan but gives empty and huge chunks on skewed keys.

Consistency (one snapshot for all chunks, tied to a binlog position) is the caller's: these
functions read through whatever transaction the given connection has open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import Any

import pymysql
from pymysql.cursors import SSCursor

from opendrs.engines.mysql import bulk
from opendrs.engines.mysql.connection import MySQLEngineError, MySQLUnavailable
from opendrs.engines.mysql.dialect import boundary_probe_sql, select_chunk_sql
from opendrs.pipeline.model import EncodedBatch, KeyRange, Row, TableSchema


def chunks(conn: pymysql.connections.Connection[Any], table: TableSchema, rows_per_chunk: int) -> Iterator[KeyRange]:
    """Key ranges ``(lower, upper]`` covering the table, each about ``rows_per_chunk`` rows.

    The first range has ``lower=None``, the last ``upper=None`` (so rows inserted past the
    last probe are still covered). A table without a key, or an empty table, is a single
    unbounded range. Boundaries are *key-order* values (ENUM/SET/BIT as numbers, FLOAT as
    exact doubles, see ``dialect.key_order_expr``): pass them back to ``read_chunk`` as they
    are; they are not necessarily equal to the row values ``read_chunk`` returns.
    Generated lazily: each range costs one index probe when it is asked for, so do not
    advance it while a ``read_chunk`` on the same connection is still open.
    """
    if rows_per_chunk < 1:
        raise ValueError("rows_per_chunk must be at least 1")
    if not table.key:
        yield KeyRange(None, None, 0)
        return
    lower: Row | None = None
    index = 0
    while True:
        sql, params = boundary_probe_sql(table, lower, rows_per_chunk)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                found = cur.fetchone()
        except pymysql.MySQLError as exc:
            raise _read_error(table, "find chunk boundaries of", exc) from exc
        if found is None:
            yield KeyRange(lower, None, index)
            return
        upper = tuple(found)
        yield KeyRange(lower, upper, index)
        lower = upper
        index += 1


def read_chunk(
    conn: pymysql.connections.Connection[Any], table: TableSchema, chunk: KeyRange, batch_rows: int
) -> Generator[list[Row], None, None]:
    """Rows of ``chunk`` in key order, at most ``batch_rows`` per list, streamed (bounded memory).

    Each row has EVERY column of ``table.columns``, in that order, generated columns
    included (CDC's row images have them too); a writer leaves generated columns out
    (``TableSchema.writable``) because the target computes them. FLOAT values are exact
    doubles (see ``dialect.read_expr``). Uses an unbuffered cursor: the connection is busy
    until the generator is exhausted or closed (``close()`` it when stopping early).
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    sql, params = select_chunk_sql(table, chunk)
    yield from _batches(conn, table, sql, params, batch_rows)


def read_lines(
    conn: pymysql.connections.Connection[Any], table: TableSchema, chunk: KeyRange, batch_rows: int
) -> Generator[EncodedBatch, None, None]:
    """``read_chunk`` for the ``bulk`` fast path: each batch is ``LOAD DATA`` lines plus its last key."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    sql, params = bulk.select_lines_sql(table, chunk)
    nkey = len(table.key)
    for batch in _batches(conn, table, sql, params, batch_rows):
        yield EncodedBatch(bulk.FORMAT, bulk.join_lines([r[nkey] for r in batch]), len(batch), tuple(batch[-1][:nkey]))


def _batches(conn: pymysql.connections.Connection[Any], table: TableSchema, sql: str, params: list[Any],
             batch_rows: int) -> Generator[list[Row], None, None]:
    """Rows of one query through an unbuffered cursor, ``batch_rows`` at a time."""
    cur = conn.cursor(SSCursor)
    try:
        cur.execute(sql, params)
        while True:
            batch = cur.fetchmany(batch_rows)
            if not batch:
                return
            yield list(batch)
    except pymysql.MySQLError as exc:
        raise _read_error(table, "read", exc) from exc
    finally:
        with contextlib.suppress(pymysql.MySQLError):
            cur.close()  # drains an unfinished result so the connection stays usable


# Connection lost / gone away / server shutdown / lock wait / deadlock: retrying the chunk is safe.
_TRANSIENT_ERRORS = frozenset({1053, 1205, 1213, 2006, 2013, 2055})


def _read_error(table: TableSchema, what: str, exc: pymysql.MySQLError) -> MySQLEngineError:
    number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    reason = f"could not {what} source table {table.ref}: MySQL error {number}: {text}"
    if number in (1142, 1143):  # table/column access denied
        reason += "; grant the migration user SELECT on it"
    if number in _TRANSIENT_ERRORS:
        return MySQLUnavailable(reason, detail=reason)
    return MySQLEngineError(reason, detail=reason)


__all__ = ["chunks", "read_chunk", "read_lines"]
