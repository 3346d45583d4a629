"""Keys of new tables the COPY fast path fills are built after the data; others keep them before it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from harness import PostgresServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.source import PostgresSource
from opendrs.engines.postgres.target import PostgresTarget
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection


def _database(server: PostgresServer) -> Iterator[EndpointConfig]:
    db = f"pgkeys_{uuid.uuid4().hex[:8]}"
    server.execute(f'CREATE DATABASE "{db}"')
    try:
        yield EndpointConfig("postgresql", server.host, server.port, server.user, server.password, db_name=db)
    finally:
        server.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture
def source_ep(postgres_server: PostgresServer) -> Iterator[EndpointConfig]:
    yield from _database(postgres_server)


@pytest.fixture
def target_ep(postgres_target: PostgresServer) -> Iterator[EndpointConfig]:
    yield from _database(postgres_target)


def connect(ep: EndpointConfig) -> psycopg.Connection[Any]:
    return psycopg.connect(host=ep.host, port=ep.port, user=ep.user, password=ep.password, dbname=ep.db_name,
                           autocommit=True)


def unique_indexes(ep: EndpointConfig, table: str) -> list[str]:
    with connect(ep) as conn:
        rows = conn.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass(%s) "
                            "AND indisunique ORDER BY 1", (table,)).fetchall()
    return [str(r[0]) for r in rows]


def test_new_tables_get_their_keys_after_the_data(source_ep: EndpointConfig, target_ep: EndpointConfig) -> None:
    with connect(source_ep) as conn:
        conn.execute("CREATE TABLE public.fresh (id int PRIMARY KEY, v int)")
        conn.execute("CREATE INDEX fresh_v ON public.fresh (v)")
        conn.execute("CREATE TABLE public.uq (code text NOT NULL UNIQUE, v int)")  # keyed by a unique constraint
        conn.execute("CREATE TABLE public.filtered (id int PRIMARY KEY, v int)")
        conn.execute("CREATE TABLE public.kept (id int PRIMARY KEY, v int)")
    with connect(target_ep) as conn:  # a table the target already has, with rows: its key must come first
        conn.execute("CREATE TABLE public.kept (id int, v int)")
        conn.execute("INSERT INTO public.kept VALUES (1, 1)")
    selection = Selection(everything=False, databases={"public": None})
    source = PostgresSource(source_ep, "", "")
    catalog = source.discover(selection)
    target = PostgresTarget(target_ep, source_ep, filters={TableRef("public", "filtered"): "v > 0"})
    try:
        target.prepare(catalog, selection, drop_existing=False)
        assert unique_indexes(target_ep, "public.fresh") == []
        assert unique_indexes(target_ep, "public.uq") == []
        assert unique_indexes(target_ep, "public.filtered") == ["filtered_pkey"]  # the row path needs it
        assert unique_indexes(target_ep, "public.kept") == ["kept_pkey"]
        with connect(target_ep) as conn:
            conn.execute("INSERT INTO public.fresh SELECT i, i FROM generate_series(1, 1000) i")
        target.finish(catalog, selection)
        target.finish(catalog, selection)  # again (a retry after a crash): nothing is built twice
    finally:
        target.close()
        source.close()
    assert unique_indexes(target_ep, "public.fresh") == ["fresh_pkey"]
    assert unique_indexes(target_ep, "public.uq") == ["uq_code_key"]
    with connect(target_ep) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'fresh_v'").fetchone() == (1,)
