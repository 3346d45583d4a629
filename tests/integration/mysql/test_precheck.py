"""MySQL pre-check (4.1.6/4.1.7) against a real MariaDB source/target pair.

Each test sets one problem up for real -- an account without replication privileges, a
MINIMAL row image, a non-empty target table, a MyISAM or keyless table, a read-only target --
runs the registered pre-check through the service layer and checks that exactly that item
reports it, with a reason that names the fix. Global variables changed on the shared servers
are restored in ``finally``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import MariaDBServer
from opendrs.engines.mysql.register import register
from opendrs.jobs import lifecycle
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.service import seal_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

PROJECT = "p-precheck"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    register()
    services = Services.build(Settings(data_dir=tmp_path))
    yield services
    services.store.dispose()


def uid() -> str:
    return uuid.uuid4().hex[:8]


def endpoint(svc: Services, server: MariaDBServer, user: str | None = None,
             password: str | None = None) -> dict[str, Any]:
    return seal_endpoint(svc, {"db_type": "mysql", "ip": server.host, "db_port": server.port,
                               "db_user": user or server.user, "db_password": password or server.password})


def make_job(svc: Services, src: dict[str, Any], dst: dict[str, Any], databases: list[str] | None = None,
             db_use_type: str = "migration", task_type: str = "FULL_INCR_TRANS", **config: Any) -> Job:
    """A CONFIGURATION task in the store whose selection is ``databases`` (whole databases)."""
    selection = {"selected": bool(databases), "sync_database": False,
                 "job": [{"id": db, "object_type": "database", "select": "true", "object_name": db,
                          **({"object_alias_name": config.pop("alias")} if "alias" in config else {})}
                         for db in databases or []]}
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"pc_{uid()}", status=JobStatus.CONFIGURATION,
              db_use_type=db_use_type, engine_type="mysql", job_direction="up", task_type=task_type,
              net_type="eip", config={"source_endpoint": src, "target_endpoint": dst,
                                      "object_selection": selection, **config})
    with svc.store.session() as s:
        JobRepo(s).add(job)
    return job


def run(svc: Services, job: Job) -> dict[str, dict[str, Any]]:
    """The registered pre-check of the job's engine type, by item name."""
    out = lifecycle.PRECHECKS[job.engine_type](svc, job)
    assert len({i["item"] for i in out}) == len(out)
    return {i["item"]: i for i in out}


def not_passed(items: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: f"{i['result']}: {i['failed_reason']}" for name, i in items.items() if i["result"] != "PASSED"}


@pytest.fixture
def source_db(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> Iterator[str]:
    """A database with one keyed InnoDB table holding rows; dropped on both servers afterwards."""
    db = f"pc_{uid()}"
    mariadb_server.execute(f"CREATE DATABASE `{db}`")
    mariadb_server.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(20), "
                           "at TIMESTAMP NULL) ENGINE=InnoDB")
    mariadb_server.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'a', NULL), (2, 'b', NULL)")
    yield db
    for server in (mariadb_server, mariadb_target):
        server.execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_a_healthy_pair_passes_every_item(svc: Services, mariadb_server: MariaDBServer,
                                          mariadb_target: MariaDBServer, source_db: str) -> None:
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db])
    items = run(svc, job)
    assert not_passed(items) == {}
    for name in ("srcDbConnection", "dstDbConnection", "srcDbBinlogIsOff", "srcBinlogFormatCheck",
                 "srcBinlogRowImageCheck", "srcDbServerIdCheck", "srcDbGtidModeCheck",
                 "srcDbPrivilegesIsEnoughForIncre", "dstDbPrivilegesIsEnough", "checkIncreSrcDbExistedInDstDb"):
        assert items[name]["result"] == "PASSED"
    assert items["srcDbConnection"]["group"] == "network"
    assert "MariaDB" in items["srcDbVersionSupport"]["data"]
    assert "srcDbPrivilegesIsEnoughForFull" not in items
    full_only = run(svc, make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db],
                                  task_type="FULL_TRANS"))
    assert "srcBinlogFormatCheck" not in full_only and full_only["srcDbPrivilegesIsEnoughForFull"]["result"] == "PASSED"


def test_through_the_service_layer_result_and_rate(svc: Services, mariadb_server: MariaDBServer,
                                                   mariadb_target: MariaDBServer, source_db: str) -> None:
    mariadb_target.execute(f"CREATE DATABASE `{source_db}`")
    mariadb_target.execute(f"CREATE TABLE `{source_db}`.orders (id INT PRIMARY KEY, note VARCHAR(20), "
                           "at TIMESTAMP NULL)")
    mariadb_target.execute(f"INSERT INTO `{source_db}`.orders VALUES (9, 'old', NULL)")
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db])
    lifecycle.start_precheck(svc, PROJECT, job.id, "forStartJob").join(60)
    doc = lifecycle.precheck_result(svc, PROJECT, job.id)
    assert doc["process"] == "100%" and doc["result"] is False
    failed = [i for i in doc["precheck_result"] if i["result"] == "FAILED"]
    assert [i["item"] for i in failed] == ["checkIncreSrcDbExistedInDstDb"]
    total = len(doc["precheck_result"])
    assert doc["total_passed_rate"] == f"{(total - 1) * 100 // total}%"
    assert f"{source_db}.orders" in failed[0]["failed_reason"] and "TRUNCATE TABLE" in failed[0]["failed_reason"]


def test_target_conflicts_migration_sync_rename_and_empty(svc: Services, mariadb_server: MariaDBServer,
                                                          mariadb_target: MariaDBServer, source_db: str) -> None:
    renamed = f"pc_{uid()}"
    src, dst = endpoint(svc, mariadb_server), endpoint(svc, mariadb_target)
    try:
        mariadb_target.execute(f"CREATE DATABASE `{source_db}`")
        mariadb_target.execute(f"CREATE TABLE `{source_db}`.orders (id INT PRIMARY KEY)")
        empty = run(svc, make_job(svc, src, dst, [source_db]))["checkIncreSrcDbExistedInDstDb"]
        assert empty["result"] == "PASSED" and f"{source_db}.orders" in empty["data"]

        mariadb_target.execute(f"INSERT INTO `{source_db}`.orders VALUES (1)")
        migration = run(svc, make_job(svc, src, dst, [source_db]))["checkIncreSrcDbExistedInDstDb"]
        assert migration["result"] == "FAILED"
        assert f"TRUNCATE TABLE `{source_db}`.`orders`" in migration["failed_reason"]
        sync = run(svc, make_job(svc, src, dst, [source_db], db_use_type="sync"))["checkIncreSrcDbExistedInDstDb"]
        assert sync["result"] == "ALARM" and "conflict_policy" in sync["failed_reason"]

        # Renamed to a database that does not hold the table: no conflict; once it does, the target name is named.
        sync_renamed = make_job(svc, src, dst, [source_db], db_use_type="sync", alias=renamed)
        assert run(svc, sync_renamed)["checkIncreSrcDbExistedInDstDb"]["result"] == "PASSED"
        mariadb_target.execute(f"CREATE DATABASE `{renamed}`")
        mariadb_target.execute(f"CREATE TABLE `{renamed}`.orders (id INT PRIMARY KEY)")
        mariadb_target.execute(f"INSERT INTO `{renamed}`.orders VALUES (5)")
        clash = run(svc, sync_renamed)["checkIncreSrcDbExistedInDstDb"]
        assert clash["result"] == "ALARM" and f"{renamed}.orders" in clash["failed_reason"]
    finally:
        mariadb_target.execute(f"DROP DATABASE IF EXISTS `{renamed}`")


def test_accounts_without_enough_privileges(svc: Services, mariadb_server: MariaDBServer,
                                            mariadb_target: MariaDBServer, source_db: str) -> None:
    user = f"pc_{uid()}"
    hidden = f"pc_{uid()}"
    mariadb_server.execute(f"CREATE DATABASE `{hidden}`")
    mariadb_server.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    mariadb_target.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    try:
        mariadb_server.execute(f"GRANT SELECT ON `{source_db}`.* TO '{user}'@'%'")
        mariadb_target.execute(f"GRANT SELECT, INSERT ON `{source_db}`.* TO '{user}'@'%'")
        job = make_job(svc, endpoint(svc, mariadb_server, user, f"pw-{user}"),
                       endpoint(svc, mariadb_target, user, f"pw-{user}"), [source_db, hidden])
        items = run(svc, job)
        src = items["srcDbPrivilegesIsEnoughForIncre"]
        assert src["result"] == "FAILED"
        assert "REPLICATION SLAVE" in src["failed_reason"] and "REPLICATION CLIENT" in src["failed_reason"]
        assert f"SELECT on {hidden}" in src["failed_reason"]
        assert f"TO '{user}'@'%';" in src["failed_reason"]
        dst = items["dstDbPrivilegesIsEnough"]
        assert dst["result"] == "FAILED"
        for privilege in ("ALTER", "CREATE", "DELETE", "DROP", "INDEX", "UPDATE", "opendrs_meta"):
            assert privilege in dst["failed_reason"]
        missing = items["userSelectObjectsCheck"]
        assert missing["result"] == "FAILED" and hidden in missing["failed_reason"]

        # Running exactly the GRANT statements the reasons suggest fixes both privilege items.
        for server, reason in ((mariadb_server, src["failed_reason"]), (mariadb_target, dst["failed_reason"])):
            statements = re.findall(r"GRANT [^;]+;", reason)
            assert statements, reason
            for statement in statements:
                server.execute(statement.rstrip(";"))
        again = run(svc, job)
        assert again["srcDbPrivilegesIsEnoughForIncre"]["result"] == "PASSED"
        assert again["dstDbPrivilegesIsEnough"]["result"] == "PASSED"
        assert again["userSelectObjectsCheck"]["result"] == "PASSED"
    finally:
        mariadb_server.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        mariadb_target.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        mariadb_server.execute(f"DROP DATABASE IF EXISTS `{hidden}`")


def test_binlog_settings_changed_on_the_source(svc: Services, mariadb_server: MariaDBServer,
                                               mariadb_target: MariaDBServer, source_db: str) -> None:
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db])
    before = mariadb_server.execute("SELECT @@GLOBAL.binlog_row_image, @@GLOBAL.binlog_expire_logs_seconds, "
                                    "@@GLOBAL.gtid_strict_mode")[0]
    try:
        mariadb_server.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
        mariadb_server.execute("SET GLOBAL binlog_expire_logs_seconds = 3600")
        mariadb_server.execute("SET GLOBAL gtid_strict_mode = OFF")
        items = run(svc, job)
    finally:
        mariadb_server.execute("SET GLOBAL binlog_row_image = %s, binlog_expire_logs_seconds = %s, "
                               "gtid_strict_mode = %s", before)
    image = items["srcBinlogRowImageCheck"]
    assert image["result"] == "FAILED" and "SET GLOBAL binlog_row_image = 'FULL'" in image["failed_reason"]
    assert '"binlog_row_image": "MINIMAL"' in image["data"]
    expire = items["srcDbBinlogExpireLogsDays"]
    assert expire["result"] == "ALARM" and "binlog_expire_logs_seconds = 259200" in expire["failed_reason"]
    assert items["srcDbGtidModeCheck"]["result"] == "ALARM"
    assert set(not_passed(items)) == {"srcBinlogRowImageCheck", "srcDbBinlogExpireLogsDays", "srcDbGtidModeCheck"}


def test_tables_without_key_non_transactional_and_dangling_foreign_keys(
        svc: Services, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source_db: str) -> None:
    other = f"pc_{uid()}"
    for sql in (f"CREATE TABLE `{source_db}`.legacy (id INT PRIMARY KEY) ENGINE=MyISAM",
                f"CREATE TABLE `{source_db}`.events (payload TEXT) ENGINE=InnoDB",
                f"CREATE TABLE `{source_db}`.nullable_uk (code INT NULL, UNIQUE KEY (code)) ENGINE=InnoDB",
                f"CREATE TABLE `{source_db}`.strict_uk (code INT NOT NULL, UNIQUE KEY (code)) ENGINE=InnoDB",
                f"CREATE DATABASE `{other}`",
                f"CREATE TABLE `{other}`.customers (id INT PRIMARY KEY) ENGINE=InnoDB",
                f"CREATE TABLE `{source_db}`.invoices (id INT PRIMARY KEY, customer INT, FOREIGN KEY (customer) "
                f"REFERENCES `{other}`.customers (id)) ENGINE=InnoDB"):
        mariadb_server.execute(sql)
    try:
        items = run(svc, make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db]))
    finally:
        mariadb_server.execute(f"DROP TABLE `{source_db}`.invoices")
        mariadb_server.execute(f"DROP DATABASE `{other}`")
    engines = items["srcDbExistUnsupportEngineTable"]
    assert engines["result"] == "ALARM"
    assert f"{source_db}.legacy (MyISAM)" in engines["failed_reason"]
    assert f"ALTER TABLE `{source_db}`.`legacy` ENGINE=InnoDB" in engines["failed_reason"]
    keys = items["srcTableWithoutPrimaryKey"]
    assert keys["result"] == "ALARM" and "full row image" in keys["failed_reason"]
    assert sorted(eval(keys["data"])["tables"]) == [f"{source_db}.events", f"{source_db}.nullable_uk"]  # noqa: S307
    assert "ADD PRIMARY KEY" in keys["failed_reason"]
    fks = items["hasForeignKeyOnUnselectedTable"]
    assert fks["result"] == "ALARM"
    assert f"{source_db}.invoices -> {other}.customers" in fks["failed_reason"]


def test_target_parameters_that_differ(svc: Services, mariadb_server: MariaDBServer,
                                       mariadb_target: MariaDBServer, source_db: str) -> None:
    job = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db])
    before = mariadb_target.execute("SELECT @@GLOBAL.sql_mode, @@GLOBAL.time_zone, @@GLOBAL.max_allowed_packet")[0]
    source_packet = int(mariadb_server.execute("SELECT @@GLOBAL.max_allowed_packet")[0][0])
    try:
        mariadb_target.execute("SET GLOBAL sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES', time_zone = '+05:00', "
                               "max_allowed_packet = %s", (source_packet // 2,))
        items = run(svc, job)
    finally:
        mariadb_target.execute("SET GLOBAL sql_mode = %s, time_zone = %s, max_allowed_packet = %s", before)
    mode = items["sqlModeConsistency"]
    assert mode["result"] == "ALARM" and "ANSI_QUOTES" in mode["failed_reason"]
    assert "SET GLOBAL sql_mode = " in mode["failed_reason"]
    clock = items["dbClockConsistency"]
    assert clock["result"] == "ALARM" and f"{source_db}.orders" in clock["failed_reason"]
    assert "SET GLOBAL time_zone = 'SYSTEM'" in clock["failed_reason"]
    packet = items["dstMaxAllowedPacketCheck"]
    assert packet["result"] == "FAILED"
    assert f"SET GLOBAL max_allowed_packet = {source_packet}" in packet["failed_reason"]


def test_read_only_target(svc: Services, mariadb_server: MariaDBServer, mariadb_target: MariaDBServer,
                          source_db: str) -> None:
    user = f"pc_{uid()}"
    mariadb_target.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    mariadb_target.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX ON *.* TO '{user}'@'%'")
    plain = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target, user, f"pw-{user}"),
                     [source_db])
    admin = make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [source_db])
    try:
        assert run(svc, plain)["dstStatusCheck"]["result"] == "PASSED"
        mariadb_target.execute("SET GLOBAL read_only = ON")
        try:
            blocked, standby = run(svc, plain)["dstStatusCheck"], run(svc, admin)["dstStatusCheck"]
        finally:
            mariadb_target.execute("SET GLOBAL read_only = OFF")
    finally:
        mariadb_target.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    assert blocked["result"] == "FAILED" and "SET GLOBAL read_only = OFF" in blocked["failed_reason"]
    assert standby["result"] == "ALARM" and "READ_ONLY ADMIN" in standby["failed_reason"]  # root may still write


def test_incremental_only_start_positions(svc: Services, mariadb_server: MariaDBServer,
                                          mariadb_target: MariaDBServer, source_db: str) -> None:
    file, pos = mariadb_server.execute("SHOW MASTER STATUS")[0][:2]
    gtid = str(mariadb_server.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]).split(",")[0]
    domain, server_id, seq = gtid.split("-")
    src, dst = endpoint(svc, mariadb_server), endpoint(svc, mariadb_target)

    def position(**policy: str) -> dict[str, Any]:
        job = make_job(svc, src, dst, [source_db], task_type="INCR_TRANS", policy=policy)
        return run(svc, job)["srcIncreStartPositionCheck"]

    assert position(file_and_position=f"{file}:{pos}")["result"] == "PASSED"
    gone = position(file_and_position="mysql-bin.999999:4")
    assert gone["result"] == "FAILED" and "mysql-bin.999999 does not exist" in gone["failed_reason"]
    assert "4.3.2" in gone["failed_reason"]
    beyond = position(file_and_position=f"{file}:{int(pos) + 10_000_000}")
    assert beyond["result"] == "FAILED" and "beyond the end" in beyond["failed_reason"]
    assert position(gtid_set=gtid)["result"] == "PASSED"
    ahead = position(gtid_set=f"{domain}-{server_id}-{int(seq) + 1_000_000}")
    assert ahead["result"] == "FAILED" and "ahead of the source" in ahead["failed_reason"]
    assert position(gtid_set="4242-1-1")["result"] == "FAILED"
    no_policy = run(svc, make_job(svc, src, dst, [source_db], task_type="INCR_TRANS"))
    assert "srcIncreStartPositionCheck" not in no_policy
    # incremental-only: the tables must already be on the target
    absent = no_policy["checkIncreSrcDbExistedInDstDb"]
    assert absent["result"] == "ALARM" and f"{source_db}.orders" in absent["failed_reason"]


def test_unreachable_source_and_odd_database_names(svc: Services, mariadb_server: MariaDBServer,
                                                   mariadb_target: MariaDBServer) -> None:
    items = run(svc, make_job(svc, endpoint(svc, mariadb_server, password="wrong-password"),
                              endpoint(svc, mariadb_target), ["whatever"]))
    conn = items["srcDbConnection"]
    assert conn["result"] == "FAILED" and "username or password is incorrect" in conn["failed_reason"]
    assert "wrong-password" not in str(items)
    assert items["dstDbConnection"]["result"] == "PASSED"
    assert items["dstDbVersionSupport"]["result"] == "PASSED"
    assert items["srcBinlogFormatCheck"]["failed_reason"].endswith("fix srcDbConnection first")

    odd = f"pc_{uid()}.v2"
    mariadb_server.execute(f"CREATE DATABASE `{odd}`")
    try:
        named = run(svc, make_job(svc, endpoint(svc, mariadb_server), endpoint(svc, mariadb_target), [odd]))
    finally:
        mariadb_server.execute(f"DROP DATABASE `{odd}`")
    symbols = named["srcDbNameContainsUnsupportedSymbols"]
    assert symbols["result"] == "FAILED" and odd in symbols["failed_reason"]


def test_live_api_returns_these_items(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer,
                                      source_db: str) -> None:
    """4.1.6/4.1.7 through a real ``opendrs serve``: the server registers the MySQL pre-check at start-up."""
    wired = subprocess.run([sys.executable, "-c", "import opendrs.pipeline.registry; from opendrs.jobs.lifecycle "
                            "import PRECHECKS; print(PRECHECKS['mysql'].__module__ if 'mysql' in PRECHECKS else '')"],
                           capture_output=True, text=True, check=False)
    if wired.stdout.strip() != "opendrs.precheck.mysql":
        pytest.skip(f"opendrs.pipeline.registry does not register the MySQL pre-check yet ({wired.stderr[-300:]})")
    from e2e.e2e_helpers import ServerHandle, create_task

    server = ServerHandle(data_dir=Path(tempfile.mkdtemp(prefix="opendrs-precheck-")) / "data")
    server.start()
    try:
        with server.client() as client:
            job_id = create_task(client, db_use_type="migration", source_endpoint={
                "db_type": "mysql", "ip": mariadb_server.host, "db_port": mariadb_server.port, "db_user": "root",
                "db_password": mariadb_server.password}, target_endpoint={
                "db_type": "mysql", "ip": mariadb_target.host, "db_port": mariadb_target.port, "db_user": "root",
                "db_password": mariadb_target.password})
            chosen = client.call("PUT", "/v3/{project_id}/jobs/batch-select-objects", {"jobs": [{
                "job_id": job_id, "selected": True, "sync_database": False,
                "job": [{"id": source_db, "object_type": "database", "select": "true", "name": source_db}]}]})
            assert chosen["results"][0]["status"] is True, chosen  # 4.1.5 answers a Boolean status
            started = client.call("POST", "/v3/{project_id}/jobs/batch-precheck",
                                  {"jobs": [{"job_id": job_id, "precheck_mode": "forStartJob"}]})
            assert started["results"][0]["status"] == "success", started
            deadline = time.monotonic() + 60
            while True:
                doc = client.call("POST", "/v3/{project_id}/jobs/batch-precheck-result", {"jobs": [job_id]})
                result = doc["results"][0]
                if result.get("process") == "100%" or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
    finally:
        server.stop()
    assert result["process"] == "100%", result
    by = {i["item"]: i for i in result["precheck_result"]}
    assert by["srcDbConnection"]["result"] == "PASSED" and by["srcBinlogFormatCheck"]["result"] == "PASSED"
    assert by["dstDbConnection"]["group"] == "network"
    assert result["result"] is True, [i for i in result["precheck_result"] if i["result"] == "FAILED"]
