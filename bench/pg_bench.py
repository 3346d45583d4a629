"""PostgreSQL benchmark: OpenDRS full load and CDC against the native tools, in ONE run on the same data.

Run it with the project's venv (see bench/README.md)::

    .venv/bin/python bench/pg_bench.py --quick
    .venv/bin/python bench/pg_bench.py --rows 2000000 --wide-rows 200000 --cdc-changes 500000 --runs 3

It starts a throwaway PostgreSQL source/target pair and an ``opendrs serve``, generates the
MySQL bench's dataset shapes (``bench.public.sbtest1`` and ``wide1``), then measures:

* full load of ``bench`` into an empty ``bench`` on the target: OpenDRS FULL_TRANS,
  ``pg_dump -Fd -j 2`` + ``pg_restore -j 2``, ``pgcopydb clone`` (if installed), and a
  ``psql COPY TO STDOUT | psql COPY FROM STDIN`` pipe per table, 2 tables at a time; the tools
  interleave and their order rotates every run; each copy is verified by count + md5 per table;
* CDC catch-up on one change stream written while nothing consumes it: an OpenDRS INCR_TRANS
  task armed (slot created) and paused before the stream, then resumed; and native logical
  replication (publication + slot created before the stream, then CREATE SUBSCRIPTION with
  ``create_slot = false, copy_data = false``); each ends when the stream's marker row is on
  the target, and the copy is verified by checksum. One CDC run per tool (each needs a slot
  made before the stream).

It prints a table of medians, rates, the time ratio OpenDRS/peer and OpenDRS's peak RSS, the
issue's targets, and writes the same as JSON to ``bench/results/pg-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from benchrun import BenchRun
from benchrun import main as run_main
from common import BenchError, Result, Skipped
from mysql_bench import rotate
from mysql_data import write_sbtest_tsv
from opendrs_driver import OpenDrsServer
from pg_data import (
    CDC_DB,
    CDC_TABLE,
    FULL_DB,
    MARK_TABLE,
    build_full_dataset,
    marker_present,
    reset_cdc_copy,
    write_changes,
    write_marker,
)
from pg_driver import PausedCdc, full_load
from pg_env import BenchPostgres, checksums, create_database, drop_database, rows_written, settle, verify_equal
from pg_peers import (
    copy_pipe_copy,
    drop_subscription,
    pg_dump_restore_copy,
    pgcopydb_copy,
    prepare_native,
    subscription_catch_up,
)

BENCH_DIR = Path(__file__).resolve().parent
FULL = "PostgreSQL full copy"
CDC = "PostgreSQL CDC apply"
FULL_TOOLS = ("opendrs", "pg_dump", "pgcopydb", "copy")
CDC_TOOLS = ("opendrs-cdc", "subscription")
NATIVE_DB = "benchcdc_native"
NATIVE_PUB = "bench_native_pub"
NATIVE_SLOT = "bench_native_slot"
COPY_PIPE_SHARE = 0.8  # the issue: OpenDRS's full-load rate at least 80% of the COPY pipe's



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000, help="rows of sbtest1")
    p.add_argument("--wide-rows", type=int, default=200_000, help="rows of wide1")
    p.add_argument("--cdc-changes", type=int, default=500_000, help="row changes in the CDC stream")
    p.add_argument("--cdc-table-rows", type=int, default=100_000, help="rows of the CDC table before the stream")
    p.add_argument("--runs", type=int, default=3, help="full-load runs per tool (the table shows medians)")
    p.add_argument("--quick", action="store_true", help="50,000 + 5,000 rows, 20,000 changes, 1 run")
    p.add_argument("--only", default="", help=f"comma list of tools to run, from {FULL_TOOLS + CDC_TOOLS}")
    p.add_argument("--skip-full", action="store_true", help="CDC part only")
    p.add_argument("--skip-cdc", action="store_true", help="full-load part only")
    p.add_argument("--shared-buffers", default="1GB", help="shared_buffers of source and target")
    p.add_argument("--parallel-tables", type=int, default=2, help="OpenDRS tuning parameter parallel_tables")
    p.add_argument("--jobs", type=int, default=2, help="jobs of pg_dump/pg_restore/pgcopydb and COPY pipes at once")
    p.add_argument("--pg-dump-compress", default=None,
                   help="pg_dump --compress value (e.g. 0 for none); default: pg_dump's own (gzip)")
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
        args.shared_buffers = "256MB"
    known = set(FULL_TOOLS + CDC_TOOLS)
    args.tools = [t.strip() for t in args.only.split(",") if t.strip()] or list(FULL_TOOLS + CDC_TOOLS)
    if unknown := set(args.tools) - known:
        p.error(f"--only: unknown tools {sorted(unknown)}; choose from {sorted(known)}")
    return args


def verdicts(results: dict[str, Result]) -> list[str]:
    """The issue's targets, checked against this run's medians (pure: unit-tested)."""
    out: list[str] = []
    ours = results.get("opendrs")
    if ours and ours.median_s:
        dump = results.get("pg_dump")
        if dump and dump.median_s:
            ok = ours.median_s <= dump.median_s
            out.append(f"full load at least as fast as pg_dump|pg_restore -j2: {'MET' if ok else 'NOT MET'} "
                       f"({ours.median_s:.1f}s vs {dump.median_s:.1f}s)")
        pipe = results.get("copy")
        if pipe and pipe.rate and ours.rate:
            share = ours.rate / pipe.rate
            met = "MET" if share >= COPY_PIPE_SHARE else "NOT MET"
            out.append(f"full load within 80% of the COPY pipe's rate: {met} ({share:.0%} of {pipe.rate:,.0f} rows/s)")
    cdc, native = results.get("opendrs-cdc"), results.get("subscription")
    if cdc and cdc.rate and native and native.rate:
        out.append(f"CDC at least the native subscription's catch-up rate: "
                   f"{'MET' if cdc.rate >= native.rate else 'NOT MET'} ({cdc.rate:,.0f}/s vs {native.rate:,.0f}/s)")
    peaks = [p for res in results.values() if res.is_opendrs for p in res.peak_rss]
    if peaks:
        out.append(f"OpenDRS peak RSS (serve process tree): {max(peaks) / 2**20:.0f} MiB")
    return out


class Bench(BenchRun):
    """One PostgreSQL benchmark run: servers, tools and the issue's targets."""

    prefix = "pg"
    title = "OpenDRS vs peers on PostgreSQL (medians; OpenDRS/peer time below 1.00x = OpenDRS faster)"

    def server(self, name: str) -> BenchPostgres:
        srv = BenchPostgres(name=f"pgbench-{name}", shared_buffers=self.args.shared_buffers, start_timeout=180)
        self.stack.callback(srv.stop if self.args.keep else srv.cleanup)
        srv.start()
        self.log(f"{name}: PostgreSQL on port {srv.port} (shared_buffers {self.args.shared_buffers}, "
                 f"data {srv.tmpdir})")
        return srv

    # --- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self.log(f"work dir {self.work}; load average {self.meta['env']['loadavg_at_start']} "
                 f"on {self.meta['env']['cpus']} CPUs (other jobs on this box add noise)")
        self.source = self.server("source")
        self.target = self.server("target")
        self.meta["server_version"] = self.source.execute("SHOW server_version")[0][0]
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
        self.meta["dataset"] = {"sbtest1": a.rows, "wide1": a.wide_rows, "tsv_bytes": dataset.tsv_bytes,
                                "source_bytes": int(self.source.execute(
                                    "SELECT pg_database_size(%s)", (FULL_DB,))[0][0])}
        self.log(f"dataset: {dataset.rows:,} rows, {dataset.tsv_bytes / 1e6:.0f} MB as TSV, "
                 f"{self.meta['dataset']['source_bytes'] / 1e6:.0f} MB on disk, generated in "
                 f"{time.monotonic() - began:.0f}s; source checksums {want}")
        tools = [t for t in FULL_TOOLS if self.wanted(t)]
        labels = {"opendrs": f"OpenDRS FULL_TRANS, parallel_tables={a.parallel_tables}",
                  "pg_dump": f"pg_dump -Fd -j {a.jobs} + pg_restore -j {a.jobs}"
                             + (f", -Z {a.pg_dump_compress}" if a.pg_dump_compress is not None else ""),
                  "pgcopydb": f"pgcopydb clone, {a.jobs} table + {a.jobs} index jobs",
                  "copy": f"psql COPY TO STDOUT | COPY FROM STDIN, {a.jobs} tables at once"}
        skipped: dict[str, str] = {}
        for run in range(a.runs):
            for tool in rotate(tools, run):
                res = self.result(tool, FULL, labels[tool], "rows", dataset.rows, opendrs=tool == "opendrs")
                if tool in skipped:
                    continue
                create_database(self.target, FULL_DB)
                title = f"full load run {run + 1}/{a.runs}: {labels[tool]}"
                with self.step(f"{title}: CHECKPOINT first"):
                    settle(self.source, self.target)
                try:
                    with self.step(title) as update:
                        seconds, peak, info = self._full_once(tool, update)
                        update("verifying count + md5 per table")
                        diff = verify_equal(want, self.target, FULL_DB)
                        info["rows_written"] = rows_written(self.target, FULL_DB)
                except Skipped as exc:
                    skipped[tool] = res.note = f"skipped: {exc}"
                    self.log(f"{labels[tool]}: {res.note}")
                    continue
                except (BenchError, psycopg.Error, OSError) as exc:
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
        a = self.args
        logs = self.work / "logs"
        if tool == "opendrs":
            with self.profiled(tool, len(self.results[tool].seconds)):
                return full_load(self.opendrs, self.source, self.target, FULL_DB, parallel_tables=a.parallel_tables,
                                 timeout=a.timeout, on_poll=update)
        began = time.monotonic()
        update("running")
        info: dict[str, Any]
        if tool == "pg_dump":
            info = pg_dump_restore_copy(self.source, self.target, FULL_DB, jobs=a.jobs, workdir=self.work,
                                        timeout=a.timeout, logs=logs, compress=a.pg_dump_compress)
        elif tool == "pgcopydb":
            info = pgcopydb_copy(self.source, self.target, FULL_DB, jobs=a.jobs, workdir=self.work,
                                 timeout=a.timeout, logs=logs)
        else:
            info = copy_pipe_copy(self.source, self.target, FULL_DB, parallel=a.jobs, timeout=a.timeout, logs=logs)
        return time.monotonic() - began, 0, info

    # --- CDC -----------------------------------------------------------------------------------
    def cdc(self) -> None:
        a = self.args
        snapshot = self.work / "cdc_snapshot.tsv"
        tools = [t for t in CDC_TOOLS if self.wanted(t)]
        labels = {"opendrs-cdc": "OpenDRS INCR_TRANS catch-up (armed, paused, resumed)",
                  "subscription": "native CREATE SUBSCRIPTION catch-up (1 apply worker)"}
        armed: PausedCdc | None = None
        with self.step("preparing the CDC table, the slots and the stream") as update:
            write_sbtest_tsv(snapshot, a.cdc_table_rows, a.seed + 7)
            reset_cdc_copy(self.source, CDC_DB, snapshot)
            if "opendrs-cdc" in tools:
                reset_cdc_copy(self.target, CDC_DB, snapshot)
                update("arming the OpenDRS task (start, wait for streaming, pause)")
                armed = PausedCdc(self.opendrs, self.source, self.target, CDC_DB)
                try:
                    armed.arm()
                except (BenchError, psycopg.Error) as exc:
                    self._failed(self.result("opendrs-cdc", CDC, labels["opendrs-cdc"], "changes", a.cdc_changes,
                                             opendrs=True), "arming OpenDRS CDC", exc)
                    tools.remove("opendrs-cdc")
                    with contextlib.suppress(Exception):
                        armed.abandon()
                    armed = None
            if "subscription" in tools:
                reset_cdc_copy(self.target, NATIVE_DB, snapshot)
                prepare_native(self.source, CDC_DB, NATIVE_PUB, NATIVE_SLOT, [CDC_TABLE, MARK_TABLE])
                self.stack.callback(self._drop_native_slot)
            began = time.monotonic()
            written = write_changes(self.source, CDC_DB, a.cdc_table_rows, a.cdc_changes, a.seed + 11,
                                    lambda n: update(f"writing changes {n:,}/{a.cdc_changes:,}"))
            write_marker(self.source, CDC_DB)
            wrote_s = time.monotonic() - began
            want = checksums(self.source, CDC_DB)
        wal = self.source.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                                  "FROM pg_replication_slots ORDER BY 1 DESC LIMIT 1")
        self.meta["cdc"] = {"changes": written, "source_write_seconds": round(wrote_s, 1),
                            "table_rows": a.cdc_table_rows, "wal_bytes_held": int(wal[0][0]) if wal else None}
        self.log(f"CDC stream: {written:,} row changes in {written // 10:,} transactions written in {wrote_s:.1f}s "
                 f"({written / wrote_s:,.0f}/s); WAL held by the slots {self.meta['cdc']['wal_bytes_held'] or 0:,} "
                 "bytes")
        for tool in tools:
            res = self.result(tool, CDC, labels[tool], "changes", written, opendrs=tool == "opendrs-cdc")
            title = f"CDC: {labels[tool]}"
            settle(self.source, self.target)
            try:
                with self.step(title) as update:
                    db = CDC_DB if tool == "opendrs-cdc" else NATIVE_DB

                    def caught_up(db: str = db) -> bool:
                        """The marker row (the stream's last transaction) is there and every table equals the source."""
                        return marker_present(self.target, db) and not verify_equal(want, self.target, db)

                    if tool == "opendrs-cdc":
                        assert armed is not None
                        with self.profiled(tool, 0):
                            seconds, peak, lag = armed.catch_up(caught_up, timeout=a.timeout, on_poll=update)
                    else:
                        seconds, lag = subscription_catch_up(self.source, self.target, CDC_DB, NATIVE_DB,
                                                             publication=NATIVE_PUB, slot=NATIVE_SLOT,
                                                             caught_up=caught_up, timeout=a.timeout, on_poll=update)
                        peak = 0
            except (BenchError, psycopg.Error, OSError) as exc:
                self._failed(res, title, exc)
                continue
            res.seconds.append(seconds)
            if peak:
                res.peak_rss.append(peak)
            res.extra.setdefault("lag", []).append(lag)
            self.log(f"{title}: {seconds:.1f}s = {written / seconds:,.0f} changes/s, verified; "
                     f"lag {({k: v for k, v in lag.items() if k != 'samples'})}")

    def _drop_native_slot(self) -> None:
        """Leave nothing pinned: drop the subscription (and its slot) or the slot alone."""
        with contextlib.suppress(Exception):
            drop_subscription(self.target, NATIVE_DB)
        with contextlib.suppress(Exception):
            self.source.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                "WHERE slot_name = %s", (NATIVE_SLOT,))

    def verdicts(self) -> list[str]:
        return verdicts(self.results)


def main(argv: list[str] | None = None) -> int:
    return run_main(Bench, parse_args(argv), (psycopg.Error,))


if __name__ == "__main__":
    sys.exit(main())
