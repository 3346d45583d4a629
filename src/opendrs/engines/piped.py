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
    """Batches of at least ``batch_rows`` whole lines (or ``max_bytes``) from ``proc``'s stdout.

    A batch ends at a pipe read, so it may hold more rows than asked. ``key_of(line)`` decodes
    the resume key of a batch's last line. A client that exits non-zero or leaves a partial
    line raises ``fail(stderr text)``. The client is killed when the reader is abandoned
    half-way (pause, stop, a failed write), instead of draining the table.
    """
    assert isinstance(proc.stdout, io.BufferedReader) and proc.stderr is not None
    _widen(proc.stdout)
    parts: list[bytes] = []
    rows = size = 0
    try:
        while True:
            block = proc.stdout.read1(READ_SIZE)
            if not block:
                break
            parts.append(block)
            size += len(block)
            rows += block.count(b"\n")
            if rows and (rows >= batch_rows or size >= max_bytes):
                batch, parts = _cut(parts)
                size = sum(len(p) for p in parts)
                yield EncodedBatch(format=fmt, data=batch, rows=rows, last_key=key_of(last_line(batch)))
                rows = 0
        if rows and proc.wait() == 0:
            batch, parts = _cut(parts)
            yield EncodedBatch(format=fmt, data=batch, rows=rows, last_key=key_of(last_line(batch)))
        if proc.wait() != 0 or parts:
            raise fail(proc.stderr.read().decode("utf-8", "replace").strip() or "the client's output ended mid-row")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _cut(parts: list[bytes]) -> tuple[bytes, list[bytes]]:
    """Whole lines of ``parts`` joined, and what follows the last newline (no line ends in it)."""
    for i in range(len(parts) - 1, -1, -1):
        cut = parts[i].rfind(b"\n") + 1
        if cut:
            head, rest = parts[i][:cut], parts[i][cut:]
            return b"".join([*parts[:i], head]), ([rest] if rest else []) + parts[i + 1:]
    raise AssertionError("_cut needs at least one newline")


__all__ = ["MAX_BATCH_BYTES", "READ_SIZE", "last_line", "read_line_batches"]
