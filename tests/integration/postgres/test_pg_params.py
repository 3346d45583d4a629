"""PostgreSQL database parameters (4.1.9 compare / 4.1.10 change) against a real source/target pair,
through the registered ``DB_PARAMS`` provider.

The service layer's 4.1.9/4.1.10 gate admits only MySQL migration/DR tasks (as the spec says), so
these tests call the provider the gate would dispatch to. Target settings changed with ALTER
SYSTEM are reset (and the configuration reloaded) in ``finally``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness import PostgresServer
from opendrs.engines.postgres.params import PARAMS, PostgresParams, Setting, in_base_unit, value_range
from opendrs.engines.postgres.register import register
from opendrs.errors import InvalidParameter, InvalidRequest
from opendrs.jobs import configure
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.service import seal_endpoint
from opendrs.jobs.states import JobStatus
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo

PROJECT = "p-pg-params"
CHANGED = ("work_mem", "timezone", "max_locks_per_transaction", "max_wal_senders", "autovacuum")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    register()
    services = Services.build(Settings(data_dir=tmp_path))
    yield services
    services.store.dispose()


def reload_until(server: PostgresServer, name: str, value: str) -> None:
    server.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while server.execute("SELECT current_setting(%s)", (name,))[0][0] != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        time.sleep(0.1)


@pytest.fixture
def reset_target(postgres_target: PostgresServer) -> Iterator[None]:
    """Whatever a test persists with ALTER SYSTEM on the target is reset afterwards."""
    before = {n: postgres_target.execute("SELECT current_setting(%s)", (n,))[0][0] for n in CHANGED}
    yield
    for name in CHANGED:
        postgres_target.execute(f"ALTER SYSTEM RESET {name}")
    for name in ("work_mem", "timezone", "autovacuum"):
        reload_until(postgres_target, name, before[name])


def endpoint(svc: Services, server: PostgresServer, user: str | None = None,
             password: str | None = None) -> dict[str, Any]:
    return seal_endpoint(svc, {"db_type": "postgresql", "ip": server.host, "db_port": server.port,
                               "db_user": user or server.user, "db_password": password or server.password})


def make_job(svc: Services, src: dict[str, Any], dst: dict[str, Any]) -> Job:
    job = Job(id=new_job_id(), project_id=PROJECT, name=f"pgp_{uuid.uuid4().hex[:8]}",
              status=JobStatus.CONFIGURATION, db_use_type="sync", engine_type="postgresql", job_direction="up",
              task_type="FULL_INCR_TRANS", net_type="eip", config={"source_endpoint": src, "target_endpoint": dst})
    with svc.store.session() as s:
        JobRepo(s).add(job)
    return job


def provider() -> PostgresParams:
    engine = configure.DB_PARAMS["postgresql"]
    assert isinstance(engine, PostgresParams)
    return engine


def by_key(params: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["key"]: p for p in params}


def test_compare_reads_both_servers(svc: Services, postgres_server: PostgresServer, postgres_target: PostgresServer,
                                    reset_target: None) -> None:
    job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target))
    postgres_target.execute("ALTER SYSTEM SET work_mem = '7MB'")
    reload_until(postgres_target, "work_mem", "7MB")
    params = by_key(provider().read(svc, job))
    assert set(params) == {p.key for p in PARAMS}
    for item in params.values():
        assert set(item) == {"compare_result", "data_type", "group", "key", "need_restart", "source_value",
                             "target_value", "value_range", "error_code", "error_message"}
    work_mem = params["work_mem"]
    assert (work_mem["compare_result"], work_mem["target_value"], work_mem["group"]) == ("false", "7168", "performance")
    assert work_mem["data_type"] == "figure" and work_mem["need_restart"] == "false"
    assert work_mem["value_range"].startswith("64-2147483647 (unit kB")
    assert params["shared_buffers"]["need_restart"] == "true"
    assert params["server_encoding"]["compare_result"] == "true" and params["server_encoding"]["group"] == "common"
    assert params["lc_collate"]["source_value"] == "C" and params["lc_collate"]["need_restart"] == "true"
    assert params["wal_level"]["source_value"] == "logical"
    assert params["datestyle"]["value_range"] == "text" and params["datestyle"]["source_value"] == "ISO, MDY"
    assert "iso_8601" in params["intervalstyle"]["value_range"].split("|")
    assert params["bytea_output"]["value_range"] == "escape|hex"
    assert params["autovacuum"]["value_range"] == "on|off" and params["autovacuum"]["data_type"] is None


def test_apply_reloadable_and_restart_only(svc: Services, postgres_server: PostgresServer,
                                           postgres_target: PostgresServer, reset_target: None) -> None:
    job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target))
    restart = provider().apply(svc, job, "performance", [{"key": "work_mem", "target_value": "8MB"},
                                                         {"key": "autovacuum", "target_value": "false"}])
    assert restart is False
    assert postgres_target.execute("SELECT current_setting('work_mem'), current_setting('autovacuum')")[0] == \
        ("8MB", "off")
    assert provider().apply(svc, job, "common", [{"key": "TimeZone", "target_value": "Asia/Shanghai"}]) is False
    assert postgres_target.execute("SHOW timezone")[0][0] == "Asia/Shanghai"

    assert provider().apply(svc, job, "common", [{"key": "max_locks_per_transaction", "target_value": "128"}]) is True
    pending = postgres_target.execute("SELECT setting, pending_restart FROM pg_settings WHERE name = "
                                      "'max_locks_per_transaction'")[0]
    assert pending == ("64", True)  # persisted in postgresql.auto.conf, in effect after the restart


def test_bad_values_are_rejected_and_nothing_changes(svc: Services, postgres_server: PostgresServer,
                                                     postgres_target: PostgresServer, reset_target: None) -> None:
    job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target))
    before = postgres_target.execute("SELECT current_setting('work_mem')")[0][0]
    cases: list[tuple[str, list[dict[str, str]], str]] = [
        ("performance", [{"key": "work_mem", "target_value": "16MB"}, {"key": "work_mem", "target_value": "1"}],
         "must be within 64-2147483647"),
        ("performance", [{"key": "work_mem", "target_value": "12 parsecs"}], "takes no unit"),
        ("performance", [{"key": "synchronous_commit", "target_value": "sometimes"}], "takes one of"),
        ("performance", [{"key": "autovacuum", "target_value": "maybe"}], "takes on or off"),
        ("common", [{"key": "lc_collate", "target_value": "C.UTF-8"}], "fixed when the cluster or database"),
        ("common", [{"key": "timezone", "target_value": "Mars/Olympus_Mons"}], "the target rejected timezone"),
        ("common", [{"key": "work_mem", "target_value": "8MB"}], "is not a common parameter"),
        ("performance", [{"key": "fsync", "target_value": "off"}], "is not a performance parameter"),
    ]
    for group, params, message in cases:
        with pytest.raises(InvalidParameter) as exc:
            provider().apply(svc, job, group, params)
        assert message in exc.value.error_msg, (params, exc.value.error_msg)
    assert postgres_target.execute("SELECT current_setting('work_mem')")[0][0] == before
    auto = postgres_target.execute("SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE "
                                   "'%%postgresql.auto.conf' AND name = 'work_mem'")[0][0]
    assert auto == 0


def test_a_command_line_setting_cannot_be_changed(svc: Services, postgres_server: PostgresServer,
                                                  postgres_target: PostgresServer, reset_target: None) -> None:
    job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target))
    with pytest.raises(InvalidRequest) as exc:
        provider().apply(svc, job, "common", [{"key": "max_wal_senders", "target_value": "20"}])
    assert "max_wal_senders" in exc.value.error_msg and "command line" in exc.value.error_msg


def test_target_account_without_alter_system(svc: Services, postgres_server: PostgresServer,
                                             postgres_target: PostgresServer, reset_target: None) -> None:
    name = f"pgp_u_{uuid.uuid4().hex[:8]}"
    postgres_target.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw'")
    try:
        job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target, name, "pw"))
        assert by_key(provider().read(svc, job))["work_mem"]["compare_result"] == "true"
        with pytest.raises(InvalidRequest) as exc:
            provider().apply(svc, job, "performance", [{"key": "work_mem", "target_value": "8MB"}])
        assert "GRANT ALTER SYSTEM ON PARAMETER work_mem" in exc.value.error_msg
    finally:
        postgres_target.execute(f"DROP ROLE {name}")


def test_an_unreachable_endpoint_is_a_400_that_says_why(svc: Services, postgres_server: PostgresServer,
                                                        postgres_target: PostgresServer) -> None:
    job = make_job(svc, endpoint(svc, postgres_server), endpoint(svc, postgres_target, "postgres", "wrong-pw"))
    with pytest.raises(InvalidRequest) as exc:
        provider().read(svc, job)
    assert exc.value.http_status == 400 and "target endpoint" in exc.value.error_msg
    assert "wrong-pw" not in exc.value.error_msg


def test_values_with_units_are_converted_to_the_base_unit() -> None:
    pages = Setting("shared_buffers", "4096", "8kB", "integer", "postmaster", "16", "1073741823", ())
    assert in_base_unit(pages, "64MB", "f") == Decimal(8192) and in_base_unit(pages, "4096", "f") == Decimal(4096)
    seconds = Setting("checkpoint_timeout", "300", "s", "integer", "sighup", "30", "86400", ())
    assert in_base_unit(seconds, "5min", "f") == Decimal(300) and in_base_unit(seconds, "1h", "f") == Decimal(3600)
    for bad, message in (("10s", "must be within"), ("2d", "must be within"), ("5MB", "takes no unit"),
                         ("1.5", "whole number"), ("soon", "takes a number")):
        with pytest.raises(InvalidParameter) as exc:
            in_base_unit(seconds, bad, "params[0].target_value")
        assert message in exc.value.error_msg and "params[0].target_value" in exc.value.error_msg
    assert value_range(seconds) == "30-86400 (unit s; or a value with a unit, e.g. 5min)"
    ratio = Setting("checkpoint_completion_target", "0.9", None, "real", "sighup", "0", "1", ())
    assert in_base_unit(ratio, "0.5", "f") == Decimal("0.5") and value_range(ratio) == "0-1"
