"""Decoder of PostgreSQL's ``pgoutput`` logical replication protocol (version 1) into Transactions.

Why by hand with ``struct``: no maintained Python library decodes pgoutput (psycopg2 only
delivers the raw message bytes; the few PyPI parsers are unmaintained toys that convert values
to Python types, which is exactly what we must not do). The format is small and stable --
https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html -- and the
tests pin it with bytes captured from a real server.

What it does: one ``feed(payload)`` per message. Begin opens a transaction; Insert, Update,
Delete and Truncate of tables in the catalog become ``ChangeEvent``s; Commit closes the
transaction and returns it as a ``Transaction`` whose ``position`` is the commit's END LSN
and ``commit_ts`` the commit time in Unix seconds. Values stay PostgreSQL TEXT (``str``) or
None, mapped BY NAME into the catalog's column order (a column the catalog has but the
stream does not send -- generated columns -- is None); an unchanged TOASTed column of an
UPDATE is the ``UNCHANGED_TOAST`` sentinel. Relation messages may arrive again at any time
(after ALTER TABLE, or after the server evicted its cache) and simply replace the mapping.
Origin, Type and logical decoding Messages are read and ignored.

DDL (see ``ddl``): an Insert into the task's DDL log table is a schema change. A transaction
that holds one is returned by ``take_parts()`` instead of ``feed()``, as its pieces in source
order -- the row changes before the DDL, the DDL (``ddl`` set, no events), the changes after
it. Every piece but the last carries the PREVIOUS commit's position (``partial``), so no
checkpoint runs past an uncommitted point; the last one carries the commit's. Changes after a
DDL are decoded only when their piece is taken, after the caller has applied the DDL and
called ``refresh()`` (the catalog then has the new structure the changes are written in).

Images: Insert has ``after``; Update has ``after`` and ``before`` only when the server sent
an old tuple ('K': the replica identity columns, others None; 'O': REPLICA IDENTITY FULL, the
whole row); Delete has ``before`` ('K' or 'O').

Known limit: a transaction is accumulated in memory until its Commit (a 10-million-row
UPDATE holds 10 million events). Protocol version 2 streaming of in-progress transactions
would bound this; not done yet.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendrs.engines.postgres import ddl as pgddl
from opendrs.engines.postgres.position import PgPosition, PgReplicationError
from opendrs.pipeline.model import Catalog, ChangeEvent, Op, Row, TableRef, TableSchema, Transaction

# ChangeEvent's own __new__ is a Python-level lambda; tuple.__new__ builds the same object at a third of the cost.
_new = tuple.__new__


class _UnchangedToast:
    """Type of the ``UNCHANGED_TOAST`` singleton (a readable repr in test failures and logs)."""

    _instance: _UnchangedToast | None = None

    def __new__(cls) -> _UnchangedToast:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"

    def __reduce__(self) -> str:
        return "UNCHANGED_TOAST"  # pickles as the module-level singleton


UNCHANGED_TOAST: Final[object] = _UnchangedToast()

# Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
PG_EPOCH_OFFSET_S: Final = 946_684_800

_I8: Final = struct.Struct("!B")
_I16: Final = struct.Struct("!h")
_I32: Final = struct.Struct("!i")
_U32: Final = struct.Struct("!I")
_BEGIN: Final = struct.Struct("!QqI")  # final (commit) LSN, commit timestamp, xid
_COMMIT: Final = struct.Struct("!BQQq")  # flags, commit LSN, end LSN, commit timestamp
_REL_COL: Final = struct.Struct("!Ii")  # type oid, type modifier


class PgOutputError(PgReplicationError):
    """The stream is not what protocol version 1 promises (a bug, or a wrong plugin/version)."""


class PgSchemaMismatch(PgReplicationError):
    """A table in the stream no longer has a column the task's structure has."""


@dataclass
class PgTransactionPart(Transaction):
    """A piece of a source transaction split at a DDL; ``position`` is the commit before that transaction."""

    partial: bool = True


# Messages that wait, after a DDL inside a transaction, until the DDL is applied: row changes and Relations.
_DEFERRED: Final = frozenset(b"IUDTR")


def pg_time_to_unix(pg_us: int) -> float:
    """A pgoutput timestamp (microseconds since 2000-01-01 UTC) in Unix epoch seconds."""
    return pg_us / 1_000_000 + PG_EPOCH_OFFSET_S


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    type_modifier: int
    key: bool  # part of the replica identity


@dataclass(frozen=True)
class Relation:
    """A Relation message: the table's name and columns as the stream sends them (in that order)."""

    oid: int
    schema: str
    name: str
    replica_identity: str  # 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[RelationColumn, ...]

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema, self.name)


@dataclass(frozen=True)
class _Plan:
    """How a relation's tuples become catalog-ordered rows: stream column i goes to ``slots[i]``."""

    table: TableSchema
    slots: tuple[int | None, ...]
    width: int
    fill: tuple[Any, ...]  # a row before the tuple's values: None, or UNCHANGED_TOAST for a column not sent


class _Reader:
    """A cursor over one message's bytes."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: struct.Struct) -> tuple[Any, ...]:
        try:
            values = fmt.unpack_from(self.buf, self.pos)
        except struct.error as exc:
            raise PgOutputError(f"truncated pgoutput message at byte {self.pos}: {self.buf[:32]!r}...") from exc
        self.pos += fmt.size
        return values

    def byte(self) -> int:
        return int(self.take(_I8)[0])

    def int32(self) -> int:
        return int(self.take(_I32)[0])

    def uint32(self) -> int:
        return int(self.take(_U32)[0])

    def cstring(self) -> str:
        end = self.buf.find(b"\0", self.pos)
        if end < 0:
            raise PgOutputError("unterminated string in a pgoutput message")
        text = self.buf[self.pos:end].decode("utf-8")
        self.pos = end + 1
        return text


class PgOutputDecoder:
    """pgoutput messages in, committed ``Transaction``s of catalog tables out (pure: no I/O).

    Not thread-safe: one decoder per stream. ``relations`` keeps the last Relation message
    per table oid for the life of the decoder (one entry per published table).
    """

    def __init__(self, catalog: Catalog, *, ddl_log: TableSchema | None = None, start: int = 0) -> None:
        """``ddl_log``: the task's DDL log table (``ddl.DdlCapture.log_schema``), None without DDL capture;
        ``start``: the stream's start LSN (the position of pieces before the first commit seen)."""
        self._catalog = catalog
        self._tables: Mapping[TableRef, TableSchema] = {t.ref: t for t in catalog.tables}
        self.relations: dict[int, Relation] = {}
        self._plans: dict[int, _Plan | None] = {}
        self._events: list[ChangeEvent] | None = None  # None: between transactions
        self._bytes = 0
        self.xid = 0
        self._ddl_log = ddl_log
        self._ddl_oid: bytes | None = None  # the log table's oid as the 4 bytes of a change message
        self._ddl_plan: _Plan | None = None
        # After a DDL in the open transaction: its pieces, ("events", list) | ("ddl", Transaction) | ("raw", list)
        self._segments: list[tuple[str, Any]] | None = None
        self._parts: Iterator[Transaction] | None = None
        self.last_commit = start  # END LSN of the last commit decoded

    def refresh(self) -> None:
        """The catalog changed (a DDL was applied and the structure read again): map tables anew."""
        self._tables = {t.ref: t for t in self._catalog.tables}
        self._plans = {}

    def take_parts(self) -> Iterator[Transaction] | None:
        """The pieces of the transaction whose Commit ``feed`` just read, if it held a DDL (see module doc)."""
        parts, self._parts = self._parts, None
        return parts

    @property
    def in_transaction(self) -> bool:
        return self._events is not None

    def feed(self, payload: bytes) -> Transaction | None:
        """Decode one message; returns the transaction when it was the Commit, else None."""
        if not payload:
            raise PgOutputError("empty pgoutput message")
        kind = payload[0]
        if self._events is not None:
            self._bytes += len(payload)
            if self._segments is not None and kind in _DEFERRED:
                self._defer(payload)
                return None
        if kind == 0x49:  # 'I'
            self._insert(payload)
            return None
        if kind == 0x55:  # 'U'
            self._update(payload)
            return None
        if kind == 0x44:  # 'D'
            self._delete(payload)
            return None
        r = _Reader(payload)
        r.pos = 1
        if kind == 0x42:  # 'B'
            self._begin(r, len(payload))
        elif kind == 0x43:  # 'C'
            return self._commit(r)
        elif kind == 0x52:  # 'R'
            self._relation(r)
        elif kind == 0x54:  # 'T'
            self._truncate(r)
        elif kind in (0x4F, 0x59, 0x4D):  # 'O' origin, 'Y' type, 'M' logical message: nothing for us
            pass
        else:
            raise PgOutputError(f"unknown pgoutput message type {chr(kind)!r}; the slot must use pgoutput "
                                "protocol version 1 without streaming")
        return None

    # --- transaction boundaries ------------------------------------------------------------

    def _begin(self, r: _Reader, size: int) -> None:
        if self._events is not None:
            raise PgOutputError("pgoutput Begin inside a transaction")
        _final_lsn, _ts, self.xid = r.take(_BEGIN)
        self._events = []
        self._bytes = size

    def _commit(self, r: _Reader) -> Transaction | None:
        events = self._require_txn("Commit")
        _flags, _commit_lsn, end_lsn, ts = r.take(_COMMIT)
        previous, self.last_commit = self.last_commit, end_lsn
        self._events = None
        nbytes, self._bytes = self._bytes, 0
        if self._segments is not None:
            segments, self._segments = self._segments, None
            self._parts = self._split(segments, previous, end_lsn, pg_time_to_unix(ts), nbytes)
            return None
        return Transaction(events=events, position=PgPosition(end_lsn), commit_ts=pg_time_to_unix(ts), bytes=nbytes)

    # --- DDL ---------------------------------------------------------------------------------

    def _ddl_row(self, buf: bytes) -> None:
        """An Insert into the DDL log: close the changes so far as a piece and defer the rest."""
        assert self._ddl_plan is not None and self._events is not None
        row, _ = self._tuple(buf, 6, self._ddl_plan)
        values = dict(zip(pgddl.LOG_COLUMNS, row, strict=True))
        text = pgddl.encode(str(values["query"]), json.loads(str(values["search_path"] or "[]")),
                            json.loads(str(values["objects"] or "[]")))
        ddl = PgTransactionPart(events=[], position=PgPosition(0), commit_ts=0.0, ddl=text,
                                ddl_schema=str(values["schema_name"]))
        if self._segments is None:
            self._segments = [("events", self._events)]
        self._segments += [("ddl", ddl), ("raw", [])]

    def _defer(self, payload: bytes) -> None:
        """A change or Relation after a DDL in this transaction: kept as bytes until the DDL is applied."""
        assert self._segments is not None
        if payload[0] == 0x52:  # 'R': the log table's own Relation is needed now, others in order later
            r = _Reader(payload)
            r.pos = 1
            oid = r.uint32()
            if self._ddl_oid is not None and oid == int.from_bytes(self._ddl_oid, "big"):
                r.pos = 1
                self._relation(r)
                return
        elif payload[0] == 0x49 and self._ddl_oid is not None and payload[1:5] == self._ddl_oid:
            self._ddl_row(payload)
            return
        self._segments[-1][1].append(payload)

    def _split(self, segments: list[tuple[str, Any]], previous: int, end: int, ts: float,
               nbytes: int) -> Iterator[Transaction]:
        """The pieces of a transaction with DDL, decoding deferred changes only when their piece is due."""
        while segments and segments[-1][0] == "raw" and not segments[-1][1]:
            segments.pop()
        if segments and segments[0][0] == "events" and not segments[0][1]:
            segments.pop(0)
        for i, (kind, item) in enumerate(segments):
            last = i == len(segments) - 1
            position = PgPosition(end if last else previous)
            if kind == "ddl":
                yield (Transaction if last else PgTransactionPart)(
                    events=[], position=position, commit_ts=ts, ddl=item.ddl, ddl_schema=item.ddl_schema,
                    bytes=nbytes if last else 0)
                continue
            events: list[ChangeEvent] = item if kind == "events" else self._replay(item)
            if not events and not last:
                continue
            yield (Transaction if last else PgTransactionPart)(
                events=events, position=position, commit_ts=ts, bytes=nbytes if last else 0)

    def _replay(self, payloads: list[bytes]) -> list[ChangeEvent]:
        """Decode deferred messages (with the catalog as it is now) into events."""
        events: list[ChangeEvent] = []
        self._events = events
        try:
            for payload in payloads:
                kind = payload[0]
                if kind == 0x49:
                    self._insert(payload)
                elif kind == 0x55:
                    self._update(payload)
                elif kind == 0x44:
                    self._delete(payload)
                else:
                    r = _Reader(payload)
                    r.pos = 1
                    if kind == 0x52:
                        self._relation(r)
                    else:
                        self._truncate(r)
        finally:
            self._events = None
        return events

    def _require_txn(self, what: str) -> list[ChangeEvent]:
        if self._events is None:
            raise PgOutputError(f"pgoutput {what} outside a transaction")
        return self._events

    # --- relations -------------------------------------------------------------------------

    def _relation(self, r: _Reader) -> None:
        oid = r.uint32()
        schema = r.cstring()
        name = r.cstring()
        identity = chr(r.byte())
        ncols = int(r.take(_I16)[0])
        cols = []
        for _ in range(ncols):
            flags = r.byte()
            col_name = r.cstring()
            type_oid, typmod = r.take(_REL_COL)
            cols.append(RelationColumn(col_name, type_oid, typmod, bool(flags & 1)))
        rel = Relation(oid, schema, name, identity, tuple(cols))
        self.relations[oid] = rel
        if self._ddl_log is not None and rel.ref == self._ddl_log.ref:
            self._ddl_oid = oid.to_bytes(4, "big")
            self._ddl_plan = self._plan_of(self._ddl_log, rel)
            self._plans[oid] = None  # its changes are not row changes of the task
            return
        self._plans[oid] = self._plan(rel)

    def _plan(self, rel: Relation) -> _Plan | None:
        table = self._tables.get(rel.ref)
        if table is None:
            return None
        plan = self._plan_of(table, rel)
        sent = {c.name for c in rel.columns}
        missing = [c.name for c in table.columns if not c.generated and c.name not in sent]
        if missing and self._ddl_log is None:
            raise PgSchemaMismatch(
                f"table {rel.ref} in the change stream no longer has column(s) {', '.join(missing)} that the task "
                "copies; the table was altered after the task read its structure (without DDL capture, or while "
                "the full load ran): restart the task so it reads the structure again"
            )
        return plan

    @staticmethod
    def _plan_of(table: TableSchema, rel: Relation) -> _Plan:
        """Stream columns onto catalog slots. With DDL capture the catalog may be AHEAD of the stream (it is
        read from the live source; a later ALTER already ran there): a column the stream does not send
        yet is UNCHANGED_TOAST, which the target leaves alone (its default on insert, its value on update)."""
        index = {c.name: i for i, c in enumerate(table.columns)}
        slots = tuple(index.get(c.name) for c in rel.columns)  # a column added later: not in the task, dropped
        sent = {c.name for c in rel.columns}
        fill = tuple(UNCHANGED_TOAST if not c.generated and c.name not in sent else None for c in table.columns)
        return _Plan(table, slots, len(table.columns), fill)

    def _plan_for(self, oid: int) -> _Plan | None:
        try:
            return self._plans[oid]
        except KeyError:
            rel = self.relations.get(oid)
            if rel is None:
                raise PgOutputError(f"pgoutput change for relation {oid} before its Relation message") from None
            plan = self._plans[oid] = self._plan(rel)  # first change after refresh()
            return plan

    # --- row changes -----------------------------------------------------------------------

    @staticmethod
    def _tuple(buf: bytes, pos: int, plan: _Plan) -> tuple[Row, int]:
        """One TupleData at ``pos``, in catalog order, and the offset after it.

        The hot loop of CDC: locals only, no method calls per value.
        """
        size = len(buf)
        slots = plan.slots
        values: list[Any] = list(plan.fill)
        unpack_i32 = _I32.unpack_from
        try:
            (ncols,) = _I16.unpack_from(buf, pos)
            pos += 2
            if ncols != len(slots):
                raise PgOutputError(f"tuple of {ncols} columns for {plan.table.ref}, whose Relation has "
                                    f"{len(slots)}")
            for slot in slots:
                kind = buf[pos]
                pos += 1
                if kind == 0x74:  # 't' text
                    (length,) = unpack_i32(buf, pos)
                    pos += 4
                    end = pos + length
                    if length < 0 or end > size:
                        raise PgOutputError(f"a column value of {length} bytes runs past the end of its message")
                    if slot is not None:
                        values[slot] = buf[pos:end].decode("utf-8")
                    pos = end
                elif kind == 0x6E:  # 'n' null
                    continue
                elif kind == 0x75:  # 'u' unchanged TOAST
                    if slot is not None:
                        values[slot] = UNCHANGED_TOAST
                else:
                    raise PgOutputError(f"unknown tuple column kind {chr(kind)!r} (binary mode is not used)")
        except (struct.error, IndexError) as exc:
            raise PgOutputError(f"truncated pgoutput tuple for {plan.table.ref}") from exc
        return tuple(values), pos

    def _change(self, buf: bytes, what: str) -> tuple[list[ChangeEvent], _Plan | None]:
        """The open transaction's events and the plan of the change's relation (None: not in the catalog)."""
        events = self._require_txn(what)
        try:
            (oid,) = _U32.unpack_from(buf, 1)
        except struct.error as exc:
            raise PgOutputError(f"truncated pgoutput {what}") from exc
        return events, self._plan_for(oid)

    def _insert(self, buf: bytes) -> None:
        events, plan = self._change(buf, "Insert")
        if plan is None:
            if self._ddl_oid is not None and buf[1:5] == self._ddl_oid:
                self._ddl_row(buf)
            return
        if buf[5:6] != b"N":
            raise PgOutputError("pgoutput Insert without a new tuple")
        after, _ = self._tuple(buf, 6, plan)
        events.append(_new(ChangeEvent, (Op.INSERT, plan.table.ref, None, after)))

    def _update(self, buf: bytes) -> None:
        events, plan = self._change(buf, "Update")
        if plan is None:
            return
        kind = buf[5:6]
        pos = 6
        before: Row | None = None
        if kind in (b"K", b"O"):  # key columns / REPLICA IDENTITY FULL old row
            before, pos = self._tuple(buf, pos, plan)
            kind = buf[pos:pos + 1]
            pos += 1
        if kind != b"N":
            raise PgOutputError(f"pgoutput Update: expected the new tuple, got {kind!r}")
        after, _ = self._tuple(buf, pos, plan)
        events.append(_new(ChangeEvent, (Op.UPDATE, plan.table.ref, before, after)))

    def _delete(self, buf: bytes) -> None:
        events, plan = self._change(buf, "Delete")
        if plan is None:
            return
        kind = buf[5:6]
        if kind not in (b"K", b"O"):
            raise PgOutputError(f"pgoutput Delete: expected the old tuple, got {kind!r}")
        before, _ = self._tuple(buf, 6, plan)
        events.append(_new(ChangeEvent, (Op.DELETE, plan.table.ref, before, None)))

    def _truncate(self, r: _Reader) -> None:
        events = self._require_txn("Truncate")
        count = r.int32()
        r.byte()  # options: 1 CASCADE, 2 RESTART IDENTITY (cascaded tables are listed themselves)
        for _ in range(count):
            plan = self._plan_for(r.uint32())
            if plan is not None:
                events.append(ChangeEvent(Op.TRUNCATE, plan.table.ref, None, None))
