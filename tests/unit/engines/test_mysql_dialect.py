"""Pure SQL text of the MySQL dialect: quoting, key ranges, write statements, DDL rewriting."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from pymysql.constants import FIELD_TYPE

from opendrs.engines.mysql import dialect as d
from opendrs.engines.mysql.connection import decoders
from opendrs.pipeline.model import Column, KeyRange, TableRef, TableSchema


def table(key: tuple[str, ...] = ("a", "b")) -> TableSchema:
    cols = [
        Column("a", "int", "int(11)", nullable=False),
        Column("b", "varchar", "varchar(10)", nullable=False, charset="utf8mb4"),
        Column("f", "float", "float"),
        Column("e", "enum", "enum('x','y')"),
        Column("g", "int", "int(11)", generated=True),
    ]
    return TableSchema(TableRef("db", "t"), cols, key=key)


# --- quoting --------------------------------------------------------------------------------
def test_quote_ident_doubles_backquotes() -> None:
    assert d.quote_ident("a`b") == "`a``b`"
    assert d.qualified(TableRef("d`b", "t")) == "`d``b`.`t`"


def test_param_safe_identifiers_double_percent() -> None:
    assert d.quote_param_ident("50%") == "`50%%`"
    assert d.qualified(TableRef("p%", "t")) == "`p%`.`t`"  # for statements without parameters
    sql = d.replace_sql(TableRef("p%", "t%"), [Column("c%", "int", "int")])
    assert sql == "REPLACE INTO `p%%`.`t%%` (`c%%`) VALUES (%s)"
    assert sql % ("1",) == "REPLACE INTO `p%`.`t%` (`c%`) VALUES (1)"  # what PyMySQL does with args


# --- key ranges -----------------------------------------------------------------------------
def test_single_column_range_is_simple_comparisons() -> None:
    t = table(key=("a",))
    sql, params = d.key_range_predicate(t, KeyRange((5,), (9,)))
    assert sql == "(`a` > %s) AND (`a` <= %s)"
    assert params == [5, 9]


def test_composite_range_is_expanded_not_a_row_constructor() -> None:
    sql, params = d.key_range_predicate(table(), KeyRange((1, "x"), (3, "z")))
    assert "(`a`, `b`)" not in sql
    assert sql == (
        "(`a` >= %s AND ((`a` > %s) OR (`a` = %s AND `b` > %s)))"
        " AND (`a` <= %s AND ((`a` < %s) OR (`a` = %s AND `b` <= %s)))"
    )
    assert params == [1, 1, 1, "x", 3, 3, 3, "z"]


def test_three_column_lower_bound_terms() -> None:
    cols = [Column(n, "int", "int", nullable=False) for n in "abc"]
    t = TableSchema(TableRef("s", "t"), cols, key=("a", "b", "c"))
    sql, params = d.key_range_predicate(t, KeyRange((1, 2, 3), None))
    assert sql == "(`a` >= %s AND ((`a` > %s) OR (`a` = %s AND `b` > %s) OR (`a` = %s AND `b` = %s AND `c` > %s)))"
    assert params == [1, 1, 1, 2, 1, 2, 3]


def _eval(sql: str, params: list[object], row: dict[str, int]) -> bool:
    """Evaluate a generated predicate in Python (ints only) to check its semantics."""
    expr = sql.replace("`", "").replace(" AND ", " and ").replace(" OR ", " or ").replace(" = ", " == ")
    values = iter(params)
    out = []
    for part in expr.split("%s"):
        out.append(part)
        out.append(repr(next(values, None)))
    return bool(eval("".join(out[:-1]), {}, row))  # noqa: S307 - test-only, generated text


def test_expanded_predicate_equals_tuple_comparison() -> None:
    cols = [Column(n, "int", "int", nullable=False) for n in "abc"]
    t = TableSchema(TableRef("s", "t"), cols, key=("a", "b", "c"))
    lower, upper = (1, 2, 2), (2, 1, 0)
    sql, params = d.key_range_predicate(t, KeyRange(lower, upper))
    for a in range(4):
        for b in range(4):
            for c in range(4):
                expected = lower < (a, b, c) <= upper
                assert _eval(sql, params, {"a": a, "b": b, "c": c}) is expected, (a, b, c)


def test_unbounded_range_has_no_predicate_and_keyless_refuses_bounds() -> None:
    assert d.key_range_predicate(table(), KeyRange(None, None)) == ("", [])
    with pytest.raises(ValueError, match="no key"):
        d.key_range_predicate(table(key=()), KeyRange((1,), None))


def test_bound_arity_must_match_key() -> None:
    with pytest.raises(ValueError, match="does not match"):
        d.key_range_predicate(table(), KeyRange((1,), None))


def test_select_chunk_reads_every_column_float_exactly_in_key_order() -> None:
    sql, params = d.select_chunk_sql(table(), KeyRange(None, (4, "q")))
    assert sql.startswith("SELECT `a`, `b`, (`f` + 0E0), `e`, `g` FROM `db`.`t` WHERE ")
    assert sql.endswith(" ORDER BY `a`, `b`")
    assert params == [4, 4, 4, "q"]
    keyless, none = d.select_chunk_sql(table(key=()), KeyRange(None, None))
    assert keyless == "SELECT `a`, `b`, (`f` + 0E0), `e`, `g` FROM `db`.`t`" and none == []


def test_boundary_probe_reads_sort_order_values() -> None:
    cols = [Column("e", "enum", "enum('b','a')", nullable=False), Column("f", "float", "float", nullable=False),
            Column("x", "bit", "bit(8)", nullable=False)]
    t = TableSchema(TableRef("s", "t"), cols, key=("e", "f", "x"))
    sql, params = d.boundary_probe_sql(t, None, 1000)
    assert sql == "SELECT (`e` + 0), (`f` + 0E0), (`x` + 0) FROM `s`.`t` ORDER BY `e`, `f`, `x` LIMIT 1 OFFSET 999"
    assert params == []
    sql, params = d.boundary_probe_sql(t, (1, 0.5, 3), 10)
    assert " WHERE (`e` >= %s AND " in sql and sql.endswith("LIMIT 1 OFFSET 9")
    assert params[:2] == [1, 1]
    with pytest.raises(ValueError, match="at least 1"):
        d.boundary_probe_sql(t, None, 0)


# --- write statements -----------------------------------------------------------------------
def test_replace_and_insert_statements() -> None:
    t = table()
    target = TableRef("tdb", "t2")
    assert d.replace_sql(target, t.writable) == "REPLACE INTO `tdb`.`t2` (`a`, `b`, `f`, `e`) VALUES (%s, %s, %s, %s)"
    assert d.replace_prefix(target, t.writable[:1]) + d.values_placeholder(1) * 1 == (
        "REPLACE INTO `tdb`.`t2` (`a`) VALUES (%s)"
    )
    assert d.insert_sql(target, t.writable[:2]) == "INSERT INTO `tdb`.`t2` (`a`, `b`) VALUES (%s, %s)"


def test_replace_sql_is_batchable_by_pymysql_executemany() -> None:
    from pymysql.cursors import RE_INSERT_VALUES

    m = RE_INSERT_VALUES.match(d.replace_sql(TableRef("x", "y"), table().writable))
    assert m is not None and m.group(2) == "(%s, %s, %s, %s)"


def test_delete_statements() -> None:
    target = TableRef("tdb", "t")
    assert d.delete_by_key_sql(target, ["id"], 3) == "DELETE FROM `tdb`.`t` WHERE `id` IN (%s, %s, %s)"
    assert d.delete_by_key_sql(target, ["a", "b"], 2) == (
        "DELETE FROM `tdb`.`t` WHERE (`a`, `b`) IN ((%s, %s), (%s, %s))"
    )
    assert d.delete_by_row_sql(target, table().writable[:2]) == (
        "DELETE FROM `tdb`.`t` WHERE `a` <=> %s AND `b` <=> %s LIMIT 1"
    )
    with pytest.raises(ValueError, match="no key"):
        d.delete_by_key_sql(target, [])


# --- type facts -----------------------------------------------------------------------------
def test_type_facts() -> None:
    assert d.is_binary(Column("b", "bit", "bit(64)"))
    assert d.is_binary(Column("g", "point", "point"))
    assert d.is_binary(Column("v", "varbinary", "varbinary(3)"))
    assert not d.is_binary(Column("s", "varchar", "varchar(3)", charset="latin1"))
    assert d.is_temporal(Column("y", "year", "year(4)")) and not d.is_temporal(Column("i", "int", "int"))
    assert d.is_spatial(Column("g", "geometry", "geometry"))
    assert {"mysql", "sys", "information_schema", "performance_schema"} == set(d.SYSTEM_DATABASES)


def test_decoders_keep_invalid_temporal_values_as_text() -> None:
    conv = decoders()  # PyMySQL hands converters the ascii-decoded text of the value
    assert conv[FIELD_TYPE.DATETIME]("0000-00-00 00:00:00") == "0000-00-00 00:00:00"
    assert conv[FIELD_TYPE.DATE]("2020-02-30") == "2020-02-30"
    assert conv[FIELD_TYPE.DATE]("2020-02-03") == datetime.date(2020, 2, 3)
    assert conv[FIELD_TYPE.TIME]("-838:59:59.000001") == -datetime.timedelta(hours=838, minutes=59, seconds=59,
                                                                               microseconds=1)
    assert conv[FIELD_TYPE.TIMESTAMP]("2020-00-10 00:00:00.000000") == "2020-00-10 00:00:00.000000"
    tiny = "1.000000000000000000000000000001"
    assert conv[FIELD_TYPE.NEWDECIMAL](tiny) == Decimal(tiny)


# --- DDL rewriting --------------------------------------------------------------------------
def test_session_header_round_trips() -> None:
    ddl = "CREATE DEFINER=`u`@`%` PROCEDURE `p`()\nBEGIN SELECT 1; END"
    wrapped = d.with_session(ddl, {"sql_mode": "STRICT_TRANS_TABLES", "time_zone": "+01:00"})
    assert wrapped.startswith("/*opendrs-session ") and wrapped.endswith(ddl)
    assert d.split_session(wrapped) == ({"sql_mode": "STRICT_TRANS_TABLES", "time_zone": "+01:00"}, ddl)
    assert d.split_session(ddl) == ({}, ddl)
    assert d.with_session(ddl, {}) == ddl


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        ("CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 'DEFINER=`x`@`y`'",
         "CREATE DEFINER=CURRENT_USER PROCEDURE `p`() SELECT 'DEFINER=`x`@`y`'"),
        ("CREATE ALGORITHM=UNDEFINED DEFINER=`a``b`@`%` SQL SECURITY DEFINER VIEW `d`.`v` AS select 1",
         "CREATE ALGORITHM=UNDEFINED DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW `d`.`v` AS select 1"),
        ("CREATE DEFINER='app'@'10.0.0.%' TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1",
         "CREATE DEFINER=CURRENT_USER TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1"),
        ('CREATE DEFINER="app"@"%" PROCEDURE "fill"(IN n INT) BEGIN END',  # shown under ANSI_QUOTES
         'CREATE DEFINER=CURRENT_USER PROCEDURE "fill"(IN n INT) BEGIN END'),
        ("CREATE DEFINER=`role_only` EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1",
         "CREATE DEFINER=CURRENT_USER EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1"),
        ("CREATE FUNCTION f() RETURNS INT RETURN 1", "CREATE FUNCTION f() RETURNS INT RETURN 1"),
    ],
)
def test_replace_definer(ddl: str, expected: str) -> None:
    assert d.replace_definer(ddl) == expected


def test_replace_definer_with_named_user() -> None:
    out = d.replace_definer("CREATE DEFINER=`root`@`%` FUNCTION `f`() RETURNS int RETURN 1", "`drs`@`%`")
    assert out == "CREATE DEFINER=`drs`@`%` FUNCTION `f`() RETURNS int RETURN 1"


def test_canonical_view_qualifies_bare_and_keeps_qualified_names() -> None:
    mysql = "CREATE ALGORITHM=UNDEFINED DEFINER=`r`@`%` SQL SECURITY DEFINER VIEW `v` AS select `d`.`t`.`a` AS `a`"
    maria = "CREATE ALGORITHM=UNDEFINED DEFINER=`r`@`%` SQL SECURITY DEFINER VIEW `d`.`v` AS select 1 AS `1`"
    assert " VIEW `d`.`v` AS select `d`.`t`.`a` AS `a`" in d.canonical_view(mysql, "d", "v")
    assert d.canonical_view(maria, "d", "v") == maria


def test_canonical_trigger_rebuilds_the_header_only() -> None:
    ddl = "CREATE DEFINER=`trigger`@`h` TRIGGER x.trg before insert ON g FOR EACH ROW SET NEW.a = 'FOR EACH ROW'"
    out = d.canonical_trigger(ddl, TableRef("x", "trg"), TableRef("x", "g"), "BEFORE", "INSERT")
    assert out == ("CREATE DEFINER=`trigger`@`h` TRIGGER `x`.`trg` BEFORE INSERT ON `x`.`g` FOR EACH ROW "
                   "SET NEW.a = 'FOR EACH ROW'")


def test_canonical_trigger_handles_or_replace_and_if_not_exists() -> None:
    ddl = 'CREATE OR REPLACE DEFINER="a"@"%" TRIGGER IF NOT EXISTS "t" AFTER DELETE ON "x" FOR EACH ROW DELETE FROM y'
    out = d.canonical_trigger(ddl, TableRef("s", "t"), TableRef("s", "x"), "after", "delete")
    assert out == ('CREATE OR REPLACE DEFINER="a"@"%" TRIGGER `s`.`t` AFTER DELETE ON `s`.`x` FOR EACH ROW '
                   "DELETE FROM y")


def test_rename_references_maps_tables_and_databases_but_not_strings_or_comments() -> None:
    ddl = ("CREATE VIEW `src`.`v` AS select `src`.`t`.`a` AS `a`, '`src`.`t`' AS `s` "
           "from (`src`.`t` join `other`.`u`) /* `src`.`t` */")
    out = d.rename_references(ddl, {TableRef("src", "t"): TableRef("dst", "t2")}, {"src": "dst"})
    assert out == ("CREATE VIEW `dst`.`v` AS select `dst`.`t2`.`a` AS `a`, '`src`.`t`' AS `s` "
                   "from (`dst`.`t2` join `other`.`u`) /* `src`.`t` */")
    assert d.qualified_references(ddl) == {TableRef("src", "v"), TableRef("src", "t"), TableRef("other", "u")}


def test_rename_table_ddl_changes_names_only() -> None:
    ddl = (
        "CREATE TABLE `child` (\n  `id` int(11) NOT NULL,\n  `p` int(11) DEFAULT NULL COMMENT 'REFERENCES `parent`',\n"
        "  PRIMARY KEY (`id`),\n  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `parent` (`id`),\n"
        "  CONSTRAINT `fk2` FOREIGN KEY (`p`) REFERENCES `ext`.`other` (`id`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4\n PARTITION BY HASH (`id`)\nPARTITIONS 4"
    )
    renames = {TableRef("src", "child"): TableRef("dst", "kid"), TableRef("src", "parent"): TableRef("dst", "mom")}
    out = d.rename_table_ddl(ddl, TableRef("src", "child"), TableRef("dst", "kid"), renames, {"src": "dst"})
    assert out.startswith("CREATE TABLE IF NOT EXISTS `dst`.`kid` (\n  `id` int(11) NOT NULL,")
    assert "REFERENCES `mom` (`id`)" in out
    assert "REFERENCES `ext`.`other` (`id`)" in out
    assert "COMMENT 'REFERENCES `parent`'" in out  # string literals are not rewritten
    assert out.endswith(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4\n PARTITION BY HASH (`id`)\nPARTITIONS 4")
    same = d.rename_table_ddl(ddl, TableRef("src", "child"), TableRef("src", "child"), {}, {})
    assert same == ddl.replace("CREATE TABLE `child`", "CREATE TABLE IF NOT EXISTS `src`.`child`")


def test_rename_database_ddl_keeps_options() -> None:
    ddl = "CREATE DATABASE `s` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */"
    assert d.rename_database_ddl(ddl, "t`x") == (
        "CREATE DATABASE IF NOT EXISTS `t``x` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */"
    )
    with pytest.raises(ValueError, match="unexpected CREATE DATABASE"):
        d.rename_database_ddl("DROP DATABASE x", "y")
