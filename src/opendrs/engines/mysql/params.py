"""Database parameter comparison (spec 4.1.9) and change (4.1.10) for MySQL/MariaDB targets.

Why a fixed table: the spec compares a curated set of server variables that change how data
and applications behave after the move (charsets, sql_mode, time zone, isolation, packet
size, timeouts: group ``common``) or how fast the target runs (buffers and caches: group
``performance``). Only those keys may be read or changed through the API, so nothing else on
the target can be touched this way. Where the target can describe its own variables (MariaDB's
``information_schema.SYSTEM_VARIABLES``) its real value ranges and read-only flags win over
the table's defaults.

Changes are made with ``SET GLOBAL`` (``SET PERSIST`` on MySQL 8, which also survives a
restart); on MariaDB the DBA must also put the value into my.cnf to keep it after a restart.
A read-only variable cannot be changed on a running server: 4.1.10 then reports
``should_restart`` true, meaning "set it in my.cnf and restart the target".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import pymysql

from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.errors import InvalidParameter, InvalidRequest
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job

if TYPE_CHECKING:
    Conn: TypeAlias = pymysql.connections.Connection[Any]

COMMON: Final = "common"
PERFORMANCE: Final = "performance"
_TIME_ZONE = re.compile(r"^(SYSTEM|[+-]\d{1,2}:\d{2}|[A-Za-z][A-Za-z0-9_+/-]{0,63})$")
# SET GLOBAL errors that mean "this value is wrong", as opposed to "you may not".
_BAD_VALUE_ERRORS: Final = frozenset({1231, 1232, 1298, 1115, 1273})


@dataclass(frozen=True)
class ParamSpec:
    """One comparable parameter. ``kind``: int | float | enum | bool | set | text."""

    key: str
    group: str
    kind: str
    value_range: str  # used when the target cannot describe the variable itself
    need_restart: bool = False  # likewise
    names: tuple[str, ...] = ()  # server variable names to try (renamed across versions)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.names or (self.key,)

    @property
    def data_type(self) -> str | None:
        return "figure" if self.kind in ("int", "float") else None


_U64 = "18446744073709551615"
_TIMEOUT = "1-31536000"
PARAMS: Final[tuple[ParamSpec, ...]] = (
    ParamSpec("character_set_server", COMMON, "enum", "utf8mb4|utf8|latin1|gbk"),
    ParamSpec("collation_server", COMMON, "enum", "utf8mb4_general_ci|utf8mb4_bin|utf8mb4_unicode_ci"),
    ParamSpec("sql_mode", COMMON, "set", "REAL_AS_FLOAT|PIPES_AS_CONCAT|ANSI_QUOTES|IGNORE_SPACE|ONLY_FULL_GROUP_BY|"
              "NO_UNSIGNED_SUBTRACTION|NO_DIR_IN_CREATE|ANSI|NO_AUTO_VALUE_ON_ZERO|NO_BACKSLASH_ESCAPES|"
              "STRICT_TRANS_TABLES|STRICT_ALL_TABLES|NO_ZERO_IN_DATE|NO_ZERO_DATE|ALLOW_INVALID_DATES|"
              "ERROR_FOR_DIVISION_BY_ZERO|TRADITIONAL|HIGH_NOT_PRECEDENCE|NO_ENGINE_SUBSTITUTION|"
              "PAD_CHAR_TO_FULL_LENGTH|TIME_TRUNCATE_FRACTIONAL|NO_AUTO_CREATE_USER"),
    ParamSpec("time_zone", COMMON, "text", "SYSTEM|+HH:MM|a named time zone"),
    ParamSpec("max_allowed_packet", COMMON, "int", "1024-1073741824"),
    ParamSpec("explicit_defaults_for_timestamp", COMMON, "bool", "ON|OFF"),
    ParamSpec("tx_isolation", COMMON, "enum", "READ-UNCOMMITTED|READ-COMMITTED|REPEATABLE-READ|SERIALIZABLE",
              names=("tx_isolation", "transaction_isolation")),
    ParamSpec("innodb_lock_wait_timeout", COMMON, "int", "1-1073741824"),
    ParamSpec("innodb_flush_log_at_trx_commit", COMMON, "int", "0-2"),
    ParamSpec("innodb_strict_mode", COMMON, "bool", "ON|OFF"),
    ParamSpec("lower_case_table_names", COMMON, "int", "0-2", need_restart=True),
    ParamSpec("auto_increment_increment", COMMON, "int", "1-65535"),
    ParamSpec("auto_increment_offset", COMMON, "int", "1-65535"),
    ParamSpec("event_scheduler", COMMON, "enum", "ON|OFF"),
    ParamSpec("default_storage_engine", COMMON, "text", "InnoDB|MyISAM"),
    ParamSpec("group_concat_max_len", COMMON, "int", f"4-{_U64}"),
    ParamSpec("connect_timeout", COMMON, "int", "2-31536000"),
    ParamSpec("max_connections", COMMON, "int", "1-100000"),
    ParamSpec("net_read_timeout", COMMON, "int", _TIMEOUT),
    ParamSpec("net_write_timeout", COMMON, "int", _TIMEOUT),
    ParamSpec("wait_timeout", COMMON, "int", _TIMEOUT),
    ParamSpec("interactive_timeout", COMMON, "int", _TIMEOUT),
    ParamSpec("binlog_cache_size", PERFORMANCE, "int", f"4096-{_U64}"),
    ParamSpec("binlog_stmt_cache_size", PERFORMANCE, "int", f"4096-{_U64}"),
    ParamSpec("bulk_insert_buffer_size", PERFORMANCE, "int", f"0-{_U64}"),
    ParamSpec("innodb_buffer_pool_size", PERFORMANCE, "int", f"5242880-{_U64}"),
    ParamSpec("key_buffer_size", PERFORMANCE, "int", f"8-{_U64}"),
    ParamSpec("long_query_time", PERFORMANCE, "float", "0-31536000"),
    ParamSpec("read_buffer_size", PERFORMANCE, "int", "8192-2147479552"),
    ParamSpec("read_rnd_buffer_size", PERFORMANCE, "int", "1-2147483647"),
    ParamSpec("sort_buffer_size", PERFORMANCE, "int", f"32768-{_U64}"),
    ParamSpec("join_buffer_size", PERFORMANCE, "int", f"128-{_U64}"),
    ParamSpec("tmp_table_size", PERFORMANCE, "int", f"1024-{_U64}"),
    ParamSpec("max_heap_table_size", PERFORMANCE, "int", f"16384-{_U64}"),
    ParamSpec("table_open_cache", PERFORMANCE, "int", "1-524288"),
    ParamSpec("thread_cache_size", PERFORMANCE, "int", "0-16384"),
    ParamSpec("sync_binlog", PERFORMANCE, "int", "0-4294967295"),
)
BY_KEY: Final = {p.key: p for p in PARAMS}


# --- reading a server ----------------------------------------------------------------------------


def global_variables(conn: Conn) -> dict[str, str]:
    """``SHOW GLOBAL VARIABLES`` as {lower-case name: text value}."""
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES")
        return {str(k).lower(): "" if v is None else _text(v) for k, v in cur.fetchall()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


@dataclass(frozen=True)
class VariableInfo:
    """What a server says about one of its variables (MariaDB only; MySQL cannot tell)."""

    read_only: bool
    value_range: str | None


def describe_variables(conn: Conn, names: list[str]) -> dict[str, VariableInfo]:
    """Read-only flags and ranges from ``information_schema.SYSTEM_VARIABLES`` (empty on MySQL)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VARIABLE_NAME, READ_ONLY, NUMERIC_MIN_VALUE, NUMERIC_MAX_VALUE, ENUM_VALUE_LIST "
                        "FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME IN %s",
                        ([n.upper() for n in names],))
            rows = cur.fetchall()
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in (1109, 1146):  # MySQL has no SYSTEM_VARIABLES table
            return {}
        raise
    out: dict[str, VariableInfo] = {}
    for name, read_only, low, high, enum in rows:
        if enum:
            span: str | None = _text(enum).replace(",", "|")
        elif low is not None and high is not None:
            span = f"{_number(_text(low))}-{_number(_text(high))}"
        else:
            span = None
        out[_text(name).lower()] = VariableInfo(_text(read_only).upper() == "YES", span)
    return out


def _number(text: str) -> str:
    """``0.000000`` -> ``0``, ``31536000.000000`` -> ``31536000``; integers unchanged."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _choices(conn: Conn, sql: str) -> str:
    with conn.cursor() as cur:
        cur.execute(sql)
        return "|".join(sorted(_text(r[0]) for r in cur.fetchall()))


def _dynamic_ranges(conn: Conn) -> dict[str, str]:
    """Ranges that are the target's own catalogue: its character sets, collations, engines."""
    return {
        "character_set_server": _choices(conn, "SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS"),
        "collation_server": _choices(conn, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS"),
        "default_storage_engine": _choices(
            conn, "SELECT ENGINE FROM information_schema.ENGINES WHERE SUPPORT IN ('YES', 'DEFAULT')"),
    }


def normalise(spec: ParamSpec, value: str | None) -> object:
    """The comparable form of a value: numbers as Decimal, enums upper-case, sets as frozensets."""
    if value is None:
        return None
    if spec.kind in ("int", "float"):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if spec.kind == "set":
        return frozenset(t.strip().upper() for t in value.split(",") if t.strip())
    if spec.kind == "bool":
        return {"1": "ON", "TRUE": "ON", "0": "OFF", "FALSE": "OFF"}.get(value.upper(), value.upper())
    return value.upper()


def _pick(variables: dict[str, str], spec: ParamSpec) -> tuple[str | None, str | None]:
    """(server variable name, value) of the first name the server knows."""
    for name in spec.variables:
        if name in variables:
            return name, variables[name]
    return None, None


def compare(spec: ParamSpec, source: dict[str, str], target: dict[str, str], info: dict[str, VariableInfo],
            ranges: dict[str, str]) -> dict[str, Any] | None:
    """One 4.1.9 ``params`` item; None when neither server has the variable."""
    src_name, src_value = _pick(source, spec)
    dst_name, dst_value = _pick(target, spec)
    if src_name is None and dst_name is None:
        return None
    known = info.get(dst_name or "")
    message = None
    if src_name is None or dst_name is None:
        side = "source" if src_name is None else "target"
        message = f"{' / '.join(spec.variables)} does not exist on the {side} database (its version has no such " \
                  "setting)"
    return {
        "compare_result": "true" if message is None and normalise(spec, src_value) == normalise(spec, dst_value)
        else "false",
        "data_type": spec.data_type,
        "group": spec.group,
        "key": spec.key,
        "need_restart": "true" if (known.read_only if known else spec.need_restart) else "false",
        "source_value": src_value,
        "target_value": dst_value,
        "value_range": ranges.get(spec.key) or (known.value_range if known and known.value_range else None)
        or spec.value_range,
        "error_code": None,
        "error_message": message,
    }


def read_params(source: Conn, target: Conn) -> list[dict[str, Any]]:
    """Every parameter of ``PARAMS`` either server has, compared."""
    src, dst = global_variables(source), global_variables(target)
    info = describe_variables(target, [n for p in PARAMS for n in p.variables])
    ranges = _dynamic_ranges(target)
    return [item for item in (compare(p, src, dst, info, ranges) for p in PARAMS) if item is not None]


# --- changing the target -------------------------------------------------------------------------


def _bad(field: str, hint: str) -> InvalidParameter:
    return InvalidParameter(f"{field} ({hint})", detail=hint)


def literal(spec: ParamSpec, value: str, value_range: str, field: str) -> int | Decimal | str:
    """Validate ``value`` against the parameter's range; the Python value to send to SET GLOBAL."""
    text = value.strip()
    if spec.kind in ("int", "float"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _bad(field, f"{spec.key} takes a number in {value_range}") from None
        low, _, high = value_range.partition("-")
        if (low and number < Decimal(low)) or (high and number > Decimal(high)):
            raise _bad(field, f"{spec.key} must be within {value_range}")
        if spec.kind == "int":
            if number != number.to_integral_value():
                raise _bad(field, f"{spec.key} takes a whole number")
            return int(number)
        return number
    choices = {c.upper(): c for c in value_range.split("|")}
    if spec.kind == "bool":
        text = str(normalise(spec, text))
    if spec.kind in ("enum", "bool"):
        if text.upper() not in choices:
            raise _bad(field, f"{spec.key} takes one of {value_range}")
        return choices[text.upper()]
    if spec.kind == "set":
        tokens = [t.strip().upper() for t in text.split(",") if t.strip()]
        unknown = [t for t in tokens if t not in choices]
        if unknown:
            raise _bad(field, f"{', '.join(unknown)} is not a {spec.key} value; use a comma-separated list of "
                              f"{value_range}")
        return ",".join(tokens)
    if spec.key == "time_zone" and not _TIME_ZONE.match(text):
        raise _bad(field, "time_zone takes SYSTEM, an offset such as +08:00, or a named time zone")
    if spec.key == "default_storage_engine" and text.upper() not in choices:
        raise _bad(field, f"the target supports the storage engines {value_range}")
    return text


def apply_params(target: Conn, group: str, params: list[dict[str, str]]) -> bool:
    """Validate every value first, then ``SET GLOBAL`` the dynamic ones; True if a restart is needed."""
    current = read_params(target, target)
    by_key = {p["key"]: p for p in current}
    mysql8 = _is_mysql8(target)
    variables = global_variables(target)
    planned: list[tuple[str, int | Decimal | str]] = []
    restart = False
    for i, p in enumerate(params):
        field = f"params[{i}]"
        spec = BY_KEY.get(p["key"])
        if spec is None or spec.group != group or p["key"] not in by_key:
            raise _bad(f"{field}.key", f"{p['key']} is not a {group} parameter of this target; call 4.1.9 "
                                       "batch-get-params for the list")
        known = by_key[spec.key]
        value = literal(spec, str(p["target_value"]), str(known["value_range"]), f"{field}.target_value")
        if known["need_restart"] == "true":
            restart = True  # read-only while running: the DBA sets it in my.cnf and restarts
            continue
        name, _ = _pick(variables, spec)
        planned.append((name or spec.key, value))
    done: list[str] = []
    with target.cursor() as cur:
        for name, value in planned:
            sql_value = str(value) if isinstance(value, int | Decimal) else target.escape(value)
            try:
                cur.execute(f"SET {'PERSIST' if mysql8 else 'GLOBAL'} {name} = {sql_value}")
            except pymysql.err.MySQLError as exc:
                applied = f" ({', '.join(done)} already changed)" if done else ""
                code = exc.args[0] if exc.args else None
                if code in _BAD_VALUE_ERRORS:
                    raise _bad("params.target_value", f"the target rejected {name} = {value}: {exc.args[-1]}"
                                                      f"{applied}") from exc
                raise InvalidRequest(
                    f"the target refused to change {name}: {exc.args[-1]}{applied}. The target account needs SUPER "
                    "(MariaDB, MySQL 5.7) or SYSTEM_VARIABLES_ADMIN (MySQL 8) to change global variables",
                    detail=str(exc)) from exc
            done.append(name)
    return restart


def _is_mysql8(conn: Conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    version = _text(row[0]) if row else ""
    return "mariadb" not in version.lower() and int(version.split(".")[0] or 0) >= 8


# --- the service-layer provider (configure.DbParamsEngine) ----------------------------------------


def open_endpoint(svc: Services, job: Job, side: str) -> Conn:
    """Connect to the task's ``source`` or ``target``; an API caller gets a 400 saying why not."""
    ep = endpoint_config(svc, job.config.get(f"{side}_endpoint") or {})
    try:
        return connect(ep, read_timeout=60)
    except MySQLEngineError as exc:
        raise InvalidRequest(f"{exc.error_msg}. Check the task's {side} endpoint (4.1.4) and its connection test "
                             "(4.1.2), then try again", detail=exc.detail) from exc


class MySQLParams:
    """``DB_PARAMS`` provider: reads both endpoints of the task, changes its target."""

    def read(self, svc: Services, job: Job) -> list[dict[str, Any]]:
        source = open_endpoint(svc, job, "source")
        try:
            target = open_endpoint(svc, job, "target")
            try:
                return read_params(source, target)
            finally:
                target.close()
        finally:
            source.close()

    def apply(self, svc: Services, job: Job, group: str, params: list[dict[str, str]]) -> bool:
        target = open_endpoint(svc, job, "target")
        try:
            return apply_params(target, group, params)
        finally:
            target.close()
