"""Change capture for MySQL/MariaDB: the ROW binlog read as a stream of committed transactions.

Why: CDC must hand the pipeline exactly what the source committed, in commit order, with the
source's transaction boundaries, and a position after each commit that the target stores in
the same transaction as the changes (exactly-once effect). This module connects as a replica
(COM_BINLOG_DUMP from ``file``/``pos``) through one of two readers -- ``binlog_reader``, our
own lean parser with per-table compiled row decoders (the default), or python-mysql-replication's
``BinLogStreamReader`` (``OPENDRS_MYSQL_BINLOG_READER=library``, and the automatic fallback for
a column type the fast reader does not know) -- which both feed ``capture.TransactionAssembler``;
it groups events into transactions (GTID -> table map + row events -> XID / COMMIT), maps every row
image onto the catalog's column order BY NAME (or by position, checked, when the binlog
carries no column names: ``binlog_row_metadata`` below FULL) and converts values to exactly
what a SELECT returns (``values.py``).

What comes out, one ``Transaction`` per committed source transaction:

* row changes of catalog tables, with ``position`` = the binlog point after the commit and
  the GTID position updated, ``commit_ts`` = the commit event's timestamp;
* ``ddl``/``ddl_schema`` for a schema statement that names a selected database (the pipeline
  decides whether and how to replay it);
* an empty transaction for a commit that touched nothing selected (the position advances);
* an empty heartbeat roughly every second while the source is idle, with the current
  position and ``commit_ts`` = now (the source has confirmed nothing newer exists, so the
  measured lag is the stream's own latency rather than the age of the last write).

Memory: a transaction is buffered until its commit, but at most ``max_part_events`` row
changes or ``max_part_bytes`` of binlog row events at a time (defaults 20,000 / 16 MiB, i.e.
tens of MB of Python objects). A bigger one -- a 1,000,000-row UPDATE -- is yielded as
``TransactionPart`` pieces (``partial = True``) whose ``position`` is the previous commit's,
followed by a final ordinary ``Transaction`` with the commit position. The position thus
only advances at the commit: after a crash mid-way the whole source transaction is replayed,
which the target's idempotent apply (upsert/delete by full image) makes harmless; the cost is
that a target reader may briefly see part of that transaction.

Speed: the library reader runs with ``freeze_schema`` (a table map is parsed once per table
id, not once per transaction); both readers drop their table map cache at every binlog file (a
restarted server reuses table ids) and after every schema statement. Measured on MariaDB 10.11,
one loaded core, sysbench-like rows: the library reader reaches ~7,000 single-row transactions/s
and ~18,000 rows/s of a big UPDATE (nearly all of it in the library's pure-Python event and
row parsing); the fast reader ~60,000 and ~38,000.

Failures raise ``BinlogError`` subclasses whose message tells a DBA what to do: a lost
connection / restarting source is ``SourceConnectionLost`` (``Transient``: reconnect from the
last committed position), a purged start file is ``BinlogPurged`` (a full load is needed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, Final

import pymysql  # type: ignore[import-untyped,unused-ignore]
from pymysqlreplication import BinLogStreamReader  # type: ignore[import-untyped,unused-ignore]
from pymysqlreplication.event import (  # type: ignore[import-untyped,unused-ignore]
    FormatDescriptionEvent,
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import (  # type: ignore[import-untyped,unused-ignore]
    DeleteRowsEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import binlog_reader
from opendrs.engines.mysql.capture import (
    HEARTBEAT_S,
    BinlogPurged,
    SourceConnectionLost,
    TransactionAssembler,
    connection_settings,
    ended,
    translate_error,
)
from opendrs.engines.mysql.position import (
    BinlogError,
    MySQLPosition,
    merge_mariadb_gtid,
    merge_mysql_gtid,
    normalize_gtid_set,
)
from opendrs.pipeline.model import Catalog, Transaction

log = logging.getLogger(__name__)

MAX_PART_EVENTS: Final = 20_000
MAX_PART_BYTES: Final = 16 << 20


def _run(reader: Any, cap: TransactionAssembler, stop: Callable[[], bool]) -> Iterator[Transaction]:
    """Dispatch the library's events to ``cap``. The reader runs with ``freeze_schema`` (a table
    map is parsed once per table id, which saves a third of the decoding time), so its table map
    cache is dropped wherever a table id could start meaning something else: at every binlog
    file (a restarted server reuses ids) and after every schema statement."""
    for ev in reader:
        if stop():
            return
        kind = type(ev)
        if kind in (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent):
            cap.lib_rows(ev)
            part = cap.part_if_full(float(ev.timestamp))
            if part is not None:
                yield part
        elif kind is XidEvent:
            yield cap.commit(ev.packet.log_pos, float(ev.timestamp))
        elif kind is MariadbGtidEvent:
            cap.begin(ev.gtid, merge_mariadb_gtid, standalone=bool(ev.flags & 1))
        elif kind is GtidEvent:
            cap.begin(ev.gtid, merge_mysql_gtid, standalone=True)  # MySQL: a BEGIN query opens DML groups
        elif kind is QueryEvent:
            schema = ev.schema.decode("utf-8", "replace") if isinstance(ev.schema, bytes) else str(ev.schema or "")
            txn = cap.query(schema, ev.query, ev.packet.log_pos, float(ev.timestamp))
            if cap.schema_changed:
                reader.table_map.clear()
                cap.schema_changed = False
            if txn is not None:
                yield txn
                if txn.ddl is not None:
                    cap.refresh_catalog()
        elif kind is RotateEvent:
            cap.rotate(ev.next_binlog, ev.position)
        elif kind is FormatDescriptionEvent:  # a new binlog file, maybe of a restarted server
            reader.table_map.clear()
            cap.new_file()
        elif kind is HeartbeatLogEvent:
            beat = cap.heartbeat()
            if beat is not None:
                yield beat
        elif kind is XAPrepareEvent:
            txn = cap.xa_prepare(ev.one_phase, ev.packet.log_pos, float(ev.timestamp))
            if txn is not None:
                yield txn
    if not stop():
        raise ended(cap)


class _Connector:
    """``pymysql.connect`` for the reader that fails instead of silently reconnecting the stream.

    The library reconnects a dropped stream by itself from its own idea of the position, which
    can be in the middle of a transaction; we want the pipeline to resume from its last
    committed position instead, so a second stream connection raises ``SourceConnectionLost``.
    """

    def __init__(self, ep: EndpointConfig) -> None:
        self.ep = ep
        self.stream_connections = 0

    def __call__(self, **kwargs: Any) -> Any:
        if "db" in kwargs:  # the library's control connection, named the way PyMySQL deprecated
            kwargs["database"] = kwargs.pop("db")
        if kwargs.get("database") != "information_schema":  # the stream connection
            self.stream_connections += 1
            if self.stream_connections > 1:
                raise SourceConnectionLost(f"lost the binlog connection to the source at {self.ep.where}; "
                                           "it will be re-established from the last committed position")
        return pymysql.connect(**kwargs)


def _checked_start(ep: EndpointConfig, start: MySQLPosition) -> MySQLPosition:
    """Fail early and clearly if ``start`` is gone; fill in its GTID position on MariaDB."""
    conn = pymysql.connect(**connection_settings(ep, read_timeout=300.0))  # BINLOG_GTID_POS scans the file
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            sizes = {str(r[0]): int(r[1]) for r in cur.fetchall()}
            if start.file not in sizes:
                raise BinlogPurged(f"binlog file {start.file} no longer exists on the source; the task must be "
                                   "restarted with a full load")
            if start.pos > sizes[start.file]:
                raise BinlogError(f"binlog position {start} is past the end of {start.file} "
                                  f"({sizes[start.file]} bytes) on the source; check the start position")
            if start.gtid_set:
                return start
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            if row is None or "mariadb" not in str(row[0]).lower():
                return start
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (start.file, start.pos))
            row = cur.fetchone()
            gtid = normalize_gtid_set(str(row[0])) if row and row[0] else ""
            return MySQLPosition(start.file, start.pos, gtid)
    finally:
        conn.close()


_READER_ENV: Final = "OPENDRS_MYSQL_BINLOG_READER"
_fallback_logged: set[str] = set()


def _fast_reader_fits(catalog: Catalog) -> bool:
    """The hand-written reader (``binlog_reader``) unless the environment asks for the library or a
    selected column has a type it cannot decode; the reason for a fallback is logged once."""
    choice = os.environ.get(_READER_ENV, "fast").strip().lower()
    if choice == "library":
        return False
    if choice not in ("", "fast"):
        raise BinlogError(f"{_READER_ENV}={choice!r} is not a binlog reader; use 'fast' (the default) or 'library'")
    why = binlog_reader.unsupported(catalog)
    if why is None:
        return True
    if why not in _fallback_logged:
        _fallback_logged.add(why)
        log.warning("binlog: using python-mysql-replication instead of the fast reader: %s", why)
    return False


def stream(ep: EndpointConfig, start: MySQLPosition, catalog: Catalog, stop: Callable[[], bool], server_id: int,
           *, max_part_events: int = MAX_PART_EVENTS, max_part_bytes: int = MAX_PART_BYTES) -> Iterator[Transaction]:
    """Committed transactions from ``start`` on, in commit order, until ``stop()`` returns true.

    ``server_id`` must be unique among the source's replicas (a second reader with the same id
    makes the source drop the first). ``stop()`` is checked after every event and at least
    once per ``HEARTBEAT_S`` while the source is idle. See the module docstring for what is
    yielded and how big transactions are bounded.
    """
    if stop():
        return
    try:
        start = _checked_start(ep, start)
    except pymysql.MySQLError as exc:
        raise translate_error(exc, ep, start) from exc
    cap = TransactionAssembler(catalog, start, max_part_events, max_part_bytes)
    if _fast_reader_fits(catalog):
        yield from binlog_reader.read(ep, cap, stop, server_id)
        return
    reader = BinLogStreamReader(
        connection_settings=connection_settings(ep),
        server_id=server_id,
        resume_stream=True,
        log_file=start.file,
        log_pos=start.pos,
        blocking=True,
        slave_heartbeat=HEARTBEAT_S,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent, MariadbGtidEvent,
                     GtidEvent, RotateEvent, HeartbeatLogEvent, XAPrepareEvent, FormatDescriptionEvent],
        only_schemas=sorted(cap.databases),
        pymysql_wrapper=_Connector(ep),
        freeze_schema=True,
        enable_logging=False,
    )
    try:
        yield from _run(reader, cap, stop)
    except pymysql.MySQLError as exc:
        raise translate_error(exc, ep, cap.committed) from exc
    finally:
        reader.close()
