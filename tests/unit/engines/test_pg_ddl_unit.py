"""DDL replication for PostgreSQL without a server: statement splitting, the replayed text, and the decoder
splitting a transaction at a DDL (order kept, no position past an uncommitted point, changes after the
DDL decoded with the structure it created)."""

from __future__ import annotations

import struct

import pytest

from opendrs.engines.postgres import ddl
from opendrs.engines.postgres.pgoutput import UNCHANGED_TOAST, PgOutputDecoder, PgSchemaMismatch
from opendrs.engines.postgres.position import PgPosition
from opendrs.pipeline.model import Catalog, Column, Op, TableRef, TableSchema, Transaction

# --- splitting and filtering the query text ----------------------------------------------------------


def test_split_respects_strings_identifiers_dollar_quotes_and_comments() -> None:
    query = ("ALTER TABLE t ADD c text DEFAULT 'a;b''c'; -- a; comment\n"
             'CREATE TABLE "we;ird" (x int); /* outer /* nested; */ still; */ '
             "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1; $fn$;"
             "SELECT E'it\\'s; fine';  ;")
    assert ddl.split(query) == [
        "ALTER TABLE t ADD c text DEFAULT 'a;b''c'",
        '-- a; comment\nCREATE TABLE "we;ird" (x int)',
        "/* outer /* nested; */ still; */ CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1; $fn$",
        "SELECT E'it\\'s; fine'",
    ]


def test_statements_keep_ddl_only_and_drop_concurrently() -> None:
    query = ("BEGIN; INSERT INTO t VALUES (1); ALTER TABLE t ADD n int; SET search_path = x; "
             "CREATE UNIQUE INDEX CONCURRENTLY i ON t (n); drop index concurrently j; COMMENT ON TABLE t IS 'x;y'; "
             "COMMIT")
    assert ddl.statements(query) == ["ALTER TABLE t ADD n int", "CREATE UNIQUE INDEX  i ON t (n)",
                                     "drop index  j", "COMMENT ON TABLE t IS 'x;y'"]


def test_statements_of_a_function_call_or_do_block_are_none() -> None:
    assert ddl.statements("SELECT make_tables()") == []
    assert ddl.statements("DO $$ BEGIN EXECUTE 'CREATE TABLE x ()'; END $$") == []


def test_encode_round_trips_and_a_bare_query_decodes_as_itself() -> None:
    text = ddl.encode("ALTER TABLE t ADD c int;\nSELECT 1", ["s1", "My Schema"], ["s1.t"])
    assert text.startswith(ddl.HEADER)
    assert ddl.decode(text) == ("ALTER TABLE t ADD c int;\nSELECT 1", ["s1", "My Schema"], ["s1.t"])
    assert ddl.decode("DROP TABLE x") == ("DROP TABLE x", [], [])


def test_renamed_objects_are_found_by_their_source_names() -> None:
    tables = {TableRef("s1", "orders"): "orders_v2", TableRef("s1", "same"): "same"}
    assert ddl.renamed_objects(["ALTER TABLE orders ADD c int"], "s1", {}, tables) == ["table s1.orders"]
    assert ddl.renamed_objects(['ALTER TABLE "orders" ADD c int'], "s1", {}, tables) == ["table s1.orders"]
    assert ddl.renamed_objects(["ALTER TABLE ORDERS_old ADD c int"], "s1", {}, tables) == []
    assert ddl.renamed_objects(["ALTER TABLE orders ADD c int"], "s2", {}, tables) == []
    assert ddl.renamed_objects(["ALTER TABLE same ADD c int"], "s1", {}, tables) == []
    # Unqualified names follow the mapped search path; a schema written into the text cannot be mapped.
    assert ddl.renamed_objects(["CREATE TABLE x (id int)"], "s1", {"s1": "t1"}, {}) == []
    assert ddl.renamed_objects(["CREATE TABLE s1.x (id int)"], "s1", {"s1": "t1"}, {}) == ["schema s1"]


def test_capture_names_fit_identifiers_and_differ_per_task() -> None:
    a, b = ddl.DdlCapture("opendrs_" + "a" * 32), ddl.DdlCapture("opendrs_" + "b" * 32)
    names = [a.table.name, a.function, a.recorder, *a.triggers]
    assert all(len(n) <= 63 for n in names) and len(set(names)) == len(names)
    assert set(names).isdisjoint({b.table.name, b.function, b.recorder, *b.triggers})
    long = ddl.DdlCapture("p" * 63)
    assert all(len(n) <= 63 for n in [long.table.name, long.function, *long.triggers])


# --- the decoder ---------------------------------------------------------------------------------------

LOG = ddl.DdlCapture("opendrs_task")
U_OID, LOG_OID = 16400, 16500


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _relation(oid: int, ref: TableRef, columns: list[str]) -> bytes:
    body = b"R" + struct.pack("!I", oid) + _cstr(ref.schema) + _cstr(ref.name) + b"d" + struct.pack("!h", len(columns))
    for i, name in enumerate(columns):
        body += bytes([1 if i == 0 else 0]) + _cstr(name) + struct.pack("!Ii", 25, -1)
    return body


def _tuple(values: list[str | None]) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        out += b"n" if v is None else b"t" + struct.pack("!i", len(v.encode())) + v.encode()
    return out


def _insert(oid: int, values: list[str | None]) -> bytes:
    return b"I" + struct.pack("!I", oid) + b"N" + _tuple(values)


def _begin(xid: int) -> bytes:
    return b"B" + struct.pack("!QqI", 0, 0, xid)


def _commit(end: int) -> bytes:
    return b"C" + struct.pack("!BQQq", 0, end - 8, end, 0)


def _log_row(query: str, schema: str = "public") -> bytes:
    return _insert(LOG_OID, ["1", "700", "2026-01-01 00:00:00+00", query, "ALTER TABLE", schema, '["public"]',
                             '["public.u"]'])


def _u(*columns: str) -> TableSchema:
    return TableSchema(TableRef("public", "u"), [Column(c, "text", "text") for c in columns], key=("id",))


def _feed_all(decoder: PgOutputDecoder, messages: list[bytes]) -> Transaction | None:
    out = None
    for m in messages:
        out = decoder.feed(m)
    return out


def test_a_transaction_is_split_at_its_ddl_and_later_changes_use_the_new_structure() -> None:
    catalog = Catalog(tables=[_u("id", "w")])
    decoder = PgOutputDecoder(catalog, ddl_log=LOG.log_schema(), start=1000)
    assert _feed_all(decoder, [
        _begin(700), _relation(U_OID, TableRef("public", "u"), ["id", "w"]), _insert(U_OID, ["10", "before"]),
        _relation(LOG_OID, LOG.table, list(ddl.LOG_COLUMNS)), _log_row("ALTER TABLE u ADD m text"),
        _relation(U_OID, TableRef("public", "u"), ["id", "w", "m"]), _insert(U_OID, ["11", "after", "m!"]),
        _commit(2000)]) is None
    parts = decoder.take_parts()
    assert parts is not None and decoder.take_parts() is None

    first = next(parts)
    assert [e.after for e in first.events] == [("10", "before")] and first.ddl is None
    assert first.position == PgPosition(1000) and getattr(first, "partial", False)

    second = next(parts)
    assert second.events == [] and second.ddl_schema == "public" and second.position == PgPosition(1000)
    assert ddl.decode(second.ddl or "") == ("ALTER TABLE u ADD m text", ["public"], ["public.u"])
    # What the pipeline does before resuming the stream: apply, read the structure again.
    catalog.tables[:] = [_u("id", "w", "m")]
    decoder.refresh()

    third = next(parts)
    assert [(e.op, e.after) for e in third.events] == [(Op.INSERT, ("11", "after", "m!"))]
    assert third.position == PgPosition(2000) and not getattr(third, "partial", False)
    assert next(parts, None) is None
    assert decoder.last_commit == 2000


def test_a_ddl_alone_carries_its_commit_position() -> None:
    decoder = PgOutputDecoder(Catalog(tables=[_u("id", "w")]), ddl_log=LOG.log_schema(), start=1000)
    _feed_all(decoder, [_begin(1), _relation(LOG_OID, LOG.table, list(ddl.LOG_COLUMNS)),
                        _log_row("CREATE INDEX i ON u (w)"), _commit(3000)])
    parts = list(decoder.take_parts() or [])
    assert len(parts) == 1 and parts[0].ddl is not None and parts[0].position == PgPosition(3000)
    assert not getattr(parts[0], "partial", False)
    # The next plain transaction is an ordinary Transaction again.
    txn = _feed_all(decoder, [_begin(2), _relation(U_OID, TableRef("public", "u"), ["id", "w"]),
                              _insert(U_OID, ["1", "x"]), _commit(4000)])
    assert txn is not None and txn.position == PgPosition(4000) and decoder.take_parts() is None


def test_log_rows_are_ignored_without_ddl_capture() -> None:
    decoder = PgOutputDecoder(Catalog(tables=[_u("id", "w")]))
    txn = _feed_all(decoder, [_begin(1), _relation(LOG_OID, LOG.table, list(ddl.LOG_COLUMNS)),
                              _log_row("DROP TABLE x"), _commit(3000)])
    assert txn is not None and txn.events == [] and txn.ddl is None and decoder.take_parts() is None


def test_a_catalog_ahead_of_the_stream_leaves_unsent_columns_alone() -> None:
    """The catalog is read from the live source: a column added later is already in it."""
    ahead = Catalog(tables=[_u("id", "w", "m")])
    decoder = PgOutputDecoder(ahead, ddl_log=LOG.log_schema())
    txn = _feed_all(decoder, [_begin(1), _relation(U_OID, TableRef("public", "u"), ["id", "w"]),
                              _insert(U_OID, ["1", "x"]), _commit(3000)])
    assert txn is not None and txn.events[0].after == ("1", "x", UNCHANGED_TOAST)
    # Without DDL capture nothing will bring the column: the task must read the structure again.
    with pytest.raises(PgSchemaMismatch, match="restart the task"):
        _feed_all(PgOutputDecoder(ahead), [_begin(1), _relation(U_OID, TableRef("public", "u"), ["id", "w"])])
