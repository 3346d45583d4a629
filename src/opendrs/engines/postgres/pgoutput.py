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

Images: Insert has ``after``; Update has ``after`` and ``before`` only when the server sent
an old tuple ('K': the replica identity columns, others None; 'O': REPLICA IDENTITY FULL, the
whole row); Delete has ``before`` ('K' or 'O').

Known limit: a transaction is accumulated in memory until its Commit (a 10-million-row
UPDATE holds 10 million events). Protocol version 2 streaming of in-progress transactions
would bound this; not done yet.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendrs.engines.postgres.position import PgPosition, PgReplicationError
from opendrs.pipeline.model import Catalog, ChangeEvent, Op, Row, TableRef, TableSchema, Transaction


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

    def __init__(self, catalog: Catalog) -> None:
        self._tables: Mapping[TableRef, TableSchema] = {t.ref: t for t in catalog.tables}
        self.relations: dict[int, Relation] = {}
        self._plans: dict[int, _Plan | None] = {}
        self._events: list[ChangeEvent] | None = None  # None: between transactions
        self._bytes = 0
        self.xid = 0

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

    def _commit(self, r: _Reader) -> Transaction:
        events = self._require_txn("Commit")
        _flags, _commit_lsn, end_lsn, ts = r.take(_COMMIT)
        txn = Transaction(events=events, position=PgPosition(end_lsn), commit_ts=pg_time_to_unix(ts),
                          bytes=self._bytes)
        self._events = None
        self._bytes = 0
        return txn

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
        self._plans[oid] = self._plan(rel)

    def _plan(self, rel: Relation) -> _Plan | None:
        table = self._tables.get(rel.ref)
        if table is None:
            return None
        index = {c.name: i for i, c in enumerate(table.columns)}
        slots = tuple(index.get(c.name) for c in rel.columns)  # a column added later: not in the task, dropped
        sent = {c.name for c in rel.columns}
        missing = [c.name for c in table.columns if not c.generated and c.name not in sent]
        if missing:
            raise PgSchemaMismatch(
                f"table {rel.ref} in the change stream no longer has column(s) {', '.join(missing)} that the task "
                "copies; the table was altered after the task read its structure. Schema changes are not "
                "captured: restart the task so it reads the structure again"
            )
        return _Plan(table, slots, len(table.columns))

    def _plan_for(self, oid: int) -> _Plan | None:
        try:
            return self._plans[oid]
        except KeyError:
            raise PgOutputError(f"pgoutput change for relation {oid} before its Relation message") from None

    # --- row changes -----------------------------------------------------------------------

    @staticmethod
    def _tuple(buf: bytes, pos: int, plan: _Plan) -> tuple[Row, int]:
        """One TupleData at ``pos``, in catalog order, and the offset after it.

        The hot loop of CDC: locals only, no method calls per value.
        """
        size = len(buf)
        slots = plan.slots
        values: list[Any] = [None] * plan.width
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
            return
        if buf[5:6] != b"N":
            raise PgOutputError("pgoutput Insert without a new tuple")
        after, _ = self._tuple(buf, 6, plan)
        events.append(ChangeEvent(Op.INSERT, plan.table.ref, None, after))

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
        events.append(ChangeEvent(Op.UPDATE, plan.table.ref, before, after))

    def _delete(self, buf: bytes) -> None:
        events, plan = self._change(buf, "Delete")
        if plan is None:
            return
        kind = buf[5:6]
        if kind not in (b"K", b"O"):
            raise PgOutputError(f"pgoutput Delete: expected the old tuple, got {kind!r}")
        before, _ = self._tuple(buf, 6, plan)
        events.append(ChangeEvent(Op.DELETE, plan.table.ref, before, None))

    def _truncate(self, r: _Reader) -> None:
        events = self._require_txn("Truncate")
        count = r.int32()
        r.byte()  # options: 1 CASCADE, 2 RESTART IDENTITY (cascaded tables are listed themselves)
        for _ in range(count):
            plan = self._plan_for(r.uint32())
            if plan is not None:
                events.append(ChangeEvent(Op.TRUNCATE, plan.table.ref, None, None))
