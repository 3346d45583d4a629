"""Helpers for end-to-end PostgreSQL task tests: task set-up through the API, and source == target checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from e2e_helpers import create_task, wait_status

from harness import PostgresServer
from opendrs.client import DrsHttpClient

# Both sides render values the same way whatever the servers' defaults.
SESSION = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"

TYPES_DDL = r"""
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TABLE types (
    id bigint PRIMARY KEY,
    n numeric, n2 numeric(40, 20), r real, d double precision, m money,
    i2 smallint, i4 integer, i8 bigint, b boolean,
    t text, vc varchar(20), ch char(5), by bytea, u uuid, j json, jb jsonb,
    ia integer[], ta text[][], e mood, dom posint, ir int4range, nr numrange, tsr tstzrange, mr int4multirange,
    comp pair, dt date, tm time, tmz timetz, ts timestamp, tstz timestamptz, iv interval,
    ip inet, cid cidr, mac macaddr, bt bit(5), vb varbit(10), tsv tsvector, x xml,
    pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle,
    big text,
    gen bigint GENERATED ALWAYS AS (id * 2) STORED
);
"""

TYPES_ROWS = [
    r"""(1, 'NaN', 12345678901234567890.12345678901234567890, 'NaN', 'Infinity', '$1,234.56',
        -32768, -2147483648, -9223372036854775808, true,
        'héllo 😀 𝄞 "quoted" \ back', 'vc', 'ab', '\x00ff10'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        '{"k": [1, 2.50, null], "z": "é"}', '{"b": 1, "a": [true]}',
        '{1,NULL,3}', '{{a,b},{NULL,"c d"}}', 'happy 😀', 7, '[1,10)', '(1.5,2.5]',
        '["2020-01-01 00:00:00+00","infinity")', '{[1,3), [5,9)}',
        ROW(1, 'x y'), 'infinity', '24:00:00', '23:59:59.999999+14', '4713-01-01 00:00:00 BC', '-infinity',
        '-178000000 years 3 mons 4 days 00:00:01.5', '2001:db8::1/64', '10.1.0.0/16', '08:00:2b:01:02:03',
        B'10101', B'1', 'a fat:1 cat:2', '<r a="1">x &amp; y</r>',
        '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '(2,2),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))',
        '<(0,0),2>', (SELECT string_agg(md5(g::text), ' ') FROM generate_series(1, 4000) g))""",
    r"""(2, '-0.000000000000000000001', 0, '-0', '-Infinity', '-0.01',
        32767, 2147483647, 9223372036854775807, false,
        '', NULL, NULL, decode(repeat('deadbeef00', 30000), 'hex'), NULL, 'null', '[]',
        '{}', '{}', 'sad', NULL, 'empty', NULL, NULL, '{}',
        ROW(NULL, NULL), '0001-01-01 BC', '00:00:00', NULL, 'infinity', '1999-12-31 23:59:59.999999+05:30',
        '0', '127.0.0.1', '::/0', 'ff:ff:ff:ff:ff:ff', B'00000', B'', '', '<a/>',
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""",
    r"""(3, 1e-1000, -1.5, 3.4028235e38, 1.7976931348623157e308, NULL,
        0, 0, 0, NULL, E'tab\there\nnewline', 'x', 'x', '\x'::bytea, '00000000-0000-0000-0000-000000000000',
        '{"deep": {"a": {"b": [[]]}}}', '{"n": 1e400}', '{{1,2},{3,4}}', '{{{x}}}', NULL, 1,
        '(,)', '[0,0]', 'empty', '{[,)}', NULL, '2024-02-29', '12:34:56.789', '00:00:00-12', '2024-02-29 12:00:00',
        '2024-02-29 12:00:00.123456+00', '1 day -1 sec', '::ffff:1.2.3.4', '2001:db8::/32', '00:00:00:00:00:00',
        B'11111', B'1010101010', 'the:1A quick:2B', '<?xml version="1.0"?><a>é</a>', '(0,0)', '{0,1,0}',
        '[(1,2),(3,4)]', '(1,1),(1,1)', '((0,0),(1,1))', '((0,0))', '<(1,1),0>', NULL)""",
]


def new_db(prefix: str = "pge2e") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def endpoint(server: PostgresServer, db: str | None = None) -> dict[str, Any]:
    ep: dict[str, Any] = {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": server.port,
                          "db_user": server.user, "db_password": server.password}
    if db is not None:
        ep["db_name"] = db
    return ep


def connect(server: PostgresServer, db: str) -> psycopg.Connection[Any]:
    return server.connect(dbname=db, options=SESSION)


def create_db(server: PostgresServer, db: str, ddl: str = "", target: PostgresServer | None = None) -> None:
    """``db`` on ``server`` (with ``ddl``) and, empty, on ``target`` (the pre-check wants it to exist)."""
    server.execute(f'CREATE DATABASE "{db}"')
    if target is not None:
        target.execute(f'CREATE DATABASE "{db}"')
    if ddl:
        with connect(server, db) as conn:
            conn.execute(ddl.encode())


def run(server: PostgresServer, db: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with connect(server, db) as conn:
        cur = conn.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []


def checksums(server: PostgresServer, db: str, schemas: tuple[str, ...] = ("public",)) -> dict[str, tuple[int, str]]:
    """table -> (rows, md5 of every row's text in key order) for the base/partitioned tables of ``schemas``."""
    out: dict[str, tuple[int, str]] = {}
    with connect(server, db) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname, coalesce((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) "
            "  FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) "
            "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "  WHERE i.indrelid = c.oid AND i.indisprimary), '') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)",
            (list(schemas),)).fetchall()
        for schema, name, key in tables:
            rel = f'"{schema}"."{name}"'
            # ROW(alias.*): a bare alias would name a column if the table has one called like it.
            text = "ROW(opendrs_cs.*)::text"
            order = key or text
            row = conn.execute(f"SELECT count(*), md5(coalesce(string_agg({text}, E'\\n' ORDER BY {order}), '')) "
                               f"FROM {rel} opendrs_cs").fetchone()
            assert row is not None
            out[f"{schema}.{name}"] = (int(row[0]), str(row[1]))
    return out


def wait_equal(source: PostgresServer, target: PostgresServer, db: str, timeout: float = 120,
               target_db: str | None = None, schemas: tuple[str, ...] = ("public",),
               log: Callable[[], str] | None = None) -> dict[str, tuple[int, str]]:
    """Poll until every table's checksum is equal; on timeout the OpenDRS ``log`` goes into the failure."""
    deadline = time.monotonic() + timeout
    want: dict[str, tuple[int, str]] = {}
    got: dict[str, tuple[int, str]] = {}
    while time.monotonic() < deadline:
        want = checksums(source, db, schemas)
        try:
            got = checksums(target, target_db or db, schemas)
        except psycopg.Error:
            got = {}
        if want == got:
            return want
        time.sleep(0.5)
    raise AssertionError(f"target never matched the source:\nsource={want}\ntarget={got}"
                         + (f"\nOpenDRS log:\n{log()}" if log is not None else ""))


def slot_state(server: PostgresServer, slot: str) -> tuple[str, bool] | None:
    """(confirmed_flush_lsn, active) of a slot, None if it does not exist."""
    rows = server.execute("SELECT confirmed_flush_lsn::text, active FROM pg_replication_slots WHERE slot_name = %s",
                          (slot,))
    return (str(rows[0][0]), bool(rows[0][1])) if rows else None


def wait_slot_beyond(server: PostgresServer, slot: str, lsn: str, timeout: float = 60) -> str:
    """Wait until the slot's confirmed_flush_lsn is past ``lsn`` (feedback is sent asynchronously)."""
    deadline = time.monotonic() + timeout
    state = slot_state(server, slot)
    while time.monotonic() < deadline:
        state = slot_state(server, slot)
        if state is not None and lsn_int(state[0]) > lsn_int(lsn):
            return state[0]
        time.sleep(0.3)
    raise AssertionError(f"slot {slot} never confirmed past {lsn}: {state}")


def lsn_int(text: str) -> int:
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def publication_exists(server: PostgresServer, db: str, name: str) -> bool:
    return bool(run(server, db, "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)))


def default_slot(job_id: str) -> str:
    return ("opendrs_" + job_id.replace("-", "").lower())[:63]


def start_pg_task(http: DrsHttpClient, source: PostgresServer, target: PostgresServer, db: str,
                  task_type: str = "FULL_INCR_TRANS", schemas: tuple[str, ...] = ("public",),
                  extra_policy: dict[str, Any] | None = None, full_sync: dict[str, str] | None = None,
                  configure: Callable[[str], None] | None = None) -> str:
    """Create, connect, select ``schemas`` of ``db`` (or let ``configure`` select), precheck and start a
    PostgreSQL sync task; returns its id."""
    job_id = create_task(http, engine_type="postgresql", task_type=task_type,
                         source_endpoint=endpoint(source, db), target_endpoint=endpoint(target))
    tested = http.call("POST", "/v3/{project_id}/jobs/batch-connection", {"jobs": [
        {"id": job_id, "end_point_type": "so", **endpoint(source, db)},
        {"id": job_id, "end_point_type": "ta", **endpoint(target)}]})
    assert all(r["success"] for r in tested["results"]), tested
    if schemas:
        http.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
            "job_id": job_id, "selected": True,
            "job": [{"id": f"{db}-*-*-{s}", "parent_id": db, "object_type": "schema", "object_name": s,
                     "select": "true"} for s in schemas]}]})
    policy = {"job_id": job_id, "conflict_policy": "overwrite", "ddl_trans": False, **(extra_policy or {})}
    http.call("POST", "/v3/{project_id}/jobs/batch-sync-policy", {"jobs": [policy]})
    if full_sync:
        http.call("PUT", f"/v3/{{project_id}}/job/{job_id}/tuning-params/modify-params", {"full_sync": full_sync})
    if configure is not None:
        configure(job_id)
    started = http.call("POST", "/v3/{project_id}/jobs/batch-precheck",
                        {"jobs": [{"job_id": job_id, "precheck_mode": "forStartJob"}]})
    assert started["results"][0]["status"] == "success", started
    deadline = time.monotonic() + 60
    result: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = http.call("POST", "/v3/{project_id}/jobs/batch-precheck-result", {"jobs": [job_id]})["results"][0]
        if result.get("process") == "100%":
            break
        time.sleep(0.3)
    failed = [i for i in result.get("precheck_result", []) if i.get("result") == "FAILED"]
    assert result.get("result") is True, failed or result
    resp = http.call("POST", "/v3/{project_id}/jobs/batch-starting", {"jobs": [{"job_id": job_id}]})
    assert resp["results"][0]["status"] == "success", resp
    return job_id


def stop_task(http: DrsHttpClient, job_id: str) -> None:
    http.call("DELETE", "/v3/{project_id}/jobs/batch-jobs", {"jobs": [{"delete_type": "terminate", "job_id": job_id}]})
    wait_status(http, job_id, "RELEASE_RESOURCE_COMPLETE", timeout=90)
