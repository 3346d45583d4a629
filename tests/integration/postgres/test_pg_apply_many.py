"""PostgreSQL apply of large batches on a real target: many deletes go through a typed key stage; full-load
batches over rows the target already had become upserts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from harness import PostgresServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.bulk import FORMAT
from opendrs.engines.postgres.position import PgPosition
from opendrs.engines.postgres.target import STAGE_ABOVE, PostgresTarget
from opendrs.pipeline.model import (
    Catalog,
    ChangeEvent,
    Column,
    EncodedBatch,
    Op,
    TableRef,
    TableSchema,
    Transaction,
)
from opendrs.pipeline.selection import Selection


@pytest.fixture
def ep(postgres_target: PostgresServer) -> Iterator[EndpointConfig]:
    """A fresh database on the throwaway target, dropped afterwards."""
    db = f"pgapply_{uuid.uuid4().hex[:8]}"
    postgres_target.execute(f'CREATE DATABASE "{db}"')
    try:
        yield EndpointConfig("postgresql", postgres_target.host, postgres_target.port, postgres_target.user,
                             postgres_target.password, db_name=db)
    finally:
        postgres_target.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def connect(ep: EndpointConfig, autocommit: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(host=ep.host, port=ep.port, user=ep.user, password=ep.password, dbname=ep.db_name,
                           autocommit=autocommit)


def test_many_deletes_of_typed_and_composite_keys_remove_exactly_those_rows(ep: EndpointConfig) -> None:
    with connect(ep, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.c (region text, n int, at date, v text, PRIMARY KEY (region, n, at))")
        conn.execute("CREATE TABLE public.u (id uuid PRIMARY KEY, v int)")
        conn.execute("INSERT INTO public.c SELECT CASE WHEN i % 2 = 0 THEN 'ü-east' ELSE 'west''s' END, i, "
                     "DATE '2020-01-01' + i, 'v' || i FROM generate_series(1, 2000) i")
        conn.execute("INSERT INTO public.u SELECT md5(i::text)::uuid, i FROM generate_series(1, 2000) i")
        doomed_c = conn.execute("SELECT region, n::text, at::text FROM public.c WHERE n % 3 = 0").fetchall()
        doomed_u = conn.execute("SELECT id::text FROM public.u WHERE v % 4 = 0").fetchall()
    assert len(doomed_c) > STAGE_ABOVE and len(doomed_u) > STAGE_ABOVE
    c = TableSchema(TableRef("public", "c"), [Column("region", "text", "text"), Column("n", "int4", "integer"),
                                              Column("at", "date", "date"), Column("v", "text", "text")],
                    key=("region", "n", "at"))
    u = TableSchema(TableRef("public", "u"), [Column("id", "uuid", "uuid"), Column("v", "int4", "integer")],
                    key=("id",))
    # Values arrive from pgoutput as PostgreSQL text, as the decoder yields them.
    events = [ChangeEvent(Op.DELETE, c.ref, (r, n, at, None), None) for r, n, at in doomed_c]
    events += [ChangeEvent(Op.DELETE, u.ref, (k, None), None) for (k,) in doomed_u]
    events.append(ChangeEvent(Op.INSERT, u.ref, None, (str(uuid.UUID(int=7)), "7")))
    target = PostgresTarget(ep, ep)
    try:
        target.apply("job", [Transaction(events, PgPosition(100), 0.0)], Catalog(tables=[c, u]),
                     Selection(everything=False, databases={"public": None}), {"lsn": 100})
        with connect(ep) as conn:
            assert conn.execute("SELECT count(*), count(*) FILTER (WHERE n % 3 = 0) FROM public.c").fetchone() == (
                2000 - len(doomed_c), 0)
            assert conn.execute("SELECT count(*), count(*) FILTER (WHERE v % 4 = 0) FROM public.u").fetchone() == (
                2000 - len(doomed_u) + 1, 0)
            assert conn.execute("SELECT to_regclass('opendrs_stage_keys')").fetchone() == (None,)
        assert target.read_checkpoint("job", "cdc") == {"lsn": 100}
    finally:
        target.close()


def test_many_upserts_with_awkward_text_arrive_byte_exact(ep: EndpointConfig) -> None:
    """Big upserts go through a COPY stage: escapes, NULLs, '' and generated columns must survive."""
    with connect(ep, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY, v text, j jsonb, g int GENERATED ALWAYS AS (id * 2) "
                     "STORED, b bytea)")
        conn.execute("INSERT INTO public.t (id, v) SELECT i, 'old' FROM generate_series(1, 100) i")
    awkward = ["tab\there", "line\nbreak", "cr\rx", "back\\slash", "\\N", "", "ü😀", "\\\\t", "end\\"]
    table = TableSchema(TableRef("public", "t"), [
        Column("id", "int4", "integer"), Column("v", "text", "text"), Column("j", "jsonb", "jsonb"),
        Column("g", "int4", "integer", generated=True), Column("b", "bytea", "bytea")], key=("id",))
    want: dict[int, tuple[str | None, str | None, str | None]] = {}
    events = []
    for i in range(1, STAGE_ABOVE * 2):
        v = None if i % 7 == 0 else awkward[i % len(awkward)] + str(i)
        j = None if i % 5 == 0 else '{"k": "a\\tb\\\\c"}'
        b = "\\x00ff" if i % 2 else None
        op = Op.UPDATE if i <= 100 else Op.INSERT
        events.append(ChangeEvent(op, table.ref, (str(i), None, None, None, None) if op is Op.UPDATE else None,
                                  (str(i), v, j, None, b)))
        want[i] = (v, j, b)
    target = PostgresTarget(ep, ep)
    try:
        target.apply("job", [Transaction(events, PgPosition(100), 0.0)], Catalog(tables=[table]),
                     Selection(everything=False, databases={"public": None}), {"lsn": 100})
        with connect(ep) as conn:
            got = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
                "SELECT id, v, j::text, b::text FROM public.t WHERE g = id * 2").fetchall()}
        assert got == {i: (v, None if j is None else '{"k": "a\\tb\\\\c"}', b) for i, (v, j, b) in want.items()}
    finally:
        target.close()


def test_conflict_policy_ignore_with_many_keys_checks_them_in_one_staged_join(ep: EndpointConfig) -> None:
    """Above STAGE_ABOVE keys the conflict check joins a typed key stage; keys match as the source sent them."""
    with connect(ep, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.n (k numeric(10,2), d date, v text, PRIMARY KEY (k, d))")
        conn.execute("INSERT INTO public.n SELECT i, DATE '2024-01-01', 'target' FROM generate_series(1, 300, 2) i")
    table = TableSchema(TableRef("public", "n"), [Column("k", "numeric", "numeric(10,2)"), Column("d", "date", "date"),
                                                  Column("v", "text", "text")], key=("k", "d"))
    # '7' is stored as 7.00: the target prints the key differently from how the source sent it
    events = [ChangeEvent(Op.INSERT, table.ref, None, (str(i), "2024-01-01", "source")) for i in range(1, 301)]
    events.append(ChangeEvent(Op.DELETE, table.ref, ("1000", "2024-01-01", None), None))  # a row that is not there
    target = PostgresTarget(ep, ep)
    try:
        target.apply("job", [Transaction(events, PgPosition(100), 0.0)], Catalog(tables=[table]),
                     Selection(everything=False, databases={"public": None}), {"lsn": 100}, conflict_policy="ignore")
        with connect(ep) as conn:
            got = dict(conn.execute("SELECT k::int, v FROM public.n").fetchall())
        assert got == {i: "target" if i % 2 else "source" for i in range(1, 301)}
    finally:
        target.close()


def test_full_load_batch_over_rows_the_target_had_is_written_again_as_an_upsert(ep: EndpointConfig) -> None:
    """A COPY that hits a key already on the target rolls back whole; the batch goes again as an upsert,
    with its checkpoint in the same transaction (also a checkpoint whose text needs quoting)."""
    with connect(ep, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO public.t VALUES (2, 'old'), (5, 'old')")
    table = TableSchema(TableRef("public", "t"), [Column("id", "int4", "integer"), Column("v", "text", "text")],
                        key=("id",))
    data = "".join(f"{i}\tnew {i}\\tx\n" for i in range(1, 7)).encode()
    doc = {"last_key": ["6"], "rows": 6, "note": "it's a \\ test"}
    target = PostgresTarget(ep, ep)
    try:
        target.load_encoded("job", table, table.ref, EncodedBatch(format=FORMAT, data=data, rows=6, last_key=("6",)),
                            checkpoint=("range:'x'", doc))
        assert target.read_checkpoint("job", "range:'x'") == doc
        target.load("job", table, table.ref, [("7", "row 7"), ("1", "row 1")], checkpoint=("range:y", {"rows": 2}))
        assert target.read_checkpoint("job", "range:y") == {"rows": 2}
    finally:
        target.close()
    with connect(ep) as conn:
        rows = conn.execute("SELECT id, v FROM public.t ORDER BY id").fetchall()
    assert rows == [(1, "row 1"), *((i, f"new {i}\tx") for i in range(2, 7)), (7, "row 7")]
