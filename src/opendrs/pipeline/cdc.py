"""Incremental phase: capture -> bounded queue -> batched apply with the checkpoint in the same commit.

A capture thread reads committed source transactions into a bounded queue (back-pressure:
a slow target slows capture down instead of filling memory). The apply loop drains it into
batches (by change count, bytes and time, cut at every DDL) and hands each batch to the
target, which commits the rows and the position of the batch's last transaction together.
Writes are double-buffered: one writer thread commits batch N while the apply loop gathers
and plans (coalesces per key) batch N+1 — the bench showed the apply loop waiting on the
target for 60 % of its time with the two done one after the other. Batches still commit one
at a time and in order, so the checkpoint of each covers exactly what is committed.
Lag is measured, not estimated: now minus the source commit time of the last applied
transaction, and zero when everything captured has been applied and the source is idle.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opendrs.engines.contracts import PlanningTarget, SourceEngine, TargetEngine
from opendrs.pipeline.model import Catalog, Position, TableRef, Transaction
from opendrs.pipeline.selection import Selection
from opendrs.pipeline.throttle import Throttle

log = logging.getLogger("opendrs.cdc")

_END = object()


@dataclass
class CdcSettings:
    queue_transactions: int = 4096
    # Also bounded by changes: a big source transaction arrives as parts of 20,000 changes.
    queue_changes: int = 60_000
    batch_changes: int = 20_000
    batch_bytes: int = 32 * 1024 * 1024
    batch_seconds: float = 0.25
    report_seconds: float = 1.0


@dataclass
class CdcStats:
    applied_changes: int = 0
    applied_txns: int = 0
    applied_bytes: int = 0
    last_commit_ts: float = 0.0
    delay_ms: int = -1
    position: dict[str, Any] = field(default_factory=dict)
    location: str = ""  # the position as a DBA reads it
    started: float = field(default_factory=time.monotonic)
    window: list[tuple[float, int, int]] = field(default_factory=list)  # (t, changes, bytes)

    def rates(self) -> tuple[int, int]:
        now = time.monotonic()
        self.window = [w for w in self.window if now - w[0] <= 10.0]
        if not self.window:
            return 0, 0
        span = max(now - self.window[0][0], 1.0)
        return int(sum(w[1] for w in self.window) / span), int(sum(w[2] for w in self.window) / span)


class CaptureFailed(Exception):  # noqa: N818 - wraps the capture thread's error for the apply side
    pass


class Cdc:
    def __init__(self, job_id: str, catalog: Catalog, selection: Selection, source: SourceEngine,
                 target: TargetEngine, start: Position, skip_until: dict[TableRef, Position],
                 settings: CdcSettings, stopping: Callable[[], bool], ddl_enabled: bool,
                 throttle: Throttle | None = None, conflict_policy: str = "overwrite",
                 loaded: Position | None = None) -> None:
        self.job_id = job_id
        self.catalog = catalog
        self.selection = selection
        self.source = source
        self.target = target
        self.start = start
        self.skip_until = skip_until
        self.settings = settings
        self.stopping = stopping
        self.ddl_enabled = ddl_enabled
        self.throttle = throttle
        # Changes up to ``loaded`` (where the full load ended) replay over rows the load copied:
        # "conflicts" there are expected and always resolved by overwriting; the task's
        # conflict_policy applies to what comes after.
        self.conflict_policy = conflict_policy
        self.loaded = loaded
        self.stats = CdcStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_transactions)
        self._stop_capture = threading.Event()
        # Capture pauses after handing over a DDL until apply has replayed it and refreshed the
        # catalog: the source decodes the following row images with the NEW table structure.
        self._ddl_applied = threading.Event()
        self._queued_changes = 0
        self._room = threading.Condition()
        self._writer: ThreadPoolExecutor | None = None
        # The write in flight and what to account once it has committed: (last txn, changes, bytes, txns).
        self._pending: tuple[Future[None], tuple[Transaction, int, int, int]] | None = None

    # --- capture --------------------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            stop = self._capture_should_stop
            for txn in self.source.stream(self.start, self.catalog, stop):
                if txn.ddl is not None:
                    self._ddl_applied.clear()
                with self._room:
                    while self._queued_changes > 0 and self._queued_changes + len(txn.events) > (
                            self.settings.queue_changes):
                        if stop():
                            return
                        self._room.wait(0.5)
                    self._queued_changes += len(txn.events)
                while True:
                    try:
                        self._queue.put(txn, timeout=0.5)
                        break
                    except queue.Full:
                        if stop():
                            return
                while txn.ddl is not None and not self._ddl_applied.wait(0.5):
                    if stop():
                        return
                if stop():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the apply side, which re-raises it
            self._put_final(exc)
            return
        self._put_final(_END)

    def _capture_should_stop(self) -> bool:
        return self._stop_capture.is_set() or self.stopping()

    def _put_final(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if self.stopping() or self._stop_capture.is_set():
                    return

    # --- apply ----------------------------------------------------------------------------------
    def _filter(self, txn: Transaction) -> Transaction:
        """Drop events of keyless tables already covered by their consistent snapshot."""
        if not self.skip_until or not txn.events:
            return txn
        # A whole transaction carries its own commit position: skip it if that is not after the
        # snapshot. A part of a big one carries the PREVIOUS commit's position, and snapshots sit
        # on commit boundaries: the part belongs to a later commit unless that position is
        # strictly before the snapshot.
        partial = bool(getattr(txn, "partial", False))
        keep = []
        for ev in txn.events:
            until = self.skip_until.get(ev.table)
            if until is not None:
                order = self.source.compare_positions(txn.position, until)
                if order < 0 or (order == 0 and not partial):
                    continue
            keep.append(ev)
        if len(keep) == len(txn.events):
            return txn
        return Transaction(keep, txn.position, txn.commit_ts, txn.ddl, txn.ddl_schema, txn.bytes)

    def _checkpoint(self, last: Transaction) -> dict[str, Any]:
        return {"position": last.position.to_dict(), "commit_ts": last.commit_ts}

    def _apply(self, batch: list[Transaction]) -> None:
        """Plan ``batch`` here, wait for the previous write, then hand this one to the writer thread."""
        if not batch:
            return
        dml = [self._filter(t) for t in batch if t.ddl is None]
        last = batch[-1]
        parts: list[tuple[list[Transaction], Transaction, str]] = []  # (txns, checkpoint's txn, conflict policy)
        if self.conflict_policy == "overwrite" or self.loaded is None:
            parts.append((dml, last, self.conflict_policy))
        else:
            loaded = self.loaded
            # Positions grow along the batch, so the replayed part is a prefix.
            replay = [t for t in dml if self.source.compare_positions(t.position, loaded) <= 0]
            rest = dml[len(replay):]
            if replay:
                parts.append((replay, replay[-1], "overwrite"))
            if rest or not replay:
                parts.append((rest, last, self.conflict_policy))
            if rest:
                self.loaded = None  # past the load: the policy applies from now on
        target = self.target
        plans = [target.plan(txns, self.catalog, self.selection) if isinstance(target, PlanningTarget) else None
                 for txns, _, _ in parts]
        changes = sum(len(t.events) for t in dml)
        nbytes = sum(t.bytes for t in dml)
        self._drain()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"apply-{self.job_id[:6]}")
        future = self._writer.submit(self._write, parts, plans)
        self._pending = (future, (last, changes, nbytes, len(dml)))

    def _write(self, parts: Sequence[tuple[list[Transaction], Transaction, str]], plans: Sequence[Any]) -> None:
        for (txns, upto, policy), plan in zip(parts, plans, strict=True):
            if plan is not None:
                assert isinstance(self.target, PlanningTarget)
                self.target.apply_plan(self.job_id, plan, self._checkpoint(upto), conflict_policy=policy)
            else:
                self.target.apply(self.job_id, txns, self.catalog, self.selection, self._checkpoint(upto),
                                  conflict_policy=policy)

    def _drain(self) -> None:
        """Wait for the write in flight (raising its error) and account it: only committed work is reported."""
        if self._pending is None:
            return
        future, done = self._pending
        self._pending = None
        future.result()
        self._account(*done)

    def _apply_ddl(self, txn: Transaction, refresh: Callable[[], None]) -> None:
        assert txn.ddl is not None
        self._drain()  # the DDL and the catalog refresh come after every row before them
        if self.ddl_enabled and self._ddl_selected(txn):
            self.target.apply_ddl(self.job_id, txn.ddl, txn.ddl_schema, self.selection, self._checkpoint(txn))
            refresh()
        else:
            self.target.apply(self.job_id, [], self.catalog, self.selection, self._checkpoint(txn))
            refresh()
        self._ddl_applied.set()
        self._account(txn, 0, 0, 1)

    def _ddl_selected(self, txn: Transaction) -> bool:
        return txn.ddl_schema is None or self.selection.includes_database(txn.ddl_schema)

    def _account(self, last: Transaction, changes: int, nbytes: int, txns: int) -> None:
        # The batch and its checkpoint are committed on the target: a source that holds its
        # history for us (a PostgreSQL slot pins WAL) may now release everything up to here.
        acknowledge = getattr(self.source, "acknowledge", None)
        if callable(acknowledge):
            acknowledge(last.position)
        s = self.stats
        s.applied_changes += changes
        s.applied_txns += txns
        s.applied_bytes += nbytes
        s.window.append((time.monotonic(), changes, nbytes))
        if last.commit_ts:
            s.last_commit_ts = last.commit_ts
        s.position = last.position.to_dict()
        s.location = last.position.location()
        if self.throttle is not None and nbytes:
            self.throttle.spend(nbytes)

    def _measure_delay(self, idle: bool) -> None:
        if idle and self._queue.empty():
            self.stats.delay_ms = 0
        elif self.stats.last_commit_ts:
            self.stats.delay_ms = max(0, int((time.time() - self.stats.last_commit_ts) * 1000))

    def run(self, report: Callable[[CdcStats], None], refresh_catalog: Callable[[], None]) -> None:
        """Runs until the task stops; raises the capture's or the target's error."""
        thread = threading.Thread(target=self._capture, name=f"capture-{self.job_id[:6]}", daemon=True)
        thread.start()
        last_report = 0.0
        reported_unknown = False  # the last report had no lag yet (nothing committed)
        try:
            while True:
                batch: list[Transaction] = []
                changes = nbytes = 0
                deadline = time.monotonic() + self.settings.batch_seconds
                idle = False
                while changes < self.settings.batch_changes and nbytes < self.settings.batch_bytes:
                    timeout = deadline - time.monotonic()
                    try:
                        item = self._queue.get(timeout=max(timeout, 0.001)) if timeout > 0 else (
                            self._queue.get_nowait())
                    except queue.Empty:
                        idle = not batch or all(not t.events for t in batch)
                        break
                    if item is _END:
                        self._apply(batch)
                        self._drain()
                        return
                    if isinstance(item, BaseException):
                        self._apply(batch)
                        self._drain()
                        raise item
                    txn: Transaction = item
                    with self._room:
                        self._queued_changes -= len(txn.events)
                        self._room.notify_all()
                    if txn.ddl is not None:
                        self._apply(batch)
                        batch, changes, nbytes = [], 0, 0
                        self._apply_ddl(txn, refresh_catalog)
                        continue
                    batch.append(txn)
                    changes += len(txn.events)
                    nbytes += txn.bytes
                self._apply(batch)
                if idle:
                    self._drain()  # nothing more right now: finish the write so acks and stats are current
                self._measure_delay(idle)
                now = time.monotonic()
                # A write commits one loop after it was planned: report the first known lag at once
                # instead of a report interval later (a target outage may come in between).
                if now - last_report >= self.settings.report_seconds or (
                        reported_unknown and self.stats.delay_ms >= 0):
                    report(self.stats)
                    last_report = now
                    reported_unknown = self.stats.delay_ms < 0
                if self.stopping():
                    self._drain()  # a stop still reports (raises) a failed last write
                    return
        finally:
            self._stop_capture.set()
            self._finish_writer()
            thread.join(timeout=10)

    def _finish_writer(self) -> None:
        """On the way out: the write in flight completes (it holds the target connection) before we return.

        Normal endings drained already; here the loop is leaving with an error of its own, which is
        the one raised."""
        try:
            self._drain()
        except Exception:  # noqa: BLE001 - the error being raised already says why the task ends
            log.warning("a batch write failed while the apply loop was ending", exc_info=True)
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
