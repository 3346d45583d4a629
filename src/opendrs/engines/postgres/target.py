"""PostgreSQL target: structure, full-load COPY, idempotent CDC apply and checkpoints in one transaction.

Exactly-once effect: every load batch and every applied batch of transactions commits together
with its checkpoint (``opendrs_meta.checkpoints`` in the target database). Apply is idempotent
(upsert / delete by key), so replaying from an older position after a crash converges.

Values are PostgreSQL text (``str``) and are sent as untyped parameters or COPY text, so the
server parses them with the target column's own input function: no Python conversion, no
cast to a type name that might not exist under a renamed schema. The session runs with
``session_replication_role = replica``: foreign keys and user triggers do not fire on
replicated rows (their effects arrive from the source as rows of their own), which also lets
a batch write its tables in any order.

Within a batch, changes are coalesced to the final state per key (as the MySQL target does):
N updates of a hot row become one write. That is valid because the batch commits atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final

import psycopg
from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres import bulk, discover, schema
from opendrs.engines.postgres import ddl as pgddl
from opendrs.engines.postgres.connection import PgEngineError, close_quietly, connect, dbname_of
from opendrs.engines.postgres.pgoutput import UNCHANGED_TOAST
from opendrs.pipeline.model import Catalog, EncodedBatch, Op, Row, TableRef, TableSchema, Transaction
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.postgres.target")

META_SCHEMA: Final = discover.META_SCHEMA
CHECKPOINTS: Final = f'"{META_SCHEMA}".checkpoints'
# Up to this many rows an upsert goes out as one pipelined executemany; above, through a staging table.
STAGE_ABOVE: Final = 200
# Types without an equality operator: a keyless row is matched on their text.
_NO_EQUALITY: Final = frozenset({"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle",
                                 "_json", "_xml", "_point", "_line", "_lseg", "_box", "_path", "_polygon",
                                 "_circle"})
# Full-load commits do not wait for the WAL flush: a target crash can only lose a suffix of whole
# transactions, each carrying its own checkpoint, so the load resumes from an older checkpoint and
# re-reads those rows from the source. (CDC commits stay synchronous: once a batch is acknowledged,
# the source may recycle its WAL, so that commit must be durable.)
_LOAD_COMMIT: Final = "SET LOCAL synchronous_commit = off"


class ConflictStop(PgEngineError):
    """conflict_policy "stop": a change did not fit the target's rows; the task fails with the details."""


class DdlFailed(PgEngineError):
    """A captured DDL failed on the target for a reason other than having been applied already."""


# SQLSTATEs of a DDL whose effect is already on the target: duplicate table/object/column/schema/function,
# undefined table/column/object/function.
REPLAYED_DDL_ERRORS: Final = frozenset({"42P07", "42710", "42701", "42P06", "42723", "42P01", "42703", "42704",
                                        "42883"})


def target_endpoint(ep: EndpointConfig, source_db: str) -> EndpointConfig:
    """The target database: the target endpoint's ``db_name`` when given, else the source's database."""
    return ep if ep.db_name else dataclasses.replace(ep, db_name=source_db)


def ensure_database(ep: EndpointConfig) -> None:
    """Create the target database if it is missing (from the target's ``postgres`` database)."""
    name = dbname_of(ep)
    conn = connect(ep, dbname="postgres", application_name="opendrs-structure")
    try:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log.info("created target database %s", name)
            except psycopg.errors.DuplicateDatabase:
                pass  # another worker was quicker
    finally:
        close_quietly(conn)


def _ident(ref: TableRef) -> sql.Composable:
    return sql.Identifier(ref.schema, ref.name)


def _text_len(row: Sequence[Any]) -> int:
    return sum(len(v) for v in row if isinstance(v, str))


class PostgresTarget:
    """One per worker: holds a target connection; ``source_ep`` is read for structure and sequences.

    ``filters`` are the 4.3.1 row filters by SOURCE table (see ``__init__``).
    """

    def __init__(self, ep: EndpointConfig, source_ep: EndpointConfig, *, fill_materialized_views: bool = False,
                 filters: dict[TableRef, str] | None = None) -> None:
        self.ep = ep
        self.source_ep = source_ep
        self.fill_materialized_views = fill_materialized_views
        # 4.3.1 row filters by SOURCE table: rows failing them are written, then removed in the same
        # transaction by a key-bounded DELETE, so the server evaluates the condition with its own semantics.
        self.filters = filters or {}
        self._identity: dict[TableRef, frozenset[str]] = {}
        try:
            self.conn = connect(ep, autocommit=False, application_name="opendrs-apply")
        except PgEngineError as exc:
            if "does not exist" not in str(exc):
                raise
            ensure_database(ep)
            self.conn = connect(ep, autocommit=False, application_name="opendrs-apply")
        self._replica_role()
        self._ensure_meta()

    def close(self) -> None:
        close_quietly(self.conn)

    def _replica_role(self) -> None:
        try:
            self.conn.execute("SET session_replication_role = replica")
            self.conn.commit()
        except psycopg.errors.InsufficientPrivilege:
            self.conn.rollback()
            log.warning("target user %s may not set session_replication_role: foreign keys and triggers on the "
                        "target will fire on replicated rows", self.ep.user)

    def _ensure_meta(self) -> None:
        for _ in range(3):
            try:
                self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{META_SCHEMA}"')
                self.conn.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (job_id text NOT NULL, "
                                  "name text NOT NULL, doc jsonb NOT NULL, "
                                  "updated_at timestamptz NOT NULL DEFAULT now(), "
                                  "PRIMARY KEY (job_id, name))")
                self.conn.commit()
                return
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject, psycopg.errors.DuplicateSchema,
                    psycopg.errors.DuplicateTable):
                self.conn.rollback()  # two workers created it at the same moment: look again
        raise PgEngineError(f"could not create {CHECKPOINTS} on the target")

    # --- structure ---------------------------------------------------------------------------
    def _plan(self, catalog: Catalog, selection: Selection) -> schema.StructurePlan:
        from opendrs.engines.postgres.source import PostgresSource

        probe = PostgresSource(self.source_ep, "", "")
        excluded, extensions = probe.structure_inputs(catalog, selection)
        sel = selection
        with contextlib.closing(connect(self.source_ep, application_name="opendrs-structure")) as conn:
            sel = discover.effective_selection(selection, dbname_of(self.source_ep), discover.schemas(conn))
        structure = schema.plan(self.source_ep, catalog, sel, excluded, extensions)
        # A whole-database dump holds the event triggers of the source's DDL capture (``ddl``): they belong to
        # the source task, and their functions (in the never-copied opendrs_meta) do not exist on the target.
        ours = f"{META_SCHEMA}."
        return dataclasses.replace(structure, pre=[e for e in structure.pre if not _capture_entry(e, ours)],
                                   post=[e for e in structure.post if not _capture_entry(e, ours)])

    def prepare(self, catalog: Catalog, selection: Selection, drop_existing: bool) -> None:
        """Types, tables, sequences, views and functions, in one transaction; keys too, except those of
        new tables the COPY fast path fills (``schema.deferrable_keys``: ``finish`` builds them)."""
        structure = self._plan(catalog, selection)
        try:
            with self.conn.cursor() as cur:
                if drop_existing:
                    for table in catalog.tables:
                        cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(_ident(selection.target(
                            table.ref))))
                new = [t.ref for t in catalog.tables if self.accepts_encoded(t, bulk.FORMAT)
                       and not self._exists(cur, selection.target(t.ref))]
            keys, _ = schema.deferrable_keys(structure.keys, new)
            schema.apply_entries(self.conn, structure.header, structure.pre + keys, "structure before the data")
            with self.conn.cursor() as cur:
                schema.rename(cur, catalog, selection, forward=True)
                cur.execute("RESET search_path")
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise
        self._identity.clear()

    def finish(self, catalog: Catalog, selection: Selection) -> None:
        """Indexes, constraints (foreign keys NOT VALID), triggers; sequence values; materialized views."""
        if not catalog.tables and not catalog.databases:
            return  # nothing of PostgreSQL's kind is created at cut-over
        structure = self._plan(catalog, selection)
        late = [dataclasses.replace(e, body=_not_valid(e.body)) if e.kind == "FK CONSTRAINT" else e
                for e in structure.post]
        try:
            with self.conn.cursor() as cur:
                schema.rename(cur, catalog, selection, forward=False)
                # Keys ``prepare`` left for after the data: those of tables with no unique index yet.
                keys = [e for e in structure.keys if e.kind != "INDEX ATTACH" and not self._keyed(cur, e)]
            schema.apply_entries(self.conn, structure.header, keys + late, "structure after the data")
            with self.conn.cursor() as cur:
                schema.rename(cur, catalog, selection, forward=True)
                cur.execute("RESET search_path")
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise
        self.sync_sequences(catalog, selection)
        if self.fill_materialized_views:
            self._refresh_materialized_views(catalog, selection)

    @staticmethod
    def _exists(cur: psycopg.Cursor[Any], ref: TableRef) -> bool:
        row = cur.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (sql.SQL("{}").format(_ident(ref)).as_string(cur),)).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _keyed(cur: psycopg.Cursor[Any], key: schema.Entry) -> bool:
        """Whether the table of a key entry (named as the source's dump prints it) has a unique index."""
        row = cur.execute("SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s) AND indisunique)",
                          (schema.key_table(key),)).fetchone()
        return bool(row and row[0])

    def sync_sequences(self, catalog: Catalog, selection: Selection) -> None:
        """Sequence values are not in the change stream: copy the source's current ones (load end, cut-over)."""
        from opendrs.engines.postgres.source import PostgresSource

        values = PostgresSource(self.source_ep, "", "").sequence_values([d.schema for d in catalog.databases])
        with self._transaction() as cur:
            schema.set_sequences(cur, values, selection)

    def _refresh_materialized_views(self, catalog: Catalog, selection: Selection) -> None:
        with self._transaction() as cur:
            for obj in catalog.objects:
                if obj.kind == "materialized_view":
                    cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(
                        _ident(selection.target(TableRef(obj.schema, obj.name)))))

    # --- checkpoints ----------------------------------------------------------------------------
    def read_checkpoint(self, job_id: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT doc FROM {CHECKPOINTS} WHERE job_id = %s AND name = %s",
                                (job_id, name)).fetchone()
        self.conn.commit()
        return None if row is None else _doc(row[0])

    def read_checkpoints(self, job_id: str, prefix: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(f"SELECT name, doc FROM {CHECKPOINTS} WHERE job_id = %s AND starts_with(name, %s)",
                                 (job_id, prefix)).fetchall()
        self.conn.commit()
        return {str(name): _doc(doc) for name, doc in rows}

    def _put_checkpoint(self, cur: psycopg.Cursor[Any], job_id: str, name: str, doc: dict[str, Any]) -> None:
        cur.execute(_checkpoint_sql(job_id, name, doc))

    def write_checkpoint(self, job_id: str, name: str, doc: dict[str, Any]) -> None:
        with self._transaction() as cur:
            self._put_checkpoint(cur, job_id, name, doc)

    def drop_checkpoints(self, job_id: str) -> None:
        try:
            self.conn.execute(f"DELETE FROM {CHECKPOINTS} WHERE job_id = %s", (job_id,))
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """One target transaction: committed at the end, rolled back on any error (the connection stays usable)."""
        try:
            with self.conn.cursor() as cur:
                yield cur
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise

    # --- table metadata of the target ---------------------------------------------------------
    def _identity_always(self, target: TableRef) -> frozenset[str]:
        """Columns GENERATED ALWAYS AS IDENTITY on the target: inserted with OVERRIDING SYSTEM VALUE,
        never assigned by an UPDATE (PostgreSQL refuses it)."""
        cached = self._identity.get(target)
        if cached is None:
            rows = self.conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                "AND NOT attisdropped AND attidentity = 'a'",
                (sql.SQL("{}").format(_ident(target)).as_string(self.conn),)).fetchall()
            cached = frozenset(str(r[0]) for r in rows)
            self._identity[target] = cached
        return cached

    # --- full load ------------------------------------------------------------------------------
    def load(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
             checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        """COPY the batch straight into the table; if a row with the same key is there already (rows the
        target had before the load), write the batch again as staging + ``INSERT .. ON CONFLICT DO UPDATE``.

        Why this shape: a plain COPY is the fastest write PostgreSQL has, and the key index (built
        before the load on a table the target already had) turns "already there" into a unique
        violation; the failed
        transaction rolls back whole and the batch (still in memory) goes again as an upsert --
        so the common case pays nothing for idempotency, not even a savepoint's round trips.
        A delete-by-key-range first would cost an index probe per batch and is unsafe if the
        target's collation orders text keys differently from the source's.
        """
        def write(upsert: bool) -> int:
            with self._transaction() as cur:
                written = 0
                if rows:
                    if upsert:
                        written = self._stage_upsert(cur, table, target, rows)
                    else:
                        written = self._copy(cur, table, target, rows)
                    self._drop_filtered(cur, table, target, rows)
                self._end_load(cur, job_id, checkpoint)
            return written

        try:
            return write(upsert=False)
        except psycopg.errors.UniqueViolation:
            if not table.key:
                raise
            return write(upsert=True)

    def accepts_encoded(self, table: TableSchema, bulk_format: str) -> bool:
        """COPY bytes straight through, unless rows must be filtered (then the row path knows the keys)."""
        return bulk_format == bulk.FORMAT and bool(table.key) and table.ref not in self.filters

    def load_encoded(self, job_id: str, table: TableSchema, target: TableRef, batch: EncodedBatch,
                     checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        """``load`` for COPY text bytes from a PostgreSQL source: the same COPY-first, upsert-on-conflict scheme."""
        try:
            with self._transaction() as cur:
                self._copy_bytes(cur, table, _ident(target), batch.data)
                self._end_load(cur, job_id, checkpoint)
        except psycopg.errors.UniqueViolation:
            with self._transaction() as cur:
                stage = self._create_stage(cur, table, target)
                self._copy_bytes(cur, table, stage, batch.data)
                self._merge_stage(cur, table, target, stage)
                self._end_load(cur, job_id, checkpoint)
        return len(batch.data)

    def _end_load(self, cur: psycopg.Cursor[Any], job_id: str, checkpoint: tuple[str, dict[str, Any]] | None) -> None:
        """A load transaction's last statement: asynchronous commit (``_LOAD_COMMIT``) and the checkpoint.

        Sent as ONE statement without parameters, so one round trip: with the servers and our
        clients sharing the cores, every round trip can wait for a busy CPU.
        """
        if checkpoint is None:
            cur.execute(_LOAD_COMMIT)
        else:
            cur.execute(sql.SQL("{}; {}").format(sql.SQL(_LOAD_COMMIT), _checkpoint_sql(job_id, *checkpoint)))

    def _copy_bytes(self, cur: psycopg.Cursor[Any], table: TableSchema, into: sql.Composable, data: bytes) -> None:
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns if not c.generated)
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(into, cols)) as copy:
            copy.write(data)

    def insert_rows(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
                    checkpoint: tuple[str, dict[str, Any]] | None = None) -> None:
        """Plain COPY (tables without a key, loaded into an emptied table)."""
        with self._transaction() as cur:
            if rows:
                self._copy(cur, table, target, rows)
                self._drop_filtered(cur, table, target, rows)
            self._end_load(cur, job_id, checkpoint)

    def truncate(self, target: TableRef) -> None:
        try:
            self.conn.execute(sql.SQL("TRUNCATE {}").format(_ident(target)))
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise

    def _drop_filtered(self, cur: psycopg.Cursor[Any], table: TableSchema, target: TableRef,
                       rows: Sequence[Row]) -> None:
        """Remove the just-written rows that fail the table's 4.3.1 filter (NULL counts as failing)."""
        condition = self.filters.get(table.ref)
        if not condition:
            return
        cond = sql.SQL(condition.replace("%", "%%"))
        if not table.key:
            cur.execute(sql.SQL("DELETE FROM {} WHERE ({}) IS NOT TRUE").format(_ident(target), cond), ())
            return
        idx = table.key_indexes
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in table.key)
        cur.executemany(sql.SQL("DELETE FROM {} WHERE {} AND ({}) IS NOT TRUE").format(_ident(target), where, cond),
                        [tuple(r[i] for i in idx) for r in rows])

    def _copy(self, cur: psycopg.Cursor[Any], table: TableSchema, target: TableRef, rows: Sequence[Row],
              into: sql.Composable | None = None, count: bool = True) -> int:
        """COPY ``rows``; returns their text bytes when ``count`` (CDC apply does not report them)."""
        idx = [i for i, c in enumerate(table.columns) if not c.generated]
        cols = sql.SQL(", ").join(sql.Identifier(table.columns[i].name) for i in idx)
        written = 0
        full = len(idx) == len(table.columns)
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(into or _ident(target), cols)) as copy:
            if full and not count:
                for row in rows:
                    copy.write_row(row)
                return 0
            for row in rows:
                values = row if full else tuple(row[i] for i in idx)
                copy.write_row(values)
                if count:
                    written += _text_len(values)
        return written

    def _stage_upsert(self, cur: psycopg.Cursor[Any], table: TableSchema, target: TableRef,
                      rows: Sequence[Row], count: bool = True) -> int:
        """COPY into a temporary table shaped like the target, then one INSERT .. ON CONFLICT."""
        stage = self._create_stage(cur, table, target)
        written = self._copy(cur, table, target, rows, into=stage, count=count)
        self._merge_stage(cur, table, target, stage)
        return written

    def _create_stage(self, cur: psycopg.Cursor[Any], table: TableSchema, target: TableRef) -> sql.Composable:
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns if not c.generated)
        stage = sql.Identifier("opendrs_stage")
        # Statements without parameters go out together: one round trip (CDC writes wait on each one)
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {s}; CREATE TEMP TABLE {s} ON COMMIT DROP AS SELECT {c} FROM {t} "
                            "LIMIT 0").format(s=stage, c=cols, t=_ident(target)))
        return stage

    def _merge_stage(self, cur: psycopg.Cursor[Any], table: TableSchema, target: TableRef,
                     stage: sql.Composable) -> None:
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns if not c.generated)
        cur.execute(sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} {}; DROP TABLE {}").format(
            _ident(target), cols, cols, stage, self._on_conflict(table, target), stage))

    def _on_conflict(self, table: TableSchema, target: TableRef, policy: str = "overwrite") -> sql.Composable:
        key = sql.SQL(", ").join(sql.Identifier(k) for k in table.key)
        skip = set(table.key) | self._identity_always(target)
        updates = [c.name for c in table.columns if not c.generated and c.name not in skip]
        if policy != "overwrite" or not updates:
            return sql.SQL("ON CONFLICT ({}) DO NOTHING").format(key)
        return sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(key, sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates))

    # --- CDC apply ------------------------------------------------------------------------------
    def apply(self, job_id: str, txns: Sequence[Transaction], catalog: Catalog, selection: Selection,
              checkpoint: dict[str, Any], conflict_policy: str = "overwrite") -> None:
        """Apply a run of transactions and store the checkpoint in ONE target transaction.

        ``conflict_policy`` (4.3.2): "overwrite" makes the target row equal the source's;
        "ignore" keeps the target's row where a change does not fit it (an insert of a row
        that exists, an update or delete of one that does not); "stop" fails the task there.
        """
        self.apply_plan(job_id, self.plan(txns, catalog, selection), checkpoint, conflict_policy)

    def plan(self, txns: Sequence[Transaction], catalog: Catalog, selection: Selection) -> _Batch:
        """The batch coalesced per key, without touching the target (see ``PlanningTarget``)."""
        return _Batch(self, catalog, selection).run(txns)

    def apply_plan(self, job_id: str, plan: Any, checkpoint: dict[str, Any],
                   conflict_policy: str = "overwrite") -> None:
        assert isinstance(plan, _Batch)
        with self._transaction() as cur:
            plan.write(cur, conflict_policy)
            self._put_checkpoint(cur, job_id, "cdc", checkpoint)

    def apply_ddl(self, job_id: str, ddl: str, schema: str | None, selection: Selection,
                  checkpoint: dict[str, Any]) -> None:
        """Replay a captured DDL (``ddl.encode`` text) and store the checkpoint in ONE target transaction.

        The source's search path is mapped to the target's schema names, so unqualified names land
        in the renamed schema. Statements that name a renamed object by its source name cannot be
        rewritten reliably: the DDL is skipped with a warning (the checkpoint still moves on; a
        later change the target cannot take then fails the task, naming the object). Errors a
        replay produces ("already exists", "does not exist": the structure phase or an earlier run
        got there first) are logged and skipped, each statement in its own savepoint.
        """
        query, path, _objects = pgddl.decode(ddl)
        statements = pgddl.statements(query)
        renamed = pgddl.renamed_objects(statements, schema, selection.database_alias, selection.table_alias)
        search = [selection.target_database(s) for s in (path or ([schema] if schema else []))]
        with self._transaction() as cur:
            if renamed:
                log.warning("DDL not replicated: it names renamed %s by the source name, which the target does "
                            "not have. Apply it on the target yourself: %s", ", ".join(renamed), query[:500])
                statements = []
            elif not statements:
                log.warning("DDL not replicated: no statement of the query can be replayed (DDL run inside a "
                            "function or DO block?). Apply it on the target yourself: %s", query[:500])
            if statements:
                cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(s) for s in search) if search else sql.SQL("DEFAULT")))
            for statement in statements:
                cur.execute("SAVEPOINT opendrs_ddl")
                try:
                    cur.execute(statement.encode())
                except psycopg.Error as exc:
                    if exc.sqlstate not in REPLAYED_DDL_ERRORS:
                        raise DdlFailed(f"replaying a DDL captured on the source failed on the target: "
                                        f"{' '.join(str(exc).split())}. Statement: {statement[:500]}. Apply the "
                                        "change on the target by hand, then retry the task") from exc
                    cur.execute("ROLLBACK TO SAVEPOINT opendrs_ddl")
                    log.warning("DDL already applied on the target (replay, or created by the structure phase): "
                                "%s -- %s", statement[:200], " ".join(str(exc).split()))
                cur.execute("RELEASE SAVEPOINT opendrs_ddl")
            self._put_checkpoint(cur, job_id, "cdc", checkpoint)
        self._identity.clear()


def _checkpoint_sql(job_id: str, name: str, doc: dict[str, Any]) -> sql.Composed:
    """The upsert of one checkpoint row, values as literals (no parameters: it can share a round trip)."""
    return sql.SQL("INSERT INTO {} (job_id, name, doc) VALUES ({}, {}, {}::jsonb) ON CONFLICT (job_id, name) "
                   "DO UPDATE SET doc = EXCLUDED.doc, updated_at = now()").format(
        sql.SQL(CHECKPOINTS), sql.Literal(job_id), sql.Literal(name), sql.Literal(json.dumps(doc, default=str)))


def _capture_entry(entry: schema.Entry, ours: str) -> bool:
    """An EVENT TRIGGER of OpenDRS's DDL capture in a pg_dump script (it executes a function of ``ours``)."""
    return entry.kind == "EVENT TRIGGER" and ours in entry.body


def _doc(value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(value) if isinstance(value, str | bytes) else dict(value)
    return doc


def _not_valid(body: str) -> str:
    """``ADD CONSTRAINT .. FOREIGN KEY ..;`` -> ``.. NOT VALID;``: rows copied while the source was changing
    may briefly miss a parent; CDC converges them, and VALIDATE CONSTRAINT can run after cut-over."""
    text = body.rstrip()
    if text.endswith(";") and "NOT VALID" not in text:
        return text[:-1] + " NOT VALID;"
    return body


# State of one key within a batch: ("row", full image) | ("patch", image with UNCHANGED_TOAST) | None (deleted)
_State = tuple[str, Row] | None


class _Segment:
    """Changes coalesced per key up to an order-sensitive step (a TRUNCATE, a key change with unchanged TOAST)."""

    __slots__ = ("final", "expected", "keyless")

    def __init__(self) -> None:
        self.final: dict[TableRef, dict[Row, _State]] = {}
        self.expected: dict[TableRef, dict[Row, bool]] = {}  # key -> the first change expected the row to exist
        self.keyless: dict[TableRef, list[tuple[str, Row | None, Row | None]]] = {}

    def __bool__(self) -> bool:
        return bool(self.final or self.keyless)


class _Batch:
    """A run of transactions coalesced per key (``run``: pure Python), then written (``write``).

    The plan is a list of steps: segments of coalesced rows, each followed by the order-sensitive
    statement that cut it. Planning needs no connection, so the pipeline plans the next batch
    while this one is written.
    """

    def __init__(self, target: PostgresTarget, catalog: Catalog, selection: Selection) -> None:
        self.t = target
        self.catalog = catalog
        self.selection = selection
        self.schemas: dict[TableRef, TableSchema] = {}
        self.steps: list[tuple[str, Any]] = []
        self.segment = _Segment()
        self.cur: psycopg.Cursor[Any] | None = None
        self.policy = "overwrite"

    def run(self, txns: Sequence[Transaction]) -> _Batch:
        schemas = self.schemas
        last_ref: TableRef | None = None
        last_schema: TableSchema | None = None
        for txn in txns:
            for op, ref, before, after in txn.events:
                if ref is not last_ref:  # one table per run of events: skip hashing the TableRef each time
                    last_schema = schemas.get(ref) or self.catalog.table(ref)
                    last_ref = ref
                    if last_schema is not None:
                        schemas[ref] = last_schema
                if last_schema is None:
                    continue
                if op is Op.TRUNCATE:
                    self._cut(("truncate", ref))
                    continue
                if not last_schema.key:
                    self.segment.keyless.setdefault(ref, []).append((op, before, after))
                    continue
                self._keyed(last_schema, op, before, after)
        self._cut(None)
        return self

    def _cut(self, step: tuple[str, Any] | None) -> None:
        if self.segment:
            self.steps.append(("rows", self.segment))
            self.segment = _Segment()
        if step is not None:
            self.steps.append(step)

    def _keyed(self, table: TableSchema, op: str, before: Row | None, after: Row | None) -> None:
        idx = table.key_indexes
        seg = self.segment
        per_key = seg.final.get(table.ref)
        if per_key is None:
            per_key = seg.final[table.ref] = {}
            seg.expected[table.ref] = {}
        first = seg.expected[table.ref]
        if op is Op.INSERT and after is not None:
            key = (after[idx[0]],) if len(idx) == 1 else tuple(after[i] for i in idx)
            first.setdefault(key, False)
            # "partial": written in the stream before a column the catalog already has was added (DDL capture)
            per_key[key] = ("partial" if UNCHANGED_TOAST in after else "row", after)
        elif op is Op.DELETE and before is not None:
            key = (before[idx[0]],) if len(idx) == 1 else tuple(before[i] for i in idx)
            first.setdefault(key, True)
            per_key[key] = None
        elif op is Op.UPDATE and after is not None:
            new = (after[idx[0]],) if len(idx) == 1 else tuple(after[i] for i in idx)
            old = new if before is None else (before[idx[0]],) if len(idx) == 1 else tuple(before[i] for i in idx)
            first.setdefault(old, True)
            toast = UNCHANGED_TOAST in after
            if old != new:
                first.setdefault(new, False)
                if toast:
                    prior = per_key.get(old)
                    if prior is not None and prior[0] == "row":
                        after = _merge(prior[1], after)
                    else:
                        # The unchanged values live in the target row under the old key: move it in place.
                        self._cut(("move", (table, old, after, new)))
                        return
                per_key[old] = None
                per_key[new] = ("row", after)
                return
            prior = per_key.get(new, ("missing", ()))
            if not toast:
                per_key[new] = ("row", after)
            elif prior is None:
                pass  # updated after a delete in the same batch: cannot happen in a consistent stream
            elif prior[0] in ("row", "patch", "partial"):
                per_key[new] = (prior[0], _merge(prior[1], after))
            else:
                per_key[new] = ("patch", after)

    # --- writing --------------------------------------------------------------------------------
    def write(self, cur: psycopg.Cursor[Any], policy: str) -> None:
        self.cur, self.policy = cur, policy
        try:
            for kind, step in self.steps:
                if kind == "rows":
                    self._flush(step)
                elif kind == "truncate":
                    cur.execute(sql.SQL("TRUNCATE {}").format(_ident(self.selection.target(step))))
                else:
                    table, old, after, new = step
                    target = self.selection.target(table.ref)
                    self._update(table, target, old, after, move=True)
                    self.t._drop_filtered(cur, table, target, [_key_row(table, new)])
        finally:
            self.cur = None

    @property
    def _cursor(self) -> psycopg.Cursor[Any]:
        assert self.cur is not None, "a plan writes only inside write()"
        return self.cur

    def _flush(self, seg: _Segment) -> None:
        cur = self._cursor
        for ref, rows in seg.final.items():
            table = self.schemas[ref]
            target = self.selection.target(ref)
            if self.policy != "overwrite":
                rows = self._resolve_conflicts(table, target, rows, seg.expected.get(ref, {}))
            deletes = [k for k, v in rows.items() if v is None]
            upserts = [v[1] for v in rows.values() if v is not None and v[0] == "row"]
            patches = [(k, v[1]) for k, v in rows.items() if v is not None and v[0] == "patch"]
            partials = [v[1] for v in rows.values() if v is not None and v[0] == "partial"]
            self._delete(table, target, deletes)
            self._upsert(table, target, upserts)
            for key, image in patches:
                self._update(table, target, key, image, move=False)
            for image in partials:
                self._upsert_partial(table, target, image)
            if table.ref in self.t.filters:
                written = upserts + partials + [_key_row(table, key) for key, _ in patches]
                self.t._drop_filtered(cur, table, target, written)
        for ref, events in seg.keyless.items():
            self._apply_keyless(self.schemas[ref], self.selection.target(ref), events)
            self.t._drop_filtered(cur, self.schemas[ref], self.selection.target(ref), [])

    def _resolve_conflicts(self, table: TableSchema, target: TableRef, rows: dict[Row, _State],
                           expected: dict[Row, bool]) -> dict[Row, _State]:
        present = self._existing_keys(table, target, list(rows))
        kept: dict[Row, _State] = {}
        for key, state in rows.items():
            if expected.get(key, True) == (key in present):
                kept[key] = state
                continue
            what = "already exists" if key in present else "does not exist"
            if self.policy == "stop":
                raise ConflictStop(
                    f"conflict on {target}: the row with key {dict(zip(table.key, key, strict=True))} {what} on "
                    "the target (conflict_policy stop). Fix the target row, or set conflict_policy to "
                    "overwrite or ignore with 4.3.2, then retry the task")
            log.info("conflict on %s key %s (%s): kept the target's data (conflict_policy ignore)", target, key, what)
        return kept

    def _key_where(self, table: TableSchema) -> sql.Composable:
        return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in table.key)

    def _existing_keys(self, table: TableSchema, target: TableRef, keys: list[Row]) -> set[Row]:
        """The keys present on the target: few one SELECT each, many through one staged join (see ``_delete``).
        The stage carries each key's ordinal, so a key is matched as sent, not as the target prints it."""
        if len(keys) <= STAGE_ABOVE:
            texts = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in table.key)
            query = sql.SQL("SELECT {} FROM {} WHERE {}").format(texts, _ident(target), self._key_where(table))
            found: set[Row] = set()
            for key in keys:
                self._cursor.execute(query, key)
                if self._cursor.fetchone() is not None:
                    found.add(key)
            return found
        stage, join = self._stage_keys(table, target, keys, ordinal=True)
        rows = self._cursor.execute(sql.SQL("SELECT s.opendrs_ord FROM {} t JOIN {} s ON {}").format(
            _ident(target), stage, join)).fetchall()
        self._cursor.execute(sql.SQL("DROP TABLE {}").format(stage))
        return {keys[int(r[0])] for r in rows}

    def _stage_keys(self, table: TableSchema, target: TableRef, keys: list[Row],
                    ordinal: bool = False) -> tuple[sql.Composable, sql.Composable]:
        """COPY ``keys`` into a temporary table of the key's own column types (values are PostgreSQL
        text, so this spares casting them by type name); with ``ordinal``, each key's index in ``keys``
        too. Returns the stage and the join condition ``t.<key> = s.<key>``."""
        names = [sql.Identifier(k) for k in table.key]
        cols = sql.SQL(", ").join(names)
        stage = sql.Identifier("opendrs_stage_keys")
        first = sql.SQL("0::int AS opendrs_ord, ") if ordinal else sql.SQL("")
        self._cursor.execute(sql.SQL("DROP TABLE IF EXISTS {s}; CREATE TEMP TABLE {s} ON COMMIT DROP AS SELECT {o}{c} "
                                     "FROM {t} LIMIT 0").format(s=stage, o=first, c=cols, t=_ident(target)))
        into = sql.SQL("opendrs_ord, ") if ordinal else sql.SQL("")
        with self._cursor.copy(sql.SQL("COPY {} ({}{}) FROM STDIN").format(stage, into, cols)) as copy:
            for i, key in enumerate(keys):
                copy.write_row((i, *key) if ordinal else key)
        return stage, sql.SQL(" AND ").join(sql.SQL("t.{} = s.{}").format(n, n) for n in names)

    def _delete(self, table: TableSchema, target: TableRef, keys: list[Row]) -> None:
        """Few keys: one DELETE each. Many: staged (``_stage_keys``) and deleted with one join (the bench
        profile showed a DELETE per key as a fifth of apply time)."""
        if len(keys) <= STAGE_ABOVE:
            if keys:
                self._cursor.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(
                    _ident(target), self._key_where(table)), keys)
            return
        stage, join = self._stage_keys(table, target, keys)
        self._cursor.execute(sql.SQL("DELETE FROM {} t USING {} s WHERE {}; DROP TABLE {}").format(
            _ident(target), stage, join, stage))

    def _upsert(self, table: TableSchema, target: TableRef, rows: list[Row]) -> None:
        if not rows:
            return
        if len(rows) > STAGE_ABOVE:
            self.t._stage_upsert(self._cursor, table, target, rows, count=False)
            return
        idx = [i for i, c in enumerate(table.columns) if not c.generated]
        cols = sql.SQL(", ").join(sql.Identifier(table.columns[i].name) for i in idx)
        marks = sql.SQL(", ").join(sql.Placeholder() * len(idx))
        query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({}) {}").format(
            _ident(target), cols, marks, self.t._on_conflict(table, target))
        self._cursor.executemany(query, [tuple(r[i] for i in idx) for r in rows])

    def _upsert_partial(self, table: TableSchema, target: TableRef, image: Row) -> None:
        """Upsert of the columns ``image`` has (not UNCHANGED_TOAST): the others keep their value or default."""
        idx = [i for i, c in enumerate(table.columns) if not c.generated and image[i] is not UNCHANGED_TOAST]
        cols = sql.SQL(", ").join(sql.Identifier(table.columns[i].name) for i in idx)
        skip = set(table.key) | self.t._identity_always(target)
        sets = [table.columns[i].name for i in idx if table.columns[i].name not in skip]
        conflict = sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
            sql.SQL(", ").join(sql.Identifier(k) for k in table.key), sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in sets)) if (
            sets) else sql.SQL("ON CONFLICT DO NOTHING")  # conflict policies were resolved before the write
        self._cursor.execute(sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({}) {}").format(
            _ident(target), cols, sql.SQL(", ").join(sql.Placeholder() * len(idx)), conflict),
            [image[i] for i in idx])

    def _update(self, table: TableSchema, target: TableRef, key: Row, image: Row, move: bool) -> None:
        """UPDATE the row with ``key`` to ``image`` except its UNCHANGED_TOAST columns (and the key unless moved)."""
        skip = self.t._identity_always(target) | (set() if move else set(table.key))
        sets = [(c.name, image[i]) for i, c in enumerate(table.columns)
                if not c.generated and c.name not in skip and image[i] is not UNCHANGED_TOAST]
        if not sets:
            return
        query = sql.SQL("UPDATE {} SET {} WHERE {}").format(
            _ident(target), sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n, _ in sets),
            self._key_where(table))
        self._cursor.execute(query, [v for _, v in sets] + list(key))

    def _apply_keyless(self, table: TableSchema, target: TableRef,
                       events: list[tuple[str, Row | None, Row | None]]) -> None:
        """No key: find ONE row equal on every column (REPLICA IDENTITY FULL before image), in source order."""
        cols = [(i, c) for i, c in enumerate(table.columns) if not c.generated]
        identity = self.t._identity_always(target)
        for op, before, after in events:
            if op in (Op.DELETE, Op.UPDATE) and before is not None:
                conds = []
                args: list[Any] = []
                for i, c in cols:
                    if before[i] is UNCHANGED_TOAST:
                        continue
                    if c.data_type in _NO_EQUALITY:
                        conds.append(sql.SQL("{}::text IS NOT DISTINCT FROM %s::text").format(sql.Identifier(c.name)))
                    else:
                        conds.append(sql.SQL("{} IS NOT DISTINCT FROM %s").format(sql.Identifier(c.name)))
                    args.append(before[i])
                match = sql.SQL("(tableoid, ctid) = (SELECT tableoid, ctid FROM {} WHERE {} LIMIT 1)").format(
                    _ident(target), sql.SQL(" AND ").join(conds) if conds else sql.SQL("true"))
                if op == Op.DELETE or after is None:
                    self._cursor.execute(sql.SQL("DELETE FROM {} WHERE {}").format(_ident(target), match), args)
                    continue
                sets = [(c.name, after[i]) for i, c in cols
                        if after[i] is not UNCHANGED_TOAST and c.name not in identity]
                if sets:
                    self._cursor.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(
                        _ident(target), sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n))
                                                           for n, _ in sets), match), [v for _, v in sets] + args)
            elif op == Op.INSERT and after is not None:
                sent = [(i, c) for i, c in cols if after[i] is not UNCHANGED_TOAST]  # see _upsert_partial
                names = sql.SQL(", ").join(sql.Identifier(c.name) for _, c in sent)
                marks = sql.SQL(", ").join(sql.Placeholder() * len(sent))
                self._cursor.execute(sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                    _ident(target), names, marks), [after[i] for i, _ in sent])
            elif op == Op.UPDATE and after is not None:
                raise PgEngineError(f"an UPDATE of {table.ref} came without its old row: a table without a key "
                                    "needs REPLICA IDENTITY FULL on the source")


def _key_row(table: TableSchema, key: Row) -> Row:
    """A full-width row holding only ``key`` (enough for a key-bounded statement)."""
    row: list[Any] = [None] * len(table.columns)
    for i, value in zip(table.key_indexes, key, strict=True):
        row[i] = value
    return tuple(row)


def _merge(prior: Row, after: Row) -> Row:
    """``after`` with its UNCHANGED_TOAST values taken from ``prior`` (the key's earlier image in the batch)."""
    return tuple(p if a is UNCHANGED_TOAST else a for p, a in zip(prior, after, strict=True))
