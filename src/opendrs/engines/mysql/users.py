"""Source accounts and their grants (spec 4.2.2 get-src-user), a ``SHOW GRANTS`` parser, and the
migration of the accounts chosen with 4.2.1 (``migrate_users``).

Why a parser: both the 4.2.2 listing ("which privileges cannot be recreated on the target?")
and the pre-check ("may the migration account read these tables and the binlog?") must answer
privilege questions the same way MySQL does -- global, database (with ``LIKE`` wildcards)
and table levels, ``ALL PRIVILEGES``, and MariaDB's renamed privileges -- from the text the
server itself prints. ``SHOW GRANTS`` is readable by every account for itself, so the
pre-check needs no access to ``mysql.*``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import pymysql

from opendrs.engines.mysql.connection import connect
from opendrs.engines.mysql.dialect import quote_ident
from opendrs.engines.mysql.params import open_endpoint
from opendrs.errors import InvalidRequest
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.mysql.users")
Conn: TypeAlias = "pymysql.connections.Connection[Any]"

# Accounts the server owns; migrating them would break the target (4.2.2 ``is_transfer`` false).
SYSTEM_ACCOUNTS: Final = frozenset({"root", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"})
# MariaDB 10.5 renamed REPLICATION CLIENT; SHOW GRANTS prints the new name.
ALIASES: Final = {"BINLOG MONITOR": "REPLICATION CLIENT", "ALL": "ALL PRIVILEGES"}
_SECRET = re.compile(r"\s+IDENTIFIED\s+(?:BY\s+PASSWORD|VIA|WITH)\s.*?(?=\s+(?:REQUIRE|WITH\s+(?:GRANT|MAX_))\b|$)",
                     re.IGNORECASE)


# --- SHOW GRANTS parsing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One ``GRANT`` line. ``level``: global | database | table | routine | proxy | role."""

    level: str
    privileges: frozenset[str] = frozenset()
    database: str | None = None  # a LIKE pattern at database level (``my\\_db``), a name otherwise
    table: str | None = None
    grantee: str = ""
    grant_option: bool = False
    role: str | None = None  # the granted role, for ``GRANT `r` TO ...``


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside backquotes, quotes and parentheses."""
    parts, depth, quote, start = [], 0, "", 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "`'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def unquote(ident: str) -> str:
    ident = ident.strip()
    if len(ident) >= 2 and ident[0] == ident[-1] and ident[0] in "`'\"":
        return ident[1:-1].replace(ident[0] * 2, ident[0])
    return ident


def parse_grant(line: str) -> Grant | None:
    """Parse one line of ``SHOW GRANTS``; None for lines that grant nothing (SET DEFAULT ROLE)."""
    text = line.strip().rstrip(";")
    if not text.upper().startswith("GRANT "):
        return None
    body = text[6:]
    head, *rest = _split_top(body, " TO ")
    if not rest:
        return None
    tail = " TO ".join(rest)
    grantee = tail.split(" IDENTIFIED ")[0].split(" REQUIRE ")[0].split(" WITH ")[0].strip()
    grant_option = bool(re.search(r"\bWITH\b.*\bGRANT OPTION\b", tail, re.IGNORECASE))
    what, *on = _split_top(head, " ON ")
    if not on:  # GRANT `role`[@`host`] TO ...
        return Grant("role", grantee=grantee, role=unquote(_split_top(what, "@")[0]), grant_option="ADMIN OPTION"
                     in tail.upper())
    privileges = set()
    for raw in _split_top(what, ","):
        name = " ".join(raw.split("(")[0].split()).upper()
        if "(" in raw:  # column-level: not enough for a whole table
            continue
        privileges.add(ALIASES.get(name, name))
    target = " ON ".join(on).strip()
    words = target.split(None, 1)
    if words and words[0].upper() in ("FUNCTION", "PROCEDURE", "PACKAGE", "PACKAGE BODY"):
        return Grant("routine", frozenset(privileges), grantee=grantee, grant_option=grant_option)
    if words and words[0].upper() == "TABLE":
        target = words[1]
    if "PROXY" in privileges:
        return Grant("proxy", frozenset(privileges), grantee=grantee, grant_option=grant_option)
    db_part, *table_part = _split_top(target, ".")
    db, table = unquote(db_part), unquote(table_part[0]) if table_part else "*"
    if db == "*" and table == "*":
        return Grant("global", frozenset(privileges), grantee=grantee, grant_option=grant_option)
    if table == "*":
        return Grant("database", frozenset(privileges), database=db, grantee=grantee, grant_option=grant_option)
    return Grant("table", frozenset(privileges), database=db, table=table, grantee=grantee,
                 grant_option=grant_option)


def like(pattern: str, value: str) -> bool:
    """SQL ``LIKE`` with backslash escapes, as database-level grants match database names."""
    regex, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


class Grants:
    """What an account may do, from its ``SHOW GRANTS`` lines."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = [line for line in lines if line]
        self.grants = [g for g in (parse_grant(line) for line in self.lines) if g is not None]

    @staticmethod
    def _covers(grant: Grant, privilege: str) -> bool:
        return privilege in grant.privileges or "ALL PRIVILEGES" in grant.privileges

    def has(self, privilege: str, database: str | None = None, table: str | None = None) -> bool:
        """True if ``privilege`` holds globally, or on ``database`` (all tables), or on the table."""
        privilege = ALIASES.get(privilege, privilege)
        for g in self.grants:
            if not self._covers(g, privilege):
                continue
            if g.level == "global":
                return True
            if g.level == "database" and database is not None and like(g.database or "", database):
                return True
            if g.level == "table" and table is not None and (g.database, g.table) == (database, table):
                return True
        return False

    def missing(self, privileges: Iterable[str], database: str | None = None, table: str | None = None) -> list[str]:
        return [p for p in privileges if not self.has(p, database, table)]

    def global_privileges(self) -> set[str]:
        return {p for g in self.grants if g.level == "global" for p in g.privileges} - {"USAGE"}

    def grantable_globally(self) -> set[str] | None:
        """Privileges this account may grant to others on ``*.*``; None means all of them."""
        out: set[str] = set()
        for g in self.grants:
            if g.level == "global" and g.grant_option:
                if "ALL PRIVILEGES" in g.privileges:
                    return None
                out |= g.privileges
        return out

    @property
    def roles(self) -> list[str]:
        return [g.role for g in self.grants if g.level == "role" and g.role]


def show_grants(conn: pymysql.connections.Connection[Any], user: str | None = None,
                host: str | None = None) -> list[str]:
    """``SHOW GRANTS`` of the connected account (``user`` None), an account, or a role (``host`` None)."""
    with conn.cursor() as cur:
        if user is None:
            cur.execute("SHOW GRANTS")
        elif host is None:
            cur.execute(f"SHOW GRANTS FOR {conn.escape(user)}")
        else:
            cur.execute(f"SHOW GRANTS FOR {conn.escape(user)}@{conn.escape(host)}")
        return [str(r[0]) for r in cur.fetchall()]


def without_secrets(line: str) -> str:
    """A GRANT line without its ``IDENTIFIED ...`` password hash (never shown through the API)."""
    return _SECRET.sub("", line)


# --- 4.2.2 source accounts ---------------------------------------------------------------------


def account_id(user: str, host: str) -> str:
    """``'app'@'%'``: the account as MySQL spells it, usable in ``SHOW GRANTS FOR``."""
    return "'{}'@'{}'".format(user.replace("'", "''"), host.replace("'", "''"))


def _rows(conn: pymysql.connections.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _accounts(conn: pymysql.connections.Connection[Any]) -> tuple[list[tuple[str, str, bool]], dict[tuple[str, str],
                                                                                                       list[str]]]:
    """(accounts as (user, host, is_role), grantee (user, host) -> granted roles)."""
    maria = bool(_rows(conn, "SHOW COLUMNS FROM mysql.user LIKE 'is_role'"))
    if maria:
        accounts = [(_text(u), _text(h), _text(r) == "Y") for u, h, r in
                    _rows(conn, "SELECT User, Host, is_role FROM mysql.user ORDER BY User, Host")]
        mapping = _rows(conn, "SELECT User, Host, Role FROM mysql.roles_mapping ORDER BY Role")
        granted: dict[tuple[str, str], list[str]] = {}
        for u, h, r in mapping:
            granted.setdefault((_text(u), _text(h)), []).append(_text(r))
        return accounts, granted
    edges = [] if not _rows(conn, "SHOW TABLES FROM mysql LIKE 'role_edges'") else _rows(
        conn, "SELECT FROM_USER, FROM_HOST, TO_USER, TO_HOST FROM mysql.role_edges ORDER BY FROM_USER")
    roles = {(_text(fu), _text(fh)) for fu, fh, _, _ in edges}
    accounts = [(_text(u), _text(h), (_text(u), _text(h)) in roles) for u, h in
                _rows(conn, "SELECT User, Host FROM mysql.user ORDER BY User, Host")]
    granted = {}
    for fu, fh, tu, th in edges:
        name = _text(fu) if _text(fh) in ("%", "") else account_id(_text(fu), _text(fh))
        granted.setdefault((_text(tu), _text(th)), []).append(name)
    return accounts, granted


def _target_grantable(svc: Services, job: Job) -> set[str] | None:
    """What the target's migration account may grant; None = everything (or unknown: logged)."""
    try:
        conn = open_endpoint(svc, job, "target")
    except InvalidRequest as exc:
        log.warning("cannot read the target account's grants, no_privileges left empty: %s", exc.error_msg)
        return None
    try:
        return Grants(show_grants(conn)).grantable_globally()
    finally:
        conn.close()


def _no_privileges(grants: Grants, grantable: set[str] | None) -> str:
    if grantable is None:
        return ""
    wanted = {p for g in grants.grants if g.level != "role" for p in g.privileges} - {"USAGE", "GRANT OPTION"}
    return ", ".join(sorted(wanted - grantable))


def list_source_users(svc: Services, job: Job) -> dict[str, Any]:
    """4.2.2 ``{"user_list": [...], "roles_list": [...]}`` read from the task's source.

    ``privileges`` is the account's ``SHOW GRANTS`` (password hashes removed), ``roles`` the
    roles granted to it, ``no_privileges`` the privileges the target's migration account
    cannot grant (so they would be lost), ``is_transfer`` false for system accounts and the
    accounts the task itself uses.
    """
    source_user = str((job.config.get("source_endpoint") or {}).get("db_user") or "")
    target_user = str((job.config.get("target_endpoint") or {}).get("db_user") or "")
    conn = open_endpoint(svc, job, "source")
    try:
        try:
            accounts, granted = _accounts(conn)
        except pymysql.err.MySQLError as exc:
            raise InvalidRequest(
                f"the source account {source_user!r} cannot read the account list ({exc.args[-1]}). Run "
                f"GRANT SELECT ON mysql.* TO {source_user!r} on the source, then list the users again",
                detail=str(exc)) from exc
        grantable = _target_grantable(svc, job)
        own = {source_user, target_user}
        users: list[dict[str, Any]] = []
        roles: list[dict[str, Any]] = []
        for user, host, is_role in accounts:
            try:
                lines = show_grants(conn, user, None if is_role and host == "" else host)
            except pymysql.err.OperationalError as exc:  # 1141: an account row without any grant
                log.info("SHOW GRANTS for %s failed: %s", account_id(user, host), exc)
                lines = []
            grants = Grants(lines)
            if is_role:
                mine = [without_secrets(line) for line, g in zip(lines, map(parse_grant, lines), strict=True)
                        if g is None or unquote(g.grantee.split("@")[0]) == user]
                roles.append({"role": user, "comment": "", "is_transfer": True, "privileges": "; ".join(mine),
                              "inherits_roles": granted.get((user, host), []), "selected": False})
                continue
            users.append({
                "id": account_id(user, host), "account": account_id(user, host), "comment": "",
                "is_transfer": bool(user) and user not in SYSTEM_ACCOUNTS and user not in own,
                "privileges": "; ".join(without_secrets(line) for line in lines), "password": None,
                "roles": granted.get((user, host), []), "selected": False,
                "no_privileges": _no_privileges(grants, grantable), "parent_account": None, "no_parent_account": None,
            })
        return {"user_list": users, "roles_list": roles}
    finally:
        conn.close()


# --- 4.2.1 migrating the chosen accounts ------------------------------------------------------

_QUOTED_ACCOUNT: Final = re.compile(r"^'((?:[^']|'')*)'@'((?:[^']|'')*)'$")
_GRANT_ON: Final = re.compile(r"(\bON\s+(?:PROCEDURE\s+|FUNCTION\s+)?)`((?:[^`]|``)+)`\.(\*|`(?:[^`]|``)+`)",
                              re.IGNORECASE)


def parse_account(text: str) -> tuple[str, str]:
    """``'app'@'%'`` (4.2.2's ids) or ``app@host`` / ``app`` (what a script may send) -> (user, host)."""
    m = _QUOTED_ACCOUNT.match(text.strip())
    if m:
        return m.group(1).replace("''", "'"), m.group(2).replace("''", "'")
    user, _, host = text.strip().rpartition("@") if "@" in text else (text.strip(), "", "%")
    return user.strip("`'\""), (host or "%").strip("`'\"")


def _rename_grant(line: str, selection: Selection) -> str:
    """Point database- and table-level grants at the task's target names (renames of 4.1.5)."""

    def one(m: re.Match[str]) -> str:
        db = m.group(2).replace("``", "`")
        obj = m.group(3)
        target_db = selection.target_database(db) if selection.includes_database(db) else db
        if obj != "*":
            name = obj[1:-1].replace("``", "`")
            ref = TableRef(db, name)
            if selection.includes(ref):
                target = selection.target(ref)
                target_db, name = target.schema, target.name
            obj = quote_ident(name)
        return f"{m.group(1)}{quote_ident(target_db)}.{obj}"

    return _GRANT_ON.sub(one, line)


def _create_user_sql(src: Conn, user: str, host: str) -> str:
    """The source's own ``SHOW CREATE USER`` (password hash, TLS, limits, lock), made idempotent."""
    with src.cursor() as cur:
        cur.execute(f"SHOW CREATE USER {src.escape(user)}@{src.escape(host)}")
        row = cur.fetchone()
    text = _text(row[0]) if row else ""
    return re.sub(r"^\s*CREATE\s+USER\s+(?!IF\s+NOT\s+EXISTS)", "CREATE USER IF NOT EXISTS ", text, count=1,
                  flags=re.IGNORECASE)


def migrate_users(svc: Services, job: Job, selection: Selection) -> list[str]:
    """Create the roles and accounts chosen with 4.2.1 on the target, with their grants.

    Runs after the full load of a migration task (grants name the migrated objects). Accounts
    keep their source password hash unless 4.2.1 set a password (per account, else the global
    one). Every step is idempotent (``IF NOT EXISTS``, GRANT), so a retried load repeats it
    safely. Returns one line per account or grant that could not be recreated (the task goes
    on: a DBA fixes those by hand, and the message says which).
    """
    doc = job.config.get("user_migration") or {}
    if job.db_use_type != "migration" or not doc.get("is_migrate_user"):
        return []
    users = [u for u in doc.get("user_list", []) if u.get("selected") and u.get("is_transfer", True)]
    roles = [r for r in doc.get("role_list", []) if r.get("selected") and r.get("is_transfer", True)]
    if not users and not roles:
        return []
    global_pw = svc.box.open(doc["password_sealed"]) if doc.get("password_sealed") else None
    # Plain connects (not open_endpoint): an unreachable server is Transient here, so the runner retries.
    src = connect(endpoint_config(svc, job.config["source_endpoint"]), read_timeout=60)
    try:
        dst = connect(endpoint_config(svc, job.config["target_endpoint"]), read_timeout=60)
    except BaseException:
        src.close()
        raise
    problems: list[str] = []

    def run(sql: str, what: str, args: tuple[Any, ...] = ()) -> bool:
        try:
            with dst.cursor() as cur:
                cur.execute(sql, args or None)
            return True
        except pymysql.err.MySQLError as exc:
            problems.append(f"{what}: {exc.args[-1] if exc.args else exc}")
            return False

    def grants(user: str, host: str | None, account: str) -> None:
        for line in show_grants(src, user, host):
            if line.upper().startswith("GRANT USAGE ON *.* TO") and " WITH " not in line.upper():
                continue  # the account itself, created above
            run(_rename_grant(without_secrets(line), selection), f"grant for {account} ({without_secrets(line)[:120]})")

    try:
        for role in roles:
            name = str(role["role"])
            if run(f"CREATE ROLE IF NOT EXISTS {dst.escape(name)}", f"role {name}"):
                grants(name, None, f"role {name}")
        for chosen in users:
            user, host = parse_account(str(chosen.get("account") or chosen["id"]))
            account = account_id(user, host)
            try:
                create = _create_user_sql(src, user, host)
            except pymysql.err.MySQLError as exc:
                problems.append(f"account {account}: cannot read it on the source ({exc.args[-1]})")
                continue
            if not run(create, f"account {account}"):
                continue
            password = svc.box.open(chosen["password_sealed"]) if chosen.get("password_sealed") else (
                global_pw if doc.get("is_set_password") or chosen.get("is_set_password") else None)
            if password is not None:
                run(f"ALTER USER {dst.escape(user)}@{dst.escape(host)} IDENTIFIED BY %s", f"password of {account}",
                    (password,))
            grants(user, host, account)
        log.info("user migration of task %s: %d role(s), %d account(s), %d problem(s)", job.id, len(roles),
                 len(users), len(problems))
        return problems
    finally:
        src.close()
        dst.close()
