"""DDL capture for PostgreSQL CDC: an event trigger that writes each DDL statement into a published table.

Why: logical decoding carries no DDL. A row written by an event trigger inside the DDL's own
transaction travels through the task's publication like any other change, so the decoder sees
the DDL at its exact place in commit order and the target can replay it in one transaction with
the checkpoint (PostgreSQL DDL is transactional: exactly once).

Per task (keyed by its publication name, so several tasks on one source never share state) the
source database gets, in ``opendrs_meta`` (a schema discovery never selects):

- a log table ``<publication>_ddl`` (published with the task's tables);
- two EVENT TRIGGERs (``ddl_command_end``, ``sql_drop``) on a function that reads the DDL user's
  search path and calls a ``SECURITY DEFINER`` recorder (owned by the installing superuser, fixed
  search path), so DDL run by any role can write the log.

The function records ``current_query()`` once per (transaction, client statement, query text),
with the schema of the first command that has one, the session's effective search path and the
identities of the objects touched. Commands without a schema (publications, extensions, schemas
themselves), in ``opendrs_meta`` or in temporary schemas are not recorded. A new table in a schema
that already has a table in the publication is added to it in the same transaction (a keyless one
gets ``REPLICA IDENTITY FULL`` first, else the source would refuse its UPDATEs): its later rows are
published from the first one on.

Creating event triggers needs a superuser; ``install`` raises ``psycopg.errors.InsufficientPrivilege``
otherwise and the caller carries on without capture.

The replayed text travels as ``encode()``: a one-line JSON header (search path, objects) and the
query. ``statements()`` splits a query at its top-level semicolons and keeps the statements to
replay (DDL keywords; DML of a mixed query arrives as row changes anyway).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import sql

from opendrs.engines.postgres.discover import META_SCHEMA
from opendrs.pipeline.model import Column, TableRef, TableSchema

HEADER: Final = "-- opendrs-ddl "
# Columns of the log table, in this order (the decoder maps the stream's columns by name).
LOG_COLUMNS: Final = ("id", "txid", "stmt_ts", "query", "tag", "schema_name", "search_path", "objects")
# First keywords of statements worth replaying; everything else of a query (DML, SET, BEGIN/COMMIT,
# SELECT f()) is skipped: its row changes arrive through the stream on their own.
_REPLAYED: Final = frozenset({"CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "REFRESH", "SECURITY",
                              "IMPORT", "REINDEX"})
_CONCURRENTLY: Final = re.compile(r"^\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\s+\w+)\s+CONCURRENTLY\b",
                                  re.IGNORECASE)


@dataclass(frozen=True)
class DdlCapture:
    """The names of one task's capture objects on the source (all derived from its publication)."""

    publication: str

    def _name(self, suffix: str) -> str:
        return f"{self.publication[:63 - len(suffix)]}{suffix}"

    @property
    def table(self) -> TableRef:
        return TableRef(META_SCHEMA, self._name("_ddl"))

    @property
    def function(self) -> str:
        return self._name("_ddl_fn")

    @property
    def recorder(self) -> str:
        return self._name("_ddl_rec")

    @property
    def triggers(self) -> tuple[str, str]:
        return self._name("_ddl_end"), self._name("_ddl_drop")

    def log_schema(self) -> TableSchema:
        """The log table as the decoder's catalog knows it (every value is text)."""
        return TableSchema(self.table, [Column(c, "text", "text") for c in LOG_COLUMNS], key=("id",))


# The event trigger's function runs as the user who ran the DDL, with their search path: it reads
# that path (the target resolves unqualified names with it) and hands over to the recorder.
_TRIGGER_FUNCTION: Final = """
CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS event_trigger LANGUAGE plpgsql AS $opendrs$
BEGIN
    PERFORM {schema}.{recorder}(tg_event, tg_tag, pg_catalog.current_schemas(false));
END
$opendrs$
"""

# The recorder runs as its owner (the installing superuser) with a fixed search path, so DDL run by
# any role can write the log and publish new tables, and no caller's objects can hijack it. It
# reads the query and the commands itself (pg_event_trigger_* fail outside an event trigger).
_RECORDER: Final = """
CREATE OR REPLACE FUNCTION {schema}.{recorder}(event text, tag text, path text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $opendrs$
DECLARE
    q text := current_query();
    first_schema text;
    objs text[] := '{{}}';
    publish oid[] := '{{}}';
    r record;
    rel oid;
BEGIN
    IF event = 'sql_drop' THEN
        FOR r IN SELECT schema_name, object_identity FROM pg_event_trigger_dropped_objects()
                  WHERE original AND schema_name IS NOT NULL AND NOT is_temporary LOOP
            IF r.schema_name = {meta} THEN CONTINUE; END IF;
            first_schema := coalesce(first_schema, r.schema_name);
            objs := objs || r.object_identity;
        END LOOP;
    ELSE
        FOR r IN SELECT schema_name, object_identity, object_type, command_tag, objid
                   FROM pg_event_trigger_ddl_commands()
                  WHERE schema_name IS NOT NULL AND NOT in_extension LOOP
            IF r.schema_name = {meta} OR r.schema_name LIKE 'pg\\_temp%' THEN CONTINUE; END IF;
            first_schema := coalesce(first_schema, r.schema_name);
            objs := objs || r.object_identity;
            -- A new table in a schema this task publishes: publish it now, in the DDL's transaction.
            IF r.object_type = 'table' AND r.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
               AND EXISTS (SELECT 1 FROM pg_publication_tables p WHERE p.pubname = {pub_text}
                             AND p.schemaname = r.schema_name)
               AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.objid AND c.relkind = 'r'
                             AND c.relpersistence = 'p' AND NOT c.relispartition)
               AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                                WHERE p.pubname = {pub_text} AND pr.prrelid = r.objid) THEN
                publish := publish || r.objid;
            END IF;
        END LOOP;
    END IF;
    IF first_schema IS NULL THEN
        RETURN;
    END IF;
    -- One row per client statement: a query of several commands (or a DROP, which fires both
    -- events) is replayed once.
    IF EXISTS (SELECT 1 FROM {log} WHERE txid = txid_current() AND stmt_ts = statement_timestamp()
                  AND query = q) THEN
        RETURN;
    END IF;
    INSERT INTO {log} (txid, stmt_ts, query, tag, schema_name, search_path, objects)
    VALUES (txid_current(), statement_timestamp(), q, tag, first_schema, to_json(coalesce(path, '{{}}'))::text,
            to_json(objs)::text);
    -- After the row: these statements fire the event triggers again, which then find it and return.
    FOREACH rel IN ARRAY publish LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = rel AND i.indisprimary) THEN
            EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', rel::regclass);
        END IF;
        EXECUTE format('ALTER PUBLICATION %I ADD TABLE %s', {pub_text}, rel::regclass);
    END LOOP;
EXCEPTION WHEN undefined_table THEN
    -- The log table was dropped by hand: never block the database's DDL for it.
    RAISE WARNING 'OpenDRS DDL capture: log table % is missing; DDL not recorded', {log_name};
END
$opendrs$
"""


def install(conn: psycopg.Connection[Any], capture: DdlCapture) -> None:
    """Create (or re-create) the task's log table, function and event triggers in the open transaction.

    Raises ``psycopg.errors.InsufficientPrivilege`` when the account is not a superuser.
    """
    schema = sql.Identifier(META_SCHEMA)
    log = sql.Identifier(META_SCHEMA, capture.table.name)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, txid bigint NOT NULL, "
                         "stmt_ts timestamptz NOT NULL, query text NOT NULL, tag text NOT NULL, "
                         "schema_name text NOT NULL, search_path text NOT NULL, objects text NOT NULL)").format(log))
    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (txid)").format(
        sql.Identifier(capture._name("_ddl_txid")), log))
    # Whoever runs DDL calls the recorder from the trigger function: they need to reach the schema.
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(schema))
    recorder = sql.Identifier(capture.recorder)
    conn.execute(sql.SQL(_RECORDER).format(
        schema=schema, recorder=recorder, meta=sql.Literal(META_SCHEMA), pub_text=sql.Literal(capture.publication),
        log=log, log_name=sql.Literal(capture.table.name)))
    # Explicitly: default privileges may have taken EXECUTE from PUBLIC, and every role's DDL calls it.
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {}(text, text, text[]) TO PUBLIC").format(
        sql.Identifier(META_SCHEMA, capture.recorder)))
    conn.execute(sql.SQL(_TRIGGER_FUNCTION).format(schema=schema, function=sql.Identifier(capture.function),
                                                    recorder=recorder))
    end, drop = capture.triggers
    func = sql.Identifier(META_SCHEMA, capture.function)
    for name, event in ((end, "ddl_command_end"), (drop, "sql_drop")):
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE EVENT TRIGGER {} ON {} EXECUTE FUNCTION {}()").format(
            sql.Identifier(name), sql.SQL(event), func))


def installed(conn: psycopg.Connection[Any], capture: DdlCapture) -> bool:
    """Both event triggers exist and are enabled."""
    row = conn.execute("SELECT count(*) FROM pg_event_trigger WHERE evtname = ANY(%s) AND evtenabled <> 'D'",
                       (list(capture.triggers),)).fetchone()
    return row is not None and int(row[0]) == 2


def uninstall(conn: psycopg.Connection[Any], capture: DdlCapture) -> None:
    """Drop the task's event triggers, function and log table; the schema too when nothing else is in it."""
    for name in capture.triggers:
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(META_SCHEMA, capture.function)))
    conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}(text, text, text[])").format(
        sql.Identifier(META_SCHEMA, capture.recorder)))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(META_SCHEMA, capture.table.name)))
    try:
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {}").format(sql.Identifier(META_SCHEMA)))
    except psycopg.errors.DependentObjectsStillExist:
        pass  # other tasks' capture (or a target's checkpoints) still live there


# --- the replayed text --------------------------------------------------------------------------


def encode(query: str, search_path: list[str], objects: list[str]) -> str:
    """The DDL as it travels to the target: a JSON header line, then the source's query text."""
    return HEADER + json.dumps({"search_path": search_path, "objects": objects}) + "\n" + query


def decode(text: str) -> tuple[str, list[str], list[str]]:
    """(query, search path, objects) of ``encode``'s text; a text without header is a bare query."""
    if not text.startswith(HEADER):
        return text, [], []
    head, _, query = text.partition("\n")
    doc = json.loads(head[len(HEADER):])
    return query, [str(s) for s in doc.get("search_path") or []], [str(o) for o in doc.get("objects") or []]


def split(query: str) -> list[str]:
    """The query's statements, cut at top-level semicolons (strings, identifiers, dollar quotes and
    comments respected), stripped, empty ones dropped."""
    out: list[str] = []
    start = i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch == "'" or ch == '"':
            escaped = ch == "'" and i > 0 and query[i - 1] in "eE" and (i < 2 or not (query[i - 2].isalnum()
                                                                                         or query[i - 2] == "_"))
            i += 1
            while i < n:
                if escaped and query[i] == "\\":
                    i += 2
                    continue
                if query[i] == ch:
                    if i + 1 < n and query[i + 1] == ch:
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == "-" and query.startswith("--", i):
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and query.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if query.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif query.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch == "$" and (m := re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", query[i:])) is not None and (
                i == 0 or not (query[i - 1].isalnum() or query[i - 1] == "_")):
            tag = m.group(0)
            end = query.find(tag, i + len(tag))
            i = n if end < 0 else end + len(tag)
        elif ch == ";":
            out.append(query[start:i])
            i += 1
            start = i
        else:
            i += 1
    out.append(query[start:])
    return [s.strip() for s in out if _first_word(s)]


def _first_word(statement: str) -> str:
    """The first keyword, comments skipped, upper case ("" for an empty statement)."""
    text = statement
    while True:
        text = text.lstrip()
        if text.startswith("--"):
            text = text.partition("\n")[2]
        elif text.startswith("/*"):
            text = text[text.find("*/") + 2:] if "*/" in text else ""
        else:
            break
    m = re.match(r"[A-Za-z]+", text)
    return m.group(0).upper() if m else ""


def statements(query: str) -> list[str]:
    """The statements of ``query`` to replay on the target (``CONCURRENTLY`` dropped: the replay runs
    in a transaction, where PostgreSQL refuses it)."""
    kept = []
    for stmt in split(query):
        if _first_word(stmt) not in _REPLAYED:
            continue
        m = _CONCURRENTLY.match(stmt)
        if m is not None:
            stmt = stmt[:m.end() - len("CONCURRENTLY")] + stmt[m.end():]
        kept.append(stmt)
    return kept


def _names(statement: str) -> set[str]:
    """Identifiers of a statement as PostgreSQL folds them (bare ones lower-cased, quoted ones as written)."""
    found: set[str] = set()
    for m in re.finditer(r'"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z_0-9$]*)', statement):
        found.add(m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2).lower())
    return found


def renamed_objects(statements_: Iterable[str], schema: str | None, schema_alias: dict[str, str],
                    table_alias: dict[TableRef, str]) -> list[str]:
    """Renamed objects the statements may name by their SOURCE names (which the target does not have).

    Unqualified names are covered by the target's search path (a renamed schema maps there);
    a table renamed by ``object_alias_name`` or a schema name written into the text cannot be
    rewritten reliably, so the caller skips such a DDL.
    """
    words: set[str] = set()
    for stmt in statements_:
        words |= _names(stmt)
    hits = [f"schema {s}" for s, alias in schema_alias.items() if alias != s and s in words]
    hits += [f"table {ref}" for ref, alias in table_alias.items()
             if alias != ref.name and ref.name in words and (schema is None or ref.schema == schema or
                                                             ref.schema in words)]
    return sorted(hits)
