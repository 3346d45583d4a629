"""The CDC apply loop's double buffering: batch N+1 is planned while batch N is written, yet
batches commit one at a time, in order, and only committed work is accounted or acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from opendrs.pipeline.cdc import Cdc, CdcSettings
from opendrs.pipeline.model import Catalog, ChangeEvent, Column, Op, TableRef, TableSchema, Transaction
from opendrs.pipeline.selection import Selection

REF = TableRef("db", "t")
CATALOG = Catalog(tables=[TableSchema(REF, [Column("id", "int", "int"), Column("v", "int", "int")], key=("id",))])


@dataclass(frozen=True)
class Pos:
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n}

    def location(self) -> str:
        return str(self.n)


def txns(count: int) -> list[Transaction]:
    return [Transaction([ChangeEvent(Op.INSERT, REF, None, (i, i))], Pos(i), 0.0, bytes=10)
            for i in range(1, count + 1)]


class Source:
    """Yields the given transactions, waiting ``gate`` before each one after the first ``burst``."""

    def __init__(self, items: list[Transaction], burst: int, gate: threading.Event | None = None) -> None:
        self.items, self.burst, self.gate = items, burst, gate
        self.acked: list[int] = []

    def stream(self, start: Any, catalog: Catalog, stop: Callable[[], bool]) -> Iterator[Transaction]:
        for i, txn in enumerate(self.items):
            if i == self.burst and self.gate is not None:
                self.gate.wait(5)
            yield txn

    def compare_positions(self, a: Pos, b: Pos) -> int:
        return (a.n > b.n) - (a.n < b.n)

    def acknowledge(self, position: Pos) -> None:
        self.acked.append(position.n)


class PlanningTarget:
    """Records what happens when; the first write blocks until ``release`` is set."""

    def __init__(self, fail_on_write: int = 0) -> None:
        self.events: list[tuple[str, int]] = []
        self.release = threading.Event()
        self.writing = threading.Event()
        self.fail_on_write = fail_on_write
        self.committed: list[dict[str, Any]] = []

    def plan(self, batch: Sequence[Transaction], catalog: Catalog, selection: Selection) -> list[int]:
        self.events.append(("plan", batch[-1].position.to_dict()["n"]))
        return [t.position.to_dict()["n"] for t in batch]

    def apply_plan(self, job_id: str, plan: Any, checkpoint: dict[str, Any],
                   conflict_policy: str = "overwrite") -> None:
        self.events.append(("write", plan[-1]))
        if len(self.committed) + 1 == self.fail_on_write:
            raise RuntimeError("target went away")
        if not self.committed:
            self.writing.set()
            assert self.release.wait(5), "the first write was never released"
        self.committed.append(checkpoint)
        self.events.append(("commit", plan[-1]))


def make_cdc(source: Source, target: Any, batch_changes: int, stopping: Callable[[], bool]) -> Cdc:
    settings = CdcSettings(batch_changes=batch_changes, batch_seconds=0.05, report_seconds=0.0)
    return Cdc("job-1", CATALOG, Selection(), source, target, Pos(0), {}, settings,  # type: ignore[arg-type]
               stopping, ddl_enabled=True)


def test_next_batch_is_planned_while_the_previous_one_is_written() -> None:
    gate = threading.Event()
    source = Source(txns(6), burst=3, gate=gate)
    target = PlanningTarget()
    cdc = make_cdc(source, target, batch_changes=3, stopping=lambda: False)
    reports: list[int] = []

    def release_when_second_batch_is_planned() -> None:
        assert target.writing.wait(5)
        gate.set()  # the source delivers the second batch only once the first write is in flight
        for _ in range(500):
            if ("plan", 6) in target.events:
                break
            threading.Event().wait(0.01)
        target.release.set()

    helper = threading.Thread(target=release_when_second_batch_is_planned)
    helper.start()
    cdc.run(lambda stats: reports.append(stats.applied_changes), lambda: None)
    helper.join()

    assert target.events.index(("plan", 6)) < target.events.index(("commit", 3)), target.events
    # one write at a time, in order
    assert [e for e in target.events if e[0] != "plan"] == [("write", 3), ("commit", 3), ("write", 6), ("commit", 6)]
    assert [c["position"] for c in target.committed] == [{"n": 3}, {"n": 6}]
    assert cdc.stats.applied_changes == 6 and cdc.stats.position == {"n": 6}
    assert source.acked == [3, 6]
    assert all(r in (0, 3, 6) for r in reports)


def test_a_failed_write_ends_the_run_with_its_error_and_nothing_after_it_is_written() -> None:
    source = Source(txns(9), burst=9)
    target = PlanningTarget(fail_on_write=1)
    target.release.set()
    cdc = make_cdc(source, target, batch_changes=3, stopping=lambda: False)
    with pytest.raises(RuntimeError, match="target went away"):
        cdc.run(lambda stats: None, lambda: None)
    assert target.committed == []
    assert [e for e in target.events if e[0] == "write"] == [("write", 3)]
    assert cdc.stats.applied_changes == 0 and source.acked == []


class PlainTarget:
    """A target without ``plan``: the whole apply runs in the writer thread."""

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.threads: set[str] = set()

    def apply(self, job_id: str, batch: Sequence[Transaction], catalog: Catalog, selection: Selection,
              checkpoint: dict[str, Any], conflict_policy: str = "overwrite") -> None:
        self.threads.add(threading.current_thread().name)
        self.applied.extend(t.position.to_dict()["n"] for t in batch)


def test_a_target_without_a_plan_step_gets_every_transaction_once_in_order() -> None:
    source = Source(txns(50), burst=50)
    target = PlainTarget()
    cdc = make_cdc(source, target, batch_changes=7, stopping=lambda: False)
    cdc.run(lambda stats: None, lambda: None)
    assert target.applied == list(range(1, 51))
    assert cdc.stats.applied_changes == 50 and cdc.stats.position == {"n": 50}
    assert all(name.startswith("apply-") for name in target.threads)


def test_a_stop_still_reports_the_last_write_failing() -> None:
    source = Source(txns(3), burst=3)
    target = PlanningTarget(fail_on_write=1)
    target.release.set()
    planned = threading.Event()
    original = target.plan

    def plan(batch: Sequence[Transaction], catalog: Catalog, selection: Selection) -> list[int]:
        planned.set()
        return original(batch, catalog, selection)

    target.plan = plan  # type: ignore[method-assign]
    cdc = make_cdc(source, target, batch_changes=3, stopping=planned.is_set)
    with pytest.raises(RuntimeError, match="target went away"):
        cdc.run(lambda stats: None, lambda: None)
    assert cdc.stats.applied_changes == 0
