"""MySQL/MariaDB target: full-load writes, idempotent CDC apply and checkpoints in one transaction.

Exactly-once effect: every apply commits the changed rows AND the stream position in the same
target transaction (table ``opendrs_meta.checkpoints``). Apply is idempotent (REPLACE / DELETE
by key with full row images), so replaying from an older position after a crash converges
to the same rows.

Within a batch, changes are coalesced to the final state per key (upsert or delete), which
turns N updates of a hot row into one write and lets rows of one table go out as one
multi-row statement. That is only valid because a batch is applied atomically: the target
never shows a state the source did not pass through at a transaction boundary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pymysql
import pymysql.converters
from pymysql.constants import SERVER_STATUS

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql import bulk
from opendrs.engines.mysql.connection import MySQLEngineError, connect, session_for_apply
from opendrs.engines.mysql.dialect import (
    delete_by_row_sql,
    insert_sql,
    qualified,
    qualified_param,
    quote_ident,
    quote_param_ident,
)
from opendrs.engines.mysql.schema import add_deferred_indexes, create_objects, create_structure
from opendrs.pipeline.model import Catalog, EncodedBatch, Op, Row, TableRef, TableSchema, Transaction
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.mysql.target")

META_DB = "opendrs_meta"
CHECKPOINTS = f"`{META_DB}`.`checkpoints`"
# DDL errors that mean "this statement was already applied" when a DDL is replayed after a crash.
REPLAYED_DDL_ERRORS = {1007, 1050, 1051, 1054, 1060, 1061, 1068, 1091, 1146, 1008}
DELETE_CHUNK = 500
MAX_STATEMENT = 1 << 20  # multi-row statements of about 1 MiB, as PyMySQL's executemany makes them


class ConflictStop(MySQLEngineError):
    """conflict_policy "stop": a change did not fit the target's rows; the task fails with the details."""


class MySQLTarget:
    """One per worker: holds a target connection with apply-friendly session settings.

    ``filters`` are the 4.3.1 row filters by SOURCE table: rows that do not satisfy them are
    kept off the target (written, then removed in the same transaction by a key-bounded
    DELETE, so the server evaluates the condition with its own SQL semantics).
    """

    def __init__(self, ep: EndpointConfig, *, replace_definer: bool = False,
                 filters: dict[TableRef, str] | None = None) -> None:
        self.ep = ep
        self.replace_definer = replace_definer
        self.filters = filters or {}
        self.conn = connect(ep, autocommit=False)
        self._local_infile: bool | None = None
        self._spool: str | None = None
        session_for_apply(self.conn)
        self._ensure_meta()

    def close(self) -> None:
        with contextlib.suppress(pymysql.err.Error):
            self.conn.close()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)

    # --- structure ---------------------------------------------------------------------------
    def prepare(self, catalog: Catalog, selection: Selection, drop_existing: bool) -> None:
        create_structure(self.conn, catalog, selection, drop_existing=drop_existing,
                         replace_definer=self.replace_definer)
        self.conn.commit()

    def finish(self, catalog: Catalog, selection: Selection) -> None:
        add_deferred_indexes(self.conn, catalog, selection)  # before views, and before CDC needs them
        create_objects(self.conn, catalog, selection, replace_definer=self.replace_definer,
                       target_user=self.ep.user)  # the runner passes triggers/events only at cut-over
        self.conn.commit()

    # --- checkpoints ----------------------------------------------------------------------------
    def _ensure_meta(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{META_DB}`")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (job_id VARCHAR(64) NOT NULL, name VARCHAR(128) NOT NULL, "
                "doc LONGTEXT NOT NULL, updated_at DATETIME(6) NOT NULL, PRIMARY KEY (job_id, name)) ENGINE=InnoDB"
            )
        self.conn.commit()

    def read_checkpoint(self, job_id: str, name: str) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT doc FROM {CHECKPOINTS} WHERE job_id=%s AND name=%s", (job_id, name))
            row = cur.fetchone()
        self.conn.commit()
        if row is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    def read_checkpoints(self, job_id: str, prefix: str) -> dict[str, dict[str, Any]]:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT name, doc FROM {CHECKPOINTS} WHERE job_id=%s AND name LIKE %s",
                        (job_id, _like_prefix(prefix)))
            rows = cur.fetchall()
        self.conn.commit()
        return {name: json.loads(doc) for name, doc in rows}

    def _put_checkpoint(self, cur: Any, job_id: str, name: str, doc: dict[str, Any]) -> None:
        cur.execute(f"REPLACE INTO {CHECKPOINTS} (job_id, name, doc, updated_at) VALUES (%s, %s, %s, NOW(6))",
                    (job_id, name, json.dumps(doc, default=str)))

    def write_checkpoint(self, job_id: str, name: str, doc: dict[str, Any]) -> None:
        with self.conn.cursor() as cur:
            self._put_checkpoint(cur, job_id, name, doc)
        self.conn.commit()

    def drop_checkpoints(self, job_id: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DELETE FROM {CHECKPOINTS} WHERE job_id=%s", (job_id,))
        self.conn.commit()

    # --- full load ------------------------------------------------------------------------------
    def load(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
             checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        with self._transaction() as cur:
            written = self._upsert(cur, table, target, rows) if rows else 0
            if checkpoint is not None:
                self._put_checkpoint(cur, job_id, checkpoint[0], checkpoint[1])
        return written

    def accepts_encoded(self, table: TableSchema, bulk_format: str) -> bool:
        """The ``LOAD DATA`` fast path, unless the table has row filters or the server refuses LOCAL INFILE."""
        if bulk_format != bulk.FORMAT or table.ref in self.filters or not bulk.encodable(table):
            return False
        if self._local_infile is None:
            with self.conn.cursor() as cur:
                cur.execute("SELECT @@GLOBAL.local_infile")
                row = cur.fetchone()
            self.conn.commit()
            self._local_infile = bool(row and int(row[0]))
            if not self._local_infile:
                log.info("target %s has local_infile OFF: the full load uses row inserts (slower)", self.ep.where)
        return self._local_infile

    def load_encoded(self, job_id: str, table: TableSchema, target: TableRef, batch: EncodedBatch,
                     checkpoint: tuple[str, dict[str, Any]] | None = None) -> int:
        """``LOAD DATA LOCAL INFILE ... REPLACE`` of the batch (idempotent), checkpoint in the same transaction."""
        statement = bulk.load_statement(table, target.schema, target.name)
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix="opendrs-load-")  # mode 0700: rows never leave this user
        path = os.path.join(self._spool, f"{threading.get_ident()}.tsv")
        try:
            with open(path, "wb") as fh:
                fh.write(batch.data)
            with self.conn.cursor() as cur:
                cur.execute(statement.for_file(path))
                if cur.warning_count:
                    self._check_load_warnings(cur, target)
                if checkpoint is not None:
                    self._put_checkpoint(cur, job_id, checkpoint[0], checkpoint[1])
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return len(batch.data)

    def _check_load_warnings(self, cur: Any, target: TableRef) -> None:
        """Column-count warnings mean the lines were mis-split: fail rather than load shifted values."""
        cur.execute("SHOW WARNINGS LIMIT 5")
        warnings = [(int(code), str(msg)) for _, code, msg in cur.fetchall()]
        if any(code in (1261, 1262) for code, _ in warnings):
            raise MySQLEngineError(f"bulk load into {target} mis-split rows: {warnings}; this is a bug, please "
                                   "report it (set the task's full-load to row mode meanwhile)")
        log.debug("LOAD DATA into %s: %s", target, warnings)

    # --- CDC apply ------------------------------------------------------------------------------
    def apply(self, job_id: str, txns: Sequence[Transaction], catalog: Catalog, selection: Selection,
              checkpoint: dict[str, Any], conflict_policy: str = "overwrite") -> None:
        """Apply a run of DML transactions and store the checkpoint atomically (DDL goes via apply_ddl).

        ``conflict_policy`` (4.3.2): "overwrite" makes the target row equal the source's;
        "ignore" keeps the target's data where a change does not fit it (an insert of a row
        that exists, an update or delete of one that does not); "stop" fails the task there.
        """
        self.apply_plan(job_id, self.plan(txns, catalog, selection), checkpoint, conflict_policy)

    def plan(self, txns: Sequence[Transaction], catalog: Catalog, selection: Selection) -> _Plan:
        """The batch coalesced per key, without touching the target (see ``PlanningTarget``)."""
        return _Plan(txns, catalog, selection)

    def apply_plan(self, job_id: str, plan: Any, checkpoint: dict[str, Any],
                   conflict_policy: str = "overwrite") -> None:
        assert isinstance(plan, _Plan)
        with self._transaction() as cur:
            self._write_plan(cur, plan, conflict_policy)
            self._put_checkpoint(cur, job_id, "cdc", checkpoint)

    def apply_ddl(self, job_id: str, ddl: str, schema: str | None, selection: Selection,
                  checkpoint: dict[str, Any]) -> None:
        """DDL commits implicitly in MySQL; the checkpoint follows it, and a replay is tolerated."""
        target_schema = selection.target_database(schema) if schema else None
        with self.conn.cursor() as cur:
            if target_schema:
                cur.execute(f"USE {quote_ident(target_schema)}")
            try:
                cur.execute(ddl)
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else 0
                if code not in REPLAYED_DDL_ERRORS:
                    raise
                log.warning("DDL already applied on the target (replay after restart?): %s -- %s", ddl[:200], exc)
            self._put_checkpoint(cur, job_id, "cdc", checkpoint)
        self.conn.commit()

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except pymysql.err.Error:
            log.debug("rollback on a broken connection")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One target transaction: committed at the end, rolled back on any error (the connection stays usable)."""
        try:
            with self.conn.cursor() as cur:
                yield cur
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise

    def _write_plan(self, cur: Any, plan: _Plan, conflict_policy: str) -> None:
        for ref, rows in plan.final.items():
            schema = plan.schemas[ref]
            target = plan.selection.target(ref)
            if conflict_policy != "overwrite":
                rows = self._resolve_conflicts(cur, schema, target, rows, plan.expected[ref], conflict_policy)
            deleted = [k for k, v in rows.items() if v is None]
            upserts = [v for v in rows.values() if v is not None]
            self._delete_keys(cur, schema, target, deleted)
            if upserts:
                self._upsert(cur, schema, target, upserts, count=False)
        for ref, events in plan.keyless.items():
            self._apply_keyless(cur, plan.schemas[ref], plan.selection.target(ref), events)

    def _resolve_conflicts(self, cur: Any, table: TableSchema, target: TableRef, rows: dict[Row, Row | None],
                           expected: dict[Row, bool], policy: str) -> dict[Row, Row | None]:
        """Keys whose target state contradicts the first change's expectation are conflicts."""
        present = self._existing_keys(cur, table, target, list(rows))
        kept: dict[Row, Row | None] = {}
        for key, image in rows.items():
            if expected.get(key, True) == (key in present):
                kept[key] = image
                continue
            what = "already exists" if key in present else "does not exist"
            if policy == "stop":
                raise ConflictStop(
                    f"conflict on {target}: the row with key {dict(zip(table.key, key, strict=True))} {what} on "
                    "the target (conflict_policy stop). Fix the target row, or set conflict_policy to "
                    "overwrite or ignore with 4.3.2, then retry the task")
            log.info("conflict on %s key %s (%s): kept the target's data (conflict_policy ignore)", target, key, what)
        return kept

    def _existing_keys(self, cur: Any, table: TableSchema, target: TableRef, keys: list[Row]) -> set[Row]:
        found: set[Row] = set()
        cols = ", ".join(quote_param_ident(k) for k in table.key)
        for where, args in _key_batches(table, keys):
            cur.execute(f"SELECT {cols} FROM {qualified_param(target)} WHERE {where}", args)
            found.update(tuple(r) for r in cur.fetchall())
        return found

    def _upsert(self, cur: Any, table: TableSchema, target: TableRef, rows: Sequence[Row], count: bool = True) -> int:
        """REPLACE the rows; returns their bytes when ``count`` (CDC apply does not report them)."""
        cols = [i for i, c in enumerate(table.columns) if not c.generated]
        if len(cols) == len(table.columns):
            args: Sequence[Row] = rows
        else:
            args = [tuple(r[i] for i in cols) for r in rows]
        names = ", ".join(quote_ident(c.name) for c in table.writable)
        _execute_rows(cur, f"REPLACE INTO {qualified(target)} ({names}) VALUES ", args)
        condition = self.filters.get(table.ref)
        if condition:
            self._drop_filtered(cur, table, target, rows, condition)
        return sum(_row_bytes(r) for r in args) if count else 0

    def _drop_filtered(self, cur: Any, table: TableSchema, target: TableRef, rows: Sequence[Row],
                       condition: str) -> None:
        """Remove the just-written rows that fail the 4.3.1 filter (NULL counts as failing)."""
        cond = condition.replace("%", "%%")
        if not table.key:
            cur.execute(f"DELETE FROM {qualified_param(target)} WHERE ({cond}) IS NOT TRUE")
            return
        idx = table.key_indexes
        keys = [tuple(r[i] for i in idx) for r in rows]
        for where, args in _key_batches(table, keys):
            cur.execute(f"DELETE FROM {qualified_param(target)} WHERE {where} AND ({cond}) IS NOT TRUE", args)

    def _delete_keys(self, cur: Any, table: TableSchema, target: TableRef, keys: list[Row]) -> None:
        for where, args in _key_batches(table, keys):
            cur.execute(f"DELETE FROM {qualified_param(target)} WHERE {where}", args)

    def _apply_keyless(self, cur: Any, table: TableSchema, target: TableRef,
                       events: Iterable[tuple[Op, Row | None, Row | None]]) -> None:
        """No key: match one row on every non-generated column (NULL-safe), in source order."""
        cols = [i for i, c in enumerate(table.columns) if not c.generated]
        # A BIT column never equals a binary string in SQL; it does equal its integer value.
        bits = {i for i in cols if table.columns[i].data_type == "bit"}
        delete_sql = delete_by_row_sql(target, table.writable)
        for op, before, after in events:
            if op in (Op.DELETE, Op.UPDATE) and before is not None:
                cur.execute(delete_sql, [_bit_int(before[i]) if i in bits else before[i] for i in cols])
            if op in (Op.INSERT, Op.UPDATE) and after is not None:
                self._insert_plain(cur, table, target, [after])
        condition = self.filters.get(table.ref)
        if condition:
            self._drop_filtered(cur, table, target, [], condition)

    def _insert_plain(self, cur: Any, table: TableSchema, target: TableRef, rows: Sequence[Row]) -> None:
        cols = [i for i, c in enumerate(table.columns) if not c.generated]
        cur.executemany(insert_sql(target, table.writable), [tuple(r[i] for i in cols) for r in rows])

    def truncate(self, target: TableRef) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"TRUNCATE TABLE {qualified(target)}")
        self.conn.commit()

    def insert_rows(self, job_id: str, table: TableSchema, target: TableRef, rows: Sequence[Row],
                    checkpoint: tuple[str, dict[str, Any]] | None = None) -> None:
        """Plain INSERT (keyless tables in the full load: they are loaded into an empty table)."""
        with self._transaction() as cur:
            if rows:
                self._insert_plain(cur, table, target, rows)
                condition = self.filters.get(table.ref)
                if condition:
                    self._drop_filtered(cur, table, target, rows, condition)
            if checkpoint is not None:
                self._put_checkpoint(cur, job_id, checkpoint[0], checkpoint[1])


def _execute_rows(cur: Any, prefix: str, rows: Sequence[Row]) -> None:
    """``prefix`` + multi-row VALUES, in statements of about ``MAX_STATEMENT`` bytes.

    Hand-written instead of ``cursor.executemany`` because PyMySQL formats every row through
    ``%`` and a generic escape per value, which the CDC bench profile showed as a third of apply
    time; ints, strings and NULL -- most values -- take a direct path here, and everything else
    goes through the connection's own escaping, so the SQL is the same.
    """
    conn = cur.connection
    if conn.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        def text(v: str) -> str:
            return "'" + v.replace("'", "''") + "'"
    else:
        escape_string = pymysql.converters.escape_string

        def text(v: str) -> str:
            return "'" + escape_string(v) + "'"
    escape = conn.escape
    head = prefix.encode("utf-8")
    parts: list[bytes] = []
    size = 0
    for row in rows:
        values = []
        for v in row:
            kind = type(v)
            values.append(str(v) if kind is int else text(v) if kind is str else "NULL" if v is None else escape(v))
        line = ("(" + ",".join(values) + ")").encode("utf-8")
        if parts and size + len(line) > MAX_STATEMENT:
            cur.execute(head + b",".join(parts))
            parts, size = [], 0
        parts.append(line)
        size += len(line) + 1
    if parts:
        cur.execute(head + b",".join(parts))


class _Plan:
    """A run of transactions coalesced to the final row image per key (None = deleted); pure Python.

    Keyless tables keep their events in order. ``expected`` records, per key, whether the batch's
    first change expected the row to exist already (what conflict policies check).
    """

    def __init__(self, txns: Sequence[Transaction], catalog: Catalog, selection: Selection) -> None:
        self.selection = selection
        self.final: dict[TableRef, dict[Row, Row | None]] = {}
        self.expected: dict[TableRef, dict[Row, bool]] = {}
        self.keyless: dict[TableRef, list[tuple[Op, Row | None, Row | None]]] = {}
        self.schemas: dict[TableRef, TableSchema] = {}
        last_ref: TableRef | None = None
        for txn in txns:
            for op, ref, before, after in txn.events:
                if ref is not last_ref:  # runs of one table: look its schema and dicts up once per run
                    last_ref = ref
                    schema = self.schemas.get(ref) or catalog.table(ref)
                    if schema is None:
                        continue  # not selected (filtered at capture, but DDL may have renamed things)
                    self.schemas[ref] = schema
                    idx = schema.key_indexes
                    one = idx[0] if len(idx) == 1 else -1
                    per_key = self.final.setdefault(ref, {}) if idx else {}
                    first = self.expected.setdefault(ref, {}) if idx else {}
                elif ref not in self.schemas:
                    continue
                if not idx:
                    self.keyless.setdefault(ref, []).append((op, before, after))
                    continue
                if op is Op.INSERT:
                    if after is not None:
                        key = (after[one],) if one >= 0 else tuple(after[i] for i in idx)
                        first.setdefault(key, False)
                        per_key[key] = after
                elif op is Op.DELETE:
                    if before is not None:
                        key = (before[one],) if one >= 0 else tuple(before[i] for i in idx)
                        first.setdefault(key, True)
                        per_key[key] = None
                elif op is Op.UPDATE and after is not None:
                    new = (after[one],) if one >= 0 else tuple(after[i] for i in idx)
                    if before is not None:
                        old = (before[one],) if one >= 0 else tuple(before[i] for i in idx)
                        first.setdefault(old, True)
                        if old != new:
                            per_key[old] = None
                    first.setdefault(new, False)
                    per_key[new] = after


def _key_batches(table: TableSchema, keys: list[Row]) -> Iterator[tuple[str, list[Any]]]:
    """``(predicate, args)`` selecting rows by key, in batches of ``DELETE_CHUNK`` (param-safe).

    One column: ``k IN (...)``. Several: ``(a = .. AND b = ..) OR ...`` -- MariaDB's row
    constructor ``(a, b) IN ((..), ..)`` misses non-ASCII values of latin1 columns. BIT keys
    are passed as integers (a BIT never equals a binary string in SQL).
    """
    bits = [table.columns[i].data_type == "bit" for i in table.key_indexes]
    names = [quote_param_ident(k) for k in table.key]
    one = "%s" if len(names) == 1 else "(" + " AND ".join(f"{n} = %s" for n in names) + ")"
    for start in range(0, len(keys), DELETE_CHUNK):
        part = keys[start : start + DELETE_CHUNK]
        args = [_bit_int(v) if bit else v for k in part for v, bit in zip(k, bits, strict=True)]
        if len(names) == 1:
            yield f"{names[0]} IN ({', '.join([one] * len(part))})", args
        else:
            yield "(" + " OR ".join([one] * len(part)) + ")", args


def _bit_int(value: Any) -> Any:
    return int.from_bytes(value, "big") if isinstance(value, bytes | bytearray) else value


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _row_bytes(row: Row) -> int:
    total = 0
    for v in row:
        if v is None:
            continue
        if isinstance(v, bytes | str):
            total += len(v)
        else:
            total += 8
    return total
