"""MySQL/MariaDB source: the ``SourceEngine`` contract over discovery, snapshot reads and the binlog.

Every call opens the connection it needs (discovery, chunk reads and the binlog stream run in
different threads and must not share one).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pymysql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import binlog, bulk, client, discover, snapshot
from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.engines.mysql.position import MySQLPosition, current_position
from opendrs.pipeline.model import Catalog, EncodedBatch, KeyRange, Position, Row, TableSchema, Transaction
from opendrs.pipeline.selection import Selection

_FILE_NUMBER = re.compile(r"^(.*?)(\d+)$")


def replica_server_id(job_id: str) -> int:
    """A stable server_id per task, away from the small ids DBAs give real servers."""
    return 0x40000000 + zlib.crc32(job_id.encode()) % 0x3FFFFFFF


class MySQLSource:
    def __init__(self, ep: EndpointConfig, job_id: str) -> None:
        self.ep = ep
        self.server_id = replica_server_id(job_id)

    def close(self) -> None:
        """Nothing held between calls."""

    def discover(self, selection: Selection) -> Catalog:
        conn = connect(self.ep)
        try:
            return discover.discover(conn, selection)
        finally:
            conn.close()

    def current_position(self) -> Position:
        conn = connect(self.ep)
        try:
            return current_position(conn)
        finally:
            conn.close()

    def position_from_dict(self, doc: dict[str, Any]) -> Position:
        return MySQLPosition.from_dict(doc)

    def compare_positions(self, a: Position, b: Position) -> int:
        ka, kb = _order_key(a), _order_key(b)
        return (ka > kb) - (ka < kb)

    def chunks(self, table: TableSchema, rows_per_chunk: int) -> Iterator[KeyRange]:
        conn = connect(self.ep)
        try:
            yield from snapshot.chunks(conn, table, rows_per_chunk)
        finally:
            conn.close()

    def read_chunk(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[list[Row]]:
        conn = connect(self.ep, streaming=True)
        try:
            yield from snapshot.read_chunk(conn, table, chunk, batch_rows)
        finally:
            conn.close()

    bulk_format = bulk.FORMAT

    def read_chunk_encoded(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch] | None:
        """The ``LOAD DATA`` fast path (``bulk``); None for tables with a column type it does not carry."""
        if not bulk.encodable(table):
            return None
        return self._read_lines(table, chunk, batch_rows)

    def _read_lines(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch]:
        if client.usable(table):
            yield from client.read_lines(self.ep, table, chunk, batch_rows)
            return
        conn = connect(self.ep, streaming=True)
        try:
            yield from snapshot.read_lines(conn, table, chunk, batch_rows)
        finally:
            conn.close()

    def snapshot_table(self, table: TableSchema, batch_rows: int) -> tuple[Position, Iterator[list[Row]]]:
        """One consistent read of the whole table and the exact binlog position it reflects."""
        conn = connect(self.ep, streaming=True, autocommit=False)
        try:
            position = _consistent_snapshot(conn)
        except BaseException:
            conn.close()
            raise

        def rows() -> Iterator[list[Row]]:
            try:
                yield from snapshot.read_chunk(conn, table, KeyRange(None, None, 0), batch_rows)
                conn.commit()
            finally:
                conn.close()

        return position, rows()

    def stream(self, start: Position, catalog: Catalog, stop: Callable[[], bool]) -> Iterator[Transaction]:
        if not isinstance(start, MySQLPosition):
            raise MySQLEngineError(f"not a MySQL position: {start!r}")
        return binlog.stream(self.ep, start, catalog, stop, self.server_id)


def _order_key(p: Position) -> tuple[str, int, int]:
    doc = p.to_dict()
    file, pos = str(doc.get("file", "")), int(doc.get("pos", 0))
    m = _FILE_NUMBER.match(file)
    if m is None:
        return (file, 0, pos)
    return (m.group(1), int(m.group(2)), pos)


def _consistent_snapshot(conn: pymysql.connections.Connection[Any]) -> MySQLPosition:
    """MariaDB reports the binlog position of a consistent snapshot without any lock;
    MySQL needs a brief global read lock around the snapshot start (as mysqldump does)."""
    with conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
        has_snapshot_status = bool(cur.fetchall())
        if has_snapshot_status:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            # Only file/pos are exact for the snapshot; it is used to compare, never to stream from.
            return MySQLPosition(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]), "")
        cur.execute("FLUSH TABLES WITH READ LOCK")
        try:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            position = current_position(conn)
        finally:
            cur.execute("UNLOCK TABLES")
        return position
