"""Full-load reads on real MariaDB: chunking covers every row exactly once, and rows read by
``read_chunk`` and written back with ``REPLACE`` give a byte-identical table, edge values,
zero dates and a 1 MB BLOB included.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from harness import MariaDBServer, closed_port
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.connection import MySQLUnavailable, connect, session_for_apply
from opendrs.engines.mysql.dialect import qualified, quote_ident, replace_sql
from opendrs.engines.mysql.discover import table_schema
from opendrs.engines.mysql.schema import create_structure
from opendrs.engines.mysql.snapshot import chunks, read_chunk
from opendrs.pipeline.model import Catalog, KeyRange, ObjectDDL, Row, TableRef, TableSchema
from opendrs.pipeline.selection import Selection


def endpoint(server: MariaDBServer) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password)


@pytest.fixture
def source_db(mariadb_server: MariaDBServer) -> Iterator[str]:
    db = f"snap_{uuid.uuid4().hex[:8]}"
    mariadb_server.execute(f"CREATE DATABASE {db} DEFAULT CHARACTER SET utf8mb4")
    yield db
    mariadb_server.execute(f"DROP DATABASE IF EXISTS {db}")


def run(server: MariaDBServer, db: str, *statements: str, args: Any = None) -> None:
    conn = server.connect(database=db, charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode='', time_zone='+00:00'")
            for sql in statements:
                cur.execute(sql, args)
    finally:
        conn.close()


def all_rows(server: MariaDBServer, table: TableSchema, rows_per_chunk: int, batch_rows: int = 7) -> list[Row]:
    conn = connect(endpoint(server), streaming=True)
    try:
        out: list[Row] = []
        for chunk in list(chunks(conn, table, rows_per_chunk)):
            for batch in read_chunk(conn, table, chunk, batch_rows):
                assert 0 < len(batch) <= batch_rows
                out.extend(batch)
        return out
    finally:
        conn.close()


# --- chunking ---------------------------------------------------------------------------------
def test_composite_key_chunks_cover_every_row_once_in_order(mariadb_server: MariaDBServer, source_db: str) -> None:
    run(mariadb_server, source_db,
        "CREATE TABLE c (a INT NOT NULL, b VARCHAR(8) NOT NULL, v INT, PRIMARY KEY (a, b))")
    values = [(a, b, a * 100 + i) for a in range(40) for i, b in enumerate(["B", "a", "c", "Z", "é"][: 1 + a % 5])]
    conn = mariadb_server.connect(database=source_db, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO c VALUES (%s, %s, %s)", values)
    conn.close()
    table = table_schema(connect(endpoint(mariadb_server)), TableRef(source_db, "c"))
    assert table.key == ("a", "b")

    src = connect(endpoint(mariadb_server))
    ranges = list(chunks(src, table, 7))
    src.close()
    assert ranges[0].lower is None and ranges[-1].upper is None
    assert [r.index for r in ranges] == list(range(len(ranges)))
    assert all(ranges[i].upper == ranges[i + 1].lower for i in range(len(ranges) - 1))
    assert len(ranges) == len(values) // 7 + 1

    rows = all_rows(mariadb_server, table, 7)
    expected = mariadb_server.execute(f"SELECT a, b, v FROM {source_db}.c ORDER BY a, b")
    assert rows == [tuple(r) for r in expected]  # each row exactly once, in the server's key order
    assert len({(r[0], r[1]) for r in rows}) == len(values)


def test_skewed_keys_give_even_chunks(mariadb_server: MariaDBServer, source_db: str) -> None:
    run(mariadb_server, source_db, "CREATE TABLE s (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v INT)")
    ids = list(range(1, 51)) + [10**9 + i for i in range(50)] + [2**64 - 1 - i for i in range(20)]
    conn = mariadb_server.connect(database=source_db)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO s VALUES (%s, 1)", [(i,) for i in ids])
    conn.close()
    src = connect(endpoint(mariadb_server))
    table = table_schema(src, TableRef(source_db, "s"))
    sizes = []
    for chunk in chunks(src, table, 30):
        sizes.append(sum(len(b) for b in read_chunk(src, table, chunk, 1000)))
    src.close()
    assert sizes == [30, 30, 30, 30, 0]  # 120 rows; the last, unbounded chunk is empty
    assert sorted(r[0] for r in all_rows(mariadb_server, table, 30)) == sorted(ids)


def test_enum_and_float_keys_chunk_by_sort_order(mariadb_server: MariaDBServer, source_db: str) -> None:
    # ENUM sorts by index ('z' < 'a'), FLOAT prints with 6 digits: boundaries must not use the text.
    run(mariadb_server, source_db,
        "CREATE TABLE ef (e ENUM('z','a','m') NOT NULL, f FLOAT NOT NULL, PRIMARY KEY (e, f))")
    values = [(e, 1 + i * 2.5e-7) for e in ("z", "a", "m") for i in range(25)]
    conn = mariadb_server.connect(database=source_db)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO ef VALUES (%s, %s)", values)
        cur.execute("SELECT COUNT(*) FROM ef")
        count = cur.fetchone()[0]
    conn.close()
    table = table_schema(connect(endpoint(mariadb_server)), TableRef(source_db, "ef"))
    rows = all_rows(mariadb_server, table, 4)
    assert len(rows) == count == len(set(rows))
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), key=["z", "a", "m"].index)


def test_table_without_key_is_one_unbounded_chunk(mariadb_server: MariaDBServer, source_db: str) -> None:
    run(mariadb_server, source_db, "CREATE TABLE nk (a INT, b TEXT)",
        "INSERT INTO nk VALUES (1,'x'),(1,'x'),(NULL,NULL),(2,'y')")
    src = connect(endpoint(mariadb_server))
    table = table_schema(src, TableRef(source_db, "nk"))
    assert table.key == ()
    assert list(chunks(src, table, 1)) == [KeyRange(None, None, 0)]
    src.close()
    rows = all_rows(mariadb_server, table, 1, batch_rows=3)
    assert sorted(rows, key=repr) == sorted([(1, "x"), (1, "x"), (None, None), (2, "y")], key=repr)


def test_abandoned_read_leaves_connection_usable(mariadb_server: MariaDBServer, source_db: str) -> None:
    run(mariadb_server, source_db, "CREATE TABLE big (id INT PRIMARY KEY)",
        "INSERT INTO big SELECT seq FROM seq_1_to_5000")
    src = connect(endpoint(mariadb_server))
    table = table_schema(src, TableRef(source_db, "big"))
    reader = read_chunk(src, table, KeyRange(None, None), 10)
    assert next(reader)[0] == (1,)
    reader.close()  # stop early: the unbuffered result must be drained, not left on the wire
    with src.cursor() as cur:
        cur.execute("SELECT 42")
        assert cur.fetchone() == (42,)
    src.close()


# --- byte-exact round trip --------------------------------------------------------------------
TYPES_DDL = """
CREATE TABLE types (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  d65 DECIMAL(65,30), f FLOAT, f73 FLOAT(7,3), dbl DOUBLE, b64 BIT(64), b1 BIT(1),
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
  c CHAR(10), vc VARCHAR(100), tx TEXT, l1 VARCHAR(20) CHARACTER SET latin1, cb VARCHAR(20) COLLATE utf8mb4_bin,
  vb VARBINARY(20), bn BINARY(4), bl MEDIUMBLOB, j JSON, e ENUM('a','b','c'), s SET('x','y','z'),
  g POINT, gg GEOMETRY,
  gv INT AS (i + 1) VIRTUAL, gs VARCHAR(120) AS (CONCAT(vc, '!')) STORED
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
COLUMNS = ("id, d65, f, f73, dbl, b64, b1, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dt, dtm, ts, tm, y, "
           "c, vc, tx, l1, cb, vb, bn, bl, j, e, s, g, gg")
ROWS = [
    # maxima, 4-byte UTF-8, latin1, binary with NUL and 0xFF
    "(1, '99999999999999999999999999999999999.999999999999999999999999999999', 3.4028234e38, 9999.999, "
    "1.7976931348623157e308, b'1111111111111111111111111111111111111111111111111111111111111111', b'1', "
    "127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, "
    "18446744073709551615, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', "
    "'838:59:59.000000', 2155, 'ab😀', '🐬 dolphin 𝄞', REPEAT('ü€😀', 1000), 'àéîõü ÿ£', 'CaSe', "
    "x'00FF00', x'00000001', @blob, '{\"a\": [1, 2.5, \"😀\"], \"b\": null}', 'c', 'x,z', "
    "ST_GeomFromText('POINT(1.5 -2.25)'), ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.5)'))",
    # minima, subnormals, trailing spaces, empty values
    "(2, '-99999999999999999999999999999999999.999999999999999999999999999999', -1.17549435e-38, -9999.999, "
    "4.9e-324, b'0', b'0', -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, "
    "'1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901, "
    "'a', 'trail  ', '', '', '', '', x'00', '', '[]', 'a', '', ST_GeomFromText('POINT(0 0)'), NULL)",
    # zero and invalid-ish values only a permissive sql_mode keeps
    "(3, '0.000000000000000000000000000001', 0.1, 0.001, 0.1, b'101', b'1', 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, "
    "'0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-00:00:00.000001', 0, ' lead', 'x', 'y', "
    "'z', 'w', 'v', x'41', 'u', '\"str\"', '', 'x,y,z', NULL, NULL)",
    "(4, 1, 16777217, 1.5, 3.141592653589793, NULL, NULL, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, '2020-02-00', "
    "'2020-00-10 10:00:00.5', '1999-12-31 23:59:59.000001', '00:00:00.5', 1999, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    # NULL in every nullable column
    "(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]


def fingerprint(server: MariaDBServer, ref: TableRef, table: TableSchema) -> list[tuple[Any, ...]]:
    """Per row, every column as exact text/bytes (FLOAT/DOUBLE via exact doubles, others via their bytes)."""
    exprs = []
    for c in table.columns:
        q = quote_ident(c.name)
        if c.data_type in ("float", "double"):
            exprs.append(f"IFNULL(CONCAT('', {q} + 0E0), 'NULL')")
        else:
            exprs.append(f"IFNULL(HEX(CAST({q} AS BINARY)), 'NULL')")
    conn = server.connect(charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone='+00:00'")
            cur.execute(f"SELECT {', '.join(exprs)} FROM {qualified(ref)} ORDER BY id")
            return list(cur.fetchall())
    finally:
        conn.close()


def checksum(server: MariaDBServer, ref: TableRef) -> int:
    return int(server.execute(f"CHECKSUM TABLE {qualified(ref)} EXTENDED")[0][1])


def test_read_then_replace_is_byte_identical(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source_db: str
) -> None:
    blob = os.urandom(1 << 20)
    conn = mariadb_server.connect(database=source_db, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode='', time_zone='+00:00'")
        cur.execute(TYPES_DDL)
        cur.execute("SET @blob = %s", (blob,))
        for row in ROWS:
            cur.execute(f"INSERT INTO types ({COLUMNS}) VALUES {row}")
    conn.close()
    src = connect(endpoint(mariadb_server))
    ref = TableRef(source_db, "types")
    table = table_schema(src, ref)
    src.close()
    rows = all_rows(mariadb_server, table, 2, batch_rows=2)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]

    # Value fidelity as the pipeline sees it (briefing rules), spot-checked.
    by_name = {c.name: i for i, c in enumerate(table.columns)}
    r1, r2, r3, r4 = rows[0], rows[1], rows[2], rows[3]
    assert r1[by_name["d65"]] == Decimal("99999999999999999999999999999999999.999999999999999999999999999999")
    assert r1[by_name["f"]] == 3.4028234663852886e38  # exact float32 max, not the printed 3.40282e38
    assert r4[by_name["f"]] == 16777216.0
    assert r3[by_name["f"]] == 0.10000000149011612
    assert r1[by_name["b64"]] == b"\xff" * 8 and isinstance(r1[by_name["b1"]], bytes)
    assert r1[by_name["biu"]] == 2**64 - 1 and r2[by_name["bi"]] == -(2**63)
    assert r3[by_name["dt"]] == "0000-00-00" and r3[by_name["dtm"]] == "0000-00-00 00:00:00.000000"
    assert r3[by_name["ts"]] == "0000-00-00 00:00:00.000000"
    assert r4[by_name["dt"]] == "2020-02-00" and r4[by_name["dtm"]] == "2020-00-10 10:00:00.500000"
    assert r2[by_name["tm"]] == -datetime.timedelta(hours=838, minutes=59, seconds=59)
    assert r3[by_name["tm"]] == -datetime.timedelta(microseconds=1)
    assert r1[by_name["ts"]] == datetime.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=datetime.UTC).replace(
        tzinfo=None
    )  # naive UTC wall clock, unshifted
    assert r1[by_name["y"]] == 2155 and r3[by_name["y"]] == 0
    assert r1[by_name["c"]] == "ab😀" and r1[by_name["l1"]] == "àéîõü ÿ£"
    assert r2[by_name["vc"]] == "trail  "
    assert r1[by_name["vb"]] == b"\x00\xff\x00" and r1[by_name["bn"]] == b"\x00\x00\x00\x01"
    assert r1[by_name["bl"]] == blob
    assert r1[by_name["j"]] == '{"a": [1, 2.5, "😀"], "b": null}'
    assert r1[by_name["e"]] == "c" and r1[by_name["s"]] == "x,z" and r3[by_name["e"]] == ""
    assert isinstance(r1[by_name["g"]], bytes)
    assert r4[by_name["gv"]] == 2 and r1[by_name["gs"]] == "🐬 dolphin 𝄞!"  # generated columns are in the row
    assert rows[4][1:by_name["gv"]] == (None,) * (by_name["gv"] - 1)

    # Write back on the other server under the target name and compare the bytes.
    target = TableRef(f"{source_db}_t", "types_copy")
    catalog = Catalog([ObjectDDL("database", source_db, source_db, f"CREATE DATABASE `{source_db}`")], [table])
    selection = Selection(database_alias={source_db: target.schema}, table_alias={ref: target.name})
    dst = connect(endpoint(mariadb_target), autocommit=False)
    try:
        create_structure(dst, catalog, selection, drop_existing=True, replace_definer=False)
        session_for_apply(dst, full_load=True)
        writable = [i for i, c in enumerate(table.columns) if not c.generated]
        with dst.cursor() as cur:
            cur.executemany(replace_sql(target, table.writable), [tuple(r[i] for i in writable) for r in rows])
            # idempotent: the same chunk again changes nothing
            cur.executemany(replace_sql(target, table.writable), [tuple(r[i] for i in writable) for r in rows[:2]])
        dst.commit()
    finally:
        dst.close()
    try:
        source_print = fingerprint(mariadb_server, ref, table)
        target_print = fingerprint(mariadb_target, target, table)
        for s_row, t_row in zip(source_print, target_print, strict=True):
            diff = {table.columns[i].name: (a, b) for i, (a, b) in enumerate(zip(s_row, t_row, strict=True)) if a != b}
            assert not diff, f"row {s_row[0]} differs: {diff}"
        assert checksum(mariadb_server, ref) == checksum(mariadb_target, target)
    finally:
        mariadb_target.execute(f"DROP DATABASE IF EXISTS `{target.schema}`")


# --- connections ------------------------------------------------------------------------------
def test_connect_pins_session_settings(mariadb_server: MariaDBServer) -> None:
    mariadb_server.execute("SET GLOBAL time_zone = '+03:00'")
    try:
        conn = connect(endpoint(mariadb_server), streaming=True)
        with conn.cursor() as cur:
            cur.execute("SELECT @@session.time_zone, @@session.sql_mode, @@character_set_client")
            assert cur.fetchall() == [("+00:00", "NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION",
                                       "utf8mb4")]
        session_for_apply(conn, full_load=True)
        with conn.cursor() as cur:
            cur.execute("SELECT @@session.foreign_key_checks, @@session.unique_checks, @@session.sql_log_bin")
            assert cur.fetchall() == [(0, 0, 1)]  # binlog stays on: the target may have replicas
        session_for_apply(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT @@session.unique_checks")
            assert cur.fetchall() == [(1,)]
        conn.close()
    finally:
        mariadb_server.execute("SET GLOBAL time_zone = 'SYSTEM'")


def test_unreachable_server_is_a_retryable_error() -> None:
    ep = EndpointConfig("mysql", "127.0.0.1", closed_port(), "root", "secret-pw", connect_timeout=1.0)
    with pytest.raises(MySQLUnavailable, match=r"cannot connect to MySQL at 127\.0\.0\.1") as info:
        connect(ep)
    assert "secret-pw" not in str(info.value)
