"""Source roles and their privileges (spec 4.2.2 get-src-user) for PostgreSQL tasks.

PostgreSQL has one kind of account, the role: roles that may log in are listed as users,
the others as roles (``roles_list``). For each we show what a DBA needs to recreate it on
the target, as SQL text: its attributes (``CREATE ROLE ... WITH LOGIN CREATEDB ...``), its
memberships (``GRANT parent TO role``), and its grants on the task's database and on the
objects of the selected schemas (from the ACLs, via ``aclexplode``). Passwords are never
read: ``pg_roles`` masks them and the listing must not carry them anyway.

``no_privileges`` lists what the target's migration account could not give the role
(attributes only a superuser may grant, or CREATE ROLE itself), so it would be lost.
Built-in ``pg_*`` roles are not listed; the bootstrap superuser, cloud vendors' admin roles
and the task's own accounts are listed with ``is_transfer`` false.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import psycopg

from opendrs.engines.postgres.discover import effective_selection
from opendrs.engines.postgres.discover import schemas as user_schemas
from opendrs.engines.postgres.params import Conn, open_endpoint
from opendrs.errors import InvalidRequest
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.selection import Selection

log = logging.getLogger("opendrs.postgres.users")

BOOTSTRAP_SUPERUSER_OID: Final = 10
# Administrative roles of managed PostgreSQL services: recreating them on the target breaks it or is refused.
VENDOR_ROLES: Final = frozenset({"rdsadmin", "rds_superuser", "rds_replication", "rds_password", "rdsrepladmin",
                                 "rdsbackup", "rdsmetric", "rdsrepl", "rdsproxyadmin", "cloudsqladmin",
                                 "cloudsqlsuperuser", "azure_superuser", "azure_pg_admin", "azuresu"})
# Reserved key words that cannot be a bare role, schema or table name (PostgreSQL's pg_get_keywords() 'R').
RESERVED: Final = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check",
    "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
    "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
    "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or",
    "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric",
    "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where",
    "window", "with", "authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze",
    "full", "ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps",
    "right", "similar", "tablesample", "verbose"
})
# Attributes only a superuser may give (PostgreSQL 15 and earlier; 16 lets CREATEROLE pass on its own).
SUPERUSER_ONLY: Final = ("SUPERUSER", "REPLICATION", "BYPASSRLS")


@dataclass(frozen=True)
class Role:
    oid: int
    name: str
    superuser: bool
    inherit: bool
    createrole: bool
    createdb: bool
    login: bool
    replication: bool
    bypassrls: bool
    connlimit: int
    valid_until: str | None
    comment: str

    @property
    def attributes(self) -> list[str]:
        flags = [("SUPERUSER", self.superuser), ("CREATEDB", self.createdb), ("CREATEROLE", self.createrole),
                 ("LOGIN", self.login), ("REPLICATION", self.replication), ("BYPASSRLS", self.bypassrls)]
        out = [name for name, on in flags if on]
        if not self.inherit:
            out.append("NOINHERIT")
        if self.connlimit >= 0:
            out.append(f"CONNECTION LIMIT {self.connlimit}")
        if self.valid_until:
            out.append(f"VALID UNTIL '{self.valid_until}'")
        return out

    def create_sql(self) -> str:
        attrs = self.attributes
        return f"CREATE ROLE {ident(self.name)}{' WITH ' + ' '.join(attrs) if attrs else ''}"


def ident(name: str) -> str:
    """A role or object name as SQL writes it in a hint (double-quoted only when needed)."""
    plain = re.fullmatch(r"[a-z_][a-z0-9_$]*", name) is not None and name not in RESERVED
    return name if plain else '"' + name.replace('"', '""') + '"'


def read_roles(conn: Conn) -> list[Role]:
    """Every role except the built-in ``pg_*`` ones, in name order."""
    rows = conn.execute(
        "SELECT r.oid, r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, "
        "r.rolreplication, r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil::text, "
        "coalesce(shobj_description(r.oid, 'pg_authid'), '') "
        "FROM pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY r.rolname").fetchall()
    return [Role(oid=int(r[0]), name=str(r[1]), superuser=bool(r[2]), inherit=bool(r[3]), createrole=bool(r[4]),
                 createdb=bool(r[5]), login=bool(r[6]), replication=bool(r[7]), bypassrls=bool(r[8]),
                 connlimit=int(r[9]), valid_until=r[10], comment=str(r[11])) for r in rows]


def memberships(conn: Conn) -> dict[str, list[str]]:
    """member -> the roles granted to it (built-in ``pg_*`` roles included: they exist on the target too)."""
    rows = conn.execute("SELECT m.rolname, r.rolname, a.admin_option FROM pg_auth_members a "
                        "JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
                        "ORDER BY m.rolname, r.rolname").fetchall()
    out: dict[str, list[str]] = {}
    for member, role, _ in rows:
        out.setdefault(str(member), []).append(str(role))
    return out


def selected_schemas(conn: Conn, job: Job) -> list[str]:
    """User schemas of the task's database the selection covers, read as the engine reads it (discover.py)."""
    existing = user_schemas(conn)
    selection = effective_selection(Selection.from_config(job.config), conn.info.dbname, existing)
    return [s for s in existing if selection.includes_database(s)]


def object_grants(conn: Conn, schemas: list[str]) -> dict[str, list[str]]:
    """grantee -> GRANT statements on the database, the schemas and their tables, sequences and functions.

    The owner's own entries are left out (an owner holds every privilege by owning the object), and so are
    grants to PUBLIC, which belong to no role.
    """
    rows = conn.execute(
        """
        WITH acl AS (
          SELECT 'DATABASE' AS kind, quote_ident(d.datname) AS name, d.datdba AS owner, (aclexplode(d.datacl)).*
            FROM pg_database d WHERE d.datname = current_database() AND d.datacl IS NOT NULL
          UNION ALL
          SELECT 'SCHEMA', quote_ident(n.nspname), n.nspowner, (aclexplode(n.nspacl)).*
            FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s) AND n.nspacl IS NOT NULL
          UNION ALL
          SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                 quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relowner, (aclexplode(c.relacl)).*
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relacl IS NOT NULL
          UNION ALL
          SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                 p.oid::regprocedure::text, p.proowner, (aclexplode(p.proacl)).*
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ANY(%(schemas)s) AND p.proacl IS NOT NULL
        )
        SELECT acl.kind, acl.name, g.rolname, acl.privilege_type, acl.is_grantable
          FROM acl JOIN pg_roles g ON g.oid = acl.grantee
         WHERE acl.grantee <> acl.owner AND acl.grantee <> 0
         ORDER BY 3, 1, 2, 4
        """, {"schemas": schemas}).fetchall()
    grouped: dict[tuple[str, str, str, bool], list[str]] = {}
    for kind, name, grantee, privilege, grantable in rows:
        grouped.setdefault((str(grantee), str(kind), str(name), bool(grantable)), []).append(str(privilege))
    out: dict[str, list[str]] = {}
    for (grantee, kind, name, grantable), privileges in grouped.items():
        option = " WITH GRANT OPTION" if grantable else ""
        out.setdefault(grantee, []).append(
            f"GRANT {', '.join(privileges)} ON {kind} {name} TO {ident(grantee)}{option}")
    return out


def role_privileges(role: Role, parents: Iterable[str], grants: Iterable[str]) -> str:
    """The role as SQL a DBA can run on the target: CREATE ROLE, memberships, object grants."""
    lines = [role.create_sql(), *(f"GRANT {ident(p)} TO {ident(role.name)}" for p in parents), *grants]
    return "; ".join(lines)


def _target_account(svc: Services, job: Job) -> Role | None:
    """The target migration account's attributes; None when unknown (logged)."""
    try:
        conn = open_endpoint(svc, job, "target")
    except InvalidRequest as exc:
        log.warning("cannot read the target account, no_privileges left empty: %s", exc.error_msg)
        return None
    try:
        return next((r for r in read_roles(conn) if r.name == conn.info.user), None)
    finally:
        conn.close()


def no_privileges(role: Role, target: Role | None) -> str:
    """What the target account cannot give ``role`` (empty when it can give everything, or is unknown)."""
    if target is None or target.superuser:
        return ""
    if not target.createrole:
        return "CREATE ROLE (the target account has no CREATEROLE)"
    return ", ".join(a for a in SUPERUSER_ONLY if a in role.attributes)


def transferable(role: Role, own: set[str]) -> bool:
    return role.oid != BOOTSTRAP_SUPERUSER_OID and role.name.lower() not in VENDOR_ROLES and role.name not in own


def list_source_users(svc: Services, job: Job) -> dict[str, Any]:
    """4.2.2 ``{"user_list": [...], "roles_list": [...]}`` read from the task's source database."""
    own = {str((job.config.get(f"{side}_endpoint") or {}).get("db_user") or "") for side in ("source", "target")}
    with open_endpoint(svc, job, "source") as conn:
        try:
            roles = read_roles(conn)
            parents = memberships(conn)
            grants = object_grants(conn, selected_schemas(conn, job))
        except psycopg.Error as exc:
            raise InvalidRequest(
                f"the source account {conn.info.user!r} cannot read the role catalogue "
                f"({exc.diag.message_primary or exc}). It needs only to log in to the task's database; check the "
                "endpoint's db_name, then list the users again", detail=str(exc)) from exc
    target = _target_account(svc, job)
    users: list[dict[str, Any]] = []
    role_list: list[dict[str, Any]] = []
    for role in roles:
        privileges = role_privileges(role, parents.get(role.name, []), grants.get(role.name, []))
        if not role.login:
            role_list.append({"role": role.name, "comment": role.comment, "is_transfer": transferable(role, own),
                              "privileges": privileges, "inherits_roles": parents.get(role.name, []),
                              "selected": False})
            continue
        users.append({
            "id": role.name, "account": role.name, "comment": role.comment, "is_transfer": transferable(role, own),
            "privileges": privileges, "password": None, "roles": parents.get(role.name, []), "selected": False,
            "no_privileges": no_privileges(role, target), "parent_account": None, "no_parent_account": None,
        })
    return {"user_list": users, "roles_list": role_list}

