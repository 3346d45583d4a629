"""Row comparison, engine-agnostic: counts, chunked checksums, bisection to rows, and a settle re-check.

How a table is compared ("contents"):

1. Chunk boundaries come from the source's key order (``ORDER BY key LIMIT 1 OFFSET n``;
   for a dense single integer key they are computed from MIN/MAX and the row estimate),
   and every chunk ``(lower, upper]`` is read with the same predicate on both sides, so the
   two servers hash the same set of keys whatever their collation would say about order.
2. Per chunk both sides compute ``COUNT(*)`` and an order-independent sum of per-row hashes
   of the rows' canonical text, in SQL and concurrently (the data never leaves the servers).
3. A differing chunk is split and the parts re-checked: integer keys in 256 buckets by one
   GROUP BY query per side, other keys in 16 parts walked in the index of the side holding
   more rows. Ranges of at most ``leaf_rows`` rows are diffed: keys and row hashes from both
   sides, then the full canonical text of only the differing keys: missing, extra, changed.
4. Tables without a key are compared as a multiset of row hashes (GROUP BY hash with counts),
   narrowed first to the hash buckets whose checksums differ.
5. Every difference found is re-read on both sides every ~1.5 s for up to ``settle_seconds``;
   only rows that still differ at the end are reported, so changes still in flight on a
   live task do not raise false alarms.

Reads never lock (see the dialects), are throttled by ``ByteBudget`` and stop between
chunks when ``stop()`` answers True.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from opendrs.compare.dialect import (
    PH,
    ByteBudget,
    CompareDialect,
    CompareSession,
    Row,
    keys_in,
    order_by,
    range_where,
)
from opendrs.compare.model import (
    CHANGED,
    CONSISTENT,
    EXTRA,
    FAILED,
    INCONSISTENT,
    MISSING,
    UNCOMPARABLE,
    ColumnInfo,
    RowDiff,
    TableInfo,
    TableResult,
)
from opendrs.errors import DrsError
from opendrs.pipeline.model import TableRef

log = logging.getLogger("opendrs.compare.rows")

SOURCE, TARGET = "source", "target"
TextRow = tuple[str | None, ...]


class Stopped(Exception):  # noqa: N818 - control flow: the caller asked to stop
    """``stop()`` answered True between two chunks."""


class SideError(Exception):
    """A query failed on one side; ``side`` says which (for the result's ``failed_side``)."""

    def __init__(self, side: str, message: str) -> None:
        super().__init__(message)
        self.side = side


@dataclass
class Tuning:
    chunk_rows: int = 50_000
    leaf_rows: int = 2048  # a differing range this small is fetched and diffed row by row (fewer round trips)
    split: int = 16  # parts a differing range is bisected into (keys walked in the index)
    buckets: int = 256  # parts a differing integer-key range is checksummed in, in one grouped query
    recheck_interval: float = 1.5
    recheck_batch: int = 500


@dataclass
class TablePlan:
    """One table pair ready to compare: the compared columns, the key, the row filter."""

    source: TableRef
    target: TableRef
    info: TableInfo  # the source table
    columns: tuple[ColumnInfo, ...]  # compared columns (on both sides), source order
    key: tuple[ColumnInfo, ...]
    row_filter: str | None
    message: str = ""

    @property
    def key_positions(self) -> tuple[int, ...]:
        names = [c.name for c in self.columns]
        return tuple(names.index(k.name) for k in self.key)


@dataclass
class _Pending:
    """Differences of one table awaiting the settle re-check: text key -> (raw key, diff)."""

    raw: dict[TextRow, Row] = field(default_factory=dict)
    diffs: dict[TextRow, RowDiff] = field(default_factory=dict)
    keyless_delta: dict[str, int] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def plan_table(source: TableRef, target: TableRef, src: TableInfo, tgt: TableInfo,
               row_filter: str | None) -> TablePlan:
    """Columns both sides have (non-utf8mb4 charsets converted when the sides disagree), and the key."""
    tcols = {c.name: c for c in tgt.columns}
    columns: list[ColumnInfo] = []
    for c in src.columns:
        other = tcols.get(c.name)
        if other is None:
            continue
        if other.charset != c.charset and c.charset is not None:
            c = replace(c, charset=f"{c.charset}->{other.charset}")  # forces a conversion to utf8mb4 on both
        columns.append(c)
    only_src = [c.name for c in src.columns if c.name not in tcols]
    names = {c.name for c in src.columns}
    only_tgt = [c.name for c in tgt.columns if c.name not in names]
    notes = []
    if only_src:
        notes.append(f"columns missing on the target (not compared): {', '.join(only_src)}")
    if only_tgt:
        notes.append(f"columns only on the target (not compared): {', '.join(only_tgt)}")
    key = src.key if all(k in tcols for k in src.key) else ()
    by_name = {c.name: c for c in columns}
    return TablePlan(source, target, src, tuple(columns), tuple(by_name[k] for k in key if k in by_name),
                     row_filter, "; ".join(notes))


class TableComparer:
    """Compares one table pair over two sessions (source in the caller's thread, target in ``pool``)."""

    def __init__(self, dialect: CompareDialect, src: CompareSession, tgt: CompareSession, plan: TablePlan,
                 pool: ThreadPoolExecutor, budget: ByteBudget, stop: Callable[[], bool], tuning: Tuning,
                 max_diffs: int, progress: Callable[[TableResult], None] | None = None) -> None:
        self.d = dialect
        self.sessions = {SOURCE: src, TARGET: tgt}
        self.plan = plan
        self.pool = pool
        self.budget = budget
        self.stop = stop
        self.tuning = tuning
        self.max_diffs = max_diffs
        self.progress = progress
        self.pending = _Pending()
        self.result = TableResult(plan.source, plan.target, "contents", 0, 0, CONSISTENT, 0, [],
                                  message=plan.message, columns=tuple(c.name for c in plan.columns))
        self.hash_expr = dialect.row_hash_expr(plan.columns)
        self.sum_expr = dialect.chunk_sum_expr(plan.columns)
        self.refs = {SOURCE: plan.source, TARGET: plan.target}

    # --- plumbing ---------------------------------------------------------------------------
    def _q(self, side: str, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return self.sessions[side].query(sql, args)
        except DrsError as exc:
            raise SideError(side, exc.error_msg) from exc

    def _both(self, fn: Callable[[str], Any]) -> tuple[Any, Any]:
        """``fn(SOURCE)`` here and ``fn(TARGET)`` in the pool, concurrently."""
        fut = self.pool.submit(fn, TARGET)
        try:
            src = fn(SOURCE)
        finally:
            tgt = fut.result()
        return src, tgt

    def _check_stop(self) -> None:
        if self.stop():
            raise Stopped

    def _table(self, side: str) -> str:
        return self.d.table_sql(self.refs[side])

    def _spend_rows(self, rows: int) -> None:
        nbytes = rows * max(self.plan.info.avg_row_bytes, 16)
        self.result.bytes_read += nbytes
        self.budget.spend(nbytes)

    # --- checksums ----------------------------------------------------------------------------
    def checksum(self, side: str, lower: Row | None, upper: Row | None) -> tuple[int, str]:
        where, args = range_where(self.d, self.plan.key, lower, upper, self.plan.row_filter)
        sql = f"SELECT COUNT(*), {self.sum_expr} FROM {self._table(side)}{where}"
        row = self._q(side, sql, args)[0]
        count = int(row[0] or 0)
        self._spend_rows(count)
        return count, str(row[1] or 0)

    def _checksum_at(self, lower: Row | None, upper: Row | None, side: str) -> tuple[int, str]:
        return self.checksum(side, lower, upper)

    def _fetch_at(self, where: str, args: Sequence[Any], side: str) -> dict[TextRow, tuple[Row, TextRow]]:
        return self._fetch(side, where, args)

    def boundaries(self, side: str, lower: Row | None, upper: Row | None, step: int,
                   limit: int | None = None) -> list[Row]:
        """Keys every ``step`` rows in ``(lower, upper]`` in ``side``'s key order (upper itself excluded)."""
        found: list[Row] = []
        last = lower
        keys = ", ".join(self.d.key_expr(c) for c in self.plan.key)
        while limit is None or len(found) < limit:
            self._check_stop()
            where, args = range_where(self.d, self.plan.key, last, upper, self.plan.row_filter)
            sql = (f"SELECT {keys} FROM {self._table(side)}{where} ORDER BY {order_by(self.d, self.plan.key)} "
                   f"LIMIT 1 OFFSET {max(step - 1, 0)}")
            rows = self._q(side, sql, args)
            if not rows:
                break
            key = tuple(rows[0])
            if upper is not None and self._same_key(key, upper):
                break
            found.append(key)
            last = key
        return found

    @staticmethod
    def _same_key(a: Row, b: Row) -> bool:
        return tuple(_text(v) for v in a) == tuple(_text(v) for v in b)

    # --- keyed comparison ---------------------------------------------------------------------
    def run(self) -> TableResult:
        started = time.monotonic()
        if not self.plan.key:
            self._run_keyless()
        else:
            self._run_keyed()
        self.result.seconds = time.monotonic() - started
        self.finish()
        return self.result

    def _integer_bounds(self) -> list[Row] | None:
        """Chunk edges by arithmetic on a dense integer key (no index walk); None when not applicable."""
        if len(self.plan.key) != 1 or not self.d.is_integer(self.plan.key[0]):
            return None
        estimate = self.plan.info.rows_estimate
        col = self.d.quote(self.plan.key[0].name)
        where = f" WHERE ({self.plan.row_filter})" if self.plan.row_filter else ""
        low, high = self._q(SOURCE, f"SELECT MIN({col}), MAX({col}) FROM {self._table(SOURCE)}{where}")[0]
        if low is None or high is None:
            return []
        low, high = int(low), int(high)
        span = high - low + 1
        if estimate <= 0 or span > 4 * estimate or estimate > 4 * span:
            return None  # sparse key or no usable estimate: walk the index instead
        chunks = max(1, math.ceil(min(estimate, span) / self.tuning.chunk_rows))
        width = math.ceil(span / chunks)
        # (None, low - 1] first: keys below the source's smallest can only be extra rows on the target
        edges = [low - 1, *(low - 1 + width * i for i in range(1, chunks) if low - 1 + width * i < high), high]
        return [(self.d.int_bound(e),) for e in edges]

    def _integer_range(self, lower: Row | None, upper: Row | None) -> tuple[int, int] | None:
        """(lo, hi) of a bounded range of a single integer key (bucketed in SQL); None otherwise."""
        if lower is None or upper is None or len(self.plan.key) != 1 or not self.d.is_integer(self.plan.key[0]):
            return None
        lo, hi = int(lower[0]), int(upper[0])
        return (lo, hi) if 0 < hi - lo < 2**62 else None

    def _grouped(self, lo: int, hi: int, width: int, side: str) -> dict[int, tuple[int, str]]:
        """Checksums of ``(lo, hi]`` in buckets of ``width`` keys, all in one query: bucket -> (count, sum)."""
        where, args = range_where(self.d, self.plan.key, (self.d.int_bound(lo),), (self.d.int_bound(hi),),
                                  self.plan.row_filter)
        bucket = self.d.bucket_expr(self.plan.key[0], lo + 1, width)
        sql = f"SELECT {bucket}, COUNT(*), {self.sum_expr} FROM {self._table(side)}{where} GROUP BY 1"
        rows = self._q(side, sql, args)
        self._spend_rows(sum(int(r[1]) for r in rows))
        return {int(r[0]): (int(r[1]), str(r[2] or 0)) for r in rows}

    def _resolve_grouped(self, lo: int, hi: int) -> None:
        """Integer keys: one grouped query per side finds the differing buckets of a range."""
        width = max(1, math.ceil((hi - lo) / self.tuning.buckets))
        sb, tb = self._both(partial(self._grouped, lo, hi, width))
        for b in sorted(set(sb) | set(tb)):
            self._check_stop()
            if sb.get(b) == tb.get(b):
                continue
            sub_lo = lo + b * width
            sub_hi = min(sub_lo + width, hi)
            rows = max(sb.get(b, (0, ""))[0], tb.get(b, (0, ""))[0])
            if rows <= self.tuning.leaf_rows or width <= 1:
                self._diff_range((self.d.int_bound(sub_lo),), (self.d.int_bound(sub_hi),))
            else:
                self._resolve_grouped(sub_lo, sub_hi)

    def _run_keyed(self) -> None:
        bounds = self._integer_bounds()
        if bounds is None:
            bounds = self.boundaries(SOURCE, None, None, self.tuning.chunk_rows)
        ranges: list[tuple[Row | None, Row | None]] = []
        lower: Row | None = None
        for b in bounds:
            ranges.append((lower, b))
            lower = b
        ranges.append((lower, None))
        self.result.chunks_total = len(ranges)
        for lo, hi in ranges:
            self._check_stop()
            (sc, ss), (tc, ts) = self._both(partial(self._checksum_at, lo, hi))
            self.result.source_rows += sc
            self.result.target_rows += tc
            if (sc, ss) != (tc, ts):
                self._resolve(lo, hi, sc, tc)
            self.result.chunks_done += 1
            self._report()

    def _resolve(self, lower: Row | None, upper: Row | None, sc: int, tc: int) -> None:
        """Bisect a differing range until it is small enough to diff row by row."""
        self._check_stop()
        if max(sc, tc) <= self.tuning.leaf_rows:
            self._diff_range(lower, upper)
            return
        numeric = self._integer_range(lower, upper)
        if numeric is not None:
            self._resolve_grouped(*numeric)
            return
        side = SOURCE if sc >= tc else TARGET
        step = math.ceil(max(sc, tc) / self.tuning.split)
        bounds = self.boundaries(side, lower, upper, step, limit=self.tuning.split)
        if not bounds:
            self._diff_range(lower, upper)
            return
        edges: list[Row | None] = [lower, *bounds, upper]
        for lo, hi in zip(edges, edges[1:], strict=False):
            self._check_stop()
            (c1, s1), (c2, s2) = self._both(partial(self._checksum_at, lo, hi))
            if (c1, s1) != (c2, s2):
                self._resolve(lo, hi, c1, c2)

    def _fetch(self, side: str, where: str, args: Sequence[Any]) -> dict[TextRow, tuple[Row, TextRow]]:
        """text key -> (raw key, canonical text row) for the rows matching ``where``."""
        keys = [self.d.key_expr(c) for c in self.plan.key]
        texts = [self.d.text_expr(c) for c in self.plan.columns]
        sql = f"SELECT {', '.join(keys + texts)} FROM {self._table(side)}{where}"
        rows = self._q(side, sql, args)
        nk = len(keys)
        pos = self.plan.key_positions
        out: dict[TextRow, tuple[Row, TextRow]] = {}
        nbytes = 0
        for r in rows:
            text = tuple(_text(v) for v in r[nk:])
            nbytes += sum(len(v) for v in text if v is not None)
            out[tuple(text[p] for p in pos)] = (tuple(r[:nk]), text)
        self.result.bytes_read += nbytes
        self.budget.spend(nbytes)
        return out

    def _hashes(self, where: str, args: Sequence[Any], side: str) -> dict[TextRow, tuple[Row, str]]:
        """text key -> (raw key, row hash) for the rows matching ``where``: small rows, cheap to parse."""
        keys = [self.d.key_expr(c) for c in self.plan.key]
        key_texts = [self.d.text_expr(c) for c in self.plan.key]
        sql = f"SELECT {', '.join(keys + key_texts)}, {self.hash_expr} FROM {self._table(side)}{where}"
        nk = len(keys)
        out: dict[TextRow, tuple[Row, str]] = {}
        for r in self._q(side, sql, args):
            out[tuple(_text(v) for v in r[nk:2 * nk])] = (tuple(r[:nk]), str(_text(r[-1])))
        return out

    def _diff_range(self, lower: Row | None, upper: Row | None) -> None:
        """Keys and row hashes of the range from both sides; full rows only for the keys that differ."""
        where, args = range_where(self.d, self.plan.key, lower, upper, self.plan.row_filter)
        src, tgt = self._both(partial(self._hashes, where, args))
        differing = [(k, (src.get(k) or tgt[k])[0]) for k in set(src) | set(tgt)
                     if k not in src or k not in tgt or src[k][1] != tgt[k][1]]
        self._fetch_keys(differing)

    def _fetch_keys(self, items: Sequence[tuple[TextRow, Row]]) -> None:
        """Read the full rows of these (text key, raw key) pairs on both sides and record what differs."""
        for i in range(0, len(items), self.tuning.recheck_batch):
            self._check_stop()
            batch = items[i:i + self.tuning.recheck_batch]
            cond = keys_in(self.d, self.plan.key, len(batch))
            args = [v for _, raw in batch for v in raw]
            where = f" WHERE {cond}" + (f" AND ({self.plan.row_filter})" if self.plan.row_filter else "")
            src, tgt = self._both(partial(self._fetch_at, where, args))
            self._record(src, tgt, {k for k, _ in batch})

    def _record(self, src: dict[TextRow, tuple[Row, TextRow]], tgt: dict[TextRow, tuple[Row, TextRow]],
                keys: set[TextRow]) -> None:
        """Update ``pending`` for ``keys`` from freshly fetched rows of both sides."""
        for k in keys:
            s, t = src.get(k), tgt.get(k)
            if s is not None and t is not None and s[1] == t[1]:
                self.pending.diffs.pop(k, None)
                self.pending.raw.pop(k, None)
                continue
            if s is None and t is None:
                self.pending.diffs.pop(k, None)
                self.pending.raw.pop(k, None)
                continue
            kind = MISSING if t is None else EXTRA if s is None else CHANGED
            raw = (s or t)[0]  # type: ignore[index]
            self.pending.raw[k] = raw
            self.pending.diffs[k] = self._row_diff(kind, k, s[1] if s else None, t[1] if t else None)

    def _row_diff(self, kind: str, key: TextRow, src: TextRow | None, tgt: TextRow | None) -> RowDiff:
        names = [c.name for c in self.plan.columns]
        key_cols = tuple(c.name for c in self.plan.key)
        if key_cols:
            conds = [f"{self.d.quote(c.name)} = {self.d.literal(c, v)}" if v is not None
                     else f"{self.d.quote(c.name)} IS NULL" for c, v in zip(self.plan.key, key, strict=True)]
        else:
            conds = [self.d.match_expr(c, v) for c, v in zip(self.plan.columns, key, strict=True)]
        where = " AND ".join(conds) if conds else "1=1"
        return RowDiff(
            kind=kind, key_columns=key_cols, key=key,
            source_row=dict(zip(names, src, strict=True)) if src is not None else None,
            target_row=dict(zip(names, tgt, strict=True)) if tgt is not None else None,
            select_sql=f"SELECT * FROM {self._table(SOURCE)} WHERE {where}",
            target_select_sql=f"SELECT * FROM {self._table(TARGET)} WHERE {where}",
        )

    def recheck(self) -> None:
        """Re-read every pending key on both sides; differences that went away are dropped."""
        if not self.plan.key:
            self._keyless_diff()
            return
        self._fetch_keys(list(self.pending.raw.items()))

    # --- keyless comparison -------------------------------------------------------------------
    def _filter_sql(self) -> str:
        return f" WHERE ({self.plan.row_filter})" if self.plan.row_filter else ""

    def _buckets(self, side: str) -> dict[str, tuple[int, str]]:
        """Rows grouped by the last two characters of their hash: bucket -> (count, sum)."""
        sql = (f"SELECT RIGHT({self.hash_expr}, 2), COUNT(*), {self.sum_expr} FROM {self._table(side)}"
               f"{self._filter_sql()} GROUP BY 1")
        rows = self._q(side, sql)
        self._spend_rows(sum(int(r[1]) for r in rows))
        return {str(_text(b)): (int(n), str(total)) for b, n, total in rows}

    def _hash_counts(self, buckets: Sequence[str], side: str) -> dict[str, int]:
        """Row hash -> copies, for the rows in ``buckets`` only."""
        sql = (f"SELECT h, COUNT(*) FROM (SELECT {self.hash_expr} AS h FROM {self._table(side)}{self._filter_sql()}) x"
               f" WHERE RIGHT(h, 2) IN ({', '.join([PH] * len(buckets))}) GROUP BY h")
        rows = self._q(side, sql, list(buckets))
        return {str(_text(h)): int(n) for h, n in rows}

    def _run_keyless(self) -> None:
        self.result.chunks_total = 1
        (sc, ss), (tc, ts) = self._both(partial(self._checksum_at, None, None))
        self.result.source_rows, self.result.target_rows = sc, tc
        if (sc, ss) != (tc, ts):
            self._keyless_diff()
        self.result.chunks_done = 1
        self._report()

    def _keyless_diff(self) -> None:
        """Multiset difference of row hashes, narrowed first to the hash buckets whose checksums differ."""
        sb, tb = self._both(self._buckets)
        differing = sorted(b for b in set(sb) | set(tb) if sb.get(b) != tb.get(b))
        src: dict[str, int] = {}
        tgt: dict[str, int] = {}
        for i in range(0, len(differing), 64):
            s_part, t_part = self._both(partial(self._hash_counts, differing[i:i + 64]))
            src.update(s_part)
            tgt.update(t_part)
        delta = {h: src.get(h, 0) - tgt.get(h, 0) for h in set(src) | set(tgt)}
        delta = {h: n for h, n in delta.items() if n}
        self.pending.keyless_delta = delta
        self.pending.diffs = {}
        if not delta:
            return
        wanted = sorted(delta)[: self.max_diffs]
        rows: dict[str, TextRow] = {}
        by_side = ((SOURCE, [h for h in wanted if delta[h] > 0]), (TARGET, [h for h in wanted if delta[h] < 0]))
        for side, hashes in by_side:
            for i in range(0, len(hashes), self.tuning.recheck_batch):
                part = hashes[i:i + self.tuning.recheck_batch]
                texts = ", ".join(self.d.text_expr(c) for c in self.plan.columns)
                where = f" WHERE {self.hash_expr} IN ({', '.join([PH] * len(part))})"
                if self.plan.row_filter:
                    where += f" AND ({self.plan.row_filter})"
                sql = f"SELECT {self.hash_expr}, {texts} FROM {self._table(side)}{where}"
                for r in self._q(side, sql, part):
                    rows.setdefault(str(_text(r[0])), tuple(_text(v) for v in r[1:]))
        n = 0
        for h in wanted:
            text = rows.get(h)
            if text is None:
                continue  # changed between the two reads; the next re-check sees it again
            for copy in range(abs(delta[h])):
                kind = MISSING if delta[h] > 0 else EXTRA
                d = self._row_diff(kind, text, text if kind == MISSING else None, text if kind == EXTRA else None)
                self.pending.diffs[(h, str(copy))] = d
                n += 1

    # --- results ------------------------------------------------------------------------------
    def diff_total(self) -> int:
        if not self.plan.key:
            return sum(abs(n) for n in self.pending.keyless_delta.values())
        return len(self.pending.diffs)

    def finish(self) -> None:
        r = self.result
        r.diff_count = self.diff_total()
        r.diffs = list(self.pending.diffs.values())[: self.max_diffs]
        r.status = INCONSISTENT if r.diff_count else CONSISTENT

    def _report(self) -> None:
        if self.progress is not None:
            self.result.diff_count = self.diff_total()
            self.result.status = INCONSISTENT if self.result.diff_count else CONSISTENT
            self.progress(self.result)


# --- driver over many tables ----------------------------------------------------------------
def settle(comparers: Sequence[TableComparer], settle_seconds: float, stop: Callable[[], bool],
           sleep: Callable[[float], None] = time.sleep) -> None:
    """Re-check the differing rows of all tables until none differ or ``settle_seconds`` passed."""
    deadline = time.monotonic() + settle_seconds
    interval = min((c.tuning.recheck_interval for c in comparers), default=1.5)
    while True:
        waiting = [c for c in comparers if c.diff_total()]
        left = deadline - time.monotonic()
        if not waiting or left <= 0 or stop():
            return
        sleep(min(interval, left))
        for c in waiting:
            try:
                c.recheck()
            except SideError as exc:  # keep the last known differences; note why they are not fresher
                c.result.message = _join(c.result.message, f"re-check failed on the {exc.side}: {exc}")
            except Stopped:
                return


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def failed(source: TableRef, target: TableRef, kind: str, message: str, side: str | None = None,
           status: str = FAILED) -> TableResult:
    return TableResult(source, target, kind, 0, 0, status, 0, [], message=message, failed_side=side, final=True)


def uncomparable(source: TableRef, target: TableRef, kind: str, message: str) -> TableResult:
    return failed(source, target, kind, message, status=UNCOMPARABLE)
