"""PostgreSQL pre-check (4.1.6/4.1.7) against a real PostgreSQL source/target pair.

Each test sets one problem up for real -- a table without replica identity, an account
without REPLICATION or ownership, a slot name already taken, a target in another encoding,
a read-only target database, a source with wal_level=replica -- runs the registered
pre-check through the service layer and checks that exactly that item reports it, with a
reason that names the fix. Every test works in its own databases (dropped afterwards);
server settings changed with ALTER SYSTEM are reset in ``finally``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import PostgresServer
from opendrs.engines.postgres.register import register
from opendrs.jobs import lifecycle
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.service import seal_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.precheck.postgres import extension_gaps, slot_name, version_order, version_support
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

PROJECT = "p-pg-precheck"


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


def make_job(svc: Services, src: dict[str, Any], dst: dict[str, Any], schemas: list[str] | None = None,
             task_type: str = "FULL_INCR_TRANS", status: JobStatus = JobStatus.CONFIGURATION,
             db_use_type: str = "sync", **config: Any) -> Job:
    """A PostgreSQL task in the store whose selection is ``schemas`` (whole schemas)."""
    selection = {"selected": bool(schemas), "sync_database": False,
                 "job": [{"id": s, "object_type": "schema", "select": "true", "object_name": s} for s in schemas or []]}
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"pgpc_{uid()}", status=status, db_use_type=db_use_type,
              engine_type="postgresql", job_direction="up", task_type=task_type, net_type="eip",
              config={"source_endpoint": src, "target_endpoint": dst, "object_selection": selection, **config})
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


def drop_database(server: PostgresServer, db: str) -> None:
    for (slot,) in server.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s", (db,)):
        server.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    server.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture
def pair(postgres_server: PostgresServer, postgres_target: PostgresServer) -> Iterator[str]:
    """A source database with schema ``app`` (one keyed table with rows) and an empty target database of
    the same name; both dropped afterwards."""
    db = f"pc_{uid()}"
    postgres_server.execute(f'CREATE DATABASE "{db}"')
    postgres_target.execute(f'CREATE DATABASE "{db}"')
    postgres_server.execute("CREATE SCHEMA app", dbname=db)
    postgres_server.execute("CREATE TABLE app.orders (id int PRIMARY KEY, note text)", dbname=db)
    postgres_server.execute("INSERT INTO app.orders VALUES (1, 'a'), (2, 'b')", dbname=db)
    yield db
    drop_database(postgres_server, db)
    drop_database(postgres_target, db)


@pytest.fixture
def role(postgres_server: PostgresServer, postgres_target: PostgresServer) -> Iterator[str]:
    """A plain LOGIN role (password ``pw``) on both servers; dropped afterwards."""
    name = f"pc_u_{uid()}"
    for server in (postgres_server, postgres_target):
        server.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw'")
    yield name
    for server in (postgres_server, postgres_target):
        for (db,) in server.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pc\\_%%'"):
            server.execute(f"DROP OWNED BY {name}", dbname=db)
        server.execute(f"DROP ROLE IF EXISTS {name}")


def test_a_healthy_pair_passes_every_item(svc: Services, postgres_server: PostgresServer,
                                          postgres_target: PostgresServer, pair: str) -> None:
    job = make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair), ["app"])
    items = run(svc, job)
    assert not_passed(items) == {}
    for name in ("srcDbConnection", "dstDbConnection", "srcWalLevelCheck", "srcReplicationSlotsCheck",
                 "srcWalSendersCheck", "srcReplicationSlotNameCheck", "srcDbPrivilegesIsEnoughForIncre",
                 "dstDbPrivilegesIsEnough", "checkIncreSrcDbExistedInDstDb", "srcTableReplicaIdentityCheck",
                 "dbEncodingConsistency", "dbLocaleConsistency", "dstStatusCheck", "dstDbExistCheck"):
        assert items[name]["result"] == "PASSED", name
    assert items["srcDbConnection"]["group"] == "network"
    assert items["srcDbPrivilegesIsEnoughForIncre"]["group"] == "db_user_privilege"
    assert '"replication_connection": "ok"' in items["srcDbPrivilegesIsEnoughForIncre"]["data"]
    assert slot_name(job) in items["srcReplicationSlotNameCheck"]["data"]
    assert "srcDbPrivilegesIsEnoughForFull" not in items
    everything = run(svc, make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair)))
    assert not_passed(everything) == {} and everything["userSelectObjectsCheck"]["data"] == '{"schemas": 2}'
    full_only = run(svc, make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair),
                                  ["app"], task_type="FULL_TRANS"))
    assert "srcWalLevelCheck" not in full_only and "srcReplicationSlotNameCheck" not in full_only
    assert full_only["srcDbPrivilegesIsEnoughForFull"]["result"] == "PASSED"


def test_through_the_service_layer_result_and_rate(svc: Services, postgres_server: PostgresServer,
                                                   postgres_target: PostgresServer, pair: str) -> None:
    postgres_target.execute("CREATE SCHEMA app", dbname=pair)
    postgres_target.execute("CREATE TABLE app.orders (id int PRIMARY KEY, note text)", dbname=pair)
    postgres_target.execute("INSERT INTO app.orders VALUES (9, 'old')", dbname=pair)
    job = make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair), ["app"])
    lifecycle.start_precheck(svc, PROJECT, job.id, "forStartJob").join(60)
    doc = lifecycle.precheck_result(svc, PROJECT, job.id)
    assert doc["process"] == "100%" and doc["result"] is True, doc  # a sync task may write over rows: ALARM
    alarms = {i["item"]: i for i in doc["precheck_result"] if i["result"] != "PASSED"}
    assert list(alarms) == ["checkIncreSrcDbExistedInDstDb"], alarms
    assert "app.orders" in alarms["checkIncreSrcDbExistedInDstDb"]["failed_reason"]
    assert "TRUNCATE TABLE app.orders" in alarms["checkIncreSrcDbExistedInDstDb"]["failed_reason"]

    postgres_target.execute("CREATE TABLE app.items (id int)", dbname=pair)
    postgres_server.execute("CREATE TABLE app.items_src (id int PRIMARY KEY)", dbname=pair)
    postgres_target.execute("CREATE VIEW app.items_src AS SELECT 1 AS id", dbname=pair)
    migration = run(svc, make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair),
                                  ["app"], db_use_type="migration"))["checkIncreSrcDbExistedInDstDb"]
    assert migration["result"] == "FAILED" and "app.items_src (a view)" in migration["failed_reason"]


def test_tables_without_replica_identity(svc: Services, postgres_server: PostgresServer,
                                         postgres_target: PostgresServer, pair: str) -> None:
    postgres_server.execute("CREATE TABLE app.log (at timestamptz, msg text)", dbname=pair)
    postgres_server.execute("CREATE TABLE app.codes (code text NOT NULL, label text)", dbname=pair)
    postgres_server.execute("CREATE UNIQUE INDEX codes_code ON app.codes (code)", dbname=pair)
    src, dst = endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair)
    item = run(svc, make_job(svc, src, dst, ["app"]))["srcTableReplicaIdentityCheck"]
    assert item["result"] == "FAILED", item
    assert "ALTER TABLE app.log REPLICA IDENTITY FULL;" in item["failed_reason"]
    assert "ALTER TABLE app.codes REPLICA IDENTITY USING INDEX codes_code;" in item["failed_reason"]
    assert "app.orders" not in item["failed_reason"]

    full_only = run(svc, make_job(svc, src, dst, ["app"], task_type="FULL_TRANS"))["srcTableReplicaIdentityCheck"]
    assert full_only["result"] == "ALARM" and "app.log" in full_only["failed_reason"]
    assert "app.codes" not in full_only["failed_reason"]  # its NOT NULL unique key is a key for the full load

    postgres_server.execute("ALTER TABLE app.log REPLICA IDENTITY FULL", dbname=pair)
    postgres_server.execute("ALTER TABLE app.codes REPLICA IDENTITY USING INDEX codes_code", dbname=pair)
    fixed = run(svc, make_job(svc, src, dst, ["app"]))["srcTableReplicaIdentityCheck"]
    assert fixed["result"] == "ALARM" and "app.log" in fixed["failed_reason"], fixed
    assert "app.codes" not in fixed["failed_reason"] and "ADD PRIMARY KEY" in fixed["failed_reason"]


def test_source_account_without_replication_select_or_ownership(svc: Services, postgres_server: PostgresServer,
                                                                 postgres_target: PostgresServer, pair: str,
                                                                 role: str) -> None:
    src = endpoint(svc, postgres_server, pair, user=role, password="pw")
    dst = endpoint(svc, postgres_target, pair)
    item = run(svc, make_job(svc, src, dst, ["app"]))["srcDbPrivilegesIsEnoughForIncre"]
    assert item["result"] == "FAILED"
    reason = item["failed_reason"]
    assert f"ALTER ROLE {role} WITH REPLICATION;" in reason and "replication" in reason.lower()
    assert f"GRANT USAGE ON SCHEMA app TO {role};" in reason
    assert f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {role};" in reason
    assert f"GRANT CREATE ON DATABASE {pair} TO {role};" in reason
    assert f"ALTER TABLE app.orders OWNER TO {role};" in reason  # only the owner may publish app.orders
    assert f"GRANT postgres TO {role};" in reason

    full_only = run(svc, make_job(svc, src, dst, ["app"], task_type="FULL_TRANS"))["srcDbPrivilegesIsEnoughForFull"]
    assert full_only["result"] == "FAILED" and "REPLICATION" not in full_only["failed_reason"]

    postgres_server.execute(f"ALTER ROLE {role} WITH REPLICATION")
    postgres_server.execute(f"GRANT CREATE ON DATABASE {pair} TO {role}")
    postgres_server.execute(f"GRANT USAGE ON SCHEMA app TO {role}", dbname=pair)
    postgres_server.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {role}", dbname=pair)
    postgres_server.execute(f"ALTER TABLE app.orders OWNER TO {role}", dbname=pair)
    granted = run(svc, make_job(svc, src, dst, ["app"]))
    assert granted["srcDbPrivilegesIsEnoughForIncre"]["result"] == "PASSED", granted["srcDbPrivilegesIsEnoughForIncre"]


def test_target_account_privileges_and_superuser_only_extensions(svc: Services, postgres_server: PostgresServer,
                                                                  postgres_target: PostgresServer, pair: str,
                                                                  role: str) -> None:
    postgres_server.execute("CREATE EXTENSION pageinspect", dbname=pair)
    postgres_target.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", dbname=pair)
    src, dst = endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair, user=role, password="pw")
    items = run(svc, make_job(svc, src, dst, ["app"], user_migration={"is_migrate_user": True}))
    privileges = items["dstDbPrivilegesIsEnough"]
    assert privileges["result"] == "FAILED"
    assert f"GRANT CREATE ON DATABASE {pair} TO {role};" in privileges["failed_reason"]
    assert f"ALTER ROLE {role} WITH CREATEROLE;" in privileges["failed_reason"]
    ext = items["srcExtensionsAvailableInDst"]
    assert ext["result"] == "FAILED" and "pageinspect" in ext["failed_reason"]
    assert "superuser" in ext["failed_reason"] and "CREATE EXTENSION pageinspect;" in ext["failed_reason"]

    postgres_target.execute(f"GRANT CREATE ON DATABASE {pair} TO {role}")
    postgres_target.execute("CREATE SCHEMA app", dbname=pair)
    postgres_target.execute("CREATE TABLE app.orders (id int PRIMARY KEY, note text)", dbname=pair)
    existing = run(svc, make_job(svc, src, dst, ["app"]))["dstDbPrivilegesIsEnough"]
    assert existing["result"] == "FAILED" and "USAGE and CREATE on schema(s) app" in existing["failed_reason"]
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA app TO {role};" \
        in existing["failed_reason"]
    postgres_target.execute(f"ALTER SCHEMA app OWNER TO {role}", dbname=pair)
    postgres_target.execute(f"ALTER TABLE app.orders OWNER TO {role}", dbname=pair)
    assert run(svc, make_job(svc, src, dst, ["app"]))["dstDbPrivilegesIsEnough"]["result"] == "PASSED"

    as_superuser = run(svc, make_job(svc, src, endpoint(svc, postgres_target, pair), ["app"]))
    assert as_superuser["srcExtensionsAvailableInDst"]["result"] == "PASSED"


def test_extension_versions_that_differ(svc: Services, postgres_server: PostgresServer,
                                        postgres_target: PostgresServer, pair: str) -> None:
    postgres_server.execute("CREATE EXTENSION hstore VERSION '1.4'", dbname=pair)
    postgres_target.execute("CREATE EXTENSION hstore", dbname=pair)
    item = run(svc, make_job(svc, endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair),
                             ["app"]))["srcExtensionsAvailableInDst"]
    assert item["result"] == "ALARM" and "hstore 1.4 on the source" in item["failed_reason"]
    assert "ALTER EXTENSION" in item["failed_reason"]


def test_extension_gaps_decide_missing_superuser_and_versions() -> None:
    available = {"postgis": ("3.4", True, False), "hstore": ("1.8", False, True), "pageinspect": ("1.11", True, False)}
    missing, superuser, versions = extension_gaps(
        {"postgis": "3.4", "hstore": "1.8", "vector": "0.7", "pageinspect": "1.9"}, {}, available, superuser=False)
    assert missing == ["vector"] and superuser == ["pageinspect", "postgis"]
    assert versions == ["pageinspect 1.9 on the source, 1.11 would be created on the target"]
    assert extension_gaps({"postgis": "3.4"}, {"postgis": "3.4"}, {}, superuser=False) == ([], [], [])
    assert extension_gaps({"pageinspect": "1.11"}, {}, available, superuser=True) == ([], [], [])


def test_version_rules() -> None:
    assert version_support("source", 11, "11.22").result == "FAILED"
    assert "PostgreSQL 12 or later" in version_support("source", 11, "11.22").failed_reason
    assert version_support("target", 15, "15.8").result == "PASSED"
    assert version_support("target", 99, "99.0").result == "ALARM"
    older = version_order(16, 15, {})
    assert older.result == "FAILED" and "PostgreSQL 16 or later" in older.failed_reason
    assert version_order(15, 16, {}).result == "PASSED"


def test_slot_name_taken_and_retry(svc: Services, postgres_server: PostgresServer,
                                   postgres_target: PostgresServer, pair: str) -> None:
    src, dst = endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair)
    name = f"pc_slot_{uid()}"
    policy = {"slot_name": name}
    postgres_server.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,), dbname=pair)
    taken = run(svc, make_job(svc, src, dst, ["app"], policy=policy))["srcReplicationSlotNameCheck"]
    assert taken["result"] == "FAILED" and f"SELECT pg_drop_replication_slot('{name}');" in taken["failed_reason"]
    assert "4.3.2" in taken["failed_reason"]
    retry = run(svc, make_job(svc, src, dst, ["app"], policy=policy, status=JobStatus.INCRE_TRANSFER_FAILED))
    assert retry["srcReplicationSlotNameCheck"]["result"] == "PASSED"
    assert retry["srcReplicationSlotsCheck"]["result"] == "PASSED"  # its own slot is not counted against it
    postgres_server.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    gone = run(svc, make_job(svc, src, dst, ["app"], policy=policy, status=JobStatus.INCRE_TRANSFER_FAILED))
    assert gone["srcReplicationSlotNameCheck"]["result"] == "FAILED"
    assert "no longer exists" in gone["srcReplicationSlotNameCheck"]["failed_reason"]
    not_started = run(svc, make_job(svc, src, dst, ["app"], policy=policy, status=JobStatus.START_JOB_FAILED))
    assert not_started["srcReplicationSlotNameCheck"]["result"] == "PASSED"

    postgres_server.execute("SELECT pg_create_physical_replication_slot(%s)", (name,))
    try:
        physical = run(svc, make_job(svc, src, dst, ["app"], policy=policy))["srcReplicationSlotNameCheck"]
    finally:
        postgres_server.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    assert physical["result"] == "FAILED" and "physical slot" in physical["failed_reason"]


def wait_setting(server: PostgresServer, name: str, value: str) -> None:
    """pg_reload_conf() only signals: wait until new sessions see ``value``."""
    server.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while server.execute("SELECT current_setting(%s)", (name,))[0][0] != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        time.sleep(0.1)


def test_wal_retention_hints(svc: Services, postgres_server: PostgresServer, postgres_target: PostgresServer,
                             pair: str) -> None:
    src, dst = endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair)
    keep = postgres_server.execute("SELECT current_setting('max_slot_wal_keep_size')")[0][0]
    size = postgres_target.execute("SELECT current_setting('max_wal_size')")[0][0]
    try:
        postgres_server.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '64MB'")
        wait_setting(postgres_server, "max_slot_wal_keep_size", "64MB")
        postgres_target.execute("ALTER SYSTEM SET max_wal_size = '64MB'")
        wait_setting(postgres_target, "max_wal_size", "64MB")
        items = run(svc, make_job(svc, src, dst, ["app"]))
    finally:
        postgres_server.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
        wait_setting(postgres_server, "max_slot_wal_keep_size", keep)
        postgres_target.execute("ALTER SYSTEM RESET max_wal_size")
        wait_setting(postgres_target, "max_wal_size", size)
    assert items["srcWalRetentionCheck"]["result"] == "ALARM"
    assert "max_slot_wal_keep_size is 64MB" in items["srcWalRetentionCheck"]["failed_reason"]
    assert items["dstMaxWalSizeCheck"]["result"] == "ALARM"
    assert "ALTER SYSTEM SET max_wal_size" in items["dstMaxWalSizeCheck"]["failed_reason"]


def test_encoding_and_locale_of_the_target_database(svc: Services, postgres_server: PostgresServer,
                                                    postgres_target: PostgresServer, pair: str) -> None:
    latin, utf = f"pc_{uid()}", f"pc_{uid()}"
    postgres_target.execute(f"CREATE DATABASE {latin} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' "
                            "TEMPLATE template0")
    postgres_target.execute(f"CREATE DATABASE {utf} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' "
                            "TEMPLATE template0")
    try:
        src = endpoint(svc, postgres_server, pair)
        latin_items = run(svc, make_job(svc, src, endpoint(svc, postgres_target, latin), ["app"]))
        utf_items = run(svc, make_job(svc, src, endpoint(svc, postgres_target, utf), ["app"]))
    finally:
        drop_database(postgres_target, latin)
        drop_database(postgres_target, utf)
    assert latin_items["dbEncodingConsistency"]["result"] == "FAILED"
    assert "UTF8" in latin_items["dbEncodingConsistency"]["failed_reason"]
    assert "ENCODING 'UTF8'" in latin_items["dbEncodingConsistency"]["failed_reason"]
    assert latin_items["dbLocaleConsistency"]["result"] == "PASSED"
    assert utf_items["dbEncodingConsistency"]["result"] == "PASSED"
    assert utf_items["dbLocaleConsistency"]["result"] == "ALARM"
    assert "lc_collate and lc_ctype differ" in utf_items["dbLocaleConsistency"]["failed_reason"]


def test_read_only_and_missing_target_database(svc: Services, postgres_server: PostgresServer,
                                               postgres_target: PostgresServer, pair: str, role: str) -> None:
    src = endpoint(svc, postgres_server, pair)
    postgres_target.execute(f"ALTER DATABASE {pair} SET default_transaction_read_only = on")
    try:
        status = run(svc, make_job(svc, src, endpoint(svc, postgres_target, pair), ["app"]))["dstStatusCheck"]
    finally:
        postgres_target.execute(f"ALTER DATABASE {pair} RESET default_transaction_read_only")
    assert status["result"] == "FAILED"
    assert f"ALTER DATABASE {pair} SET default_transaction_read_only = off;" in status["failed_reason"]

    absent = f"pc_absent_{uid()}"
    items = run(svc, make_job(svc, src, endpoint(svc, postgres_target, absent), ["app"]))
    assert items["dstDbConnection"]["result"] == "PASSED"
    assert not_passed(items) == {}  # OpenDRS creates it like template1: UTF8, C, as the source database is
    assert '"exists": false' in items["dstDbExistCheck"]["data"]
    assert postgres_target.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (absent,))[0][0] == 0

    no_createdb = run(svc, make_job(svc, src, endpoint(svc, postgres_target, absent, user=role, password="pw"),
                                    ["app"]))["dstDbExistCheck"]
    assert no_createdb["result"] == "FAILED"
    assert f"CREATE DATABASE {absent} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER {role};" \
        in no_createdb["failed_reason"] and f"ALTER ROLE {role} CREATEDB;" in no_createdb["failed_reason"]

    other_locale = f"pc_{uid()}"
    postgres_server.execute(f"CREATE DATABASE {other_locale} LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' "
                            "TEMPLATE template0")
    try:
        differ = run(svc, make_job(svc, endpoint(svc, postgres_server, other_locale),
                                   endpoint(svc, postgres_target, other_locale)))
    finally:
        drop_database(postgres_server, other_locale)
    assert differ["dstDbExistCheck"]["result"] == "ALARM"
    assert "LC_COLLATE 'C.UTF-8'" in differ["dstDbExistCheck"]["failed_reason"]
    assert differ["dbLocaleConsistency"]["result"] == "ALARM"
    assert "does not exist yet" in differ["dbLocaleConsistency"]["failed_reason"]


def test_unlogged_generated_foreign_keys_and_missing_objects(svc: Services, postgres_server: PostgresServer,
                                                             postgres_target: PostgresServer, pair: str) -> None:
    for statement in ("CREATE UNLOGGED TABLE app.cache (k int PRIMARY KEY, v text)",
                      "CREATE TABLE app.lines (id int PRIMARY KEY, qty int, price int, "
                      "total int GENERATED ALWAYS AS (qty * price) STORED)",
                      "CREATE SCHEMA ref", "CREATE TABLE ref.countries (code text PRIMARY KEY)",
                      "CREATE TABLE app.addresses (id int PRIMARY KEY, country text REFERENCES ref.countries)"):
        postgres_server.execute(statement, dbname=pair)
    src, dst = endpoint(svc, postgres_server, pair), endpoint(svc, postgres_target, pair)
    items = run(svc, make_job(svc, src, dst, ["app"]))
    assert items["srcUnloggedTableCheck"]["result"] == "ALARM"
    assert "ALTER TABLE app.cache SET LOGGED;" in items["srcUnloggedTableCheck"]["failed_reason"]
    assert items["srcGeneratedColumnCheck"]["result"] == "ALARM"
    assert "app.lines" in items["srcGeneratedColumnCheck"]["failed_reason"]
    assert items["hasForeignKeyOnUnselectedTable"]["result"] == "ALARM"
    assert "app.addresses -> ref.countries" in items["hasForeignKeyOnUnselectedTable"]["failed_reason"]
    assert items["srcTableReplicaIdentityCheck"]["result"] == "PASSED"  # unlogged tables are not decoded at all

    both = run(svc, make_job(svc, src, dst, ["app", "ref"]))
    assert both["hasForeignKeyOnUnselectedTable"]["result"] == "PASSED"
    missing = run(svc, make_job(svc, src, dst, ["app", "nope"]))["userSelectObjectsCheck"]
    assert missing["result"] == "FAILED" and "nope" in missing["failed_reason"]


def test_unreachable_source_is_reported_once(svc: Services, postgres_target: PostgresServer, pair: str) -> None:
    src = seal_endpoint(svc, {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": 1, "db_name": pair,
                              "db_user": "postgres", "db_password": "secret-never-shown"})
    items = run(svc, make_job(svc, src, endpoint(svc, postgres_target, pair), ["app"]))
    assert items["srcDbConnection"]["result"] == "FAILED" and "firewall" in items["srcDbConnection"]["failed_reason"]
    assert items["dstDbConnection"]["result"] == "PASSED"
    assert "fix srcDbConnection first" in items["srcWalLevelCheck"]["failed_reason"]
    assert "secret-never-shown" not in str(items)


class MisconfiguredPostgres(PostgresServer):
    """A source that cannot do logical replication: wal_level=replica and no slots or WAL senders."""

    def _command(self) -> list[str]:
        cmd = super()._command()
        for key, value in (("wal_level", "replica"), ("max_replication_slots", "0"), ("max_wal_senders", "0")):
            cmd[cmd.index(next(c for c in cmd if c.startswith(f"{key}=")))] = f"{key}={value}"
        return cmd


@pytest.fixture(scope="module")
def misconfigured() -> Iterator[PostgresServer]:
    with MisconfiguredPostgres(name="postgres-no-logical") as server:
        yield server


def test_source_without_logical_replication(svc: Services, misconfigured: PostgresServer,
                                            postgres_target: PostgresServer, pair: str) -> None:
    misconfigured.execute("CREATE TABLE IF NOT EXISTS public.t (id int PRIMARY KEY)")
    job = make_job(svc, endpoint(svc, misconfigured, "postgres"), endpoint(svc, postgres_target, pair), ["public"])
    items = run(svc, job)
    wal = items["srcWalLevelCheck"]
    assert wal["result"] == "FAILED" and "ALTER SYSTEM SET wal_level = logical;" in wal["failed_reason"]
    assert "restart" in wal["failed_reason"]
    slots = items["srcReplicationSlotsCheck"]
    assert slots["result"] == "FAILED" and "max_replication_slots = 0" in slots["failed_reason"]
    senders = items["srcWalSendersCheck"]
    assert senders["result"] == "FAILED" and "ALTER SYSTEM SET max_wal_senders" in senders["failed_reason"]
    privileges = items["srcDbPrivilegesIsEnoughForIncre"]
    assert privileges["result"] == "FAILED" and "max_wal_senders" in privileges["failed_reason"]
    full_only = run(svc, make_job(svc, endpoint(svc, misconfigured, "postgres"), endpoint(svc, postgres_target, pair),
                                  ["public"], task_type="FULL_TRANS"))
    assert not_passed(full_only) == {}
