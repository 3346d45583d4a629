"""The PostgreSQL -> PostgreSQL full-load fast path: COPY text bytes from source to target untouched.

Why: the row path parses every COPY line into Python strings on the source side and
re-escapes them on the target side; for a same-engine pair both servers already speak the
same COPY text format, so the bytes can go through as they are. Python only counts lines and
decodes the LAST line's key columns (for the resume checkpoint). Generated columns are left
out of the SELECT (the target computes them), so the byte columns match the target's COPY
column list exactly.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Final

from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.piped import read_line_batches
from opendrs.engines.postgres.connection import SESSION_OPTIONS, tool_env, tool_error
from opendrs.engines.postgres.schema import pg_bin
from opendrs.pipeline.model import EncodedBatch, KeyRange, Row, TableSchema

FORMAT: Final = "postgresql-copy-text"
_ESCAPE: Final = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_SIMPLE: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unescape(field: str) -> str | None:
    """One COPY text field -> its value (``\\N`` is NULL)."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 8))
        if m.group(2):
            return chr(int(m.group(2), 16))
        ch = m.group(3)
        return _SIMPLE.get(ch, ch)

    return _ESCAPE.sub(one, field)


def writable_key_positions(table: TableSchema) -> tuple[int, ...]:
    """Where the key columns are among the written (non-generated) columns."""
    names = [c.name for c in table.columns if not c.generated]
    return tuple(names.index(k) for k in table.key)


def last_key(line: bytes, positions: tuple[int, ...]) -> Row:
    fields = line.decode("utf-8").split("\t")
    return tuple(unescape(fields[p]) for p in positions)


def writable_query(table: TableSchema, chunk: KeyRange) -> sql.Composed:
    """The range COPY of ``source.range_query`` without the generated columns."""
    from opendrs.engines.postgres.source import range_query

    writable = TableSchema(ref=table.ref, columns=[c for c in table.columns if not c.generated], key=table.key)
    return range_query(writable, chunk)


def read_batches(ep: EndpointConfig, dbname: str, table: TableSchema, chunk: KeyRange,
                 batch_rows: int) -> Iterator[EncodedBatch]:
    """COPY TO STDOUT bytes in batches of about ``batch_rows`` rows, read through ``psql``
    (``piped``: psycopg hands COPY data over one row at a time, which was most of the load's CPU)."""
    positions = writable_key_positions(table)
    query = writable_query(table, chunk).as_string(None)
    args = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", ep.host, "-p", str(ep.port), "-U", ep.user,
            "-d", dbname, "-c", query]
    # The CA file lives only inside the with: keep it for the whole read, so psql (which opens it
    # when it connects, some time after it starts) always finds it.
    with tool_env(ep, "opendrs-load", PGOPTIONS=SESSION_OPTIONS) as env:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        yield from read_line_batches(proc, FORMAT, batch_rows, lambda line: last_key(line, positions),
                                     lambda err: tool_error(f"reading {table.ref} from the source", err))
