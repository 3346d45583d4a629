"""What both binlog readers share: the transaction assembler, column mapping, connection settings, errors.

Why a module of its own: MySQL/MariaDB capture has two readers of the same ROW binlog --
``binlog`` (python-mysql-replication's ``BinLogStreamReader``) and ``binlog_reader`` (our lean
packet parser) -- and both must yield identical transactions. So everything about transactions
(grouping, parts, positions, GTIDs, DDL, heartbeats: ``TransactionAssembler``), mapping binlog
columns onto the catalog, the stream connection's settings and the translation of server errors
live here, and each reader only turns its events into the assembler's calls. This module
imports neither reader.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pymysql  # type: ignore[import-untyped,unused-ignore]
from pymysqlreplication.row_event import (  # type: ignore[import-untyped,unused-ignore]
    UpdateRowsEvent,
    WriteRowsEvent,
)

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.config import connect_args, ssl_context
from opendrs.engines.mysql.position import (
    BinlogError,
    MySQLPosition,
    merge_mariadb_gtid,
    normalize_gtid_set,
)
from opendrs.engines.mysql.values import ColumnDecoder, Converter, column_decoder
from opendrs.errors import Transient
from opendrs.pipeline.model import Catalog, ChangeEvent, Op, Row, TableSchema, Transaction

# Capture is one feature to operators, whichever module logs: keep the name they filter on.
log = logging.getLogger("opendrs.engines.mysql.binlog")

HEARTBEAT_S: Final = 1.0  # the source sends a heartbeat after this much idle time; stop() is seen by then
READ_TIMEOUT_S: Final = 10.0  # no byte (not even a heartbeat) for this long: the connection is dead
# Lost/broken connection, server shutting down, connection killed: retry from the checkpoint.
_TRANSIENT_ERRNOS: Final = frozenset({1053, 1077, 1152, 1158, 1159, 1160, 1161, 1317, 1927, 2002, 2003, 2006,
                                      2013, 2055})
_PURGED_HINTS: Final = ("could not find first log file", "could not find log file", "no such file",
                        "binary log is not open", "errcode: 2")
_NOT_DDL: Final = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "XA"})
_DML: Final = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD"})


class BinlogPurged(BinlogError):
    pass


class SourceConnectionLost(BinlogError, Transient):
    pass


class BinlogSchemaMismatch(BinlogError):
    pass


@dataclass
class TransactionPart(Transaction):
    """A piece of a source transaction too big to buffer; more pieces and then the commit follow.

    ``position`` is the last commit before this transaction: storing it with the piece's
    changes does not move the checkpoint past an uncommitted transaction.
    """

    partial: bool = True


# --- mapping binlog columns onto the catalog --------------------------------------------------


@dataclass
class _TablePlan:
    """How one table's binlog row images become catalog-ordered, SELECT-equal tuples."""

    table: TableSchema
    patches: list[dict[str, Any]]  # per binlog column: attributes to set on the library's column
    pairs: list[tuple[str | None, Converter | None]]  # per catalog column: binlog name, converter
    identity: bool  # same columns, same order, no conversion: the image's values are the row
    full_image: bytes  # the columns-present bitmap of an image with every column

    def project(self, values: dict[str | None, Any]) -> Row:
        if self.identity:
            return tuple(values.values())
        return tuple([v if (v := values.get(n)) is None or c is None else c(v) for n, c in self.pairs])


def _mismatch(table: TableSchema, why: str) -> BinlogSchemaMismatch:
    return BinlogSchemaMismatch(
        f"table {table.ref} in the binlog does not match its structure in the task ({why}); the table was "
        "probably altered after the task read its structure: restart the task so it reads the structure again"
    )


@dataclass(frozen=True)
class BinlogColumn:
    """A table map column as the binlog describes it (before we patch the library's copy)."""

    type: int
    name: str | None
    meta: dict[str, Any]


def map_columns(table: TableSchema, cols: Sequence[BinlogColumn]) -> tuple[list[int], list[ColumnDecoder]]:
    """Per binlog column: the catalog index it holds and its decoder (shared by both readers).

    By name when the binlog carries names (``binlog_row_metadata=FULL``), else by position,
    checked. Raises ``BinlogSchemaMismatch`` when the two cannot describe the same table.
    """
    catalog = table.columns
    names: list[str | None] = [c.name for c in cols]
    if all(names):  # binlog_row_metadata=FULL: map by name
        index = {c.name.lower(): j for j, c in enumerate(catalog)}
        mapping: list[int] = []
        for name in names:
            j = index.get(str(name).lower())
            if j is None:
                raise _mismatch(table, f"column {name!r} is in the binlog but not in the task's catalog")
            mapping.append(j)
        missing = [catalog[j].name for j in set(range(len(catalog))) - set(mapping) if not catalog[j].generated]
        if missing:
            raise _mismatch(table, f"columns {missing} are not in the binlog")
    else:  # no names: the binlog's column order must be the catalog's
        if len(cols) != len(catalog):
            raise _mismatch(table, f"{len(cols)} columns in the binlog, {len(catalog)} in the catalog; set "
                                   "binlog_row_metadata=FULL on the source so columns are matched by name")
        mapping = list(range(len(catalog)))
    decoders: list[ColumnDecoder] = []
    for col, j in zip(cols, mapping, strict=True):
        try:
            decoders.append(column_decoder(catalog[j], col.type, col.meta))
        except ValueError as exc:
            raise _mismatch(table, str(exc)) from exc
    return mapping, decoders


def full_image(n: int) -> bytes:
    """The columns-present bitmap of a row image with all ``n`` columns."""
    return bytes([0xFF] * (n // 8) + ([(1 << (n % 8)) - 1] if n % 8 else []))


def check_image(table: TableSchema, names: Sequence[str], bitmaps: Sequence[bytes]) -> None:
    """A row image without some columns (binlog_row_image MINIMAL/NOBLOB) loses data unless they are generated.

    ``names`` are the catalog names of the binlog's columns, in binlog order.
    """
    generated = {c.name.lower() for c in table.columns if c.generated}
    for bitmap in bitmaps:
        absent = [name for i, name in enumerate(names) if not bitmap[i // 8] >> (i % 8) & 1]
        if any(str(name).lower() not in generated for name in absent):
            raise BinlogError(
                f"the binlog row image of {table.ref} lacks columns {absent}: the source's binlog_row_image "
                "is not FULL; set binlog_row_image=FULL (globally) and restart the task with a full load"
            )


def _build_plan(table: TableSchema, lib_cols: Sequence[BinlogColumn]) -> _TablePlan:
    catalog = table.columns
    mapping, decoders = map_columns(table, lib_cols)
    patches: list[dict[str, Any]] = []
    converters: dict[int, Converter | None] = {}
    for decoder, j in zip(decoders, mapping, strict=True):
        patches.append({**decoder.patch, "name": catalog[j].name})
        converters[j] = decoder.convert
    pairs = [(c.name if j in converters else None, converters.get(j)) for j, c in enumerate(catalog)]
    identity = mapping == list(range(len(catalog))) and all(conv is None for conv in converters.values())
    return _TablePlan(table, patches, pairs, identity, full_image(len(lib_cols)))


# --- the transaction assembler ----------------------------------------------------------------


class TransactionAssembler:
    """State between events: the open transaction, the last commit position, the GTID position."""

    def __init__(self, catalog: Catalog, start: MySQLPosition, max_events: int, max_bytes: int) -> None:
        self.catalog = catalog
        self.max_events, self.max_bytes = max_events, max_bytes
        self.file = start.file
        self.gtid_set = start.gtid_set
        self.committed = start
        self.pending_gtid: str | None = None
        self.gtid_merge: Callable[[str, str], str] = merge_mariadb_gtid
        self.in_group = False
        self.schema_changed = False
        self.parts_yielded = False
        self.events: list[ChangeEvent] = []
        self.bytes = 0
        self.plans: dict[tuple[Any, ...], _TablePlan] = {}
        self.refresh_catalog()

    def refresh_catalog(self) -> None:
        """Re-read the catalog (the pipeline may have updated it for a DDL it just applied)."""
        self.tables = {(t.ref.schema, t.ref.name): t for t in self.catalog.tables}
        self.databases = {d.name for d in self.catalog.databases} | {t.ref.schema for t in self.catalog.tables}
        self.databases_lower = [d.lower() for d in self.databases]
        self.plans.clear()

    # -- groups --

    def begin(self, gtid: str | None, merge: Callable[[str, str], str], standalone: bool) -> None:
        if self.in_group or self.events:
            self.discard("a new transaction started before the previous one committed")
        self.pending_gtid, self.gtid_merge, self.in_group = gtid, merge, not standalone

    def discard(self, why: str) -> None:
        """Drop an incomplete group (the tail of a binlog cut short by a source crash)."""
        if self.parts_yielded:
            raise BinlogError(
                f"a large source transaction was cut short in the binlog ({why}) after part of it had been "
                "replicated; the source rolled it back, so the target may now hold rows that never committed: "
                "restart the task with a full load"
            )
        if self.events:
            log.warning("binlog: discarding %d changes of an incomplete transaction (%s)", len(self.events), why)
        self.events, self.bytes, self.in_group = [], 0, False

    def commit(self, next_pos: int, ts: float, ddl: str | None = None, ddl_schema: str | None = None) -> Transaction:
        if self.pending_gtid is not None:
            try:
                self.gtid_set = self.gtid_merge(self.gtid_set, self.pending_gtid)
            except ValueError:  # e.g. a position of the other flavour: restart the set from this GTID
                self.gtid_set = normalize_gtid_set(self.pending_gtid)
            self.pending_gtid = None
        self.committed = MySQLPosition(self.file, next_pos, self.gtid_set)
        txn = Transaction(self.events, self.committed, ts, ddl, ddl_schema, self.bytes + len(ddl or ""))
        self.events, self.bytes, self.in_group, self.parts_yielded = [], 0, False, False
        return txn

    def part_if_full(self, ts: float) -> TransactionPart | None:
        if len(self.events) < self.max_events and self.bytes < self.max_bytes:
            return None
        part = TransactionPart(self.events, self.committed, ts, bytes=self.bytes)
        self.events, self.bytes, self.parts_yielded = [], 0, True
        return part

    # -- events (plain values: both readers feed these) --

    def rotate(self, next_file: str, pos: int) -> None:
        self.file = next_file
        if not self.in_group and not self.events:  # resume from the new file, not an old (maybe purged) one
            self.committed = MySQLPosition(self.file, pos, self.gtid_set)

    def new_file(self) -> None:
        """A FORMAT_DESCRIPTION event: a new binlog file, maybe written by a restarted server."""
        if self.in_group or self.events:
            self.discard("the binlog file ended inside it; the source probably crashed while writing it")

    def lib_rows(self, ev: Any) -> None:
        """A row event as python-mysql-replication decoded it (the library reader)."""
        table = self.tables.get((ev.schema, ev.table))
        if table is None:
            return
        plan = self._plan(ev, table)
        if ev.columns_present_bitmap != plan.full_image or getattr(ev, "columns_present_bitmap2", plan.full_image) \
                != plan.full_image:
            check_image(table, [str(c.name) for c in ev.columns],
                        [ev.columns_present_bitmap, getattr(ev, "columns_present_bitmap2", ev.columns_present_bitmap)])
        project, ref, out = plan.project, table.ref, self.events
        if isinstance(ev, WriteRowsEvent):
            out.extend(ChangeEvent(Op.INSERT, ref, None, project(r["values"])) for r in ev.rows)
        elif isinstance(ev, UpdateRowsEvent):
            out.extend(ChangeEvent(Op.UPDATE, ref, project(r["before_values"]), project(r["after_values"]))
                       for r in ev.rows)
        else:
            out.extend(ChangeEvent(Op.DELETE, ref, project(r["values"]), None) for r in ev.rows)
        self.bytes += ev.event_size

    def _plan(self, ev: Any, table: TableSchema) -> _TablePlan:
        lib_cols = ev.columns  # the library's description of the table map; we patch it in place
        first = lib_cols[0]
        plan: _TablePlan | None = getattr(first, "_opendrs_plan", None)
        if plan is not None and plan.table is table:
            return plan
        originals: list[BinlogColumn] | None = getattr(first, "_opendrs_originals", None)
        if originals is None:  # before any patch: what the binlog itself says
            originals = [BinlogColumn(c.type, c.name, dict(c.__dict__)) for c in lib_cols]
            first._opendrs_originals = originals
        key = (ev.schema, ev.table, tuple((c.type, c.name, c.meta.get("fsp"), c.meta.get("bytes")) for c in originals))
        plan = self.plans.get(key)
        if plan is None or plan.table is not table:
            plan = self.plans[key] = _build_plan(table, originals)
        for lib_col, patch in zip(lib_cols, plan.patches, strict=True):
            lib_col.__dict__.update(patch)
        first._opendrs_plan = plan
        return plan

    def query(self, schema: str, text: str, log_pos: int, ts: float) -> Transaction | None:
        """BEGIN / COMMIT / a schema statement; returns a transaction to yield, if any."""
        head = text.lstrip()[:16].split(None, 1)[0].upper() if text.strip() else ""
        if head == "BEGIN":
            self.in_group = True
            return None
        if head in ("COMMIT", "ROLLBACK") and (self.in_group or self.events):
            if head == "ROLLBACK" and text.strip().upper().startswith("ROLLBACK TO"):
                return None  # ROLLBACK TO SAVEPOINT inside a transaction
            # COMMIT ends a non-transactional (MyISAM/Aria) group; a logged ROLLBACK means its
            # non-transactional changes stayed on the source, so they are replicated too.
            return self.commit(log_pos, ts)
        if head not in _NOT_DDL:
            self.schema_changed = True
        relevant = schema in self.databases or any(d in text.lower() for d in self.databases_lower)
        if head in _NOT_DDL or not relevant:
            return None if self.in_group else self.commit(log_pos, ts)
        if head in _DML:
            raise BinlogError(
                f"the binlog holds a statement-based change for a selected database ({text[:200]!r}); row changes "
                "cannot be captured from it: set binlog_format=ROW globally on the source (and for every session)"
            )
        if self.in_group:  # e.g. CREATE TABLE ... SELECT: the DDL, then its rows, then the commit
            return Transaction([], self.committed, ts, text, schema or None, len(text))
        return self.commit(log_pos, ts, text, schema or None)

    def xa_prepare(self, one_phase: bool, log_pos: int, ts: float) -> Transaction | None:
        if one_phase:  # XA COMMIT ... ONE PHASE: an ordinary commit
            return self.commit(log_pos, ts)
        if self.events or self.parts_yielded:
            raise BinlogError("an XA (two-phase) transaction changed selected tables; XA PREPARE/XA COMMIT "
                              "transactions are not supported by OpenDRS capture yet")
        return self.commit(log_pos, ts)

    def heartbeat(self) -> Transaction | None:
        if self.in_group or self.events:
            return None
        return Transaction([], self.committed, time.time())


def ended(cap: TransactionAssembler) -> SourceConnectionLost:
    """The error for a stream the source closed: transient, so the pipeline resumes from ``cap.committed``."""
    return SourceConnectionLost(f"the source ended the binlog stream at {cap.committed} (it may be restarting); "
                                "retrying from the last committed position")


# --- connecting -------------------------------------------------------------------------------


def connection_settings(ep: EndpointConfig, read_timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """PyMySQL arguments for a binlog connection: no database, autocommit, timeouts that notice a dead stream."""
    args = connect_args(ep)
    args.pop("database", None)
    args.update(read_timeout=read_timeout, write_timeout=READ_TIMEOUT_S, autocommit=True)
    if ep.ssl_link:
        args["ssl"] = ssl_context(ep)
    return args


def translate_error(exc: pymysql.MySQLError, ep: EndpointConfig, start: MySQLPosition) -> BinlogError:
    """A server error as the ``BinlogError`` that tells a DBA what to do (or that the pipeline may retry)."""
    number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if number in _TRANSIENT_ERRNOS:
        return SourceConnectionLost(f"cannot read the binlog of the source at {ep.where}: {message}; "
                                    "retrying from the last committed position", detail=str(exc))
    if number == 1236 and any(h in message.lower() for h in _PURGED_HINTS):
        return BinlogPurged(f"binlog file {start.file} no longer exists on the source; the task must be restarted "
                            "with a full load", detail=message)
    if number in (1045, 1227, 1142, 1044):
        return BinlogError(f"the source user {ep.user!r} may not read the binlog ({message}); grant it "
                           "REPLICATION SLAVE and REPLICATION CLIENT (BINLOG MONITOR on MariaDB)", detail=message)
    return BinlogError(f"the source at {ep.where} refused to stream its binlog from {start}: {message}",
                       detail=str(exc))
