"""Configuring a task before it starts: objects, flow control, definer, data processing, policies,
database parameters and users (003 §4.1.5, 4.1.8, 4.1.9/4.1.10, 4.1.16, 4.2.1/4.2.2, 4.3.1, 4.3.2).

Everything the user configures is validated here and stored in ``job.config`` exactly where
4.1.21 batch-detail reads it back (``object_selection``/``object_infos``, ``speed_limit``,
``replace_definer``, ``data_transformation``, ``policy``, ``user_migration``). Two kinds of check:
``check_*`` functions look at the request alone (the API runs them before touching any task, so bad
input is a 400), the per-task functions look at the task (status, scenario, engine) and fail per item.

Reading real database parameters and source users is engine work: engines register a
``DbParamsEngine`` in ``DB_PARAMS`` / a lister in ``SOURCE_USERS``; until one does, the APIs
validate fully and answer ``NotAvailableYet``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from opendrs.errors import (
    DataProcessingRuleExists,
    DuplicateInRequest,
    EmptyParameter,
    FlowControlUnsupported,
    InvalidParameter,
    InvalidRequest,
    InvalidStatus,
    NotAvailableYet,
    NotInCache,
)
from opendrs.jobs.capabilities import scenario_for
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, now_ms
from opendrs.jobs.service import load
from opendrs.jobs.states import JobStatus
from opendrs.store.repo import JobRepo

S = JobStatus
MASK = "******"

# --- errors that say what to do next ----------------------------------------------------------


def bad(field: str, hint: str) -> InvalidParameter:
    """M00202 naming the field, with what to send instead in parentheses."""
    return InvalidParameter(f"{field} ({hint})", detail=hint)


def not_available(what: str, engine_type: str) -> NotAvailableYet:
    return NotAvailableYet(
        f"{what} is not available for engine_type {engine_type} yet: this OpenDRS build has no "
        f"{engine_type} engine that can do it. Check the release notes for engine support",
    )


def require_status(job: Job, allowed: Iterable[JobStatus], hint: str) -> None:
    if job.status not in set(allowed):
        raise InvalidStatus(hint=f"The task is {job.status.value}. {hint}",
                            detail=f"job {job.id} is {job.status.value}")


CONFIGURING_ONLY = "This setting can only change while the task is in CONFIGURATION (before it is started)."


def source_db_type(job: Job) -> str:
    return scenario_for(job.db_use_type, job.engine_type).source_db_type


def target_db_type(job: Job) -> str:
    return scenario_for(job.db_use_type, job.engine_type).target_db_type


def _update(svc: Services, project_id: str, job_id: str, change: Callable[[Job], str]) -> Job:
    """Load, let ``change`` validate and edit the task, save and record a config event."""
    with svc.store.session() as s:
        repo = JobRepo(s)
        job = load(repo, project_id, job_id)
        reason = change(job)
        repo.save(job)
        repo.add_event(job.id, job.status.value, job.status.value, "configure", reason)
    return job


def check_unique_ids(ids: list[str], what: str = "job_id") -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise DuplicateInRequest(what, detail=f"{what} {value} appears twice")
        seen.add(value)


# --- object ids (DIGEST §10b #39) -------------------------------------------------------------

# Tables are "<db>-*-*-<table>" (4.1.5 example); 4.3.1's table writes "<db>-*-*<table>" and 4.1.25
# "<db>-*-*<schema>-*-*<table>", so the trailing dash is optional and a middle part is a schema.
_SEP = re.compile(r"-\*-\*-?")


def split_object_id(object_id: str) -> list[str]:
    """``db-*-*-table`` -> [db, table]; ``db-*-*-schema-*-*-table`` -> [db, schema, table]."""
    return _SEP.split(object_id)


def table_id(db: str, table: str, schema: str | None = None) -> str:
    return f"{db}-*-*-{schema}-*-*-{table}" if schema else f"{db}-*-*-{table}"


# --- 4.1.5 object selection -------------------------------------------------------------------


def check_selection(req: dict[str, Any]) -> None:
    """Request-only checks of one 4.1.5 item (ids, parents, duplicates, select values)."""
    items: list[dict[str, Any]] = req.get("job") or []
    if req.get("selected"):
        if not items:
            raise EmptyParameter("job (list the objects to migrate when selected is true)")
    elif items:
        raise bad("selected", "set selected to true to migrate only the objects listed in job, "
                              "or send an empty job list to migrate everything")
    seen: set[str] = set()
    databases: dict[str, str] = {}
    for i, obj in enumerate(items):
        where = f"job[{i}]"
        kind, oid, parent = obj["object_type"], obj["id"], obj.get("parent_id") or ""
        if oid in seen:
            raise DuplicateInRequest(f"object id {oid}")
        seen.add(oid)
        if kind == "database":
            if parent:
                raise bad(f"{where}.parent_id", "a database has no parent; send null")
            if len(split_object_id(oid)) > 1:
                raise bad(f"{where}.id", "a database id is the database name")
            databases[oid] = obj["select"]
            continue
        if not parent:
            raise EmptyParameter(f"{where}.parent_id (a {kind} needs its database name here)")
        parts = split_object_id(oid)
        if len(parts) > 1:
            db, last = parts[0], parts[-1]
            parents = {db} | ({parts[1], table_id(db, parts[1])} if len(parts) > 2 else set())
            if parent not in parents:
                raise bad(f"{where}.id", f"id {oid} does not belong to parent_id {parent}; "
                                         f"use {table_id(parent, last)}")
            name = obj.get("object_name")
            if name and name != last:
                raise bad(f"{where}.object_name", f"object_name must match the id's last part {last}")
    for obj in items:
        parent = obj.get("parent_id") or ""
        db = split_object_id(parent)[0] if parent else ""
        if obj["object_type"] != "database" and databases.get(db) == "false" and obj["select"] != "false":
            raise bad("select", f"database {db} is not selected but {obj['id']} is; set the database's "
                                f"select to partial")


def set_objects(svc: Services, project_id: str, req: dict[str, Any]) -> Job:
    """4.1.5: store the selection and the read-back object tree of 4.1.21."""

    def change(job: Job) -> str:
        require_status(job, {S.CONFIGURATION}, CONFIGURING_ONLY)
        if job.db_use_type not in ("migration", "sync"):
            raise InvalidRequest("object selection is only for migration and synchronization tasks; a "
                                 "disaster recovery task always replicates the whole instance")
        items: list[dict[str, Any]] = (req.get("job") or []) if req.get("selected") else []
        if job.db_use_type != "sync":
            for i, obj in enumerate(items):
                if obj.get("object_alias_name"):
                    raise bad(f"job[{i}].object_alias_name", "renaming objects is only for synchronization "
                                                             "tasks; remove object_alias_name")
        job.config["object_selection"] = {
            "selected": bool(req.get("selected")),
            "sync_database": bool(req.get("sync_database")),
            "job": items,
        }
        job.config["object_infos"] = [
            {"id": o["id"], "parent_id": o.get("parent_id") or "", "type": o["object_type"],
             "name": o.get("object_name") or split_object_id(o["id"])[-1],
             "alias_name": o.get("object_alias_name") or "", "select": o["select"]}
            for o in items
        ]
        return f"objects selected: {'all' if not items else len(items)}"

    return _update(svc, project_id, req["job_id"], change)


def selected_tables(job: Job) -> tuple[bool, set[str], set[tuple[str, ...]]]:
    """(everything selected?, fully selected databases, selected tables as id parts) of the selection."""
    sel = job.config.get("object_selection")
    if sel is None:
        raise InvalidRequest("no objects are selected yet. Select them with 4.1.5 batch-select-objects first")
    if not sel.get("selected"):
        return True, set(), set()
    dbs = {o["id"] for o in sel["job"] if o["object_type"] == "database" and o["select"] == "true"}
    tables = {tuple(split_object_id(o["id"])) for o in sel["job"]
              if o["object_type"] != "database" and o["select"] == "true"}
    return False, dbs, tables


# --- 4.1.8 flow control -----------------------------------------------------------------------

SPEED_EDITABLE = frozenset({
    S.CONFIGURATION, S.WAITING_FOR_START, S.STARTJOBING, S.START_JOB_FAILED, S.PAUSING,
    S.FULL_TRANSFER_STARTED, S.FULL_TRANSFER_FAILED, S.FULL_TRANSFER_COMPLETE,
    S.INCRE_TRANSFER_STARTED, S.INCRE_TRANSFER_FAILED,
})


def set_speed(svc: Services, project_id: str, job_id: str, windows: list[dict[str, Any]]) -> Job:
    """4.1.8: ``windows`` come from ``speed.normalise``; running engines pick them up live."""

    def change(job: Job) -> str:
        require_status(job, SPEED_EDITABLE, "Flow control can be set from CONFIGURATION until the task "
                                            "is stopped.")
        if job.task_type == "INCR_TRANS":
            raise FlowControlUnsupported(detail="flow control is not available for INCR_TRANS tasks")
        job.config["speed_limit"] = windows
        return "flow control cleared" if not windows else f"flow control: {len(windows)} time range(s)"

    return _update(svc, project_id, job_id, change)


# --- 4.1.16 definer -------------------------------------------------------------------------


def set_definer(svc: Services, project_id: str, job_id: str, replace_definer: bool) -> Job:
    def change(job: Job) -> str:
        require_status(job, {S.CONFIGURATION}, CONFIGURING_ONLY)
        if source_db_type(job) != "mysql":
            raise InvalidRequest("replace_definer only applies to tasks whose source is MySQL "
                                 f"(this task is {job.engine_type})")
        job.config["replace_definer"] = replace_definer
        return f"replace_definer={replace_definer}"

    return _update(svc, project_id, job_id, change)


# --- 4.3.1 data processing --------------------------------------------------------------------

_FORBIDDEN_SQL = frozenset({
    "DROP", "DELETE", "UPDATE", "INSERT", "ALTER", "CREATE", "GRANT", "REVOKE", "TRUNCATE", "RENAME",
    "SLEEP", "PG_SLEEP", "BENCHMARK", "WAITFOR", "EXEC", "EXECUTE", "CALL", "LOAD_FILE", "OUTFILE",
    "DUMPFILE", "INTO", "UNION", "HANDLER", "SHUTDOWN", "KILL", "LOCK", "UNLOCK", "COMMIT", "ROLLBACK",
})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
FILTER_HINT = "a filter is one WHERE condition such as id>5 or name like '%a%'"


def _outside_quotes(sql: str, field: str) -> str:
    """The SQL text with quoted literals/identifiers blanked; rejects unterminated quotes."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is None:
            if ch in "'\"`":
                quote = ch
                out.append(" ")
            else:
                out.append(ch)
        elif ch == "\\" and quote != "`":
            i += 1  # skip the escaped character
        elif ch == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 1  # doubled quote inside the literal
            else:
                quote = None
        i += 1
    if quote is not None:
        raise bad(field, f"close the {quote} quote; {FILTER_HINT}")
    return "".join(out)


def check_filter_sql(sql: str, field: str) -> None:
    """Reject obviously unsafe filter conditions; the engine parses them properly later."""
    if not sql.strip():
        raise bad(field, FILTER_HINT)
    if any(ord(c) < 32 and c not in "\t\r\n" for c in sql):
        raise bad(field, "remove control characters")
    bare = _outside_quotes(sql, field)
    tokens = ((";", "';'"), ("--", "comments (--)"), ("/*", "comments (/* */)"), ("#", "comments (#)"))
    for token, what in tokens:
        if token in bare:
            raise bad(field, f"remove {what}; {FILTER_HINT}")
    depth = 0
    for ch in bare:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        raise bad(field, f"balance the parentheses; {FILTER_HINT}")
    for word in _WORD.findall(bare):
        if word.upper() in _FORBIDDEN_SQL:
            raise bad(field, f"{word.upper()} is not allowed in a filter; {FILTER_HINT}")


def check_transformation(req: dict[str, Any]) -> None:
    """Request-only checks of one 4.3.1 item."""
    info = req["transformation_info"]
    kind, value = info["transformation_type"], info["value"]
    if kind == "contentConditionalFilter":
        objects = [o for o in req.get("object_info") or [] if str(o.get("select", "true")).lower() != "false"]
        if not objects:
            raise EmptyParameter("object_info (list the tables a processing rule filters)")
        if value.strip().lower() == "config":
            raise bad("transformation_info.value", f"a processing rule needs a SQL condition; {FILTER_HINT}")
        check_filter_sql(value, "transformation_info.value")
        seen: set[str] = set()
        for i, obj in enumerate(objects):
            oid = obj.get("id") or ""
            parts = split_object_id(oid)
            if len(parts) < 2 or not all(parts):
                raise bad(f"object_info[{i}].id", "use <database>-*-*-<table>, for example db1-*-*-orders")
            if oid in seen:
                raise DuplicateInRequest(f"object id {oid}")
            seen.add(oid)
        return
    if value != "config":
        raise bad("transformation_info.value", "a configuration rule (configConditionalFilter) takes the "
                                               "value config")
    cfg = req.get("config_transformation")
    if not cfg:
        raise EmptyParameter("config_transformation (a configConditionalFilter rule needs it)")
    for key in ("db_name", "table_name"):
        if not _NAME.match(cfg[key]):
            raise bad(f"config_transformation.{key}", "use only letters, digits and _")
    if cfg["db_table_name"] != f"{cfg['db_name']}.{cfg['table_name']}":
        raise bad("config_transformation.db_table_name",
                  f"use <db_name>.<table_name>, here {cfg['db_name']}.{cfg['table_name']}")
    check_filter_sql(cfg["values"], "config_transformation.values")


def _rule_key(kind: str, db: str, table: str, schema: str | None) -> str:
    """Read-back id of 004's example: ``db-*-*-table-*-*---conditionFilter--``."""
    suffix = "---conditionFilter--" if kind == "contentConditionalFilter" else "---configConditionFilter--"
    return f"{table_id(db, table, schema)}-*-*{suffix}"


def add_transformation(svc: Services, project_id: str, req: dict[str, Any]) -> Job:
    """4.3.1: append one rule to ``data_transformation`` (one rule per table and kind: M07000)."""
    info = req["transformation_info"]
    kind = info["transformation_type"]

    def change(job: Job) -> str:
        require_status(job, {S.CONFIGURATION}, CONFIGURING_ONLY)
        if job.db_use_type != "sync":
            raise InvalidRequest("data processing rules are only for synchronization tasks "
                                 "(db_use_type sync)")
        everything, dbs, tables = selected_tables(job)
        targets: list[tuple[str, str | None, str]] = []
        if kind == "contentConditionalFilter":
            for i, obj in enumerate(req.get("object_info") or []):
                if str(obj.get("select", "true")).lower() == "false":
                    continue
                parts = split_object_id(obj["id"])
                db, table = parts[0], parts[-1]
                schema = parts[1] if len(parts) > 2 else None
                if not (everything or db in dbs or tuple(parts) in tables):
                    raise bad(f"object_info[{i}].id", f"{obj['id']} is not among the selected objects; "
                                                      "select it with 4.1.5 batch-select-objects first")
                targets.append((db, schema, table))
        else:
            cfg = req["config_transformation"]
            targets.append((cfg["db_name"], None, cfg["table_name"]))
        current = job.config.get("data_transformation") or {"total_count": 0, "filter_conditions": []}
        taken = {o["id"] for rule in current["filter_conditions"]
                 for o in rule["data_transformation_object_infos"]}
        objects = []
        for db, schema, table in targets:
            key = _rule_key(kind, db, table, schema)
            if key in taken:
                raise DataProcessingRuleExists(detail=f"{db}.{table} already has a {kind} rule")
            objects.append({"id": key, "data_transformation_type": kind, "db_name": db,
                            "schema_name": schema or "", "table_name": table})
        rule: dict[str, Any] = {"transformation_info": dict(info),
                                "data_transformation_object_infos": objects}
        if kind == "configConditionalFilter":
            rule["config_transformation"] = dict(req["config_transformation"])
        rules = [*current["filter_conditions"], rule]
        job.config["data_transformation"] = {"total_count": len(rules), "filter_conditions": rules}
        return f"data processing rule ({kind}) for {len(objects)} table(s)"

    return _update(svc, project_id, req["job_id"], change)


# --- 4.3.2 sync policy ------------------------------------------------------------------------

_BINLOG_NAME_FORBIDDEN = re.compile(r"[<>&:\"'/\\]")
_BINLOG = re.compile(r"^(.{1,60})\.([0-9]{3,20}):([0-9]{1,20})$")
_MONGO_POS = re.compile(r"^([0-9]{1,10}):([0-9]{1,10})$")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INTERVAL = r"[0-9]+(?:-[0-9]+)?"
_MYSQL_GTID = re.compile(rf"^{_UUID}(?::[A-Za-z_][A-Za-z0-9_]{{0,31}})?(?::{_INTERVAL})+$")
_MARIADB_GTID = re.compile(r"^[0-9]+-[0-9]+-[0-9]+$")
_GTID_FORBIDDEN = re.compile(r"[<>&\"'/\\]")
_SLOT = re.compile(r"^[a-z0-9_]{1,63}$")
MYSQL_SOURCES = frozenset({"mysql", "taurus"})
POSTGRES_SOURCES = frozenset({"postgresql"})
KAFKA_FIELDS = ("topic_policy", "topic", "partition_policy", "kafka_data_format", "topic_name_format",
                "partitions_num", "replication_factor", "ddl_topic")
POLICY_FIELDS = ("conflict_policy", "filter_ddl_policy", "ddl_trans", "index_trans",
                 "is_fill_materialized_view", "export_snapshot", "slot_name", "file_and_position", "gtid_set",
                 *KAFKA_FIELDS)
BINLOG_HINT = ("use File_name.file_number:Event_position as SHOW MASTER STATUS prints it, "
               "e.g. mysql-bin.000277:805")


def mysql_position_ok(value: str) -> bool:
    """``mysql-bin.000277:805``: name 1-60 chars without <>&:"'/\\, number 3-20 digits, position 1-20."""
    m = _BINLOG.match(value)
    if m is None or len(value) > 100:
        return False
    return _BINLOG_NAME_FORBIDDEN.search(m.group(1)) is None


def mongo_position_ok(value: str) -> bool:
    """``timestamp:incre``, both 1..2,147,483,647."""
    m = _MONGO_POS.match(value)
    return m is not None and all(1 <= int(g) <= 2_147_483_647 for g in m.groups())


def check_gtid_set(value: str) -> None:
    """MySQL ``Executed_Gtid_Set`` (uuid[:tag]:n[-m][:...], comma separated) or MariaDB d-s-n lists."""
    field = "gtid_set"
    if len(value) > 2048:
        raise bad(field, "at most 2048 characters")
    if _GTID_FORBIDDEN.search(value) or not value.isascii():
        raise bad(field, "remove < > & \" ' / \\ and non-ASCII characters; copy Executed_Gtid_Set from SHOW "
                         "MASTER STATUS")
    for part in (p.strip() for p in value.replace("\n", "").split(",")):
        if not part:
            raise bad(field, "remove the empty element between commas")
        if _MARIADB_GTID.match(part):
            continue
        if not _MYSQL_GTID.match(part):
            raise bad(field, f"{part[:40]} is not <server_uuid>:<from>-<to>, e.g. "
                             "e4979f26-4bc3-11ee-b279-fa163ef21d64:1-23")
        for interval in part.split(":")[1:]:
            if interval and interval[0] in "0123456789":
                lo, _, hi = interval.partition("-")
                if int(lo) < 1 or (hi and int(hi) < int(lo)):
                    raise bad(field, f"interval {interval} must be 1 or more and ascending")


def check_policy(req: dict[str, Any]) -> None:
    """Request-only checks of one 4.3.2 item (grammar of positions, GTIDs, slot names)."""
    position = req.get("file_and_position")
    if position and not (mysql_position_ok(position) or mongo_position_ok(position)):
        raise bad("file_and_position", BINLOG_HINT)
    if req.get("gtid_set"):
        check_gtid_set(req["gtid_set"])
    slot = req.get("slot_name")
    if slot and not _SLOT.match(slot):
        raise bad("slot_name", "a replication slot name is 1-63 lower-case letters, digits or _")
    for key, top in (("partitions_num", 2_147_483_647), ("replication_factor", 32767)):
        value = req.get(key)
        if value is not None and (not re.fullmatch(r"[0-9]{1,10}", value) or not 1 <= int(value) <= top):
            raise bad(key, f"send a whole number from 1 to {top}")


def set_policy(svc: Services, project_id: str, req: dict[str, Any]) -> Job:
    """4.3.2: merge the given fields into ``job.config["policy"]``; each must fit the task's engines."""
    given = {k: req[k] for k in POLICY_FIELDS if req.get(k) is not None}

    def change(job: Job) -> str:
        require_status(job, {S.CONFIGURATION}, CONFIGURING_ONLY)
        src, dst = source_db_type(job), target_db_type(job)
        for key in ("slot_name", "export_snapshot", "is_fill_materialized_view"):
            if key in given and src not in POSTGRES_SOURCES:
                raise bad(key, f"only for PostgreSQL sources (this task's source is {src}); remove it")
        position = given.get("file_and_position")
        if position is not None:
            if src in MYSQL_SOURCES and not mysql_position_ok(position):
                raise bad("file_and_position", BINLOG_HINT)
            if src == "mongodb" and not mongo_position_ok(position):
                raise bad("file_and_position", "use timestamp:incre from the oplog, e.g. 1700000000:1")
            if src not in MYSQL_SOURCES | {"mongodb"}:
                raise bad("file_and_position", f"only for MySQL or MongoDB sources (this task's source "
                                               f"is {src}); remove it")
        if "gtid_set" in given and src not in MYSQL_SOURCES:
            raise bad("gtid_set", f"only for MySQL sources (this task's source is {src}); remove it")
        if ("file_and_position" in given or "gtid_set" in given) and job.task_type != "INCR_TRANS":
            raise bad("file_and_position" if "file_and_position" in given else "gtid_set",
                      "a start position only applies to incremental-only (INCR_TRANS) tasks; a task with a "
                      "full phase starts from its snapshot")
        for key in KAFKA_FIELDS:
            if key in given and dst != "kafka":
                raise bad(key, f"only for Kafka destinations (this task's destination is {dst}); remove it")
        policy = {**(job.config.get("policy") or {}), **given}
        if job.db_use_type == "sync" and src in MYSQL_SOURCES and policy.get("filter_ddl_policy") not in (
                None, "drop_database"):
            raise bad("filter_ddl_policy", "MySQL synchronization tasks filter drop_database; "
                                           "send drop_database")
        job.config["policy"] = policy
        return "sync policy: " + ", ".join(sorted(given)) if given else "sync policy unchanged"

    return _update(svc, project_id, req["job_id"], change)


# --- 4.1.9 / 4.1.10 database parameters -------------------------------------------------------


class DbParamsEngine(Protocol):
    """An engine's parameter comparison: read both sides, change the destination."""

    def read(self, svc: Services, job: Job) -> list[dict[str, Any]]:
        """4.1.9 ``params[]`` items: compare_result, group, key, source_value, target_value, ..."""
        ...

    def apply(self, svc: Services, job: Job, group: str, params: list[dict[str, str]]) -> bool:
        """Set the destination's parameters; returns whether the instance must restart."""
        ...


DB_PARAMS: dict[str, DbParamsEngine] = {}


def _params_gate(job: Job) -> None:
    if not (job.engine_type in ("mysql", "cloudDataGuard-mysql") and job.db_use_type in ("migration",
                                                                                         "cloudDataGuard")):
        raise InvalidRequest("database parameter comparison is only for MySQL migration and MySQL disaster "
                             f"recovery tasks (this task is {job.db_use_type}/{job.engine_type})")
    if job.job_direction != "up":
        raise InvalidRequest("database parameter comparison is only for tasks to the cloud "
                             f"(job_direction up); this task is {job.job_direction}")
    require_status(job, {S.CONFIGURATION}, "Compare and change parameters before the task is started.")


def show_params(svc: Services, project_id: str, job_ids: list[str], refresh: str) -> list[dict[str, Any]]:
    """4.1.9: one ``{params: [...]}`` per task; the response has no per-task error slot, so any
    task that cannot be compared fails the whole call."""
    out: list[dict[str, Any]] = []
    for job_id in job_ids:
        with svc.store.session() as s:
            job = load(JobRepo(s), project_id, job_id)
        _params_gate(job)
        cached = job.runtime.get("db_params")
        if refresh == "0" and cached is None:
            raise NotInCache(hint="Call batch-get-params with refresh 1 first.")
        engine = DB_PARAMS.get(job.engine_type)
        if engine is None:
            raise not_available("database parameter comparison", job.engine_type)
        if refresh == "0" and cached is not None:
            out.append({"params": cached["params"]})
            continue
        params = engine.read(svc, job)

        def remember(j: Job, params: list[dict[str, Any]] = params) -> str:
            j.runtime["db_params"] = {"at": now_ms(), "params": params}
            return f"database parameters read ({len(params)})"

        _update(svc, project_id, job_id, remember)
        out.append({"params": params})
    return out


def update_params(svc: Services, project_id: str, job_id: str, group: str,
                  params: list[dict[str, str]]) -> dict[str, Any]:
    """4.1.10: only keys 4.1.9 returned for ``group`` may change."""
    with svc.store.session() as s:
        job = load(JobRepo(s), project_id, job_id)
    _params_gate(job)
    cached = job.runtime.get("db_params")
    if cached is None:
        raise NotInCache(hint="Call 4.1.9 batch-get-params with refresh 1 for this task first.")
    known = {p["key"]: p for p in cached["params"] if p.get("group") == group}
    for i, p in enumerate(params):
        if p["key"] not in known:
            raise bad(f"params[{i}].key", f"{p['key']} is not a {group} parameter returned by 4.1.9 "
                                          "batch-get-params")
    engine = DB_PARAMS.get(job.engine_type)
    if engine is None:
        raise not_available("changing database parameters", job.engine_type)
    restart = engine.apply(svc, job, group, params)

    def remember(j: Job) -> str:
        values = {p["key"]: p["target_value"] for p in params}
        for p in j.runtime.get("db_params", {}).get("params", []):
            if p.get("group") == group and p["key"] in values:
                p["target_value"] = values[p["key"]]
        stored = j.config.setdefault("db_param", {})
        merged = {p["key"]: p["target_value"] for p in stored.get(group, [])} | values
        stored[group] = [{"key": k, "target_value": v} for k, v in merged.items()]
        return f"{group} parameters changed: {', '.join(sorted(values))}"

    _update(svc, project_id, job_id, remember)
    return {"success": True, "should_restart": "true" if restart else "false"}


# --- 4.2.1 / 4.2.2 users ----------------------------------------------------------------------

SourceUserLister = Callable[[Services, Job], dict[str, Any]]
# engine_type -> lister returning {"user_list": [...], "roles_list": [...]} in the 4.2.2 shapes.
SOURCE_USERS: dict[str, SourceUserLister] = {}


def _users_gate(job: Job) -> None:
    pg_sync = job.db_use_type == "sync" and source_db_type(job) in POSTGRES_SOURCES
    if job.db_use_type != "migration" and not pg_sync:
        raise InvalidRequest("user migration is only for migration tasks and PostgreSQL synchronization "
                             f"tasks (this task is {job.db_use_type}/{job.engine_type})")
    require_status(job, {S.CONFIGURATION}, "Choose the users to migrate before the task is started.")


def check_users(req: dict[str, Any]) -> None:
    """Request-only checks of one 4.2.1 item."""
    users: list[dict[str, Any]] | None = req.get("users")
    roles: list[dict[str, Any]] | None = req.get("user_roles")
    if req["is_migrate_user"]:
        if users is None:
            raise EmptyParameter("list (required when is_migrate_user is true)")
        if roles is None:
            raise EmptyParameter("user_roles (required when is_migrate_user is true)")
    if req["is_set_password"] and not req.get("password"):
        raise EmptyParameter("password (required when is_set_password is true)")
    check_unique_ids([u["id"] for u in users or []], "user id")
    check_unique_ids([r["role"] for r in roles or []], "role")
    for i, u in enumerate(users or []):
        if u.get("is_set_password") and not (u.get("password") or req.get("password")):
            raise EmptyParameter(f"list[{i}].password (required when the user's is_set_password is true)")


def _public_user(user: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in user.items() if k != "password_sealed"}
    out["password"] = MASK if user.get("password_sealed") else None
    return out


def update_users(svc: Services, project_id: str, req: dict[str, Any]) -> dict[str, Any]:
    """4.2.1: store the choice in ``job.config["user_migration"]`` (passwords sealed)."""

    def change(job: Job) -> str:
        _users_gate(job)
        if req.get("is_sync_object_privilege") and job.db_use_type != "sync":
            raise bad("is_sync_object_privilege", "only for PostgreSQL synchronization tasks; remove it")
        users = []
        for u in req.get("users") or []:
            stored = {k: v for k, v in u.items() if k != "password" and v is not None}
            if u.get("password"):
                stored["password_sealed"] = svc.box.seal(u["password"])
            users.append(stored)
        doc: dict[str, Any] = {
            "is_migrate_user": req["is_migrate_user"],
            "is_set_password": req["is_set_password"],
            "is_sync_object_privilege": bool(req.get("is_sync_object_privilege")),
            "user_list": users,
            "role_list": [{k: v for k, v in r.items() if v is not None} for r in req.get("user_roles") or []],
        }
        if req.get("password"):
            doc["password_sealed"] = svc.box.seal(req["password"])
        job.config["user_migration"] = doc
        return f"user migration: {len(users)} user(s), {len(doc['role_list'])} role(s)"

    job = _update(svc, project_id, req["job_id"], change)
    doc = job.config["user_migration"]
    return {"job_id": job.id, "is_success": True, "message": "SUCCESS",
            "is_global_password": "true" if doc.get("password_sealed") else "false",
            "user_list": [_public_user(u) for u in doc["user_list"]], "roles_list": doc["role_list"]}


def list_users(svc: Services, project_id: str, job_id: str) -> dict[str, Any]:
    """4.2.2: the source's users and roles, marked with what 4.2.1 selected."""
    with svc.store.session() as s:
        job = load(JobRepo(s), project_id, job_id)
    _users_gate(job)
    lister = SOURCE_USERS.get(job.engine_type)
    if lister is None:
        raise not_available("listing source database users", job.engine_type)
    found = lister(svc, job)
    chosen = job.config.get("user_migration") or {}
    picked = {u["id"]: u for u in chosen.get("user_list", [])}
    roles = {r["role"]: r for r in chosen.get("role_list", [])}
    users = [{**u, "selected": bool(picked.get(u["id"], {}).get("selected", u.get("selected")))}
             for u in found.get("user_list", [])]
    role_list = [{**r, "selected": bool(roles.get(r["role"], {}).get("selected", r.get("selected")))}
                 for r in found.get("roles_list", [])]
    return {"job_id": job.id, "is_success": True, "message": "SUCCESS",
            "is_global_password": "true" if chosen.get("password_sealed") else "false",
            "user_list": users, "roles_list": role_list}


# --- what a pre-check vouches for ---------------------------------------------------------------

PRECHECKED_CONFIG = ("source_endpoint", "target_endpoint", "object_selection", "policy",
                     "data_transformation", "user_migration", "replace_definer")


def config_digest(job: Job) -> str:
    """Fingerprint of what a pre-check examined; start refuses when it changed since the pre-check."""
    doc = {
        "scenario": [job.db_use_type, job.engine_type, job.job_direction, job.task_type],
        **{k: job.config.get(k) for k in PRECHECKED_CONFIG},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
