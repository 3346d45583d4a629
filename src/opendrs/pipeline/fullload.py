"""Full load: every selected table copied in key order, in parallel, resumable at batch granularity.

Consistency scheme (docs/full-load.md): the stream position P0 is recorded BEFORE any row is
read; tables are then read without locks, and CDC later replays everything from P0 with
idempotent upserts/deletes by key, which converges every row to the source's state. A large
table is split into key ranges so several workers share it; each range checkpoints its last
copied key in the same target transaction as the rows, so a crash resumes after that key.
Tables without a key cannot be replayed idempotently: they are read in one consistent
snapshot whose exact position is recorded, and CDC skips their events up to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from opendrs.engines.contracts import BulkSource, BulkTarget, SourceEngine, TargetEngine
from opendrs.pipeline.keys import decode_key, encode_key
from opendrs.pipeline.model import Catalog, EncodedBatch, KeyRange, Row, TableSchema
from opendrs.pipeline.selection import Selection
from opendrs.pipeline.throttle import Throttle

log = logging.getLogger("opendrs.fullload")


class Cancelled(Exception):  # noqa: N818 - control flow
    """A worker noticed the task is stopping (pause, terminate, shutdown)."""


@dataclass
class FullLoadSettings:
    batch_rows: int = 5000
    rows_per_range: int = 250_000  # tables larger than this are split into key ranges
    parallel: int = 4


@dataclass
class TableProgress:
    rows: int = 0
    bytes: int = 0
    estimate: int = 0
    done: bool = False


@dataclass
class Progress:
    """Shared between workers; read by the reporter."""

    tables: dict[str, TableProgress] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, table: str, rows: int, nbytes: int) -> None:
        with self.lock:
            p = self.tables[table]
            p.rows += rows
            p.bytes += nbytes

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            rows = sum(p.rows for p in self.tables.values())
            estimate = sum(max(p.estimate, p.rows) for p in self.tables.values())
            done = sum(1 for p in self.tables.values() if p.done)
            nbytes = sum(p.bytes for p in self.tables.values())
            per_table = {k: {"rows": p.rows, "estimate": p.estimate, "done": p.done} for k, p in self.tables.items()}
        elapsed = max(time.monotonic() - self.started, 1e-3)
        fraction = 1.0 if estimate == 0 else min(rows / estimate, 0.99 if done < len(self.tables) else 1.0)
        rate = rows / elapsed
        remaining = 0 if rate == 0 else int((estimate - rows) / rate) if estimate > rows else 0
        return {"rows": rows, "bytes": nbytes, "estimate": estimate, "fraction": fraction, "rows_per_s": int(rate),
                "bytes_per_s": int(nbytes / elapsed), "remaining_s": remaining, "elapsed_s": int(elapsed),
                "tables_done": done, "tables": len(self.tables), "per_table": per_table}


def range_name(table: TableSchema, index: int) -> str:
    return f"range:{table.ref}:{index}"


def plan_name(table: TableSchema) -> str:
    return f"plan:{table.ref}"


class FullLoad:
    """Copies ``catalog``'s tables from a source to a target; idempotent and resumable."""

    def __init__(self, job_id: str, catalog: Catalog, selection: Selection,
                 new_source: Callable[[], SourceEngine], new_target: Callable[[], TargetEngine],
                 settings: FullLoadSettings, stopping: Callable[[], bool], throttle: Throttle | None = None) -> None:
        self.job_id = job_id
        self.catalog = catalog
        self.selection = selection
        self.new_source = new_source
        self.new_target = new_target
        self.settings = settings
        self.stopping = stopping
        self.throttle = throttle
        self.progress = Progress()
        self._failed = threading.Event()
        self._local = threading.local()

    # --- per-thread connections -------------------------------------------------------------
    def _engines(self) -> tuple[SourceEngine, TargetEngine]:
        engines: tuple[SourceEngine, TargetEngine] | None = getattr(self._local, "engines", None)
        if engines is None:
            engines = (self.new_source(), self.new_target())
            self._local.engines = engines
            self._opened.append(engines)
        return engines

    def _check(self) -> None:
        if self.stopping() or self._failed.is_set():
            raise Cancelled()

    # --- planning ---------------------------------------------------------------------------
    def _plan(self, source: SourceEngine, target: TargetEngine) -> list[tuple[TableSchema, int, KeyRange | None]]:
        """Work items not finished yet: (table, range index, range); range None = keyless table."""
        done = target.read_checkpoints(self.job_id, "range:")
        done.update(target.read_checkpoints(self.job_id, "keyless:"))
        items: list[tuple[TableSchema, int, KeyRange | None]] = []
        for table in self.catalog.tables:
            name = str(table.ref)
            self.progress.tables[name] = TableProgress(estimate=table.rows_estimate)
            if not table.key:
                state = done.get(f"keyless:{table.ref}")
                if state and state.get("done"):
                    self._mark_done(name, int(state.get("rows", 0)))
                else:
                    items.append((table, 0, None))
                continue
            ranges = self._ranges(source, target, table)
            all_done = True
            for index, rng in enumerate(ranges):
                state = done.get(range_name(table, index)) or {}
                self.progress.tables[name].rows += int(state.get("rows", 0))
                if not state.get("done"):
                    all_done = False
                    items.append((table, index, rng))
            if all_done:
                self.progress.tables[name].done = True
        # Largest first keeps the workers busy to the end.
        items.sort(key=lambda it: -(it[0].rows_estimate // max(1, len(self._ranges_cache.get(str(it[0].ref), [1])))))
        return items

    def _ranges(self, source: SourceEngine, target: TargetEngine, table: TableSchema) -> list[KeyRange]:
        stored = target.read_checkpoint(self.job_id, plan_name(table))
        if stored is not None:
            ranges = [KeyRange(decode_key(r[0]), decode_key(r[1]), i) for i, r in enumerate(stored["ranges"])]
        elif table.rows_estimate <= self.settings.rows_per_range:
            ranges = [KeyRange(None, None, 0)]
            target.write_checkpoint(self.job_id, plan_name(table), {"ranges": [[None, None]]})
        else:
            ranges = list(source.chunks(table, self.settings.rows_per_range)) or [KeyRange(None, None, 0)]
            target.write_checkpoint(self.job_id, plan_name(table), {
                "ranges": [[encode_key(r.lower), encode_key(r.upper)] for r in ranges]})
        self._ranges_cache[str(table.ref)] = ranges
        return ranges

    def _mark_done(self, name: str, rows: int) -> None:
        with self.progress.lock:
            p = self.progress.tables[name]
            p.done = True
            p.rows = max(p.rows, rows)

    # --- work -----------------------------------------------------------------------------------
    def _copy_range(self, table: TableSchema, index: int, rng: KeyRange) -> None:
        source, target = self._engines()
        name = range_name(table, index)
        state = target.read_checkpoint(self.job_id, name) or {}
        lower = decode_key(state["last_key"]) if state.get("last_key") else rng.lower
        rows_done = int(state.get("rows", 0))
        dest = self.selection.target(table.ref)
        key_idx = table.key_indexes
        chunk = KeyRange(lower, rng.upper, index)
        batches: Iterable[list[Row] | EncodedBatch] | None = None
        if isinstance(source, BulkSource) and isinstance(target, BulkTarget) and target.accepts_encoded(
                table, source.bulk_format):
            batches = source.read_chunk_encoded(table, chunk, self.settings.batch_rows)
        if batches is None:
            batches = source.read_chunk(table, chunk, self.settings.batch_rows)
        for batch in batches:
            self._check()
            if not batch:
                continue
            rows_done += len(batch)
            if isinstance(batch, EncodedBatch):
                state = {"last_key": encode_key(batch.last_key), "rows": rows_done, "done": False}
                assert isinstance(target, BulkTarget)
                nbytes = target.load_encoded(self.job_id, table, dest, batch, checkpoint=(name, state))
            else:
                last = tuple(batch[-1][i] for i in key_idx)
                nbytes = target.load(self.job_id, table, dest, batch, checkpoint=(
                    name, {"last_key": encode_key(last), "rows": rows_done, "done": False}))
            self.progress.add(str(table.ref), len(batch), nbytes)
            if self.throttle is not None:
                self.throttle.spend(nbytes)
        target.write_checkpoint(self.job_id, name, {"last_key": None, "rows": rows_done, "done": True})
        self._range_finished(table)

    def _copy_keyless(self, table: TableSchema) -> None:
        source, target = self._engines()
        dest = self.selection.target(table.ref)
        target.truncate(dest)  # a previous attempt may have left part of it
        with self.progress.lock:
            self.progress.tables[str(table.ref)].rows = 0
        position, batches = source.snapshot_table(table, self.settings.batch_rows)
        rows = 0
        pending: list[Any] = []
        for batch in batches:
            self._check()
            if pending:
                target.insert_rows(self.job_id, table, dest, pending)
            pending = batch
            rows += len(batch)
            self.progress.add(str(table.ref), len(batch), 0)
        # The last batch and the "done" marker (with the snapshot position) commit together.
        target.insert_rows(self.job_id, table, dest, pending, checkpoint=(
            f"keyless:{table.ref}", {"done": True, "rows": rows, "position": position.to_dict()}))
        self._mark_done(str(table.ref), rows)

    def _range_finished(self, table: TableSchema) -> None:
        _, target = self._engines()
        states = target.read_checkpoints(self.job_id, f"range:{table.ref}:")
        total = len(self._ranges_cache.get(str(table.ref), []))
        finished = [s for s in states.values() if s.get("done")]
        if total and len(finished) >= total:
            self._mark_done(str(table.ref), sum(int(s.get("rows", 0)) for s in finished))

    def run(self, report: Callable[[dict[str, Any]], None]) -> None:
        """Copy everything not yet copied; raises Cancelled when the task stops meanwhile."""
        self._opened: list[tuple[SourceEngine, TargetEngine]] = []
        self._ranges_cache: dict[str, list[KeyRange]] = {}
        planner_source, planner_target = self.new_source(), self.new_target()
        try:
            items = self._plan(planner_source, planner_target)
        finally:
            planner_source.close()
            planner_target.close()
        log.info("job %s: full load of %d tables, %d work items", self.job_id, len(self.catalog.tables), len(items))
        workers = max(1, min(self.settings.parallel, len(items)))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"load-{self.job_id[:6]}") as pool:
                futures: list[Future[None]] = []
                for table, index, rng in items:
                    if rng is None:
                        futures.append(pool.submit(self._copy_keyless, table))
                    else:
                        futures.append(pool.submit(self._copy_range, table, index, rng))
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_EXCEPTION)
                    report(self.progress.snapshot())
                    for fut in done:
                        if fut.exception() is not None:
                            self._failed.set()
                    if self.stopping():
                        self._failed.set()
                for fut in futures:
                    exc = fut.exception()
                    if exc is not None and not isinstance(exc, Cancelled):
                        raise exc
                if self.stopping():
                    raise Cancelled()
        finally:
            for source, target in self._opened:
                source.close()
                target.close()
        report(self.progress.snapshot())
