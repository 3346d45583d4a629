"""PostgreSQL object inventory for the object comparison, read from pg_catalog.

Schemas play the "DB" level (as in the task's selection). Definitions come from the server's
own deparsers (``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_viewdef``,
``pg_get_functiondef``, ``pg_get_triggerdef``), so both sides spell the same object the same
way; sequences compare their shape (type, start, bounds, step, cycle), never their current
value; roles compare their attributes and memberships, never a password.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from opendrs.compare.dialect import PH, CompareSession
from opendrs.compare.objects import ObjectItem

_TRIGGER_HEAD = re.compile(r"^CREATE (CONSTRAINT )?TRIGGER \S+ ")


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join([PH] * len(values)) + ")"


def inventory(session: CompareSession, databases: Sequence[str]) -> list[ObjectItem]:
    q = session
    items: list[ObjectItem] = []
    dbs = list(databases)
    if dbs:
        inn = _in(dbs)
        for (name,) in q.query(f"SELECT nspname FROM pg_namespace WHERE nspname IN {inn}", dbs):
            items.append(ObjectItem("DB", str(name), None, str(name)))
        for schema, name, kind in q.query(
                "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname IN {inn} AND c.relkind IN ('r', 'p') AND NOT c.relispartition", dbs):
            items.append(ObjectItem("TABLE", str(schema), str(name), str(name), "partitioned" if kind == "p" else ""))
        for schema, table, name, fmt, notnull, default, collation in q.query(
                "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), co.collname FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0 "
                f"WHERE n.nspname IN {inn} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped", dbs):
            null = "NOT NULL" if notnull else "NULL"
            items.append(ObjectItem("COLUMN", str(schema), str(table), str(name),
                                    f"{fmt} {null} DEFAULT {default} {collation or ''}".strip()))
        for schema, table, name, definition in q.query(
                f"SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname IN {inn}", dbs):
            # the deparsed definition names the index and the schema; compare what it indexes and how
            body = str(definition).split(" USING ", 1)[-1]
            unique = "UNIQUE " if str(definition).startswith("CREATE UNIQUE") else ""
            items.append(ObjectItem("INDEX", str(schema), str(table), str(name), f"{unique}USING {body}"))
        for schema, table, name, definition in q.query(
                "SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname IN {inn}", dbs):
            items.append(ObjectItem("CONSTRAINT", str(schema), str(table), str(name), str(definition)))
        for schema, name, definition in q.query(
                "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
                f"ON n.oid = c.relnamespace WHERE n.nspname IN {inn} AND c.relkind IN ('v', 'm')", dbs):
            items.append(ObjectItem("VIEW", str(schema), str(name), str(name), " ".join(str(definition).split())))
        for schema, name, args, kind, definition in q.query(
                "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind, "
                "pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                f"WHERE n.nspname IN {inn} AND p.prokind IN ('f', 'p')", dbs):
            kind_name = "PROCEDURE" if kind == "p" else "FUNCTION"
            items.append(ObjectItem(kind_name, str(schema), None, f"{name}({args})", " ".join(str(definition).split())))
        for schema, table, name, definition in q.query(
                "SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE n.nspname IN {inn} AND NOT t.tgisinternal", dbs):
            body = _TRIGGER_HEAD.sub("", str(definition)).replace(f" ON {schema}.", " ON ")
            items.append(ObjectItem("TRIGGER", str(schema), str(table), str(name), body))
        for schema, name, dtype, start, low, high, step, cycle in q.query(
                "SELECT schemaname, sequencename, data_type::text, start_value, min_value, max_value, increment_by, "
                f"cycle FROM pg_sequences WHERE schemaname IN {inn}", dbs):
            items.append(ObjectItem("SEQUENCE", str(schema), None, str(name),
                                    f"{dtype} START {start} MIN {low} MAX {high} BY {step} {'CYCLE' if cycle else ''}"
                                    .strip()))
    for name, superuser, login, createdb, createrole, replication, member_of in q.query(
            "SELECT r.rolname, r.rolsuper, r.rolcanlogin, r.rolcreatedb, r.rolcreaterole, r.rolreplication, "
            "ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE m.member = r.oid ORDER BY 1) FROM pg_roles r WHERE r.rolname NOT LIKE 'pg!_%' ESCAPE '!'"):
        flags = [f for f, on in (("SUPERUSER", superuser), ("LOGIN", login), ("CREATEDB", createdb),
                                 ("CREATEROLE", createrole), ("REPLICATION", replication)) if on]
        members = ",".join(str(m) for m in member_of)
        items.append(ObjectItem("USER", None, None, str(name), " ".join(flags) + (f" IN {members}" if members else "")))
    return items
