"""Discovery on real MariaDB: every column type, key choice, estimates, views on views,
routines, triggers and events, in creation order, and the selection applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from harness import MariaDBServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.engines.mysql.dialect import split_session
from opendrs.engines.mysql.discover import discover, table_schema
from opendrs.pipeline.model import Catalog, TableRef
from opendrs.pipeline.selection import Selection

SOURCE_DDL = [
    """CREATE TABLE types (
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      d65 DECIMAL(65,30), f FLOAT, dbl DOUBLE, b64 BIT(64),
      ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
      i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
      dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
      c CHAR(10), vc VARCHAR(100) NOT NULL DEFAULT '', tx TEXT, l1 VARCHAR(20) CHARACTER SET latin1,
      cb VARCHAR(20) COLLATE utf8mb4_bin, vb VARBINARY(20), bl BLOB, j JSON, e ENUM('a','b'), s SET('x','y'),
      g POINT, gv INT AS (i + 1) VIRTUAL, gs VARCHAR(110) AS (CONCAT(vc, '!')) STORED,
      FULLTEXT KEY ft (tx)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "CREATE TABLE nokey (a INT, b VARCHAR(10), KEY (a))",
    # a nullable unique key does not identify rows; the NOT NULL one (defined later) does
    "CREATE TABLE uniq (a INT NULL, b INT NOT NULL, c VARCHAR(5) NOT NULL, v INT, "
    "UNIQUE KEY ua (a), UNIQUE KEY ubc (b, c))",
    "CREATE TABLE parts (id INT NOT NULL, k INT NOT NULL, PRIMARY KEY (id, k)) PARTITION BY HASH (k) PARTITIONS 3",
    "INSERT INTO parts SELECT seq, seq FROM seq_1_to_300",
    "CREATE VIEW v_base AS SELECT id, i FROM types",
]


def endpoint(server: MariaDBServer) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password)


@pytest.fixture(scope="module")
def source(mariadb_server: MariaDBServer) -> Iterator[str]:
    db = f"disc_{uuid.uuid4().hex[:8]}"
    conn = mariadb_server.connect(charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        cur.execute(f"USE {db}")
        for sql in SOURCE_DDL:
            cur.execute(sql)
        # v_mid depends on v_base; v_aaa (sorts first by name) depends on v_mid
        cur.execute("CREATE VIEW v_mid AS SELECT v.id, v.i * 2 AS i2 FROM v_base v")
        cur.execute("CREATE VIEW v_aaa AS SELECT m.id FROM v_mid m JOIN parts p ON p.id = m.id")
        cur.execute("CREATE FUNCTION plus1(x INT) RETURNS INT DETERMINISTIC RETURN x + 1")
        cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'")
        cur.execute('CREATE PROCEDURE fill(IN n INT) BEGIN INSERT INTO "nokey" (a) VALUES (n); END')
        cur.execute("SET SESSION sql_mode = DEFAULT")
        cur.execute("CREATE TRIGGER trg_bi BEFORE INSERT ON uniq FOR EACH ROW SET NEW.v = plus1(NEW.b)")
        cur.execute("CREATE TRIGGER trg_bi2 BEFORE INSERT ON uniq FOR EACH ROW FOLLOWS trg_bi SET NEW.v = NEW.v * 10")
        cur.execute("CREATE TRIGGER nk_ai AFTER INSERT ON nokey FOR EACH ROW SET @n = NEW.a")
        cur.execute("SET SESSION time_zone = '+05:00'")
        cur.execute("CREATE EVENT ev_clean ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' "
                    "DISABLE DO DELETE FROM nokey WHERE a < 0")
        cur.execute(f"CREATE DATABASE {db}_other")
        cur.execute(f"CREATE TABLE {db}_other.t (id INT PRIMARY KEY)")
    conn.close()
    yield db
    mariadb_server.execute(f"DROP DATABASE IF EXISTS {db}")
    mariadb_server.execute(f"DROP DATABASE IF EXISTS {db}_other")


def run_discover(server: MariaDBServer, selection: Selection) -> Catalog:
    conn = connect(endpoint(server))
    try:
        return discover(conn, selection)
    finally:
        conn.close()


def only(db: str, tables: set[str] | None = None) -> Selection:
    return Selection(everything=False, databases={db: tables})


def test_columns_types_and_flags(mariadb_server: MariaDBServer, source: str) -> None:
    catalog = run_discover(mariadb_server, only(source))
    types = catalog.table(TableRef(source, "types"))
    assert types is not None
    cols = {c.name: c for c in types.columns}
    assert [c.name for c in types.columns][:5] == ["id", "d65", "f", "dbl", "b64"]  # ordinal order
    assert (cols["d65"].data_type, cols["d65"].column_type) == ("decimal", "decimal(65,30)")
    assert (cols["biu"].data_type, cols["biu"].column_type) == ("bigint", "bigint(20) unsigned")
    assert cols["tiu"].column_type == "tinyint(3) unsigned" and cols["mi"].data_type == "mediumint"
    assert (cols["b64"].data_type, cols["b64"].column_type) == ("bit", "bit(64)")
    assert [cols[n].data_type for n in ("dt", "dtm", "ts", "tm", "y")] == ["date", "datetime", "timestamp", "time",
                                                                            "year"]
    assert cols["dtm"].column_type == "datetime(6)" and cols["tm"].column_type == "time(6)"
    assert cols["e"].column_type == "enum('a','b')" and cols["s"].column_type == "set('x','y')"
    assert cols["g"].data_type == "point" and cols["bl"].data_type == "blob"
    assert cols["j"].data_type == "longtext"  # MariaDB's JSON is LONGTEXT with a json_valid check
    assert cols["l1"].charset == "latin1" and cols["c"].charset == "utf8mb4" and cols["vb"].charset is None
    assert cols["gv"].generated and cols["gs"].generated
    assert not any(c.generated for n, c in cols.items() if n not in ("gv", "gs"))
    assert not cols["id"].nullable and not cols["vc"].nullable and cols["tx"].nullable
    assert [c.name for c in types.writable] == [c.name for c in types.columns if c.name not in ("gv", "gs")]
    assert types.key == ("id",)
    assert types.create_sql is not None and "FULLTEXT KEY `ft` (`tx`)" in types.create_sql


def test_keys_estimates_and_ddl(mariadb_server: MariaDBServer, source: str) -> None:
    mariadb_server.execute(f"ANALYZE TABLE {source}.parts")
    catalog = run_discover(mariadb_server, only(source))
    by_name = {t.ref.name: t for t in catalog.tables}
    assert sorted(by_name) == ["nokey", "parts", "types", "uniq"]  # base tables only, no views
    assert by_name["nokey"].key == ()
    assert by_name["uniq"].key == ("b", "c")
    assert by_name["parts"].key == ("id", "k")
    assert 200 <= by_name["parts"].rows_estimate <= 400 and by_name["parts"].bytes_estimate > 0
    assert "PARTITION BY HASH (`k`)" in (by_name["parts"].create_sql or "")
    [database] = catalog.databases
    assert (database.kind, database.schema) == ("database", source)
    assert "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" in database.create_sql


def test_objects_in_creation_order(mariadb_server: MariaDBServer, source: str) -> None:
    catalog = run_discover(mariadb_server, only(source))
    order = [(o.kind, o.name) for o in catalog.objects]
    kinds = [k for k, _ in order]
    assert kinds == ["function", "procedure", "view", "view", "view", "trigger", "trigger", "trigger", "event"]
    views = [n for k, n in order if k == "view"]
    assert views.index("v_base") < views.index("v_mid") < views.index("v_aaa")
    triggers = [n for k, n in order if k == "trigger"]
    assert triggers.index("trg_bi") < triggers.index("trg_bi2")  # FOLLOWS needs its anchor first
    objects = {o.name: o for o in catalog.objects}
    assert objects["v_mid"].depends_on == (f"{source}.v_base",)
    assert objects["v_base"].depends_on == (f"{source}.types",)
    assert objects["v_aaa"].depends_on == (f"{source}.parts", f"{source}.v_mid")
    assert objects["trg_bi"].depends_on == (f"{source}.uniq",)
    assert f"VIEW `{source}`.`v_mid` AS" in objects["v_mid"].create_sql
    assert f"TRIGGER `{source}`.`trg_bi` BEFORE INSERT ON `{source}`.`uniq` FOR EACH ROW" in (
        objects["trg_bi"].create_sql
    )
    session, ddl = split_session(objects["fill"].create_sql)
    assert "ANSI_QUOTES" in session["sql_mode"] and "STRICT_ALL_TABLES" in session["sql_mode"]
    assert ddl.startswith("CREATE DEFINER=") and 'INSERT INTO "nokey"' in ddl
    ev_session, ev_ddl = split_session(objects["ev_clean"].create_sql)
    assert ev_session["time_zone"] == "+05:00" and "DISABLE" in ev_ddl
    assert "RETURN x + 1" in split_session(objects["plus1"].create_sql)[1]


def test_selection_tables_views_and_triggers(mariadb_server: MariaDBServer, source: str) -> None:
    catalog = run_discover(mariadb_server, only(source, {"uniq", "v_base"}))
    assert [t.ref.name for t in catalog.tables] == ["uniq"]
    names = {(o.kind, o.name) for o in catalog.objects}
    assert ("view", "v_base") in names and ("view", "v_mid") not in names
    assert ("trigger", "trg_bi") in names and ("trigger", "nk_ai") not in names  # nokey not selected
    assert ("procedure", "fill") in names and ("event", "ev_clean") in names  # follow the database


def test_everything_skips_system_databases(mariadb_server: MariaDBServer, source: str) -> None:
    catalog = run_discover(mariadb_server, Selection())
    dbs = {d.schema for d in catalog.databases}
    assert {source, f"{source}_other"} <= dbs
    assert not dbs & {"mysql", "information_schema", "performance_schema", "sys"}
    assert TableRef(f"{source}_other", "t") in {t.ref for t in catalog.tables}


def test_missing_selected_objects_are_reported(mariadb_server: MariaDBServer, source: str) -> None:
    with pytest.raises(MySQLEngineError, match="nope"):
        run_discover(mariadb_server, only(source, {"uniq", "nope"}))
    with pytest.raises(MySQLEngineError, match=f"{source}_missing"):
        run_discover(mariadb_server, only(f"{source}_missing"))


def test_table_schema_of_one_table(mariadb_server: MariaDBServer, source: str) -> None:
    conn = connect(endpoint(mariadb_server))
    try:
        uniq = table_schema(conn, TableRef(source, "uniq"))
        assert [c.name for c in uniq.columns] == ["a", "b", "c", "v"] and uniq.key == ("b", "c")
        with conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {source}.uniq ADD COLUMN w INT AFTER a, DROP INDEX ubc")
        try:
            changed = table_schema(conn, TableRef(source, "uniq"))
            assert [c.name for c in changed.columns] == ["a", "w", "b", "c", "v"] and changed.key == ()
        finally:
            with conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {source}.uniq DROP COLUMN w, ADD UNIQUE KEY ubc (b, c)")
        with pytest.raises(MySQLEngineError, match="does not exist"):
            table_schema(conn, TableRef(source, "v_base"))  # a view is not a table
    finally:
        conn.close()
