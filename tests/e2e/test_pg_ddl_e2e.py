"""DDL replication of a PostgreSQL -> PostgreSQL task (4.3.2 ddl_trans), on real servers through the API.

What must hold: with ddl_trans on, schema changes of the selected schema reach the target at their
place in commit order (rows written with a new column arrive with it, a new table's rows follow
it, a DDL in the middle of a transaction splits it without reordering), a DDL of a schema that is
not selected does not, and stopping the task leaves no event trigger on the source. With ddl_trans
off the target's structure stays as it was.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from e2e_helpers import ServerHandle, wait_status
from pg_helpers import connect, create_db, new_db, run, start_pg_task, stop_task, wait_equal

from harness import PostgresServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres import ddl
from opendrs.engines.postgres.connection import PgEngineError
from opendrs.engines.postgres.pgoutput import UNCHANGED_TOAST
from opendrs.engines.postgres.position import PgPosition
from opendrs.engines.postgres.stream import PgReplication
from opendrs.engines.postgres.target import PostgresTarget
from opendrs.jobs.model import Job
from opendrs.jobs.states import JobStatus
from opendrs.pipeline.model import Catalog, ChangeEvent, Column, Op, TableRef, TableSchema, Transaction
from opendrs.pipeline.selection import Selection
from opendrs.precheck.postgres import PgCheckContext, Server, ddl_capture, ddl_requested

DDL = ("CREATE SCHEMA other;"
       "CREATE TABLE t (id int PRIMARY KEY, v text);"
       "CREATE TABLE u (id int PRIMARY KEY, w text);"
       "CREATE TABLE other.o (id int PRIMARY KEY);"
       "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;"
       "INSERT INTO u SELECT g, 'w' || g FROM generate_series(1, 5) g;"
       "INSERT INTO other.o SELECT g FROM generate_series(1, 3) g;")


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def _columns(server: PostgresServer, db: str, schema: str = "public") -> list[tuple[Any, ...]]:
    return run(server, db, "SELECT table_name, column_name, data_type, column_default, is_nullable "
                           "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, ordinal_position",
               (schema,))


def _indexes(server: PostgresServer, db: str) -> list[tuple[Any, ...]]:
    return run(server, db, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")


def _wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"never happened: {what}")


def _event_triggers(server: PostgresServer, db: str) -> list[tuple[Any, ...]]:
    return run(server, db, "SELECT evtname FROM pg_event_trigger")


def test_ddl_is_replayed_in_commit_order_and_the_capture_goes_with_the_task(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgddl")
    create_db(postgres_server, db, DDL, postgres_target)
    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db, extra_policy={"ddl_trans": True})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        assert len(_event_triggers(postgres_server, db)) == 2

        for statement in [
            "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 7",
            "INSERT INTO t (id, v, n) VALUES (100, 'new', 1)",
            "UPDATE t SET n = 2 WHERE id = 1",
            "CREATE TABLE t2 (id int PRIMARY KEY, s text DEFAULT 'd')",
            "INSERT INTO t2 (id) SELECT g FROM generate_series(1, 10) g",
            "CREATE TABLE kl (a int, b text)",  # keyless: published with REPLICA IDENTITY FULL
            "INSERT INTO kl VALUES (1, 'a'), (2, 'b')",
            "UPDATE kl SET b = 'bb' WHERE a = 2",
            "CREATE INDEX t_v ON t (v)",
            "CREATE TABLE gone (id int PRIMARY KEY)",
            "INSERT INTO gone VALUES (1)",
            "DROP TABLE gone",
            "ALTER TABLE other.o ADD COLUMN z int",  # not selected: never on the target
            "CREATE TABLE other.fresh (id int PRIMARY KEY)",
        ]:
            run(postgres_server, db, statement)
        # One transaction: rows before the DDL are written without the column, rows after it with it.
        with connect(postgres_server, db) as conn, conn.transaction():
            conn.execute("INSERT INTO u VALUES (10, 'before')")
            conn.execute("ALTER TABLE u ADD COLUMN m text")
            conn.execute("INSERT INTO u VALUES (11, 'after', 'm!')")
            conn.execute("UPDATE u SET m = 'set' WHERE id = 1")
        # Several commands in one query string (DML in it arrives as rows, not twice).
        run(postgres_server, db, "ALTER TABLE t DROP COLUMN v; INSERT INTO t2 VALUES (11, 'x'); "
                                 "COMMENT ON TABLE t2 IS 'two'")
        run(postgres_server, db, "INSERT INTO t (id, n) VALUES (101, 3)")

        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        assert _columns(postgres_target, db) == _columns(postgres_server, db)
        assert _indexes(postgres_target, db) == _indexes(postgres_server, db)
        assert run(postgres_target, db, "SELECT obj_description('t2'::regclass)") == [("two",)]
        assert run(postgres_target, db, "SELECT to_regclass('public.gone')") == [(None,)]
        assert run(postgres_target, db, "SELECT to_regnamespace('other')") == [(None,)]
        assert run(postgres_target, db, "SELECT count(*), sum(n) FROM t") == run(
            postgres_server, db, "SELECT count(*), sum(n) FROM t")
        assert run(postgres_target, db, "SELECT * FROM kl ORDER BY a") == [(1, "a"), (2, "bb")]
        detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
        assert detail["status"] == "INCRE_TRANSFER_STARTED", detail

        stop_task(http, job_id)
    assert _event_triggers(postgres_server, db) == []
    assert run(postgres_server, db, "SELECT to_regnamespace('opendrs_meta')") == [(None,)]
    assert run(postgres_server, db, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'opendrs%'") == [(0,)]


def test_with_ddl_trans_off_the_target_structure_stays(
        server: ServerHandle, postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    db = new_db("pgnoddl")
    create_db(postgres_server, db, DDL, postgres_target)
    with server.client() as http:
        job_id = start_pg_task(http, postgres_server, postgres_target, db, extra_policy={"ddl_trans": False})
        wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
        wait_equal(postgres_server, postgres_target, db, log=server.log_text)
        before = _columns(postgres_target, db)
        run(postgres_server, db, "ALTER TABLE t ADD COLUMN n int DEFAULT 1")
        run(postgres_server, db, "CREATE INDEX t_v ON t (v)")
        run(postgres_server, db, "UPDATE u SET w = 'changed' WHERE id = 2")
        _wait(lambda: run(postgres_target, db, "SELECT w FROM u WHERE id = 2") == [("changed",)],
              "the update after the DDL reaches the target")
        assert _columns(postgres_target, db) == before
        assert run(postgres_target, db, "SELECT to_regclass('public.t_v')") == [(None,)]
        detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
        assert detail["status"] == "INCRE_TRANSFER_STARTED", detail
        stop_task(http, job_id)
    assert _event_triggers(postgres_server, db) == []


def test_without_a_superuser_the_task_runs_without_capture_and_the_precheck_says_so(
        postgres_server: PostgresServer) -> None:
    """Drives the engine and the pre-check item directly (no API): the account is what matters."""
    role, db = f"ddl_{uuid.uuid4().hex[:8]}", new_db("pgddlnosu")
    postgres_server.execute(f"CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw'")
    postgres_server.execute(f'CREATE DATABASE "{db}" OWNER {role}')
    try:
        with psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=role, password="pw",
                             dbname=db, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        ep = EndpointConfig("postgresql", postgres_server.host, postgres_server.port, role, "pw", db_name=db)
        publication = f"opendrs_{uuid.uuid4().hex}"
        repl = PgReplication(ep, db, publication, publication, ddl_capture=True)
        repl.ensure_publication([TableRef("public", "t")])  # no error: the task starts without capture
        assert not repl.ddl_capture_installed()
        assert run(postgres_server, db, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                   (publication,)) == [("public", "t")]

        job = Job(id=str(uuid.uuid4()), project_id="p", name="n", status=JobStatus.CONFIGURATION,
                  db_use_type="sync", engine_type="postgresql", job_direction="up", task_type="FULL_INCR_TRANS",
                  net_type="eip", config={"policy": {"ddl_trans": True, "slot_name": publication}})
        ctx = PgCheckContext(job, Server("source", ep, db, "srcDbConnection"),
                             Server("target", ep, db, "dstDbConnection"))
        try:
            outcome = ddl_capture(ctx)
        finally:
            ctx.close()
        assert outcome.result == "ALARM", outcome
        assert f"ALTER ROLE {role} SUPERUSER" in outcome.failed_reason and "not be replicated" in outcome.failed_reason
        off = dataclasses.replace(job, config={"policy": {"ddl_trans": False}})
        assert ddl_requested(PgCheckContext(off, ctx.src, ctx.dst)) is False
        repl.drop()

        # Installed by a superuser, the capture records DDL of any role (and publishes its new tables).
        admin_ep = dataclasses.replace(ep, user=postgres_server.user, password=postgres_server.password)
        admin = PgReplication(admin_ep, db, publication, publication, ddl_capture=True)
        admin.ensure_publication([TableRef("public", "t")])
        assert admin.ddl_capture_installed()
        with psycopg.connect(host=postgres_server.host, port=postgres_server.port, user=role, password="pw",
                             dbname=db, autocommit=True) as conn:
            conn.execute("ALTER TABLE t ADD COLUMN c int")
            conn.execute("CREATE TABLE t3 (id int PRIMARY KEY)")
        log = ddl.DdlCapture(publication).table
        assert run(postgres_server, db, f'SELECT query, schema_name FROM "{log.schema}"."{log.name}" ORDER BY id') == [
            ("ALTER TABLE t ADD COLUMN c int", "public"), ("CREATE TABLE t3 (id int PRIMARY KEY)", "public")]
        assert ("public", "t3") in run(postgres_server, db, "SELECT schemaname, tablename FROM pg_publication_tables "
                                                            "WHERE pubname = %s", (publication,))
        admin.drop()
        assert _event_triggers(postgres_server, db) == []
    finally:
        postgres_server.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        postgres_server.execute(f"DROP ROLE IF EXISTS {role}")


def test_target_replays_ddl_once_tolerates_a_replay_and_skips_renamed_tables(
        postgres_server: PostgresServer, postgres_target: PostgresServer) -> None:
    """PostgresTarget.apply_ddl and the apply of rows written before a column existed, on a real target."""
    db = new_db("pgddltgt")
    postgres_target.execute(f'CREATE DATABASE "{db}"')
    run(postgres_target, db, "CREATE SCHEMA s_t; CREATE TABLE s_t.t (id int PRIMARY KEY, v text);"
                             "CREATE TABLE s_t.r (id int PRIMARY KEY)")
    ep = EndpointConfig("postgresql", postgres_target.host, postgres_target.port, postgres_target.user,
                        postgres_target.password, db_name=db)
    selection = Selection(everything=False, databases={"s": None}, database_alias={"s": "s_t"},
                          table_alias={TableRef("s", "renamed"): "r"})
    target = PostgresTarget(ep, ep)
    try:
        text = ddl.encode("ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 7; INSERT INTO t VALUES (99, 'x', 1)",
                          ["s", "public"], ["s.t"])
        for attempt in (1, 2):  # the second is a replay after a crash: "already exists" is skipped
            target.apply_ddl("job", text, "s", selection, {"position": {"lsn": attempt}})
        assert run(postgres_target, db, "SELECT count(*) FROM s_t.t") == [(0,)]  # the INSERT arrives as a row
        assert target.read_checkpoint("job", "cdc") == {"position": {"lsn": 2}}
        with pytest.raises(PgEngineError, match="Apply the change on the target by hand"):
            target.apply_ddl("job", ddl.encode("CREATE TABLE fresh (id int); ALTER TABLE t ADD COLUMN", ["s"], []),
                             "s", selection, {"position": {"lsn": 3}})
        assert run(postgres_target, db, "SELECT to_regclass('s_t.fresh')") == [(None,)]
        assert target.read_checkpoint("job", "cdc") == {"position": {"lsn": 2}}  # nothing of it committed

        # A DDL naming a table renamed on the target is skipped (logged), the checkpoint moves on.
        target.apply_ddl("job", ddl.encode("ALTER TABLE renamed ADD COLUMN z int", ["s"], []), "s", selection,
                         {"position": {"lsn": 4}})
        assert _columns(postgres_target, db, "s_t")[-1][:2] == ("t", "n")
        assert [c[1] for c in _columns(postgres_target, db, "s_t") if c[0] == "r"] == ["id"]
        assert target.read_checkpoint("job", "cdc") == {"position": {"lsn": 4}}

        # Rows streamed before the column existed (the catalog already has it): the column is left alone.
        table = TableSchema(TableRef("s", "t"), [Column("id", "int4", "integer"), Column("v", "text", "text"),
                                                 Column("n", "int4", "integer")], key=("id",))
        catalog = Catalog(tables=[table])
        run(postgres_target, db, "INSERT INTO s_t.t VALUES (2, 'old', 5)")
        rows = [ChangeEvent(Op.INSERT, table.ref, None, ("1", "a", UNCHANGED_TOAST)),
                ChangeEvent(Op.INSERT, table.ref, None, ("2", "b", UNCHANGED_TOAST))]
        target.apply("job", [Transaction(rows, PgPosition(5), 0.0)], catalog, selection, {"position": {"lsn": 5}})
        assert run(postgres_target, db, "SELECT id, v, n FROM s_t.t ORDER BY id") == [(1, "a", 7), (2, "b", 5)]
    finally:
        target.close()
