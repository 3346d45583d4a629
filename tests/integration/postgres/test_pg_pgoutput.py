"""The pgoutput decoder and PgPosition: real message bytes, hand-built edge cases, LSN round trips.

Why: the decoder is hand-written against the protocol documentation, so it is pinned twice --
by bytes a real PostgreSQL 15 sent (captured once below, and again live from the
``postgres_server`` fixture with ``pg_logical_slot_peek_binary_changes``) and by byte strings
built here field by field for what a test cannot easily provoke (unchanged TOAST, REPLICA
IDENTITY FULL images, Origin/Type/Message, malformed input). A wrong offset or a value mapped
to the wrong column means silently corrupted replicas.
"""

from __future__ import annotations

import datetime
import json
import pickle
import struct
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from harness import PostgresServer
from opendrs.engines.postgres.pgoutput import (
    UNCHANGED_TOAST,
    PgOutputDecoder,
    PgOutputError,
    PgSchemaMismatch,
    pg_time_to_unix,
)
from opendrs.engines.postgres.position import PgPosition, format_lsn, parse_lsn
from opendrs.pipeline.model import Catalog, ChangeEvent, Column, Op, TableRef, TableSchema, Transaction

CAP = TableRef("public", "cap")


def cap_table(order: Sequence[str] = ("id", "t", "n", "g")) -> TableSchema:
    cols = {
        "id": Column("id", "integer", "integer", nullable=False),
        "t": Column("t", "text", "text"),
        "n": Column("n", "numeric", "numeric"),
        "g": Column("g", "integer", "integer", generated=True),
    }
    return TableSchema(CAP, [cols[c] for c in order], key=("id",))


def pg_ts(us: int) -> float:
    """The expected Unix time of a pgoutput timestamp, computed independently of the decoder."""
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    return (epoch + datetime.timedelta(microseconds=us)).timestamp()


def feed_all(decoder: PgOutputDecoder, messages: Sequence[bytes]) -> list[Transaction]:
    out = []
    for m in messages:
        txn = decoder.feed(m)
        if txn is not None:
            out.append(txn)
    return out


# --- captured from PostgreSQL 15.20 -----------------------------------------------------------
# CREATE TABLE cap (id int primary key, t text, n numeric, g int GENERATED ALWAYS AS (id*2) STORED);
# BEGIN; INSERT INTO cap VALUES (1,'a''b',1.5),(2,NULL,'NaN'); COMMIT;
# UPDATE cap SET t='x' WHERE id=1; UPDATE cap SET id=3 WHERE id=2; DELETE FROM cap WHERE id=1; TRUNCATE cap;
# then pg_logical_slot_peek_binary_changes(slot, NULL, NULL, 'proto_version','1','publication_names','cappub')
REAL: list[bytes] = [
    b"B\x00\x00\x00\x00\x01Q\x7f0\x00\x03\x03\xe9\xc1\xa5yJ\x00\x00\x02\xd7",
    b"R\x00\x00@\x00public\x00cap\x00d\x00\x03\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00t\x00\x00\x00\x00"
    b"\x19\xff\xff\xff\xff\x00n\x00\x00\x00\x06\xa4\xff\xff\xff\xff",
    b"I\x00\x00@\x00N\x00\x03t\x00\x00\x00\x011t\x00\x00\x00\x03a'bt\x00\x00\x00\x031.5",
    b"I\x00\x00@\x00N\x00\x03t\x00\x00\x00\x012nt\x00\x00\x00\x03NaN",
    b"C\x00\x00\x00\x00\x00\x01Q\x7f0\x00\x00\x00\x00\x01Q\x7f`\x00\x03\x03\xe9\xc1\xa5yJ",
    b"B\x00\x00\x00\x00\x01Q\x7f\xb8\x00\x03\x03\xe9\xc1\xa5|'\x00\x00\x02\xd8",
    b"U\x00\x00@\x00N\x00\x03t\x00\x00\x00\x011t\x00\x00\x00\x01xt\x00\x00\x00\x031.5",
    b"C\x00\x00\x00\x00\x00\x01Q\x7f\xb8\x00\x00\x00\x00\x01Q\x7f\xe8\x00\x03\x03\xe9\xc1\xa5|'",
    b"B\x00\x00\x00\x00\x01Q\x80\x98\x00\x03\x03\xe9\xc1\xa5}H\x00\x00\x02\xd9",
    b"U\x00\x00@\x00K\x00\x03t\x00\x00\x00\x012nnN\x00\x03t\x00\x00\x00\x013nt\x00\x00\x00\x03NaN",
    b"C\x00\x00\x00\x00\x00\x01Q\x80\x98\x00\x00\x00\x00\x01Q\x80\xc8\x00\x03\x03\xe9\xc1\xa5}H",
    b"B\x00\x00\x00\x00\x01Q\x81\x08\x00\x03\x03\xe9\xc1\xa5~-\x00\x00\x02\xda",
    b"D\x00\x00@\x00K\x00\x03t\x00\x00\x00\x011nn",
    b"C\x00\x00\x00\x00\x00\x01Q\x81\x08\x00\x00\x00\x00\x01Q\x818\x00\x03\x03\xe9\xc1\xa5~-",
    b"B\x00\x00\x00\x00\x01Q\x8c\xb8\x00\x03\x03\xe9\xc1\xa5\x8a\x82\x00\x00\x02\xdb",
    b"R\x00\x00@\x00public\x00cap\x00d\x00\x03\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00t\x00\x00\x00\x00"
    b"\x19\xff\xff\xff\xff\x00n\x00\x00\x00\x06\xa4\xff\xff\xff\xff",
    b"T\x00\x00\x00\x01\x00\x00\x00@\x00",
    b"C\x00\x00\x00\x00\x00\x01Q\x8c\xb8\x00\x00\x00\x00\x01Q\x8e(\x00\x03\x03\xe9\xc1\xa5\x8a\x82",
]


def test_captured_stream_decodes_to_the_committed_changes() -> None:
    txns = feed_all(PgOutputDecoder(Catalog(tables=[cap_table()])), REAL)
    assert [list(t.events) for t in txns] == [
        [ChangeEvent(Op.INSERT, CAP, None, ("1", "a'b", "1.5", None)),
         ChangeEvent(Op.INSERT, CAP, None, ("2", None, "NaN", None))],
        [ChangeEvent(Op.UPDATE, CAP, None, ("1", "x", "1.5", None))],  # key unchanged: no old tuple
        [ChangeEvent(Op.UPDATE, CAP, ("2", None, None, None), ("3", None, "NaN", None))],  # 'K' image
        [ChangeEvent(Op.DELETE, CAP, ("1", None, None, None), None)],
        [ChangeEvent(Op.TRUNCATE, CAP, None, None)],
    ]
    # Positions are the commits' END LSNs (bytes 10..17 of each Commit), in commit order.
    assert [t.position for t in txns] == [PgPosition(x) for x in
                                          (0x1517F60, 0x1517FE8, 0x15180C8, 0x1518138, 0x1518E28)]
    assert txns[0].commit_ts == pytest.approx(pg_ts(0x0003_03E9_C1A5_794A), abs=1e-6)
    assert datetime.datetime.fromtimestamp(txns[0].commit_ts, datetime.UTC).year == 2026
    assert txns[0].bytes == sum(len(m) for m in REAL[:5])
    assert txns[-1].bytes == sum(len(m) for m in REAL[14:])


def test_columns_are_mapped_by_name_into_catalog_order() -> None:
    txns = feed_all(PgOutputDecoder(Catalog(tables=[cap_table(("n", "g", "t", "id"))])), REAL[:5])
    assert [e.after for e in txns[0].events] == [("1.5", None, "a'b", "1"), ("NaN", None, None, "2")]


def test_tables_outside_the_catalog_are_ignored_but_their_commits_are_not() -> None:
    other = TableSchema(TableRef("public", "other"), [Column("id", "integer", "integer")], key=("id",))
    txns = feed_all(PgOutputDecoder(Catalog(tables=[other])), REAL)
    assert len(txns) == 5
    assert all(list(t.events) == [] for t in txns)
    assert txns[-1].position == PgPosition(0x1518E28)


# --- hand-built messages ------------------------------------------------------------------------


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def begin(final_lsn: int = 0x100, ts: int = 0, xid: int = 7) -> bytes:
    return b"B" + struct.pack("!QqI", final_lsn, ts, xid)


def commit(end_lsn: int, commit_lsn: int | None = None, ts: int = 0) -> bytes:
    return b"C" + struct.pack("!BQQq", 0, commit_lsn if commit_lsn is not None else end_lsn - 0x30, end_lsn, ts)


def relation(oid: int, schema: str, name: str, cols: Sequence[tuple[str, bool]], identity: str = "d") -> bytes:
    body = struct.pack("!I", oid) + cstr(schema) + cstr(name) + identity.encode() + struct.pack("!h", len(cols))
    for col, key in cols:
        body += struct.pack("!B", 1 if key else 0) + cstr(col) + struct.pack("!Ii", 25, -1)
    return b"R" + body


def tup(values: Sequence[Any]) -> bytes:
    """TupleData: str -> 't', None -> 'n', UNCHANGED_TOAST -> 'u'."""
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED_TOAST:
            out += b"u"
        else:
            data = v.encode()
            out += b"t" + struct.pack("!i", len(data)) + data
    return out


def insert(oid: int, values: Sequence[Any]) -> bytes:
    return b"I" + struct.pack("!I", oid) + b"N" + tup(values)


def update(oid: int, new: Sequence[Any], old: Sequence[Any] | None = None, kind: bytes = b"K") -> bytes:
    head = b"U" + struct.pack("!I", oid)
    if old is not None:
        head += kind + tup(old)
    return head + b"N" + tup(new)


def delete(oid: int, old: Sequence[Any], kind: bytes = b"K") -> bytes:
    return b"D" + struct.pack("!I", oid) + kind + tup(old)


def truncate(oids: Sequence[int], options: int = 0) -> bytes:
    return b"T" + struct.pack("!iB", len(oids), options) + b"".join(struct.pack("!I", o) for o in oids)


T1 = TableRef("s", "t1")
T2 = TableRef("s", "t2")


def two_tables() -> Catalog:
    t1 = TableSchema(T1, [Column("id", "integer", "integer"), Column("doc", "text", "text"),
                          Column("v", "text", "text")], key=("id",))
    t2 = TableSchema(T2, [Column("a", "text", "text"), Column("b", "text", "text")])  # no key: FULL identity
    return Catalog(tables=[t1, t2])


def decoder_with_relations() -> PgOutputDecoder:
    dec = PgOutputDecoder(two_tables())
    dec.feed(relation(1, "s", "t1", [("id", True), ("doc", False), ("v", False)]))
    dec.feed(relation(2, "s", "t2", [("a", True), ("b", True)], identity="f"))
    return dec


def test_unchanged_toast_full_images_and_multi_table_transaction() -> None:
    dec = decoder_with_relations()
    txn = feed_all(dec, [
        begin(),
        update(1, ["1", UNCHANGED_TOAST, "new"]),
        update(2, ["x", "2"], old=["x", "1"], kind=b"O"),
        delete(2, ["x", "2"], kind=b"O"),
        insert(1, ["2", "\U0001f600 four-byte \u00e9", ""]),
        commit(0x2_0000_0010, ts=-1_000_000),
    ])[0]
    assert list(txn.events) == [
        ChangeEvent(Op.UPDATE, T1, None, ("1", UNCHANGED_TOAST, "new")),
        ChangeEvent(Op.UPDATE, T2, ("x", "1"), ("x", "2")),
        ChangeEvent(Op.DELETE, T2, ("x", "2"), None),
        ChangeEvent(Op.INSERT, T1, None, ("2", "\U0001f600 four-byte \u00e9", "")),  # '' is not NULL
    ]
    assert txn.position == PgPosition(0x2_0000_0010)
    assert txn.commit_ts == pytest.approx(946_684_799.0)  # one second before 2000-01-01


def test_truncate_lists_every_catalog_table_and_skips_others() -> None:
    dec = decoder_with_relations()
    dec.feed(relation(3, "s", "unselected", [("id", True)]))
    txn = feed_all(dec, [begin(), truncate([1, 3, 2], options=3), commit(0x500)])[0]
    assert list(txn.events) == [ChangeEvent(Op.TRUNCATE, T1, None, None), ChangeEvent(Op.TRUNCATE, T2, None, None)]


def test_origin_type_and_message_are_ignored() -> None:
    dec = decoder_with_relations()
    origin = b"O" + struct.pack("!Q", 0x42) + cstr("node_a")
    type_msg = b"Y" + struct.pack("!I", 16_400) + cstr("public") + cstr("mood")
    message = b"M" + struct.pack("!BQ", 1, 0x99) + cstr("prefix") + struct.pack("!i", 3) + b"abc"
    txns = feed_all(dec, [message, begin(), origin, type_msg, insert(1, ["1", None, None]), commit(0x600)])
    assert [list(t.events) for t in txns] == [[ChangeEvent(Op.INSERT, T1, None, ("1", None, None))]]


def test_relation_sent_again_after_alter_table_is_followed() -> None:
    """ADD COLUMN: the new column is not in the task and is dropped; reordered columns still map by name."""
    dec = decoder_with_relations()
    dec.feed(relation(1, "s", "t1", [("v", False), ("id", True), ("added", False), ("doc", False)]))
    txn = feed_all(dec, [begin(), insert(1, ["vv", "5", "extra", "dd"]), commit(0x700)])[0]
    assert list(txn.events) == [ChangeEvent(Op.INSERT, T1, None, ("5", "dd", "vv"))]


def test_a_dropped_column_is_a_schema_mismatch() -> None:
    dec = decoder_with_relations()
    with pytest.raises(PgSchemaMismatch, match=r"s\.t1 .*column\(s\) doc.*restart the task"):
        dec.feed(relation(1, "s", "t1", [("id", True), ("v", False)]))


@pytest.mark.parametrize(("messages", "match"), [
    ([insert(1, ["1", None, None])], "Insert outside a transaction"),
    ([commit(0x100)], "Commit outside a transaction"),
    ([begin(), begin()], "Begin inside a transaction"),
    ([begin(), insert(9, ["1"])], "relation 9 before its Relation message"),
    ([begin(), insert(1, ["1", None])], "tuple of 2 columns"),
    ([b"Z\x00"], "unknown pgoutput message type 'Z'"),
    ([b"S" + b"\x00" * 8], "unknown pgoutput message type 'S'"),  # streaming (protocol 2) is not expected
    ([begin()[:10]], "truncated pgoutput message"),
    ([begin(), b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 3) + b"t\x00\x00\x00\x09ab"],
     "runs past the end"),
    ([begin(), b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 3) + b"b\x00\x00\x00\x01a"],
     "unknown tuple column kind 'b'"),
    ([b""], "empty pgoutput message"),
])
def test_malformed_streams_are_refused(messages: list[bytes], match: str) -> None:
    dec = decoder_with_relations()
    with pytest.raises(PgOutputError, match=match):
        feed_all(dec, messages)


def test_unchanged_toast_is_a_picklable_singleton() -> None:
    assert pickle.loads(pickle.dumps(UNCHANGED_TOAST)) is UNCHANGED_TOAST  # noqa: S301 - our own bytes
    assert repr(UNCHANGED_TOAST) == "UNCHANGED_TOAST"


def test_pg_epoch_conversion() -> None:
    assert pg_time_to_unix(0) == 946_684_800
    assert pg_time_to_unix(1_500_000) == pytest.approx(946_684_801.5)


# --- PgPosition ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("0/0", 0), ("0/16B3748", 0x16B3748), ("16/B374D848", 0x16_B374_D848), ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
])
def test_lsn_text_round_trip(text: str, value: int) -> None:
    assert parse_lsn(text) == value
    assert format_lsn(value) == text
    assert parse_lsn(text.lower()) == value
    pos = PgPosition(value)
    assert pos.to_dict() == {"lsn": text}
    assert PgPosition.from_dict(json.loads(json.dumps(pos.to_dict()))) == pos
    assert str(pos) == text


@pytest.mark.parametrize("bad", ["", "16", "16/", "/1", "G/1", "1/2/3", "123456789/0", " 1 / 2", "-1/0"])
def test_garbage_lsn_text_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL LSN"):
        parse_lsn(bad)


@pytest.mark.parametrize("doc", [{}, {"lsn": None}, {"lsn": True}, {"lsn": -1}, {"lsn": 2**64}, {"lsn": "x"},
                                 {"lsn": "0/1", "version": 2}, {"lsn": "0/1", "version": "1"}, ["0/1"]])
def test_garbage_position_documents_are_refused(doc: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with what is wrong
        PgPosition.from_dict(doc)


def test_positions_order_by_lsn() -> None:
    assert PgPosition(parse_lsn("1/0")) > PgPosition(parse_lsn("0/FFFFFFFF"))
    assert max(PgPosition(5), PgPosition(3)) == PgPosition(5)
    assert PgPosition.from_dict({"lsn": 7, "version": 1}) == PgPosition(7)


# --- live capture -------------------------------------------------------------------------------


def test_live_capture_decodes_like_select_text(postgres_server: PostgresServer) -> None:
    """Bytes from the running server, decoded, equal ``SELECT col::text`` of the same rows."""
    suffix = uuid.uuid4().hex[:8]
    table, pub, slot = f"live_{suffix}", f"pub_{suffix}", f"slot_{suffix}"
    with postgres_server.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, f float8, a int[], j jsonb, b bytea, "
                     "ts timestamptz, u text)")
        conn.execute(f"CREATE PUBLICATION {pub} FOR TABLE {table}")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            conn.execute(f"INSERT INTO {table} VALUES (1, '-0', '{{1,NULL,3}}', '{{\"k\": [1, 2.50]}}', "
                         "'\\x00ff', 'infinity', 'caf\u00e9 \U0001f680'), "
                         "(2, 'NaN', NULL, 'null', '', '-infinity', '')")
            conn.execute(f"UPDATE {table} SET f = 'Infinity' WHERE id = 2")
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, 'proto_version', '1', "
                "'publication_names', %s)", (slot, pub)).fetchall()
            expected = conn.execute(f"SELECT id::text, f::text, a::text, j::text, b::text, ts::text, u::text "
                                    f"FROM {table} ORDER BY id").fetchall()
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(f"DROP PUBLICATION {pub}")
            conn.execute(f"DROP TABLE {table}")
    cols = [Column(n, "text", "text") for n in ("id", "f", "a", "j", "b", "ts", "u")]
    catalog = Catalog(tables=[TableSchema(TableRef("public", table), cols, key=("id",))])
    txns = feed_all(PgOutputDecoder(catalog), [bytes(r[0]) for r in rows])
    assert len(txns) == 2
    inserted = [e.after for e in txns[0].events]
    assert inserted[0] == tuple(expected[0])
    assert inserted[0][1:5] == ("-0", "{1,NULL,3}", '{"k": [1, 2.50]}', "\\x00ff")
    assert inserted[1][1] == "NaN" and inserted[1][5] == "-infinity"
    assert txns[1].events[0].after == tuple(expected[1])
    assert txns[0].position < txns[1].position
