"""MySQL/MariaDB object inventory for the object comparison, read from information_schema.

Definitions are summaries of what a DBA would call "the same object": a column's type,
nullability, default, extra and collation; an index's uniqueness, type and column list;
a constraint's kind, columns and reference; a view's, routine's, trigger's or event's body.
Users carry their grants with any password hash removed (hashes never leave the server).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from opendrs.compare.dialect import PH, CompareError, CompareSession
from opendrs.compare.objects import ObjectItem

_SYSTEM_USERS: Final = frozenset({"mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"})
_PASSWORD: Final = re.compile(r"\s+IDENTIFIED\s+(BY|VIA|WITH)\b.*?(?=\s+(REQUIRE|WITH)\b|$)", re.IGNORECASE | re.DOTALL)


def _s(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", "replace")
    return str(v)


def _in(dbs: Sequence[str]) -> str:
    return "(" + ", ".join([PH] * len(dbs)) + ")"


def inventory(session: CompareSession, databases: Sequence[str]) -> list[ObjectItem]:
    items: list[ObjectItem] = []
    dbs = list(databases)
    if dbs:
        items.extend(_schema_objects(session, dbs))
    items.extend(_users(session))
    return items


def _schema_objects(q: CompareSession, dbs: list[str]) -> list[ObjectItem]:
    inn = _in(dbs)
    out: list[ObjectItem] = []
    for name, charset, collation in q.query(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            f"WHERE SCHEMA_NAME IN {inn}", dbs):
        out.append(ObjectItem("DB", _s(name), None, _s(name), f"{_s(charset)} {_s(collation)}"))
    for db, name, kind, engine, collation in q.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA IN {inn}", dbs):
        if _s(kind) == "BASE TABLE":
            out.append(ObjectItem("TABLE", _s(db), _s(name), _s(name), f"{_s(engine)} {_s(collation)}"))
    for db, table, name, ctype, nullable, default, extra, collation in q.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
            f"COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN {inn}", dbs):
        null = "NULL" if _s(nullable) == "YES" else "NOT NULL"
        out.append(ObjectItem("COLUMN", _s(db), _s(table), _s(name),
                              f"{_s(ctype)} {null} DEFAULT {_s(default)} {_s(extra)} {_s(collation)}".strip()))
    out.extend(_indexes(q, dbs))
    out.extend(_constraints(q, dbs))
    for db, name, body, check in q.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION FROM information_schema.VIEWS "
            f"WHERE TABLE_SCHEMA IN {inn}", dbs):
        out.append(ObjectItem("VIEW", _s(db), _s(name), _s(name), f"{_s(body)} CHECK {_s(check)}"))
    params: dict[tuple[str, str], list[str]] = {}
    for db, name, mode, pname, dtd in q.query(
            "SELECT SPECIFIC_SCHEMA, SPECIFIC_NAME, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER "
            f"FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA IN {inn} ORDER BY ORDINAL_POSITION", dbs):
        params.setdefault((_s(db), _s(name)), []).append(f"{_s(mode)} {_s(pname)} {_s(dtd)}")
    for db, name, kind, body, returns in q.query(
            "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, DTD_IDENTIFIER "
            f"FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN {inn}", dbs):
        sig = ", ".join(params.get((_s(db), _s(name)), []))
        out.append(ObjectItem(_s(kind).upper(), _s(db), None, _s(name), f"({sig}) {_s(returns)} {_s(body)}"))
    for db, name, table, timing, event, body in q.query(
            "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, "
            f"ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN {inn}", dbs):
        out.append(ObjectItem("TRIGGER", _s(db), _s(table), _s(name), f"{_s(timing)} {_s(event)} {_s(body)}"))
    for db, name, body, value, field in q.query(
            "SELECT EVENT_SCHEMA, EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD "
            f"FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN {inn}", dbs):
        every = f"EVERY {_s(value)} {_s(field)}" if value is not None else "AT"
        out.append(ObjectItem("EVENT", _s(db), None, _s(name), f"{every} {_s(body)}"))
    return out


def _indexes(q: CompareSession, dbs: list[str]) -> list[ObjectItem]:
    grouped: dict[tuple[str, str, str], tuple[bool, str, list[str]]] = {}
    for db, table, name, non_unique, column, sub, kind in q.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE "
            f"FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN {_in(dbs)} "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX", dbs):
        key = (_s(db), _s(table), _s(name))
        part = _s(column) + (f"({sub})" if sub is not None else "")
        grouped.setdefault(key, (int(non_unique) == 0, _s(kind), []))[2].append(part)
    return [ObjectItem("INDEX", db, table, name, f"{'UNIQUE ' if unique else ''}{kind} ({', '.join(cols)})")
            for (db, table, name), (unique, kind, cols) in grouped.items()]


def _constraints(q: CompareSession, dbs: list[str]) -> list[ObjectItem]:
    cols: dict[tuple[str, str, str], list[str]] = {}
    for db, table, name, column, _rdb, rtable, rcol in q.query(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
            "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            f"WHERE CONSTRAINT_SCHEMA IN {_in(dbs)} ORDER BY ORDINAL_POSITION", dbs):
        ref = f"->{_s(rtable)}.{_s(rcol)}" if rtable is not None else ""
        cols.setdefault((_s(db), _s(table), _s(name)), []).append(_s(column) + ref)
    checks = {(_s(db), _s(table), _s(name)): _s(clause) for db, table, name, clause in q.query(
        "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        f"WHERE CONSTRAINT_SCHEMA IN {_in(dbs)}", dbs)}
    out: list[ObjectItem] = []
    for db, table, name, kind in q.query(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE "
            f"FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN {_in(dbs)}", dbs):
        key = (_s(db), _s(table), _s(name))
        body = checks.get(key) or ", ".join(cols.get(key, []))
        out.append(ObjectItem("CONSTRAINT", key[0], key[1], key[2], f"{_s(kind)} ({body})"))
    return out


def _users(q: CompareSession) -> list[ObjectItem]:
    out: list[ObjectItem] = []
    for user, host in q.query("SELECT User, Host FROM mysql.user WHERE User <> '' ORDER BY User, Host"):
        u, h = _s(user), _s(host)
        if u in _SYSTEM_USERS:
            continue
        try:
            grants = q.query(f"SHOW GRANTS FOR {PH}@{PH}", [u, h])
        except CompareError:  # e.g. a host-name account the server ignores (skip-name-resolve)
            grants = [("(grants cannot be read)",)]
        text = sorted(_PASSWORD.sub("", _s(g[0])) for g in grants)
        out.append(ObjectItem("USER", None, None, f"{u}@{h}", "; ".join(text)))
    return out
