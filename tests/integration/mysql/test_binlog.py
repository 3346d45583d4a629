"""Binlog capture against a real MariaDB: every column type, transactions, positions, faults.

Why: CDC output must equal what the full load's SELECT returns, value for value and type for
type, or the target drifts from the source. Each test writes on the source, captures from a
position taken before, and compares the captured images with ``SELECT *`` of the same rows
(``repr`` equality: Decimal scale, float digits, str vs bytes, naive datetimes all count).
The type test runs with the binlog carrying no column metadata (MariaDB's default, columns
matched by position) and with ``binlog_row_metadata=FULL`` (matched by name).
"""

from __future__ import annotations

import datetime
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest

from harness import MariaDBServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.binlog import stream
from opendrs.engines.mysql.capture import (
    BinlogPurged,
    BinlogSchemaMismatch,
    SourceConnectionLost,
    TransactionPart,
)
from opendrs.engines.mysql.position import BinlogError, MySQLPosition, current_position
from opendrs.pipeline.model import Catalog, Column, ObjectDDL, Op, TableRef, TableSchema, Transaction

PERMISSIVE = "ALLOW_INVALID_DATES"  # zero dates, zero-in-date and 2020-02-30 all accepted


# --- helpers ----------------------------------------------------------------------------------


def endpoint(server: MariaDBServer) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password)


def connect(server: MariaDBServer) -> pymysql.connections.Connection[Any]:
    """Like the pipeline's source connections: utf8mb4, UTC session, default converters."""
    init = f"SET time_zone = '+00:00', sql_mode = '{PERMISSIVE}'"
    return server.connect(charset="utf8mb4", init_command=init)  # type: ignore[no-any-return,unused-ignore]


def catalog_of(conn: pymysql.connections.Connection[Any], db: str, tables: list[str] | None = None) -> Catalog:
    """The catalog the discovery step would build, straight from information_schema."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, data_type, column_type, is_nullable, is_generated, character_set_name "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position", (db,))
        columns: dict[str, list[Column]] = {}
        for table, name, data_type, column_type, nullable, generated, charset in cur.fetchall():
            columns.setdefault(table, []).append(
                Column(name, data_type, column_type, nullable == "YES", generated == "ALWAYS", charset))
    return Catalog(
        databases=[ObjectDDL("database", db, db, f"CREATE DATABASE `{db}`")],
        tables=[TableSchema(TableRef(db, t), cols, key=("id",)) for t, cols in columns.items()
                if tables is None or t in tables],
    )


def capture(server: MariaDBServer, start: MySQLPosition, catalog: Catalog, count: int, *, timeout: float = 30.0,
            only_changes: bool = False, **kwargs: Any) -> list[Transaction]:
    """The first ``count`` transactions from ``start``, heartbeats left out.

    A heartbeat is an empty transaction at the position of the one before it; an empty
    transaction that moves the position is a commit of unselected changes and is kept
    (unless ``only_changes``).
    """
    out: list[Transaction] = []
    deadline = time.monotonic() + timeout
    last: object = start

    def stop() -> bool:
        return len(out) >= count or time.monotonic() > deadline

    for txn in stream(endpoint(server), start, catalog, stop, server_id=4000, **kwargs):
        changed = bool(txn.events) or txn.ddl is not None
        if changed or (not only_changes and txn.position != last):
            out.append(txn)
        last = txn.position
    assert len(out) == count, f"captured {len(out)} of {count} transactions: {out}"
    return out


def position(txn: Transaction) -> MySQLPosition:
    assert isinstance(txn.position, MySQLPosition), txn.position
    return txn.position


def select_row(conn: pymysql.connections.Connection[Any], db: str, table: str, key: int) -> tuple[Any, ...]:
    """The row as the FULL LOAD reads it (``dialect.read_expr`` per column): CDC must equal it."""
    from opendrs.engines.mysql.dialect import read_expr
    from opendrs.engines.mysql.discover import table_schema
    from opendrs.pipeline.model import TableRef

    schema = table_schema(conn, TableRef(db, table))
    columns = ", ".join(read_expr(c) for c in schema.columns)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM `{db}`.`{table}` WHERE id = %s", (key,))
        row = cur.fetchone()
    assert row is not None
    return tuple(row)


def assert_same_row(captured: tuple[Any, ...] | None, selected: tuple[Any, ...], table: TableSchema) -> None:
    assert captured is not None
    assert len(captured) == len(selected)
    for col, got, want in zip(table.columns, captured, selected, strict=True):
        if col.generated and got is None:
            continue  # a generated column may be absent from the binlog image
        assert type(got) is type(want), f"{col.name} ({col.column_type}): {got!r} != {want!r}"
        assert repr(got) == repr(want), f"{col.name} ({col.column_type}): {got!r} != {want!r}"


@pytest.fixture
def db(mariadb_server: MariaDBServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:8]}"
    mariadb_server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    mariadb_server.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- every column type ------------------------------------------------------------------------

ALL_TYPES = """
CREATE TABLE `{db}`.all_types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, bo BOOLEAN,
  dec65 DECIMAL(65,30), dec5 DECIMAL(5,2), dec0 DECIMAL(20,0) UNSIGNED,
  f FLOAT, f72 FLOAT(7,2), d DOUBLE,
  b64 BIT(64), b1 BIT(1), b10 BIT(10),
  dd DATE, dt6 DATETIME(6), dt0 DATETIME, dt3 DATETIME(3), ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  ts0 TIMESTAMP NULL DEFAULT NULL, tm6 TIME(6), tm0 TIME, tm3 TIME(3), tm1 TIME(1), y YEAR,
  c CHAR(10), vc VARCHAR(100), tx TEXT, cbin VARCHAR(20) COLLATE utf8mb4_bin,
  cl CHAR(10) CHARACTER SET latin1, vcl VARCHAR(255) CHARACTER SET latin1, txl TEXT CHARACTER SET latin1,
  bn BINARY(8), vb VARBINARY(100), bl BLOB, lb LONGBLOB,
  j JSON, e ENUM('a', 'b c', 'é', 'it''s'), s SET('x', 'y', 'z'),
  p POINT, g GEOMETRY,
  gv BIGINT AS (i + 1) VIRTUAL, gs VARCHAR(120) AS (CONCAT(vc, '!')) STORED
)
"""
COLS = ["id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "bo", "dec65", "dec5", "dec0", "f", "f72",
        "d", "b64", "b1", "b10", "dd", "dt6", "dt0", "dt3", "ts6", "ts0", "tm6", "tm0", "tm3", "tm1", "y", "c", "vc",
        "tx", "cbin", "cl", "vcl", "txl", "bn", "vb", "bl", "lb", "j", "e", "s", "p", "g"]
LATIN1_BYTES = bytes(range(0x20, 0x100))
BIG_BLOB = os.urandom(3 * 1024 * 1024 + 17)


def row_values(key: int, variant: str) -> dict[str, Any]:
    """Literal SQL per column for one test row (``variant`` picks extremes)."""
    if variant == "null":
        return {"id": str(key)}
    if variant == "max":
        return dict(
            id=str(key), ti="127", tiu="255", si="32767", siu="65535", mi="8388607", miu="16777215",
            i="2147483647", iu="4294967295", bi="9223372036854775807", biu="18446744073709551615", bo="1",
            dec65="99999999999999999999999999999999999.999999999999999999999999999999", dec5="999.99",
            dec0="99999999999999999999", f="3.40282e38", f72="99999.99", d="1.7976931348623157e308",
            b64="b'" + "1" * 64 + "'", b1="b'1'", b10="b'1111111111'",
            dd="'9999-12-31'", dt6="'9999-12-31 23:59:59.999999'", dt0="'9999-12-31 23:59:59'",
            dt3="'2024-02-29 12:00:00.123'", ts6="'2038-01-19 03:14:07.999999'", ts0="'1970-01-01 00:00:01'",
            tm6="'838:59:59.000000'", tm0="'838:59:59'", tm3="'00:00:00.001'", tm1="'12:34:56.7'", y="2155",
            c="'😀🎉 ab  '", vc="'trailing  spaces  '", tx="'𝄞 text 中文 ' ", cbin="'BinColl'",
            cl="'café'", vcl=f"UNHEX('{LATIN1_BYTES.hex()}')", txl="'Ünïcödé ¤ €'",
            bn="UNHEX('6162')", vb="UNHEX('00FF00')", bl="UNHEX('000102')", lb=f"UNHEX('{BIG_BLOB.hex()}')",
            j="'{\"a\": [1, 2.5, \"é😀\"], \"b\": null}'", e="'it''s'", s="'x,y,z'",
            p="ST_GeomFromText('POINT(1.5 -2.25)', 4326)",
            g="ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))')",
        )
    if variant == "min":
        return dict(
            id=str(key), ti="-128", tiu="0", si="-32768", siu="0", mi="-8388608", miu="0",
            i="-2147483648", iu="0", bi="-9223372036854775808", biu="0", bo="0",
            dec65="-99999999999999999999999999999999999.999999999999999999999999999999", dec5="-0.01",
            dec0="0", f="-1.17549e-38", f72="-0.01", d="-2.2250738585072014e-308",
            b64="b'0'", b1="b'0'", b10="b'1000000001'",
            dd="'1000-01-01'", dt6="'1000-01-01 00:00:00.000000'", dt0="'1000-01-01 00:00:00'",
            dt3="'1000-01-01 00:00:00.001'", ts6="'1970-01-01 00:00:01.000001'", ts0="'2038-01-19 03:14:07'",
            tm6="'-838:59:59.000000'", tm0="'-838:59:59'", tm3="'-12:34:56.789'", tm1="'-00:00:00.5'", y="1901",
            c="''", vc="''", tx="''", cbin="''", cl="''", vcl="''", txl="''",
            bn="UNHEX('0000000000000000')", vb="''", bl="''", lb="''",
            j="'[]'", e="'a'", s="''", p="POINT(0, 0)", g="ST_GeomFromText('LINESTRING(0 0, 1 1)')",
        )
    # "odd": zero and invalid temporal values, float/double edge cases, invalid ENUM
    return dict(
        id=str(key), ti="0", tiu="1", si="-1", siu="1", mi="-1", miu="1", i="0", iu="1", bi="-1",
        biu="9223372036854775808", bo="2",
        dec65="0.000000000000000000000000000001", dec5="0", dec0="1",
        f="0.1", f72="1.5", d="0.30000000000000004",
        b64="b'1000000000000000000000000000000000000000000000000000000000000000'", b1="b'0'", b10="b'0000000001'",
        dd="'0000-00-00'", dt6="'0000-00-00 00:00:00.000000'", dt0="'2020-02-30 10:20:30'",
        dt3="'2020-00-15 00:00:00.5'", ts6="'0000-00-00 00:00:00'", ts0="'0000-00-00 00:00:00'",
        tm6="'-00:00:00.000001'", tm0="'00:00:00'", tm3="'-00:00:01.5'", tm1="'-838:59:58.9'", y="0",
        c="'x'", vc="'a\\\\b\\'c\"'", tx="REPEAT('é', 1000)", cbin="'z'", cl="'ÿ'", vcl="UNHEX('808182838D8F909D9F')",
        txl="'a'", bn="UNHEX('6100')", vb="UNHEX('')", bl=f"UNHEX('{os.urandom(300).hex()}')", lb="NULL",
        j="'{\"nested\": {\"k\": [true, false, null, 1e300]}}'", e="'not-a-label'", s="'z,x'",
        p="NULL", g="ST_GeomFromText('POINT(3 4)')",
    )


def insert_sql(db: str, values: dict[str, Any]) -> str:
    cols = ", ".join(values)
    return f"INSERT INTO `{db}`.all_types ({cols}) VALUES ({', '.join(values.values())})"


@pytest.mark.parametrize("metadata", ["NO_LOG", "FULL"])
def test_every_column_type_matches_select(mariadb_server: MariaDBServer, db: str, metadata: str) -> None:
    conn = connect(mariadb_server)
    (previous,) = mariadb_server.execute("SELECT @@GLOBAL.binlog_row_metadata")[0]
    mariadb_server.execute(f"SET GLOBAL binlog_row_metadata = {metadata}")
    try:
        with conn.cursor() as cur:
            cur.execute(ALL_TYPES.format(db=db))
            catalog = catalog_of(conn, db)
            table = catalog.tables[0]
            assert [c.name for c in table.columns] == [*COLS, "gv", "gs"]
            start = current_position(conn)
            expected: list[tuple[Op, tuple[Any, ...] | None, tuple[Any, ...] | None]] = []
            for key, variant in enumerate(["max", "min", "odd", "null"], start=1):
                cur.execute(insert_sql(db, row_values(key, variant)))
                expected.append((Op.INSERT, None, select_row(conn, db, "all_types", key)))
            before: tuple[Any, ...] | None
            for key, assignment in [(1, "tm6 = '-01:00:00.25', bl = NULL, s = 'y', f = -0.0, d = -0.0"),
                                    (4, "e = 'é', ti = -5, dt6 = '2001-02-03 04:05:06.000007', j = '{}'"),
                                    (2, "lb = REPEAT(UNHEX('AB'), 70000), b64 = b'101', dec65 = -1.5")]:
                before = select_row(conn, db, "all_types", key)
                cur.execute(f"UPDATE `{db}`.all_types SET {assignment} WHERE id = {key}")
                expected.append((Op.UPDATE, before, select_row(conn, db, "all_types", key)))
            before = select_row(conn, db, "all_types", 3)
            cur.execute(f"DELETE FROM `{db}`.all_types WHERE id = 3")
            expected.append((Op.DELETE, before, None))
    finally:
        mariadb_server.execute(f"SET GLOBAL binlog_row_metadata = {previous}")
        conn.close()

    txns = capture(mariadb_server, start, catalog, len(expected))
    for txn, (op, before, after) in zip(txns, expected, strict=True):
        assert len(txn.events) == 1, txn
        event = txn.events[0]
        assert event.op is op and event.table == table.ref
        if before is None:
            assert event.before is None
        else:
            assert_same_row(event.before, before, table)
        if after is None:
            assert event.after is None
        else:
            assert_same_row(event.after, after, table)


# --- transactions, positions, resume, DDL -----------------------------------------------------


def test_transactions_positions_resume_and_ddl(mariadb_server: MariaDBServer, db: str) -> None:
    conn = connect(mariadb_server)
    other = f"o_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(f"CREATE TABLE `{db}`.unselected (id INT PRIMARY KEY)")
        catalog = catalog_of(conn, db, tables=["t"])
        start = current_position(conn)
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one')")  # 1
        cur.execute("BEGIN")  # 2: three statements, one transaction
        cur.execute(f"INSERT INTO `{db}`.t VALUES (2, 'two'), (3, 'three')")
        cur.execute(f"UPDATE `{db}`.t SET v = 'uno' WHERE id = 1")
        cur.execute(f"DELETE FROM `{db}`.t WHERE id = 2")
        cur.execute("COMMIT")
        cur.execute(f"INSERT INTO `{db}`.unselected VALUES (1)")  # 3: nothing selected, still a commit
        cur.execute(f"CREATE TABLE `{db}`.t2 (id INT PRIMARY KEY)")  # 4: DDL in a selected database
        cur.execute(f"CREATE DATABASE `{other}`")  # 5: DDL elsewhere: an empty commit
        cur.execute("BEGIN")  # 6: a rolled back transaction leaves no trace
        cur.execute(f"INSERT INTO `{db}`.t VALUES (9, 'rolled back')")
        cur.execute("ROLLBACK")
        cur.execute(f"UPDATE `{db}`.t SET v = 'tres' WHERE id = 3")  # 6
        cur.execute(f"DROP DATABASE `{other}`")
    conn.close()

    txns = capture(mariadb_server, start, catalog, 6)
    t = TableRef(db, "t")
    assert [(e.op, e.before, e.after) for e in txns[0].events] == [(Op.INSERT, None, (1, "one"))]
    assert [(e.op, e.table, e.before, e.after) for e in txns[1].events] == [
        (Op.INSERT, t, None, (2, "two")), (Op.INSERT, t, None, (3, "three")),
        (Op.UPDATE, t, (1, "one"), (1, "uno")), (Op.DELETE, t, (2, "two"), None)]
    assert txns[2].events == [] and txns[2].ddl is None
    assert txns[3].ddl is not None and "CREATE TABLE" in txns[3].ddl and txns[3].ddl_schema in (db, None)
    assert txns[4].events == [] and txns[4].ddl is None
    assert [(e.op, e.after) for e in txns[5].events] == [(Op.UPDATE, (3, "tres"))]

    positions = [start] + [position(txn) for txn in txns]
    assert all(a < b for a, b in zip(positions, positions[1:], strict=False)), positions
    seqs = [int(p.gtid_set.split("-")[-1]) for p in positions[1:]]
    assert seqs == list(range(seqs[0], seqs[0] + 6)), positions
    assert all(t.commit_ts > 0 for t in txns)

    # Resuming from any yielded position gives exactly the transactions after it.
    for k in (0, 1, 3):
        resumed = capture(mariadb_server, position(txns[k]), catalog, 5 - k)
        assert [(r.position, [(e.op, e.before, e.after) for e in r.events], r.ddl) for r in resumed] == [
            (x.position, [(e.op, e.before, e.after) for e in x.events], x.ddl) for x in txns[k + 1 :]]


def test_big_transaction_is_yielded_in_parts(mariadb_server: MariaDBServer, db: str) -> None:
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute("BEGIN")
        for i in range(35):
            cur.execute(f"INSERT INTO `{db}`.t VALUES ({i}, {i})")
        cur.execute("COMMIT")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (100, 100)")
    conn.close()
    txns = capture(mariadb_server, start, catalog, 5, max_part_events=10)
    assert [type(t) for t in txns] == [TransactionPart] * 3 + [Transaction] * 2
    assert [len(t.events) for t in txns] == [10, 10, 10, 5, 1]
    assert all(t.position == start for t in txns[:3])  # the position only moves at the commit
    assert position(txns[3]) > start
    assert [e.after for t in txns[:4] for e in t.events] == [(i, i) for i in range(35)]


def test_alter_table_mid_stream(mariadb_server: MariaDBServer, db: str) -> None:
    """After a DDL the reader decodes with the catalog the pipeline updated; a stale one is an error."""
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1, 'a')")
        cur.execute(f"ALTER TABLE `{db}`.t ADD COLUMN w DATETIME(3) AFTER id, "
                    "MODIFY v VARCHAR(10) CHARACTER SET latin1")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (2, '2024-01-02 03:04:05.678', 'é')")
        altered = catalog_of(conn, db)
    conn.close()

    seen: list[Transaction] = []
    for txn in stream(endpoint(mariadb_server), start, catalog, lambda: len(seen) >= 3, server_id=4500):
        if txn.events or txn.ddl:
            seen.append(txn)
        if txn.ddl:  # what the pipeline does after applying the DDL on the target
            catalog.tables[:] = altered.tables
    assert [e.after for t in seen for e in t.events] == [
        (1, "a"), (2, datetime.datetime(2024, 1, 2, 3, 4, 5, 678000), "é")]  # noqa: DTZ001
    assert seen[1].ddl is not None and "ALTER TABLE" in seen[1].ddl

    conn = connect(mariadb_server)
    stale = catalog_of(conn, db)
    conn.close()
    stale.tables[0].columns[:] = [c for c in stale.tables[0].columns if c.name != "w"]
    with pytest.raises(BinlogSchemaMismatch, match=r"does not match its structure in the task .*restart the task"):
        capture(mariadb_server, position(seen[1]), stale, 1)


def test_minimal_row_image_is_refused(mariadb_server: MariaDBServer, db: str) -> None:
    """A row image without all columns would turn unknown values into NULLs on the target."""
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT, w INT)")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1, 1, 1)")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute("SET SESSION binlog_row_image = MINIMAL")
        cur.execute(f"UPDATE `{db}`.t SET v = 2 WHERE id = 1")
    conn.close()
    with pytest.raises(BinlogError, match=r"lacks columns \['v', 'w'\].*binlog_row_image=FULL"):
        capture(mariadb_server, start, catalog, 1)


def test_binlog_rotation(mariadb_server: MariaDBServer, db: str) -> None:
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1)")
        cur.execute("FLUSH BINARY LOGS")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (2)")
        now = current_position(conn)
    conn.close()
    first, second = capture(mariadb_server, start, catalog, 2, only_changes=True)
    assert position(first).file == start.file and position(second).file == now.file != start.file
    assert start < position(first) < position(second) == now
    (again,) = capture(mariadb_server, position(first), catalog, 1, only_changes=True)
    assert again.position == second.position and [e.after for e in again.events] == [(2,)]


# --- stop, heartbeats, faults ------------------------------------------------------------------


def run_in_thread(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_idle_heartbeats_and_prompt_stop(mariadb_server: MariaDBServer, db: str) -> None:
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
        catalog = catalog_of(conn, db)
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1)")
        start = current_position(conn)
    conn.close()
    stop_at: list[float] = []
    seen: list[Transaction] = []

    def consume() -> None:
        for txn in stream(endpoint(mariadb_server), start, catalog, lambda: bool(stop_at), server_id=4100):
            seen.append(txn)

    thread = run_in_thread(consume)
    deadline = time.monotonic() + 20  # a loaded CI machine may take a while to connect
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(seen) >= 1  # idle: heartbeats carry the (unchanged) position and a fresh commit_ts
    stop_at.append(time.monotonic())
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - stop_at[0] < 5.0
    assert all(t.events == [] and t.ddl is None and t.position == start for t in seen)
    assert seen[-1].commit_ts >= time.time() - 10


def test_purged_or_unknown_start_file(mariadb_server: MariaDBServer, db: str) -> None:
    catalog = Catalog()
    with pytest.raises(BinlogPurged, match=r"binlog file mysql-bin\.000000 no longer exists on the source; the "
                                           r"task must be restarted with a full load"):
        list(stream(endpoint(mariadb_server), MySQLPosition("mysql-bin.000000", 4), catalog, lambda: False, 4200))
    conn = connect(mariadb_server)
    here = current_position(conn)
    conn.close()
    with pytest.raises(BinlogError, match="past the end"):
        list(stream(endpoint(mariadb_server), MySQLPosition(here.file, here.pos + 10**9), catalog,
                    lambda: False, 4201))


def test_source_restart_is_a_transient_error_then_resume(mariadb_server: MariaDBServer, db: str) -> None:
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1)")
    conn.close()
    seen: list[Transaction] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for txn in stream(endpoint(mariadb_server), start, catalog, lambda: False, server_id=4300):
                seen.append(txn)
        except Exception as exc:
            errors.append(exc)

    thread = run_in_thread(consume)
    deadline = time.monotonic() + 10
    while not any(t.events for t in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    last = position(next(t for t in seen if t.events))
    mariadb_server.restart()
    thread.join(30)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], SourceConnectionLost), errors
    assert "retr" in str(errors[0]) or "re-established" in str(errors[0])

    mariadb_server.execute(f"INSERT INTO `{db}`.t VALUES (2)")
    resumed = capture(mariadb_server, last, catalog, 1, only_changes=True)
    assert [(e.op, e.after) for e in resumed[0].events] == [(Op.INSERT, (2,))]


# --- decode rate ------------------------------------------------------------------------------


@pytest.mark.slow
def test_decode_rate_sysbench_like(mariadb_server: MariaDBServer, db: str) -> None:
    n = 50_000
    conn = connect(mariadb_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.sbtest (id BIGINT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, "
                    "pad CHAR(60) NOT NULL, KEY (k))")
        cur.execute(f"""CREATE PROCEDURE `{db}`.fill(n INT) BEGIN DECLARE i INT DEFAULT 0;
            WHILE i < n DO INSERT INTO sbtest VALUES (i, i * 7 % 1000, REPEAT(CONCAT(i, '-'), 12),
            REPEAT('p', 60)); SET i = i + 1; END WHILE; END""")
        catalog = catalog_of(conn, db)
        start = current_position(conn)
        cur.execute(f"CALL `{db}`.fill({n})")
        cur.execute(f"UPDATE `{db}`.sbtest SET k = k + 1")  # one transaction of n row updates
    conn.close()

    rows = [0]
    single_done, t0 = 0.0, time.perf_counter()
    deadline = time.monotonic() + 300
    for txn in stream(endpoint(mariadb_server), start, catalog,
                      lambda: rows[0] >= 2 * n or time.monotonic() > deadline, server_id=4400):
        rows[0] += len(txn.events)
        if rows[0] == n and not single_done:
            single_done = time.perf_counter()
    end = time.perf_counter()
    assert rows[0] == 2 * n
    print(f"\n{n} single-row INSERT transactions: {n / (single_done - t0):,.0f} rows/s; "
          f"one {n}-row UPDATE transaction: {n / (end - single_done):,.0f} rows/s")
