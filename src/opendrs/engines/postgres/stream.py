"""Change capture for PostgreSQL: a logical replication slot (pgoutput) streamed as Transactions.

Why: CDC must hand the pipeline exactly what the source committed, in commit order, with
the source's transaction boundaries and, after each commit, a position the target stores in
the same transaction as the changes. PostgreSQL gives this through a logical replication
slot: it keeps the WAL (and catalog rows) needed to decode every change from the slot's
confirmed position on, and resends everything after that position when a stream restarts.
``PgReplication`` owns the task's publication (which tables) and slot (where), streams with
psycopg2's ``LogicalReplicationConnection`` (psycopg 3 has no replication protocol support)
and decodes with ``pgoutput.PgOutputDecoder``.

WAL release: the slot's ``confirmed_flush_lsn`` only moves when we say so in a standby
status message. We say ``flush = the last position the target acknowledged``
(``acknowledge()``, called after the target committed a batch and its checkpoint), from a
small feedback thread every ``FEEDBACK_S`` and at once after an acknowledgement -- also
while the consumer is slow and the stream generator is suspended, so the server's
``wal_sender_timeout`` never cuts a healthy but back-pressured stream. psycopg2 itself
moves flush further to the server's ``wal_end`` from a keepalive when every message it
received has been acknowledged; that is safe (the server sends everything committed before
``wal_end`` before that keepalive, and a restart re-decodes whatever commits after it).

Positions: a transaction's position is its commit END LSN; a restart from it skips exactly
the transactions committed up to there. Heartbeats (``events == []``, about every
``HEARTBEAT_S`` while idle) carry the last yielded commit position (or the start), never a
later one, and ``commit_ts = now`` so lag reads as the stream's own latency.

Values are printed by the walsender session under ``connection.SESSION_OPTIONS`` (ISO dates,
hex bytea, exact floats, UTC), the settings of the full load's reads too: the target parses the
text back, so it must not depend on the source's postgresql.conf.

Failures: a missing or invalidated slot, a dropped publication, a slot of another
plugin/database and ``wal_level`` below logical raise ``PgReplicationError`` subclasses with a
hint for the DBA (never retried blindly); a slot held by another connection raises
``PgSlotBusy`` (``Transient``); a connection lost mid-stream raises ``PgConnectionLost``
(``Transient``; psycopg2 reports some of those as a bare ``DatabaseError``), a server
shutdown psycopg2's ``AdminShutdown`` (SQLSTATE 57P01); nothing is swallowed.

DDL: with ``ddl_capture`` the publication also holds the task's DDL log table, filled by an
event trigger (``ddl``); the decoder turns its rows into DDL transactions in commit order.
After yielding one, the stream waits to be resumed (the pipeline applies the DDL and reads the
catalog again meanwhile), then re-maps the tables before decoding on.

Memory: a source transaction is held in memory until its commit (see ``pgoutput``); nothing
else here grows with the stream.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extras
from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres import ddl
from opendrs.engines.postgres.config import connect_args, ssl_params
from opendrs.engines.postgres.connection import SESSION_OPTIONS
from opendrs.engines.postgres.pgoutput import PgOutputDecoder
from opendrs.engines.postgres.position import PgPosition, PgReplicationError, format_lsn, parse_lsn
from opendrs.errors import Transient
from opendrs.pipeline.model import Catalog, Position, TableRef, Transaction

log = logging.getLogger(__name__)

HEARTBEAT_S: Final = 1.0  # an empty transaction after this much idle time
FEEDBACK_S: Final = 2.0  # standby status at least this often (server default wal_sender_timeout: 60 s)
POLL_S: Final = 0.2  # longest wait for data before stop() is looked at again
ADMIN_TIMEOUT_MS: Final = 300_000  # slot creation waits for running transactions: allow minutes
DROP_WAIT_S: Final = 10.0
WAL_LEVEL_HINT: Final = ("Set wal_level = logical (ALTER SYSTEM SET wal_level = logical) and restart the "
                         "PostgreSQL server.")


class PgSlotMissing(PgReplicationError):
    """The task's slot is gone: the changes since the task's position cannot be read any more."""


class PgSlotInvalidated(PgReplicationError):
    """The slot exists but the server removed WAL it needed (max_slot_wal_keep_size)."""


class PgSlotMismatch(PgReplicationError):
    """A slot of that name exists but is not a pgoutput slot of this database."""


class PgWalLevelNotLogical(PgReplicationError):
    """The server does not write the WAL logical decoding needs."""


class PgPublicationMissing(PgReplicationError):
    """The task's publication was dropped; old WAL cannot be decoded with a new one."""


class PgConnectionLost(PgReplicationError, Transient):
    """The replication connection broke (source restart, network): resume from the last checkpoint."""


class PgSlotBusy(PgReplicationError, Transient):
    """Another connection streams from the slot (often our own previous one, not yet gone): retry."""


def _quote_ident(name: str) -> str:
    """``name`` as a double-quoted identifier, for the replication protocol's option strings."""
    return '"' + name.replace('"', '""') + '"'


class PgReplication:
    """The task's publication and logical replication slot on one source database.

    Methods other than ``stream`` open a short-lived psycopg 3 connection each (no session
    to go stale across source restarts). ``acknowledge`` and ``close`` may be called from
    other threads than the one iterating ``stream``.
    """

    def __init__(self, ep: EndpointConfig, dbname: str, slot: str, publication: str, *,
                 wal_sender_timeout_s: float | None = None, ddl_capture: bool = False) -> None:
        """``wal_sender_timeout_s``: how long the server waits for our feedback before it cuts the
        stream (None: the server's setting, 60 s by default). ``ddl_capture``: install the DDL event
        trigger with the publication and decode its log (see ``ddl``)."""
        self.ep = ep
        self.capture = ddl.DdlCapture(publication) if ddl_capture else None
        self.wal_sender_timeout_s = wal_sender_timeout_s
        self.dbname = dbname
        self.slot = slot
        self.publication = publication
        self._ack_lock = threading.Lock()
        self._acked = 0
        self._ack_event = threading.Event()
        self._repl_lock = threading.Lock()
        self._repl: Any = None  # the open replication connection while stream() runs
        self._closed = False

    # --- connections ---------------------------------------------------------------------

    def _params(self, application: str, timeout_ms: int) -> dict[str, Any]:
        args = connect_args(self.ep)
        args.update(dbname=self.dbname, application_name=application,
                    options=f"-c statement_timeout={timeout_ms}")
        return args

    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection[Any]]:
        with ssl_params(self.ep) as tls, psycopg.connect(**(self._params("opendrs-cdc-admin", ADMIN_TIMEOUT_MS)
                                                            | tls)) as conn:
            yield conn

    def _replication_connection(self) -> Any:
        """A psycopg2 walsender connection (``replication=database``), with dead-peer detection.

        The session settings fix how values are printed as text (``SESSION_OPTIONS``, shared with
        the full load): the target parses them back, so they must not depend on the source's
        configuration.
        """
        args = self._params("opendrs-cdc", 0)
        args["options"] += " " + SESSION_OPTIONS
        if self.wal_sender_timeout_s is not None:
            args["options"] += f" -c wal_sender_timeout={int(self.wal_sender_timeout_s * 1000)}"
        args.pop("autocommit")
        args.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                    tcp_user_timeout=30_000, client_encoding="UTF8")
        with ssl_params(self.ep) as tls:
            return psycopg2.connect(connection_factory=psycopg2.extras.LogicalReplicationConnection,
                                    **(args | tls))

    # --- publication and slot --------------------------------------------------------------

    def ensure_publication(self, tables: Sequence[TableRef], *, via_partition_root: bool = True) -> None:
        """Create the publication, or make it publish exactly ``tables`` (insert/update/delete/truncate).

        ``via_partition_root``: changes of a partition are published as changes of its
        (published) partitioned table, which is what the catalog names.
        """
        pub = sql.Identifier(self.publication)
        with self._admin() as conn, conn.transaction():
            if self.capture is not None and self._install_capture(conn, self.capture):
                tables = [*tables, self.capture.table]
            names = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in sorted(set(tables)))
            exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,)).fetchone()
            if not exists:
                create = sql.SQL("CREATE PUBLICATION {}").format(pub)
                conn.execute(create + sql.SQL(" FOR TABLE {}").format(names) if tables else create)
            elif tables:
                conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, names))
            else:  # SET TABLE needs at least one; a drop and re-create would break a running stream
                current = conn.execute(
                    "SELECT n.nspname, c.relname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid "
                    "JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE p.pubname = %s", (self.publication,)).fetchall()
                if current:
                    conn.execute(sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(
                        pub, sql.SQL(", ").join(sql.Identifier(str(n), str(r)) for n, r in current)))
            # Whatever an earlier version or a DBA left there: every kind of change, partitions as their root.
            options: sql.Composable = sql.SQL("publish = 'insert, update, delete, truncate'")
            if conn.info.server_version >= 130000:  # no partitions in publications before 13
                options += sql.SQL(", publish_via_partition_root = {}").format(
                    sql.SQL("true" if via_partition_root else "false"))
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET ({})").format(pub, options))

    def _install_capture(self, conn: psycopg.Connection[Any], capture: ddl.DdlCapture) -> bool:
        """Install the DDL event trigger; False (and a warning) when the account may not create one."""
        try:
            with conn.transaction():
                ddl.install(conn, capture)
            return True
        except psycopg.errors.InsufficientPrivilege as exc:
            log.warning("DDL on %s will not be replicated: creating the event trigger that captures it needs a "
                        "superuser (%s). Apply schema changes on the target yourself, or run the task with a "
                        "superuser source account", self.ep.where, " ".join(str(exc).split()))
            return False

    def ddl_capture_installed(self) -> bool:
        """The task's DDL event triggers exist on the source (for monitoring and tests)."""
        with self._admin() as conn:
            return ddl.installed(conn, ddl.DdlCapture(self.publication))

    def ensure_slot(self) -> PgPosition:
        """Create the pgoutput slot if missing; returns its consistent point (new) or confirmed LSN."""
        with self._admin() as conn:
            self._check_wal_level(conn)
            found = self._slot_row(conn)
            if found is None:
                try:
                    row = conn.execute("SELECT lsn FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
                                       (self.slot,)).fetchone()
                    assert row is not None
                    return PgPosition(parse_lsn(str(row[0])))
                except psycopg.errors.DuplicateObject:
                    found = self._slot_row(conn)  # created concurrently
                    if found is None:
                        raise
                except psycopg.Error as exc:
                    translated = self._translate(exc)
                    if translated is exc:
                        raise
                    raise translated from exc
            return PgPosition(self._usable_slot(found))

    def _slot_row(self, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        """The slot's ``pg_replication_slots`` row as a dict (as JSON: columns differ between versions)."""
        row = conn.execute("SELECT to_jsonb(s) FROM pg_replication_slots s WHERE slot_name = %s",
                           (self.slot,)).fetchone()
        return dict(row[0]) if row else None

    def _usable_slot(self, row: dict[str, Any] | None) -> int:
        """The confirmed LSN of a slot this task can stream from, or the error saying why not."""
        if row is None:
            raise PgSlotMissing(
                f"the replication slot {self.slot!r} does not exist on {self.ep.where}",
                hint="It was dropped (or never created), so changes since the task's position are lost: "
                     "restart the task with a full load, which creates the slot again.")
        plugin, database, slot_type = row.get("plugin"), row.get("database"), row.get("slot_type")
        confirmed, wal_status = row.get("confirmed_flush_lsn"), row.get("wal_status")  # wal_status: PG 13+
        if slot_type != "logical" or plugin != "pgoutput" or database != self.dbname:
            raise PgSlotMismatch(
                f"the replication slot {self.slot!r} on {self.ep.where} is a {slot_type} slot of plugin "
                f"{plugin!r} on database {database!r}, not a pgoutput slot of {self.dbname!r}",
                hint="Choose another slot_name for the task, or drop that slot if nothing else uses it.")
        if wal_status == "lost" or confirmed is None:
            raise PgSlotInvalidated(
                f"the replication slot {self.slot!r} on {self.ep.where} was invalidated: the WAL it needs "
                "was removed (max_slot_wal_keep_size)",
                hint="Restart the task with a full load; raise max_slot_wal_keep_size to keep up during long "
                     "pauses.")
        return parse_lsn(str(confirmed))

    def _check_wal_level(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT current_setting('wal_level')").fetchone()
        level = str(row[0]) if row else "unknown"
        if level != "logical":
            raise PgWalLevelNotLogical(
                f"wal_level is {level!r} on {self.ep.where}; logical replication needs 'logical'",
                hint=WAL_LEVEL_HINT)

    @contextlib.contextmanager
    def snapshot_slot(self) -> Iterator[tuple[PgPosition, str]]:
        """A TEMPORARY slot created with an exported snapshot: (its consistent LSN, snapshot name).

        Other sessions can ``SET TRANSACTION SNAPSHOT`` to that name while the ``with`` block
        runs: they see exactly the transactions committed before that LSN. The slot (and the
        snapshot) vanish when the block ends.
        """
        temp = f"{self.slot[:50]}_s{secrets.token_hex(4)}"
        conn = self._replication_connection()
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute(f"CREATE_REPLICATION_SLOT {_quote_ident(temp)} TEMPORARY LOGICAL pgoutput "
                                "EXPORT_SNAPSHOT")
                except psycopg2.Error as exc:
                    raise self._translate(exc) from exc
                row = cur.fetchone()
            assert row is not None
            yield PgPosition(parse_lsn(str(row[1]))), str(row[2])
        finally:
            conn.close()

    def current_wal_lsn(self) -> PgPosition:
        with self._admin() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return PgPosition(parse_lsn(str(row[0])))

    def slot_info(self) -> dict[str, Any] | None:
        """The slot as the server sees it (for monitoring and tests); None if it does not exist.

        LSNs are PostgreSQL text (``"16/B374D848"``) or None; ``lag_bytes`` is the WAL between
        the slot's confirmed position and the server's current one (what stays pinned).
        """
        with self._admin() as conn:
            row = conn.execute(
                "SELECT to_jsonb(s), pg_current_wal_lsn() - s.confirmed_flush_lsn FROM pg_replication_slots s "
                "WHERE slot_name = %s", (self.slot,)).fetchone()
        if row is None:
            return None
        slot, lag = dict(row[0]), row[1]
        confirmed, restart = slot.get("confirmed_flush_lsn"), slot.get("restart_lsn")
        return {
            "slot_name": self.slot,
            "confirmed_flush_lsn": format_lsn(parse_lsn(confirmed)) if confirmed else None,
            "restart_lsn": format_lsn(parse_lsn(restart)) if restart else None,
            "active": bool(slot.get("active")),
            "active_pid": slot.get("active_pid"),
            "wal_status": slot.get("wal_status"),
            "lag_bytes": int(lag) if lag is not None else None,
            "plugin": slot.get("plugin"),
            "database": slot.get("database"),
        }

    def drop(self) -> None:
        """Drop the slot and the publication; idempotent. A walsender still holding the slot is ended."""
        with self._admin() as conn:
            deadline = time.monotonic() + DROP_WAIT_S
            while True:
                row = conn.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                                   (self.slot,)).fetchone()
                if row is None:
                    break
                if row[0] is not None:
                    conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                try:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                    break
                except psycopg.errors.UndefinedObject:
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(self.publication)))
            try:  # whether this run captures DDL or not: nothing of the task stays behind
                with conn.transaction():
                    ddl.uninstall(conn, ddl.DdlCapture(self.publication))
            except psycopg.errors.InsufficientPrivilege as exc:
                log.warning("could not drop the DDL capture of %s on %s (a superuser must): %s", self.publication,
                            self.ep.where, " ".join(str(exc).split()))

    # --- streaming -------------------------------------------------------------------------

    def acknowledge(self, position: PgPosition) -> None:
        """The target durably holds everything up to ``position``: let the source release that WAL."""
        with self._ack_lock:
            if position.lsn <= self._acked:
                return
            self._acked = position.lsn
        self._ack_event.set()

    @property
    def acknowledged(self) -> PgPosition:
        with self._ack_lock:
            return PgPosition(self._acked)

    def _preflight(self) -> int:
        """Fail early with a DBA-readable error; returns the slot's confirmed LSN."""
        with self._admin() as conn:
            self._check_wal_level(conn)
            confirmed = self._usable_slot(self._slot_row(conn))
            if conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,)).fetchone() is None:
                # Recreating it does not help: the slot decodes old WAL with the catalog of that time.
                raise PgPublicationMissing(
                    f"the publication {self.publication!r} does not exist on {self.ep.where}",
                    hint="It was dropped while the task was not streaming: restart the task with a full load.")
            return confirmed

    def _start(self, cur: Any, start: PgPosition) -> None:
        options = {"proto_version": "1", "publication_names": _quote_ident(self.publication)}
        try:
            cur.start_replication(slot_name=self.slot, decode=False, start_lsn=start.lsn, options=options,
                                  status_interval=FEEDBACK_S)
        except psycopg2.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: psycopg2.Error | psycopg.Error) -> Exception:
        """A walsender ERROR as a DrsError that says what to do; anything else unchanged.

        Connection failures stay psycopg2 ``OperationalError``s (transient); these server errors
        are not, and must not be retried forever: a missing slot or publication and removed WAL
        need a full load, a busy slot a retry.
        """
        text = " ".join(str(exc).split())
        code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
        if code is None and isinstance(exc, psycopg2.Error):
            # No server error: the connection broke. psycopg2 reports a server dying mid-stream
            # as a bare DatabaseError ("error with status PGRES_COPY_BOTH and no message").
            return PgConnectionLost(f"the replication connection to {self.ep.where} was lost: {text or 'no reason'}",
                                    detail=repr(exc))
        if "wal_level" in text:
            return PgWalLevelNotLogical(f"{self.ep.where}: {text}", detail=str(exc), hint=WAL_LEVEL_HINT)
        if code == "53400":  # configuration_limit_exceeded: all replication slots are in use
            return PgReplicationError(f"{self.ep.where}: {text}", detail=str(exc),
                                      hint="Raise max_replication_slots on the source (restart needed) or drop "
                                      "replication slots nothing uses any more.")
        if code == "42704":  # undefined_object: slot or publication dropped
            if "publication" in text:
                return PgPublicationMissing(f"{self.ep.where}: {text}", detail=str(exc),
                                            hint="Restart the task with a full load.")
            return PgSlotMissing(f"{self.ep.where}: {text}", detail=str(exc), hint="Restart the task with a full load.")
        if code == "55006":  # object_in_use
            return PgSlotBusy(f"the replication slot {self.slot!r} on {self.ep.where} is in use by another connection",
                              detail=str(exc), hint="Retrying; if it persists, another process streams from this "
                              "slot (see pg_replication_slots.active_pid).")
        if code == "58P01" or (code == "55000" and "replication slot" in text):  # WAL removed / slot invalidated
            return PgSlotInvalidated(f"the replication slot {self.slot!r} on {self.ep.where} can no longer be "
                                     f"streamed: {text}", detail=str(exc),
                                     hint="Restart the task with a full load; raise max_slot_wal_keep_size to keep "
                                     "up during long pauses.")
        if code == "55000":  # e.g. logical decoding requires wal_level >= logical
            return PgReplicationError(f"cannot stream from {self.slot!r} on {self.ep.where}: {text}", detail=str(exc))
        return exc

    def stream(self, start: PgPosition, catalog: Catalog, stop: Callable[[], bool],
               *, heartbeat_s: float = HEARTBEAT_S) -> Iterator[Transaction]:
        """Committed transactions of catalog tables after ``start``, in commit order, until ``stop()``.

        Every commit that reaches us yields a Transaction (possibly with no events, e.g. when
        the published tables are in the publication but not in ``catalog``), and a heartbeat
        is yielded after ``heartbeat_s`` without one. ``stop()`` is looked at between
        messages and at least every ``POLL_S``.
        """
        if stop():
            return
        self._closed = False
        confirmed = self._preflight()
        # Feedback starts at what the slot already has: a flush LSN behind it would move it back.
        self.acknowledge(PgPosition(max(start.lsn, confirmed)))
        conn = self._replication_connection()
        done = threading.Event()
        feedback: threading.Thread | None = None
        with self._repl_lock:
            self._repl = conn
        try:
            cur = conn.cursor()
            self._start(cur, start)
            feedback = threading.Thread(target=self._feedback_loop, args=(conn, cur, done), daemon=True,
                                        name=f"pg-feedback-{self.slot}")
            feedback.start()
            decoder = PgOutputDecoder(catalog, ddl_log=self.capture.log_schema() if self.capture else None,
                                      start=start.lsn)
            last: Position = start
            last_yield = time.monotonic()
            while not stop():
                try:
                    with self._repl_lock:
                        msg = cur.read_message()
                except psycopg2.Error as exc:
                    if self._closed and isinstance(exc, psycopg2.InterfaceError):
                        return  # close() from another thread: an orderly end
                    translated = self._translate(exc)
                    if translated is exc:
                        raise
                    raise translated from exc
                if msg is not None:
                    payload = msg.payload
                    txn = decoder.feed(payload)
                    if txn is None:
                        if payload[0] != 0x43:  # only a Commit ('C') can leave a transaction in pieces
                            continue
                        parts = decoder.take_parts()
                        if parts is None:
                            continue
                        # A transaction with DDL, in pieces: after each DDL the pipeline applies it and
                        # reads the catalog again before it resumes us; the next piece is decoded after.
                        for part in parts:
                            last = part.position
                            last_yield = time.monotonic()
                            yield part
                            if part.ddl is not None:
                                decoder.refresh()
                        continue
                    last = txn.position
                    if txn.events or time.monotonic() - last_yield >= heartbeat_s:
                        # Commits without catalog changes (tables published but not selected; every
                        # commit before PostgreSQL 15) only move the position: at most one a beat.
                        last_yield = time.monotonic()
                        yield txn
                    continue
                now = time.monotonic()
                if now - last_yield >= heartbeat_s:
                    last_yield = now
                    yield Transaction(events=[], position=last, commit_ts=time.time())
                    continue
                try:
                    select.select([conn], [], [], min(POLL_S, max(0.0, last_yield + heartbeat_s - now)))
                except (psycopg2.InterfaceError, ValueError, OSError):
                    if self._closed:
                        return
                    raise
        finally:
            done.set()
            self._ack_event.set()
            with self._repl_lock:
                self._repl = None
                conn.close()
            if feedback is not None:
                feedback.join(timeout=5)

    def _feedback_loop(self, conn: Any, cur: Any, done: threading.Event) -> None:
        """Send flush = acknowledged every FEEDBACK_S and right after each acknowledgement.

        A thread rather than the stream loop so that feedback continues while the generator is
        suspended in ``yield`` (a slow consumer); ``_repl_lock`` keeps it off the cursor while
        the stream reads.
        """
        interval = FEEDBACK_S if self.wal_sender_timeout_s is None else min(FEEDBACK_S, self.wal_sender_timeout_s / 4)
        sent = -1
        last_sent = 0.0
        while not done.is_set():
            self._ack_event.wait(timeout=interval / 2)
            self._ack_event.clear()
            if done.is_set():
                return
            acked = self.acknowledged.lsn
            now = time.monotonic()
            if acked == sent and now - last_sent < interval:
                continue
            with self._repl_lock:
                if self._repl is not conn or conn.closed:
                    return
                try:
                    cur.send_feedback(write_lsn=acked, flush_lsn=acked, force=True)
                except psycopg2.Error as exc:  # the stream itself will see the broken connection and raise
                    log.debug("feedback on %s failed: %s", self.slot, exc)
                    return
            sent, last_sent = acked, now

    def close(self) -> None:
        """End a running stream's connection (its iterator then raises or returns) and forget it."""
        self._closed = True
        with self._repl_lock:
            conn, self._repl = self._repl, None
        if conn is not None:
            conn.close()
