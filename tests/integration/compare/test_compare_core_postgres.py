"""The same comparison over the PostgreSQL dialect: two real PostgreSQL servers, values compared as text."""

from __future__ import annotations

import pytest
from cmp_helpers import by_table, describe, diff_set, pg_scope

from harness import PostgresServer
from opendrs.compare.api import compare_objects, compare_tables, repair
from opendrs.compare.model import CONSISTENT, INCONSISTENT
from opendrs.pipeline.model import TableRef

DB = "cmpdb"
SCHEMA = (
    "CREATE TABLE app.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, price numeric(10,2), "
    "ratio double precision, at timestamp(3), atz timestamptz, raw bytea, tags text[], doc jsonb)",
    "CREATE TABLE app.pairs (a int NOT NULL, b varchar(10) NOT NULL, v int, PRIMARY KEY (a, b))",
    "CREATE TABLE app.heap (x int, y text)",
    "CREATE INDEX items_name ON app.items (name)",
    "CREATE SEQUENCE app.counter START 10",
    "CREATE VIEW app.cheap AS SELECT id, name FROM app.items WHERE price < 10",
)
DATA = (
    "INSERT INTO app.items (name, price, ratio, at, atz, raw, tags, doc) SELECT 'n' || i, i * 1.5, "
    "CASE WHEN i = 1 THEN '-0'::float8 ELSE i / 3.0 END, timestamp '2020-01-01' + i * interval '1.001 second', "
    "timestamptz '2021-06-01 12:00+02' + i * interval '1 minute', decode(lpad(to_hex(i), 8, '0'), 'hex'), "
    "ARRAY['a', i::text], jsonb_build_object('k', i) FROM generate_series(1, 500) i",
    "UPDATE app.items SET name = NULL WHERE id % 9 = 0",
    "INSERT INTO app.pairs SELECT i % 20, 'k' || i, i FROM generate_series(0, 199) i",
    "INSERT INTO app.heap VALUES (1, 'a'), (1, 'a'), (2, NULL), (3, '')",
)


def _setup(server: PostgresServer) -> None:
    server.execute(f"DROP DATABASE IF EXISTS {DB}")
    server.execute(f"CREATE DATABASE {DB}")
    with server.connect(dbname=DB) as conn:
        conn.execute("CREATE SCHEMA app")
        for stmt in (*SCHEMA, *DATA):
            conn.execute(stmt)  # type: ignore[arg-type]


def _run(server: PostgresServer, *statements: str) -> None:
    with server.connect(dbname=DB) as conn:
        for stmt in statements:
            conn.execute(stmt)  # type: ignore[arg-type]


@pytest.fixture
def pg_pair(postgres_server: PostgresServer, postgres_target: PostgresServer) -> tuple[PostgresServer, PostgresServer]:
    _setup(postgres_server)
    _setup(postgres_target)
    return postgres_server, postgres_target


def test_identical_postgres_tables_are_consistent(pg_pair: tuple[PostgresServer, PostgresServer]) -> None:
    source, target = pg_pair
    scope = pg_scope(source, target, {"app": None}, dbname=DB, chunk_rows=64)
    for kind in ("lines", "contents"):
        results = by_table(compare_tables(scope, kind, settle_seconds=0))
        assert set(results) == {"heap", "items", "pairs"}
        assert all((r.status, r.diff_count) == (CONSISTENT, 0) for r in results.values()), results
    # (roles are server-wide: other tests of the session may have created some on one server only)
    assert {o.status for o in compare_objects(scope) if o.object_type != "USER"} == {"consistent"}


def test_postgres_corruption_is_found_exactly_and_repaired(pg_pair: tuple[PostgresServer, PostgresServer]) -> None:
    source, target = pg_pair
    _run(target,
         "DELETE FROM app.items WHERE id IN (3, 250)",
         "UPDATE app.items SET name = '' WHERE id = 9",  # NULL on the source
         "UPDATE app.items SET at = at + interval '1 millisecond' WHERE id = 100",
         "UPDATE app.items SET tags = ARRAY['a'], doc = '{}' WHERE id = 101",
         "UPDATE app.items SET ratio = 0 WHERE id = 1",  # -0 vs 0: equal, not a difference
         "INSERT INTO app.items (id, name) OVERRIDING SYSTEM VALUE VALUES (9000, 'extra')",
         "UPDATE app.pairs SET v = NULL WHERE a = 5 AND b = 'k5'",
         "DELETE FROM app.heap WHERE x = 2",
         "INSERT INTO app.heap VALUES (1, 'a')")
    scope = pg_scope(source, target, {"app": None}, dbname=DB, chunk_rows=64)
    results = by_table(compare_tables(scope, "contents", settle_seconds=0))
    items = results["items"]
    assert diff_set(items) == {("missing", ("3",)), ("missing", ("250",)), ("changed", ("9",)),
                               ("changed", ("100",)), ("changed", ("101",)), ("extra", ("9000",))}, \
        describe(items.diffs)
    assert (items.status, items.source_rows, items.target_rows) == (INCONSISTENT, 500, 499)
    assert diff_set(results["pairs"]) == {("changed", ("5", "k5"))}
    assert sorted(((d.kind, d.key) for d in results["heap"].diffs), key=repr) == [
        ("extra", ("1", "a")), ("missing", ("2", None))]
    statements = repair(scope, list(results.values()), dry_run=False)
    assert any("OVERRIDING SYSTEM VALUE" in s for s in statements)
    assert any(s.startswith('DELETE FROM "app"."heap" WHERE ctid = (SELECT ctid') for s in statements)
    after = compare_tables(scope, "contents", settle_seconds=0)
    assert [(r.source, r.status, r.diff_count) for r in after] == [
        (TableRef("app", n), CONSISTENT, 0) for n in ("heap", "items", "pairs")], [describe(r.diffs) for r in after]


def test_postgres_object_differences(pg_pair: tuple[PostgresServer, PostgresServer]) -> None:
    source, target = pg_pair
    _run(target, "DROP INDEX app.items_name", "ALTER TABLE app.pairs ALTER COLUMN v TYPE bigint",
         "ALTER SEQUENCE app.counter INCREMENT BY 5", "CREATE TABLE app.stray (id int)")
    scope = pg_scope(source, target, {"app": None}, dbname=DB)
    found = {(o.object_type, o.status, (o.source_value or o.target_value or "").split(":")[0])
             for o in compare_objects(scope) if o.status != "consistent" and o.object_type != "USER"}
    assert found == {
        ("INDEX", "missing", "items.items_name"),
        ("COLUMN", "different", "pairs.v"),
        ("SEQUENCE", "different", "counter"),
        ("TABLE", "extra", "stray"),
        ("COLUMN", "extra", "stray.id"),
    }
