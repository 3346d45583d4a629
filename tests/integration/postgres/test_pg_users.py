"""PostgreSQL source roles (4.2.2 get-src-user) against a real source/target pair, through the service
layer (``configure.list_users``) with the PostgreSQL providers registered.

Roles are uniquely named and dropped afterwards; each test works in its own source database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import PostgresServer
from opendrs.engines.postgres.register import register
from opendrs.engines.postgres.users import ident
from opendrs.errors import InvalidRequest
from opendrs.jobs import configure
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.service import seal_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

PROJECT = "p-pg-users"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    register()
    services = Services.build(Settings(data_dir=tmp_path))
    yield services
    services.store.dispose()


def uid() -> str:
    return uuid.uuid4().hex[:8]


def endpoint(svc: Services, server: PostgresServer, db: str, user: str | None = None,
             password: str | None = None) -> dict[str, Any]:
    return seal_endpoint(svc, {"db_type": "postgresql", "ip": server.host, "db_port": server.port, "db_name": db,
                               "db_user": user or server.user, "db_password": password or server.password})


def make_job(svc: Services, src: dict[str, Any], dst: dict[str, Any], schemas: list[str] | None = None) -> Job:
    selection = {"selected": bool(schemas), "sync_database": False,
                 "job": [{"id": s, "object_type": "schema", "select": "true", "object_name": s} for s in schemas or []]}
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"pgu_{uid()}", status=JobStatus.CONFIGURATION,
              db_use_type="sync", engine_type="postgresql", job_direction="up", task_type="FULL_INCR_TRANS",
              net_type="eip", config={"source_endpoint": src, "target_endpoint": dst, "object_selection": selection})
    with svc.store.session() as s:
        JobRepo(s).add(job)
    return job


@pytest.fixture
def world(postgres_server: PostgresServer, postgres_target: PostgresServer) -> Iterator[dict[str, str]]:
    """A source database with schemas ``app`` and ``other``, a group role, a login role in it with grants,
    and a plain login role on the target; all dropped afterwards."""
    tag = uid()
    names = {"db": f"pu_{tag}", "group": f"pu_group_{tag}", "user": f"pu_user_{tag}", "repl": f"pu_repl_{tag}",
             "target_user": f"pu_dst_{tag}"}
    db = names["db"]
    postgres_server.execute(f"CREATE DATABASE {db}")
    for statement in (
            f"CREATE ROLE {names['group']} NOLOGIN",
            f"CREATE ROLE {names['user']} LOGIN CREATEDB CONNECTION LIMIT 5 PASSWORD 'secret-{tag}'",
            f"CREATE ROLE {names['repl']} LOGIN REPLICATION PASSWORD 'secret-{tag}'",
            f"COMMENT ON ROLE {names['user']} IS 'the shop application'",
            f"GRANT {names['group']} TO {names['user']}",
            f"GRANT pg_read_all_stats TO {names['user']}",
            f"GRANT CONNECT ON DATABASE {db} TO {names['user']}"):
        postgres_server.execute(statement)
    for statement in (
            "CREATE SCHEMA app", "CREATE SCHEMA other",
            "CREATE TABLE app.orders (id int PRIMARY KEY)", "CREATE TABLE other.secrets (id int PRIMARY KEY)",
            f"GRANT USAGE ON SCHEMA app TO {names['group']}",
            f"GRANT SELECT, INSERT ON app.orders TO {names['user']} WITH GRANT OPTION",
            f"GRANT SELECT ON other.secrets TO {names['user']}"):
        postgres_server.execute(statement, dbname=db)
    postgres_target.execute(f"CREATE ROLE {names['target_user']} LOGIN PASSWORD 'pw'")
    yield names
    postgres_server.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    for role in ("user", "repl", "group"):
        postgres_server.execute(f"DROP ROLE IF EXISTS {names[role]}")
    postgres_target.execute(f"DROP ROLE IF EXISTS {names['target_user']}")


def test_source_roles_with_attributes_memberships_and_grants(svc: Services, postgres_server: PostgresServer,
                                                             postgres_target: PostgresServer,
                                                             world: dict[str, str]) -> None:
    db, user, group = world["db"], world["user"], world["group"]
    job = make_job(svc, endpoint(svc, postgres_server, db), endpoint(svc, postgres_target, "postgres"), ["app"])
    answer = configure.list_users(svc, PROJECT, job.id)
    assert (answer["job_id"], answer["is_success"], answer["message"]) == (job.id, True, "SUCCESS")
    users = {u["id"]: u for u in answer["user_list"]}
    roles = {r["role"]: r for r in answer["roles_list"]}
    assert not any(name.startswith("pg_") for name in [*users, *roles])

    mine = users[user]
    assert (mine["account"], mine["comment"], mine["is_transfer"], mine["password"]) == \
        (user, "the shop application", True, None)
    assert sorted(mine["roles"]) == sorted([group, "pg_read_all_stats"])
    privileges = mine["privileges"]
    assert f"CREATE ROLE {user} WITH CREATEDB LOGIN CONNECTION LIMIT 5" in privileges
    assert f"GRANT {group} TO {user}" in privileges
    assert f"GRANT CONNECT ON DATABASE {db} TO {user}" in privileges
    assert f"GRANT INSERT, SELECT ON TABLE app.orders TO {user} WITH GRANT OPTION" in privileges
    assert "other.secrets" not in privileges  # schema not selected
    assert mine["no_privileges"] == ""  # the target account is a superuser
    assert "secret-" not in str(answer)

    assert roles[group]["is_transfer"] is True and roles[group]["inherits_roles"] == []
    assert f"GRANT USAGE ON SCHEMA app TO {group}" in roles[group]["privileges"]
    assert users["postgres"]["is_transfer"] is False  # bootstrap superuser and the task's own account

    everything = make_job(svc, endpoint(svc, postgres_server, db), endpoint(svc, postgres_target, "postgres"))
    listed = {u["id"]: u for u in configure.list_users(svc, PROJECT, everything.id)["user_list"]}
    assert f"GRANT SELECT ON TABLE other.secrets TO {user}" in listed[user]["privileges"]


def test_selection_from_4_2_1_and_what_the_target_cannot_grant(svc: Services, postgres_server: PostgresServer,
                                                               postgres_target: PostgresServer,
                                                               world: dict[str, str]) -> None:
    db, user, repl, dst_user = world["db"], world["user"], world["repl"], world["target_user"]
    job = make_job(svc, endpoint(svc, postgres_server, db), endpoint(svc, postgres_target, "postgres", dst_user, "pw"),
                   ["app"])
    configure.update_users(svc, PROJECT, {
        "job_id": job.id, "is_migrate_user": True, "is_set_password": False,
        "users": [{"id": user, "account": user, "is_transfer": True, "selected": True, "roles": []}],
        "user_roles": []})
    users = {u["id"]: u for u in configure.list_users(svc, PROJECT, job.id)["user_list"]}
    assert users[user]["selected"] is True and users[repl]["selected"] is False
    assert users[user]["no_privileges"].startswith("CREATE ROLE")

    postgres_target.execute(f"ALTER ROLE {dst_user} CREATEROLE")
    users = {u["id"]: u for u in configure.list_users(svc, PROJECT, job.id)["user_list"]}
    assert users[repl]["no_privileges"] == "REPLICATION" and users[user]["no_privileges"] == ""


def test_an_unreachable_source_is_a_400_that_says_why(svc: Services, postgres_server: PostgresServer,
                                                      postgres_target: PostgresServer) -> None:
    job = make_job(svc, endpoint(svc, postgres_server, f"pu_missing_{uid()}"),
                   endpoint(svc, postgres_target, "postgres"))
    with pytest.raises(InvalidRequest) as exc:
        configure.list_users(svc, PROJECT, job.id)
    assert exc.value.http_status == 400 and "does not exist" in exc.value.error_msg
    assert "source endpoint" in exc.value.error_msg


def test_names_in_the_sql_text_are_quoted_only_when_needed() -> None:
    assert [ident(n) for n in ("app_user", "user", "Shop", 'we"ird', "1st")] == \
        ["app_user", '"user"', '"Shop"', '"we""ird"', '"1st"']
