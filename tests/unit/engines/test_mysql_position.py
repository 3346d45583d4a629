"""MySQLPosition and GTID helpers: round trips, migration, garbage rejected, ordering.

Why: the position is what a task resumes from after a crash; a document misread (or garbage
silently accepted) means resuming at the wrong place, i.e. lost or doubled changes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from opendrs.engines.mysql.position import (
    MariaDBGtid,
    MySQLPosition,
    format_mariadb_gtid_set,
    merge_mariadb_gtid,
    merge_mysql_gtid,
    normalize_gtid_set,
    parse_file_and_position,
    parse_mariadb_gtid_set,
    parse_mysql_gtid_set,
    split_file,
)

UUID_A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
UUID_B = "4e11fa47-71ca-11e1-9e33-c80aa9429562"


@pytest.mark.parametrize("pos", [
    MySQLPosition("mysql-bin.000277", 805),
    MySQLPosition("mysql-bin.000001", 4, "0-1-42"),
    MySQLPosition("host-name_bin.1000000", 2**40, "0-1-42,1-2-7,4294967295-4294967295-18446744073709551615"),
    MySQLPosition("binlog.000003", 123, f"{UUID_A}:1-5:7,{UUID_B}:3"),
])
def test_round_trip_through_json(pos: MySQLPosition) -> None:
    doc = json.loads(json.dumps(pos.to_dict()))
    assert doc["version"] == 1
    assert MySQLPosition.from_dict(doc) == pos


@pytest.mark.parametrize(("doc", "expected"), [
    ({"file": "mysql-bin.000002", "pos": 120}, MySQLPosition("mysql-bin.000002", 120)),
    ({"log_file": "mysql-bin.000002", "log_pos": 120, "gtid_set": "0-1-9"}, MySQLPosition("mysql-bin.000002", 120,
                                                                                          "0-1-9")),
    ({"file_and_position": "mysql-bin.000277:805"}, MySQLPosition("mysql-bin.000277", 805)),
    ({"version": 1, "file": "mysql-bin.000002", "pos": 120, "gtid_set": " 1-1-3 , 0-1-9 "},
     MySQLPosition("mysql-bin.000002", 120, "0-1-9,1-1-3")),
])
def test_older_and_sloppy_documents_are_migrated(doc: dict[str, Any], expected: MySQLPosition) -> None:
    assert MySQLPosition.from_dict(doc) == expected


@pytest.mark.parametrize(("doc", "complaint"), [
    ({"version": 2, "file": "mysql-bin.000001", "pos": 4}, "newer OpenDRS"),
    ({"version": "1", "file": "mysql-bin.000001", "pos": 4}, "version"),
    ({"version": -1, "file": "mysql-bin.000001", "pos": 4}, "version"),
    ({"version": 1, "pos": 4}, "file name"),
    ({"version": 1, "file": "", "pos": 4}, "binlog file name"),
    ({"version": 1, "file": "../etc/passwd.1", "pos": 4}, "binlog file name"),
    ({"version": 1, "file": "mysql-bin", "pos": 4}, "binlog file name"),
    ({"version": 1, "file": 7, "pos": 4}, "file name"),
    ({"version": 1, "file": "mysql-bin.000001"}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 3}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": -5}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": "805"}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": True}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 2**64}, "offset"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": 5}, "gtid_set"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": "0-1"}, "MariaDB GTID"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": "0-1-2,0-1-3"}, "twice"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": "nonsense:1-2"}, "MySQL GTID"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": f"{UUID_A}:5-2"}, "interval"),
    ({"version": 1, "file": "mysql-bin.000001", "pos": 4, "gtid_set": "0-1-99999999999999999999"}, "range"),
])
def test_garbage_documents_are_rejected(doc: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        MySQLPosition.from_dict(doc)


@pytest.mark.parametrize("doc", [None, [], "mysql-bin.000001:4", 5])
def test_non_objects_are_rejected(doc: Any) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        MySQLPosition.from_dict(doc)


def test_ordering_uses_the_file_sequence_number_then_the_offset() -> None:
    a = MySQLPosition("mysql-bin.000009", 900)
    b = MySQLPosition("mysql-bin.000010", 4)  # lexically "000010" > "000009" anyway
    c = MySQLPosition("mysql-bin.999999", 4)
    d = MySQLPosition("mysql-bin.1000000", 4)  # after 999999 the name grows a digit
    assert a < b < c < d
    assert d > c >= MySQLPosition("mysql-bin.999999", 4, "0-1-1") and a <= a
    assert sorted([d, b, c, a]) == [a, b, c, d]
    assert MySQLPosition("mysql-bin.000010", 5) > b
    with pytest.raises(ValueError, match="different binlogs"):
        _ = a < MySQLPosition("other-bin.000010", 4)
    with pytest.raises(TypeError):
        _ = a < ("mysql-bin.000010", 4)


def test_split_file() -> None:
    assert split_file("mysql-bin.000277") == ("mysql-bin", 277)
    assert split_file("my.host.bin.000003") == ("my.host.bin", 3)
    with pytest.raises(ValueError, match="binlog file name"):
        split_file("mysql-bin.")


def test_parse_file_and_position() -> None:
    assert parse_file_and_position("mysql-bin.000277:805") == ("mysql-bin.000277", 805)
    assert parse_file_and_position("  mysql-bin.000277:805 ") == ("mysql-bin.000277", 805)
    for bad in ["mysql-bin.000277", "mysql-bin.000277:", "mysql-bin.000277:-1", "mysql-bin.000277:0x10",
                ":805", "mysql-bin.000277:2", "mysql-bin:805", 805]:
        with pytest.raises(ValueError, match="file_and_position|binlog|offset"):
            parse_file_and_position(bad)  # type: ignore[arg-type]


def test_mariadb_gtid_sets() -> None:
    assert MariaDBGtid.parse("0-1-42") == MariaDBGtid(0, 1, 42)
    assert str(MariaDBGtid(3, 100, 7)) == "3-100-7"
    assert parse_mariadb_gtid_set("") == {}
    assert parse_mariadb_gtid_set("1-2-7,0-1-42") == {0: MariaDBGtid(0, 1, 42), 1: MariaDBGtid(1, 2, 7)}
    assert format_mariadb_gtid_set([MariaDBGtid(1, 2, 7), MariaDBGtid(0, 1, 42)]) == "0-1-42,1-2-7"
    # After a transaction: that domain's entry replaced (even by another server), others kept.
    assert merge_mariadb_gtid("0-1-42", "0-1-43") == "0-1-43"
    assert merge_mariadb_gtid("0-1-42,1-2-7", "1-3-8") == "0-1-42,1-3-8"
    assert merge_mariadb_gtid("0-1-42,1-2-7", "0-1-43") == "0-1-43,1-2-7"
    assert merge_mariadb_gtid("1-2-7", "0-1-1") == "0-1-1,1-2-7"
    assert merge_mariadb_gtid("10-1-5", "1-1-6") == "1-1-6,10-1-5"
    assert merge_mariadb_gtid("", "0-1-1") == "0-1-1"
    with pytest.raises(ValueError, match="MariaDB GTID"):
        merge_mariadb_gtid("0-1-42,1-2-7", "garbage")


def test_mysql_gtid_sets() -> None:
    assert parse_mysql_gtid_set(f"{UUID_A.upper()}:1-3:5,\n{UUID_A}:4") == {UUID_A: [(1, 5)]}
    assert merge_mysql_gtid(f"{UUID_A}:1-5", f"{UUID_A}:6") == f"{UUID_A}:1-6"
    assert merge_mysql_gtid(f"{UUID_A}:1-5", f"{UUID_A}:8") == f"{UUID_A}:1-5:8"
    assert merge_mysql_gtid(f"{UUID_B}:1", f"{UUID_A}:3") == f"{UUID_A}:3,{UUID_B}:1"
    assert merge_mysql_gtid("", f"{UUID_A}:1") == f"{UUID_A}:1"
    with pytest.raises(ValueError, match="MySQL GTID"):
        merge_mysql_gtid("", "0-1-2")


def test_normalize_gtid_set() -> None:
    assert normalize_gtid_set("") == ""
    assert normalize_gtid_set("  ") == ""
    assert normalize_gtid_set("2-1-5, 0-1-3") == "0-1-3,2-1-5"
    assert normalize_gtid_set(f"{UUID_B}:1-2, {UUID_A}:3") == f"{UUID_A}:3,{UUID_B}:1-2"


def test_str_for_messages() -> None:
    assert str(MySQLPosition("mysql-bin.000002", 120)) == "mysql-bin.000002:120"
    assert str(MySQLPosition("mysql-bin.000002", 120, "0-1-9")) == "mysql-bin.000002:120 (gtid 0-1-9)"
