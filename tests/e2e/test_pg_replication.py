"""PostgreSQL -> PostgreSQL through the API on real servers: structure, full load and CDC of every type.

Each test runs its own ``opendrs serve`` and its own database (unique name), so tests never
share a task, a slot or a table. Convergence is checked with an md5 over every row's text in
key order per table (``pg_helpers.checksums``): a value that changed by one bit, a lost or a
doubled row all change it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from e2e_helpers import ServerHandle, wait_status
from pg_helpers import (
    TYPES_DDL,
    TYPES_ROWS,
    checksums,
    connect,
    create_db,
    default_slot,
    new_db,
    publication_exists,
    run,
    slot_state,
    start_pg_task,
    stop_task,
    wait_equal,
    wait_slot_beyond,
)

from harness import PostgresServer

EXTRA_DDL = """
CREATE TABLE nokey (a integer, b text, j json);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE parent (id serial PRIMARY KEY, name text UNIQUE);
CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int REFERENCES parent(id),
                    note text);
CREATE INDEX child_note ON child (note);
CREATE TABLE measures (id int, day date, v numeric, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE measures_2023 PARTITION OF measures FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measures_2024 PARTITION OF measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE SEQUENCE ticket_seq START 100;
CREATE VIEW parent_names AS SELECT name FROM parent;
CREATE MATERIALIZED VIEW child_count AS SELECT count(*) AS n FROM child;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END $$;
CREATE TRIGGER child_touch BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TABLE types IS 'every type';
"""


def seed(server: PostgresServer, db: str, target: PostgresServer) -> None:
    create_db(server, db, TYPES_DDL + EXTRA_DDL, target)
    with connect(server, db) as conn:
        for row in TYPES_ROWS:
            conn.execute(("INSERT INTO types VALUES " + row).encode())
        conn.execute("INSERT INTO nokey VALUES (1, 'dup', '{\"a\": 1}'), (1, 'dup', '{\"a\": 1}'), (2, NULL, NULL)")
        conn.execute("INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO child (parent_id, note) SELECT 1 + g % 50, 'n' || g FROM generate_series(1, 500) g")
        conn.execute("INSERT INTO measures SELECT g, date '2023-06-01' + g, g * 1.5 FROM generate_series(1, 400) g")
        conn.execute("SELECT nextval('ticket_seq'), nextval('ticket_seq')")
        conn.execute("ANALYZE")


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def test_full_load_and_cdc_of_every_type(server: ServerHandle, postgres_server: PostgresServer,
                                         postgres_target: PostgresServer) -> None:
    db = new_db("pgtypes")
    seed(postgres_server, db, postgres_target)
    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db,
                               extra_policy={"is_fill_materialized_view": True})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        slot = default_slot(job_id)
        start_state = slot_state(postgres_server, slot)
        assert start_state is not None

        # Structure: secondary index, FK (after the data), trigger, sequence value, views.
        indexes = {r[0] for r in run(postgres_target, db, "SELECT indexname FROM pg_indexes WHERE tablename = 'child'")}
        assert {"child_pkey", "child_note"} <= indexes
        fks = run(postgres_target, db, "SELECT conname FROM pg_constraint WHERE contype = 'f'")
        assert [r[0] for r in fks] == ["child_parent_id_fkey"]
        assert run(postgres_target, db, "SELECT last_value FROM ticket_seq") == [(101,)]
        assert run(postgres_target, db, "SELECT n FROM child_count") == [(500,)]
        assert run(postgres_target, db, "SELECT count(*) FROM parent_names") == [(50,)]
        assert run(postgres_target, db, "SELECT obj_description('types'::regclass)") == [("every type",)]
        assert run(postgres_target, db, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal") == [("child_touch",)]

        # CDC of every type: the same rows inserted again under new keys, then updated and deleted.
        with connect(postgres_server, db) as conn:
            for i, row in enumerate(TYPES_ROWS):
                conn.execute(("INSERT INTO types VALUES " + row.replace(f"({i + 1},", f"({i + 101},", 1)).encode())
            conn.execute("UPDATE types SET i4 = 42 WHERE id IN (1, 101)")  # the TOASTed column is not sent
            conn.execute("UPDATE types SET big = big || 'more', t = 'x' WHERE id = 2")
            conn.execute("UPDATE types SET id = 1001 WHERE id = 101")  # key change with an unchanged TOAST value
            conn.execute("DELETE FROM types WHERE id = 3")
            conn.execute("UPDATE types SET by = decode(repeat('00ff', 50000), 'hex'), n = 'NaN' WHERE id = 102")
            conn.execute("INSERT INTO nokey VALUES (3, 'new', '[1]')")
            conn.execute("UPDATE nokey SET b = 'one of two' WHERE ctid = (SELECT min(ctid) FROM nokey WHERE a = 1)")
            conn.execute("DELETE FROM nokey WHERE a = 2")
            conn.execute("INSERT INTO child (parent_id, note) VALUES (1, 'cdc')")  # source trigger adds '!' once
            conn.execute("UPDATE measures SET day = day + 250 WHERE id < 20")  # rows move between partitions
            conn.execute("DELETE FROM measures WHERE id > 390")
            with conn.transaction():
                conn.execute("DELETE FROM child WHERE parent_id = 2")
                conn.execute("DELETE FROM parent WHERE id = 2")
        result = wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        assert result["public.types"][0] == 5
        assert run(postgres_target, db, "SELECT note FROM child WHERE note LIKE 'cdc%'") == [("cdc!",)]

        # TRUNCATE is replicated.
        run(postgres_server, db, "TRUNCATE measures")
        result = wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        assert result["public.measures"][0] == 0

        # The target's commits were acknowledged: the slot moved on (WAL released).
        wait_slot_beyond(postgres_server, slot, start_state[0])

        run(postgres_server, db, "SELECT nextval('ticket_seq') FROM generate_series(1, 5)")
        stop_task(http, job_id)
    # Cut-over copied the sequences' latest values.
    assert run(postgres_target, db, "SELECT last_value FROM ticket_seq") == [(106,)]
    # Stop drops the slot and the publication: nothing left pinned on the source.
    assert slot_state(postgres_server, slot) is None
    assert not publication_exists(postgres_server, db, slot)
    # The checksum sees every column: one changed value on the target shows.
    equal = checksums(postgres_target, db)
    run(postgres_target, db, "UPDATE types SET mac = '08:00:2b:01:02:04' WHERE id = 1")
    assert checksums(postgres_target, db)["public.types"] != equal["public.types"]


def test_writes_during_the_full_load_are_neither_lost_nor_doubled(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgload")
    create_db(postgres_server, db, "CREATE TABLE t (id int PRIMARY KEY, v text, n int);"
                                   "CREATE TABLE k (a int, b text); ALTER TABLE k REPLICA IDENTITY FULL;",
              postgres_target)
    run(postgres_server, db, "INSERT INTO t SELECT g, 'v' || g, 0 FROM generate_series(1, 30000) g")
    run(postgres_server, db, "INSERT INTO k SELECT g % 100, 'b' FROM generate_series(1, 3000) g")
    run(postgres_server, db, "ANALYZE")
    stop = threading.Event()
    writes = {"txns": 0}

    def writer() -> None:
        i = 0
        with connect(postgres_server, db) as conn:
            while not stop.is_set():
                i += 1
                with conn.transaction():
                    conn.execute("UPDATE t SET n = n + 1, v = v || '.' WHERE id = %s", ((i * 7919) % 30000 + 1,))
                    conn.execute("INSERT INTO t VALUES (%s, 'new', 0)", (100000 + i,))
                    conn.execute("DELETE FROM t WHERE id = %s", ((i * 104729) % 30000 + 1,))
                    conn.execute("INSERT INTO k VALUES (%s, 'w')", (i % 100,))
                    conn.execute("DELETE FROM k WHERE ctid = (SELECT min(ctid) FROM k WHERE a = %s)", ((i + 50) % 100,))
                writes["txns"] += 1
                time.sleep(0.002)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with server.client() as http:
            # Small batches, several ranges: the load takes a while and overlaps the writes.
            job_id = start_pg_task(http, postgres_server, postgres_target, db,
                                   full_sync={"write_batch_rows": "200", "parallel_tables": "2"})
            wait_status(http, job_id, "FULL_TRANSFER_STARTED", timeout=60)
            during_load = writes["txns"]
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=180)
            assert writes["txns"] > during_load, "no source write overlapped the full load"
            time.sleep(1.0)
            stop.set()
            thread.join(10)
            assert writes["txns"] > 20, writes
            wait_equal(postgres_server, postgres_target, db, timeout=120, log=server.log_text)
            stop_task(http, job_id)
    finally:
        stop.set()


def test_kill9_during_cdc_resumes_exactly_once(server: ServerHandle, postgres_server: PostgresServer,
                                               postgres_target: PostgresServer) -> None:
    db = new_db("pgkill")
    create_db(postgres_server, db, "CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, hist text);"
                                   "CREATE TABLE log (a int, b text); ALTER TABLE log REPLICA IDENTITY FULL;",
              postgres_target)
    run(postgres_server, db, "INSERT INTO acct SELECT g, 1000, '' FROM generate_series(1, 200) g")
    stop = threading.Event()
    done = {"txns": 0}

    def writer() -> None:
        i = 0
        while not stop.is_set():
            try:
                with connect(postgres_server, db) as conn:
                    while not stop.is_set():
                        i += 1
                        with conn.transaction():
                            # Non-idempotent if applied twice by a naive replay: balances drift and log rows double.
                            conn.execute("UPDATE acct SET balance = balance - 1, hist = hist || 'x' WHERE id = %s",
                                         (i % 200 + 1,))
                            conn.execute("UPDATE acct SET balance = balance + 1 WHERE id = %s", ((i * 7) % 200 + 1,))
                            conn.execute("INSERT INTO log VALUES (%s, 'entry')", (i,))
                        done["txns"] += 1
                        time.sleep(0.003)
            except psycopg.OperationalError:
                time.sleep(0.1)

    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db)
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
    slot = default_slot(job_id)
    before = slot_state(postgres_server, slot)
    assert before is not None
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        for _ in range(2):
            time.sleep(2.0)
            server.restart(hard=True)  # kill -9 in the middle of applying
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(10)
    assert done["txns"] > 50, done
    with server.client() as http:
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=60)
        result = wait_equal(postgres_server, postgres_target, db, timeout=120, log=server.log_text)
        assert result["public.log"][0] == done["txns"]
        assert run(postgres_target, db, "SELECT sum(balance) FROM acct") == [(200 * 1000,)]
        wait_slot_beyond(postgres_server, slot, before[0])
        stop_task(http, job_id)
    assert slot_state(postgres_server, slot) is None
    assert checksums(postgres_server, db) == checksums(postgres_target, db)


def test_kill9_during_the_full_load_resumes_from_the_checkpoints(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgkload")
    create_db(postgres_server, db, "CREATE TABLE big (id int PRIMARY KEY, v text, g int GENERATED ALWAYS AS "
                                   "(id % 7) STORED); CREATE TABLE small (a text PRIMARY KEY, b bytea);",
              postgres_target)
    run(postgres_server, db, "INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 40000) g")
    run(postgres_server, db, "INSERT INTO small SELECT 'k' || g || E'\\t\\n\\\\', decode(md5(g::text), 'hex') "
                             "FROM generate_series(1, 500) g")
    run(postgres_server, db, "ANALYZE")
    with server.client() as http:
        # Tiny batches, one worker: the load lasts long enough to be killed in the middle.
        job_id = start_pg_task(http, postgres_server, postgres_target, db,
                               full_sync={"write_batch_rows": "50", "parallel_tables": "1"})
        deadline = time.monotonic() + 90
        copied = 0
        while time.monotonic() < deadline and copied == 0:
            status = wait_status(http, job_id, {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED"}, timeout=60)
            assert status == "FULL_TRANSFER_STARTED", "the load ended before it could be killed"
            copied = int(run(postgres_target, db, "SELECT count(*) FROM big")[0][0]) if run(
                postgres_target, db, "SELECT to_regclass('big')")[0][0] else 0
            time.sleep(0.05)
    server.restart(hard=True)
    run(postgres_server, db, "UPDATE big SET v = 'after the kill' WHERE id % 1000 = 0")
    with server.client() as http:
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=180)
        wait_equal(postgres_server, postgres_target, db, timeout=120, log=server.log_text)
        stop_task(http, job_id)
    assert 0 < copied < 40000
    assert server.log_path is not None and server.log_path.read_text(errors="replace").count(
        "full load of 2 tables") >= 2, "the full load was not resumed after the kill"
