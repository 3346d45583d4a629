"""Engine-neutral parts of the benchmark kit: timing, bounded waits, peak memory, result tables.

Why a module of its own: every benchmark (MySQL now, PostgreSQL later) needs the same honest
bookkeeping: medians over interleaved runs, the ratio OpenDRS/peer computed from the same run,
the peak RSS of the OpenDRS server sampled from /proc, and one JSON + one console table. The
pure helpers here (``median``, ``ratio``, ``rate``, ``summarise``) are unit-tested in
``tests/unit/bench``; nothing in this module talks to a database.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table


class BenchError(RuntimeError):
    """A benchmark step failed or timed out; the message says which step and why."""


class Skipped(Exception):  # noqa: N818 - control flow, not an error
    """A peer cannot run here (tool not installed, feature off); the message is the note printed."""


# --- pure helpers ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """Median of the measured values, ``None`` when nothing was measured."""
    return float(statistics.median(values)) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, ``None`` when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def rate(units: int, seconds: float | None) -> float | None:
    """Units per second (rows/s, changes/s)."""
    if seconds is None or seconds <= 0:
        return None
    return units / seconds


def fmt_rate(value: float | None, unit: str) -> str:
    """``107.3 k rows/s`` style, as BASELINES.md writes it."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.1f} k {unit}/s"
    return f"{value:.0f} {unit}/s"


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / (1024 * 1024):.0f} MiB"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """One row of /work/shared/BASELINES.md (measured on the reference machine at full size)."""

    seconds: float
    rate: float


@dataclass
class Result:
    """All runs of one (work, tool) pair; ``units`` is rows (full load) or row changes (CDC)."""

    work: str
    tool: str
    unit: str
    units: int
    is_opendrs: bool = False
    peer_of: str | None = None  # for OpenDRS rows: none; for peers: the OpenDRS row compared to
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    baseline: Baseline | None = None

    @property
    def median_s(self) -> float | None:
        return median(self.seconds)

    @property
    def rate(self) -> float | None:
        return rate(self.units, self.median_s)


def summarise(results: Iterable[Result]) -> list[dict[str, Any]]:
    """One dict per row: medians, rates and the time ratio OpenDRS/peer (below 1.00: OpenDRS is faster)."""
    items = list(results)
    opendrs = {r.work: r for r in items if r.is_opendrs}
    rows: list[dict[str, Any]] = []
    for r in items:
        ours = opendrs.get(r.work)
        rows.append({
            "work": r.work,
            "tool": r.tool,
            "runs": len(r.seconds),
            "seconds": r.seconds,
            "median_s": r.median_s,
            "unit": r.unit,
            "units": r.units,
            "rate_per_s": r.rate,
            "opendrs_over_peer": None if r.is_opendrs or ours is None else ratio(ours.median_s, r.median_s),
            "peak_rss_bytes": max(r.peak_rss) if r.peak_rss else None,
            "baseline_s": r.baseline.seconds if r.baseline else None,
            "baseline_rate_per_s": r.baseline.rate if r.baseline else None,
            "note": r.note,
            "extra": r.extra,
        })
    return rows


def results_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The console table: like BASELINES.md plus the ratio and the baseline beside each figure."""
    table = Table(title=title, show_lines=False)
    for name, justify in (("work", "left"), ("tool", "left"), ("median", "right"), ("runs", "right"),
                          ("rate", "right"), ("OpenDRS/peer time", "right"), ("peak RSS", "right"),
                          ("baseline median", "right"), ("baseline rate", "right"), ("note", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        unit = "rows" if row["unit"] == "rows" else "changes"
        table.add_row(
            row["work"], row["tool"], fmt_seconds(row["median_s"]), str(row["runs"]),
            fmt_rate(row["rate_per_s"], unit), fmt_ratio(row["opendrs_over_peer"]),
            fmt_bytes(row["peak_rss_bytes"]), fmt_seconds(row["baseline_s"]),
            fmt_rate(row["baseline_rate_per_s"], unit), row["note"][:60] + ("…" if len(row["note"]) > 60 else ""),
        )
    return table


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# --- waits and timing --------------------------------------------------------------------------


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2,
               on_poll: Callable[[], None] | None = None) -> float:
    """Poll ``check`` until true; returns the monotonic time it first held. Raises after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.monotonic()
        if on_poll is not None:
            on_poll()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- memory ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        out.extend(int(c) for c in text.split())
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants right now."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _status_kib(p, "VmRSS") * 1024
        todo.extend(_children(p))
    return total


def reset_peak_rss(pid: int) -> None:
    """Reset the kernel's high-water mark (VmHWM) of ``pid`` so it covers the next run only."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return  # not permitted: the sampler's own maximum still applies


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a daemon thread.

    ``peak`` is the larger of the sampled maximum and the kernel's VmHWM of the main process
    (which catches spikes between samples; reset it first with ``reset_peak_rss``).
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.sampled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        reset_peak_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sampled = max(self.sampled, tree_rss(self.pid))
            self._stop.wait(self.interval)

    @property
    def peak(self) -> int:
        return max(self.sampled, _status_kib(self.pid, "VmHWM") * 1024)


def environment() -> dict[str, Any]:
    """What the JSON records about the box: the figures are only comparable with this beside them."""
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load],
            "mem_total_kib": _meminfo("MemTotal"), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _meminfo(key: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def to_jsonable(results: Iterable[Result]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
