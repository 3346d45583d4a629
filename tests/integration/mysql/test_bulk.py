"""The LOAD DATA fast path of the MySQL full load, on real MariaDB: lossless, resumable, refuses mis-split lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from harness import MariaDBServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import bulk
from opendrs.engines.mysql.connection import MySQLEngineError
from opendrs.engines.mysql.source import MySQLSource
from opendrs.engines.mysql.target import MySQLTarget
from opendrs.pipeline.model import EncodedBatch, KeyRange, TableRef
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
        assert batch.rows <= batch_rows and batch.last_key
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
