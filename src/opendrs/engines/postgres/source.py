"""PostgreSQL source: the ``SourceEngine`` contract over discovery, COPY reads and logical replication.

Values are read as PostgreSQL text (``COPY ... TO STDOUT`` text format, parsed by psycopg
without type conversion): every value is ``str | None``, so numeric NaN, infinite dates,
arrays, ranges or bytea come back exactly as the server prints them and the target parses
the same text. Every call opens the connection it needs (discovery, chunk reads and the
replication stream run in different threads and must not share one).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres import bulk, discover
from opendrs.engines.postgres.connection import PgEngineError, close_quietly, connect, dbname_of
from opendrs.engines.postgres.position import PgPosition
from opendrs.engines.postgres.stream import PgReplication
from opendrs.pipeline.model import (
    Catalog,
    EncodedBatch,
    KeyRange,
    Position,
    Row,
    TableRef,
    TableSchema,
    Transaction,
)
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.postgres.source")
DISCOVER_TRIES = 3


def table_ident(ref: TableRef) -> sql.Composable:
    return sql.Identifier(ref.schema, ref.name)


def select_list(table: TableSchema) -> sql.Composable:
    """Every column in catalog order; generated ones as NULL (the target computes them)."""
    return sql.SQL(", ").join(sql.SQL("NULL") if c.generated else sql.Identifier(c.name) for c in table.columns)


def key_list(table: TableSchema) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(k) for k in table.key)


def key_literal(table: TableSchema, key: Row) -> sql.Composable:
    """``(v1::type1, v2::type2)``: a key read as text, cast back to the column types for comparison."""
    types = [table.columns[i].column_type for i in table.key_indexes]
    return sql.SQL("({})").format(sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(t)) for v, t in zip(key, types, strict=True)))


def range_query(table: TableSchema, chunk: KeyRange) -> sql.Composed:
    """``COPY (SELECT .. WHERE (k) > lower AND (k) <= upper ORDER BY k) TO STDOUT``; no key: the whole table."""
    where: list[sql.Composable] = []
    if table.key:
        keys = key_list(table)
        if chunk.lower is not None:
            where.append(sql.SQL("({}) > {}").format(keys, key_literal(table, chunk.lower)))
        if chunk.upper is not None:
            where.append(sql.SQL("({}) <= {}").format(keys, key_literal(table, chunk.upper)))
    query = sql.SQL("SELECT {} FROM {}").format(select_list(table), table_ident(table.ref))
    if where:
        query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(where))
    if table.key:
        query = sql.SQL("{} ORDER BY {}").format(query, key_list(table))
    return sql.SQL("COPY ({}) TO STDOUT").format(query)


def copy_rows(conn: psycopg.Connection[Any], query: sql.Composed, batch_rows: int) -> Iterator[list[Row]]:
    """Stream a COPY TO in batches: memory holds one batch, the server waits on the socket meanwhile."""
    with conn.cursor() as cur, cur.copy(query) as copy:
        batch: list[Row] = []
        try:
            for row in copy.rows():
                batch.append(row)
                if len(batch) >= batch_rows:
                    yield batch
                    batch = []
        except GeneratorExit:
            conn.cancel_safe()  # abandoned half-way: stop the server instead of draining the table
            raise
        if batch:
            yield batch


class PostgresSource:
    """One task's source side; ``slot``/``publication`` name its replication objects."""

    def __init__(self, ep: EndpointConfig, slot: str, publication: str,
                 before_release: Callable[[], None] | None = None, *, ddl_capture: bool = True) -> None:
        """``ddl_capture``: capture DDL with an event trigger (see ``ddl``); the task's 4.3.2 ``ddl_trans``."""
        self.ep = ep
        self.ddl_capture = ddl_capture
        self.dbname = dbname_of(ep)
        self.slot = slot
        self.publication = publication
        self.before_release = before_release
        self._replication: PgReplication | None = None

    @property
    def replication(self) -> PgReplication:
        if self._replication is None:
            self._replication = PgReplication(self.ep, self.dbname, self.slot, self.publication,
                                              ddl_capture=self.ddl_capture)
        return self._replication

    def close(self) -> None:
        if self._replication is not None:
            self._replication.close()
            self._replication = None

    # --- catalog --------------------------------------------------------------------------------
    def discover(self, selection: Selection) -> Catalog:
        """The selected tables and objects. Read again (up to ``DISCOVER_TRIES`` times) when a table vanished
        between discovery's queries: with DDL capture it runs right after a DDL, while the source may be
        running the next one (a table just dropped is missing when it is counted)."""
        for attempt in range(1, DISCOVER_TRIES + 1):
            conn = connect(self.ep, application_name="opendrs-discover")
            try:
                return discover.discover(conn, selection, self.dbname)
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedObject) as exc:
                if attempt == DISCOVER_TRIES:
                    raise
                log.info("the source's structure changed while it was read (%s); reading it again", exc)
            finally:
                close_quietly(conn)
        raise AssertionError("unreachable")

    def structure_inputs(self, catalog: Catalog, selection: Selection) -> tuple[list[TableRef], list[str]]:
        """(relations pg_dump must leave out, extensions the dump must create) for this selection."""
        conn = connect(self.ep, application_name="opendrs-discover")
        try:
            sel = discover.effective_selection(selection, self.dbname, discover.schemas(conn))
            excluded = discover.excluded_relations(conn, [d.schema for d in catalog.databases], sel)
            rows = conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY oid").fetchall()
            return excluded, [str(r[0]) for r in rows]
        finally:
            close_quietly(conn)

    def sequence_values(self, schemas: Sequence[str]) -> list[tuple[str, str, int, bool]]:
        from opendrs.engines.postgres.schema import sequence_values

        conn = connect(self.ep, application_name="opendrs-sequences")
        try:
            return sequence_values(conn, schemas)
        finally:
            close_quietly(conn)

    # --- positions ------------------------------------------------------------------------------
    def current_position(self) -> Position:
        return self.replication.current_wal_lsn()

    def position_from_dict(self, doc: dict[str, Any]) -> Position:
        return PgPosition.from_dict(doc)

    def compare_positions(self, a: Position, b: Position) -> int:
        la, lb = _lsn(a), _lsn(b)
        return (la > lb) - (la < lb)

    # --- full load ------------------------------------------------------------------------------
    def chunks(self, table: TableSchema, rows_per_chunk: int) -> Iterator[KeyRange]:
        """Key ranges of about ``rows_per_chunk`` rows, cut at quantiles of a TABLESAMPLE of the keys.

        Why a sample: exact boundaries need a pass over the whole key index (minutes on a big
        table) before the first row moves; the ranges only have to be roughly even. A sample
        too small to cut falls back to every n-th key of one ordered pass.
        """
        if not table.key:
            yield KeyRange(None, None, 0)
            return
        wanted = max(1, -(-max(table.rows_estimate, 1) // max(1, rows_per_chunk)))
        conn = connect(self.ep, application_name="opendrs-plan")
        try:
            keys = key_list(table)
            # Aliased: with the output column named like the key, ORDER BY "id" would sort the TEXT
            # output (so '1000' < '999') and the ranges would overlap.
            texts = sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(
                sql.Identifier(k), sql.Identifier(f"opendrs_k{i}")) for i, k in enumerate(table.key))
            percent = min(100.0, max(0.001, 100.0 * wanted * 64 / max(table.rows_estimate, 1)))
            # BERNOULLI samples rows (SYSTEM samples whole pages, which gave very uneven ranges).
            sampled = sql.SQL("SELECT {texts} FROM {table} TABLESAMPLE BERNOULLI ({p}) ORDER BY {keys}").format(
                texts=texts, keys=keys, table=table_ident(table.ref), p=sql.Literal(percent))
            sample = conn.execute(sampled).fetchall()
            if len(sample) >= wanted * 8:
                step = len(sample) / wanted
                picked = [tuple(sample[int(i * step)]) for i in range(1, wanted)]
                bounds = [b for i, b in enumerate(picked) if i == 0 or b != picked[i - 1]]
            else:
                query = sql.SQL("SELECT {texts} FROM (SELECT {keys}, row_number() OVER (ORDER BY {keys}) AS opendrs_rn "
                                "FROM {table}) s WHERE opendrs_rn % {n} = 0 ORDER BY opendrs_rn").format(
                    texts=texts, keys=keys, table=table_ident(table.ref), n=sql.Literal(max(1, rows_per_chunk)))
                bounds = [tuple(r) for r in conn.execute(query).fetchall()]
        finally:
            close_quietly(conn)
        lower: Row | None = None
        for index, upper in enumerate(bounds):
            yield KeyRange(lower, upper, index)
            lower = upper
        yield KeyRange(lower, None, len(bounds))

    def read_chunk(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[list[Row]]:
        conn = connect(self.ep, application_name="opendrs-load")
        try:
            yield from copy_rows(conn, range_query(table, chunk), batch_rows)
        finally:
            close_quietly(conn)

    bulk_format = bulk.FORMAT

    def read_chunk_encoded(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch] | None:
        """COPY text bytes as the server wrote them (``bulk``): a PostgreSQL target loads them untouched."""
        if not table.key:
            return None
        return self._read_encoded(table, chunk, batch_rows)

    def _read_encoded(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch]:
        yield from bulk.read_batches(self.ep, self.dbname, table, chunk, batch_rows)

    def snapshot_table(self, table: TableSchema, batch_rows: int) -> tuple[Position, Iterator[list[Row]]]:
        """The table read in the snapshot a temporary slot exported, and that slot's consistent LSN.

        The snapshot is imported (``SET TRANSACTION SNAPSHOT``) while the slot's connection
        still holds it; after that the importing transaction keeps it on its own, so the
        temporary slot is dropped before the rows are read.
        """
        conn = connect(self.ep, autocommit=False, application_name="opendrs-load")
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with self.replication.snapshot_slot() as (position, snapshot):
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        except BaseException:
            close_quietly(conn)
            raise

        def rows() -> Iterator[list[Row]]:
            try:
                yield from copy_rows(conn, range_query(table, KeyRange(None, None, 0)), batch_rows)
                conn.rollback()
            finally:
                close_quietly(conn)

        return position, rows()

    # --- CDC ------------------------------------------------------------------------------------
    def stream(self, start: Position, catalog: Catalog, stop: Callable[[], bool]) -> Iterator[Transaction]:
        if not isinstance(start, PgPosition):
            raise PgEngineError(f"not a PostgreSQL position: {start!r}")
        return self.replication.stream(start, catalog, stop)

    def acknowledge(self, position: Position) -> None:
        """The target committed everything up to ``position``: the slot may release that WAL."""
        if isinstance(position, PgPosition):
            self.replication.acknowledge(position)

    def release(self) -> None:
        """Task stopped for good (cut-over): last sequence values to the target, then drop the slot, the
        publication and the DDL capture (no WAL left pinned, no trigger left behind). A failed sequence
        copy is logged and never keeps the slot."""
        try:
            if self.before_release is not None:
                try:
                    self.before_release()
                except Exception as exc:  # noqa: BLE001 - the slot must go regardless
                    log.warning("copying sequence values to the target at cut-over failed: %s", exc)
            self.replication.drop()
        finally:
            with contextlib.suppress(Exception):
                self.close()


def _lsn(p: Position) -> int:
    if isinstance(p, PgPosition):
        return p.lsn
    return PgPosition.from_dict(p.to_dict()).lsn
