"""What every benchmark script shares: the run's state, progress lines, results and the report file.

The engine-specific scripts (``mysql_bench``, ``pg_bench``) subclass ``BenchRun`` with their
servers and tools and hand ``main`` their phases; this module knows no database.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from common import Baseline, Result, environment, results_table, summarise, write_json
from profiling import PySpy, find_py_spy, summarise_stacks, summary_lines
from rich.console import Console
from rich.status import Status

console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


class BenchRun:
    """State of one benchmark run: work dir, results, notes and errors, and progress output."""

    prefix = "bench"  # of the work dir and the results file
    title = "OpenDRS vs peers (medians; OpenDRS/peer time below 1.00x = OpenDRS faster)"
    spread = "expect run-to-run spread"
    baselines: dict[str, Baseline] = {}
    opendrs: Any  # the ``opendrs serve`` subprocess (opendrs_driver.OpenDrsServer), set by setup()

    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.started = time.monotonic()
        self.results: dict[str, Result] = {}
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.meta: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "env": environment()}
        work = args.workdir or Path(tempfile.mkdtemp(prefix=f"opendrs-bench-{self.prefix}-"))
        work.mkdir(parents=True, exist_ok=True)
        self.work = work.resolve()
        if not args.keep and args.workdir is None:
            stack.callback(shutil.rmtree, self.work, True)

    def log(self, text: str) -> None:
        console.log(f"[{time.monotonic() - self.started:6.0f}s] {text}")

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Callable[[str], None]]:
        """A spinner line showing ``title`` and the latest poll text; yields the update function."""
        began = time.monotonic()
        with Status(title, console=console) as status:
            def update(text: str) -> None:
                status.update(f"{title}  [dim]{time.monotonic() - began:5.0f}s  {text}[/dim]")
            yield update

    @contextlib.contextmanager
    def profiled(self, key: str, run: int) -> Iterator[None]:
        """With ``--profile``: py-spy samples the OpenDRS server during the block; the summary joins the result."""
        exe = find_py_spy(self.args.py_spy) if self.args.profile else None
        if exe is None:
            if self.args.profile and not self.notes.count("py-spy not found"):
                self.notes.append("py-spy not found")
                self.log("--profile: py-spy not found (pip install py-spy, then pass --py-spy PATH); not profiling")
            yield
            return
        raw = self.work / f"pyspy-{key}-run{run + 1}.txt"
        with PySpy(exe, self.opendrs.pid, raw):
            yield
        try:
            summary = summarise_stacks(raw.read_text(errors="replace"))
        except OSError as exc:
            self.log(f"py-spy wrote no profile ({exc}); see {raw.with_suffix('.log')}")
            return
        self.results[key].extra.setdefault("profile", []).append(summary)
        for line in summary_lines(summary):
            console.print(f"[dim]{line}[/dim]")

    def result(self, key: str, work: str, tool: str, unit: str, units: int, *, opendrs: bool = False) -> Result:
        if key not in self.results:
            self.results[key] = Result(work, tool, unit, units, is_opendrs=opendrs, baseline=self.baselines.get(key))
        return self.results[key]

    def wanted(self, tool: str) -> bool:
        return tool in self.args.tools

    def _failed(self, res: Result, title: str, exc: BaseException) -> None:
        res.note = f"FAILED: {str(exc)[:300]}"
        self.errors.append(f"{title}: {exc}")
        self.log(f"[red]{title} failed:[/red] {exc}")

    def verdicts(self) -> list[str]:
        """The issue's targets, checked against this run's medians."""
        return []

    def setup(self) -> None: ...

    def full_load(self) -> None: ...

    def cdc(self) -> None: ...

    def report(self, complete: bool) -> Path:
        rows = summarise(self.results.values())
        console.print(results_table(rows, self.title))
        verdicts = self.verdicts()
        for line in verdicts:
            console.print(line)
        console.print(f"[dim]2 shared vCPUs, other jobs running: {self.spread} "
                      f"(load average at start {self.meta['env']['loadavg_at_start']}).[/dim]")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        payload = {"complete": complete, "meta": self.meta, "rows": rows, "verdicts": verdicts, "errors": self.errors,
                   "notes": self.notes, "wall_seconds": round(time.monotonic() - self.started, 1)}
        opendrs = getattr(self, "opendrs", None)
        if self.errors and opendrs is not None:
            payload["opendrs_log_tail"] = opendrs.log_tail()
        path = write_json(self.args.results_dir / f"{self.prefix}-{stamp}.json", payload)
        console.print(f"results written to {path}")
        return path


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(make: Callable[[argparse.Namespace, contextlib.ExitStack], BenchRun], args: argparse.Namespace,
         aborting: tuple[type[BaseException], ...]) -> int:
    """Set up, run the phases the arguments ask for, and always report what was measured.

    ``aborting``: the errors (besides RuntimeError and OSError) that end the run with a report.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    errors: tuple[type[BaseException], ...] = (RuntimeError, OSError, *aborting)  # BenchError, ServerStartError...
    complete = False
    with contextlib.ExitStack() as stack:
        bench = make(args, stack)
        try:
            bench.setup()
            if not args.skip_full:
                bench.full_load()
            if not args.skip_cdc:
                bench.cdc()
            complete = True
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: stopping the servers; partial results follow[/yellow]")
        except errors as exc:
            bench.errors.append(f"aborted: {exc}")
            console.print(f"[red]benchmark aborted:[/red] {exc}")
        finally:
            if bench.results:
                bench.report(complete)
            bench.log("stopping servers")
    return 0 if complete and not bench.errors else 1
