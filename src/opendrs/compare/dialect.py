"""The per-engine half of the comparison: SQL fragments and catalog reads, behind one Protocol.

Why: the algorithm in ``rows.py`` (chunked checksums, bisection, row diff, re-check) and the
repair writer in ``repair.py`` are the same for every engine; what differs is data -- how
identifiers are quoted, how a column becomes canonical text, how a row hash and a chunk sum
are spelled, how a text value becomes a typed literal (STYLE §2). Each engine module
(``mysql.py``, ``postgres.py``) implements ``CompareDialect``; nothing else branches on the
engine.

Also here: the engine-neutral SQL builders over a dialect (key-range and key-equality
predicates) and the byte-budget throttle of ``limit_mb``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opendrs.compare.model import ColumnInfo, TableInfo
from opendrs.engines.base import EndpointConfig
from opendrs.errors import DrsError
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

if TYPE_CHECKING:
    from opendrs.compare.objects import ObjectItem

Row = tuple[Any, ...]

# Bind-parameter marker used by every SQL builder here; ``bind`` turns it into the driver's ``%s``
# (after doubling any literal ``%`` in identifiers, filters and format strings).
PH = "\x00?"


def bind(sql: str) -> str:
    """Driver form of a statement built with ``PH`` markers (PyMySQL and psycopg both use ``%s``)."""
    return sql.replace("%", "%%").replace(PH, "%s")


class CompareError(DrsError):
    """A comparison query failed on one side; the message names the side and the reason."""

    message = "%s"


class CompareSession(Protocol):
    """One connection to one side, reading in READ COMMITTED without locks."""

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    def run_transaction(self, statements: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class CompareDialect(Protocol):
    """Engine-specific data and catalog reads the engine-neutral comparison is built on."""

    name: str

    def connect(self, ep: EndpointConfig, database: str | None = None) -> CompareSession: ...

    def target_database(self, source: EndpointConfig, target: EndpointConfig) -> str | None:
        """Which database a target session opens (PostgreSQL: one database per task)."""
        ...

    def quote(self, ident: str) -> str: ...

    def table_sql(self, ref: TableRef) -> str: ...

    def placeholder(self, column: ColumnInfo) -> str:
        """A bind parameter for a key value of ``column`` (typed where the engine needs it)."""
        ...

    def key_expr(self, column: ColumnInfo) -> str:
        """How a key column is selected for use as a bind value later (native or text)."""
        ...

    def is_integer(self, column: ColumnInfo) -> bool:
        """An integer column: chunk edges can then be computed instead of walked."""
        ...

    def int_bound(self, value: int) -> Any:
        """Bind value for a computed integer key edge."""
        ...

    def bucket_expr(self, column: ColumnInfo, base: int, width: int) -> str:
        """``(column - base) / width`` in integer arithmetic (rows have ``column >= base``)."""
        ...

    def text_expr(self, column: ColumnInfo) -> str:
        """The column's canonical text (NULL stays NULL): equal data gives equal text on both sides."""
        ...

    def row_hash_expr(self, columns: Sequence[ColumnInfo]) -> str:
        """Hex digest of a row's canonical text; NULL and '' must hash differently."""
        ...

    def chunk_sum_expr(self, columns: Sequence[ColumnInfo]) -> str:
        """An order-independent aggregate of the rows' hashes for one chunk (one value)."""
        ...

    def prepare(self, source: CompareSession, target: CompareSession) -> None:
        """Pick expressions both servers support (called once both sessions are open)."""
        ...

    def literal(self, column: ColumnInfo, text: str | None) -> str:
        """SQL literal that stores ``text`` (canonical text of ``column``) back into the column."""
        ...

    def match_expr(self, column: ColumnInfo, text: str | None) -> str:
        """A NULL-safe condition that a row's ``column`` has canonical text ``text`` (keyless rows)."""
        ...

    def delete_one_sql(self, ref: TableRef, condition: str) -> str:
        """DELETE exactly one row matching ``condition`` (a keyless table's surplus copy)."""
        ...

    def insert_prefix(self, info: TableInfo, columns: Sequence[ColumnInfo]) -> str:
        """``INSERT INTO t (cols)`` plus what the engine needs to write identity columns."""
        ...

    def list_databases(self, session: CompareSession, selection: Selection) -> list[str]: ...

    def list_tables(self, session: CompareSession, database: str) -> list[str]: ...

    def table_info(self, session: CompareSession, ref: TableRef) -> TableInfo | None: ...

    def object_inventory(self, session: CompareSession, databases: Sequence[str]) -> list[ObjectItem]:
        """Every object of ``databases`` (plus users) with a normalised definition summary."""
        ...


# --- engine-neutral SQL over a dialect ------------------------------------------------------
def after_sql(d: CompareDialect, key: Sequence[ColumnInfo], inclusive: bool) -> str:
    """Keys lexicographically after (``inclusive``: at or after) a bound: expanded OR-form, index friendly."""
    parts: list[str] = []
    for i, col in enumerate(key):
        eqs = [f"{d.quote(c.name)} = {d.placeholder(c)}" for c in key[:i]]
        last = i == len(key) - 1
        op = ">=" if inclusive and last else ">"
        parts.append("(" + " AND ".join([*eqs, f"{d.quote(col.name)} {op} {d.placeholder(col)}"]) + ")")
    return "(" + " OR ".join(parts) + ")"


def before_sql(d: CompareDialect, key: Sequence[ColumnInfo]) -> str:
    """Keys at or before an upper bound (inclusive)."""
    parts: list[str] = []
    for i, col in enumerate(key):
        eqs = [f"{d.quote(c.name)} = {d.placeholder(c)}" for c in key[:i]]
        op = "<=" if i == len(key) - 1 else "<"
        parts.append("(" + " AND ".join([*eqs, f"{d.quote(col.name)} {op} {d.placeholder(col)}"]) + ")")
    return "(" + " OR ".join(parts) + ")"


def bound_args(values: Sequence[Any]) -> list[Any]:
    """Bind values for ``after_sql``/``before_sql`` (each prefix repeated, in placeholder order)."""
    args: list[Any] = []
    for i in range(len(values)):
        args.extend(values[: i + 1])
    return args


def range_where(d: CompareDialect, key: Sequence[ColumnInfo], lower: Row | None, upper: Row | None,
                row_filter: str | None) -> tuple[str, list[Any]]:
    """WHERE clause (maybe empty) and its args for keys in ``(lower, upper]`` and the row filter."""
    conds: list[str] = []
    args: list[Any] = []
    if lower is not None:
        conds.append(after_sql(d, key, inclusive=False))
        args.extend(bound_args(lower))
    if upper is not None:
        conds.append(before_sql(d, key))
        args.extend(bound_args(upper))
    if row_filter:
        conds.append(f"({row_filter})")
    return (" WHERE " + " AND ".join(conds)) if conds else "", args


def keys_in(d: CompareDialect, key: Sequence[ColumnInfo], count: int) -> str:
    """A condition matching ``count`` key tuples (bind values flattened in key order)."""
    one = "(" + " AND ".join(f"{d.quote(c.name)} = {d.placeholder(c)}" for c in key) + ")"
    if len(key) == 1:
        ph = d.placeholder(key[0])
        return f"{d.quote(key[0].name)} IN (" + ", ".join([ph] * count) + ")"
    return "(" + " OR ".join([one] * count) + ")"


def order_by(d: CompareDialect, key: Sequence[ColumnInfo]) -> str:
    return ", ".join(d.quote(c.name) for c in key)


# --- flow control -------------------------------------------------------------------------
class ByteBudget:
    """At most ``limit_mb`` MB/s across the threads of one comparison (None = unlimited).

    Why not ``pipeline.throttle.Throttle``: that one re-reads a task's hour windows and works in
    whole MB/s; a comparison gets one (possibly fractional) cap for its whole run, and two
    reader threads share it.
    """

    def __init__(self, limit_mb: float | None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._rate = None if not limit_mb or limit_mb <= 0 else limit_mb * 1024 * 1024
        self._sleep = sleep
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._spent = 0.0

    def spend(self, nbytes: int) -> None:
        if self._rate is None or nbytes <= 0:
            return
        with self._lock:
            self._spent += nbytes
            due = self._start + self._spent / self._rate
            wait = due - time.monotonic()
        if wait > 0:
            self._sleep(wait)
