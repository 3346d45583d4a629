"""Batches of newline-terminated rows read from a database's own command-line client.

Why: for the same-engine full-load fast paths the source server already writes each row as
one line of the target's bulk format (PostgreSQL COPY text, MySQL ``LOAD DATA`` lines). A
Python driver hands rows over one protocol message at a time, and that per-row Python work
was most of the load's CPU; the C client (``psql``, ``mariadb``) reads the protocol and
Python only takes large pipe reads, cuts them at line ends and counts lines. Shared by the
engines so both cut, bound and clean up the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import subprocess
from collections.abc import Callable, Iterator
from typing import IO, Final

from opendrs.pipeline.model import EncodedBatch, Row

READ_SIZE: Final = 1 << 20
PIPE_SIZE: Final = 1 << 20
# One batch holds at most this many bytes even when rows are few and large (bounded memory).
MAX_BATCH_BYTES: Final = 16 * 1024 * 1024


def last_line(data: bytes) -> bytes:
    """The last (newline-terminated) line of ``data``, without its newline (no copy of ``data``)."""
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    return data[data.rfind(b"\n", 0, end) + 1:end]


def _widen(pipe: IO[bytes]) -> None:
    """Ask for a 1 MiB pipe: the client writes in small stdio chunks, and a deeper pipe lets
    one read take many of them (20,000 reads per 170 MB became a few hundred)."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)


def read_line_batches(proc: subprocess.Popen[bytes], fmt: str, batch_rows: int, key_of: Callable[[bytes], Row],
                      fail: Callable[[str], Exception], *, max_bytes: int = MAX_BATCH_BYTES) -> Iterator[EncodedBatch]:
    """Batches of ``batch_rows`` whole lines (fewer when they pass about ``max_bytes``) from ``proc``'s stdout.

    ``batch_rows`` is kept exactly: it is the task's rows-per-target-transaction setting.
    ``key_of(line)`` decodes the resume key of a batch's last line. A client that exits
    non-zero or leaves a partial line raises ``fail(stderr text)``. The client is killed when
    the reader is abandoned half-way (pause, stop, a failed write), instead of draining the table.
    """
    assert isinstance(proc.stdout, io.BufferedReader) and proc.stderr is not None
    _widen(proc.stdout)
    lines = _Lines(batch_rows, max_bytes)
    try:
        while True:
            block = proc.stdout.read1(READ_SIZE)
            if not block:
                break
            for data, rows in lines.feed(block):
                yield EncodedBatch(format=fmt, data=data, rows=rows, last_key=key_of(last_line(data)))
        ok = proc.wait() == 0
        if ok and lines.count:
            data, rows = lines.take()
            yield EncodedBatch(format=fmt, data=data, rows=rows, last_key=key_of(last_line(data)))
        if not ok or lines.pending:
            raise fail(proc.stderr.read().decode("utf-8", "replace").strip() or "the client's output ended mid-row")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


class _Lines:
    """Cuts a byte stream into batches of whole lines: newlines are counted in C (``bytes.count``),
    and looked for one by one only inside the block where a batch ends."""

    def __init__(self, batch_rows: int, max_bytes: int) -> None:
        self.batch_rows, self.max_bytes = max(1, batch_rows), max_bytes
        self.buf = b""
        self.pos = 0  # scanned up to here: the end of the last whole line seen
        self.count = 0  # whole lines in buf[:pos]

    @property
    def pending(self) -> bool:
        return bool(self.buf)

    def feed(self, block: bytes) -> Iterator[tuple[bytes, int]]:
        self.buf = self.buf + block if self.buf else block
        while True:
            need = self.batch_rows - self.count
            found = self.buf.count(b"\n", self.pos)
            if found < need:  # not enough for a batch: remember the scan, unless the bytes bound is reached
                if found:
                    self.count += found
                    self.pos = self.buf.rfind(b"\n") + 1
                if self.count and self.pos >= self.max_bytes:
                    yield self.take()
                return
            find, pos = self.buf.find, self.pos
            for _ in range(need):
                pos = find(b"\n", pos) + 1
            self.pos, self.count = pos, self.batch_rows
            yield self.take()

    def take(self) -> tuple[bytes, int]:
        data, rows = self.buf[:self.pos], self.count
        self.buf, self.pos, self.count = self.buf[self.pos:], 0, 0
        return data, rows


__all__ = ["MAX_BATCH_BYTES", "READ_SIZE", "last_line", "read_line_batches"]
