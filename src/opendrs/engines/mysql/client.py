"""Full-load reads through the ``mariadb``/``mysql`` command-line client.

Why: with the ``LOAD DATA`` fast path (``bulk``) each source row is already one line, but
PyMySQL still parses every row packet in Python, which the bench profile showed as most of
the Python CPU of a full load (on a 2-core box that CPU is taken from the two servers). The
C client in ``--batch --raw --quick`` mode prints each one-column row as it is, followed by a
newline: exactly the bytes ``LOAD DATA`` reads, streamed with bounded memory (``--quick``
fetches row by row). Python cuts large pipe reads into batches (``engines.piped``).

Used only where the batch's resume key can be read back from its last line losslessly
(integer, DECIMAL and character keys); otherwise, or when no client binary is installed,
the PyMySQL path stays in use.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Final

import pymysql.converters as pmc

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import bulk
from opendrs.engines.mysql.connection import APPLY_SQL_MODE, UTC_OFFSET, MySQLEngineError, MySQLUnavailable
from opendrs.engines.mysql.dialect import FIXED_POINT_TYPES, INTEGER_TYPES
from opendrs.engines.piped import read_line_batches
from opendrs.pipeline.model import Column, EncodedBatch, KeyRange, Row, TableSchema

# Connection lost / refused / gone away / server shutdown / lock wait / deadlock: retry the range.
_TRANSIENT: Final = frozenset({1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055})
_ERROR: Final = re.compile(r"ERROR (\d+)")
_KEY_TEXT_TYPES: Final = frozenset({"char", "varchar"})
_UNESCAPE: Final = re.compile(rb"\\(.)", re.DOTALL)
_UNESCAPED: Final = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"0": b"\0", b"N": b"\\N"}


def client_binary() -> str | None:
    """The MariaDB (or MySQL) client on PATH; ``OPENDRS_MYSQL_CLIENT=off`` turns the client path off."""
    if os.environ.get("OPENDRS_MYSQL_CLIENT", "").lower() in ("0", "off", "false", "no"):
        return None
    return shutil.which("mariadb") or shutil.which("mysql")


def _key_parser(col: Column) -> Callable[[bytes], Any] | None:
    if col.nullable or col.generated:
        return None
    if col.data_type in INTEGER_TYPES:
        return int
    if col.data_type in FIXED_POINT_TYPES:
        return lambda raw: Decimal(raw.decode("ascii"))
    if col.data_type in _KEY_TEXT_TYPES and col.charset != "binary":
        return lambda raw: _UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), raw).decode("utf-8")
    return None


def key_reader(table: TableSchema) -> Callable[[bytes], Row] | None:
    """Decodes a ``bulk`` line's key fields into the values ``read_chunk`` returns; None if not lossless."""
    names = [c.name for c in table.writable]
    parsers: list[tuple[int, Callable[[bytes], Any]]] = []
    for name in table.key:
        if name not in names:
            return None
        parse = _key_parser(table.writable[names.index(name)])
        if parse is None:
            return None
        parsers.append((names.index(name), parse))

    def read(line: bytes) -> Row:
        fields = line.split(b"\t")
        return tuple(parse(fields[pos]) for pos, parse in parsers)

    return read


def usable(table: TableSchema) -> bool:
    return client_binary() is not None and bulk.encodable(table) and key_reader(table) is not None


def _literal(value: Any) -> str:
    """A range bound as an SQL literal (the client takes no parameters); PyMySQL's escaping for utf8mb4."""
    text: str = pmc.escape_item(value, "utf8mb4")
    return text


def select_sql(table: TableSchema, chunk: KeyRange) -> str:
    """``bulk.select_lines_sql`` without the separate key columns, with the bounds inlined."""
    sql, params = bulk.select_lines_sql(table, chunk, with_key=False)
    return sql % tuple(_literal(p) for p in params) if params else sql.replace("%%", "%")


@contextlib.contextmanager
def _command(ep: EndpointConfig, sql: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Arguments and environment: the password travels in MYSQL_PWD and a CA in a private file,
    never on the command line (where ``ps`` would show it)."""
    binary = client_binary()
    if binary is None:
        raise MySQLEngineError("no mariadb/mysql command-line client is installed on the OpenDRS host")
    init = (f"SET SESSION time_zone='{UTC_OFFSET}', sql_mode='{APPLY_SQL_MODE}', "
            "net_write_timeout=3600")  # a throttled or slow target must not make the source drop us
    args = [binary, "--no-defaults", "--protocol=TCP", f"--host={ep.host}", f"--port={ep.port}", f"--user={ep.user}",
            "--batch", "--raw", "--skip-column-names", "--quick", "--default-character-set=utf8mb4",
            "--max-allowed-packet=1G", f"--connect-timeout={max(2, int(ep.connect_timeout))}",
            f"--init-command={init}"]
    env = {**os.environ, "MYSQL_PWD": ep.password}
    with tempfile.TemporaryDirectory(prefix="opendrs-client-") as private:  # mode 0700
        if ep.ssl_link:
            args.append("--ssl")
            if ep.ssl_ca_pem:
                ca = os.path.join(private, "ca.pem")
                with open(ca, "w", encoding="utf-8") as fh:
                    fh.write(ep.ssl_ca_pem)
                args.append(f"--ssl-ca={ca}")
        args += ["-e", sql]
        yield args, env


def _failure(table: TableSchema, stderr: str) -> MySQLEngineError:
    # The client echoes the whole statement before its error; the ERROR line is what matters.
    lines = [ln for ln in stderr.splitlines() if ln.startswith("ERROR")] or stderr.splitlines()[-1:] or [stderr]
    m = _ERROR.search(lines[0])
    number = int(m.group(1)) if m else None
    reason = f"could not read source table {table.ref}: {' '.join(lines)}"
    if number in (1142, 1143):
        reason += "; grant the migration user SELECT on it"
    if number in _TRANSIENT or number is None:  # no error number: the client died or was cut off
        return MySQLUnavailable(reason, detail=reason)
    return MySQLEngineError(reason, detail=reason)


def read_lines(ep: EndpointConfig, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch]:
    """``snapshot.read_lines`` through the command-line client (see the module docstring)."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    key_of = key_reader(table)
    if key_of is None:
        raise ValueError(f"{table.ref}: its key cannot be read back from a line")
    with _command(ep, select_sql(table, chunk)) as (args, env):
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        yield from read_line_batches(proc, bulk.FORMAT, batch_rows, key_of, lambda err: _failure(table, err))


__all__ = ["client_binary", "key_reader", "read_lines", "select_sql", "usable"]
