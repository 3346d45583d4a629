"""Pure parts of the comparison (no servers): SQL builders, throttle, object pairing, scope of a task."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendrs.compare.api import scope_for_job
from opendrs.compare.catalog import dialect_for
from opendrs.compare.dialect import PH, ByteBudget, bind, bound_args, keys_in, range_where
from opendrs.compare.model import ColumnInfo
from opendrs.compare.mysql import MySQLCompareDialect
from opendrs.compare.objects import ObjectItem, pair_items
from opendrs.compare.postgres import PostgresCompareDialect
from opendrs.crypto import SecretBox
from opendrs.errors import InvalidParameter
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.jobs.states import JobStatus
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

A = ColumnInfo("a", "int", "int(11)")
B = ColumnInfo("b", "varchar", "varchar(10)")


def test_composite_key_ranges_expand_to_index_friendly_or_form() -> None:
    d = MySQLCompareDialect()
    where, args = range_where(d, (A, B), (1, "x"), (5, "y"), "b LIKE 'k%'")
    assert bind(where) == (" WHERE ((`a` > %s) OR (`a` = %s AND `b` > %s)) AND ((`a` < %s) OR (`a` = %s AND "
                           "`b` <= %s)) AND (b LIKE 'k%%')")
    assert args == [1, 1, "x", 5, 5, "y"]
    assert bound_args((1, "x", 2)) == [1, 1, "x", 1, "x", 2]
    assert range_where(d, (A,), None, None, None) == ("", [])
    assert bind(keys_in(d, (A,), 3)) == "`a` IN (%s, %s, %s)"
    assert bind(keys_in(d, (A, B), 2)) == "((`a` = %s AND `b` = %s) OR (`a` = %s AND `b` = %s))"


def test_postgres_binds_keys_with_the_declared_type() -> None:
    d = PostgresCompareDialect()
    key = ColumnInfo("id", "numeric", "numeric(10,2)")
    where, _ = range_where(d, (key,), ("1.50",), None, None)
    assert bind(where) == ' WHERE (("id" > %s::numeric(10,2)))'
    assert d.literal(key, "it's") == "'it''s'::numeric(10,2)"
    assert d.placeholder(key).startswith(PH)


def test_mysql_literals_keep_big_integers_exact_and_binary_as_hex() -> None:
    d = MySQLCompareDialect()
    assert d.literal(ColumnInfo("n", "bigint", "bigint(20) unsigned"), "18446744073709551615") == \
        "18446744073709551615"
    assert d.literal(ColumnInfo("s", "varchar", "varchar(5)"), "a'b\\") == "'a\\'b\\\\'"
    assert d.literal(ColumnInfo("r", "varbinary", "varbinary(4)"), "ABC") == "X'0ABC'"
    assert d.literal(A, None) == "NULL"


def test_byte_budget_sleeps_to_hold_the_rate() -> None:
    slept: list[float] = []
    budget = ByteBudget(1.0, sleep=slept.append)  # 1 MB/s
    budget.spend(2 * 1024 * 1024)
    assert slept and 1.9 < slept[0] <= 2.0
    free: list[float] = []
    ByteBudget(None, sleep=free.append).spend(10**9)
    assert free == []


def test_object_pairing_follows_renames_and_reports_each_side() -> None:
    sel = Selection(everything=False, databases={"s": None}, database_alias={"s": "t"},
                    table_alias={TableRef("s", "old"): "new"})
    src = [ObjectItem("TABLE", "s", "old", "old", "InnoDB"), ObjectItem("INDEX", "s", "old", "ix", "(a)"),
           ObjectItem("VIEW", "s", "v", "v", "select `s`.`old`.`a`"), ObjectItem("DB", "s", None, "s")]
    tgt = [ObjectItem("TABLE", "t", "new", "new", "InnoDB"), ObjectItem("INDEX", "t", "new", "ix", "(b)"),
           ObjectItem("VIEW", "t", "v", "v", "select `t`.`old`.`a`"), ObjectItem("DB", "t", None, "t"),
           ObjectItem("TRIGGER", "t", "new", "tr", "x")]
    got = {(o.object_type, o.status) for o in pair_items(MySQLCompareDialect(), sel, src, tgt)}
    assert got == {("TABLE", "consistent"), ("INDEX", "different"), ("VIEW", "consistent"), ("DB", "consistent"),
                   ("TRIGGER", "extra")}


def test_unknown_engine_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        dialect_for("redis")
    assert dialect_for("mysql-to-mysql").name == "mysql"
    assert dialect_for("postgresql").name == "postgresql"


def test_scope_for_job_reads_endpoints_selection_filters_and_speed(tmp_path: Path) -> None:
    box = SecretBox.from_data_dir(tmp_path)
    svc = Services(settings=None, store=None, box=box)  # type: ignore[arg-type]  # only the box is used
    config = {
        "source_endpoint": {"db_type": "mysql", "ip": "10.0.0.1", "db_port": "3306", "db_user": "u",
                            "db_password_sealed": box.seal("s3cret")},
        "target_endpoint": {"db_type": "mysql", "ip": "10.0.0.2", "db_port": "3307", "db_user": "v"},
        "object_selection": {"selected": True, "job": [
            {"object_type": "database", "id": "shop", "object_name": "shop", "select": "true",
             "object_alias_name": "shop2"}]},
        "data_transformation": {"filter_conditions": [
            {"transformation_info": {"transformation_type": "contentConditionalFilter", "value": "id > 5"},
             "data_transformation_object_infos": [{"db_name": "shop", "table_name": "orders"}]}]},
        "speed_limit": [{"begin": "00:00", "end": "23:59", "speed": "7", "is_utc": True}],
    }
    job = Job("j1", "p", "n", JobStatus.INCRE_TRANSFER_STARTED, "sync", "mysql-to-mysql", "up", "FULL_INCR_TRANS",
              "eip", config=config)
    scope = scope_for_job(svc, job)
    assert scope.engine_type == "mysql"
    assert (scope.source.host, scope.source.port, scope.source.password) == ("10.0.0.1", 3306, "s3cret")
    assert scope.target.port == 3307
    assert scope.selection.target(TableRef("shop", "orders")) == TableRef("shop2", "orders")
    assert scope.row_filters == {TableRef("shop", "orders"): "id > 5"}
    assert scope.limit_mb == 7.0
