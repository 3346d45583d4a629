"""Cutting a client's output into batches of whole lines (engines.piped)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opendrs.engines.piped import _Lines, last_line, read_line_batches


def _proc(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _key(line: bytes) -> tuple[int]:
    return (int(line.split(b"\t")[0]),)


def test_last_line_and_cut_keep_whole_lines() -> None:
    assert last_line(b"1\ta\n2\tb\n") == b"2\tb"
    assert last_line(b"only\n") == b"only"
    assert last_line(b"\n") == b""
    lines = _Lines(2, 1 << 20)
    assert list(lines.feed(b"1\n2")) == [] and list(lines.feed(b"2\n3\n4")) == [(b"1\n22\n", 2)]
    assert list(lines.feed(b"4\n5\n6\n7\n")) == [(b"3\n44\n", 2), (b"5\n6\n", 2)]
    assert lines.take() == (b"7\n", 1) and not lines.pending
    big = _Lines(1000, 10)  # the bytes bound ends a batch early
    assert list(big.feed(b"0123456789\nab\n")) == [(b"0123456789\nab\n", 2)]


def test_every_line_arrives_once_in_order_with_the_last_key() -> None:
    script = "import sys\nfor i in range(50000): sys.stdout.write(f'{i}\\tv{i}\\\\tx\\n')"
    batches = list(read_line_batches(_proc(script), "f", 1000, _key, RuntimeError))
    data = b"".join(b.data for b in batches)
    assert data == b"".join(f"{i}\tv{i}\\tx\n".encode() for i in range(50000))
    assert sum(b.rows for b in batches) == 50000
    assert [b.rows for b in batches] == [1000] * 50  # the task's rows per batch, exactly
    for b in batches:
        assert b.data.endswith(b"\n") and b.rows == b.data.count(b"\n")
        assert b.last_key == _key(last_line(b.data))
    assert batches[-1].last_key == (49999,)


def test_a_batch_is_bounded_by_bytes_when_rows_are_large() -> None:
    script = "import sys\nfor i in range(20): sys.stdout.write(f'{i}\\t' + 'x' * 300000 + '\\n')"
    batches = list(read_line_batches(_proc(script), "f", 10**6, _key, RuntimeError, max_bytes=1 << 20))
    assert len(batches) > 3 and sum(b.rows for b in batches) == 20


def test_a_failing_client_or_a_cut_line_raises_with_its_stderr() -> None:
    with pytest.raises(RuntimeError, match="ERROR 1146"):
        list(read_line_batches(_proc("import sys\nprint('1\\ta')\nsys.stderr.write('ERROR 1146 gone')\nsys.exit(1)"),
                               "f", 1, _key, RuntimeError))
    with pytest.raises(RuntimeError, match="mid-row"):
        list(read_line_batches(_proc("import sys\nsys.stdout.write('1\\ta\\n2\\tb')"), "f", 10, _key, RuntimeError))


def test_abandoning_the_reader_kills_the_client() -> None:
    proc = _proc("import sys\nwhile True: sys.stdout.write('1\\t' + 'x' * 1000 + '\\n')")
    reader = read_line_batches(proc, "f", 10, _key, RuntimeError)
    assert next(reader).rows >= 10
    reader.close()
    assert proc.returncode is not None and proc.returncode != 0
