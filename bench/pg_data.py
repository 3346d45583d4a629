"""The PostgreSQL benchmark's data: the MySQL bench's dataset shapes, and the same CDC change stream.

The rows come from the MySQL bench's seeded generators (``mysql_data``: sysbench ``c``/``pad``,
and the ``wide1`` row of one column per type family with ~10% NULLs), so both benches copy
the same values; only the ``wide1`` bytea column is re-spelled for PostgreSQL's COPY text
format (``\\x`` + hex). Rows are streamed to the source with ``COPY FROM STDIN``, then the
tables are vacuumed (frozen, hint bits set) and analysed, so no measured tool pays for the
first read of freshly loaded pages.

The CDC stream: transactions of 10 row changes (4 INSERT, 4 UPDATE by PK, 2 DELETE by PK,
shuffled) on a sbtest-like table, each UPDATE/DELETE hitting a row that exists at that
moment; each transaction is one round trip (simple query protocol, several statements).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mysql_data import CHUNK, WORDS, Sysbench, wide_row, write_sbtest_tsv
from pg_env import BenchPostgres, connect, create_database

FULL_DB = "bench"
CDC_DB = "benchcdc"
CDC_TABLE = "cdc1"
MARK_TABLE = "cdc_mark"
COPY_BLOCK = 1 << 20

SBTEST_DDL = """CREATE TABLE {name} (
  id bigint NOT NULL PRIMARY KEY,
  k integer NOT NULL DEFAULT 0,
  c char(120) NOT NULL DEFAULT '',
  pad char(60) NOT NULL DEFAULT ''
);
CREATE INDEX {name}_k_1 ON {name} (k)"""

WIDE_DDL = """CREATE TABLE wide1 (
  id bigint NOT NULL PRIMARY KEY,
  amount numeric(20,6),
  ratio double precision,
  active boolean,
  created timestamptz,
  born date,
  name varchar(200),
  body text,
  ref uuid,
  doc jsonb,
  payload bytea
)"""

MARK_DDL = f"CREATE TABLE {MARK_TABLE} (id integer NOT NULL PRIMARY KEY, at timestamptz NOT NULL)"


def pg_wide_line(mysql_line: str) -> str:
    """A ``mysql_data.wide_row`` TSV line for PostgreSQL's COPY: the last field (BLOB as bare hex) -> ``\\\\x`` hex."""
    head, sep, payload = mysql_line.rstrip("\n").rpartition("\t")
    if not sep:
        raise ValueError("not a wide1 TSV line")
    if payload != "\\N":
        payload = "\\\\x" + payload
    return f"{head}\t{payload}\n"


def write_wide_tsv(path: Path, rows: int, seed: int, progress: Callable[[int], None] | None = None) -> int:
    """``wide1`` rows 1..rows in COPY text format (same values as the MySQL bench for the same seed)."""
    rnd = random.Random(seed)
    text = " ".join(rnd.choice(WORDS) for _ in range(20_000))
    with path.open("w", encoding="utf-8") as fh:
        for start in range(1, rows + 1, CHUNK):
            fh.write("".join(pg_wide_line(wide_row(rnd, text, i)) for i in range(start, min(start + CHUNK, rows + 1))))
            if progress:
                progress(min(start + CHUNK - 1, rows))
    return path.stat().st_size


def copy_file(server: BenchPostgres, db: str, table: str, path: Path) -> None:
    """Stream a COPY text file into ``table`` from the client (the server cannot read our files as postgres)."""
    with connect(server, db) as conn, conn.cursor() as cur, path.open("rb") as fh, \
            cur.copy(f'COPY "{table}" FROM STDIN') as copy:
        while block := fh.read(COPY_BLOCK):
            copy.write(block)


def create_tables(server: BenchPostgres, db: str, ddls: list[str]) -> None:
    """(Re)create ``db`` with the given DDL."""
    create_database(server, db)
    with connect(server, db) as conn:
        for ddl in ddls:
            conn.execute(ddl)


def vacuum(server: BenchPostgres, db: str) -> None:
    """Freeze and analyse: the first reader of fresh pages would otherwise pay for writing hint bits."""
    with connect(server, db) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE)")


@dataclass(frozen=True)
class Dataset:
    sbtest_rows: int
    wide_rows: int
    tsv_bytes: int

    @property
    def rows(self) -> int:
        return self.sbtest_rows + self.wide_rows


def build_full_dataset(source: BenchPostgres, work: Path, sbtest_rows: int, wide_rows: int, seed: int,
                       progress: Callable[[str, int, int], None]) -> Dataset:
    """Create ``bench.public.sbtest1`` and ``bench.public.wide1`` on the source."""
    create_tables(source, FULL_DB, [SBTEST_DDL.format(name="sbtest1"), WIDE_DDL])
    sb, wide = work / "gen_sbtest1.tsv", work / "gen_wide1.tsv"
    size = write_sbtest_tsv(sb, sbtest_rows, seed, lambda n: progress("generate sbtest1", n, sbtest_rows))
    size += write_wide_tsv(wide, wide_rows, seed + 1, lambda n: progress("generate wide1", n, wide_rows))
    progress("COPY sbtest1", 0, 1)
    copy_file(source, FULL_DB, "sbtest1", sb)
    progress("COPY wide1", 0, 1)
    copy_file(source, FULL_DB, "wide1", wide)
    progress("VACUUM (FREEZE, ANALYZE)", 0, 1)
    vacuum(source, FULL_DB)
    sb.unlink()
    wide.unlink()
    return Dataset(sbtest_rows, wide_rows, size)


# --- CDC ---------------------------------------------------------------------------------------


def cdc_ddls() -> list[str]:
    return [SBTEST_DDL.format(name=CDC_TABLE), MARK_DDL]


def reset_cdc_copy(server: BenchPostgres, db: str, snapshot: Path) -> None:
    """``db`` on ``server`` in the state before the change stream: the CDC table loaded from ``snapshot``."""
    create_tables(server, db, cdc_ddls())
    copy_file(server, db, CDC_TABLE, snapshot)
    vacuum(server, db)


def sql_text(value: str) -> str:
    """A standard-conforming SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class ChangeStream:
    """The generator's state: which ids exist, which id the next INSERT takes."""

    rnd: random.Random
    live: list[int]
    next_id: int
    table: str = CDC_TABLE
    gen: Sysbench = field(init=False)

    def __post_init__(self) -> None:
        self.gen = Sysbench(self.rnd)

    @classmethod
    def seeded(cls, seed: int, initial_rows: int) -> ChangeStream:
        return cls(random.Random(seed), list(range(1, initial_rows + 1)), initial_rows + 1)

    def transaction(self, size: int = 10) -> tuple[str, list[str]]:
        """One transaction as one simple-query string, and its ops (I/U/D) in order; at most 10 changes."""
        ops = ["I"] * 4 + ["U"] * 4 + ["D"] * 2
        self.rnd.shuffle(ops)
        ops = ops[:size]
        stmts = ["BEGIN"]
        for op in ops:
            if op == "I":
                stmts.append(f"INSERT INTO {self.table} (id, k, c, pad) VALUES ({self.next_id}, "
                             f"{self.rnd.randrange(1, 1_000_000)}, {sql_text(self.gen.c())}, "
                             f"{sql_text(self.gen.pad())})")
                self.live.append(self.next_id)
                self.next_id += 1
            elif op == "U":
                key = self.live[self.rnd.randrange(len(self.live))]
                stmts.append(f"UPDATE {self.table} SET k = k + 1, c = {sql_text(self.gen.c())} WHERE id = {key}")
            else:
                slot = self.rnd.randrange(len(self.live))
                key = self.live[slot]
                self.live[slot] = self.live[-1]
                self.live.pop()
                stmts.append(f"DELETE FROM {self.table} WHERE id = {key}")
        stmts.append("COMMIT")
        return ";".join(stmts), ops

    def transactions(self, changes: int) -> Iterator[tuple[str, int]]:
        """(SQL, changes in it) until ``changes`` row changes have been produced."""
        done = 0
        while done < changes:
            size = min(10, changes - done)
            text, _ = self.transaction(size)
            done += size
            yield text, size


def write_changes(source: BenchPostgres, db: str, initial_rows: int, changes: int, seed: int,
                  progress: Callable[[int], None]) -> int:
    """Write ``changes`` row changes in transactions of 10 on the source; returns the count."""
    stream = ChangeStream.seeded(seed, initial_rows)
    done = 0
    with connect(server=source, db=db, autocommit=True) as conn:
        for text, size in stream.transactions(changes):
            conn.execute(text.encode())  # no parameters: simple query protocol, several statements at once
            done += size
            if done % 10_000 == 0:
                progress(done)
    progress(done)
    return done


def write_marker(source: BenchPostgres, db: str) -> None:
    with connect(source, db) as conn:
        conn.execute(f"INSERT INTO {MARK_TABLE} VALUES (1, clock_timestamp())")


def marker_present(server: BenchPostgres, db: str) -> bool:
    """True once the stream's last transaction is visible in ``db`` (cheap: a one-row table)."""
    try:
        with connect(server, db) as conn:
            row = conn.execute(f"SELECT count(*) FROM {MARK_TABLE}").fetchone()
    except Exception:  # noqa: BLE001 - not there yet (database being reset, server busy): poll again
        return False
    return bool(row and row[0])
