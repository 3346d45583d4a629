"""Pure helpers of the benchmark kit (bench/common.py, bench/profiling.py): medians, ratios, table rows.

The bench modules are scripts in ``bench/``, not a package, so they are loaded by file path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


common = _load("common")
profiling = _load("profiling")


def test_median_ratio_rate() -> None:
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median([1.0, 4.0]) == 2.5
    assert common.median([]) is None
    assert common.ratio(10.0, 4.0) == 2.5
    assert common.ratio(None, 4.0) is None
    assert common.ratio(1.0, 0.0) is None
    assert common.rate(1000, 4.0) == 250.0
    assert common.rate(1000, None) is None


@pytest.mark.parametrize(("value", "unit", "text"), [
    (107_300.0, "rows", "107.3 k rows/s"), (950.0, "changes", "950 changes/s"), (None, "rows", "-")])
def test_fmt_rate(value: float | None, unit: str, text: str) -> None:
    assert common.fmt_rate(value, unit) == text


def test_summarise_compares_each_peer_with_opendrs_of_the_same_work() -> None:
    ours = common.Result("full", "OpenDRS", "rows", 1000, is_opendrs=True, seconds=[10.0, 30.0, 20.0],
                         peak_rss=[100, 300])
    peer = common.Result("full", "myloader", "rows", 1000, seconds=[8.0], baseline=common.Baseline(20.6, 107_000))
    other = common.Result("cdc", "replica", "changes", 500, seconds=[5.0])
    rows = {r["tool"]: r for r in common.summarise([ours, peer, other])}
    assert rows["OpenDRS"]["median_s"] == 20.0
    assert rows["OpenDRS"]["rate_per_s"] == 50.0
    assert rows["OpenDRS"]["peak_rss_bytes"] == 300
    assert rows["OpenDRS"]["opendrs_over_peer"] is None
    assert rows["myloader"]["opendrs_over_peer"] == 2.5
    assert rows["myloader"]["baseline_s"] == 20.6
    assert rows["replica"]["opendrs_over_peer"] is None  # no OpenDRS row for that work


def test_results_table_renders_every_row() -> None:
    rows = common.summarise([common.Result("full", "OpenDRS", "rows", 10, is_opendrs=True, seconds=[1.0])])
    table = common.results_table(rows, "t")
    assert table.row_count == 1


def test_summarise_stacks_counts_threads_self_and_opendrs_frames() -> None:
    job = 'process 1:"python";thread (7): job-1;run (opendrs/pipeline/cdc.py:10)'
    raw = "\n".join([
        f"{job};decode (pymysqlreplication/row_event.py:5) 30",
        f"{job};apply (opendrs/engines/mysql/target.py:9) 10",
        'process 1:"python";thread (8): MainThread;select (selectors.py:1) 10',
        "garbage line",
    ])
    summary = profiling.summarise_stacks(raw)
    assert summary["samples"] == 50
    assert summary["threads"][0] == {"frame": "thread (7): job-1", "samples": 40, "share": 0.8}
    assert summary["self"][0]["frame"] == "decode (pymysqlreplication/row_event.py)"
    inclusive = {row["frame"]: row["samples"] for row in summary["opendrs_inclusive"]}
    assert inclusive == {"run (opendrs/pipeline/cdc.py)": 40, "apply (opendrs/engines/mysql/target.py)": 10}
    assert profiling.summary_lines(summary)[0] == "py-spy: 50 samples"
