"""Engine-neutral data model of the pipeline: tables, catalogs, row batches, change events.

Rows travel as tuples in the table's column order (no per-row dicts: the hot loops of full
load and CDC apply touch every value, and tuples are the cheapest container Python has).
Values are Python objects as the source driver returns them (int, Decimal, str, bytes,
datetime, ...); each target engine knows how to write them back byte-exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

Row = tuple[Any, ...]


@dataclass(frozen=True, order=True)
class TableRef:
    """A table: ``schema`` is the MySQL database, or the PostgreSQL schema."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # the engine's own type name, lower case: "int", "varchar", "decimal", "json"...
    column_type: str  # the full declaration type: "int(10) unsigned", "decimal(65,30)", "enum('a','b')"
    nullable: bool = True
    generated: bool = False  # generated columns are computed on the target, never written
    charset: str | None = None


@dataclass
class TableSchema:
    ref: TableRef
    columns: list[Column]
    # Columns that identify a row: the primary key, else a NOT NULL unique key, else empty
    # (then CDC matches on the full row image and the full load copies the table in one piece).
    key: tuple[str, ...] = ()
    create_sql: str | None = None  # the source's own DDL, for engines that replay it
    rows_estimate: int = 0
    bytes_estimate: int = 0

    @property
    def writable(self) -> list[Column]:
        return [c for c in self.columns if not c.generated]

    def index_of(self, name: str) -> int:
        for i, c in enumerate(self.columns):
            if c.name == name:
                return i
        raise KeyError(name)

    @functools.cached_property
    def key_indexes(self) -> tuple[int, ...]:
        """Cached: CDC apply asks for it once per change (a tenth of PostgreSQL apply time when computed).
        Tables are never changed in place; a changed structure is a new ``TableSchema``."""
        return tuple(self.index_of(k) for k in self.key)


@dataclass(frozen=True)
class ObjectDDL:
    """A non-table object (view, routine, trigger, event, sequence, type...) and how to create it."""

    kind: str  # "database" | "view" | "procedure" | "function" | "trigger" | "event" | ...
    schema: str
    name: str
    create_sql: str
    depends_on: tuple[str, ...] = ()


@dataclass
class Catalog:
    """What a task moves: the selected tables and objects, in creation order."""

    databases: list[ObjectDDL] = field(default_factory=list)
    tables: list[TableSchema] = field(default_factory=list)
    objects: list[ObjectDDL] = field(default_factory=list)

    def table(self, ref: TableRef) -> TableSchema | None:
        for t in self.tables:
            if t.ref == ref:
                return t
        return None


class Op(StrEnum):
    INSERT = "I"
    UPDATE = "U"
    DELETE = "D"
    TRUNCATE = "T"  # PostgreSQL logical decoding carries TRUNCATE as a change, with no row images


class ChangeEvent(NamedTuple):
    """One row change: full before/after images in column order (ROW binlog, FULL image).

    A NamedTuple, not a frozen dataclass: capture builds one per row change, and a frozen
    dataclass's ``__init__`` cost a tenth of the fast binlog reader's own time.
    """

    op: Op
    table: TableRef
    before: Row | None
    after: Row | None


class Position(Protocol):
    """Where a stream is: engine-specific, frozen, round-trips through a dict."""

    def to_dict(self) -> dict[str, Any]: ...

    def location(self) -> str:
        """Where, as a DBA writes it (``mysql-bin.000012:4711``, ``16/B374D848``): shown in progress."""
        ...


@dataclass
class Transaction:
    """A source transaction as captured: its changes in order and the position after its commit.

    ``ddl`` is set (and ``events`` empty) for a schema change; ``commit_ts`` is the source's
    commit time in epoch seconds, which is what lag is measured against.
    """

    events: Sequence[ChangeEvent]
    position: Position
    commit_ts: float
    ddl: str | None = None
    ddl_schema: str | None = None
    bytes: int = 0


@dataclass(frozen=True)
class KeyRange:
    """A chunk of a table: keys in ``(lower, upper]``; None = unbounded on that side."""

    lower: Row | None
    upper: Row | None
    index: int = 0


@dataclass(frozen=True)
class EncodedBatch:
    """Full-load rows a source already serialised in a bulk format its same-engine target loads natively.

    Why: for a same-engine pair, letting the servers format and parse rows (MySQL ``LOAD DATA``
    lines, for one) avoids turning every value into a Python object and back, which is where
    the row path spends its time. ``last_key`` is the last row's key (as ``read_chunk`` rows
    carry it), so resuming works exactly as with row batches.
    """

    format: str
    data: bytes
    rows: int
    last_key: Row

    def __len__(self) -> int:
        return self.rows

