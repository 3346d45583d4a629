"""Optional py-spy sampling of the OpenDRS server while a measured step runs (``--profile``).

Why: the issue asks to measure where the time goes before choosing a remedy (a faster decoder,
a compiled helper, more threads). py-spy samples the running ``opendrs serve`` from outside
(no code change, ``--nonblocking`` so the process is never paused) and writes collapsed
stacks; ``summarise_stacks`` turns them into the few lines worth reading: the busiest threads,
the functions where samples end (self time) and the OpenDRS functions on the stack
(inclusive time). py-spy is not a project dependency: install it anywhere
(``pip install py-spy``) and pass its path, or put it on PATH.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def find_py_spy(given: str | None) -> str | None:
    if given:
        return given if Path(given).exists() else shutil.which(given)
    return shutil.which("py-spy")


class PySpy:
    """``py-spy record --pid PID --format raw`` for the duration of a ``with`` block."""

    def __init__(self, exe: str, pid: int, output: Path, rate: int = 100) -> None:
        self.exe, self.pid, self.output, self.rate = exe, pid, output, rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = output.with_suffix(".log")

    def __enter__(self) -> PySpy:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [self.exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw",
                 "--threads", "--nonblocking", "--output", str(self.output)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def __exit__(self, *_exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _frame_name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    short = path.split("site-packages/")[-1].split("/src/")[-1]
    return f"{m.group('func')} ({short})"


def summarise_stacks(text: str, top: int = 12) -> dict[str, Any]:
    """Collapsed stacks -> total samples, samples per thread, top self and top inclusive OpenDRS frames."""
    total = 0
    threads: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        count = int(m.group("count"))
        frames = m.group("stack").split(";")
        total += count
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        threads[thread] += count
        code = [f for f in frames if not f.startswith(("process ", "thread "))]
        if code:
            leaf[_frame_name(code[-1])] += count
        for name in {_frame_name(f) for f in code if "opendrs/" in f}:
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": k, "samples": v, "share": round(v / total, 3) if total else 0}
                for k, v in counter.most_common(top)]

    return {"samples": total, "threads": share(threads), "self": share(leaf), "opendrs_inclusive": share(inclusive)}


def summary_lines(summary: dict[str, Any], top: int = 8) -> list[str]:
    """A few printable lines of ``summarise_stacks`` output."""
    lines = [f"py-spy: {summary['samples']} samples"]
    for key, title in (("threads", "busiest threads"), ("self", "self time"),
                       ("opendrs_inclusive", "OpenDRS functions on stack")):
        lines.append(f"  {title}:")
        lines.extend(f"    {row['share'] * 100:5.1f}%  {row['frame']}" for row in summary[key][:top])
    return lines
