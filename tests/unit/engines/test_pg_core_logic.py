"""Pure logic of the PostgreSQL core engine: pg_dump script splitting, key promotion, COPY text, merges."""

from __future__ import annotations

import pytest

from opendrs.engines.piped import last_line
from opendrs.engines.postgres import bulk, schema
from opendrs.engines.postgres.connection import PgUnavailable, is_transient, tool_error
from opendrs.engines.postgres.kit import default_slot_name
from opendrs.engines.postgres.pgoutput import UNCHANGED_TOAST
from opendrs.engines.postgres.target import _merge, _not_valid
from opendrs.pipeline.model import Catalog, Column, TableRef, TableSchema

POST_DATA = """--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: p p_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.p
    ADD CONSTRAINT p_pkey PRIMARY KEY (id, k);


--
-- Name: p1 p1_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.p1
    ADD CONSTRAINT p1_pkey PRIMARY KEY (id, k);


--
-- Name: t1 t1_u_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.t1
    ADD CONSTRAINT t1_u_key UNIQUE (u);


--
-- Name: u_email; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX u_email ON public."Users" USING btree (email);


--
-- Name: t2_note_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX t2_note_idx ON public.t2 USING btree (note);


--
-- Name: p1_pkey; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.p_pkey ATTACH PARTITION public.p1_pkey;


--
-- Name: t2 t2_t1_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.t2
    ADD CONSTRAINT t2_t1_fkey FOREIGN KEY (t1) REFERENCES public.t1(id);


--
-- PostgreSQL database dump complete
--
"""


def _table(schema_: str, name: str, key: tuple[str, ...]) -> TableSchema:
    return TableSchema(TableRef(schema_, name), [Column(k, "int4", "integer") for k in key] or
                       [Column("a", "int4", "integer")], key=key)


def test_split_reads_header_and_toc_entries() -> None:
    header, entries = schema.split(POST_DATA)
    assert "set_config('search_path'" in header
    assert [(e.kind, e.name) for e in entries] == [
        ("CONSTRAINT", "p p_pkey"), ("CONSTRAINT", "p1 p1_pkey"), ("CONSTRAINT", "t1 t1_u_key"), ("INDEX", "u_email"),
        ("INDEX", "t2_note_idx"), ("INDEX ATTACH", "p1_pkey"), ("FK CONSTRAINT", "t2 t2_t1_fkey")]
    assert entries[0].body == "ALTER TABLE ONLY public.p\n    ADD CONSTRAINT p_pkey PRIMARY KEY (id, k);"
    assert "dump complete" not in entries[-1].body.split(";")[0]


def test_keys_move_before_the_load_and_the_rest_stays_after() -> None:
    _, entries = schema.split(POST_DATA)
    # t1 and "Users" have no primary key: their key is a NOT NULL unique constraint / index.
    catalog = Catalog(tables=[_table("public", "p", ("id", "k")), _table("public", "Users", ("email",)),
                              _table("public", "t1", ("u",)), _table("public", "t2", ("id",))])
    early, late = schema.key_entries(entries, catalog)
    # Primary keys (a partition's too, with its index attach); the unique index keying a table without a PK.
    assert [e.name for e in early] == ["p p_pkey", "p1 p1_pkey", "t1 t1_u_key", "u_email", "p1_pkey"]
    assert [e.name for e in late] == ["t2_note_idx", "t2 t2_t1_fkey"]


def test_unique_constraint_of_a_pk_table_stays_after_the_data() -> None:
    script = POST_DATA.replace("ALTER TABLE ONLY public.p\n    ADD CONSTRAINT p_pkey PRIMARY KEY (id, k);",
                               "ALTER TABLE ONLY public.t1\n    ADD CONSTRAINT t1_pkey PRIMARY KEY (id);")
    _, entries = schema.split(script)
    early, late = schema.key_entries(entries, Catalog(tables=[_table("public", "t1", ("id",))]))
    assert [e.name for e in late] == ["t1 t1_u_key", "u_email", "t2_note_idx", "t2 t2_t1_fkey"]
    assert [e.name for e in early] == ["p p_pkey", "p1 p1_pkey", "p1_pkey"]  # the first one's body is t1's PK


def test_foreign_keys_are_created_not_valid() -> None:
    assert _not_valid("ALTER TABLE ONLY a\n    ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES b(id);") == (
        "ALTER TABLE ONLY a\n    ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES b(id) NOT VALID;")
    already = "ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES b(id) NOT VALID;"
    assert _not_valid(already) == already


@pytest.mark.parametrize(("field", "value"), [
    ("plain", "plain"), ("\\N", None), ("a\\tb\\nc\\\\d", "a\tb\nc\\d"), ("\\r\\b\\f\\v", "\r\b\f\v"),
    ("\\101\\x42", "AB"), ("é😀", "é😀"),
])
def test_copy_text_fields_unescape(field: str, value: str | None) -> None:
    assert bulk.unescape(field) == value


def test_encoded_batch_carries_the_last_rows_key_among_written_columns() -> None:
    table = TableSchema(TableRef("s", "t"), [Column("g", "int8", "bigint", generated=True),
                                             Column("a", "text", "text"), Column("id", "int4", "integer")],
                        key=("id", "a"))
    positions = bulk.writable_key_positions(table)
    assert positions == (1, 0)
    data = b"x\\ty\t1\nlast\\nline\t22\n"
    assert bulk.last_key(last_line(data), positions) == ("22", "last\nline")


def test_unchanged_toast_values_come_from_the_earlier_image() -> None:
    assert _merge(("1", "big", "x"), ("1", UNCHANGED_TOAST, "y")) == ("1", "big", "y")


def test_default_slot_name_is_a_valid_slot_name() -> None:
    name = default_slot_name("47A2EE7A-60ad-4207-b9dd-5b9ebf8jbm8h" * 2)
    assert name.startswith("opendrs_") and len(name) <= 63 and name == name.lower() and "-" not in name


class _Err(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "transient"), [("57P01", True), ("40001", True), ("40P01", True),
                                                     ("57P03", True), ("23505", False), ("42P01", False)])
def test_transient_errors(sqlstate: str, transient: bool) -> None:
    assert is_transient(_Err(sqlstate)) is transient
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = _Err(sqlstate)
    assert is_transient(wrapped) is transient


def test_client_tool_errors_are_retried_only_for_lost_connections() -> None:
    lost = tool_error("pg_dump", 'pg_dump: error: connection to server at "127.0.0.1", port 5 failed: '
                                 "Connection refused\n")
    assert isinstance(lost, PgUnavailable) and is_transient(lost)
    bad = tool_error("pg_dump", 'pg_dump: error: query failed: ERROR:  permission denied for table x\n')
    assert not isinstance(bad, PgUnavailable) and not is_transient(bad)
    assert "permission denied for table x" in str(bad)
