"""Value types of the comparison feature: what is compared (scope), and what was found.

Why a module of its own: the service layer (jobs/compare.py), the API renderers and the CLI
all read these results, while only the comparison code produces them. Everything here is
plain data; values are text (the normalised text each side produced), so a result can be
stored, rendered and turned into repair SQL without a database driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opendrs.engines.base import EndpointConfig
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

# TableResult.status values
CONSISTENT = "consistent"
INCONSISTENT = "inconsistent"
FAILED = "failed"
UNCOMPARABLE = "uncomparable"
# RowDiff.kind values
MISSING = "missing"  # on the target
EXTRA = "extra"  # on the target
CHANGED = "changed"


@dataclass(frozen=True)
class CompareScope:
    """What to compare: both endpoints, the task's selection with its renames, and its row filters."""

    engine_type: str  # "mysql" | "postgresql" (mysql-to-mysql etc. map to mysql)
    source: EndpointConfig
    target: EndpointConfig
    selection: Selection
    row_filters: dict[TableRef, str] = field(default_factory=dict)
    limit_mb: float | None = None  # flow-control cap (MB/s) the comparison reads at most, per side
    chunk_rows: int = 50_000  # rows per checksummed key range (tuning; bisection splits further)


@dataclass
class RowDiff:
    """One row that differs; values are each side's normalised text (None = SQL NULL)."""

    kind: str  # MISSING | EXTRA | CHANGED
    key_columns: tuple[str, ...]  # () for keyless tables (then the whole row is the key)
    key: tuple[str | None, ...]  # key values as text
    source_row: dict[str, str | None] | None
    target_row: dict[str, str | None] | None
    select_sql: str  # a SELECT that shows the row on the source
    target_select_sql: str  # ... and on the target


@dataclass
class TableResult:
    """The outcome for one table: counts, status and (for "contents") the differing rows."""

    source: TableRef
    target: TableRef
    kind: str  # "lines" | "contents"
    source_rows: int
    target_rows: int
    status: str  # CONSISTENT | INCONSISTENT | FAILED | UNCOMPARABLE
    diff_count: int
    diffs: list[RowDiff]  # at most max_diffs kept; diff_count is the true total
    message: str = ""
    chunks_done: int = 0
    chunks_total: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    missing: str | None = None  # "source" | "target" | "both": which side lacks the table
    failed_side: str | None = None  # "source" | "target" when status is FAILED because of one side
    columns: tuple[str, ...] = ()  # the columns compared (both sides have them), in source order
    # False while the table is still being compared or its differences are being re-checked (a progress
    # report); True on the table's last progress report and in the list compare_tables returns.
    final: bool = False


@dataclass
class ObjectDiff:
    """One object on either side: its spec type, where it lives, and whether the two agree."""

    object_type: str  # "DB", "TABLE", "VIEW", "INDEX", "CONSTRAINT", "COLUMN", "PROCEDURE", "FUNCTION",
    # "TRIGGER", "EVENT", "SEQUENCE", "USER"
    source_db: str | None
    target_db: str | None
    source_value: str | None  # the object name (and definition summary) on each side, None = absent
    target_value: str | None
    status: str  # "consistent" | "missing" | "extra" | "different"
    message: str = ""


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the comparison needs it: its type decides the normalisation and the literal form."""

    name: str
    data_type: str  # lower-case base type ("int", "datetime", "character varying", ...)
    column_type: str  # full declaration ("int(10) unsigned", "numeric(10,2)")
    nullable: bool = True
    generated: bool = False  # computed on the server: never written by repair
    charset: str | None = None
    identity_always: bool = False  # PostgreSQL GENERATED ALWAYS AS IDENTITY


@dataclass(frozen=True)
class TableInfo:
    """A table on one side: its columns in order and the key that identifies a row (() = none)."""

    ref: TableRef
    columns: tuple[ColumnInfo, ...]
    key: tuple[str, ...]
    rows_estimate: int = 0
    avg_row_bytes: int = 0

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)
