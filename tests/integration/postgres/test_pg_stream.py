"""PgReplication against a real PostgreSQL: publication, slot, streamed transactions, WAL feedback.

Why: CDC must hand the pipeline exactly what the source committed -- every committed
transaction once, in commit order, nothing rolled back, values as the server prints them --
and must release WAL only up to what the target acknowledged. Each test writes on the
``postgres_server`` fixture, streams from a slot created before the writes, and compares the
captured images with the same rows printed by their types' output functions (what COPY and
pgoutput use) under the stream's session settings.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg2
import pytest

from harness import PostgresServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.connection import SESSION_OPTIONS, is_transient
from opendrs.engines.postgres.pgoutput import UNCHANGED_TOAST
from opendrs.engines.postgres.position import PgPosition, parse_lsn
from opendrs.engines.postgres.stream import (
    PgPublicationMissing,
    PgReplication,
    PgSlotBusy,
    PgSlotMismatch,
    PgSlotMissing,
    PgWalLevelNotLogical,
)
from opendrs.errors import Transient
from opendrs.pipeline.model import Catalog, ChangeEvent, Column, Op, TableRef, TableSchema, Transaction

TIMEOUT = 30.0


# --- helpers ----------------------------------------------------------------------------------


def endpoint(server: PostgresServer) -> EndpointConfig:
    return EndpointConfig("postgresql", server.host, server.port, server.user, server.password, db_name="postgres")


def connect(server: PostgresServer) -> psycopg.Connection[Any]:
    """A plain session printing values like the replication session does."""
    return server.connect(options=SESSION_OPTIONS)


def catalog_of(conn: psycopg.Connection[Any], schema: str, tables: Sequence[str]) -> Catalog:
    """What discovery would build: columns in attnum order (generated flagged) and the primary key."""
    out = []
    for name in tables:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, a.attgenerated <> '' "
            "FROM pg_attribute a WHERE a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (schema, name)).fetchall()
        key = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
            "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)", (schema, name)).fetchall()
        cols = [Column(n, t, t, nullable=bool(nul), generated=bool(gen)) for n, t, nul, gen in rows]
        out.append(TableSchema(TableRef(schema, name), cols, key=tuple(k for (k,) in key)))
    return Catalog(tables=out)


def text_rows(conn: psycopg.Connection[Any], table: TableSchema, where: str = "true") -> list[tuple[Any, ...]]:
    """Each column through its type's output function (as COPY and pgoutput print it; ``bool::text`` would
    say 'true' where they say 't'), in catalog order, generated columns as NULL (pgoutput does not send them)."""
    exprs = ", ".join("NULL" if c.generated else f"CASE WHEN \"{c.name}\" IS NULL THEN NULL "
                      f"ELSE format('%s', \"{c.name}\") END" for c in table.columns)
    return [tuple(r) for r in conn.execute(
        f'SELECT {exprs} FROM "{table.ref.schema}"."{table.ref.name}" WHERE {where} ORDER BY 1').fetchall()]


class Capture:
    """``stream()`` consumed on a background thread, like the pipeline's capture thread does."""

    def __init__(self, repl: PgReplication, start: PgPosition, catalog: Catalog, **kwargs: Any) -> None:
        self.repl = repl
        self.stop_flag = threading.Event()
        self.items: queue.Queue[Transaction | BaseException | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(start, catalog, kwargs), daemon=True)
        self.thread.start()

    def _run(self, start: PgPosition, catalog: Catalog, kwargs: dict[str, Any]) -> None:
        try:
            for txn in self.repl.stream(start, catalog, self.stop_flag.is_set, **kwargs):
                self.items.put(txn)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.items.put(exc)
        self.items.put(None)

    def next(self, timeout: float = TIMEOUT, *, heartbeats: bool = False) -> Transaction:
        """The next transaction with changes (or, with ``heartbeats``, the next one of any kind)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no transaction from the stream in time")
            try:
                item = self.items.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            if item is None:
                raise AssertionError("the stream ended")
            if heartbeats or item.events:
                return item

    def take(self, count: int, timeout: float = TIMEOUT) -> list[Transaction]:
        return [self.next(timeout) for _ in range(count)]

    def stop(self, timeout: float = 10.0) -> float:
        """Ask the stream to stop; returns how long the iterator took to end."""
        began = time.monotonic()
        self.stop_flag.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "stream() did not return after stop()"
        return time.monotonic() - began

    def error(self, timeout: float = TIMEOUT) -> BaseException:
        """The exception the stream ended with (heartbeats and changes before it are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.items.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                return item
            if item is None:
                raise AssertionError("the stream ended without an error")
        raise AssertionError("the stream did not fail in time")


@pytest.fixture
def names() -> tuple[str, str, str]:
    """(schema, slot, publication), unique per test."""
    suffix = secrets.token_hex(4)
    return f"cdc_{suffix}", f"opendrs_test_{suffix}", f"opendrs_test_{suffix}"


@pytest.fixture
def source(postgres_server: PostgresServer, names: tuple[str, str, str]) -> Iterator[psycopg.Connection[Any]]:
    schema = names[0]
    with connect(postgres_server) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        yield conn
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def repl(postgres_server: PostgresServer, names: tuple[str, str, str]) -> Iterator[PgReplication]:
    _, slot, pub = names
    r = PgReplication(endpoint(postgres_server), "postgres", slot, pub)
    yield r
    r.close()
    r.drop()


@contextlib.contextmanager
def capture(repl: PgReplication, start: PgPosition, catalog: Catalog, **kwargs: Any) -> Iterator[Capture]:
    cap = Capture(repl, start, catalog, **kwargs)
    try:
        yield cap
    finally:
        cap.stop_flag.set()
        cap.thread.join(10)


def wait_for(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def setup(source: psycopg.Connection[Any], repl: PgReplication, schema: str, ddl: Sequence[str],
          tables: Sequence[str]) -> tuple[Catalog, PgPosition]:
    for statement in ddl:
        source.execute(statement)
    catalog = catalog_of(source, schema, tables)
    repl.ensure_publication([t.ref for t in catalog.tables])
    return catalog, repl.ensure_slot()


# --- publication and slot ---------------------------------------------------------------------


def published(conn: psycopg.Connection[Any], pub: str) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (pub,))
    return {(s, t) for s, t in rows.fetchall()}


def test_publication_and_slot_are_created_and_kept_exact(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema, slot, pub = names
    for t in ("a", "b", "Mixed Case"):
        source.execute(f'CREATE TABLE {schema}."{t}" (id int PRIMARY KEY)')
    refs = [TableRef(schema, t) for t in ("a", "b", "Mixed Case")]
    repl.ensure_publication(refs)
    assert published(source, pub) == {(schema, "a"), (schema, "b"), (schema, "Mixed Case")}
    oid = source.execute("SELECT oid FROM pg_publication WHERE pubname = %s", (pub,)).fetchone()
    source.execute(f"ALTER PUBLICATION {pub} SET (publish = 'insert', publish_via_partition_root = false)")
    repl.ensure_publication(refs[1:])
    assert published(source, pub) == {(schema, "b"), (schema, "Mixed Case")}
    repl.ensure_publication([])
    assert published(source, pub) == set()
    # Altered in place, never dropped (a running stream would fail on a dropped publication).
    assert source.execute("SELECT oid FROM pg_publication WHERE pubname = %s", (pub,)).fetchone() == oid
    assert source.execute("SELECT pubtruncate AND pubdelete AND pubupdate AND pubinsert AND pubviaroot "
                          "FROM pg_publication WHERE pubname = %s", (pub,)).fetchone() == (True,)

    assert repl.slot_info() is None
    before = repl.current_wal_lsn()
    created = repl.ensure_slot()
    assert created >= before
    info = repl.slot_info()
    assert info is not None
    assert (info["plugin"], info["database"], info["active"]) == ("pgoutput", "postgres", False)
    assert info["confirmed_flush_lsn"] == str(created)
    source.execute(f"INSERT INTO {schema}.a VALUES (1)")
    assert repl.ensure_slot() == created  # existing slot: its confirmed position, not a new one
    assert repl.current_wal_lsn() > created


def test_drop_leaves_nothing_and_is_idempotent(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema, slot, pub = names
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        cap.next()
        assert wait_for("slot active", lambda: (repl.slot_info() or {}).get("active"))
        repl.drop()  # while streaming: the walsender is ended, the slot dropped
        assert isinstance(cap.error(), psycopg2.Error)
    assert repl.slot_info() is None
    assert source.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone() == (0,)
    assert source.execute("SELECT count(*) FROM pg_publication WHERE pubname = %s", (pub,)).fetchone() == (0,)
    repl.drop()


# --- streamed changes -------------------------------------------------------------------------

TYPES_DDL = """CREATE TABLE {s}.types (
    id int PRIMARY KEY, n numeric, n2 numeric(40,20), r real, d float8, m money, i2 smallint, i8 bigint,
    bo boolean, t text, vc varchar(10), by bytea, u uuid, js json, jb jsonb, arr int[], tarr text[][],
    ts timestamp, tstz timestamptz, dt date, tm time, iv interval, ip inet, net cidr, mac macaddr,
    bits bit(4), vb varbit, tsv tsvector, x xml, pt point, rng int4range,
    g int GENERATED ALWAYS AS (id * 2) STORED
)"""
TYPES_ROWS = [
    "(1, 12345678901234567890.123456789, 1.5, 3.4e38, '-0', 12.34, -32768, 9223372036854775807, true, "
    "'caf\u00e9 \U0001f600 \U00010348', '', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
    "'{\"b\": 1,  \"a\": [1, 2]}', '{\"b\": 1, \"a\": [1, 2.50]}', '{1,NULL,3}', '{{a,NULL},{\"c d\",\"\"}}', "
    "'2024-02-29 23:59:59.999999', '2024-01-01 12:00:00+05:30', '0044-03-15 BC', '24:00:00', "
    "'1 year 2 mons -3 days 04:05:06.7', '2001:db8::1/64', '10.0.0.0/8', '08:00:2b:01:02:03', B'1010', "
    "B'10101', 'a fat cat', '<a>1</a>', '(1.5,-2)', '[1,10)')",
    "(2, 'NaN', -0.00000000000000000001, 'Infinity', '-Infinity', -0.01, 32767, -9223372036854775808, false, "
    "E'line\\nbreak\\ttab \\\\ back', 'x', '', '00000000-0000-0000-0000-000000000000', 'null', '[]', '{}', "
    "'{}', 'infinity', '-infinity', 'infinity', '00:00', '-178000000 years', '0.0.0.0', '::/0', "
    "'ff:ff:ff:ff:ff:ff', B'0000', B'', '', '<x/>', '(0,0)', 'empty')",
    "(3" + ", NULL" * 30 + ")",
]


def test_types_arrive_as_the_servers_text_in_commit_order(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [TYPES_DDL.format(s=schema)], ["types"])
    table = catalog.tables[0]
    with capture(repl, start, catalog) as cap:
        began = time.time()
        for row in TYPES_ROWS:
            source.execute(f"INSERT INTO {schema}.types VALUES {row}")
        expected = [text_rows(source, table, f"id = {i}") for i in (1, 2, 3)]
        source.execute(f"UPDATE {schema}.types SET d = 'NaN', arr = '{{{{1,2}},{{NULL,4}}}}' WHERE id = 1")
        updated = text_rows(source, table, "id = 1")
        source.execute(f"DELETE FROM {schema}.types WHERE id = 3")
        source.execute(f"TRUNCATE {schema}.types")
        inserts = cap.take(3)
        update, delete, truncate = cap.take(3)
    for txn, rows in zip(inserts, expected, strict=True):
        (event,) = txn.events
        assert (event.op, event.table, event.before) == (Op.INSERT, table.ref, None)
        assert event.after is not None
        diff = [(c.name, got, want) for c, got, want in zip(table.columns, event.after, rows[0], strict=True)
                if got != want]
        assert diff == []
    # Spot checks that the comparison is not vacuous: the server's own spellings come through.
    first, second = inserts[0].events[0].after, inserts[1].events[0].after
    assert first is not None and second is not None
    assert first[4] == "-0" and first[9] == "caf\u00e9 \U0001f600 \U00010348" and first[11] == "\\x00ff10"
    assert second[1] == "NaN" and second[3] == "Infinity" and second[18] == "-infinity"
    assert first[-1] is None and table.columns[-1].generated
    assert list(update.events) == [ChangeEvent(Op.UPDATE, table.ref, None, updated[0])]  # same key: no old image
    assert update.events[0].after is not None
    assert update.events[0].after[4] == "NaN" and update.events[0].after[15] == "{{1,2},{NULL,4}}"
    assert list(delete.events) == [ChangeEvent(Op.DELETE, table.ref, ("3",) + (None,) * 31, None)]
    assert list(truncate.events) == [ChangeEvent(Op.TRUNCATE, table.ref, None, None)]
    txns = [*inserts, update, delete, truncate]
    positions = [t.position for t in txns]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(began - 5 <= t.commit_ts <= time.time() + 5 for t in txns)
    assert all(t.bytes > 0 for t in txns)


def test_user_defined_types_arrive_as_text(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    """Enum, domain, composite and range types: the stream sends Type messages first, then text values."""
    schema = names[0]
    catalog, start = setup(source, repl, schema, [
        f"CREATE TYPE {schema}.mood AS ENUM ('sad', 'happy')",
        f"CREATE DOMAIN {schema}.pos AS int CHECK (VALUE > 0)",
        f"CREATE TYPE {schema}.pair AS (a text, b int[])",
        f"CREATE TYPE {schema}.floatrange AS RANGE (subtype = float8)",
        f"CREATE TABLE {schema}.u (id int PRIMARY KEY, m {schema}.mood, p {schema}.pos, c {schema}.pair, "
        f"r {schema}.floatrange, ms int4multirange, ma {schema}.mood[])",
    ], ["u"])
    table = catalog.tables[0]
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.u VALUES (1, 'happy', 5, ROW('x \"y\"', '{{1,NULL}}'), "
                       "'[1.5,2.5)', '{[1,3),[7,9)}', '{sad,happy}')")
        expected = text_rows(source, table)
        (txn,) = cap.take(1)
    assert list(txn.events) == [ChangeEvent(Op.INSERT, table.ref, None, expected[0])]
    assert expected[0][1:4] == ("happy", "5", '("x ""y""","{1,NULL}")')


def test_toast_values_updated_with_and_without_touching_them(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [
        f"CREATE TABLE {schema}.docs (id int PRIMARY KEY, small text, big text)",
        f"ALTER TABLE {schema}.docs ALTER big SET STORAGE EXTERNAL",  # out of line, uncompressed
    ], ["docs"])
    ref = catalog.tables[0].ref
    big = secrets.token_hex(100_000)  # 200 kB, far above the 2 kB TOAST threshold
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.docs VALUES (1, 'a', %s)", (big,))
        source.execute(f"UPDATE {schema}.docs SET small = 'b' WHERE id = 1")
        source.execute(f"UPDATE {schema}.docs SET big = big || 'x' WHERE id = 1")
        source.execute(f"DELETE FROM {schema}.docs WHERE id = 1")
        ins, untouched, touched, deleted = cap.take(4)
    assert list(ins.events) == [ChangeEvent(Op.INSERT, ref, None, ("1", "a", big))]
    assert list(untouched.events) == [ChangeEvent(Op.UPDATE, ref, None, ("1", "b", UNCHANGED_TOAST))]
    assert list(touched.events) == [ChangeEvent(Op.UPDATE, ref, None, ("1", "b", big + "x"))]
    assert list(deleted.events) == [ChangeEvent(Op.DELETE, ref, ("1", None, None), None)]
    assert ins.bytes > 200_000


def test_multi_table_transactions_whole_and_rollbacks_absent(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [
        f"CREATE TABLE {schema}.t1 (id int PRIMARY KEY, v text)",
        f"CREATE TABLE {schema}.t2 (v text, n int)",
        f"ALTER TABLE {schema}.t2 REPLICA IDENTITY FULL",
        f"CREATE TABLE {schema}.unselected (id int PRIMARY KEY)",
    ], ["t1", "t2"])
    t1, t2 = (t.ref for t in catalog.tables)
    with capture(repl, start, catalog) as cap:
        with source.transaction():
            source.execute(f"INSERT INTO {schema}.t1 VALUES (1, 'one')")
            source.execute(f"INSERT INTO {schema}.t2 VALUES ('x', 1)")
            source.execute(f"INSERT INTO {schema}.unselected VALUES (1)")
            source.execute(f"UPDATE {schema}.t1 SET id = 2 WHERE id = 1")
            source.execute(f"UPDATE {schema}.t2 SET n = 2")
        with contextlib.suppress(psycopg.errors.RaiseException), source.transaction():
            source.execute(f"INSERT INTO {schema}.t1 VALUES (99, 'rolled back')")
            source.execute("DO $$ BEGIN RAISE EXCEPTION 'abort'; END $$")
        source.execute(f"BEGIN; INSERT INTO {schema}.t1 VALUES (98, 'rolled back too'); ROLLBACK")
        source.execute(f"INSERT INTO {schema}.unselected VALUES (2)")  # not published: no transaction
        source.execute(f"DELETE FROM {schema}.t2")
        multi, after = cap.take(2)
    assert list(multi.events) == [
        ChangeEvent(Op.INSERT, t1, None, ("1", "one")),
        ChangeEvent(Op.INSERT, t2, None, ("x", "1")),
        ChangeEvent(Op.UPDATE, t1, ("1", None), ("2", "one")),  # key changed: the old key comes along
        ChangeEvent(Op.UPDATE, t2, ("x", "1"), ("x", "2")),  # REPLICA IDENTITY FULL: the whole old row
    ]
    assert list(after.events) == [ChangeEvent(Op.DELETE, t2, ("x", "2"), None)]
    assert after.position > multi.position


def test_partition_changes_arrive_as_the_partitioned_table(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [
        f"CREATE TABLE {schema}.m (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
        f"CREATE TABLE {schema}.m_2024 PARTITION OF {schema}.m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        f"CREATE TABLE {schema}.m_2025 PARTITION OF {schema}.m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    ], ["m"])
    ref = catalog.tables[0].ref
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.m VALUES (1, '2024-06-01', 'a'), (2, '2025-06-01', 'b')")
        source.execute(f"UPDATE {schema}.m SET at = '2025-02-02' WHERE id = 1")  # moves between partitions
        ins, moved = cap.take(2)
    assert list(ins.events) == [ChangeEvent(Op.INSERT, ref, None, ("1", "2024-06-01", "a")),
                                ChangeEvent(Op.INSERT, ref, None, ("2", "2025-06-01", "b"))]
    assert list(moved.events) == [ChangeEvent(Op.DELETE, ref, ("1", "2024-06-01", None), None),
                                  ChangeEvent(Op.INSERT, ref, None, ("1", "2025-02-02", "a"))]


def test_restart_from_acknowledged_position_neither_loses_nor_repeats(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])

    def ids(txns: Sequence[Transaction]) -> list[str]:
        return [e.after[0] for t in txns for e in t.events if e.after is not None]

    with capture(repl, start, catalog) as cap:
        for i in range(1, 5):
            source.execute(f"INSERT INTO {schema}.t VALUES ({i})")
        first = cap.take(4)
        assert ids(first) == ["1", "2", "3", "4"]
        repl.acknowledge(first[1].position)  # the target committed 1 and 2
        cap.stop()
    # Written while nobody streams: must come after 3 and 4, exactly once.
    source.execute(f"INSERT INTO {schema}.t VALUES (5)")
    resume = PgPosition.from_dict(first[1].position.to_dict())  # as the checkpoint stores it
    with capture(repl, resume, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (6)")
        again = cap.take(4)
        assert ids(again) == ["3", "4", "5", "6"]
        assert [t.position for t in again[:2]] == [t.position for t in first[2:]]
        with pytest.raises(AssertionError, match="no transaction"):
            cap.next(timeout=2)


def test_acknowledge_moves_confirmed_flush_and_nothing_else_does(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])

    def confirmed() -> PgPosition:
        info = repl.slot_info()
        assert info is not None
        return PgPosition(parse_lsn(info["confirmed_flush_lsn"]))

    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        source.execute(f"INSERT INTO {schema}.t VALUES (2)")
        a, b = cap.take(2)
        repl.acknowledge(a.position)
        wait_for("confirmed_flush_lsn to reach the acknowledged position", lambda: confirmed() >= a.position)
        # b was yielded but never acknowledged: several feedback rounds and keepalives later
        # the slot still keeps it.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert confirmed() < b.position
            cap.next(heartbeats=True, timeout=5)
        repl.acknowledge(PgPosition(1))  # going backwards is ignored
        assert repl.acknowledged == a.position
        repl.acknowledge(b.position)
        wait_for("confirmed_flush_lsn to reach b", lambda: confirmed() >= b.position)


def test_heartbeats_while_idle_carry_the_last_commit(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    with capture(repl, start, catalog) as cap:
        beat = cap.next(heartbeats=True, timeout=10)
        assert (list(beat.events), beat.position) == ([], start)
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        txn = cap.next()
        source.execute(f"CREATE TABLE {schema}.other (id int)")  # WAL moves on, nothing for us
        source.execute(f"INSERT INTO {schema}.other VALUES (1)")
        beats = [cap.next(heartbeats=True, timeout=10) for _ in range(3)]
    assert all(list(b.events) == [] and b.position == txn.position for b in beats)
    assert all(abs(b.commit_ts - time.time()) < 10 for b in beats)
    assert beats[-1].commit_ts - beats[0].commit_ts >= 1.0  # ~1 s apart, not a busy loop


def test_commits_without_catalog_changes_only_move_the_position(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    """A published table the task does not copy: its commits advance the position, at most once a beat."""
    schema = names[0]
    source.execute(f"CREATE TABLE {schema}.published_only (id int PRIMARY KEY)")
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    repl.ensure_publication([TableRef(schema, "t"), TableRef(schema, "published_only")])
    with capture(repl, start, catalog) as cap:
        for i in range(20):
            before_last = repl.current_wal_lsn()
            source.execute(f"INSERT INTO {schema}.published_only VALUES ({i})")
        moved: list[Transaction] = []
        began = time.monotonic()
        while not moved or moved[-1].position <= before_last:  # the last commit ends after before_last
            assert time.monotonic() - began < TIMEOUT, "the position did not move past the last commit"
            moved.append(cap.next(heartbeats=True, timeout=10))
        elapsed = time.monotonic() - began
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        real = cap.next()
    assert all(list(t.events) == [] for t in moved)
    assert len(moved) <= elapsed / 1.0 + 2  # not one per commit
    assert start < moved[-1].position < real.position
    assert [e.after for e in real.events] == [("1",)]


def test_stop_ends_the_iterator_promptly(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    cap = Capture(repl, start, catalog, heartbeat_s=60.0)  # no heartbeat to wake it up
    source.execute(f"INSERT INTO {schema}.t VALUES (1)")
    cap.next()
    wait_for("slot active", lambda: (repl.slot_info() or {}).get("active"))
    assert cap.stop() < 1.5
    wait_for("slot released", lambda: (repl.slot_info() or {}).get("active") is False)


def test_alter_table_mid_stream_is_followed(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY, v text)"], ["t"])
    ref = catalog.tables[0].ref
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (1, 'a')")
        source.execute(f"ALTER TABLE {schema}.t ADD COLUMN added int DEFAULT 7")
        source.execute(f"INSERT INTO {schema}.t VALUES (2, 'b', 8)")
        source.execute(f"ALTER TABLE {schema}.t ALTER v TYPE varchar(5)")
        source.execute(f"UPDATE {schema}.t SET v = 'c' WHERE id = 1")
        got = cap.take(3)
    assert [list(t.events) for t in got] == [
        [ChangeEvent(Op.INSERT, ref, None, ("1", "a"))],
        [ChangeEvent(Op.INSERT, ref, None, ("2", "b"))],  # the column the task does not know is left out
        [ChangeEvent(Op.UPDATE, ref, None, ("1", "c"))],
    ]


def test_snapshot_slot_exports_a_snapshot_matching_its_lsn(
        postgres_server: PostgresServer, source: psycopg.Connection[Any], repl: PgReplication,
        names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    source.execute(f"INSERT INTO {schema}.t VALUES (1)")
    with repl.snapshot_slot() as (lsn, snapshot):
        source.execute(f"INSERT INTO {schema}.t VALUES (2)")  # after the snapshot
        with connect(postgres_server) as reader:
            reader.autocommit = False
            reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            reader.execute("SET TRANSACTION SNAPSHOT %s" % psycopg.sql.quote(snapshot))  # noqa: UP031
            seen = reader.execute(f"SELECT id FROM {schema}.t ORDER BY id").fetchall()
            reader.rollback()
        temp = source.execute("SELECT count(*) FROM pg_replication_slots WHERE temporary AND slot_name LIKE %s",
                              (repl.slot[:50] + "%",)).fetchone()
    assert seen == [(1,)]
    assert temp == (1,)
    assert start <= lsn <= repl.current_wal_lsn()
    # The LSN splits the stream the same way: commits at or before it are in the snapshot.
    with capture(repl, start, catalog) as cap:
        inside, outside = cap.take(2)
    assert inside.position <= lsn < outside.position
    assert [e.after for e in outside.events] == [("2",)]
    assert source.execute("SELECT count(*) FROM pg_replication_slots WHERE temporary").fetchone() == (0,)


# --- failures ---------------------------------------------------------------------------------


def test_missing_or_foreign_slot_is_a_clear_error(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, _ = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    repl.drop()
    with pytest.raises(PgSlotMissing, match=r"does not exist.*full load") as missing:
        next(repl.stream(PgPosition(1), catalog, lambda: False))
    assert missing.value.error_code.startswith("DRS.")
    source.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (repl.slot,))
    with pytest.raises(PgSlotMismatch, match="test_decoding"):
        next(repl.stream(PgPosition(1), catalog, lambda: False))
    with pytest.raises(PgSlotMismatch):
        repl.ensure_slot()


def test_a_dropped_publication_is_a_clear_error(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema, _, pub = names
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    source.execute(f"DROP PUBLICATION {pub}")
    with pytest.raises(PgPublicationMissing, match="does not exist.*full load"):
        next(repl.stream(start, catalog, lambda: False))


def test_publication_dropped_while_streaming_is_a_clear_error(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema, _, pub = names
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        cap.next()
        source.execute(f"DROP PUBLICATION {pub}")
        source.execute(f"INSERT INTO {schema}.t VALUES (2)")
        error = cap.error()
    assert isinstance(error, PgPublicationMissing), repr(error)
    assert "full load" in str(error)


def test_a_slot_in_use_is_busy_and_transient(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    with capture(repl, start, catalog) as cap:
        cap.next(heartbeats=True)
        wait_for("slot active", lambda: (repl.slot_info() or {}).get("active"))
        other = PgReplication(repl.ep, repl.dbname, repl.slot, repl.publication)
        with pytest.raises(PgSlotBusy, match="in use") as busy:
            next(other.stream(start, catalog, lambda: False))
        assert isinstance(busy.value, Transient)
        other.close()
        cap.next(heartbeats=True)  # the first stream is unharmed


def test_a_lost_connection_surfaces_as_an_operational_error(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    with capture(repl, start, catalog) as cap:
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        cap.next()
        pid = wait_for("walsender", lambda: (repl.slot_info() or {}).get("active_pid"))
        source.execute("SELECT pg_terminate_backend(%s)", (pid,))
        error = cap.error()
        assert isinstance(error, psycopg2.OperationalError)
        assert is_transient(error)


def test_a_suspended_consumer_keeps_the_stream_alive(
        postgres_server: PostgresServer, source: psycopg.Connection[Any], names: tuple[str, str, str]) -> None:
    """The pipeline's bounded queue can hold the generator in ``yield`` for long; feedback must go on.

    With a 2 s ``wal_sender_timeout`` the server cuts a client silent for 2 s; the test sits
    on the generator for 6 s and then reads on, on the same walsender.
    """
    schema, slot, pub = names
    repl = PgReplication(endpoint(postgres_server), "postgres", slot, pub, wal_sender_timeout_s=2)
    try:
        catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
        source.execute(f"INSERT INTO {schema}.t VALUES (1)")
        gen = repl.stream(start, catalog, lambda: False, heartbeat_s=60)
        first = next(gen)
        assert [e.after for e in first.events] == [("1",)]
        pid = (repl.slot_info() or {}).get("active_pid")
        assert pid is not None
        source.execute(f"INSERT INTO {schema}.t VALUES (2)")
        time.sleep(6)
        second = next(gen)
        assert [e.after for e in second.events] == [("2",)]
        assert (repl.slot_info() or {}).get("active_pid") == pid
        gen.close()
    finally:
        repl.close()
        repl.drop()


def test_close_from_another_thread_ends_the_stream(
        source: psycopg.Connection[Any], repl: PgReplication, names: tuple[str, str, str]) -> None:
    schema = names[0]
    catalog, start = setup(source, repl, schema, [f"CREATE TABLE {schema}.t (id int PRIMARY KEY)"], ["t"])
    cap = Capture(repl, start, catalog, heartbeat_s=60.0)
    source.execute(f"INSERT INTO {schema}.t VALUES (1)")
    cap.next()
    began = time.monotonic()
    repl.close()
    cap.thread.join(5)
    assert not cap.thread.is_alive() and time.monotonic() - began < 2
    leftovers = []
    while not cap.items.empty():
        leftovers.append(cap.items.get())
    assert leftovers[-1] is None and not any(isinstance(x, BaseException) for x in leftovers)


class ReplicaWalServer(PostgresServer):
    """A PostgreSQL with wal_level=replica: logical decoding is impossible there."""

    def _command(self) -> list[str]:
        return [a.replace("wal_level=logical", "wal_level=replica") for a in super()._command()]


def test_wal_level_below_logical_is_a_clear_error() -> None:
    with ReplicaWalServer(name="postgres-replica-wal") as server:
        repl = PgReplication(endpoint(server), "postgres", "opendrs_x", "opendrs_x")
        with pytest.raises(PgWalLevelNotLogical, match=r"wal_level is 'replica'.*wal_level = logical"):
            repl.ensure_slot()
        with pytest.raises(PgWalLevelNotLogical):
            next(repl.stream(PgPosition(1), Catalog(), lambda: False))
        with pytest.raises(PgWalLevelNotLogical, match="wal_level"), repl.snapshot_slot():
            pass


def test_source_crash_resumes_from_the_acknowledged_position() -> None:
    """kill -9 of the source postmaster: a transient error, then nothing lost and nothing repeated."""
    with PostgresServer(name="postgres-cdc-crash") as server:
        repl = PgReplication(endpoint(server), "postgres", "opendrs_crash", "opendrs_crash")
        with connect(server) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
            catalog = catalog_of(conn, "public", ["t"])
            repl.ensure_publication([TableRef("public", "t")])
            start = repl.ensure_slot()
            with capture(repl, start, catalog) as cap:
                for i in (1, 2, 3):
                    conn.execute(f"INSERT INTO t VALUES ({i})")
                _, acked, _ = cap.take(3)
                repl.acknowledge(acked.position)
                wait_for("the acknowledgement to reach the slot", lambda: PgPosition(parse_lsn(
                    (repl.slot_info() or {}).get("confirmed_flush_lsn") or "0/0")) >= acked.position)
                server.kill()
                error = cap.error()
                assert is_transient(error), repr(error)
        server.start()
        with connect(server) as conn:
            conn.execute("INSERT INTO t VALUES (4)")
            with capture(repl, acked.position, catalog) as cap:
                again = cap.take(2)
                assert [e.after for t in again for e in t.events] == [("3",), ("4",)]
                with pytest.raises(AssertionError, match="no transaction"):
                    cap.next(timeout=2)
        repl.drop()
