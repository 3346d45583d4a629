"""The LOAD DATA fast path of the MySQL full load, on real MariaDB: lossless, resumable, refuses mis-split lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from harness import MariaDBServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import bulk, client, snapshot
from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.engines.mysql.source import MySQLSource
from opendrs.engines.mysql.target import MySQLTarget
from opendrs.pipeline.model import EncodedBatch, KeyRange, TableRef, TableSchema
from opendrs.pipeline.selection import Selection

TRICKY = ["", "\\N", "\\", "tab\there", "nl\nhere", "cr\rhere", "nul\0here", "😀𝄞 4-byte", "'quote\"", "\\t\\n"]


def endpoint(server: MariaDBServer) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password)


@pytest.fixture
def db(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> Iterator[str]:
    name = f"bulk_{uuid.uuid4().hex[:8]}"
    mariadb_server.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    mariadb_server.execute(
        f"CREATE TABLE {name}.t (k VARCHAR(20) NOT NULL PRIMARY KEY, v TEXT NULL, l1 VARCHAR(20) CHARACTER SET latin1,"
        " b VARBINARY(10), bits BIT(9), f FLOAT, d DOUBLE, n DECIMAL(30,10), ts TIMESTAMP(6) NULL, e ENUM('a','b'),"
        " g POINT NULL, gen INT AS (LENGTH(v)) VIRTUAL)")
    yield name
    for server in (mariadb_server, mariadb_target):
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def _copy(source: MySQLSource, target: MySQLTarget, db: str, batch_rows: int) -> int:
    catalog = source.discover(Selection(everything=False, databases={db: None}))
    target.prepare(catalog, Selection(everything=False, databases={db: None}), drop_existing=True)
    table = catalog.tables[0]
    assert bulk.encodable(table) and target.accepts_encoded(table, source.bulk_format)
    batches = source.read_chunk_encoded(table, KeyRange(None, None), batch_rows)
    assert batches is not None
    loaded = 0
    for batch in batches:
        assert 0 < batch.rows <= batch_rows and batch.last_key
        target.load_encoded("job", table, table.ref, batch, checkpoint=("range:test", {"rows": batch.rows}))
        loaded += batch.rows
    return loaded


def _image(server: MariaDBServer, db: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in server.execute(
        f"SELECT k, v, HEX(l1), HEX(b), bits + 0, f, d, n, ts, e, ST_AsText(g), gen FROM {db}.t ORDER BY k")]


def test_tricky_values_round_trip_and_replay_is_idempotent(mariadb_server: MariaDBServer,
                                                           mariadb_target: MariaDBServer, db: str) -> None:
    rows = [(f"k{i:02d}", v, "caf\xe9" if i % 2 else None, bytes([0, 9, 10, 92, 255]) if i % 3 else None, i * 37,
             0.1 * i, 1 / (i + 3), "-12345678901234567890.0123456789", "2038-01-19 03:14:07.999999", "b")
            for i, v in enumerate(TRICKY)]
    rows.append(("", None, None, b"", 0, None, None, None, None, None))  # empty key sorts first
    rows.append(("zz-last-empty", "", "", b"", None, -0.0, 1e308, "0", None, "a"))
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.executemany(f"INSERT INTO {db}.t (k, v, l1, b, bits, f, d, n, ts, e) VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        cur.execute(f"UPDATE {db}.t SET g = ST_GeomFromText('POINT(1.5 -2.25)', 4326) WHERE k = 'k01'")
        conn.commit()
    source, target = MySQLSource(endpoint(mariadb_server), "job"), MySQLTarget(endpoint(mariadb_target))
    try:
        assert _copy(source, target, db, batch_rows=3) == len(rows)
        assert _image(mariadb_target, db) == _image(mariadb_server, db)
        # A batch replayed after a crash (checkpoint lost) replaces the same rows: nothing doubles.
        table = source.discover(Selection(everything=False, databases={db: None})).tables[0]
        again = source.read_chunk_encoded(table, KeyRange(None, None), 100)
        assert again is not None
        for batch in again:
            target.load_encoded("job", table, table.ref, batch)
        assert _image(mariadb_target, db) == _image(mariadb_server, db)
    finally:
        source.close()
        target.close()


def test_mis_split_lines_fail_instead_of_shifting_values(mariadb_server: MariaDBServer,
                                                         mariadb_target: MariaDBServer, db: str) -> None:
    source, target = MySQLSource(endpoint(mariadb_server), "job"), MySQLTarget(endpoint(mariadb_target))
    try:
        catalog = source.discover(Selection(everything=False, databases={db: None}))
        target.prepare(catalog, Selection(everything=False, databases={db: None}), drop_existing=True)
        table = catalog.tables[0]
        bad = EncodedBatch(bulk.FORMAT, b"only-two\tfields\n", 1, ("only-two",))
        with pytest.raises(MySQLEngineError, match="mis-split"):
            target.load_encoded("job", table, TableRef(db, "t"), bad, checkpoint=("range:bad", {"rows": 1}))
        assert mariadb_target.execute(f"SELECT COUNT(*) FROM {db}.t")[0][0] == 0
        assert target.read_checkpoint("job", "range:bad") is None  # rolled back with the rows
    finally:
        source.close()
        target.close()


def test_row_filters_keep_the_row_path(mariadb_target: MariaDBServer, mariadb_server: MariaDBServer,
                                       db: str) -> None:
    source = MySQLSource(endpoint(mariadb_server), "job")
    target = MySQLTarget(endpoint(mariadb_target), filters={TableRef(db, "t"): "k <> ''"})
    try:
        table = source.discover(Selection(everything=False, databases={db: None})).tables[0]
        assert not target.accepts_encoded(table, source.bulk_format)
    finally:
        source.close()
        target.close()


def _pymysql_lines(source: MySQLSource, table: TableSchema, chunk: KeyRange) -> list[EncodedBatch]:
    conn = connect(source.ep, streaming=True)
    try:
        return list(snapshot.read_lines(conn, table, chunk, 1))
    finally:
        conn.close()


@pytest.mark.parametrize("key_sql", ["k VARCHAR(40) CHARACTER SET latin1 NOT NULL", "k DECIMAL(30,10) NOT NULL",
                                     "k BIGINT UNSIGNED NOT NULL, k2 VARCHAR(40) NOT NULL"])
def test_client_reader_yields_the_same_lines_and_keys_as_pymysql(mariadb_server: MariaDBServer, db: str,
                                                                 key_sql: str) -> None:
    """The ``mariadb`` client path must be byte-identical to the PyMySQL path, keys included, so
    a range resumed from either one's checkpoint continues at the same row."""
    composite = "k2" in key_sql
    mariadb_server.execute(f"CREATE TABLE {db}.c ({key_sql}, v LONGTEXT, b BLOB, "
                           f"PRIMARY KEY (k{', k2' if composite else ''}))")
    texts = [t for t in TRICKY if t] + ["caf\xe9", "x" * 3000]
    rows: list[tuple[object, ...]] = []
    for i, text in enumerate(texts):
        value = bytes(range(256)) * (i + 1)
        if composite:
            rows.append((2**64 - 1 - i, text, text, value))
        elif "DECIMAL" in key_sql:
            rows.append((f"-{i}.{i:010d}", text, value))
        else:
            rows.append((text.encode("latin1", "replace").decode("latin1"), text, value))
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.executemany(f"INSERT IGNORE INTO {db}.c VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
        conn.commit()
    source = MySQLSource(endpoint(mariadb_server), "job")
    try:
        table = next(t for t in source.discover(Selection(everything=False, databases={db: None})).tables
                     if t.ref.name == "c")
        assert client.usable(table)
        expected = _pymysql_lines(source, table, KeyRange(None, None))
        assert len(expected) == len(rows) == int(mariadb_server.execute(f"SELECT COUNT(*) FROM {db}.c")[0][0])
        got = list(client.read_lines(source.ep, table, KeyRange(None, None), 1))
        assert b"".join(b.data for b in got) == b"".join(b.data for b in expected)
        # Resume from every row's key: the rest of the range, exactly.
        for i, batch in enumerate(expected[:-1]):
            chunk = KeyRange(batch.last_key, None)
            assert [b.last_key for b in client.read_lines(
                source.ep, table, chunk, 10**6)] == [expected[-1].last_key], i
            rest = b"".join(b.data for b in client.read_lines(source.ep, table, chunk, 1))
            assert rest == b"".join(b.data for b in expected[i + 1:])
    finally:
        source.close()


def test_client_reader_is_skipped_where_a_key_cannot_be_read_back(mariadb_server: MariaDBServer, db: str) -> None:
    mariadb_server.execute(f"CREATE TABLE {db}.dt (k DATETIME(6) NOT NULL PRIMARY KEY, v INT)")
    mariadb_server.execute(f"CREATE TABLE {db}.vb (k VARBINARY(10) NOT NULL PRIMARY KEY, v INT)")
    source = MySQLSource(endpoint(mariadb_server), "job")
    try:
        tables = {t.ref.name: t for t in source.discover(Selection(everything=False, databases={db: None})).tables}
        assert client.client_binary() is not None
        assert not client.usable(tables["dt"]) and not client.usable(tables["vb"])
        assert client.usable(tables["t"])
    finally:
        source.close()


def test_client_reader_failure_says_what_happened(mariadb_server: MariaDBServer, db: str) -> None:
    source = MySQLSource(endpoint(mariadb_server), "job")
    try:
        table = source.discover(Selection(everything=False, databases={db: None})).tables[0]
        mariadb_server.execute(f"DROP TABLE {db}.t")
        with pytest.raises(MySQLEngineError, match=r"could not read source table .*1146"):
            list(client.read_lines(source.ep, table, KeyRange(None, None), 10))
    finally:
        source.close()
