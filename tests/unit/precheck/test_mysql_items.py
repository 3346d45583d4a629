"""Pure parts of the MySQL pre-check, parameters and grants: no database, no I/O.

The grant parser decides whether a DBA is told "your account lacks REPLICATION SLAVE", so its
cases come from real ``SHOW GRANTS`` output of MariaDB 10.11 and MySQL 8. Items are driven
with stub servers that answer ``SHOW GLOBAL VARIABLES`` from a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from opendrs.engines.mysql.params import BY_KEY, VariableInfo, compare, literal, normalise
from opendrs.engines.mysql.users import Grants, like, parse_grant, without_secrets
from opendrs.errors import InvalidParameter
from opendrs.jobs.model import Job
from opendrs.jobs.states import JobStatus
from opendrs.pipeline.selection import Selection
from opendrs.precheck import mysql as items
from opendrs.precheck.base import MAX_DATA_CHARS, ItemList, NotChecked, alarm, failed, passed, run_items
from opendrs.precheck.mysql import MySQLCheckContext, ServerVersion, binlog_retention_seconds

# --- SHOW GRANTS parsing -------------------------------------------------------------------------


def test_global_grant_with_mariadb_names_and_password_hash() -> None:
    g = parse_grant("GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `u1`@`%` "
                    "IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'")
    assert g is not None
    assert g.level == "global"
    assert g.privileges == {"SELECT", "RELOAD", "REPLICATION SLAVE", "REPLICATION CLIENT"}
    assert g.grantee == "`u1`@`%`"
    assert not g.grant_option


def test_database_table_column_role_and_proxy_grants() -> None:
    db = parse_grant("GRANT ALL PRIVILEGES ON `my\\_db`.* TO `u1`@`%`")
    assert db is not None and (db.level, db.database) == ("database", "my\\_db")
    assert db.privileges == {"ALL PRIVILEGES"}
    table = parse_grant("GRANT SELECT, INSERT (`Host`) ON `mysql`.`user` TO `w`@`%` WITH GRANT OPTION")
    assert table is not None
    assert (table.level, table.database, table.table) == ("table", "mysql", "user")
    assert table.privileges == {"SELECT"}  # a column privilege is not a table privilege
    assert table.grant_option
    role = parse_grant("GRANT `r1` TO `u1`@`%`")
    assert role is not None and (role.level, role.role) == ("role", "r1")
    mysql_role = parse_grant("GRANT `app_read`@`%` TO `bob`@`%`")
    assert mysql_role is not None and mysql_role.role == "app_read"
    proxy = parse_grant("GRANT PROXY ON ``@`%` TO `root`@`127.0.0.1` WITH GRANT OPTION")
    assert proxy is not None and proxy.level == "proxy"
    assert parse_grant("SET DEFAULT ROLE `r1` FOR `u1`@`%`") is None


def test_quoted_names_with_dots_and_backquotes() -> None:
    g = parse_grant("GRANT SELECT ON `a.b`.`t``x` TO `u`@`%`")
    assert g is not None and (g.database, g.table) == ("a.b", "t`x")


def test_like_follows_grant_wildcards_and_escapes() -> None:
    assert like("my\\_db", "my_db")
    assert not like("my\\_db", "myxdb")
    assert like("my_db", "myxdb")  # an unescaped _ is a wildcard in a database-level grant
    assert like("app%", "app_prod")
    assert not like("app%", "other")


def test_grants_answer_privilege_questions_at_each_level() -> None:
    grants = Grants([
        "GRANT REPLICATION SLAVE ON *.* TO `u`@`%`",
        "GRANT SELECT, INSERT ON `shop%`.* TO `u`@`%`",
        "GRANT SELECT ON `hr`.`people` TO `u`@`%`",
        "GRANT ALL ON `scratch`.* TO `u`@`%`",
    ])
    assert grants.has("REPLICATION SLAVE")
    assert not grants.has("REPLICATION CLIENT")
    assert grants.has("BINLOG MONITOR") is grants.has("REPLICATION CLIENT")
    assert grants.has("SELECT", "shop_eu")
    assert not grants.has("SELECT", "hr")
    assert grants.has("SELECT", "hr", "people")
    assert not grants.has("SELECT", "hr", "salaries")
    assert grants.missing(["CREATE", "DROP", "INDEX"], "scratch") == []
    assert grants.missing(["SELECT", "UPDATE"], "shop_eu") == ["UPDATE"]
    assert grants.grantable_globally() == set()


def test_grantable_globally() -> None:
    assert Grants(["GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION"]).grantable_globally() is None
    assert Grants(["GRANT SELECT, INSERT ON *.* TO `m`@`%` WITH GRANT OPTION"]).grantable_globally() == {"SELECT",
                                                                                                        "INSERT"}


def test_without_secrets_removes_every_password_form() -> None:
    assert without_secrets("GRANT USAGE ON *.* TO `w`@`%` IDENTIFIED VIA mysql_native_password USING '*B69' OR "
                           "unix_socket REQUIRE SSL") == "GRANT USAGE ON *.* TO `w`@`%` REQUIRE SSL"
    assert without_secrets("GRANT ALL PRIVILEGES ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*79D0' WITH GRANT "
                           "OPTION") == "GRANT ALL PRIVILEGES ON *.* TO `r`@`%` WITH GRANT OPTION"


# --- versions and binlog arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "flavour", "numbers", "supported"), [
    ("10.11.6-MariaDB-log", "MariaDB", (10, 11, 6), True),
    ("5.5.5-10.11.19-MariaDB-0+deb12u1-log", "MariaDB", (10, 11, 19), True),
    ("10.1.48-MariaDB", "MariaDB", (10, 1, 48), False),
    ("8.0.35-27", "MySQL", (8, 0, 35), True),
    ("5.6.51-log", "MySQL", (5, 6, 51), True),
    ("5.5.62", "MySQL", (5, 5, 62), False),
])
def test_server_version(text: str, flavour: str, numbers: tuple[int, int, int], supported: bool) -> None:
    v = ServerVersion.parse(text)
    assert (v.flavour, v.numbers, v.supported) == (flavour, numbers, supported)


@pytest.mark.parametrize(("variables", "seconds"), [
    ({"expire_logs_days": "0.000000"}, 0.0),
    ({"expire_logs_days": "0.5"}, 43200.0),
    ({"expire_logs_days": "7", "binlog_expire_logs_seconds": "0"}, 604800.0),
    ({"expire_logs_days": "7", "binlog_expire_logs_seconds": "3600"}, 3600.0),
])
def test_binlog_retention(variables: dict[str, str], seconds: float) -> None:
    assert binlog_retention_seconds(variables) == seconds


def test_mariadb_gtid_lists() -> None:
    assert items._mariadb_gtids("[0-1-100,1-2-5]") == {(0, 1): 100, (1, 2): 5}
    assert items._mariadb_gtids("") == {}


# --- the runner -------------------------------------------------------------------------------------------


class FakeDriverError(Exception):
    pass


def test_runner_isolates_items_and_renders_the_spec_shape() -> None:
    checks: ItemList[dict[str, Any]] = ItemList()
    checks.add("ok", "network", "a")(lambda ctx: passed({"v": 1}))
    checks.add("warn", "db_params", "b")(lambda ctx: alarm("fix it like this", ["t1"]))
    checks.add("skipped", "db_params", "c", applies=lambda ctx: False)(lambda ctx: failed("never"))

    def driver(ctx: dict[str, Any]) -> Any:
        raise FakeDriverError(1142, "SELECT command denied to user 'u'@'h' for table 'user'")

    def unreachable(ctx: dict[str, Any]) -> Any:
        raise NotChecked("not checked: the source database is not reachable; fix srcDbConnection first")

    def bug(ctx: dict[str, Any]) -> Any:
        return ctx["missing"]

    checks.add("driver", "db_params", "the binlog")(driver)
    checks.add("unreachable", "db_params", "e")(unreachable)
    checks.add("bug", "db_params", "f")(bug)
    checks.add("huge", "db_params", "g")(lambda ctx: alarm("many", ["x" * 100] * 100))

    out = run_items(checks.items, {}, (FakeDriverError,))
    by = {r["item"]: r for r in out}
    assert [r["item"] for r in out] == ["ok", "warn", "driver", "unreachable", "bug", "huge"]
    assert all(set(r) == {"item", "result", "failed_reason", "data", "raw_error_msg", "group"} for r in out)
    assert by["ok"] == {"item": "ok", "result": "PASSED", "failed_reason": "", "data": '{"v": 1}',
                        "raw_error_msg": "", "group": "network"}
    assert (by["warn"]["result"], by["warn"]["data"]) == ("ALARM", '["t1"]')
    assert by["driver"]["result"] == "FAILED"
    assert "could not check the binlog" in by["driver"]["failed_reason"]
    assert "SELECT command denied" in by["driver"]["raw_error_msg"]
    assert by["unreachable"]["failed_reason"].endswith("fix srcDbConnection first")
    assert by["bug"]["result"] == "FAILED" and "internal error" in by["bug"]["failed_reason"]
    assert len(by["huge"]["data"]) == MAX_DATA_CHARS


# --- items against stub servers -----------------------------------------------------------------------------


@dataclass
class StubServer:
    variables: dict[str, str] = field(default_factory=dict)
    version_text: str = "10.11.6-MariaDB-log"

    def var(self, name: str) -> str | None:
        return self.variables.get(name)

    def int_var(self, name: str, default: int = 0) -> int:
        return int(self.variables.get(name, default))

    @property
    def version(self) -> ServerVersion:
        return ServerVersion.parse(self.version_text)


def ctx_with(src: dict[str, str], dst: dict[str, str], src_version: str = "10.11.6-MariaDB-log",
             dst_version: str = "10.11.6-MariaDB-log", task_type: str = "FULL_INCR_TRANS") -> MySQLCheckContext:
    job = Job(id="j", project_id="p", name="n", status=JobStatus.CONFIGURATION, db_use_type="migration",
              engine_type="mysql", job_direction="up", task_type=task_type, net_type="eip")
    return MySQLCheckContext(job, Selection(), StubServer(src, src_version),  # type: ignore[arg-type]
                             StubServer(dst, dst_version))  # type: ignore[arg-type]


def test_binlog_items_name_the_fix() -> None:
    ctx = ctx_with({"log_bin": "ON", "binlog_format": "MIXED", "binlog_row_image": "MINIMAL"}, {})
    assert items.binlog_on(ctx).result == "PASSED"
    fmt = items.binlog_format(ctx)
    assert fmt.result == "FAILED" and "SET GLOBAL binlog_format = 'ROW'" in fmt.failed_reason
    image = items.binlog_row_image(ctx)
    assert image.result == "FAILED" and "SET GLOBAL binlog_row_image = 'FULL'" in image.failed_reason
    off = items.binlog_on(ctx_with({"log_bin": "OFF"}, {}))
    assert off.result == "FAILED" and "log_bin=" in off.failed_reason


def test_server_id_zero_or_shared() -> None:
    assert items.server_id(ctx_with({"server_id": "0"}, {"server_id": "2"})).result == "FAILED"
    same = items.server_id(ctx_with({"server_id": "7"}, {"server_id": "7"}))
    assert same.result == "FAILED" and "server_id 7" in same.failed_reason
    assert items.server_id(ctx_with({"server_id": "1"}, {"server_id": "2"})).result == "PASSED"


def test_gtid_and_retention() -> None:
    loose = items.gtid_mode(ctx_with({"gtid_strict_mode": "OFF", "gtid_binlog_pos": "0-1-5"}, {}))
    assert loose.result == "ALARM" and "gtid_strict_mode = ON" in loose.failed_reason
    mysql = items.gtid_mode(ctx_with({"gtid_mode": "OFF"}, {}, src_version="8.0.35"))
    assert mysql.result == "ALARM" and "enforce_gtid_consistency" in mysql.failed_reason
    short = items.binlog_retention(ctx_with({"binlog_expire_logs_seconds": "3600"}, {}))
    assert short.result == "ALARM" and "binlog_expire_logs_seconds = 259200" in short.failed_reason


def test_stub_context_exposes_variables_for_retention() -> None:
    # binlog_retention reads ``server.variables`` (the whole map), not single names
    ctx = ctx_with({"expire_logs_days": "3"}, {})
    assert items.binlog_retention(ctx).result == "PASSED"


def test_versions_and_case_sensitivity() -> None:
    older = items.version_order(ctx_with({}, {}, "10.11.6-MariaDB", "10.6.16-MariaDB"))
    assert older.result == "FAILED" and "MariaDB 10.11 or later" in older.failed_reason
    cross = items.version_order(ctx_with({}, {}, "8.0.35", "10.11.6-MariaDB"))
    assert cross.result == "ALARM"
    assert items.version_order(ctx_with({}, {}, "10.6.1-MariaDB", "10.11.6-MariaDB")).result == "PASSED"
    case = items.table_name_case(ctx_with({"lower_case_table_names": "0"}, {"lower_case_table_names": "1"}))
    assert case.result == "FAILED" and "lower_case_table_names = 0" in case.failed_reason


def test_isolation_and_strict_mode() -> None:
    iso = items.isolation(ctx_with({"tx_isolation": "REPEATABLE-READ"}, {"tx_isolation": "READ-COMMITTED"}))
    assert iso.result == "ALARM" and "SET GLOBAL tx_isolation = 'REPEATABLE-READ'" in iso.failed_reason
    strict = items.innodb_strict(ctx_with({"innodb_strict_mode": "OFF"}, {"innodb_strict_mode": "ON"}))
    assert strict.result == "ALARM"
    assert items.innodb_strict(ctx_with({"innodb_strict_mode": "ON"}, {"innodb_strict_mode": "OFF"})).result \
        == "PASSED"


def test_item_names_are_unique_and_cover_the_spec_list() -> None:
    names = items.ITEMS.names()
    assert len(names) == len(set(names))
    spec = {"srcDbConnection", "dstDbConnection", "srcDbVersionSupport", "dstDbVersionSupport",
            "dbVersionMeetRequirement", "srcDbBinlogIsOff", "srcBinlogFormatCheck", "srcBinlogRowImageCheck",
            "srcDbServerIdCheck", "srcDbBinlogExpireLogsDays", "srcDbPrivilegesIsEnoughForIncre",
            "dstDbPrivilegesIsEnough", "srcDbExistUnsupportEngineTable", "dbCharacterSetConsistency",
            "dbCollationServerConsistency", "sqlModeConsistency", "srcDstTableNameCaseSensitiveCheck",
            "dbClockConsistency", "dstMaxAllowedPacketCheck", "checkIncreSrcDbExistedInDstDb",
            "userSelectObjectsCheck", "srcDbNameContainsUnsupportedSymbols", "hasForeignKeyOnUnselectedTable",
            "dbIsolationLevelConsistency", "innodbStrictModeConsistency", "dstStatusCheck"}
    assert spec <= set(names)


# --- 4.1.9 / 4.1.10 value handling ------------------------------------------------------------------------


def test_compare_normalises_numbers_sets_and_case() -> None:
    lqt = compare(BY_KEY["long_query_time"], {"long_query_time": "1.000000"}, {"long_query_time": "1"}, {}, {})
    assert lqt is not None and lqt["compare_result"] == "true" and lqt["data_type"] == "figure"
    modes = compare(BY_KEY["sql_mode"], {"sql_mode": "STRICT_TRANS_TABLES,NO_ZERO_DATE"},
                    {"sql_mode": "no_zero_date,strict_trans_tables"}, {}, {})
    assert modes is not None and modes["compare_result"] == "true"
    cs = compare(BY_KEY["character_set_server"], {"character_set_server": "latin1"},
                 {"character_set_server": "utf8mb4"}, {}, {"character_set_server": "latin1|utf8mb4"})
    assert cs == {"compare_result": "false", "data_type": None, "group": "common", "key": "character_set_server",
                  "need_restart": "false", "source_value": "latin1", "target_value": "utf8mb4",
                  "value_range": "latin1|utf8mb4", "error_code": None, "error_message": None}


def test_compare_renamed_and_missing_variables() -> None:
    iso = compare(BY_KEY["tx_isolation"], {"tx_isolation": "REPEATABLE-READ"},
                  {"transaction_isolation": "REPEATABLE-READ"}, {}, {})
    assert iso is not None and iso["compare_result"] == "true"
    gone = compare(BY_KEY["sync_binlog"], {"sync_binlog": "1"}, {}, {}, {})
    assert gone is not None and gone["compare_result"] == "false" and "target" in gone["error_message"]
    assert compare(BY_KEY["sync_binlog"], {}, {}, {}, {}) is None
    ro = compare(BY_KEY["lower_case_table_names"], {"lower_case_table_names": "0"}, {"lower_case_table_names": "0"},
                 {"lower_case_table_names": VariableInfo(True, "0-2")}, {})
    assert ro is not None and (ro["need_restart"], ro["value_range"]) == ("true", "0-2")


def test_literal_validates_against_the_range() -> None:
    assert literal(BY_KEY["max_connections"], "500", "10-100000", "f") == 500
    assert literal(BY_KEY["long_query_time"], "2.5", "0-31536000", "f") == Decimal("2.5")
    assert literal(BY_KEY["tx_isolation"], "read-committed", "READ-UNCOMMITTED|READ-COMMITTED", "f") == \
        "READ-COMMITTED"
    assert literal(BY_KEY["innodb_strict_mode"], "1", "OFF|ON", "f") == "ON"
    assert literal(BY_KEY["sql_mode"], "strict_trans_tables, no_zero_date", "STRICT_TRANS_TABLES|NO_ZERO_DATE",
                   "f") == "STRICT_TRANS_TABLES,NO_ZERO_DATE"
    for spec, value, span in (("max_connections", "5", "10-100000"), ("max_connections", "1.5", "1-100"),
                              ("max_connections", "many", "1-100"), ("tx_isolation", "SNAPSHOT", "READ-COMMITTED"),
                              ("sql_mode", "NO_SUCH_MODE", "STRICT_TRANS_TABLES"), ("time_zone", "+08:00'; --", "")):
        with pytest.raises(InvalidParameter):
            literal(BY_KEY[spec], value, span, "params[0].target_value")


def test_normalise_bool_spellings() -> None:
    spec = BY_KEY["explicit_defaults_for_timestamp"]
    assert normalise(spec, "1") == normalise(spec, "ON") == normalise(spec, "true")
    assert normalise(BY_KEY["sql_mode"], "B,A") == frozenset({"A", "B"})
