"""The small contracts every engine's source and target sides implement (STYLE §2).

The pipeline (``opendrs.pipeline``) drives these; engines never call the pipeline back.
All methods are blocking; the pipeline runs them in worker threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from opendrs.pipeline.model import Catalog, EncodedBatch, KeyRange, Position, Row, TableRef, TableSchema, Transaction
from opendrs.pipeline.selection import Selection


class SourceEngine(Protocol):
    def discover(self, selection: Selection) -> Catalog:
        """The selected databases, tables (columns, key, DDL, estimates) and objects, in creation order."""
        ...

    def current_position(self) -> Position:
        """The position a change stream started now would begin at (nothing before it is missed)."""
        ...

    def position_from_dict(self, doc: dict[str, Any]) -> Position: ...

    def chunks(self, table: TableSchema, rows_per_chunk: int) -> Iterator[KeyRange]:
        """Key ranges covering the whole table; one unbounded range for a table without a key."""
        ...

    def read_chunk(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[list[Row]]:
        """Rows of ``chunk`` in key order, ``batch_rows`` at a time, with bounded memory."""
        ...

    def snapshot_table(self, table: TableSchema, batch_rows: int) -> tuple[Position, Iterator[list[Row]]]:
        """The whole table read in one consistent snapshot, and the stream position it corresponds to.

        Used for tables without a key, whose CDC events cannot be replayed idempotently: events
        at or before that position are skipped for the table.
        """
        ...

    def compare_positions(self, a: Position, b: Position) -> int:
        """-1, 0 or 1 as ``a`` is before, at or after ``b`` in the source's history."""
        ...

    def stream(self, start: Position, catalog: Catalog, stop: Callable[[], bool]) -> Iterator[Transaction]:
        """Committed transactions from ``start`` on, in commit order; returns when ``stop()`` is true.

        Yields only changes of tables in ``catalog`` (and DDL of selected databases). May yield
        heartbeat transactions with no events (``events == []``, ``ddl is None``) so the caller
        can advance its position and measure lag while the source is idle.
        """
        ...

    def close(self) -> None: ...


class TargetEngine(Protocol):
    def prepare(self, catalog: Catalog, selection: Selection, drop_existing: bool) -> None:
        """Create databases and tables (before the data)."""
        ...

    def finish(self, catalog: Catalog, selection: Selection) -> None:
        """Create what is better made after the data: secondary indexes, views, routines, triggers, events."""
        ...

    def load(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
             checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        """Write full-load rows (idempotent: replaces rows with the same key); returns bytes written.

        With ``checkpoint`` = (name, doc), that checkpoint is stored in the same target
        transaction as the rows, so "chunk done" is never recorded for rows that were lost.
        """
        ...

    def apply(self, job_id: str, txns: Sequence[Transaction], catalog: Catalog, selection: Selection,
              checkpoint: dict[str, Any], conflict_policy: str = "overwrite") -> None:
        """Apply source transactions in order AND store ``checkpoint`` in the same target transaction.

        Idempotent: replaying transactions that were already applied leaves the same result
        (upsert/delete by key with full row images).
        """
        ...

    def apply_ddl(self, job_id: str, ddl: str, schema: str | None, selection: Selection,
                  checkpoint: dict[str, Any]) -> None:
        """Replay one DDL statement, then store the checkpoint (a replayed DDL is tolerated)."""
        ...

    def insert_rows(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
                    checkpoint: tuple[str, dict[str, Any]] | None = None) -> None:
        """Plain inserts (tables without a key, loaded into an emptied table)."""
        ...

    def truncate(self, target: TableRef) -> None: ...

    def read_checkpoint(self, job_id: str, name: str) -> dict[str, Any] | None: ...

    def read_checkpoints(self, job_id: str, prefix: str) -> dict[str, dict[str, Any]]: ...

    def write_checkpoint(self, job_id: str, name: str, doc: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class PlanningTarget(Protocol):
    """Optional: a target whose CDC apply splits into a plan and its write.

    ``plan`` coalesces a batch without touching the target; ``apply_plan`` writes it with the
    checkpoint in one transaction, as ``apply`` does. The pipeline plans batch N+1 while the
    writer thread commits batch N.
    """

    def plan(self, txns: Sequence[Transaction], catalog: Catalog, selection: Selection) -> Any: ...

    def apply_plan(self, job_id: str, plan: Any, checkpoint: dict[str, Any],
                   conflict_policy: str = "overwrite") -> None: ...


@runtime_checkable
class BulkSource(Protocol):
    """Optional: a source that can serialise full-load rows in a bulk format (see ``EncodedBatch``)."""

    bulk_format: str

    def read_chunk_encoded(self, table: TableSchema, chunk: KeyRange, batch_rows: int) -> Iterator[EncodedBatch] | None:
        """Like ``read_chunk`` but encoded; None when this table has a column the format cannot carry."""
        ...


@runtime_checkable
class BulkTarget(Protocol):
    """Optional: a target that loads ``EncodedBatch`` data natively."""

    def accepts_encoded(self, table: TableSchema, bulk_format: str) -> bool: ...

    def load_encoded(self, job_id: str, table: TableSchema, target: TableRef, batch: EncodedBatch,
                     checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        """``load`` for an encoded batch: idempotent, checkpoint in the same transaction, returns bytes."""
        ...

