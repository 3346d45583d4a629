"""The benchmark's data: the BASELINES.md tables, generated fast, and the CDC change stream.

Rows are written to TSV files in the bench's work dir by a seeded generator and loaded with
server-side ``LOAD DATA INFILE`` (``sql_log_bin = 0``, so the source's binlog holds only the
CDC stream the bench means to replay). ``sbtest1`` follows sysbench's layout; ``wide1`` has
one column of each type family DBAs care about (DECIMAL, DOUBLE, BOOL, DATETIME(6), DATE,
utf8mb4 VARCHAR/TEXT with 4-byte characters, a uuid, JSON, BLOB) with about 10% NULLs. At the
default sizes the two tables come to ~2.2 M rows and ~600 MB of TSV, as in BASELINES.md.

The CDC stream is generated once and replayed by every tool from the same binlog position:
transactions of 10 row changes (4 INSERT, 4 UPDATE by PK, 2 DELETE by PK, shuffled) on a
100,000-row sbtest-like table, each UPDATE/DELETE hitting a row that exists at that moment.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymysql
from mysql_env import quote, session

from opendrs.sandbox import MariaDBServer

FULL_DB = "bench"
CDC_DB = "benchcdc"
CDC_TABLE = "cdc1"
MARK_TABLE = "cdc_mark"
CHUNK = 20_000

SBTEST_DDL = """CREATE TABLE {name} (
  id BIGINT NOT NULL,
  k INT NOT NULL DEFAULT 0,
  c CHAR(120) NOT NULL DEFAULT '',
  pad CHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY k_1 (k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

WIDE_DDL = """CREATE TABLE wide1 (
  id BIGINT NOT NULL,
  amount DECIMAL(20,6) NULL,
  ratio DOUBLE NULL,
  active BOOL NULL,
  created DATETIME(6) NULL,
  born DATE NULL,
  name VARCHAR(200) NULL,
  body TEXT NULL,
  ref CHAR(36) NULL,
  doc JSON NULL,
  payload BLOB NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
WIDE_COLUMNS = ("(id, amount, ratio, active, created, born, name, body, ref, doc, @payload) "
                "SET payload = UNHEX(@payload)")

MARK_DDL = f"CREATE TABLE {MARK_TABLE} (id INT NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB"

NAMES = ("Zoë", "Łódź", "東京", "Müller", "😀 party", "Ærø", "Ñandú", "Straße", "Καλημέρα", "𝄞 clef",
         "O'Brien", "smith", "naïve café", "Россия", "שלום", "🦄🌈")
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
         "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "émigré",
         "🙂", "naïve", "Zürich")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Sysbench:
    """sysbench-style ``c`` and ``pad`` values: groups of 11 digits joined by '-'."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.groups = ["".join(rnd.choices(string.digits, k=11)) for _ in range(4096)]

    def c(self) -> str:
        return "-".join(self.rnd.choices(self.groups, k=10))

    def pad(self) -> str:
        return "-".join(self.rnd.choices(self.groups, k=5))

    def row(self, i: int) -> str:
        return f"{i}\t{self.rnd.randrange(1, 1_000_000)}\t{self.c()}\t{self.pad()}\n"


def write_sbtest_tsv(path: Path, rows: int, seed: int, progress: Callable[[int], None] | None = None) -> int:
    """Write ``rows`` sbtest rows (ids 1..rows); returns the file size."""
    gen = Sysbench(random.Random(seed))
    with path.open("w", encoding="utf-8") as fh:
        for start in range(1, rows + 1, CHUNK):
            fh.write("".join(gen.row(i) for i in range(start, min(start + CHUNK, rows + 1))))
            if progress:
                progress(min(start + CHUNK - 1, rows))
    return path.stat().st_size


def _maybe(rnd: random.Random, value: str) -> str:
    return "\\N" if rnd.random() < 0.1 else value


def wide_row(rnd: random.Random, text: str, i: int) -> str:
    """One TSV line of ``wide1`` (no tabs, newlines or backslashes in the values)."""
    stamp = EPOCH + timedelta(seconds=rnd.randrange(0, 900_000_000), microseconds=rnd.randrange(1_000_000))
    start = rnd.randrange(0, len(text) - 1300)
    name = f"{rnd.choice(NAMES)} {rnd.choice(NAMES)} {i}"
    doc = f'{{"id": {i}, "name": "{rnd.choice(NAMES)}", "score": {rnd.random():.6f}, "tags": ["a", "b{i % 7}"]}}'
    fields = (
        str(i),
        _maybe(rnd, f"{rnd.randrange(-10**12, 10**12)}.{rnd.randrange(10**6):06d}"),
        _maybe(rnd, repr(rnd.uniform(-1e9, 1e9))),
        _maybe(rnd, str(rnd.randrange(2))),
        _maybe(rnd, stamp.strftime("%Y-%m-%d %H:%M:%S.%f")),
        _maybe(rnd, stamp.strftime("%Y-%m-%d")),
        _maybe(rnd, name),
        _maybe(rnd, text[start:start + rnd.randrange(100, 1200)]),
        _maybe(rnd, str(uuid.UUID(int=rnd.getrandbits(128), version=4))),
        _maybe(rnd, doc),
        _maybe(rnd, rnd.randbytes(rnd.randrange(16, 400)).hex()),
    )
    return "\t".join(fields) + "\n"


def write_wide_tsv(path: Path, rows: int, seed: int, progress: Callable[[int], None] | None = None) -> int:
    rnd = random.Random(seed)
    text = " ".join(rnd.choice(WORDS) for _ in range(20_000))
    with path.open("w", encoding="utf-8") as fh:
        for start in range(1, rows + 1, CHUNK):
            fh.write("".join(wide_row(rnd, text, i) for i in range(start, min(start + CHUNK, rows + 1))))
            if progress:
                progress(min(start + CHUNK - 1, rows))
    return path.stat().st_size


def load_tsv(server: MariaDBServer, db: str, table: str, path: Path, columns: str = "") -> None:
    """Server-side LOAD DATA INFILE, not binlogged (the file must be under ``secure_file_priv``)."""
    with session(server) as cur:
        cur.execute("SET SESSION sql_log_bin = 0, unique_checks = 0, foreign_key_checks = 0")
        cur.execute(f"LOAD DATA INFILE %s INTO TABLE {quote(db)}.{quote(table)} CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' {columns}", (str(path),))


def create_database(server: MariaDBServer, db: str, ddls: list[str], *, log_bin: bool = False) -> None:
    """(Re)create ``db`` with the given CREATE TABLE statements; not binlogged unless ``log_bin``."""
    with session(server) as cur:
        if not log_bin:
            cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute(f"DROP DATABASE IF EXISTS {quote(db)}")
        cur.execute(f"CREATE DATABASE {quote(db)} CHARACTER SET utf8mb4")
        for ddl in ddls:
            cur.execute(f"USE {quote(db)}")
            cur.execute(ddl)


@dataclass(frozen=True)
class Dataset:
    sbtest_rows: int
    wide_rows: int
    tsv_bytes: int

    @property
    def rows(self) -> int:
        return self.sbtest_rows + self.wide_rows


def build_full_dataset(source: MariaDBServer, work: Path, sbtest_rows: int, wide_rows: int, seed: int,
                       progress: Callable[[str, int, int], None]) -> Dataset:
    """Create ``bench.sbtest1`` and ``bench.wide1`` on the source; the TSV files are removed after loading."""
    create_database(source, FULL_DB, [SBTEST_DDL.format(name="sbtest1"), WIDE_DDL])
    sb, wide = work / "gen_sbtest1.tsv", work / "gen_wide1.tsv"
    size = write_sbtest_tsv(sb, sbtest_rows, seed, lambda n: progress("generate sbtest1", n, sbtest_rows))
    size += write_wide_tsv(wide, wide_rows, seed + 1, lambda n: progress("generate wide1", n, wide_rows))
    progress("LOAD DATA sbtest1", 0, 1)
    load_tsv(source, FULL_DB, "sbtest1", sb)
    progress("LOAD DATA wide1", 0, 1)
    load_tsv(source, FULL_DB, "wide1", wide, WIDE_COLUMNS)
    sb.unlink()
    wide.unlink()
    return Dataset(sbtest_rows, wide_rows, size)


# --- CDC ---------------------------------------------------------------------------------------


def cdc_ddls() -> list[str]:
    return [SBTEST_DDL.format(name=CDC_TABLE), MARK_DDL]


def reset_cdc_copy(server: MariaDBServer, snapshot: Path) -> None:
    """Put ``benchcdc`` on ``server`` back to the state before the change stream (not binlogged)."""
    create_database(server, CDC_DB, cdc_ddls())
    load_tsv(server, CDC_DB, CDC_TABLE, snapshot)


def _sql_row(conn: pymysql.connections.Connection[pymysql.cursors.Cursor], values: tuple[object, ...]) -> str:
    return "(" + ",".join(conn.escape(v) for v in values) + ")"


def write_changes(source: MariaDBServer, initial_rows: int, changes: int, seed: int,
                  progress: Callable[[int], None]) -> int:
    """Write ``changes`` row changes in transactions of 10 (4 INSERT, 4 UPDATE, 2 DELETE); returns the count.

    Each transaction is sent as one multi-statement round trip, so the source takes them as
    fast as it commits. The marker row that ends the stream is written separately (``write_marker``).
    """
    rnd = random.Random(seed)
    gen = Sysbench(rnd)
    live = list(range(1, initial_rows + 1))
    next_id = initial_rows + 1
    table = f"{quote(CDC_DB)}.{quote(CDC_TABLE)}"
    ops = ["I"] * 4 + ["U"] * 4 + ["D"] * 2
    done = 0
    conn = source.connect(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, read_timeout=600)
    try:
        with conn.cursor() as cur:
            while done < changes:
                rnd.shuffle(ops)
                stmts = ["BEGIN"]
                for op in ops[:min(10, changes - done)]:
                    if op == "I":
                        stmts.append(f"INSERT INTO {table} (id, k, c, pad) VALUES "
                                     + _sql_row(conn, (next_id, rnd.randrange(1, 1_000_000), gen.c(), gen.pad())))
                        live.append(next_id)
                        next_id += 1
                    elif op == "U":
                        key = live[rnd.randrange(len(live))]
                        stmts.append(f"UPDATE {table} SET k = k + 1, c = {conn.escape(gen.c())} WHERE id = {key}")
                    else:
                        slot = rnd.randrange(len(live))
                        key = live[slot]
                        live[slot] = live[-1]
                        live.pop()
                        stmts.append(f"DELETE FROM {table} WHERE id = {key}")
                    done += 1
                stmts.append("COMMIT")
                cur.execute(";".join(stmts))
                while cur.nextset():
                    pass
                if done % 10_000 == 0:
                    progress(done)
    finally:
        conn.close()
    progress(done)
    return done


def write_marker(source: MariaDBServer) -> None:
    source.execute(f"INSERT INTO {quote(CDC_DB)}.{quote(MARK_TABLE)} VALUES (1, NOW(6))")


def marker_present(server: MariaDBServer) -> bool:
    """True once the stream's last transaction is visible on ``server`` (cheap: a one-row table)."""
    try:
        rows = server.execute(f"SELECT COUNT(*) FROM {quote(CDC_DB)}.{quote(MARK_TABLE)}")
    except pymysql.err.MySQLError:
        return False
    return bool(rows and rows[0][0])
