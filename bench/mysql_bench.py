"""MySQL benchmark: OpenDRS full load and CDC against the native tools, in ONE run on the same data.

Run it with the project's venv (see bench/README.md)::

    .venv/bin/python bench/mysql_bench.py --quick
    .venv/bin/python bench/mysql_bench.py --rows 2000000 --wide-rows 200000 --cdc-changes 500000 --runs 3

It starts throwaway MariaDB servers (source, target, and a replica for the native CDC peer)
and an ``opendrs serve``, generates the BASELINES.md dataset, then measures, interleaving the
tools and rotating their order on every run:

* full load of ``bench`` into a fresh target database: OpenDRS FULL_TRANS, mysqldump | mariadb,
  mydumper + myloader, SELECT INTO OUTFILE + LOAD DATA INFILE; each copy verified by row count
  and CHECKSUM TABLE against the source;
* CDC catch-up on one binlog stream written before anything starts to read it: OpenDRS
  INCR_TRANS from the recorded ``file_and_position`` vs a native replica (1 SQL thread, then
  ``slave_parallel_threads=2``); each ends when the stream's marker row is on the target and
  the checksum equals the source's.

It prints a table of medians, rates, the time ratio OpenDRS/peer and OpenDRS's peak RSS, and
writes the same as JSON to ``bench/results/mysql-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pymysql.err
from benchrun import BenchRun
from benchrun import main as run_main
from common import Baseline, BenchError, Skipped
from mysql_data import (
    CDC_DB,
    FULL_DB,
    build_full_dataset,
    marker_present,
    reset_cdc_copy,
    write_changes,
    write_marker,
    write_sbtest_tsv,
)
from mysql_env import BenchMariaDB, checksums, drop_database, master_position, settle, verify_equal
from mysql_peers import mydumper_copy, mysqldump_copy, outfile_copy, replica_catch_up, stop_replica
from opendrs_driver import OpenDrsServer, full_load, incremental

BENCH_DIR = Path(__file__).resolve().parent
FULL = "MariaDB full copy"
CDC = "MariaDB CDC apply"
FULL_TOOLS = ("opendrs", "mysqldump", "mydumper", "mydumper-binlog", "outfile")
CDC_TOOLS = ("opendrs-cdc", "replica1", "replica2")
# BASELINES.md, measured on the reference machine at the full size (2.2 M rows / 500 k changes).
BASELINES = {
    "mysqldump": Baseline(44.3, 50_000), "mydumper": Baseline(20.6, 107_000), "outfile": Baseline(29.7, 74_000),
    "replica1": Baseline(36.6, 13_700), "replica2": Baseline(23.1, 21_600),
}
CDC_TARGET_RATE = 20_000  # changes/s: the bar (largest cloud DRS instance)



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000, help="rows of sbtest1")
    p.add_argument("--wide-rows", type=int, default=200_000, help="rows of wide1")
    p.add_argument("--cdc-changes", type=int, default=500_000, help="row changes in the CDC stream")
    p.add_argument("--cdc-table-rows", type=int, default=100_000, help="rows of the CDC table before the stream")
    p.add_argument("--runs", type=int, default=3, help="runs per tool (the table shows medians)")
    p.add_argument("--quick", action="store_true", help="50,000 + 5,000 rows, 20,000 changes, 1 run")
    p.add_argument("--only", default="", help=f"comma list of tools to run, from {FULL_TOOLS + CDC_TOOLS}")
    p.add_argument("--skip-full", action="store_true", help="CDC part only")
    p.add_argument("--skip-cdc", action="store_true", help="full-load part only")
    p.add_argument("--buffer-pool", default="1G", help="innodb_buffer_pool_size of source and target")
    p.add_argument("--parallel-tables", type=int, default=2, help="OpenDRS tuning parameter parallel_tables")
    p.add_argument("--threads", type=int, default=2, help="threads of mydumper/myloader and the OUTFILE copy")
    p.add_argument("--mydumper-rows", type=int, default=250_000, help="mydumper --rows (chunk size)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds any one measured step may take")
    p.add_argument("--profile", action="store_true", help="sample OpenDRS with py-spy during its runs")
    p.add_argument("--py-spy", default=None, help="path of the py-spy binary (default: from PATH)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--workdir", type=Path, default=None, help="where dumps and TSV files go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work dir and the servers' data dirs")
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.wide_rows, args.cdc_changes, args.cdc_table_rows, args.runs = 50_000, 5_000, 20_000, 20_000, 1
        args.buffer_pool = "256M"
    known = set(FULL_TOOLS + CDC_TOOLS)
    args.tools = [t.strip() for t in args.only.split(",") if t.strip()] or list(FULL_TOOLS + CDC_TOOLS)
    if unknown := set(args.tools) - known:
        p.error(f"--only: unknown tools {sorted(unknown)}; choose from {sorted(known)}")
    return args


def rotate(items: list[str], run: int) -> list[str]:
    """Run r starts with tool r: no tool always gets the coldest (or warmest) caches."""
    if not items:
        return items
    k = run % len(items)
    return items[k:] + items[:k]


class Bench(BenchRun):
    """One MariaDB benchmark run: servers, tools and the issue's targets."""

    prefix = "mysql"
    spread = "expect run-to-run spread up to ~1.6x"
    baselines = BASELINES

    def server(self, name: str, server_id: int, buffer_pool: str) -> BenchMariaDB:
        srv = BenchMariaDB(name=f"bench-{name}", server_id=server_id, buffer_pool=buffer_pool, file_dir=self.work,
                           start_timeout=180)
        self.stack.callback(srv.stop if self.args.keep else srv.cleanup)
        srv.start()
        self.log(f"{name}: MariaDB on port {srv.port} (buffer pool {buffer_pool}, data {srv.tmpdir})")
        return srv

    # --- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        a = self.args
        self.log(f"work dir {self.work}; load average {self.meta['env']['loadavg_at_start']} "
                 f"on {self.meta['env']['cpus']} CPUs (other jobs on this box add noise)")
        self.source = self.server("source", 1, a.buffer_pool)
        self.target = self.server("target", 2, a.buffer_pool)
        self.replica: BenchMariaDB | None = None
        if not a.skip_cdc and (self.wanted("replica1") or self.wanted("replica2")):
            self.replica = self.server("replica", 3, "512M" if not a.quick else "128M")
        self.opendrs = OpenDrsServer(self.work)
        self.stack.callback(self.opendrs.stop)
        self.opendrs.start()
        self.log(f"opendrs serve on port {self.opendrs.port} (pid {self.opendrs.pid}, log {self.opendrs.log_path})")

    # --- full load -----------------------------------------------------------------------------
    def full_load(self) -> None:
        a = self.args
        with self.step("generating the dataset") as update:
            began = time.monotonic()
            dataset = build_full_dataset(self.source, self.work, a.rows, a.wide_rows, a.seed,
                                         lambda what, n, total: update(f"{what} {n:,}/{total:,}"))
            want = checksums(self.source, FULL_DB)
        self.meta["dataset"] = {"sbtest1": a.rows, "wide1": a.wide_rows, "tsv_bytes": dataset.tsv_bytes}
        self.log(f"dataset: {dataset.rows:,} rows, {dataset.tsv_bytes / 1e6:.0f} MB as TSV, "
                 f"generated in {time.monotonic() - began:.0f}s; source checksums {want}")
        tools = [t for t in FULL_TOOLS if self.wanted(t)]
        labels = {"opendrs": f"OpenDRS FULL_TRANS, parallel_tables={a.parallel_tables}",
                  "mysqldump": "mysqldump --single-transaction | mariadb",
                  "mydumper": f"mydumper + myloader, {a.threads} threads",
                  "mydumper-binlog": f"mydumper + myloader --enable-binlog, {a.threads} threads",
                  "outfile": "SELECT INTO OUTFILE + LOAD DATA INFILE"}
        skipped: dict[str, str] = {}
        for run in range(a.runs):
            for tool in rotate(tools, run):
                res = self.result(tool, FULL, labels[tool], "rows", dataset.rows, opendrs=tool == "opendrs")
                if tool in skipped:
                    continue
                drop_database(self.target, FULL_DB)
                if tool != "opendrs":
                    self.target.execute(f"CREATE DATABASE `{FULL_DB}` CHARACTER SET utf8mb4")
                title = f"full load run {run + 1}/{a.runs}: {labels[tool]}"
                with self.step(f"{title}: flushing dirty pages first"):
                    self._settle()
                try:
                    with self.step(title) as update:
                        with self.profiled(tool, run) if tool == "opendrs" else contextlib.nullcontext():
                            seconds, peak, info = self._full_once(tool, update)
                        update("verifying count + CHECKSUM TABLE")
                        diff = verify_equal(want, self.target, FULL_DB)
                except Skipped as exc:
                    skipped[tool] = res.note = f"skipped: {exc}"
                    self.log(f"{labels[tool]}: {res.note}")
                    continue
                except (BenchError, pymysql.err.MySQLError, OSError) as exc:
                    self._failed(res, title, exc)
                    continue
                finally:
                    drop_database(self.target, FULL_DB)
                if diff:
                    self._failed(res, title, BenchError(f"target differs from the source: {diff}"))
                    continue
                res.seconds.append(seconds)
                if peak:
                    res.peak_rss.append(peak)
                if info:
                    res.extra.setdefault("runs", []).append(info)
                rss = f", peak RSS {peak / 2**20:.0f} MiB" if peak else ""
                self.log(f"{title}: {seconds:.1f}s = {dataset.rows / seconds:,.0f} rows/s{rss}, verified {info or ''}")

    def _full_once(self, tool: str, update: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
        """One copy by ``tool``: (seconds, peak RSS or 0, details worth keeping)."""
        a = self.args
        if tool == "opendrs":
            return full_load(self.opendrs, self.source, self.target, FULL_DB, parallel_tables=a.parallel_tables,
                             timeout=a.timeout, on_poll=update)
        began = time.monotonic()
        update("running")
        info: dict[str, Any] = {}
        if tool == "mysqldump":
            mysqldump_copy(self.source, self.target, FULL_DB, timeout=a.timeout, logs=self.work / "logs")
        elif tool in ("mydumper", "mydumper-binlog"):
            info = mydumper_copy(self.source, self.target, FULL_DB, threads=a.threads, chunk_rows=a.mydumper_rows,
                                 workdir=self.work, timeout=a.timeout, logs=self.work / "logs",
                                 enable_binlog=tool == "mydumper-binlog")
        else:
            outfile_copy(self.source, self.target, FULL_DB, threads=a.threads, workdir=self.work)
        return time.monotonic() - began, 0, dict(info)

    def _settle(self, *servers: BenchMariaDB) -> None:
        """Flush dirty pages on source and target (and ``servers``) so the next run starts from a quiet box."""
        for server in (self.source, self.target, *servers):
            left = settle(server)
            if left > 1000:
                self.notes.append(f"{server.name}: {left} dirty pages left after 90 s of flushing")

    def _reset_cdc_side(self, tool: str, snapshot: Path) -> None:
        """Stop the replica, load the pre-stream copy where ``tool`` applies, then let InnoDB flush."""
        if tool == "opendrs-cdc":
            reset_cdc_copy(self.target, snapshot)
            self._settle()
            return
        assert self.replica is not None
        stop_replica(self.replica)
        reset_cdc_copy(self.replica, snapshot)
        self._settle(self.replica)

    # --- CDC -----------------------------------------------------------------------------------
    def cdc(self) -> None:
        a = self.args
        snapshot = self.work / "cdc_snapshot.tsv"
        with self.step("preparing the CDC table and stream") as update:
            write_sbtest_tsv(snapshot, a.cdc_table_rows, a.seed + 7)
            reset_cdc_copy(self.source, snapshot)
            start = master_position(self.source)
            began = time.monotonic()
            written = write_changes(self.source, a.cdc_table_rows, a.cdc_changes, a.seed + 11,
                                    lambda n: update(f"writing changes {n:,}/{a.cdc_changes:,}"))
            write_marker(self.source)
            wrote_s = time.monotonic() - began
            end = master_position(self.source)
            want = checksums(self.source, CDC_DB)
        self.meta["cdc"] = {"start": f"{start[0]}:{start[1]}", "end": f"{end[0]}:{end[1]}", "changes": written,
                            "source_write_seconds": round(wrote_s, 1), "table_rows": a.cdc_table_rows}
        self.log(f"CDC stream: {written:,} row changes in {written // 10:,} transactions written in {wrote_s:.1f}s "
                 f"({written / wrote_s:,.0f}/s) from {start[0]}:{start[1]} to {end[0]}:{end[1]}")
        tools = [t for t in CDC_TOOLS if self.wanted(t) and (t == "opendrs-cdc" or self.replica is not None)]
        labels = {"opendrs-cdc": "OpenDRS INCR_TRANS catch-up", "replica1": "native replica, 1 SQL thread, catch-up",
                  "replica2": "native replica, 2 parallel threads"}
        for run in range(a.runs):
            for tool in rotate(tools, run):
                res = self.result(tool, CDC, labels[tool], "changes", written, opendrs=tool == "opendrs-cdc")
                title = f"CDC run {run + 1}/{a.runs}: {labels[tool]}"
                try:
                    with self.step(f"{title}: resetting the copy, flushing dirty pages"):
                        self._reset_cdc_side(tool, snapshot)
                    with self.step(title) as update, \
                            self.profiled(tool, run) if tool == "opendrs-cdc" else contextlib.nullcontext():
                        seconds, peak, lag = self._cdc_once(tool, snapshot, start, want, update)
                except (BenchError, pymysql.err.MySQLError, OSError) as exc:
                    self._failed(res, title, exc)
                    if tool != "opendrs-cdc" and self.replica is not None:
                        with contextlib.suppress(pymysql.err.MySQLError):
                            stop_replica(self.replica)
                    continue
                res.seconds.append(seconds)
                if peak:
                    res.peak_rss.append(peak)
                res.extra.setdefault("lag", []).append(lag)
                self.log(f"{title}: {seconds:.1f}s = {written / seconds:,.0f} changes/s, verified; "
                         f"lag {({k: v for k, v in lag.items() if k != 'samples'})}")

    def _cdc_once(self, tool: str, snapshot: Path, start: tuple[str, int], want: dict[str, tuple[int, int]],
                  update: Callable[[str], None]) -> tuple[float, int, dict[str, Any]]:
        a = self.args
        if tool == "opendrs-cdc":
            def caught_up() -> bool:
                return marker_present(self.target) and not verify_equal(want, self.target, CDC_DB)

            return incremental(self.opendrs, self.source, self.target, CDC_DB, start=start, caught_up=caught_up,
                               timeout=a.timeout, on_poll=update)
        assert self.replica is not None
        seconds, lag = replica_catch_up(self.replica, self.source, start,
                                        threads=0 if tool == "replica1" else 2, timeout=a.timeout, on_poll=update)
        if diff := verify_equal(want, self.replica, CDC_DB):
            raise BenchError(f"replica differs from the source: {diff}")
        return seconds, 0, lag

    def verdicts(self) -> list[str]:
        """The issue's targets, checked against this run's medians."""
        out: list[str] = []
        r = self.results
        ours, myl = r.get("opendrs"), r.get("mydumper")
        if ours and ours.median_s and myl and myl.median_s:
            ok = ours.median_s <= myl.median_s
            out.append(f"full load at least as fast as myloader: {'MET' if ok else 'NOT MET'} "
                       f"({ours.median_s:.1f}s vs {myl.median_s:.1f}s)")
        cdc = r.get("opendrs-cdc")
        if cdc and cdc.rate:
            out.append(f"CDC >= {CDC_TARGET_RATE:,} changes/s: {'MET' if cdc.rate >= CDC_TARGET_RATE else 'NOT MET'} "
                       f"({cdc.rate:,.0f}/s)")
            for key in ("replica1", "replica2"):
                peer = r.get(key)
                if peer and peer.rate:
                    out.append(f"CDC >= {peer.tool}: {'MET' if cdc.rate >= peer.rate else 'NOT MET'} "
                               f"({cdc.rate:,.0f}/s vs {peer.rate:,.0f}/s)")
        peaks = [p for res in r.values() if res.is_opendrs for p in res.peak_rss]
        if peaks:
            out.append(f"OpenDRS peak RSS (serve process tree): {max(peaks) / 2**20:.0f} MiB")
        return out


def main(argv: list[str] | None = None) -> int:
    return run_main(Bench, parse_args(argv), (pymysql.err.MySQLError,))


if __name__ == "__main__":
    sys.exit(main())
