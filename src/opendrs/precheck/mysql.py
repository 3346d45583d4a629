"""MySQL/MariaDB pre-check items (spec 4.1.6/4.1.7, item names of DIGEST §6 where the spec has one).

Every item queries the task's real source and/or target and answers PASSED, ALARM (worth
knowing, does not block the start) or FAILED (blocks the start), with a reason that names the
setting or object at fault and the SQL or configuration change that fixes it. Items only look
at what the task moves: the 4.1.5 selection, renamed to its target names, and the task type
(binlog items only for tasks with an incremental phase).

The two connections are opened once, by the connection items, and shared; an item whose
server is unreachable reports "not checked" instead of a second connection error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import pymysql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.engines.mysql.params import global_variables
from opendrs.engines.mysql.users import Grants, show_grants
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection
from opendrs.precheck.base import ItemList, NotChecked, Outcome, alarm, failed, passed, run_items

if TYPE_CHECKING:
    from opendrs.engines.mysql.params import Conn

READ_TIMEOUT: Final = 60.0
SYSTEM_DATABASES: Final = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
DATA_TABLE_TYPES: Final = frozenset({"BASE TABLE", "SYSTEM VERSIONED"})
TRANSACTIONAL_ENGINES: Final = frozenset({"INNODB", "ROCKSDB", "TOKUDB"})
META_DB: Final = "opendrs_meta"  # where the target keeps checkpoints (engines/mysql/target.py)
MINIMUM: Final = {"MySQL": (5, 6), "MariaDB": (10, 2)}
UNSUPPORTED_NAME_CHARS: Final = frozenset(".<>/\\'\"`")
CLOCK_SKEW_SECONDS: Final = 60
SAMPLE: Final = 50  # names listed in ``data``

# Privileges as data, so they follow what the engine really runs.
SRC_NEEDS: Final = ("SELECT",)
SRC_NEEDS_INCR: Final = ("REPLICATION SLAVE", "REPLICATION CLIENT")  # binlog dump, SHOW MASTER STATUS
# MySQL has no lock-free snapshot position: FLUSH TABLES WITH READ LOCK for a moment (engines/mysql/source.py).
SRC_NEEDS_FULL_MYSQL: Final = ("RELOAD",)
SRC_RECOMMENDED: Final = ("SHOW VIEW", "TRIGGER", "EVENT")  # reading view, trigger and event definitions
DST_NEEDS: Final = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX")
DST_RECOMMENDED: Final = ("CREATE VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "TRIGGER", "EVENT", "REFERENCES")


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def names(refs: Iterable[TableRef]) -> list[str]:
    return sorted(str(r) for r in refs)[:SAMPLE]


@dataclass(frozen=True)
class ServerVersion:
    flavour: str  # "MySQL" | "MariaDB"
    numbers: tuple[int, int, int]
    text: str

    @classmethod
    def parse(cls, text: str) -> ServerVersion:
        """From ``SELECT VERSION()`` (``10.11.6-MariaDB-log``, ``8.0.35``) or a handshake (``5.5.5-10.11.6-...``)."""
        maria = "mariadb" in text.lower()
        body = re.sub(r"^5\.5\.5-", "", text) if maria else text
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", body)
        nums = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (0, 0, 0)
        return cls("MariaDB" if maria else "MySQL", nums, text)

    @property
    def supported(self) -> bool:
        return self.numbers[:2] >= MINIMUM[self.flavour]

    @property
    def short(self) -> str:
        return f"{self.flavour} {self.numbers[0]}.{self.numbers[1]}.{self.numbers[2]}"


class Server:
    """One endpoint of the task: a lazily opened connection and cached facts about the server."""

    def __init__(self, label: str, ep: EndpointConfig, item: str) -> None:
        self.label, self.ep, self.item = label, ep, item
        self._conn: Conn | None = None
        self.error: MySQLEngineError | None = None
        self._tried = False

    def open(self) -> MySQLEngineError | None:
        if not self._tried:
            self._tried = True
            try:
                self._conn = connect(self.ep, read_timeout=READ_TIMEOUT)
            except MySQLEngineError as exc:
                self.error = exc
        return self.error

    @property
    def conn(self) -> Conn:
        if self.open() is not None or self._conn is None:
            raise NotChecked(f"not checked: the {self.label} database is not reachable; fix {self.item} first")
        return self._conn

    def rows(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    @cached_property
    def variables(self) -> dict[str, str]:
        return global_variables(self.conn)

    def var(self, name: str) -> str | None:
        return self.variables.get(name)

    def int_var(self, name: str, default: int = 0) -> int:
        value = self.var(name)
        try:
            return int(float(value)) if value not in (None, "") else default
        except ValueError:
            return default

    @cached_property
    def version(self) -> ServerVersion:
        return ServerVersion.parse(str(self.rows("SELECT VERSION()")[0][0]))

    @cached_property
    def grants(self) -> Grants:
        return Grants(show_grants(self.conn))

    @cached_property
    def account(self) -> str:
        """``'user'@'host'`` as the server authenticated us (for GRANT statements in hints)."""
        user, _, host = str(self.rows("SELECT CURRENT_USER()")[0][0]).rpartition("@")
        return f"'{user}'@'{host}'"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass(frozen=True)
class SourceTable:
    ref: TableRef
    kind: str  # TABLE_TYPE
    engine: str
    avg_row_length: int


@dataclass
class MySQLCheckContext:
    job: Job
    selection: Selection
    src: Server
    dst: Server
    _objects: dict[TableRef, SourceTable] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, svc: Services, job: Job) -> MySQLCheckContext:
        return cls(job, Selection.from_config(job.config),
                   Server("source", endpoint_config(svc, job.config.get("source_endpoint") or {}), "srcDbConnection"),
                   Server("target", endpoint_config(svc, job.config.get("target_endpoint") or {}), "dstDbConnection"))

    @property
    def incremental(self) -> bool:
        return self.job.task_type in ("FULL_INCR_TRANS", "INCR_TRANS")

    @property
    def incremental_only(self) -> bool:
        return self.job.task_type == "INCR_TRANS"

    @cached_property
    def schemas(self) -> list[str]:
        """Source databases the selection names that exist (all user databases if it names none)."""
        existing = {str(r[0]) for r in self.src.rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")}
        wanted = existing if self.selection.everything else set(self.selection.databases)
        return sorted(d for d in wanted & existing if d.lower() not in SYSTEM_DATABASES)

    @property
    def named_databases(self) -> list[str]:
        """``schemas`` plus selected databases the source account cannot see (no privilege on them)."""
        named = set() if self.selection.everything else set(self.selection.databases)
        return sorted(set(self.schemas) | {d for d in named if d.lower() not in SYSTEM_DATABASES})

    def objects(self) -> dict[TableRef, SourceTable]:
        """Every table and view in the selected databases (selected or not)."""
        if self._objects is None:
            rows = self.src.rows("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE, ''), "
                                 "IFNULL(AVG_ROW_LENGTH, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN %s",
                                 (self.schemas,)) if self.schemas else []
            self._objects = {TableRef(str(s), str(n)): SourceTable(TableRef(str(s), str(n)), str(k), str(e), int(a))
                             for s, n, k, e, a in rows}
        return self._objects

    def tables(self) -> list[SourceTable]:
        """The selected tables that hold data (views and sequences excluded)."""
        return [t for t in self.objects().values() if t.kind in DATA_TABLE_TYPES and self.selection.includes(t.ref)]

    def selected_columns(self, data_type: str) -> list[TableRef]:
        if not self.schemas:
            return []
        rows = self.src.rows("SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME FROM information_schema.COLUMNS "
                             "WHERE TABLE_SCHEMA IN %s AND DATA_TYPE = %s", (self.schemas, data_type))
        chosen = {t.ref for t in self.tables()}
        return [ref for ref in (TableRef(str(s), str(n)) for s, n in rows) if ref in chosen]

    def close(self) -> None:
        self.src.close()
        self.dst.close()


ITEMS: ItemList[MySQLCheckContext] = ItemList()


def _incremental(ctx: MySQLCheckContext) -> bool:
    return ctx.incremental


# --- network and versions -------------------------------------------------------------------------


def _connection(server: Server) -> Outcome:
    error = server.open()
    if error is None:
        return passed({"version": server.version.text})
    return failed(f"{error.error_msg}. Check the {server.label} endpoint's host, port, user and password (4.1.4), "
                  "the firewall between OpenDRS and the database, and that the account may log in from the "
                  "OpenDRS host", raw_error_msg=error.detail or "")


@ITEMS.add("srcDbConnection", "network", "the source connection")
def src_connection(ctx: MySQLCheckContext) -> Outcome:
    return _connection(ctx.src)


@ITEMS.add("dstDbConnection", "network", "the target connection")
def dst_connection(ctx: MySQLCheckContext) -> Outcome:
    return _connection(ctx.dst)


def _version_support(server: Server) -> Outcome:
    v = server.version
    if v.supported:
        return passed({"version": v.text})
    return failed(f"the {server.label} database runs {v.short}; OpenDRS supports MySQL 5.6 or later and MariaDB 10.2 "
                  f"or later. Upgrade the {server.label} database first", {"version": v.text})


@ITEMS.add("srcDbVersionSupport", "db_version", "the source version")
def src_version(ctx: MySQLCheckContext) -> Outcome:
    return _version_support(ctx.src)


@ITEMS.add("dstDbVersionSupport", "db_version", "the target version")
def dst_version(ctx: MySQLCheckContext) -> Outcome:
    return _version_support(ctx.dst)


@ITEMS.add("dbVersionMeetRequirement", "db_version", "the source and target versions")
def version_order(ctx: MySQLCheckContext) -> Outcome:
    src, dst = ctx.src.version, ctx.dst.version
    data = {"source": src.text, "target": dst.text}
    if src.flavour != dst.flavour:
        return alarm(f"the source is {src.short} and the target {dst.short}: types, collations (MySQL 8's "
                     "utf8mb4_0900_*) and SQL syntax differ between MySQL and MariaDB, so some tables or objects may "
                     "not be created. Run a test migration of the structure first", data)
    if dst.numbers[:2] < src.numbers[:2]:
        return failed(f"the target ({dst.short}) is older than the source ({src.short}); an older server may not "
                      f"understand the source's tables and binlog. Use a target of {src.flavour} "
                      f"{src.numbers[0]}.{src.numbers[1]} or later", data)
    return passed(data)


# --- privileges ---------------------------------------------------------------------------------------


def _grant_sql(privileges: Iterable[str], on: str, account: str) -> str:
    return f"GRANT {', '.join(sorted(set(privileges)))} ON {on} TO {account};"


def _src_privileges(ctx: MySQLCheckContext) -> Outcome:
    src = ctx.src
    grants = src.grants
    missing_global = grants.missing(SRC_NEEDS_INCR) if ctx.incremental else []
    if ctx.job.task_type != "INCR_TRANS" and src.version.flavour == "MySQL":
        missing_global += grants.missing(SRC_NEEDS_FULL_MYSQL)
    if "REPLICATION CLIENT" in missing_global:  # SUPER and other spellings also allow it: ask the server
        try:
            src.rows("SHOW MASTER STATUS")
            missing_global.remove("REPLICATION CLIENT")
        except pymysql.err.OperationalError:
            pass
    objects = ctx.objects()
    # A database the account has no privilege on is invisible in information_schema: check those by name.
    unseen = set(ctx.named_databases) - set(ctx.schemas)
    no_select = sorted(db for db in ctx.named_databases if grants.missing(SRC_NEEDS, db) and (db in unseen or any(
        grants.missing(SRC_NEEDS, t.schema, t.name) for t in objects if t.schema == db and ctx.selection.includes(t))))
    recommended = [p for p in SRC_RECOMMENDED if any(grants.missing([p], db) for db in ctx.schemas)]
    data = {"account": src.account, "missing": missing_global, "no_select_on": no_select, "advised": recommended}
    if missing_global or no_select:
        why = "to read the binlog and pin the snapshot's position"
        what = ([f"{', '.join(missing_global)} ({why})"] if missing_global else []) + (
            [f"SELECT on {', '.join(no_select[:SAMPLE])}"] if no_select else [])
        if missing_global or len(no_select) > 3:  # one statement on *.* covers the databases too
            fixes = [_grant_sql([*missing_global, *SRC_NEEDS, *recommended], "*.*", src.account)]
        else:
            fixes = [_grant_sql([*SRC_NEEDS, *recommended], f"{quote(db)}.*", src.account) for db in no_select]
        return failed(f"the source account {src.account} lacks {' and '.join(what)}. Run on the source: "
                      f"{' '.join(fixes)}", data)
    if recommended:
        return alarm(f"the source account {src.account} lacks {', '.join(recommended)}, so view, trigger or event "
                     f"definitions may not be readable. Run on the source: "
                     f"{_grant_sql(recommended, '*.*', src.account)}", data)
    return passed(data)


@ITEMS.add("srcDbPrivilegesIsEnoughForIncre", "db_user_privilege", "the source account's privileges",
           applies=_incremental)
def src_privileges_incre(ctx: MySQLCheckContext) -> Outcome:
    return _src_privileges(ctx)


@ITEMS.add("srcDbPrivilegesIsEnoughForFull", "db_user_privilege", "the source account's privileges",
           applies=lambda ctx: not ctx.incremental)
def src_privileges_full(ctx: MySQLCheckContext) -> Outcome:
    return _src_privileges(ctx)


@ITEMS.add("dstDbPrivilegesIsEnough", "db_user_privilege", "the target account's privileges")
def dst_privileges(ctx: MySQLCheckContext) -> Outcome:
    dst = ctx.dst
    grants = dst.grants
    databases = sorted({ctx.selection.target_database(db) for db in ctx.named_databases} | {META_DB})
    missing = {db: grants.missing(DST_NEEDS, db) for db in databases}
    missing = {db: m for db, m in missing.items() if m}
    needs_users = bool((ctx.job.config.get("user_migration") or {}).get("is_migrate_user"))
    user_gap = needs_users and (grants.missing(["CREATE USER"]) or grants.grantable_globally() is not None)
    advised = [p for p in DST_RECOMMENDED if any(grants.missing([p], db) for db in databases)]
    data = {"account": dst.account, "missing": missing, "advised": advised}
    if missing or user_gap:
        union = sorted({p for m in missing.values() for p in m})
        fixes = ([_grant_sql([*union, *advised], "*.*", dst.account)] if len(missing) > 3 else
                 [_grant_sql([*m, *advised], f"{quote(db)}.*", dst.account) for db, m in missing.items()])
        if user_gap:
            fixes.append(f"GRANT ALL PRIVILEGES ON *.* TO {dst.account} WITH GRANT OPTION; (user migration creates "
                         "accounts and grants their privileges)")
        where = f" on {', '.join(list(missing)[:SAMPLE])}" if missing else ""
        lacks = f"{', '.join(union)}{where}" if union else "CREATE USER and GRANT OPTION"
        return failed(f"the target account {dst.account} lacks {lacks} (OpenDRS creates the databases and tables, "
                      f"writes the rows and keeps its checkpoints in {META_DB}). Run on the target: {' '.join(fixes)}",
                      data)
    if advised:
        return alarm(f"the target account {dst.account} lacks {', '.join(advised)}, so views, routines, triggers, "
                     f"events or foreign keys may not be created. Run on the target: "
                     f"{_grant_sql(advised, '*.*', dst.account)}", data)
    return passed(data)


# --- binlog (tasks with an incremental phase) -------------------------------------------------------

_MY_CNF = "and put the same setting under [mysqld] in the source's my.cnf so it survives a restart"


@ITEMS.add("srcDbBinlogIsOff", "db_params", "log_bin on the source", applies=_incremental)
def binlog_on(ctx: MySQLCheckContext) -> Outcome:
    value = (ctx.src.var("log_bin") or "OFF").upper()
    if value in ("ON", "1"):
        return passed({"log_bin": value})
    return failed("binary logging is off on the source (log_bin=OFF), so changes cannot be captured. Add log_bin="
                  "mysql-bin and a unique server_id under [mysqld] in the source's my.cnf and restart it",
                  {"log_bin": value})


@ITEMS.add("srcBinlogFormatCheck", "db_params", "binlog_format on the source", applies=_incremental)
def binlog_format(ctx: MySQLCheckContext) -> Outcome:
    value = (ctx.src.var("binlog_format") or "").upper()
    if value == "ROW":
        return passed({"binlog_format": value})
    return failed(f"binlog_format is {value or 'unknown'} on the source; OpenDRS needs ROW events. Run SET GLOBAL "
                  f"binlog_format = 'ROW' {_MY_CNF}; sessions already connected keep the old format until they "
                  "reconnect", {"binlog_format": value})


@ITEMS.add("srcBinlogRowImageCheck", "db_params", "binlog_row_image on the source", applies=_incremental)
def binlog_row_image(ctx: MySQLCheckContext) -> Outcome:
    value = (ctx.src.var("binlog_row_image") or "FULL").upper()
    if value == "FULL":
        return passed({"binlog_row_image": value})
    return failed(f"binlog_row_image is {value} on the source; OpenDRS needs full before and after images to "
                  f"apply updates and deletes exactly. Run SET GLOBAL binlog_row_image = 'FULL' {_MY_CNF}",
                  {"binlog_row_image": value})


@ITEMS.add("srcDbServerIdCheck", "db_params", "server_id of the source and target", applies=_incremental)
def server_id(ctx: MySQLCheckContext) -> Outcome:
    src, dst = ctx.src.int_var("server_id"), ctx.dst.int_var("server_id")
    data = {"source_server_id": src, "target_server_id": dst}
    if src == 0:
        return failed("server_id is 0 on the source, which disables binlog replication. Set a unique non-zero "
                      f"server_id: SET GLOBAL server_id = <n> {_MY_CNF}", data)
    if src == dst:
        return failed(f"the source and target both have server_id {src}; replication tools (and a later switchover) "
                      "skip events that carry their own server_id. Give the target a different server_id: SET "
                      "GLOBAL server_id = <n> on the target and in its my.cnf", data)
    return passed(data)


@ITEMS.add("srcDbGtidModeCheck", "db_params", "GTID settings of the source", applies=_incremental)
def gtid_mode(ctx: MySQLCheckContext) -> Outcome:
    src = ctx.src
    if src.version.flavour == "MariaDB":
        strict, pos = src.var("gtid_strict_mode"), src.var("gtid_binlog_pos")
        data = {"gtid_strict_mode": strict, "gtid_binlog_pos": pos}
        if pos is None:
            return alarm("the source has no MariaDB GTIDs (gtid_binlog_pos is missing); positions are kept as binlog "
                         "file and offset, which do not survive a failover of the source. Use MariaDB 10.2 or later",
                         data)
        if (strict or "").upper() not in ("ON", "1"):
            return alarm("gtid_strict_mode is OFF on the source, so out-of-order GTIDs are accepted and a GTID "
                         f"position may be ambiguous. Run SET GLOBAL gtid_strict_mode = ON {_MY_CNF}", data)
        return passed(data)
    mode = (src.var("gtid_mode") or "OFF").upper()
    if mode == "ON":
        return passed({"gtid_mode": mode})
    return alarm(f"gtid_mode is {mode} on the source; positions are kept as binlog file and offset, which do not "
                 "survive a failover of the source. Enable GTIDs: SET GLOBAL enforce_gtid_consistency = ON, then "
                 "step gtid_mode through OFF_PERMISSIVE and ON_PERMISSIVE to ON, and set both in my.cnf",
                 {"gtid_mode": mode})


def binlog_retention_seconds(variables: dict[str, str]) -> float:
    """How long the server keeps binlogs; 0 = forever. ``binlog_expire_logs_seconds`` wins when set."""
    seconds = float(variables.get("binlog_expire_logs_seconds") or 0)
    return seconds if seconds > 0 else float(variables.get("expire_logs_days") or 0) * 86400


@ITEMS.add("srcDbBinlogExpireLogsDays", "db_params", "binlog retention on the source", applies=_incremental)
def binlog_retention(ctx: MySQLCheckContext) -> Outcome:
    seconds = binlog_retention_seconds(ctx.src.variables)
    data = {"retention_seconds": seconds}
    if seconds == 0 or seconds >= 86400:
        return passed(data)
    return alarm(f"the source deletes binlogs after {seconds / 3600:.1f} hours; if the task is paused or falls "
                 "behind longer than that, the changes it still needs are gone and it must start over. Keep them at "
                 f"least 1 day (3 or more advised): SET GLOBAL binlog_expire_logs_seconds = 259200 {_MY_CNF} "
                 "(expire_logs_days = 3 on MySQL 5.7)", data)


def _binlogs(ctx: MySQLCheckContext) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in ctx.src.rows("SHOW BINARY LOGS")}


def _mariadb_gtids(text: str) -> dict[tuple[int, int], int]:
    """``0-1-100,1-2-5`` -> {(domain, server): seq}."""
    out: dict[tuple[int, int], int] = {}
    for part in filter(None, (p.strip() for p in text.strip("[]").split(","))):
        domain, server, seq = (int(x) for x in part.split("-"))
        out[(domain, server)] = seq
    return out


def _check_mariadb_gtid(ctx: MySQLCheckContext, wanted: str) -> str | None:
    """Why ``wanted`` cannot be a start position on this source, or None if it can."""
    current = _mariadb_gtids(ctx.src.var("gtid_binlog_state") or "")
    logs = sorted(_binlogs(ctx))
    oldest: dict[tuple[int, int], int] = {}
    if logs:
        for row in ctx.src.rows(f"SHOW BINLOG EVENTS IN {ctx.src.conn.escape(logs[0])} LIMIT 5"):
            if str(row[2]) == "Gtid_list":
                oldest = _mariadb_gtids(str(row[5]))
    for (domain, server), seq in _mariadb_gtids(wanted).items():
        domain_now = {s: v for (d, s), v in current.items() if d == domain}
        if not domain_now:
            return f"GTID domain {domain} does not exist on the source (gtid_binlog_state {current or 'is empty'})"
        if seq > domain_now.get(server, max(domain_now.values())):
            return f"{domain}-{server}-{seq} is ahead of the source's binlog ({ctx.src.var('gtid_binlog_pos')})"
        floor = oldest.get((domain, server))
        if floor is not None and seq < floor:
            return (f"{domain}-{server}-{seq} was purged: the oldest binlog {logs[0]} starts after "
                    f"{domain}-{server}-{floor}")
    return None


@ITEMS.add("srcIncreStartPositionCheck", "db_params", "the incremental start position on the source",
           applies=lambda ctx: ctx.incremental_only and bool(
               (ctx.job.config.get("policy") or {}).get("file_and_position")
               or (ctx.job.config.get("policy") or {}).get("gtid_set")))
def start_position(ctx: MySQLCheckContext) -> Outcome:
    policy = ctx.job.config.get("policy") or {}
    fix = "Pick a position that still exists (SHOW BINARY LOGS / SHOW MASTER STATUS on the source) and set it again " \
          "with 4.3.2 batch-sync-policy"
    position, gtid = policy.get("file_and_position"), policy.get("gtid_set")
    if position:
        name, _, offset = str(position).rpartition(":")
        logs = _binlogs(ctx)
        data = {"file_and_position": position, "oldest": min(logs, default=""), "newest": max(logs, default="")}
        if name not in logs:
            return failed(f"binlog file {name} does not exist on the source (it was purged or never written; the "
                          f"source has {data['oldest']} to {data['newest']}). {fix}", data)
        if int(offset) > logs[name]:
            return failed(f"position {offset} is beyond the end of {name} ({logs[name]} bytes). {fix}", data)
        return passed(data)
    if ctx.src.version.flavour == "MariaDB":
        why = _check_mariadb_gtid(ctx, str(gtid))
    else:
        purged_ok, executed_ok = ctx.src.rows("SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s), "
                                              "GTID_SUBSET(%s, @@GLOBAL.gtid_executed)", (gtid, gtid))[0]
        why = None if purged_ok and executed_ok else (
            "it lacks transactions the source already purged (gtid_purged)" if not purged_ok
            else "it contains transactions the source never executed (gtid_executed)")
    if why:
        return failed(f"the gtid_set cannot be a start position: {why}. {fix}", {"gtid_set": gtid})
    return passed({"gtid_set": gtid})


# --- the selected objects -----------------------------------------------------------------------------


@ITEMS.add("userSelectObjectsCheck", "db_params", "the selected databases and tables on the source")
def selected_objects_exist(ctx: MySQLCheckContext) -> Outcome:
    if ctx.selection.everything:
        return passed({"databases": len(ctx.schemas)})
    objects = ctx.objects()
    missing = [db for db in ctx.selection.databases if db not in ctx.schemas]
    for db, tables in ctx.selection.databases.items():
        if db in ctx.schemas:
            missing += [str(TableRef(db, t)) for t in sorted(tables or ()) if TableRef(db, t) not in objects]
    if missing:
        return failed(f"{len(missing)} selected object(s) do not exist on the source, or the source account cannot "
                      f"see them: {', '.join(missing[:SAMPLE])}. Select existing objects with 4.1.5 "
                      "batch-select-objects, or grant the account SELECT on them", {"missing": missing[:SAMPLE]})
    return passed()


@ITEMS.add("srcDbNameContainsUnsupportedSymbols", "db_params", "database names")
def database_names(ctx: MySQLCheckContext) -> Outcome:
    names_ = sorted({*ctx.schemas, *(ctx.selection.target_database(db) for db in ctx.schemas)})
    bad = [n for n in names_ if set(n) & UNSUPPORTED_NAME_CHARS or "-*-*" in n or n != n.strip()
           or any(ord(c) < 32 for c in n)]
    if bad:
        return failed(f"database name(s) {', '.join(repr(n) for n in bad[:SAMPLE])} contain characters OpenDRS cannot "
                      "migrate (. < > / \\ ' \" ` , the object-id separator -*-*, control characters or leading/"
                      "trailing spaces). Deselect them (4.1.5) or give them a plain target name "
                      "(object_alias_name, sync tasks)", {"databases": bad[:SAMPLE]})
    return passed()


def _keyed(ctx: MySQLCheckContext) -> set[TableRef]:
    """Tables with a primary key or a unique key whose columns are all NOT NULL."""
    rows = ctx.src.rows("SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SUM(NULLABLE = 'YES') FROM "
                        "information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA IN %s "
                        "GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME", (ctx.schemas,)) if ctx.schemas else []
    return {TableRef(str(s), str(n)) for s, n, _, nullable in rows if not nullable}


@ITEMS.add("srcTableWithoutPrimaryKey", "db_params", "primary keys of the selected tables")
def tables_without_key(ctx: MySQLCheckContext) -> Outcome:
    keyed = _keyed(ctx)
    keyless = [t.ref for t in ctx.tables() if t.ref not in keyed]
    if not keyless:
        return passed()
    example = keyless[0]
    return alarm(f"{len(keyless)} selected table(s) have no primary key or NOT NULL unique key: "
                 f"{', '.join(names(keyless))}. CDC matches their rows by the full row image, which is slower, and "
                 "if a table holds identical duplicate rows an update or delete may hit a different copy than on the "
                 "source; the full load copies such a table in one piece. Add a key, e.g. ALTER TABLE "
                 f"{quote(example.schema)}.{quote(example.name)} ADD PRIMARY KEY (<columns>)",
                 {"tables": names(keyless)})


@ITEMS.add("srcDbExistUnsupportEngineTable", "db_params", "storage engines of the selected tables")
def table_engines(ctx: MySQLCheckContext) -> Outcome:
    other = [t for t in ctx.tables() if t.engine.upper() not in TRANSACTIONAL_ENGINES]
    if not other:
        return passed()
    listed = sorted(f"{t.ref} ({t.engine or 'unknown'})" for t in other)[:SAMPLE]
    example = other[0].ref
    return alarm(f"{len(other)} selected table(s) use a non-transactional storage engine: {', '.join(listed)}. Writes "
                 "to them during the full load make the snapshot inconsistent and they are not rolled back with a "
                 "transaction; engines that keep no local data (BLACKHOLE, FEDERATED, CONNECT, SPIDER) copy nothing. "
                 f"Convert them, e.g. ALTER TABLE {quote(example.schema)}.{quote(example.name)} ENGINE=InnoDB, or stop "
                 "writes to them during the full load", {"tables": listed})


@ITEMS.add("hasForeignKeyOnUnselectedTable", "db_params", "foreign keys of the selected tables")
def foreign_keys(ctx: MySQLCheckContext) -> Outcome:
    if not ctx.schemas:
        return passed()
    rows = ctx.src.rows("SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME "
                        "FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL "
                        "AND TABLE_SCHEMA IN %s", (ctx.schemas,))
    chosen = {t.ref for t in ctx.tables()}
    dangling = sorted(f"{TableRef(str(s), str(n))} -> {TableRef(str(ps), str(pn))}" for s, n, ps, pn in rows
                      if TableRef(str(s), str(n)) in chosen and not ctx.selection.includes(TableRef(str(ps), str(pn))))
    if dangling:
        return alarm(f"{len(dangling)} selected table(s) have foreign keys to tables that are not selected: "
                     f"{', '.join(dangling[:SAMPLE])}. On the target those keys point at missing tables and inserts "
                     "into the child tables fail once foreign key checks apply. Select the referenced tables too, or "
                     "drop those foreign keys", {"foreign_keys": dangling[:SAMPLE]})
    return passed()


@ITEMS.add("checkIncreSrcDbExistedInDstDb", "db_params", "the selected tables on the target")
def target_conflicts(ctx: MySQLCheckContext) -> Outcome:
    targets = {t.ref: ctx.selection.target(t.ref) for t in ctx.tables()}
    schemas = sorted({r.schema for r in targets.values()})
    existing = {TableRef(str(s), str(n)) for s, n in ctx.dst.rows(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN %s",
        (schemas,))} if schemas else set()
    present = [r for r in targets.values() if r in existing]
    if ctx.incremental_only:
        absent = [r for r in targets.values() if r not in existing]
        if absent:
            return alarm(f"{len(absent)} selected table(s) do not exist on the target: {', '.join(names(absent))}. "
                         "An incremental-only task copies changes, not the rows the source already has: load them "
                         "first (or use FULL_INCR_TRANS)", {"missing": names(absent)})
        return passed({"existing": len(present)})
    non_empty = [r for r in present if ctx.dst.rows(f"SELECT 1 FROM {quote(r.schema)}.{quote(r.name)} LIMIT 1")]
    if not non_empty:
        return passed({"existing_empty": names(present)})
    example = non_empty[0]
    what = (f"{len(non_empty)} selected table(s) already exist on the target and hold rows: "
            f"{', '.join(names(non_empty))}.")
    fix = (f"Empty them on the target (TRUNCATE TABLE {quote(example.schema)}.{quote(example.name)}), drop them, or "
           "deselect them")
    if ctx.job.db_use_type == "sync":
        return alarm(f"{what} The source's rows are written over rows with the same key (conflict_policy decides) "
                     f"and the target keeps rows the source does not have. {fix} if that is not intended",
                     {"tables": names(non_empty)})
    return failed(f"{what} A migration would mix their rows with the source's. {fix}", {"tables": names(non_empty)})


# --- parameters that must (or should) agree --------------------------------------------------------------


def _differs(ctx: MySQLCheckContext, variable: str, normalise: Any = str.upper) -> tuple[str, str] | None:
    src, dst = ctx.src.var(variable) or "", ctx.dst.var(variable) or ""
    return None if normalise(src) == normalise(dst) else (src, dst)


def _set_target(variable: str, value: str) -> str:
    return (f"Run SET GLOBAL {variable} = '{value}' on the target (or use 4.1.10 to change it) and set it in the "
            "target's my.cnf")


@ITEMS.add("dbCharacterSetConsistency", "db_params", "character sets and collations")
def charsets(ctx: MySQLCheckContext) -> Outcome:
    used = {str(r[0]) for r in ctx.src.rows(
        "SELECT DISTINCT COLLATION_NAME FROM information_schema.COLUMNS WHERE COLLATION_NAME IS NOT NULL AND "
        "TABLE_SCHEMA IN %s UNION SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES WHERE "
        "TABLE_COLLATION IS NOT NULL AND TABLE_SCHEMA IN %s", (ctx.schemas, ctx.schemas))} if ctx.schemas else set()
    known = {str(r[0]) for r in ctx.dst.rows("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")}
    unknown = sorted(used - known)
    if unknown:
        return failed(f"the target does not know the collation(s) {', '.join(unknown)} used by the selected databases "
                      "(e.g. MySQL 8's utf8mb4_0900_* on MariaDB), so their tables cannot be created. Use a target "
                      "that supports them, or change the source columns to a collation both support",
                      {"unknown_collations": unknown})
    diff = _differs(ctx, "character_set_server", str.lower)
    if diff:
        return alarm(f"character_set_server is {diff[0]} on the source and {diff[1]} on the target; tables keep "
                     "their own character sets, but databases and tables created later without one differ. "
                     f"{_set_target('character_set_server', diff[0])}",
                     {"source": diff[0], "target": diff[1]})
    return passed()


@ITEMS.add("dbCollationServerConsistency", "db_params", "collation_server")
def collation_server(ctx: MySQLCheckContext) -> Outcome:
    diff = _differs(ctx, "collation_server", str.lower)
    if diff:
        return alarm(f"collation_server is {diff[0]} on the source and {diff[1]} on the target; string comparison "
                     "and sorting of objects created later without a collation differ. "
                     f"{_set_target('collation_server', diff[0])}", {"source": diff[0], "target": diff[1]})
    return passed()


def _modes(value: str) -> frozenset[str]:
    return frozenset(m.strip().upper() for m in value.split(",") if m.strip())


@ITEMS.add("sqlModeConsistency", "db_params", "sql_mode")
def sql_mode(ctx: MySQLCheckContext) -> Outcome:
    diff = _differs(ctx, "sql_mode", _modes)
    if diff:
        only_src, only_dst = sorted(_modes(diff[0]) - _modes(diff[1])), sorted(_modes(diff[1]) - _modes(diff[0]))
        return alarm(f"sql_mode differs (only on the source: {', '.join(only_src) or '-'}; only on the target: "
                     f"{', '.join(only_dst) or '-'}). OpenDRS writes with its own permissive session mode, but "
                     "applications, triggers and routines behave differently on the target. "
                     f"{_set_target('sql_mode', diff[0])}", {"source": diff[0], "target": diff[1]})
    return passed()


@ITEMS.add("dbIsolationLevelConsistency", "db_params", "the transaction isolation level")
def isolation(ctx: MySQLCheckContext) -> Outcome:
    name = "transaction_isolation" if ctx.src.var("transaction_isolation") and ctx.dst.var(
        "transaction_isolation") else "tx_isolation"
    diff = _differs(ctx, name)
    if diff:
        return alarm(f"{name} is {diff[0]} on the source and {diff[1]} on the target; applications may see "
                     f"different locking and read behaviour. {_set_target(name, diff[0])}",
                     {"source": diff[0], "target": diff[1]})
    return passed()


@ITEMS.add("innodbStrictModeConsistency", "db_params", "innodb_strict_mode")
def innodb_strict(ctx: MySQLCheckContext) -> Outcome:
    diff = _differs(ctx, "innodb_strict_mode")
    if diff and (diff[1] or "").upper() in ("ON", "1"):
        return alarm(f"innodb_strict_mode is {diff[0]} on the source and ON on the target: table definitions the "
                     "source accepted with a warning (row size, invalid options) fail to create on the target. "
                     f"{_set_target('innodb_strict_mode', 'OFF')}, or fix those definitions",
                     {"source": diff[0], "target": diff[1]})
    return passed()


@ITEMS.add("srcDstTableNameCaseSensitiveCheck", "db_params", "lower_case_table_names")
def table_name_case(ctx: MySQLCheckContext) -> Outcome:
    src, dst = ctx.src.int_var("lower_case_table_names"), ctx.dst.int_var("lower_case_table_names")
    data = {"source": src, "target": dst}
    if src != dst:
        return failed(f"lower_case_table_names is {src} on the source and {dst} on the target, so table names may "
                      "change case or collide (Orders and orders) on the target. It can only be set at start-up: set "
                      f"lower_case_table_names = {src} in the target's my.cnf and restart it (MySQL 8 only when the "
                      "data directory is initialised)", data)
    return passed(data)


def _utc_offset(server: Server) -> int | None:
    """Seconds east of UTC of the server's global time_zone (None for an unknown named zone)."""
    value = server.rows("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), "
                        "CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', @@GLOBAL.time_zone))")[0][0]
    return None if value is None else int(value)


@ITEMS.add("dbClockConsistency", "db_params", "time zones and clocks")
def clocks(ctx: MySQLCheckContext) -> Outcome:
    started = time.time()
    src_now = float(ctx.src.rows("SELECT UNIX_TIMESTAMP(NOW(6))")[0][0])
    dst_now = float(ctx.dst.rows("SELECT UNIX_TIMESTAMP(NOW(6))")[0][0]) - (time.time() - started)
    skew = round(dst_now - src_now, 1)
    zones = (ctx.src.var("time_zone") or "", ctx.dst.var("time_zone") or "")
    offsets = (_utc_offset(ctx.src), _utc_offset(ctx.dst))
    data = {"source_time_zone": zones[0], "target_time_zone": zones[1], "utc_offsets": offsets, "clock_skew_s": skew}
    same_zone = zones[0] == zones[1] or (None not in offsets and offsets[0] == offsets[1])
    stamped = [] if same_zone else ctx.selected_columns("timestamp")
    if stamped:
        return alarm(f"time_zone is {zones[0]} on the source and {zones[1]} on the target, and {len(stamped)} "
                     f"selected table(s) have TIMESTAMP columns ({', '.join(names(stamped))}). OpenDRS copies "
                     "TIMESTAMP values as UTC instants, so they stay correct, but NOW(), DEFAULT CURRENT_TIMESTAMP "
                     "and how applications see those columns follow the target's zone. "
                     f"{_set_target('time_zone', zones[0])}", data)
    if abs(skew) > CLOCK_SKEW_SECONDS:
        return alarm(f"the target's clock is {skew:+.0f} s off the source's; the reported replication delay "
                     "compares the two clocks and will be off by as much. Synchronise both servers with NTP", data)
    return passed(data)


@ITEMS.add("dstMaxAllowedPacketCheck", "db_params", "max_allowed_packet")
def max_packet(ctx: MySQLCheckContext) -> Outcome:
    src, dst = ctx.src.int_var("max_allowed_packet"), ctx.dst.int_var("max_allowed_packet")
    widest = max(ctx.tables(), key=lambda t: t.avg_row_length, default=None)
    data = {"source": src, "target": dst, "largest_avg_row": widest.avg_row_length if widest else 0}
    fix = f"Run SET GLOBAL max_allowed_packet = {max(src, data['largest_avg_row'] * 2)} on the target and set it in " \
          "the target's my.cnf"
    if dst < src:
        return failed(f"max_allowed_packet is {dst} bytes on the target but {src} on the source: a row or statement "
                      f"the source accepted can be too large for the target. {fix}", data)
    if widest is not None and widest.avg_row_length > dst:
        return failed(f"rows of {widest.ref} average {widest.avg_row_length} bytes, more than the target's "
                      f"max_allowed_packet ({dst}). {fix}", data)
    return passed(data)


@ITEMS.add("dstStatusCheck", "db_target_status", "whether the target accepts writes")
def target_writable(ctx: MySQLCheckContext) -> Outcome:
    dst = ctx.dst
    flags = {v: (dst.var(v) or "OFF").upper() for v in ("read_only", "super_read_only", "innodb_read_only")}
    on = [v for v, value in flags.items() if value in ("ON", "1")]
    if not on:
        return passed(flags)
    # read_only alone does not stop an account with READ_ONLY ADMIN (MariaDB 10.11+ / MySQL 8.0.26+)
    # or, before those versions, SUPER: a disaster-recovery standby is usually kept that way.
    maria_1011 = dst.version.flavour == "MariaDB" and dst.version.numbers[:2] >= (10, 11)
    bypass = dst.grants.has("READ_ONLY ADMIN") or (dst.grants.has("SUPER") and not maria_1011)
    if on == ["read_only"] and bypass:
        return alarm(f"the target is read_only; the OpenDRS account {dst.account} may still write (it has "
                     "READ_ONLY ADMIN or SUPER), other applications cannot. Run SET GLOBAL read_only = OFF on the "
                     "target when it should take writes", flags)
    return failed(f"the target is read-only ({', '.join(on)} = ON), so the account {dst.account} cannot write. Run "
                  f"SET GLOBAL {' = OFF, '.join(on)} = OFF on the target (innodb_read_only needs a my.cnf change and "
                  "a restart)", flags)


# --- entry point -------------------------------------------------------------------------------------------

DRIVER_ERRORS: Final = (pymysql.MySQLError, OSError)


def run_precheck(svc: Services, job: Job) -> list[dict[str, Any]]:
    """The ``PRECHECKS`` function for MySQL engine types: every applicable item, in order."""
    ctx = MySQLCheckContext.build(svc, job)
    try:
        return run_items(ITEMS.items, ctx, DRIVER_ERRORS)
    finally:
        ctx.close()
