"""Database parameter comparison (spec 4.1.9) and change (4.1.10) for PostgreSQL targets.

Why a fixed table: as for MySQL, only a curated set of settings is compared and may be changed
through the API -- the ones that change how data is written or read back as text (DateStyle,
IntervalStyle, lc_monetary for ``money``, bytea_output, xmloption, standard_conforming_strings,
the database's encoding and locale: group ``common``) or how fast the target loads and applies
(memory, WAL and checkpoint settings: group ``performance``). Everything else about a setting
(type, unit, range, enum values, whether it needs a restart) comes from the target's own
``pg_settings``, so the answer is right for whatever version the target runs.

Changes use ``ALTER SYSTEM`` (persisted in postgresql.auto.conf) and ``pg_reload_conf()``.
A ``postmaster`` setting is persisted too but only takes effect after a restart: 4.1.10 then
answers ``should_restart`` true. Settings fixed when the cluster or database was created
(encoding, lc_collate, lc_ctype) cannot be changed at all and are refused.

This module also opens the task's endpoints for the other PostgreSQL configuration providers
(users, pre-check): one database per task, the source endpoint's ``db_name`` (default
``postgres``) and, on the target, its own ``db_name`` or else the source's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeAlias

import psycopg
from psycopg import sql

from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.config import DEFAULT_DB, connect_args, ssl_params
from opendrs.engines.postgres.errors import translate
from opendrs.errors import InvalidParameter, InvalidRequest
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job

Conn: TypeAlias = psycopg.Connection[Any]

COMMON: Final = "common"
PERFORMANCE: Final = "performance"
STATEMENT_TIMEOUT_MS: Final = 60_000
OVERRIDING_SOURCES: Final = ("command line", "database", "user", "database user")
# Read from pg_database: fixed at CREATE DATABASE (and no longer in pg_settings from PostgreSQL 16).
DATABASE_FIXED: Final = frozenset({"lc_collate", "lc_ctype"})


# --- connecting to the task's databases ----------------------------------------------------------


def task_databases(job: Job) -> tuple[str, str]:
    """(source database, target database) of a PostgreSQL task: one database per task."""
    source = str((job.config.get("source_endpoint") or {}).get("db_name") or DEFAULT_DB)
    target = str((job.config.get("target_endpoint") or {}).get("db_name") or source)
    return source, target


def connect(ep: EndpointConfig, dbname: str, application: str = "opendrs-config") -> Conn:
    """An autocommit psycopg connection to ``dbname``; raises ``psycopg.Error`` as libpq reports it."""
    args = connect_args(ep) | {"dbname": dbname, "application_name": application,
                               "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"}
    with ssl_params(ep) as tls:
        return psycopg.connect(**(args | tls))


def open_endpoint(svc: Services, job: Job, side: str) -> Conn:
    """Connect to the task's ``source`` or ``target`` database; an API caller gets a 400 saying why not."""
    ep = endpoint_config(svc, job.config.get(f"{side}_endpoint") or {})
    dbname = task_databases(job)[0 if side == "source" else 1]
    try:
        return connect(ep, dbname)
    except psycopg.Error as exc:
        result = translate(exc, ep)
        raise InvalidRequest(f"{result.error_msg}. Check the task's {side} endpoint (4.1.4) and its connection test "
                             "(4.1.2), then try again", detail=result.detail) from exc


# --- the compared settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    key: str  # the pg_settings name (lower case)
    group: str


def _specs(group: str, keys: str) -> tuple[ParamSpec, ...]:
    return tuple(ParamSpec(k, group) for k in keys.split())


PARAMS: Final[tuple[ParamSpec, ...]] = (
    *_specs(COMMON, "server_encoding lc_collate lc_ctype lc_monetary lc_numeric lc_time timezone datestyle "
                    "intervalstyle extra_float_digits bytea_output xmloption xmlbinary standard_conforming_strings "
                    "default_text_search_config search_path default_transaction_isolation max_connections "
                    "max_locks_per_transaction max_prepared_transactions statement_timeout lock_timeout "
                    "idle_in_transaction_session_timeout password_encryption wal_level max_replication_slots "
                    "max_wal_senders track_commit_timestamp"),
    *_specs(PERFORMANCE, "shared_buffers work_mem maintenance_work_mem effective_cache_size temp_buffers wal_buffers "
                         "max_wal_size min_wal_size checkpoint_timeout checkpoint_completion_target "
                         "synchronous_commit random_page_cost effective_io_concurrency max_worker_processes "
                         "max_parallel_workers max_parallel_workers_per_gather max_parallel_maintenance_workers "
                         "autovacuum default_statistics_target"),
)
BY_KEY: Final = {p.key: p for p in PARAMS}


@dataclass(frozen=True)
class Setting:
    """One row of ``pg_settings`` (or a database-fixed value from ``pg_database``)."""

    name: str
    setting: str
    unit: str | None
    vartype: str  # bool | enum | integer | real | string
    context: str  # internal | postmaster | sighup | superuser-backend | backend | superuser | user
    min_val: str | None
    max_val: str | None
    enumvals: tuple[str, ...]
    source: str = ""


def read_settings(conn: Conn) -> dict[str, Setting]:
    """The compared settings as the server reports them (names lower case)."""
    rows = conn.execute("SELECT lower(name), setting, unit, vartype, context, min_val, max_val, enumvals, source "
                        "FROM pg_settings WHERE lower(name) = ANY(%s)", ([p.key for p in PARAMS],)).fetchall()
    out = {str(r[0]): Setting(str(r[0]), str(r[1] or ""), r[2], str(r[3]), str(r[4]), r[5], r[6],
                              tuple(r[7] or ()), str(r[8] or "")) for r in rows}
    row = conn.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()").fetchone()
    if row is not None:
        for name, value in zip(("lc_collate", "lc_ctype"), row, strict=True):
            out[name] = Setting(name, str(value), None, "string", "internal", None, None, ())
    return out


def value_range(s: Setting) -> str:
    """What 4.1.9 shows as ``value_range``: ``min-max`` (with the unit), enum values, or a description."""
    if s.vartype == "bool":
        return "on|off"
    if s.vartype == "enum":
        return "|".join(s.enumvals)
    if s.vartype in ("integer", "real") and s.min_val is not None and s.max_val is not None:
        span = f"{_number(s.min_val)}-{_number(s.max_val)}"
        if not s.unit:
            return span
        family = _unit_factor(s.unit)
        example = "5min" if family is not None and family[0] is _TIME else "256MB"
        return f"{span} (unit {s.unit}; or a value with a unit, e.g. {example})"
    if s.name in DATABASE_FIXED or s.context == "internal":
        return "fixed when the cluster or database is created"
    return "text"


def _number(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def normalise(s: Setting) -> object:
    """Comparable form: numbers as Decimal in the base unit, booleans on/off, text case-insensitive."""
    if s.vartype in ("integer", "real"):
        try:
            return Decimal(s.setting)
        except InvalidOperation:
            return s.setting
    if s.vartype == "bool":
        return "on" if s.setting.lower() in ("on", "true", "1", "yes") else "off"
    if s.name in DATABASE_FIXED:  # C.UTF-8 and C.utf8 name the same locale
        return s.setting.lower().replace("-", "")
    return s.setting.lower()


def compare(spec: ParamSpec, source: dict[str, Setting], target: dict[str, Setting]) -> dict[str, Any] | None:
    """One 4.1.9 ``params`` item; None when neither server has the setting."""
    src, dst = source.get(spec.key), target.get(spec.key)
    if src is None and dst is None:
        return None
    message = None
    if src is None or dst is None:
        message = f"{spec.key} does not exist on the {'source' if src is None else 'target'} database (its version " \
                  "has no such setting)"
    known = dst or src
    assert known is not None
    same = src is not None and dst is not None and normalise(src) == normalise(dst)
    return {
        "compare_result": "true" if message is None and same else "false",
        "data_type": "figure" if known.vartype in ("integer", "real") else None,
        "group": spec.group,
        "key": spec.key,
        "need_restart": "true" if known.context in ("postmaster", "internal") else "false",
        "source_value": src.setting if src else None,
        "target_value": dst.setting if dst else None,
        "value_range": value_range(known),
        "error_code": None,
        "error_message": message,
    }


def read_params(source: Conn, target: Conn) -> list[dict[str, Any]]:
    """Every parameter of ``PARAMS`` either server has, compared."""
    src, dst = read_settings(source), read_settings(target)
    return [item for item in (compare(p, src, dst) for p in PARAMS) if item is not None]


# --- validating and changing the target ------------------------------------------------------------

_MEMORY: Final = {"B": Decimal(1) / 1024, "kB": Decimal(1), "MB": Decimal(1024), "GB": Decimal(1024 ** 2),
                  "TB": Decimal(1024 ** 3)}
_TIME: Final = {"us": Decimal("0.001"), "ms": Decimal(1), "s": Decimal(1000), "min": Decimal(60_000),
                "h": Decimal(3_600_000), "d": Decimal(86_400_000)}
_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def _unit_factor(unit: str) -> tuple[dict[str, Decimal], Decimal] | None:
    """(the unit family, size of one base unit in it) for a pg_settings unit like ``8kB`` or ``ms``."""
    m = re.match(r"^(\d*)([A-Za-z]+)$", unit)
    if m is None:
        return None
    count = Decimal(m.group(1) or 1)
    for family in (_MEMORY, _TIME):
        if m.group(2) in family:
            return family, count * family[m.group(2)]
    return None


def _bad(field: str, hint: str) -> InvalidParameter:
    return InvalidParameter(f"{field} ({hint})", detail=hint)


def in_base_unit(s: Setting, value: str, field: str) -> Decimal:
    """A numeric value (``4096``, ``256MB``, ``5min``) in the setting's base unit, checked against its range."""
    m = _QUANTITY.match(value)
    if m is None:
        raise _bad(field, f"{s.name} takes a number in {value_range(s)}")
    number, unit = Decimal(m.group(1)), m.group(2)
    if unit:
        base = _unit_factor(s.unit or "")
        if base is None or unit not in base[0]:
            raise _bad(field, f"{s.name} takes no unit {unit!r}; use {value_range(s)}")
        number = number * base[0][unit] / base[1]
    if s.vartype == "integer":
        if unit:
            number = number.to_integral_value()
        elif number != number.to_integral_value():
            raise _bad(field, f"{s.name} takes a whole number")
    low, high = Decimal(s.min_val or "-Infinity"), Decimal(s.max_val or "Infinity")
    if not low <= number <= high:
        raise _bad(field, f"{s.name} must be within {value_range(s)}")
    return number


def _validate(conn: Conn, s: Setting, value: str, field: str) -> str:
    """The literal to give ALTER SYSTEM, after checking ``value`` fits the setting."""
    text = value.strip()
    if s.name in DATABASE_FIXED or s.context == "internal":
        raise _bad(field, f"{s.name} is fixed when the cluster or database is created and cannot be changed; create "
                          "the target database again with the wanted value (CREATE DATABASE ... TEMPLATE template0)")
    if s.vartype in ("integer", "real"):
        in_base_unit(s, text, field)
        return text
    if s.vartype == "bool":
        mapped = {"on": "on", "true": "on", "yes": "on", "1": "on", "off": "off", "false": "off", "no": "off",
                  "0": "off"}.get(text.lower())
        if mapped is None:
            raise _bad(field, f"{s.name} takes on or off")
        return mapped
    if s.vartype == "enum":
        choices = {c.lower(): c for c in s.enumvals}
        if text.lower() not in choices:
            raise _bad(field, f"{s.name} takes one of {value_range(s)}")
        return choices[text.lower()]
    if s.context in ("user", "superuser"):  # let the server parse it in a transaction that is rolled back
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SELECT set_config(%s, %s, true)", (s.name, text))
        except psycopg.errors.DataError as exc:
            raise _bad(field, f"the target rejected {s.name} = {text}: {exc.diag.message_primary}") from exc
    return text


def overridden(conn: Conn, names: list[str]) -> list[str]:
    """Settings whose value comes from a source that beats postgresql.auto.conf (``-c`` on the server's command
    line, ``ALTER DATABASE/ROLE ... SET``), so ALTER SYSTEM cannot change what sessions see."""
    rows = conn.execute("SELECT lower(name) FROM pg_settings WHERE lower(name) = ANY(%s) AND source = ANY(%s)",
                        (names, list(OVERRIDING_SOURCES))).fetchall()
    return [str(r[0]) for r in rows]


def apply_params(target: Conn, group: str, params: list[dict[str, str]]) -> bool:
    """Validate every value first, then ``ALTER SYSTEM`` each and reload; True if a restart is needed."""
    settings = read_settings(target)
    planned: list[tuple[Setting, str]] = []
    for i, p in enumerate(params):
        field = f"params[{i}]"
        spec = BY_KEY.get(str(p["key"]).lower())
        if spec is None or spec.group != group or spec.key not in settings:
            raise _bad(f"{field}.key", f"{p['key']} is not a {group} parameter of this target; call 4.1.9 "
                                       "batch-get-params for the list")
        s = settings[spec.key]
        planned.append((s, _validate(target, s, str(p["target_value"]), f"{field}.target_value")))
    done: list[str] = []
    for s, literal in planned:
        try:
            target.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(s.name), sql.Literal(literal)))
        except psycopg.Error as exc:
            applied = f" ({', '.join(done)} already changed)" if done else ""
            message = exc.diag.message_primary or str(exc)
            if exc.sqlstate in ("22023", "22P02", "22003"):
                raise _bad("params.target_value", f"the target rejected {s.name} = {literal}: {message}"
                                                  f"{applied}") from exc
            raise InvalidRequest(
                f"the target refused to change {s.name}: {message}{applied}. ALTER SYSTEM needs a superuser, or on "
                f"PostgreSQL 15 and later: GRANT ALTER SYSTEM ON PARAMETER {s.name} TO <the target account>",
                detail=str(exc)) from exc
        done.append(s.name)
    if done:
        target.execute("SELECT pg_reload_conf()")
    stale = overridden(target, [s.name for s, _ in planned])
    if stale:
        raise InvalidRequest(
            f"{', '.join(stale)} was written to postgresql.auto.conf but another source still sets it (a -c option on "
            "the server's command line, or ALTER DATABASE/ROLE ... SET); change it there. See pg_settings.source on "
            "the target")
    return any(s.context == "postmaster" for s, _ in planned)


# --- the service-layer provider (configure.DbParamsEngine) ----------------------------------------


class PostgresParams:
    """``DB_PARAMS`` provider: reads both endpoints of the task, changes its target."""

    def read(self, svc: Services, job: Job) -> list[dict[str, Any]]:
        with open_endpoint(svc, job, "source") as source, open_endpoint(svc, job, "target") as target:
            return read_params(source, target)

    def apply(self, svc: Services, job: Job, group: str, params: list[dict[str, str]]) -> bool:
        with open_endpoint(svc, job, "target") as target:
            return apply_params(target, group, params)
