"""The fast binlog reader against the library reader, on the same binlog range of a real MariaDB.

Why: ``binlog_reader`` decodes rows with its own code for speed, and must yield exactly what
the python-mysql-replication path yields (which ``test_binlog.py`` checks against SELECT):
same transactions, same events, same values of the same types, same positions, commit
times, DDL and byte counts. Every test writes a workload, then reads the range from the
position before it to the position after it twice -- once with each reader -- and compares
everything. Compressed events (which the library cannot read) are checked against SELECT.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_binlog import (
    ALL_TYPES,
    assert_same_row,
    catalog_of,
    connect,
    endpoint,
    insert_sql,
    row_values,
    select_row,
)

from harness import MariaDBServer
from opendrs.engines.mysql import binlog_reader
from opendrs.engines.mysql.binlog import stream
from opendrs.engines.mysql.capture import TransactionPart
from opendrs.engines.mysql.position import MySQLPosition, current_position
from opendrs.pipeline.model import Catalog, Op, Row, Transaction

ENV = "OPENDRS_MYSQL_BINLOG_READER"

QUIRKS = """
CREATE TABLE `{db}`.quirks (
  id INT PRIMARY KEY,
  c255 CHAR(255), v300l VARCHAR(300) CHARACTER SET latin1, b255 BINARY(255), c40l CHAR(40) CHARACTER SET latin1,
  e300 ENUM({labels}), s20 SET({members}),
  d18 DECIMAL(18,9), d9 DECIMAL(9,9), d10 DECIMAL(10,0), d30 DECIMAL(30,4) UNSIGNED, d1 DECIMAL(1,0),
  mt MEDIUMTEXT, tb TINYBLOB, tt TINYTEXT CHARACTER SET latin1, ft FLOAT, dbl DOUBLE,
  gv VARCHAR(20) AS (LEFT(c255, 20)) VIRTUAL
)
"""
LABELS = [f"l{i}" for i in range(300)]
MEMBERS = [f"m{i}" for i in range(20)]


def quirks_sql(db: str) -> str:
    return QUIRKS.format(db=db, labels=", ".join(f"'{x}'" for x in LABELS),
                         members=", ".join(f"'{x}'" for x in MEMBERS))


def quirk_rows(db: str) -> list[str]:
    t = f"`{db}`.quirks"
    return [
        f"INSERT INTO {t} (id, c255, v300l, b255, c40l, e300, s20, d18, d9, d10, d30, d1, mt, tb, tt, ft, dbl) VALUES "
        f"(1, REPEAT('ü', 255), REPEAT('é', 300), REPEAT(UNHEX('FF'), 200), 'abc   ', 'l299', 'm0,m19', "
        f"-123456789.123456789, -0.000000001, 9999999999, 12345678901234567890123456.7891, -9, "
        f"REPEAT('x😀', 40000), UNHEX('00FF'), 'Ø', 1e-38, -1e-308)",
        f"INSERT INTO {t} (id, e300, s20, d18, d9, d10, d30, d1, ft, dbl) VALUES "
        f"(2, 'l0', '', 0, 0, -0, 0, 0, -3.4e38, 5e-324), (3, 'l150', 'm7', 1.5, 0.5, 1, 0.0001, 1, 0, 0)",
        f"UPDATE {t} SET c255 = NULL, s20 = 'm1,m2,m3', d18 = 0.000000001 WHERE id = 1",
        f"DELETE FROM {t} WHERE id = 3",
    ]


@pytest.fixture
def db(mariadb_server: MariaDBServer) -> Iterator[str]:
    name = f"r_{uuid.uuid4().hex[:8]}"
    mariadb_server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    mariadb_server.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- reading a range with one reader ----------------------------------------------------------

Summary = tuple[Any, ...]


def values(row: Row | None) -> tuple[tuple[str, str], ...] | None:
    """A row as (type name, repr) pairs: a float's bits, a Decimal's scale, str vs bytes all count."""
    return None if row is None else tuple((type(v).__name__, repr(v)) for v in row)


def summary(txn: Transaction) -> Summary:
    return (type(txn).__name__, [(e.op, str(e.table), values(e.before), values(e.after)) for e in txn.events],
            txn.position, txn.commit_ts, txn.ddl, txn.ddl_schema, txn.bytes)


def read_range(server: MariaDBServer, start: MySQLPosition, end: MySQLPosition, catalog: Catalog, reader: str,
               monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> list[Transaction]:
    """Every transaction from ``start`` up to the commit at ``end`` (heartbeats left out), read by ``reader``."""
    monkeypatch.setenv(ENV, reader)
    out: list[Transaction] = []
    deadline = time.monotonic() + 120
    last: object = start

    def stop() -> bool:
        return (bool(out) and not isinstance(out[-1], TransactionPart) and out[-1].position >= end) \
            or time.monotonic() > deadline

    for txn in stream(endpoint(server), start, catalog, stop, server_id=4700, **kwargs):
        if txn.events or txn.ddl is not None or txn.position != last or isinstance(txn, TransactionPart):
            out.append(txn)
        last = txn.position
    assert out and out[-1].position == end, f"read up to {out[-1].position if out else start}, not {end}"
    return out


def assert_identical(fast: list[Transaction], library: list[Transaction]) -> None:
    assert len(fast) == len(library), ([summary(t)[2:] for t in fast], [summary(t)[2:] for t in library])
    for i, (a, b) in enumerate(zip(fast, library, strict=True)):
        sa, sb = summary(a), summary(b)
        if sa == sb:
            continue
        for label, x, y in zip(("type", "events", "position", "commit_ts", "ddl", "ddl_schema", "bytes"), sa, sb,
                               strict=True):
            if label == "events" and x != y:
                for k, (ex, ey) in enumerate(zip(x, y, strict=False)):
                    assert ex == ey, f"transaction {i}, event {k} differs:\nfast:    {ex}\nlibrary: {ey}"
            assert x == y, f"transaction {i}: {label} differs: fast {x!r} != library {y!r}"


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts streams served by the fast reader, so a silent fallback to the library fails the test."""
    calls: list[int] = []
    real = binlog_reader.read

    def counting(*args: Any, **kwargs: Any) -> Iterator[Transaction]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(binlog_reader, "read", counting)
    return calls


def both(server: MariaDBServer, start: MySQLPosition, end: MySQLPosition, catalog: Catalog,
         monkeypatch: pytest.MonkeyPatch, fast_calls: list[int], **kwargs: Any) -> list[Transaction]:
    assert binlog_reader.unsupported(catalog) is None
    fast = read_range(server, start, end, catalog, "fast", monkeypatch, **kwargs)
    assert len(fast_calls) == 1
    library = read_range(server, start, end, catalog, "library", monkeypatch, **kwargs)
    assert len(fast_calls) == 1, "the library reader must not go through binlog_reader"
    assert_identical(fast, library)
    return fast


def run(server: MariaDBServer, statements: list[str], *, before: Callable[[Any], None] | None = None
        ) -> tuple[MySQLPosition, MySQLPosition]:
    conn = connect(server)
    try:
        with conn.cursor() as cur:
            if before is not None:
                before(cur)
            start = current_position(conn)
            for sql in statements:
                cur.execute(sql)
            end = current_position(conn)
    finally:
        conn.close()
    return start, end


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", ["NO_LOG", "MINIMAL", "FULL"])
def test_every_type_and_operation_identical(mariadb_server: MariaDBServer, db: str, metadata: str,
                                            monkeypatch: pytest.MonkeyPatch, fast_calls: list[int]) -> None:
    (previous,) = mariadb_server.execute("SELECT @@GLOBAL.binlog_row_metadata")[0]
    mariadb_server.execute(f"SET GLOBAL binlog_row_metadata = {metadata}")
    conn = connect(mariadb_server)
    try:
        with conn.cursor() as cur:
            cur.execute(ALL_TYPES.format(db=db))
            cur.execute(quirks_sql(db))
            cur.execute(f"CREATE TABLE `{db}`.unselected (id INT PRIMARY KEY, v TEXT)")
        catalog = catalog_of(conn, db, tables=["all_types", "quirks"])
    finally:
        conn.close()
    workload = [insert_sql(db, row_values(k, v)) for k, v in enumerate(["max", "min", "odd", "null"], start=1)]
    workload += [
        "BEGIN",
        f"UPDATE `{db}`.all_types SET tm6 = '-01:00:00.25', bl = NULL, s = 'y', f = -0.0, d = -0.0 WHERE id = 1",
        f"INSERT INTO `{db}`.unselected VALUES (1, REPEAT('u', 500))",
        f"UPDATE `{db}`.all_types SET e = 'é', ti = -5, dt6 = '2001-02-03 04:05:06.000007', j = '{{}}' WHERE id = 4",
        "COMMIT",
        f"UPDATE `{db}`.all_types SET lb = REPEAT(UNHEX('AB'), 70000), b64 = b'101', dec65 = -1.5 WHERE id = 2",
        f"DELETE FROM `{db}`.all_types WHERE id = 3",
        *quirk_rows(db),
        f"UPDATE `{db}`.all_types SET dd = '2020-02-30', ts0 = '1999-12-31 23:59:59' WHERE id IN (1, 2, 4)",
        f"CREATE TABLE `{db}`.later (id INT PRIMARY KEY)",  # DDL in a selected database
        f"INSERT INTO `{db}`.unselected VALUES (2, 'only unselected')",
        f"DELETE FROM `{db}`.all_types",
    ]
    try:
        start, end = run(mariadb_server, workload)
    finally:
        mariadb_server.execute(f"SET GLOBAL binlog_row_metadata = {previous}")

    txns = both(mariadb_server, start, end, catalog, monkeypatch, fast_calls)
    ops = [e.op for t in txns for e in t.events]
    assert ops.count(Op.INSERT) == 7 and ops.count(Op.DELETE) == 5 and ops.count(Op.UPDATE) == 7, ops
    assert any(t.ddl and "CREATE TABLE" in t.ddl for t in txns)
    assert any(not t.events and t.ddl is None for t in txns)  # the unselected-only commit moves the position


def test_big_transaction_in_parts_identical(mariadb_server: MariaDBServer, db: str, monkeypatch: pytest.MonkeyPatch,
                                            fast_calls: list[int]) -> None:
    def create(cur: Any) -> None:
        cur.execute(f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(60), pad VARCHAR(80))")

    start, end = run(mariadb_server, [
        f"INSERT INTO `{db}`.big SELECT seq, seq * 7 % 1000, CONCAT('row-', seq), IF(seq % 3, NULL, REPEAT('p', 70)) "
        f"FROM `{db}`.seq_1_to_100000",
        f"UPDATE `{db}`.big SET k = k + 1 WHERE id <= 30000",
    ], before=create)
    conn = connect(mariadb_server)
    catalog = catalog_of(conn, db)
    conn.close()
    txns = both(mariadb_server, start, end, catalog, monkeypatch, fast_calls)
    parts = [t for t in txns if isinstance(t, TransactionPart)]
    # parts are cut at the first row event that fills 20,000 changes; the commit carries the rest
    first = [t for t in txns if t.position == start]
    assert len(first) >= 4 and all(isinstance(t, TransactionPart) and len(t.events) >= 20_000 for t in first)
    commit = txns[len(first)]
    assert type(commit) is Transaction and sum(len(t.events) for t in [*first, commit]) == 100_000
    assert len(parts) > len(first) and all(t.position == commit.position for t in parts[len(first):])
    assert sum(len(t.events) for t in txns) == 130_000
    assert [e.after for t in txns for e in t.events][:2] == [(1, 7, "row-1", None), (2, 14, "row-2", None)]


def test_rotation_mid_stream_identical(mariadb_server: MariaDBServer, db: str, monkeypatch: pytest.MonkeyPatch,
                                       fast_calls: list[int]) -> None:
    def create(cur: Any) -> None:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))")

    start, end = run(mariadb_server, [
        f"INSERT INTO `{db}`.t VALUES (1, 'a')", "FLUSH BINARY LOGS", f"INSERT INTO `{db}`.t VALUES (2, 'b')",
        "FLUSH BINARY LOGS", f"UPDATE `{db}`.t SET v = 'c'"], before=create)
    conn = connect(mariadb_server)
    catalog = catalog_of(conn, db)
    conn.close()
    txns = both(mariadb_server, start, end, catalog, monkeypatch, fast_calls)
    changed = [t for t in txns if t.events]
    assert len({t.position.file for t in changed}) == 3  # type: ignore[attr-defined]
    assert [e.after for t in changed for e in t.events] == [(1, "a"), (2, "b"), (1, "c"), (2, "c")]


def test_compressed_events(mariadb_server: MariaDBServer, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """MariaDB's log_bin_compress: row images and long statements arrive zlib-compressed."""
    settings = mariadb_server.execute("SELECT @@GLOBAL.log_bin_compress, @@GLOBAL.log_bin_compress_min_len")[0]
    conn = connect(mariadb_server)
    try:
        with conn.cursor() as cur:
            cur.execute(ALL_TYPES.format(db=db))
            catalog = catalog_of(conn, db)
        mariadb_server.execute("SET GLOBAL log_bin_compress = ON, log_bin_compress_min_len = 10")
        start, _ = run(mariadb_server, [])
        ddl = f"CREATE TABLE `{db}`.compressed_ddl (id INT PRIMARY KEY, note VARCHAR(200) DEFAULT '{'n' * 150}')"
        expected: list[tuple[Op, Row | None, Row | None]] = []
        with conn.cursor() as cur:
            for key, variant in enumerate(["max", "odd", "null"], start=1):
                cur.execute(insert_sql(db, row_values(key, variant)))
                expected.append((Op.INSERT, None, select_row(conn, db, "all_types", key)))
            before = select_row(conn, db, "all_types", 2)
            cur.execute(f"UPDATE `{db}`.all_types SET vc = REPEAT('z', 90) WHERE id = 2")
            expected.append((Op.UPDATE, before, select_row(conn, db, "all_types", 2)))
            cur.execute(ddl)
            end = current_position(conn)
            cur.execute(f"SHOW BINLOG EVENTS IN '{start.file}' FROM {start.pos}")
            kinds = {str(row[2]) for row in cur.fetchall()}
        assert {"Write_rows_compressed_v1", "Query_compressed"} <= kinds, kinds
    finally:
        mariadb_server.execute(f"SET GLOBAL log_bin_compress = {int(settings[0])}, "
                               f"log_bin_compress_min_len = {int(settings[1])}")
        conn.close()
    txns = read_range(mariadb_server, start, end, catalog, "fast", monkeypatch)
    events = [e for t in txns for e in t.events]
    assert len(events) == len(expected)
    table = catalog.tables[0]
    for event, (op, before_row, after_row) in zip(events, expected, strict=True):
        assert event.op is op
        if before_row is not None:
            assert_same_row(event.before, before_row, table)
        if after_row is not None:
            assert_same_row(event.after, after_row, table)
    assert txns[-1].ddl is not None and "n" * 150 in txns[-1].ddl
