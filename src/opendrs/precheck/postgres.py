"""PostgreSQL pre-check items (spec 4.1.6/4.1.7; the spec names none for PostgreSQL, so the names follow
the MySQL items where the question is the same and are new where it is PostgreSQL's own).

Every item queries the task's real source and/or target database and answers PASSED, ALARM
(worth knowing, does not block the start) or FAILED (blocks the start), with a reason that
names the setting or object at fault and the SQL that fixes it. Items only look at what the
task moves: the 4.1.5 selection (its "database" level is the PostgreSQL schema, see
``engines/postgres/discover.py``), renamed to its target names, and the task type (slot,
publication and WAL items only for tasks with an incremental phase).

The two connections are opened once, by the connection items, and shared; an item whose
server is unreachable reports "not checked" instead of a second connection error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import psycopg
from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.config import DEFAULT_DB, connect_args, ssl_params
from opendrs.engines.postgres.ddl import DdlCapture
from opendrs.engines.postgres.discover import META_SCHEMA, effective_selection, schemas
from opendrs.engines.postgres.errors import translate
from opendrs.engines.postgres.kit import replication_names
from opendrs.engines.postgres.params import Conn, connect, task_databases
from opendrs.engines.postgres.users import ident
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.jobs.states import JobStatus
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection
from opendrs.precheck.base import ItemList, NotChecked, Outcome, alarm, failed, passed, run_items

MINIMUM: Final = 12  # generated columns, pg_partition_root, TRUNCATE in pgoutput; 11 and older are end of life
NEWEST_TESTED: Final = 17
SAMPLE: Final = 50  # names listed in ``data``
MIN_SLOT_WAL_KEEP: Final = 1024  # MB; a smaller max_slot_wal_keep_size invalidates a slot after a short pause
MIN_TARGET_MAX_WAL: Final = 1024  # MB; below this the target checkpoints constantly during the full load
_DB_MISSING = re.compile(r'database ".*" does not exist')


def slot_name(job: Job) -> str:
    """The task's replication slot, named exactly as the engine names it (policy ``slot_name`` or the default)."""
    return replication_names(job)[0]


def qualified(ref: TableRef) -> str:
    return f"{ident(ref.schema)}.{ident(ref.name)}"


def names(refs: Iterable[TableRef]) -> list[str]:
    return sorted(str(r) for r in refs)[:SAMPLE]


class Server:
    """One endpoint of the task: a lazily opened connection to the task's database and facts about it."""

    def __init__(self, label: str, ep: EndpointConfig, dbname: str, item: str) -> None:
        self.label, self.ep, self.dbname, self.item = label, ep, dbname, item
        self._conn: Conn | None = None
        self.error: tuple[str, str] | None = None  # (message for the DBA, detail)
        self.database_missing = False  # connected to DEFAULT_DB because ``dbname`` does not exist (target)
        self._tried = False

    def open(self, fallback: bool = False) -> tuple[str, str] | None:
        if not self._tried:
            self._tried = True
            try:
                self._conn = connect(self.ep, self.dbname, "opendrs-precheck")
            except psycopg.Error as exc:
                if fallback and self.dbname != DEFAULT_DB and _DB_MISSING.search(str(exc)):
                    self.database_missing = True
                    try:
                        self._conn = connect(self.ep, DEFAULT_DB, "opendrs-precheck")
                        return None
                    except psycopg.Error as again:
                        exc = again
                result = translate(exc, self.ep)
                self.error = (result.error_msg or str(exc), result.detail or "")
        return self.error

    @property
    def conn(self) -> Conn:
        if self.open() is not None or self._conn is None:
            raise NotChecked(f"not checked: the {self.label} database is not reachable; fix {self.item} first")
        return self._conn

    @property
    def db_conn(self) -> Conn:
        """The connection to the task's database itself (not the fallback)."""
        conn = self.conn
        if self.database_missing:
            raise NotChecked(f"not checked: the {self.label} database {self.dbname!r} does not exist; fix "
                             "dstDbExistCheck first")
        return conn

    def rows(self, query: str, args: Any = None) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(query, args).fetchall())

    def db_rows(self, query: str | sql.Composed, args: Any = None) -> list[tuple[Any, ...]]:
        return list(self.db_conn.execute(query, args).fetchall())

    def setting(self, name: str) -> str:
        return str(self.rows("SELECT current_setting(%s)", (name,))[0][0])

    @cached_property
    def version_num(self) -> int:
        return int(self.setting("server_version_num"))

    @property
    def major(self) -> int:
        return self.version_num // 10000

    @cached_property
    def version(self) -> str:
        return self.setting("server_version")

    @cached_property
    def role(self) -> dict[str, Any]:
        """The connected account: name and the attributes the items ask about."""
        row = self.rows("SELECT rolname, rolsuper, rolreplication, rolcreatedb, rolcreaterole FROM pg_roles "
                        "WHERE rolname = current_user")[0]
        return {"name": str(row[0]), "superuser": bool(row[1]), "replication": bool(row[2]),
                "createdb": bool(row[3]), "createrole": bool(row[4])}

    @property
    def account(self) -> str:
        return ident(self.role["name"])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass(frozen=True)
class SourceTable:
    ref: TableRef
    root: TableRef  # the partitioned table it belongs to (itself when it is not a partition)
    kind: str  # relkind: r (table or leaf partition) | p (partitioned table)
    persistence: str  # p | u (unlogged) | t
    replident: str  # d (default: the primary key) | n | f (full) | i (index)
    partition: bool
    has_pk: bool
    unique_index: str | None  # a unique, non-partial, immediate index on NOT NULL columns
    owned: bool  # the account owns it (or is a member of its owner): needed to publish it
    can_select: bool
    owner: str


@dataclass
class PgCheckContext:
    job: Job
    src: Server
    dst: Server
    _tables: list[SourceTable] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, svc: Services, job: Job) -> PgCheckContext:
        src_db, dst_db = task_databases(job)
        return cls(job,
                   Server("source", endpoint_config(svc, job.config.get("source_endpoint") or {}), src_db,
                          "srcDbConnection"),
                   Server("target", endpoint_config(svc, job.config.get("target_endpoint") or {}), dst_db,
                          "dstDbConnection"))

    @property
    def incremental(self) -> bool:
        return self.job.task_type in ("FULL_INCR_TRANS", "INCR_TRANS")

    @property
    def incremental_only(self) -> bool:
        return self.job.task_type == "INCR_TRANS"

    @property
    def full(self) -> bool:
        return self.job.task_type != "INCR_TRANS"

    @property
    def starting(self) -> bool:
        """A first start (forStartJob) rather than a retry of a task that already ran."""
        return self.job.status is JobStatus.CONFIGURATION

    @cached_property
    def all_schemas(self) -> list[str]:
        return schemas(self.src.conn)

    @cached_property
    def selection(self) -> Selection:
        return effective_selection(Selection.from_config(self.job.config), self.src.dbname, self.all_schemas)

    @cached_property
    def schemas(self) -> list[str]:
        """Source schemas the selection names that exist."""
        return [s for s in self.all_schemas if self.selection.includes_database(s)]

    def all_tables(self) -> list[SourceTable]:
        """Tables and partitioned tables of every user schema (selected or not)."""
        if self._tables is None:
            rows = self.src.rows(
                """SELECT n.nspname, c.relname, rn.nspname, r.relname, c.relkind, c.relpersistence, c.relreplident,
                          c.relispartition,
                          EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                          (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                            WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indimmediate
                              AND i.indpred IS NULL AND i.indexprs IS NULL
                              AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(attnum)
                                               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                                              WHERE NOT a.attnotnull)
                            ORDER BY i.indisprimary DESC, ic.relname LIMIT 1),
                          pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT'),
                          pg_get_userbyid(c.relowner)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
                     JOIN pg_namespace rn ON rn.oid = r.relnamespace
                    WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                        AND d.objid = c.oid AND d.deptype = 'e')
                    ORDER BY 1, 2""", (self.all_schemas,))
            self._tables = [SourceTable(TableRef(str(r[0]), str(r[1])), TableRef(str(r[2]), str(r[3])), str(r[4]),
                                        str(r[5]), str(r[6]), bool(r[7]), bool(r[8]), r[9], bool(r[10]), bool(r[11]),
                                        str(r[12])) for r in rows]
        return self._tables

    def selected(self) -> list[SourceTable]:
        """Selected tables and partitions of selected partitioned tables (a partition goes with its root)."""
        return [t for t in self.all_tables() if self.selection.includes(t.root) and t.root.schema in self.schemas]

    def top_tables(self) -> list[SourceTable]:
        """The selected tables as the task names them: plain tables and partitioned roots, no partitions."""
        return [t for t in self.selected() if not t.partition]

    def leaves(self) -> list[SourceTable]:
        """The selected tables that hold rows (where logical decoding happens): plain tables and leaf partitions."""
        return [t for t in self.selected() if t.kind == "r"]

    def keyless_leaves(self) -> list[SourceTable]:
        return [t for t in self.leaves() if not t.has_pk and t.unique_index is None and t.persistence == "p"]

    def close(self) -> None:
        self.src.close()
        self.dst.close()


ITEMS: ItemList[PgCheckContext] = ItemList()


def _incremental(ctx: PgCheckContext) -> bool:
    return ctx.incremental


# --- network and versions -------------------------------------------------------------------------


def _connection(server: Server, fallback: bool = False) -> Outcome:
    error = server.open(fallback)
    if error is None:
        return passed({"version": server.version, "database": server.dbname})
    return failed(f"{error[0]}. Check the {server.label} endpoint's host, port, user, password and db_name (4.1.4), "
                  "the firewall between OpenDRS and the database, and that pg_hba.conf admits the account from the "
                  "OpenDRS host", raw_error_msg=error[1][:1024])


@ITEMS.add("srcDbConnection", "network", "the source connection")
def src_connection(ctx: PgCheckContext) -> Outcome:
    return _connection(ctx.src)


@ITEMS.add("dstDbConnection", "network", "the target connection")
def dst_connection(ctx: PgCheckContext) -> Outcome:
    return _connection(ctx.dst, fallback=True)


def version_support(label: str, major: int, text: str) -> Outcome:
    data = {"version": text}
    if major < MINIMUM:
        return failed(f"the {label} database runs PostgreSQL {text}; OpenDRS supports PostgreSQL {MINIMUM} or later "
                      f"(logical decoding of TRUNCATE and generated columns, pg_partition_root). Upgrade the {label} "
                      "database first", data)
    if major > NEWEST_TESTED:
        return alarm(f"the {label} database runs PostgreSQL {text}, newer than the newest version OpenDRS is tested "
                     f"with ({NEWEST_TESTED}). Run a test task on a copy first", data)
    return passed(data)


@ITEMS.add("srcDbVersionSupport", "db_version", "the source version")
def src_version(ctx: PgCheckContext) -> Outcome:
    return version_support("source", ctx.src.major, ctx.src.version)


@ITEMS.add("dstDbVersionSupport", "db_version", "the target version")
def dst_version(ctx: PgCheckContext) -> Outcome:
    return version_support("target", ctx.dst.major, ctx.dst.version)


def version_order(src_major: int, dst_major: int, data: dict[str, Any]) -> Outcome:
    if dst_major < src_major:
        return failed(f"the target (PostgreSQL {dst_major}) is older than the source (PostgreSQL {src_major}); "
                      "pg_dump output and types of a newer server may not load into an older one. Use a target of "
                      f"PostgreSQL {src_major} or later", data)
    return passed(data)


@ITEMS.add("dbVersionMeetRequirement", "db_version", "the source and target versions")
def versions(ctx: PgCheckContext) -> Outcome:
    return version_order(ctx.src.major, ctx.dst.major, {"source": ctx.src.version, "target": ctx.dst.version})


# --- privileges ---------------------------------------------------------------------------------------


def _walsender_error(server: Server) -> str | None:
    """Open a logical replication connection as the task will and run IDENTIFY_SYSTEM: the server's own
    verdict on the REPLICATION privilege, pg_hba.conf and free WAL senders together. None when it works."""
    args = connect_args(server.ep) | {"dbname": server.dbname, "replication": "database",
                                      "application_name": "opendrs-precheck", "autocommit": True}
    args.pop("options", None)
    try:
        with ssl_params(server.ep) as tls:
            conn = psycopg.connect(**(args | tls))
    except psycopg.Error as exc:
        return " ".join(str(exc).split())
    try:
        result = conn.pgconn.exec_(b"IDENTIFY_SYSTEM")
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            return " ".join((result.error_message or b"IDENTIFY_SYSTEM failed").decode(errors="replace").split())
        return None
    finally:
        conn.close()


def _src_privileges(ctx: PgCheckContext) -> Outcome:
    src = ctx.src
    role = src.role
    account = src.account
    problems: list[str] = []
    fixes: list[str] = []
    no_usage = [s for s in ctx.schemas if not src.rows("SELECT has_schema_privilege(%s, 'USAGE')", (s,))[0][0]]
    no_select = [t.ref for t in ctx.top_tables() if not t.can_select]
    sequences = src.rows("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE c.relkind = 'S' AND n.nspname = ANY(%s) AND CASE WHEN c.relkind = 'S' THEN NOT "
                         "(has_sequence_privilege(c.oid, 'SELECT') OR has_sequence_privilege(c.oid, 'USAGE')) END",
                         (ctx.schemas,)) if ctx.schemas else []
    no_seq = [TableRef(str(s), str(n)) for s, n in sequences]
    data: dict[str, Any] = {"account": role["name"], "superuser": role["superuser"],
                            "replication": role["replication"]}
    if no_usage:
        problems.append(f"USAGE on schema(s) {', '.join(no_usage[:SAMPLE])}")
        fixes += [f"GRANT USAGE ON SCHEMA {ident(s)} TO {account};" for s in no_usage[:SAMPLE]]
    if no_select or no_seq:
        problems.append(f"SELECT on {', '.join(names([*no_select, *no_seq]))}")
        fixes += [f"GRANT SELECT ON ALL TABLES IN SCHEMA {ident(s)} TO {account}; GRANT SELECT ON ALL SEQUENCES IN "
                  f"SCHEMA {ident(s)} TO {account};" for s in sorted({r.schema for r in [*no_select, *no_seq]})]
    data["no_usage_on"], data["no_select_on"] = no_usage[:SAMPLE], names([*no_select, *no_seq])
    if ctx.incremental:
        walsender = _walsender_error(src)
        data["replication_connection"] = walsender or "ok"
        if walsender is not None:
            problems.append(f"a logical replication connection (the server says: {walsender})")
            if "pg_hba" in walsender:
                fixes.append(f"add a pg_hba.conf line admitting {role['name']} to database {src.dbname} from the "
                             "OpenDRS host and reload the server;")
            elif not (role["superuser"] or role["replication"]):
                fixes.append(f"ALTER ROLE {account} WITH REPLICATION;")
        if not role["superuser"]:
            # CREATE PUBLICATION ... FOR TABLE needs CREATE on the database and ownership of every table.
            if not src.rows("SELECT has_database_privilege(current_database(), 'CREATE')")[0][0]:
                problems.append(f"CREATE on database {src.dbname} (to create the task's publication)")
                fixes.append(f"GRANT CREATE ON DATABASE {ident(src.dbname)} TO {account};")
            foreign = [t for t in ctx.top_tables() if not t.owned]
            if foreign:
                owners = sorted({t.owner for t in foreign})
                problems.append(f"ownership of {', '.join(names(t.ref for t in foreign))} (only a table's owner or a "
                                "superuser may add it to a publication)")
                if len(foreign) <= 5:
                    fixes += [f"ALTER TABLE {qualified(t.ref)} OWNER TO {account};" for t in foreign]
                    fixes.append(f"(or make the account a member of the owning role: GRANT "
                                 f"{', '.join(ident(o) for o in owners)} TO {account};)")
                else:
                    fixes.append(f"GRANT {', '.join(ident(o) for o in owners)} TO {account}; (membership in the "
                                 "owning roles)")
                data["not_owned"] = names(t.ref for t in foreign)
    if problems:
        return failed(f"the source account {account} lacks {'; '.join(problems)}. Run on the source: "
                      f"{' '.join(fixes)}", data)
    return passed(data)


@ITEMS.add("srcDbPrivilegesIsEnoughForIncre", "db_user_privilege", "the source account's privileges",
           applies=_incremental)
def src_privileges_incre(ctx: PgCheckContext) -> Outcome:
    return _src_privileges(ctx)


@ITEMS.add("srcDbPrivilegesIsEnoughForFull", "db_user_privilege", "the source account's privileges",
           applies=lambda ctx: not ctx.incremental)
def src_privileges_full(ctx: PgCheckContext) -> Outcome:
    return _src_privileges(ctx)


@ITEMS.add("dstDbExistCheck", "db_params", "the target database")
def target_database(ctx: PgCheckContext) -> Outcome:
    dst = ctx.dst
    dst.conn  # noqa: B018 - raises NotChecked when the target is unreachable
    if not dst.database_missing:
        return passed({"database": dst.dbname, "exists": True})
    source, created = _database_facts(ctx.src), _database_facts(dst)  # CREATE DATABASE copies template1
    data = {"database": dst.dbname, "exists": False, "source": source, "would_be_created_as": created}
    yourself = (f"CREATE DATABASE {ident(dst.dbname)} ENCODING '{source[0]}' LC_COLLATE '{source[1]}' LC_CTYPE "
                f"'{source[2]}' TEMPLATE template0 OWNER {dst.account};")
    if not (dst.role["superuser"] or dst.role["createdb"]):
        return failed(f"the target database {dst.dbname!r} does not exist and the target account {dst.account} may "
                      f"not create it. Create it on the target with the source's encoding and locale: {yourself} (or "
                      f"ALTER ROLE {dst.account} CREATEDB; and OpenDRS creates it)", data)
    if (source[0], _locale(source[1]), _locale(source[2])) != (created[0], _locale(created[1]), _locale(created[2])):
        return alarm(f"the target database {dst.dbname!r} does not exist; OpenDRS would create it like template1, "
                     f"with encoding {created[0]} and locale {created[1]}/{created[2]}, while the source database has "
                     f"{source[0]} and {source[1]}/{source[2]}. To keep them equal, create it first on the target: "
                     f"{yourself}", data)
    return passed(data)


@ITEMS.add("dstDbPrivilegesIsEnough", "db_user_privilege", "the target account's privileges")
def dst_privileges(ctx: PgCheckContext) -> Outcome:
    dst = ctx.dst
    account = dst.account
    data: dict[str, Any] = {"account": dst.role["name"], "superuser": dst.role["superuser"]}
    users = bool((ctx.job.config.get("user_migration") or {}).get("is_migrate_user"))
    if dst.role["superuser"]:
        return passed(data)
    if dst.database_missing:  # OpenDRS creates it (dstDbExistCheck) and, as its owner, may do everything in it
        if users and not dst.role["createrole"]:
            return failed(f"the target account {account} lacks CREATEROLE (user migration creates the selected "
                          f"roles). Run on the target: ALTER ROLE {account} WITH CREATEROLE;", data)
        return passed(data)
    wanted = sorted({ctx.selection.target_database(s) for s in ctx.schemas} | {META_SCHEMA})
    rows = dst.db_rows("SELECT nspname, has_schema_privilege(oid, 'USAGE'), has_schema_privilege(oid, 'CREATE') "
                       "FROM pg_namespace WHERE nspname = ANY(%s)", (wanted,))
    existing = {str(n): (bool(u), bool(c)) for n, u, c in rows}
    problems: list[str] = []
    fixes: list[str] = []
    missing = [s for s in wanted if s not in existing]
    if missing and not dst.db_rows("SELECT has_database_privilege(current_database(), 'CREATE')")[0][0]:
        problems.append(f"CREATE on database {dst.dbname} (to create the schema(s) {', '.join(missing[:SAMPLE])})")
        fixes.append(f"GRANT CREATE ON DATABASE {ident(dst.dbname)} TO {account};")
    short = [s for s, (usage, create) in existing.items() if not (usage and create)]
    if short:
        problems.append(f"USAGE and CREATE on schema(s) {', '.join(short[:SAMPLE])}")
        fixes += [f"GRANT USAGE, CREATE ON SCHEMA {ident(s)} TO {account};" for s in short[:SAMPLE]]
    targets = [ctx.selection.target(t.ref) for t in ctx.top_tables()]
    present = _target_relations(ctx, targets)
    write = [r for r, (kind, writable) in present.items() if kind in ("r", "p") and not writable]
    if write:
        problems.append("SELECT, INSERT, UPDATE, DELETE and TRUNCATE on the existing target table(s) "
                        f"{', '.join(names(write))}")
        fixes += [f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {ident(s)} TO {account};"
                  for s in sorted({r.schema for r in write})]
    if users and not dst.role["createrole"]:
        problems.append("CREATEROLE (user migration creates the selected roles)")
        fixes.append(f"ALTER ROLE {account} WITH CREATEROLE;")
    data.update(missing_schemas=missing[:SAMPLE], schemas_without_create=short[:SAMPLE],
                tables_not_writable=names(write))
    if problems:
        return failed(f"the target account {account} lacks {'; '.join(problems)} (OpenDRS creates the schemas and "
                      f"tables, writes the rows and keeps its checkpoints in schema {META_SCHEMA}). Run on the target: "
                      f"{' '.join(fixes)}", data)
    return passed(data)


def _target_relations(ctx: PgCheckContext, refs: list[TableRef]) -> dict[TableRef, tuple[str, bool]]:
    """Target relations with the names of ``refs``: (relkind, whether the account may read and write rows)."""
    if not refs or ctx.dst.database_missing:
        return {}
    rows = ctx.dst.db_rows(
        """SELECT n.nspname, c.relname, c.relkind,
                  has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
                    AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE')
                    AND has_table_privilege(c.oid, 'TRUNCATE')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')""",
        ([r.schema for r in refs], [r.name for r in refs]))
    return {TableRef(str(s), str(n)): (str(k), bool(w)) for s, n, k, w in rows}


# --- logical replication on the source (tasks with an incremental phase) --------------------------------

_RESTART = "then restart the source server (this setting takes effect only at start-up)"


@ITEMS.add("srcWalLevelCheck", "db_params", "wal_level on the source", applies=_incremental)
def wal_level(ctx: PgCheckContext) -> Outcome:
    value = ctx.src.setting("wal_level")
    if value == "logical":
        return passed({"wal_level": value})
    return failed(f"wal_level is {value} on the source; logical decoding needs logical. Run ALTER SYSTEM SET "
                  f"wal_level = logical; on the source, {_RESTART}", {"wal_level": value})


def slots_needed(ctx: PgCheckContext) -> int:
    """The task's slot, plus a temporary one while a table without a key is copied from an exported snapshot."""
    return 1 + (1 if ctx.full and ctx.keyless_leaves() else 0)


@ITEMS.add("srcReplicationSlotsCheck", "db_params", "max_replication_slots on the source", applies=_incremental)
def replication_slots(ctx: PgCheckContext) -> Outcome:
    src = ctx.src
    limit = int(src.setting("max_replication_slots"))
    slots = src.rows("SELECT slot_name, slot_type, active FROM pg_replication_slots ORDER BY slot_name")
    own = slot_name(ctx.job)
    used = sum(1 for s in slots if s[0] != own)
    needed = slots_needed(ctx)
    idle = [str(s[0]) for s in slots if not s[2] and s[0] != own]
    data = {"max_replication_slots": limit, "in_use": used, "needed": needed, "inactive_slots": idle[:SAMPLE]}
    if limit - used >= needed:
        return passed(data)
    drop = (f" or drop slots nothing uses any more (inactive now: {', '.join(idle[:SAMPLE])}) with SELECT "
            "pg_drop_replication_slot('<name>');") if idle else ""
    return failed(f"the source has {max(limit - used, 0)} free replication slot(s) (max_replication_slots = {limit}, "
                  f"{used} in use) and the task needs {needed}. Run ALTER SYSTEM SET max_replication_slots = "
                  f"{used + needed + 2}; on the source, {_RESTART}{drop}", data)


@ITEMS.add("srcWalSendersCheck", "db_params", "max_wal_senders on the source", applies=_incremental)
def wal_senders(ctx: PgCheckContext) -> Outcome:
    src = ctx.src
    limit = int(src.setting("max_wal_senders"))
    # Not our own IDENTIFY_SYSTEM probe (srcDbPrivilegesIsEnoughForIncre), which may still be exiting.
    used = int(src.rows("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' "
                        "AND application_name IS DISTINCT FROM 'opendrs-precheck'")[0][0])
    needed = slots_needed(ctx)
    data = {"max_wal_senders": limit, "in_use": used, "needed": needed}
    if limit - used >= needed:
        return passed(data)
    return failed(f"the source has {max(limit - used, 0)} free WAL sender(s) (max_wal_senders = {limit}, {used} in "
                  f"use) and the task needs {needed} (one streams the changes, one exports a snapshot for tables "
                  f"without a key). Run ALTER SYSTEM SET max_wal_senders = {used + needed + 2}; on the source, "
                  f"{_RESTART}", data)


@ITEMS.add("srcReplicationSlotNameCheck", "db_params", "the task's replication slot on the source",
           applies=_incremental)
def slot_in_use(ctx: PgCheckContext) -> Outcome:
    name = slot_name(ctx.job)
    rows = ctx.src.rows("SELECT slot_type, plugin, database, active_pid, wal_status FROM pg_replication_slots "
                        "WHERE slot_name = %s", (name,))
    choose = f"Choose another slot_name with 4.3.2 batch-sync-policy, or drop it if nothing uses it: SELECT " \
             f"pg_drop_replication_slot('{name}');"
    if not rows:
        if ctx.starting or ctx.job.status is JobStatus.START_JOB_FAILED:  # created when the start gets that far
            return passed({"slot_name": name, "exists": False})
        return failed(f"the task's replication slot {name} no longer exists on the source, so the changes since the "
                      "task's position are gone. Restart the task with a full load (a new task), which creates the "
                      "slot again", {"slot_name": name, "exists": False})
    slot_type, plugin, database, active_pid, wal_status = rows[0]
    data = {"slot_name": name, "slot_type": slot_type, "plugin": plugin, "database": database,
            "active_pid": active_pid, "wal_status": wal_status}
    if slot_type != "logical" or plugin != "pgoutput" or database != ctx.src.dbname:
        return failed(f"a replication slot named {name} already exists on the source ({slot_type} slot, plugin "
                      f"{plugin}, database {database}) and is not one this task can use. {choose}", data)
    if ctx.starting:
        busy = f" and is in use by process {active_pid}" if active_pid else ""
        return failed(f"a replication slot named {name} already exists on the source{busy}; a new task must start "
                      f"from a slot it creates itself. {choose}", data)
    if wal_status == "lost":
        return failed(f"the task's replication slot {name} was invalidated (the WAL it needs was removed because "
                      "of max_slot_wal_keep_size). Restart the task with a full load", data)
    return passed(data)


@ITEMS.add("srcWalRetentionCheck", "db_params", "WAL retention for the task's slot", applies=_incremental)
def wal_retention(ctx: PgCheckContext) -> Outcome:
    src = ctx.src
    keep = int(src.rows("SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")[0][0])
    data = {"max_slot_wal_keep_size_mb": keep, "max_wal_size": src.setting("max_wal_size"),
            "wal_keep_size": src.setting("wal_keep_size")}
    if 0 <= keep < MIN_SLOT_WAL_KEEP:
        return alarm(f"max_slot_wal_keep_size is {keep}MB on the source: when the task is paused or falls behind by "
                     "more WAL than that, the server invalidates its slot and the task must start over with a full "
                     "load. Keep more: ALTER SYSTEM SET max_slot_wal_keep_size = '16GB'; SELECT pg_reload_conf(); "
                     "(-1 keeps all WAL the slot needs: watch the source's disk while the task is paused)", data)
    return passed(data)


def ddl_requested(ctx: PgCheckContext) -> bool:
    """DDL replication is asked for: a task with an incremental phase and 4.3.2 ddl_trans on (the default)."""
    policy = ctx.job.config.get("policy") or {}
    return ctx.incremental and str(policy.get("ddl_trans", True)).lower() not in ("false", "0")


@ITEMS.add("srcDdlCaptureCheck", "db_params", "DDL capture on the source", applies=ddl_requested)
def ddl_capture(ctx: PgCheckContext) -> Outcome:
    """Event triggers (how DDL is captured, see ``engines/postgres/ddl.py``) can only be created by a superuser."""
    src = ctx.src
    capture = DdlCapture(replication_names(ctx.job)[1])
    triggers = [str(r[0]) for r in src.db_rows("SELECT evtname FROM pg_event_trigger WHERE evtname = ANY(%s)",
                                               (list(capture.triggers),))]
    data = {"superuser": src.role["superuser"], "event_triggers": triggers}
    if src.role["superuser"] or len(triggers) == len(capture.triggers):
        return passed(data)
    return alarm(f"DDL on the source will not be replicated: it is captured by an event trigger, and only a "
                 f"superuser can create one ({src.role['name']} is not). The task runs without it; apply schema "
                 "changes on the target yourself (rows of an altered table fail on the target until you do). To "
                 f"replicate DDL, run ALTER ROLE {src.account} SUPERUSER; on the source (or use a superuser source "
                 "account) before the start; to silence this, set ddl_trans to false with 4.3.2 batch-sync-policy",
                 data)


@ITEMS.add("dstMaxWalSizeCheck", "db_params", "max_wal_size on the target", applies=lambda ctx: ctx.full)
def target_max_wal(ctx: PgCheckContext) -> Outcome:
    mb = int(ctx.dst.rows("SELECT setting::bigint FROM pg_settings WHERE name = 'max_wal_size'")[0][0])
    data = {"max_wal_size_mb": mb}
    if mb < MIN_TARGET_MAX_WAL:
        return alarm(f"max_wal_size is {mb}MB on the target: the full load writes WAL fast and forces a checkpoint "
                     "after every few MB, which slows it down. For the load: ALTER SYSTEM SET max_wal_size = '4GB'; "
                     "SELECT pg_reload_conf(); on the target", data)
    return passed(data)


# --- the selected objects -----------------------------------------------------------------------------


@ITEMS.add("userSelectObjectsCheck", "db_params", "the selected schemas and tables on the source")
def selected_objects_exist(ctx: PgCheckContext) -> Outcome:
    selection = ctx.selection
    if selection.everything:
        return passed({"schemas": len(ctx.schemas)})
    known = {t.ref for t in ctx.all_tables()}
    views = {TableRef(str(s), str(n)) for s, n in ctx.src.rows(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('v', 'm', 'f') AND n.nspname = ANY(%s)", (ctx.all_schemas,))}
    missing = [s for s in selection.databases if s not in ctx.all_schemas]
    for schema, tables in selection.databases.items():
        if schema in ctx.all_schemas:
            missing += [str(TableRef(schema, t)) for t in sorted(tables or ())
                        if TableRef(schema, t) not in known | views]
    if missing:
        return failed(f"{len(missing)} selected object(s) do not exist in source database {ctx.src.dbname}: "
                      f"{', '.join(missing[:SAMPLE])}. Select existing schemas and tables with 4.1.5 "
                      "batch-select-objects (the source endpoint's db_name picks the database)",
                      {"missing": missing[:SAMPLE]})
    return passed()


def identity_fix(t: SourceTable) -> str:
    if t.unique_index:
        return f"ALTER TABLE {qualified(t.ref)} REPLICA IDENTITY USING INDEX {ident(t.unique_index)};"
    return f"ALTER TABLE {qualified(t.ref)} REPLICA IDENTITY FULL;"


@ITEMS.add("srcTableReplicaIdentityCheck", "db_params", "primary keys and replica identity of the selected tables")
def replica_identity(ctx: PgCheckContext) -> Outcome:
    leaves = [t for t in ctx.leaves() if t.persistence == "p"]
    # Default identity is the primary key; without one (or with NOTHING) UPDATE/DELETE carry no old key.
    unidentified = [t for t in leaves if (t.replident == "d" and not t.has_pk) or t.replident == "n"]
    keyless_full = [t for t in leaves if t.replident == "f" and not t.has_pk and t.unique_index is None]
    data = {"without_identity": names(t.ref for t in unidentified), "keyless_full": names(t.ref for t in keyless_full)}
    if unidentified and ctx.incremental:
        fixes = " ".join(identity_fix(t) for t in unidentified[:SAMPLE])
        return failed(f"{len(unidentified)} selected table(s) have no replica identity (no primary key and REPLICA "
                      f"IDENTITY DEFAULT, or NOTHING): {', '.join(names(t.ref for t in unidentified))}. Once they are "
                      "in the task's publication, UPDATE and DELETE on them fail on the source (\"cannot update table "
                      "... because it does not have a replica identity\") and their changes could not be applied. "
                      f"Give each an identity on the source (or add a primary key): {fixes}", data)
    keyless = keyless_full + ([t for t in unidentified if t.unique_index is None] if not ctx.incremental else [])
    if keyless:
        return alarm(f"{len(keyless)} selected table(s) have no primary key or NOT NULL unique key: "
                     f"{', '.join(names(t.ref for t in keyless))}. Changes are matched by the full old row, which is "
                     "slower, and if a table holds identical duplicate rows an update or delete may hit a different "
                     "copy than on the source; the full load copies such a table in one piece. Add a key, e.g. ALTER "
                     f"TABLE {qualified(keyless[0].ref)} ADD PRIMARY KEY (<columns>);", data)
    return passed(data)


@ITEMS.add("srcUnloggedTableCheck", "db_params", "unlogged tables in the selection")
def unlogged(ctx: PgCheckContext) -> Outcome:
    found = [t for t in ctx.selected() if t.persistence == "u"]
    if not found:
        return passed()
    return alarm(f"{len(found)} selected table(s) are UNLOGGED: {', '.join(names(t.ref for t in found))}. Their "
                 "changes never reach the WAL, so logical decoding cannot see them; OpenDRS leaves them out (neither "
                 "copied nor replicated). To include one, make it logged on the source: ALTER TABLE "
                 f"{qualified(found[0].ref)} SET LOGGED;", {"tables": names(t.ref for t in found)})


@ITEMS.add("srcGeneratedColumnCheck", "db_params", "generated columns of the selected tables")
def generated_columns(ctx: PgCheckContext) -> Outcome:
    chosen = {t.ref for t in ctx.top_tables()}
    rows = ctx.src.rows(
        "SELECT DISTINCT n.nspname, c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attgenerated <> '' AND a.attnum > 0 "
        "AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)",
        (ctx.schemas,)) if ctx.schemas else []
    found = [ref for ref in (TableRef(str(s), str(n)) for s, n in rows) if ref in chosen]
    if not found:
        return passed()
    return alarm(f"{len(found)} selected table(s) have generated columns: {', '.join(names(found))}. Their values "
                 "are not copied: the target computes them again from its own copy of the expression, so an "
                 "expression that calls a function behaving differently on the target (another version, settings or "
                 "extension) gives different values. Compare those columns after the full load",
                 {"tables": names(found)})


@ITEMS.add("hasForeignKeyOnUnselectedTable", "db_params", "foreign keys of the selected tables")
def foreign_keys(ctx: PgCheckContext) -> Outcome:
    if not ctx.schemas:
        return passed()
    rows = ctx.src.rows(
        "SELECT DISTINCT n.nspname, c.relname, fn.nspname, f.relname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace "
        "WHERE k.contype = 'f' AND k.conparentid = 0 AND n.nspname = ANY(%s)", (ctx.schemas,))
    chosen = {t.ref for t in ctx.top_tables()}
    dangling = sorted(f"{TableRef(str(s), str(n))} -> {TableRef(str(ps), str(pn))}" for s, n, ps, pn in rows
                      if TableRef(str(s), str(n)) in chosen and (not ctx.selection.includes(TableRef(str(ps), str(pn)))
                                                                 or str(ps) not in ctx.schemas))
    if dangling:
        return alarm(f"{len(dangling)} selected table(s) have foreign keys to tables that are not selected: "
                     f"{', '.join(dangling[:SAMPLE])}. On the target those keys point at missing tables, so creating "
                     "them fails or inserts into the child tables are rejected. Select the referenced tables too, or "
                     "drop those foreign keys", {"foreign_keys": dangling[:SAMPLE]})
    return passed()


@ITEMS.add("checkIncreSrcDbExistedInDstDb", "db_params", "the selected tables on the target")
def target_conflicts(ctx: PgCheckContext) -> Outcome:
    targets = [ctx.selection.target(t.ref) for t in ctx.top_tables()]
    present = _target_relations(ctx, targets)
    kinds = {"v": "a view", "m": "a materialized view", "f": "a foreign table", "S": "a sequence",
             "c": "a composite type"}
    clash = sorted(f"{r} ({kinds[k]})" for r, (k, _) in present.items() if k in kinds)
    if clash:
        return failed(f"{len(clash)} selected table(s) have the name of another kind of object on the target: "
                      f"{', '.join(clash[:SAMPLE])}, so the table cannot be created. Drop or rename those objects on "
                      "the target, or give the tables other names (object_alias_name)", {"conflicts": clash[:SAMPLE]})
    tables = [r for r, (k, _) in present.items() if k in ("r", "p")]
    if ctx.incremental_only:
        absent = [r for r in targets if r not in present]
        if absent:
            return alarm(f"{len(absent)} selected table(s) do not exist on the target: {', '.join(names(absent))}. "
                         "An incremental-only task copies changes, not the rows the source already has: load them "
                         "first (or use FULL_INCR_TRANS)", {"missing": names(absent)})
        return passed({"existing": len(tables)})
    non_empty = [r for r in tables if ctx.dst.db_rows(sql.SQL("SELECT 1 FROM {}.{} LIMIT 1").format(
        sql.Identifier(r.schema), sql.Identifier(r.name)))]
    if not non_empty:
        return passed({"existing_empty": names(tables)})
    what = (f"{len(non_empty)} selected table(s) already exist on the target and hold rows: "
            f"{', '.join(names(non_empty))}.")
    fix = (f"Empty them on the target (TRUNCATE TABLE {qualified(non_empty[0])}), drop them, or deselect them")
    if ctx.job.db_use_type == "sync":
        return alarm(f"{what} The source's rows are written over rows with the same key (conflict_policy decides) "
                     f"and the target keeps rows the source does not have. {fix} if that is not intended",
                     {"tables": names(non_empty)})
    return failed(f"{what} A migration would mix their rows with the source's. {fix}", {"tables": names(non_empty)})


# --- what must agree between the two databases -------------------------------------------------------


def extension_gaps(source: dict[str, str], installed: dict[str, str], available: dict[str, tuple[str, bool, bool]],
                   superuser: bool) -> tuple[list[str], list[str], list[str]]:
    """(missing on the target, needing a superuser to create, version differences) for the source's extensions.

    ``available``: name -> (default version, superuser needed, trusted) from the target's
    ``pg_available_extension_versions`` for its default version.
    """
    missing, needs_superuser, versions_ = [], [], []
    for name, version in sorted(source.items()):
        if name in installed:
            if installed[name] != version:
                versions_.append(f"{name} {version} on the source, {installed[name]} on the target")
            continue
        if name not in available:
            missing.append(name)
            continue
        default, superuser_needed, trusted = available[name]
        if superuser_needed and not trusted and not superuser:
            needs_superuser.append(name)
        if default != version:
            versions_.append(f"{name} {version} on the source, {default} would be created on the target")
    return missing, needs_superuser, versions_


@ITEMS.add("srcExtensionsAvailableInDst", "db_params", "the source's extensions on the target")
def extensions(ctx: PgCheckContext) -> Outcome:
    source = {str(n): str(v) for n, v in ctx.src.rows("SELECT extname, extversion FROM pg_extension "
                                                      "WHERE extname <> 'plpgsql'")}
    if not source:
        return passed()
    installed = {} if ctx.dst.database_missing else {
        str(n): str(v) for n, v in ctx.dst.db_rows("SELECT extname, extversion FROM pg_extension")}
    available = {str(n): (str(v), bool(s), bool(t)) for n, v, s, t in ctx.dst.rows(
        "SELECT e.name, e.default_version, v.superuser, v.trusted FROM pg_available_extensions e "
        "JOIN pg_available_extension_versions v ON v.name = e.name AND v.version = e.default_version "
        "WHERE e.name = ANY(%s)", (list(source),))}
    missing, needs_superuser, versions_ = extension_gaps(source, installed, available, ctx.dst.role["superuser"])
    data = {"source": source, "missing": missing, "need_superuser": needs_superuser, "versions": versions_}
    if missing or needs_superuser:
        what = []
        if missing:
            what.append(f"the target server has no extension {', '.join(missing)} installed (not in "
                        f"pg_available_extensions): install its package on the target host (e.g. "
                        f"postgresql-{ctx.dst.major}-<extension>) and then CREATE EXTENSION {missing[0]}; in "
                        f"database {ctx.dst.dbname}")
        if needs_superuser:
            what.append(f"extension(s) {', '.join(needs_superuser)} can only be created by a superuser and the "
                        f"target account {ctx.dst.account} is not one: a superuser runs CREATE EXTENSION "
                        f"{needs_superuser[0]}; in database {ctx.dst.dbname} on the target")
        return failed("the selected database uses extensions the target cannot provide: " + "; ".join(what)
                      + ". Tables and functions that use them cannot be created otherwise", data)
    if versions_:
        return alarm(f"extension versions differ: {'; '.join(versions_)}. Functions, operators and types they provide "
                     "may behave differently; update the target's extensions (ALTER EXTENSION <name> UPDATE;) or "
                     "check what changed between those versions", data)
    return passed(data)


def _database_facts(server: Server) -> tuple[str, str, str]:
    """(encoding, lc_collate, lc_ctype) of the task's database; template1's when it does not exist yet."""
    row = server.rows("SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = "
                      "CASE WHEN %s THEN 'template1' ELSE current_database() END", (server.database_missing,))[0]
    return str(row[0]), str(row[1]), str(row[2])


def _recreate(ctx: PgCheckContext, encoding: str, collate: str, ctype: str) -> str:
    how = ("It does not exist yet and would be created like template1: create it first on the target"
           if ctx.dst.database_missing else "Create the target database again (empty it first)")
    return (f"{how} with the source's settings: CREATE DATABASE {ident(ctx.dst.dbname)} ENCODING '{encoding}' "
            f"LC_COLLATE '{collate}' LC_CTYPE '{ctype}' TEMPLATE template0;")


@ITEMS.add("dbEncodingConsistency", "db_params", "the database encodings")
def encoding(ctx: PgCheckContext) -> Outcome:
    src, dst = _database_facts(ctx.src), _database_facts(ctx.dst)
    data = {"source": src[0], "target": dst[0]}
    if src[0] == dst[0]:
        return passed(data)
    if dst[0] == "UTF8" and src[0] != "SQL_ASCII":
        return alarm(f"the source database is encoded in {src[0]} and the target in UTF8: text is converted on the "
                     "way and every character fits, but lengths in bytes and the encoding applications see differ. "
                     f"{_recreate(ctx, *src)}", data)
    return failed(f"the source database is encoded in {src[0]} and the target in {dst[0]}: "
                  + ("SQL_ASCII stores bytes unchecked, so text may not convert at all"
                     if src[0] == "SQL_ASCII" else f"characters that {dst[0]} cannot represent fail to load")
                  + f". {_recreate(ctx, *src)}", data)


def _locale(value: str) -> str:
    """``C.UTF-8`` and ``C.utf8`` are one locale."""
    return value.lower().replace("-", "")


@ITEMS.add("dbLocaleConsistency", "db_params", "lc_collate and lc_ctype of the databases")
def locale(ctx: PgCheckContext) -> Outcome:
    src, dst = _database_facts(ctx.src), _database_facts(ctx.dst)
    data = {"source": {"lc_collate": src[1], "lc_ctype": src[2]}, "target": {"lc_collate": dst[1], "lc_ctype": dst[2]}}
    differ = [name for name, a, b in (("lc_collate", src[1], dst[1]), ("lc_ctype", src[2], dst[2]))
              if _locale(a) != _locale(b)]
    if not differ:
        return passed(data)
    return alarm(f"{' and '.join(differ)} differ between the source ({src[1]}/{src[2]}) and the target "
                 f"({dst[1]}/{dst[2]}): ORDER BY, range conditions, upper()/lower() and indexes on text behave "
                 f"differently for applications on the target. {_recreate(ctx, *src)}", data)


@ITEMS.add("dstStatusCheck", "db_target_status", "whether the target accepts writes")
def target_writable(ctx: PgCheckContext) -> Outcome:
    recovery, read_only = ctx.dst.rows(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')")[0]
    data = {"in_recovery": bool(recovery), "default_transaction_read_only": str(read_only)}
    if recovery:
        return failed("the target is a standby (pg_is_in_recovery() is true) and accepts no writes. Use the primary "
                      "server as the target, or promote this one (pg_ctl promote / SELECT pg_promote();)", data)
    if str(read_only) == "on":
        return failed(f"default_transaction_read_only is on for the target account in database {ctx.dst.dbname}, so "
                      "OpenDRS cannot write. Run on the target: ALTER DATABASE "
                      f"{ident(ctx.dst.dbname)} SET default_transaction_read_only = off; (or ALTER SYSTEM SET "
                      "default_transaction_read_only = off; SELECT pg_reload_conf(); or ALTER ROLE ... SET, wherever "
                      "it is set)", data)
    return passed(data)


# --- entry point -------------------------------------------------------------------------------------------

DRIVER_ERRORS: Final = (psycopg.Error, OSError)


def run_precheck(svc: Services, job: Job) -> list[dict[str, Any]]:
    """The ``PRECHECKS`` function for PostgreSQL engine types: every applicable item, in order."""
    ctx = PgCheckContext.build(svc, job)
    try:
        return run_items(ITEMS.items, ctx, DRIVER_ERRORS)
    finally:
        ctx.close()
