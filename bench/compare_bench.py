"""Comparison benchmark: OpenDRS content comparison vs SELECT COUNT(*) and reladiff, in ONE run on the same data.

Run it with the project's venv::

    .venv/bin/python bench/compare_bench.py                 # 2,000,000 rows (issue 5's size)
    .venv/bin/python bench/compare_bench.py --rows 200000   # a quicker look

It starts two throwaway MariaDB servers (``mysql_env.BenchMariaDB``: the test launcher with a
realistic buffer pool), generates one sysbench-layout table ``benchcmp.sbtest1`` from a seeded
TSV and loads the same file into both (so the tables are identical), then measures:

* OpenDRS ``compare_tables(kind="contents")``: chunked MD5 checksums on both servers at once,
  bisection only where chunks differ (none here); verified to report zero differences;
* OpenDRS ``compare_tables(kind="lines")`` and a plain ``SELECT COUNT(*)`` on both sides (the
  floor: a comparison cannot beat counting);
* reladiff (PyPI; an experiment installed in the venv by hand, not a project dependency) with
  all columns compared (``extra_columns``), its default bisection settings, verified to report
  zero differences. If it cannot be imported or run, the row says exactly why.

MB/s is the source table's InnoDB data size (``DATA_LENGTH``) over the wall time. The results
go to the console and to ``bench/results/compare-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import BenchError, Result, Skipped, environment, results_table, summarise, write_json
from mysql_data import SBTEST_DDL, create_database, load_tsv, write_sbtest_tsv
from mysql_env import BenchMariaDB
from rich.console import Console

from opendrs.compare.api import compare_tables
from opendrs.compare.model import CompareScope
from opendrs.engines.base import EndpointConfig
from opendrs.pipeline.selection import Selection

BENCH_DIR = Path(__file__).resolve().parent
DB, TABLE = "benchcmp", "sbtest1"
WORK = "compare identical tables"
CLOUD_RATE_MB = 5.0  # the published content-comparison rate of the cloud service (issue 5)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000, help="rows of the compared table")
    p.add_argument("--runs", type=int, default=1, help="runs per tool (the table shows medians)")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="OpenDRS rows per checksummed chunk")
    p.add_argument("--buffer-pool", default="1G", help="innodb_buffer_pool_size of both servers")
    p.add_argument("--only", default="", help="comma list from: opendrs, opendrs-lines, count, reladiff")
    p.add_argument("--reladiff-threads", type=int, default=1, help="reladiff thread_count per table (its default 1)")
    p.add_argument("--corrupt", type=int, default=1000,
                   help="then change this many target rows and measure again (0: skip); each tool must find them all")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--keep", action="store_true", help="keep the work dir and the servers' data dirs")
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = p.parse_args(argv)
    tools = ("opendrs", "opendrs-lines", "count", "reladiff")
    args.tools = [t.strip() for t in args.only.split(",") if t.strip()] or list(tools)
    if unknown := set(args.tools) - set(tools):
        p.error(f"--only: unknown tools {sorted(unknown)}; choose from {tools}")
    return args


def endpoint(server: BenchMariaDB) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password, connect_timeout=30)


def data_bytes(server: BenchMariaDB) -> int:
    server.execute(f"ANALYZE TABLE {DB}.{TABLE}")
    rows = server.execute("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                          (DB, TABLE))
    return int(rows[0][0])


def warm(server: BenchMariaDB) -> None:
    """Read the table once so every tool starts from a warm buffer pool."""
    server.execute(f"SELECT SUM(LENGTH(c) + LENGTH(pad) + k) FROM {DB}.{TABLE}")


def run_opendrs(source: BenchMariaDB, target: BenchMariaDB, kind: str, chunk_rows: int,
                expect: int = 0) -> dict[str, Any]:
    scope = CompareScope("mysql", endpoint(source), endpoint(target),
                         Selection(everything=False, databases={DB: {TABLE}}), chunk_rows=chunk_rows)
    started = time.monotonic()
    (result,) = compare_tables(scope, kind, settle_seconds=0, max_diffs=max(expect, 1))
    seconds = time.monotonic() - started
    if result.diff_count != expect or (expect == 0 and result.status != "consistent"):
        raise BenchError(f"OpenDRS {kind} reported {result.diff_count} differences, expected {expect}: "
                         f"{result.status} {result.message}")
    return {"seconds": seconds, "chunks": result.chunks_total, "bytes_read": result.bytes_read,
            "rows": result.source_rows}


def corrupt(target: BenchMariaDB, rows: int, changes: int, seed: int) -> None:
    """Change ``changes`` distinct random rows on the target (``k = k + 1``): each is one "changed" row."""
    import random

    ids = random.Random(seed).sample(range(1, rows + 1), min(changes, rows))
    for i in range(0, len(ids), 1000):
        target.execute(f"UPDATE {DB}.{TABLE} SET k = k + 1 WHERE id IN ({', '.join(map(str, ids[i:i + 1000]))})")


def run_count(source: BenchMariaDB, target: BenchMariaDB) -> dict[str, Any]:
    started = time.monotonic()
    counts = [int(s.execute(f"SELECT COUNT(*) FROM {DB}.{TABLE}")[0][0]) for s in (source, target)]
    seconds = time.monotonic() - started
    if counts[0] != counts[1]:
        raise BenchError(f"counts differ: {counts}")
    return {"seconds": seconds, "counts": counts}


def reladiff_version() -> str:
    try:
        from importlib.metadata import version

        return version("reladiff")
    except Exception as exc:  # noqa: BLE001 - any failure is reported as the reason it was skipped
        raise Skipped(f"reladiff is not installed in this venv ({exc}); `.venv/bin/pip install reladiff "
                      "mysql-connector-python` to include it") from exc


def run_reladiff(source: BenchMariaDB, target: BenchMariaDB, threads: int, expect: int = 0) -> dict[str, Any]:
    ver = reladiff_version()
    try:
        import reladiff
    except Exception as exc:  # noqa: BLE001
        raise Skipped(f"reladiff {ver} cannot be imported: {type(exc).__name__}: {exc}") from exc
    extra = ("k", "c", "pad")
    try:
        # Fresh (not shared) connections: reladiff's cached ones keep a REPEATABLE READ snapshot open
        # (mysql-connector does not autocommit), so a second run would not see the target's changes.
        dbs = [reladiff.connect(f"mysql://{s.user}:{s.password}@{s.host}:{s.port}/{DB}", thread_count=threads,
                                shared=False) for s in (source, target)]
        t1, t2 = (reladiff.connect_to_table(db, TABLE, "id", extra_columns=extra) for db in dbs)
        started = time.monotonic()
        diffs = list(reladiff.diff_tables(t1, t2, extra_columns=extra, threaded=True, max_threadpool_size=threads))
        seconds = time.monotonic() - started
        for db in dbs:
            db.close()
    except Exception as exc:  # noqa: BLE001
        raise Skipped(f"reladiff {ver} failed: {type(exc).__name__}: {exc}") from exc
    changed = {key for _sign, (key, *_rest) in diffs}
    if len(changed) != expect:
        raise BenchError(f"reladiff reported {len(changed)} differing keys, expected {expect}, e.g. {diffs[:3]}")
    return {"seconds": seconds, "version": ver, "threads": threads}


@contextlib.contextmanager
def servers(work: Path, buffer_pool: str, keep: bool) -> Iterator[tuple[BenchMariaDB, BenchMariaDB]]:
    source = BenchMariaDB(buffer_pool=buffer_pool, file_dir=work, name="cmp-source")
    target = BenchMariaDB(buffer_pool=buffer_pool, file_dir=work, name="cmp-target")
    try:
        source.start()
        target.start()
        yield source, target
    finally:
        for s in (source, target):
            with contextlib.suppress(Exception):
                s.stop()
            if not keep:
                with contextlib.suppress(Exception):
                    s.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="opendrs-cmpbench-"))
    work.chmod(0o755)
    results: dict[str, Result] = {}
    notes: dict[str, Any] = {}
    try:
        with servers(work, args.buffer_pool, args.keep) as (source, target):
            tsv = work / "sbtest1.tsv"
            console.print(f"generating {args.rows:,} rows ...")
            tsv_bytes = write_sbtest_tsv(tsv, args.rows, args.seed)
            for s in (source, target):
                create_database(s, DB, [SBTEST_DDL.format(name=TABLE)])
                load_tsv(s, DB, TABLE, tsv)
            tsv.unlink()
            size = data_bytes(source)
            notes.update(rows=args.rows, tsv_bytes=tsv_bytes, data_bytes=size)
            console.print(f"loaded {args.rows:,} rows ({size / 2**20:.0f} MiB InnoDB data) into both servers")
            for s in (source, target):
                warm(s)
            steps: dict[str, Callable[[], dict[str, Any]]] = {
                "opendrs": lambda: run_opendrs(source, target, "contents", args.chunk_rows),
                "opendrs-lines": lambda: run_opendrs(source, target, "lines", args.chunk_rows),
                "count": lambda: run_count(source, target),
                "reladiff": lambda: run_reladiff(source, target, args.reladiff_threads),
            }
            labels = {"opendrs": "OpenDRS contents", "opendrs-lines": "OpenDRS lines",
                      "count": "SELECT COUNT(*) x2", "reladiff": "reladiff (hashdiff)"}
            for run in range(args.runs):
                order = args.tools[run % len(args.tools):] + args.tools[:run % len(args.tools)]
                for tool in order:
                    res = results.setdefault(tool, Result(WORK, labels[tool], "rows", args.rows,
                                                          is_opendrs=tool == "opendrs"))
                    console.print(f"run {run + 1}: {labels[tool]} ...")
                    try:
                        out = steps[tool]()
                    except Skipped as exc:
                        res.note = str(exc)
                        console.print(f"  skipped: {exc}")
                        continue
                    res.seconds.append(out.pop("seconds"))
                    res.extra.update(out)
                    mb_s = size / 2**20 / res.seconds[-1]
                    res.extra.setdefault("mb_per_s", []).append(round(mb_s, 1))
                    console.print(f"  {res.seconds[-1]:.2f} s, {args.rows / res.seconds[-1]:,.0f} rows/s, "
                                  f"{mb_s:.1f} MB/s")
            if args.corrupt:
                corrupt(target, args.rows, args.corrupt, args.seed)
                work_name = f"compare with {args.corrupt:,} changed rows"
                tools = [t for t in args.tools if t in ("opendrs", "reladiff")]
                diff_steps: dict[str, Callable[[], dict[str, Any]]] = {
                    "opendrs": lambda: run_opendrs(source, target, "contents", args.chunk_rows, args.corrupt),
                    "reladiff": lambda: run_reladiff(source, target, args.reladiff_threads, args.corrupt),
                }
                for tool in tools:
                    res = results.setdefault(f"{tool}-diff", Result(work_name, labels[tool], "rows", args.rows,
                                                                   is_opendrs=tool == "opendrs"))
                    console.print(f"{work_name}: {labels[tool]} ...")
                    try:
                        out = diff_steps[tool]()
                    except Skipped as exc:
                        res.note = str(exc)
                        continue
                    res.seconds.append(out.pop("seconds"))
                    res.extra.update(out)
                    console.print(f"  {res.seconds[-1]:.2f} s, all {args.corrupt:,} changed rows found")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = summarise(results.values())
    for row in rows:
        median = row["median_s"]
        row["mb_per_s"] = None if not median else size / 2**20 / median
    ours = results.get("opendrs")
    peer = results.get("reladiff")
    verdict = {
        "opendrs_mb_per_s": None if not ours or not ours.median_s else size / 2**20 / ours.median_s,
        "target_mb_per_s": CLOUD_RATE_MB * 10,
        "opendrs_over_reladiff_time": None if not (ours and peer and ours.median_s and peer.median_s)
        else ours.median_s / peer.median_s,
    }
    console.print(results_table(rows, f"Comparison of two identical {args.rows:,}-row tables (MariaDB)"))
    console.print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in verdict.items()})
    settings = {k: v for k, v in vars(args).items() if k != "results_dir"}
    path = write_json(args.results_dir / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json",
                      {"environment": environment(), "args": settings, "dataset": notes, "results": rows,
                       "verdict": verdict})
    console.print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
