"""Database parameters (4.1.9/4.1.10) and source users (4.2.2) against a real MariaDB pair,
driven through the service layer (``jobs.configure``) with the MySQL providers registered.

Target variables changed here are restored in ``finally``; accounts and roles are uniquely
named and dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness import MariaDBServer
from opendrs.engines.mysql.register import register
from opendrs.errors import InvalidParameter, InvalidRequest
from opendrs.jobs import configure
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.service import seal_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

PROJECT = "p-params"
SAVED = ("long_query_time", "sort_buffer_size", "sql_mode", "max_connections")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    register()
    services = Services.build(Settings(data_dir=tmp_path))
    yield services
    services.store.dispose()


@pytest.fixture
def target_vars(mariadb_target: MariaDBServer) -> Iterator[dict[str, Any]]:
    """The target's values of the variables these tests change, restored afterwards."""
    row = mariadb_target.execute("SELECT " + ", ".join(f"@@GLOBAL.{v}" for v in SAVED))[0]
    before = dict(zip(SAVED, row, strict=True))
    yield before
    mariadb_target.execute("SET GLOBAL " + ", ".join(f"{v} = %s" for v in SAVED), row)


def uid() -> str:
    return uuid.uuid4().hex[:8]


def endpoint(svc: Services, server: MariaDBServer, user: str | None = None,
             password: str | None = None) -> dict[str, Any]:
    return seal_endpoint(svc, {"db_type": "mysql", "ip": server.host, "db_port": server.port,
                               "db_user": user or server.user, "db_password": password or server.password})


def make_job(svc: Services, src: dict[str, Any], dst: dict[str, Any]) -> Job:
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"pp_{uid()}", status=JobStatus.CONFIGURATION,
              db_use_type="migration", engine_type="mysql", job_direction="up", task_type="FULL_INCR_TRANS",
              net_type="eip", config={"source_endpoint": src, "target_endpoint": dst})
    with svc.store.session() as s:
        JobRepo(s).add(job)
    return job


def by_key(params: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["key"]: p for p in params}


def global_value(server: MariaDBServer, name: str) -> Any:
    return server.execute(f"SELECT @@GLOBAL.{name}")[0][0]


# --- 4.1.9 / 4.1.10 ------------------------------------------------------------------------------------


def test_compare_reads_both_servers_and_caches(svc: Services, mariadb_server: MariaDBServer,
                                               mariadb_target: MariaDBServer, target_vars: dict[str, Any]) -> None:
    source_lqt = Decimal(str(global_value(mariadb_server, "long_query_time")))
    mariadb_target.execute("SET GLOBAL long_query_time = %s", (source_lqt + Decimal("2.5"),))
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target))

    [result] = configure.show_params(svc, PROJECT, [job.id], "1")
    params = by_key(result["params"])
    lqt = params["long_query_time"]
    assert (lqt["group"], lqt["data_type"], lqt["compare_result"], lqt["need_restart"]) == (
        "performance", "figure", "false", "false")
    assert Decimal(lqt["source_value"]) == source_lqt
    assert Decimal(lqt["target_value"]) == source_lqt + Decimal("2.5")
    assert lqt["value_range"] == "0-31536000"  # the target's own range (information_schema.SYSTEM_VARIABLES)
    charset = params["character_set_server"]
    assert (charset["group"], charset["compare_result"], charset["source_value"]) == ("common", "true", "utf8mb4")
    assert "latin1" in charset["value_range"].split("|")
    assert params["lower_case_table_names"]["need_restart"] == "true"  # read-only while running
    assert params["tx_isolation"]["source_value"] == "REPEATABLE-READ"
    assert {"sql_mode", "time_zone", "max_allowed_packet", "explicit_defaults_for_timestamp",
            "innodb_lock_wait_timeout", "max_connections"} <= set(params)
    assert all(set(p) == {"compare_result", "data_type", "group", "key", "need_restart", "source_value",
                          "target_value", "value_range", "error_code", "error_message"} for p in result["params"])

    # refresh 0 answers from the cache, even after the target changed
    mariadb_target.execute("SET GLOBAL long_query_time = %s", (source_lqt,))
    [cached] = configure.show_params(svc, PROJECT, [job.id], "0")
    assert Decimal(by_key(cached["params"])["long_query_time"]["target_value"]) == source_lqt + Decimal("2.5")
    [fresh] = configure.show_params(svc, PROJECT, [job.id], "1")
    assert by_key(fresh["params"])["long_query_time"]["compare_result"] == "true"


def test_apply_changes_the_target(svc: Services, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer,
                                  target_vars: dict[str, Any]) -> None:
    mariadb_target.execute("SET GLOBAL long_query_time = 3, sql_mode = 'ANSI_QUOTES'")
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target))
    configure.show_params(svc, PROJECT, [job.id], "1")

    source_mode = str(global_value(mariadb_server, "sql_mode"))
    answer = configure.update_params(svc, PROJECT, job.id, "performance", [
        {"key": "long_query_time", "target_value": "12.5"}, {"key": "sort_buffer_size", "target_value": "1048576"}])
    assert answer == {"success": True, "should_restart": "false"}
    assert Decimal(str(global_value(mariadb_target, "long_query_time"))) == Decimal("12.5")
    assert int(global_value(mariadb_target, "sort_buffer_size")) == 1048576
    assert configure.update_params(svc, PROJECT, job.id, "common", [
        {"key": "sql_mode", "target_value": source_mode.lower()}])["should_restart"] == "false"
    assert str(global_value(mariadb_target, "sql_mode")) == source_mode

    lctn = str(global_value(mariadb_target, "lower_case_table_names"))
    restart = configure.update_params(svc, PROJECT, job.id, "common", [
        {"key": "lower_case_table_names", "target_value": "1" if lctn == "0" else "0"}])
    assert restart == {"success": True, "should_restart": "true"}
    assert str(global_value(mariadb_target, "lower_case_table_names")) == lctn  # only my.cnf + restart can do it

    with svc.store.session() as s:
        stored = JobRepo(s).get(job.id)
    assert stored is not None
    assert {p["key"]: p["target_value"] for p in stored.config["db_param"]["performance"]} == {
        "long_query_time": "12.5", "sort_buffer_size": "1048576"}


@pytest.mark.parametrize(("group", "key", "value", "hint"), [
    ("common", "max_connections", "5", "10-100000"),  # below the target's own minimum
    ("common", "max_connections", "many", "takes a number"),
    ("common", "sql_mode", "STRICT_TRANS_TABLES,NO_SUCH_MODE", "NO_SUCH_MODE"),
    ("common", "time_zone", "Mars/Olympus", "rejected time_zone"),
    ("common", "long_query_time", "3", "not a common parameter"),  # wrong group
])
def test_bad_values_are_rejected_and_nothing_changes(svc: Services, mariadb_server: MariaDBServer,
                                                     mariadb_target: MariaDBServer, target_vars: dict[str, Any],
                                                     group: str, key: str, value: str, hint: str) -> None:
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target))
    configure.show_params(svc, PROJECT, [job.id], "1")
    with pytest.raises(InvalidParameter, match=hint):
        configure.update_params(svc, PROJECT, job.id, group, [
            {"key": "max_connections", "target_value": str(int(target_vars["max_connections"]) + 7)},
            {"key": key, "target_value": value}])
    # validation runs before any change: the valid first item was not applied either, except when the
    # server itself rejected the value (time_zone), where the message says what was already changed
    if key != "time_zone":
        assert int(global_value(mariadb_target, "max_connections")) == int(target_vars["max_connections"])


def test_target_account_without_super(svc: Services, mariadb_server: MariaDBServer,
                                      mariadb_target: MariaDBServer, target_vars: dict[str, Any]) -> None:
    user = f"pp_{uid()}"
    mariadb_target.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    try:
        mariadb_target.execute(f"GRANT SELECT ON *.* TO '{user}'@'%'")
        job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target, user, f"pw-{user}"))
        configure.show_params(svc, PROJECT, [job.id], "1")
        with pytest.raises(InvalidRequest, match="SUPER"):
            configure.update_params(svc, PROJECT, job.id, "performance",
                                    [{"key": "long_query_time", "target_value": "4"}])
    finally:
        mariadb_target.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    assert Decimal(str(global_value(mariadb_target, "long_query_time"))) == Decimal(str(target_vars["long_query_time"]))


# --- 4.2.2 source users ---------------------------------------------------------------------------------


def test_source_users_and_roles(svc: Services, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    tag = uid()
    db, app, base, role, migrator = f"pu_{tag}", f"pu_app_{tag}", f"pu_base_{tag}", f"pu_role_{tag}", f"pu_mig_{tag}"
    setup = [f"CREATE DATABASE `{db}`", f"CREATE ROLE `{base}`", f"GRANT SELECT ON `{db}`.* TO `{base}`",
             f"CREATE ROLE `{role}`", f"GRANT `{base}` TO `{role}`", f"GRANT UPDATE ON `{db}`.* TO `{role}`",
             f"CREATE USER '{app}'@'%' IDENTIFIED BY 'app-secret'", f"GRANT INSERT ON `{db}`.* TO '{app}'@'%'",
             f"GRANT `{role}` TO '{app}'@'%'"]
    for sql in setup:
        mariadb_server.execute(sql)
    mariadb_target.execute(f"CREATE USER '{migrator}'@'%' IDENTIFIED BY 'pw-{migrator}'")
    try:
        mariadb_target.execute(f"GRANT SELECT, UPDATE ON *.* TO '{migrator}'@'%' WITH GRANT OPTION")
        hash_ = str(mariadb_server.execute("SELECT PASSWORD('app-secret')")[0][0])
        job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target, migrator, f"pw-{migrator}"))
        answer = configure.list_users(svc, PROJECT, job.id)
    finally:
        for sql in (f"DROP USER IF EXISTS '{app}'@'%'", f"DROP ROLE IF EXISTS `{role}`",
                    f"DROP ROLE IF EXISTS `{base}`", f"DROP DATABASE IF EXISTS `{db}`"):
            mariadb_server.execute(sql)
        mariadb_target.execute(f"DROP USER IF EXISTS '{migrator}'@'%'")

    assert (answer["job_id"], answer["is_success"], answer["message"]) == (job.id, True, "SUCCESS")
    users = {u["id"]: u for u in answer["user_list"]}
    me = users[f"'{app}'@'%'"]
    assert me["account"] == f"'{app}'@'%'"
    assert me["roles"] == [role]
    assert f"GRANT INSERT ON `{db}`.* TO `{app}`@`%`" in me["privileges"]
    assert hash_ not in str(answer) and "IDENTIFIED" not in me["privileges"]
    assert (me["is_transfer"], me["selected"], me["password"]) == (True, False, None)
    assert me["no_privileges"] == "INSERT"  # the target account may grant SELECT and UPDATE only
    roots = [u for u in answer["user_list"] if u["id"].startswith("'root'@")]
    assert roots and not any(u["is_transfer"] for u in roots)
    roles = {r["role"]: r for r in answer["roles_list"]}
    assert roles[role]["inherits_roles"] == [base]
    assert f"GRANT UPDATE ON `{db}`.* TO `{role}`" in roles[role]["privileges"]
    assert f"TO `{base}`" not in roles[role]["privileges"]  # inherited privileges belong to the base role's entry
    assert f"GRANT SELECT ON `{db}`.* TO `{base}`" in roles[base]["privileges"]
    assert roles[base]["inherits_roles"] == []


def test_listing_users_needs_read_access_to_mysql(svc: Services, mariadb_server: MariaDBServer,
                                                  mariadb_target: MariaDBServer) -> None:
    user = f"pu_{uid()}"
    mariadb_server.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    try:
        job = make_job(svc, endpoint(svc, mariadb_server, user, f"pw-{user}"), endpoint(svc, mariadb_target))
        with pytest.raises(InvalidRequest, match=r"GRANT SELECT ON mysql\.\* TO"):
            configure.list_users(svc, PROJECT, job.id)
        mariadb_server.execute(f"GRANT SELECT ON mysql.* TO '{user}'@'%'")
        listed = {u["id"]: u for u in configure.list_users(svc, PROJECT, job.id)["user_list"]}
        assert listed[f"'{user}'@'%'"]["is_transfer"] is False  # the task's own account is never migrated
    finally:
        mariadb_server.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_an_unreachable_endpoint_is_a_400_that_says_why(svc: Services, mariadb_server: MariaDBServer,
                                                        mariadb_target: MariaDBServer) -> None:
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target, password="not-the-password"))
    with pytest.raises(InvalidRequest) as exc:
        configure.show_params(svc, PROJECT, [job.id], "1")
    assert (exc.value.http_status, exc.value.error_code) == (400, "DRS.M00300")
    assert "username or password is incorrect" in exc.value.error_msg and "target endpoint" in exc.value.error_msg
    assert "not-the-password" not in exc.value.error_msg
