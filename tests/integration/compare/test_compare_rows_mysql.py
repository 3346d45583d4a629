"""Row comparison on two real MariaDB servers: exact differences, normalisation, settle, stop, repair."""

from __future__ import annotations

import threading
import time

import pytest
from cmp_helpers import by_table, describe, diff_set, fresh_mysql_db, mysql_both, mysql_run, mysql_scope

from harness import MariaDBServer
from opendrs.compare.api import STOPPED_MESSAGE, compare_tables, list_tables, repair, repair_statements
from opendrs.compare.model import CONSISTENT, FAILED, INCONSISTENT
from opendrs.pipeline.model import TableRef

DB = "cmp_rows"
WIDE = (
    "CREATE TABLE `{db}`.wide (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(40) NULL, note TEXT NULL, "
    "price DECIMAL(12,2) NULL, ratio DOUBLE NULL, f FLOAT NULL, born DATETIME(6) NULL, ts TIMESTAMP(3) NULL, "
    "t TIME(2) NULL, d DATE NULL, raw VARBINARY(16) NULL, flags BIT(5) NULL, kind ENUM('a','b') NULL, "
    "js JSON NULL) ENGINE=InnoDB"
)
COMPOSITE = "CREATE TABLE `{db}`.comp (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT NULL, PRIMARY KEY (a, b))"
KEYLESS = "CREATE TABLE `{db}`.heap (x INT NULL, y VARCHAR(10) NULL)"


def _load(source: MariaDBServer, target: MariaDBServer, db: str = DB, rows: int = 600) -> None:
    fresh_mysql_db(source, target, db)
    stmts = [WIDE.format(db=db), COMPOSITE.format(db=db), KEYLESS.format(db=db)]
    values = []
    for i in range(1, rows + 1):
        values.append(
            f"({i}, 'name{i}', {'NULL' if i % 7 == 0 else repr('note ' * (i % 5))}, {i}.25, {i / 3!r}, {i / 7!r}, "
            f"'2020-01-01 10:00:{i % 60:02d}.{i:06d}', '2021-03-04 05:06:07.{i % 1000:03d}', '{i % 800}:00:01.5', "
            f"'2022-02-{1 + i % 28:02d}', UNHEX('{i:08x}'), b'{i % 32:05b}', '{'ab'[i % 2]}', '{{\"k\": {i}}}')"
        )
    stmts.append(f"INSERT INTO `{db}`.wide VALUES " + ", ".join(values))
    stmts.append(f"INSERT INTO `{db}`.comp VALUES " + ", ".join(f"({i % 50}, 'k{i}', {i})" for i in range(200)))
    stmts.append(f"INSERT INTO `{db}`.heap VALUES (1, 'a'), (1, 'a'), (1, 'a'), (2, NULL), (3, ''), (NULL, NULL)")
    stmts.append(f"ANALYZE TABLE `{db}`.wide, `{db}`.comp, `{db}`.heap")  # row estimates size the chunks
    mysql_both(source, target, *stmts)


def test_identical_tables_compare_consistent(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target)
    scope = mysql_scope(mariadb_server, mariadb_target, {DB: None}, chunk_rows=100)
    assert sorted(t.name for t, _ in list_tables(scope)) == ["comp", "heap", "wide"]
    for kind in ("lines", "contents"):
        results = by_table(compare_tables(scope, kind, settle_seconds=0))
        assert set(results) == {"comp", "heap", "wide"}
        for r in results.values():
            assert (r.status, r.diff_count, r.diffs) == (CONSISTENT, 0, []), (kind, r)
        assert (results["wide"].source_rows, results["wide"].target_rows) == (600, 600)
        assert results["heap"].source_rows == 6
    wide = by_table(compare_tables(scope, "contents", settle_seconds=0))["wide"]
    # 600 rows in chunks of ~100 (edges computed from the integer key and the row estimate), plus the open
    # range after the last source key (where extra target rows would be)
    assert wide.chunks_total == wide.chunks_done >= 6
    assert wide.bytes_read > 0


def test_corrupted_target_reports_exactly_those_rows(mariadb_server: MariaDBServer,
                                                     mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target)
    mysql_run(
        mariadb_target,
        f"DELETE FROM `{DB}`.wide WHERE id IN (5, 321)",
        f"INSERT INTO `{DB}`.wide (id, name) VALUES (100000, 'intruder')",
        f"UPDATE `{DB}`.wide SET name = 'changed' WHERE id = 77",
        f"UPDATE `{DB}`.wide SET note = '' WHERE id = 14",  # NULL on the source, '' on the target
        f"UPDATE `{DB}`.wide SET born = '2020-01-01 10:00:01.000002' WHERE id = 1",  # 1 microsecond off
        f"UPDATE `{DB}`.wide SET ratio = ratio * 1.0000001 WHERE id = 450",
        f"UPDATE `{DB}`.wide SET raw = UNHEX('00') WHERE id = 599",
        f"DELETE FROM `{DB}`.comp WHERE a = 3 AND b = 'k103'",
        f"UPDATE `{DB}`.comp SET v = NULL WHERE a = 4 AND b = 'k4'",
        f"DELETE FROM `{DB}`.heap WHERE x = 1 LIMIT 1",
        f"INSERT INTO `{DB}`.heap VALUES (NULL, ''), (2, NULL)",
    )
    scope = mysql_scope(mariadb_server, mariadb_target, {DB: None}, chunk_rows=64)
    results = by_table(compare_tables(scope, "contents", settle_seconds=0))
    wide = results["wide"]
    assert diff_set(wide) == {
        ("missing", ("5",)), ("missing", ("321",)), ("extra", ("100000",)), ("changed", ("77",)),
        ("changed", ("14",)), ("changed", ("1",)), ("changed", ("450",)), ("changed", ("599",)),
    }, describe(wide.diffs)
    assert (wide.status, wide.diff_count, wide.source_rows, wide.target_rows) == (INCONSISTENT, 8, 600, 599)
    null_vs_empty = next(d for d in wide.diffs if d.key == ("14",))
    assert null_vs_empty.source_row is not None and null_vs_empty.target_row is not None
    assert (null_vs_empty.source_row["note"], null_vs_empty.target_row["note"]) == (None, "")
    micro = next(d for d in wide.diffs if d.key == ("1",))
    assert micro.source_row is not None and micro.source_row["born"] == "2020-01-01 10:00:01.000001"
    assert "`cmp_rows`.`wide`" in micro.select_sql and "`id` = 1" in micro.select_sql
    assert diff_set(results["comp"]) == {("missing", ("3", "k103")), ("changed", ("4", "k4"))}
    assert results["comp"].diffs[0].key_columns == ("a", "b")
    heap = results["heap"]
    assert heap.diff_count == 3
    assert sorted(((d.kind, d.key) for d in heap.diffs), key=repr) == [
        ("extra", ("2", None)), ("extra", (None, "")), ("missing", ("1", "a"))]
    assert all(d.key_columns == () for d in heap.diffs)
    capped = by_table(compare_tables(scope, "contents", settle_seconds=0, max_diffs=3))["wide"]
    assert (capped.diff_count, len(capped.diffs)) == (8, 3)  # the true total, a bounded sample
    lines = by_table(compare_tables(scope, "lines", settle_seconds=0))
    assert (lines["wide"].status, lines["wide"].diff_count) == (INCONSISTENT, 1)
    assert (lines["comp"].status, lines["heap"].status) == (INCONSISTENT, INCONSISTENT)


def test_equal_data_in_other_column_types_is_consistent(mariadb_server: MariaDBServer,
                                                        mariadb_target: MariaDBServer) -> None:
    """Temporal precision, -0.0 and charsets: normalisation makes equal data compare equal."""
    db = "cmp_norm"
    fresh_mysql_db(mariadb_server, mariadb_target, db)
    mysql_run(mariadb_server, f"CREATE TABLE `{db}`.n (id INT PRIMARY KEY, at DATETIME, d DOUBLE, s VARCHAR(10) "
              "CHARACTER SET latin1)",
              f"INSERT INTO `{db}`.n VALUES (1, '2020-01-01 00:00:00', -0.0, 'café'), (2, NULL, 1e300, '')")
    mysql_run(mariadb_target, f"CREATE TABLE `{db}`.n (id INT PRIMARY KEY, at DATETIME(6), d DOUBLE, s VARCHAR(10) "
              "CHARACTER SET utf8mb4)",
              f"INSERT INTO `{db}`.n VALUES (1, '2020-01-01 00:00:00.000000', 0.0, 'café'), (2, NULL, 1e300, '')")
    scope = mysql_scope(mariadb_server, mariadb_target, {db: None})
    (r,) = compare_tables(scope, "contents", settle_seconds=0)
    assert (r.status, r.diff_count) == (CONSISTENT, 0), describe(r.diffs)
    mysql_run(mariadb_target, f"UPDATE `{db}`.n SET s = 'cafe' WHERE id = 1")
    (r,) = compare_tables(scope, "contents", settle_seconds=0)
    assert diff_set(r) == {("changed", ("1",))}


def test_row_filters_and_renamed_database_and_table(mariadb_server: MariaDBServer,
                                                    mariadb_target: MariaDBServer) -> None:
    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_src", "cmp_dst")
    mysql_run(mariadb_server, "CREATE TABLE cmp_src.orders (id INT PRIMARY KEY, amount INT, tag VARCHAR(8))",
              "INSERT INTO cmp_src.orders VALUES " + ", ".join(f"({i}, {i * 10}, 'x%{i}')" for i in range(1, 201)))
    mysql_run(mariadb_target, "CREATE TABLE cmp_dst.orders_copy (id INT PRIMARY KEY, amount INT, tag VARCHAR(8))",
              "INSERT INTO cmp_dst.orders_copy VALUES " + ", ".join(
                  f"({i}, {i * 10}, 'x%{i}')" for i in range(1, 201) if i > 100))
    ref = TableRef("cmp_src", "orders")
    # The target only received rows with id > 100 (the task's filter); a LIKE with % must pass through.
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_src": None}, db_alias={"cmp_src": "cmp_dst"},
                        table_alias={ref: "orders_copy"}, filters={ref: "id > 100 AND tag LIKE 'x%'"},
                        chunk_rows=30)
    assert list_tables(scope) == [(ref, TableRef("cmp_dst", "orders_copy"))]
    (r,) = compare_tables(scope, "contents", settle_seconds=0)
    assert (r.status, r.source_rows, r.target_rows, r.target) == (CONSISTENT, 100, 100, TableRef("cmp_dst",
                                                                                                 "orders_copy"))
    mysql_run(mariadb_target, "UPDATE cmp_dst.orders_copy SET amount = 0 WHERE id IN (150, 151)",
              "INSERT INTO cmp_dst.orders_copy VALUES (5, 50, 'x%5')")  # outside the filter? no: id 5 <= 100
    (r,) = compare_tables(scope, "contents", settle_seconds=0)
    assert diff_set(r) == {("changed", ("150",)), ("changed", ("151",))}
    assert "`cmp_dst`.`orders_copy`" in r.diffs[0].target_select_sql
    (r,) = compare_tables(scope, "lines", settle_seconds=0)
    assert (r.status, r.source_rows, r.target_rows) == (CONSISTENT, 100, 100)


def test_missing_target_table_is_reported(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_missing")
    mysql_run(mariadb_server, "CREATE TABLE cmp_missing.t (id INT PRIMARY KEY)", "INSERT INTO cmp_missing.t VALUES (1)")
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_missing": None})
    (r,) = compare_tables(scope, "contents", settle_seconds=0)
    assert (r.status, r.missing, r.source_rows) == (INCONSISTENT, "target", 1)


def test_live_changes_that_the_target_catches_up_are_not_reported(mariadb_server: MariaDBServer,
                                                                  mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target, "cmp_live", rows=300)
    change = ("UPDATE cmp_live.wide SET name = 'moved' WHERE id = 10",
              "INSERT INTO cmp_live.wide (id, name) VALUES (9999, 'new')",
              "DELETE FROM cmp_live.comp WHERE a = 1 AND b = 'k1'")
    mysql_run(mariadb_server, *change)
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_live": {"wide", "comp"}}, chunk_rows=50)
    # Without a settle window the lag is reported: the check can fail.
    assert sum(r.diff_count for r in compare_tables(scope, "contents", settle_seconds=0)) == 3
    # The "replication" applies the same change to the target 2 s after the comparison starts.
    applier = threading.Timer(2.0, mysql_run, args=(mariadb_target, *change))
    applier.start()
    reports: list[tuple[str, str, int, bool]] = []
    try:
        results = compare_tables(scope, "contents", settle_seconds=20,
                                 progress=lambda r: reports.append((r.source.name, r.status, r.diff_count, r.final)))
    finally:
        applier.join()
    assert [(r.status, r.diff_count, r.final) for r in results] == [(CONSISTENT, 0, True), (CONSISTENT, 0, True)]
    # Differences seen before the target caught up were reported as provisional, never as final.
    assert any(not final and n for _, _, n, final in reports)
    assert [(name, status, final) for name, status, _, final in reports if final] == [
        ("comp", CONSISTENT, True), ("wide", CONSISTENT, True)]
    # Row counts converge the same way.
    more = ("INSERT INTO cmp_live.comp VALUES (77, 'late', 1)",)
    mysql_run(mariadb_server, *more)
    applier = threading.Timer(2.0, mysql_run, args=(mariadb_target, *more))
    applier.start()
    try:
        results = compare_tables(scope, "lines", settle_seconds=20)
    finally:
        applier.join()
    assert [(r.source.name, r.status, r.source_rows, r.target_rows) for r in results] == [
        ("comp", CONSISTENT, 200, 200), ("wide", CONSISTENT, 301, 301)]


def test_repair_dry_run_then_apply_makes_the_next_comparison_clean(mariadb_server: MariaDBServer,
                                                                   mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target, "cmp_fix", rows=300)
    mysql_run(
        mariadb_target,
        "DELETE FROM cmp_fix.wide WHERE id IN (2, 200)",
        "INSERT INTO cmp_fix.wide (id, name, note) VALUES (5000, 'x', 'it''s')",
        "UPDATE cmp_fix.wide SET note = NULL, raw = UNHEX('FF'), flags = b'0', born = NULL, t = '-01:00:00' "
        "WHERE id = 3",
        "UPDATE cmp_fix.wide SET ratio = -0.5, js = '[]', ts = '1999-01-01 00:00:00' WHERE id = 4",
        "UPDATE cmp_fix.comp SET v = -1 WHERE a = 0 AND b = 'k0'",
        "DELETE FROM cmp_fix.heap WHERE x = 3",
        "INSERT INTO cmp_fix.heap VALUES (1, 'a')",
    )
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_fix": None}, chunk_rows=64)
    results = compare_tables(scope, "contents", settle_seconds=0)
    assert sum(r.diff_count for r in results) == 8, [describe(r.diffs) for r in results]
    planned = repair_statements(scope, results)
    assert repair(scope, results, dry_run=True) == planned
    assert any(s.startswith("DELETE FROM `cmp_fix`.`wide` WHERE `id` = 5000") for s in planned)
    assert any(s.startswith("INSERT INTO `cmp_fix`.`wide`") for s in planned)
    assert any(s.startswith("UPDATE `cmp_fix`.`wide` SET") and s.endswith("WHERE `id` = 3") for s in planned)
    assert any(s.startswith("DELETE FROM `cmp_fix`.`heap` WHERE") and s.endswith("LIMIT 1") for s in planned)
    # a dry run changes nothing
    assert sum(r.diff_count for r in compare_tables(scope, "contents", settle_seconds=0)) == 8
    assert repair(scope, results, dry_run=False) == planned
    after = compare_tables(scope, "contents", settle_seconds=0)
    assert [(r.source.name, r.status, r.diff_count) for r in after] == [
        ("comp", CONSISTENT, 0), ("heap", CONSISTENT, 0), ("wide", CONSISTENT, 0)], [describe(r.diffs) for r in after]


def test_stop_is_honoured_between_chunks(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target, "cmp_stop", rows=600)
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_stop": {"wide", "comp"}}, chunk_rows=50)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def progress(r: object) -> None:
        name, done = r.source.name, r.chunks_done  # type: ignore[attr-defined]
        seen.append((name, done))
        if done >= 2:
            stop.set()

    results = compare_tables(scope, "contents", progress=progress, stop=stop.is_set, settle_seconds=0)
    assert [r.source.name for r in results] == ["comp"]  # "wide" never started
    (r,) = results
    assert (r.status, r.message) == (FAILED, STOPPED_MESSAGE)
    assert max(done for _, done in seen) == 2


def test_throttle_slows_the_comparison(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> None:
    _load(mariadb_server, mariadb_target, "cmp_slow", rows=600)
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_slow": {"wide"}}, chunk_rows=100)
    (fast,) = compare_tables(scope, "contents", settle_seconds=0)
    limit_mb = fast.bytes_read / (1024 * 1024) / 1.5  # the read volume takes >= 1.5 s at this cap
    started = time.monotonic()
    slow_scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_slow": {"wide"}}, chunk_rows=100,
                             limit_mb=limit_mb)
    (slow,) = compare_tables(slow_scope, "contents", settle_seconds=0)
    elapsed = time.monotonic() - started
    assert slow.status == CONSISTENT
    due = slow.bytes_read / (limit_mb * 1024 * 1024)  # what the cap allows for what was read
    assert due >= 1.0
    assert elapsed >= 0.95 * due


@pytest.mark.parametrize("kind", ["lines", "contents"])
def test_unreachable_target_fails_with_the_side(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer,
                                                kind: str) -> None:
    import dataclasses

    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_down")
    mysql_run(mariadb_server, "CREATE TABLE cmp_down.t (id INT PRIMARY KEY)")
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_down": None})
    bad = dataclasses.replace(scope, target=dataclasses.replace(scope.target, password="wrong"))
    (r,) = compare_tables(bad, kind, settle_seconds=0)
    assert (r.status, r.failed_side) == (FAILED, "target")
    assert "wrong" not in r.message


def test_sparse_and_text_keys_find_rows_outside_the_source_key_range(mariadb_server: MariaDBServer,
                                                                     mariadb_target: MariaDBServer) -> None:
    db = "cmp_keys"
    fresh_mysql_db(mariadb_server, mariadb_target, db)
    mysql_both(mariadb_server, mariadb_target,
               f"CREATE TABLE `{db}`.sparse (id BIGINT PRIMARY KEY, v INT)",
               f"INSERT INTO `{db}`.sparse VALUES " + ", ".join(f"({i * 10**12 + 7}, {i})" for i in range(1, 301)),
               f"CREATE TABLE `{db}`.words (w VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)",
               f"INSERT INTO `{db}`.words VALUES " + ", ".join(f"('w{i:04d}', {i})" for i in range(300)))
    mysql_run(mariadb_target,
              f"INSERT INTO `{db}`.sparse VALUES (-5, 0), (9223372036854775807, 0)",  # below / above the source's keys
              f"UPDATE `{db}`.sparse SET v = -1 WHERE id = {150 * 10**12 + 7}",
              f"INSERT INTO `{db}`.words VALUES ('a', 0), ('zzz', 0)",
              f"UPDATE `{db}`.words SET w = 'W0100' WHERE w = 'w0100'")  # same key to the collation, other bytes
    scope = mysql_scope(mariadb_server, mariadb_target, {db: None}, chunk_rows=40)
    results = by_table(compare_tables(scope, "contents", settle_seconds=0))
    assert diff_set(results["sparse"]) == {("extra", ("-5",)), ("extra", ("9223372036854775807",)),
                                           ("changed", (str(150 * 10**12 + 7),))}, describe(results["sparse"].diffs)
    assert diff_set(results["words"]) == {("extra", ("a",)), ("extra", ("zzz",)), ("missing", ("w0100",)),
                                          ("extra", ("W0100",))}, describe(results["words"].diffs)
