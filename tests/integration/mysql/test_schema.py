"""Structure creation on a real MariaDB target: ``SHOW CREATE TABLE`` identical to the source
(modulo renamed names), objects created in dependency order under their stored sql_mode /
time_zone, definers kept or replaced, every step idempotent.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest

from harness import MariaDBServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.mysql.connection import MySQLEngineError, connect
from opendrs.engines.mysql.discover import discover
from opendrs.engines.mysql.schema import (
    ACTIVE_KINDS,
    PASSIVE_KINDS,
    add_deferred_indexes,
    create_objects,
    create_structure,
    split_secondary_keys,
)
from opendrs.pipeline.model import Catalog, TableRef
from opendrs.pipeline.selection import Selection

SOURCE_DDL = [
    """CREATE TABLE types (
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY COMMENT 'row id',
      d65 DECIMAL(65,30) NOT NULL DEFAULT 0, f FLOAT(7,3), dbl DOUBLE, b64 BIT(64) DEFAULT b'101',
      tiu TINYINT UNSIGNED ZEROFILL, biu BIGINT UNSIGNED, dtm DATETIME(6) DEFAULT '0000-00-00 00:00:00',
      ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
      tm TIME(6) DEFAULT '-01:00:00', y YEAR, c CHAR(10) COLLATE utf8mb4_unicode_ci, tx TEXT,
      l1 VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin, vb VARBINARY(20), bl LONGBLOB, j JSON,
      e ENUM('a','b') NOT NULL DEFAULT 'b', s SET('x','y'), g POINT NOT NULL, hidden INT INVISIBLE,
      gv INT AS (tiu * 2) VIRTUAL, gs BIGINT AS (biu DIV 2) STORED,
      u VARCHAR(36) DEFAULT (UUID()),
      CONSTRAINT chk_y CHECK (y IS NULL OR y > 1950),
      UNIQUE KEY uk (biu), KEY k_multi (dtm, c(5)), FULLTEXT KEY ft (tx), SPATIAL KEY sp (g)
    ) ENGINE=InnoDB AUTO_INCREMENT=1000 DEFAULT CHARSET=utf8mb4 COMMENT='all the types'""",
    "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(10)) DEFAULT CHARSET=latin1",
    "CREATE TABLE child (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_parent FOREIGN KEY (pid) REFERENCES parent (id) "
    "ON DELETE CASCADE) ROW_FORMAT=COMPRESSED",
    "CREATE TABLE parts (id INT NOT NULL, at DATE NOT NULL, PRIMARY KEY (id, at)) "
    "PARTITION BY RANGE (YEAR(at)) (PARTITION p2020 VALUES LESS THAN (2021) COMMENT 'old', "
    "PARTITION pmax VALUES LESS THAN MAXVALUE)",
    "CREATE TABLE nokey (a INT, b TEXT) ENGINE=MyISAM",
    "CREATE TABLE uniq (b INT NOT NULL, v INT, UNIQUE KEY (b))",
    "CREATE DEFINER=`app`@`%` SQL SECURITY INVOKER VIEW v_base AS SELECT p.id, p.name FROM parent p",
    "CREATE DEFINER=`app`@`%` VIEW v_top AS SELECT b.id, c.id AS cid FROM v_base b JOIN child c ON c.pid = b.id",
    "CREATE DEFINER=`app`@`%` FUNCTION plus1(x INT) RETURNS INT DETERMINISTIC RETURN x + 1",
    "SET SESSION sql_mode = 'ANSI_QUOTES'",
    'CREATE DEFINER=`app`@`%` PROCEDURE fill(IN n INT) BEGIN INSERT INTO "nokey" (a) VALUES (n); END',
    "SET SESSION sql_mode = DEFAULT",
    "CREATE DEFINER=`app`@`%` TRIGGER trg BEFORE INSERT ON uniq FOR EACH ROW SET NEW.v = plus1(NEW.b)",
    "SET SESSION time_zone = '+05:00'",
    "CREATE DEFINER=`app`@`%` EVENT ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE "
    "DO DELETE FROM nokey WHERE a < 0",
]


def endpoint(server: MariaDBServer) -> EndpointConfig:
    return EndpointConfig("mysql", server.host, server.port, server.user, server.password)


@pytest.fixture(scope="module")
def source(mariadb_server: MariaDBServer) -> Iterator[str]:
    db = f"sch_{uuid.uuid4().hex[:8]}"
    conn = mariadb_server.connect(charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci COMMENT 'src db'")
        cur.execute(f"USE {db}")
        cur.execute("SET SESSION sql_mode = ''")
        for sql in SOURCE_DDL:
            cur.execute(sql)
    conn.close()
    yield db
    mariadb_server.execute(f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture
def target_db(mariadb_target: MariaDBServer) -> Iterator[str]:
    db = f"tgt_{uuid.uuid4().hex[:8]}"
    yield db
    mariadb_target.execute(f"DROP DATABASE IF EXISTS {db}")


def discovered(server: MariaDBServer, db: str) -> Catalog:
    conn = connect(endpoint(server))
    try:
        return discover(conn, Selection(everything=False, databases={db: None}))
    finally:
        conn.close()


def show_create(server: MariaDBServer, what: str, ref: TableRef) -> str:
    conn = server.connect(charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00', sql_mode = ''")
            name = f"`{ref.schema}`" if what == "DATABASE" else f"`{ref.schema}`.`{ref.name}`"
            cur.execute(f"SHOW CREATE {what} {name}")
            row = cur.fetchone()
            assert row is not None and cur.description is not None
            names = [str(d[0]).lower() for d in cur.description]
            return str(row[next(i for i, n in enumerate(names) if n.startswith("create "))])
    finally:
        conn.close()


def build(server: MariaDBServer, catalog: Catalog, selection: Selection, *, drop: bool = False,
          objects: bool = True, replace_definer: bool = True) -> None:
    conn = connect(endpoint(server), autocommit=False)
    try:
        create_structure(conn, catalog, selection, drop_existing=drop, replace_definer=replace_definer)
        if objects:
            create_objects(conn, catalog, selection, replace_definer=replace_definer, target_user=server.user)
        conn.commit()
    finally:
        conn.close()


def test_tables_are_identical_modulo_renames(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    assert {t.ref.name for t in catalog.tables} == {"types", "parent", "child", "parts", "nokey", "uniq"}
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db},
                          table_alias={TableRef(source, "parent"): "mom", TableRef(source, "types"): "all_types"})
    build(mariadb_target, catalog, selection, objects=False)
    build(mariadb_target, catalog, selection, objects=False)  # idempotent
    db_sql = show_create(mariadb_target, "DATABASE", TableRef(target_db, target_db)).replace(
        "`" + target_db + "`", "X")
    assert "DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" in db_sql and "COMMENT 'src db'" in db_sql
    for table in catalog.tables:
        target = selection.target(table.ref)
        src_sql = show_create(mariadb_server, "TABLE", table.ref)
        tgt_sql = show_create(mariadb_target, "TABLE", target)
        expected = src_sql.replace(f"CREATE TABLE `{table.ref.name}`", f"CREATE TABLE `{target.name}`", 1)
        expected = expected.replace("REFERENCES `parent`", "REFERENCES `mom`")
        assert tgt_sql == expected, table.ref
    child = show_create(mariadb_target, "TABLE", TableRef(target_db, "child"))
    assert "REFERENCES `mom` (`id`) ON DELETE CASCADE" in child
    types = show_create(mariadb_target, "TABLE", TableRef(target_db, "all_types"))
    assert "AUTO_INCREMENT=1000" in types and "SPATIAL KEY `sp`" in types and "FULLTEXT KEY `ft`" in types


def test_drop_existing_recreates_tables(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db})
    build(mariadb_target, catalog, selection, objects=False)
    mariadb_target.execute(f"INSERT INTO {target_db}.uniq VALUES (1, 1)")
    build(mariadb_target, catalog, selection, objects=False)
    assert mariadb_target.execute(f"SELECT COUNT(*) FROM {target_db}.uniq") == [(1,)]  # IF NOT EXISTS kept it
    build(mariadb_target, catalog, selection, drop=True, objects=False)
    assert mariadb_target.execute(f"SELECT COUNT(*) FROM {target_db}.uniq") == [(0,)]


def _definers(server: MariaDBServer, db: str) -> dict[str, str]:
    rows = server.execute(
        "SELECT ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
        "UNION ALL SELECT TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s "
        "UNION ALL SELECT TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
        "UNION ALL SELECT EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
        (db, db, db, db),
    )
    return {str(n): str(d) for n, d in rows}


def test_objects_with_replaced_definer_and_renames(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db},
                          table_alias={TableRef(source, "parent"): "mom", TableRef(source, "v_base"): "v_renamed"})
    build(mariadb_target, catalog, selection)
    build(mariadb_target, catalog, selection)  # idempotent: objects are replaced, not duplicated
    me = mariadb_target.execute("SELECT CURRENT_USER()")[0][0]
    definers = _definers(mariadb_target, target_db)
    assert set(definers) == {"plus1", "fill", "v_renamed", "v_top", "trg", "ev"}
    assert set(definers.values()) == {me}
    assert set(_definers(mariadb_server, source).values()) == {"app@%"}

    # views follow the renames and work
    top = show_create(mariadb_target, "VIEW", TableRef(target_db, "v_top"))
    assert f"`{target_db}`.`v_renamed`" in top and source not in top
    assert f"`{target_db}`.`mom`" in show_create(mariadb_target, "VIEW", TableRef(target_db, "v_renamed"))
    mariadb_target.execute(f"INSERT INTO {target_db}.mom VALUES (1, 'p')")
    mariadb_target.execute(f"INSERT INTO {target_db}.child VALUES (7, 1)")
    assert mariadb_target.execute(f"SELECT id, cid FROM {target_db}.v_top") == [(1, 7)]
    # the trigger fires and calls the function; the procedure runs under its stored ANSI_QUOTES mode
    mariadb_target.execute(f"INSERT INTO {target_db}.uniq (b) VALUES (41)")
    assert mariadb_target.execute(f"SELECT v FROM {target_db}.uniq WHERE b = 41") == [(42,)]
    mariadb_target.execute(f"CALL {target_db}.fill(5)")
    assert mariadb_target.execute(f"SELECT a FROM {target_db}.nokey") == [(5,)]
    modes = dict(mariadb_target.execute(
        "SELECT ROUTINE_NAME, SQL_MODE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s", (target_db,)))
    src_modes = dict(mariadb_server.execute(
        "SELECT ROUTINE_NAME, SQL_MODE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s", (source,)))
    assert modes == src_modes and "ANSI_QUOTES" in modes["fill"]
    ev = mariadb_target.execute(
        "SELECT TIME_ZONE, STATUS, STARTS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", (target_db,))
    assert ev == mariadb_server.execute(
        "SELECT TIME_ZONE, STATUS, STARTS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", (source,))
    assert ev[0][0] == "+05:00" and ev[0][1] == "DISABLED"


def test_objects_keep_definer_when_asked(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db})
    build(mariadb_target, catalog, selection, replace_definer=False)
    assert set(_definers(mariadb_target, target_db).values()) == {"app@%"}
    body = show_create(mariadb_target, "PROCEDURE", TableRef(target_db, "fill"))
    # shown under the routine's own sql_mode (ANSI_QUOTES), like on the source
    assert body.startswith('CREATE DEFINER="app"@"%" PROCEDURE "fill"(IN n INT)')
    assert body == show_create(mariadb_server, "PROCEDURE", TableRef(source, "fill"))


def test_kinds_split_passive_and_active_objects(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db})
    build(mariadb_target, catalog, selection, objects=False)
    conn = connect(endpoint(mariadb_target))
    try:
        create_objects(conn, catalog, selection, replace_definer=True, target_user="root", kinds=PASSIVE_KINDS)
        assert set(_definers(mariadb_target, target_db)) == {"plus1", "fill", "v_base", "v_top"}
        create_objects(conn, catalog, selection, replace_definer=True, target_user="root", kinds=ACTIVE_KINDS)
        assert set(_definers(mariadb_target, target_db)) == {"plus1", "fill", "v_base", "v_top", "trg", "ev"}
    finally:
        conn.close()


def test_failures_name_the_object_and_the_fix(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    catalog = discovered(mariadb_server, source)
    selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db})
    mariadb_target.execute(f"CREATE DATABASE {target_db}")
    conn = connect(endpoint(mariadb_target))
    try:
        # objects before their tables: the view's table is missing on the target
        with pytest.raises(MySQLEngineError, match=rf"create view `{target_db}`\.`v_base` on the target"):
            create_objects(conn, catalog, selection, replace_definer=True, target_user="root")
    finally:
        conn.close()


def test_secondary_indexes_of_large_tables_are_built_after_the_data(
    mariadb_server: MariaDBServer, mariadb_target: MariaDBServer, source: str, target_db: str
) -> None:
    mariadb_server.execute(f"CREATE TABLE {source}.big (id INT PRIMARY KEY, a INT, b VARCHAR(20), c INT, "
                           "UNIQUE KEY ub (b), KEY ka (a), KEY `k b,c` (b(5), c) COMMENT 'two, cols') ENGINE=InnoDB")
    try:
        catalog = discovered(mariadb_server, source)
        catalog.tables = [dataclasses.replace(t, rows_estimate=10**6) for t in catalog.tables]
        selection = Selection(everything=False, databases={source: None}, database_alias={source: target_db})
        build(mariadb_target, catalog, selection, objects=False)
        loading = show_create(mariadb_target, "TABLE", TableRef(target_db, "big"))
        assert "KEY `ka`" not in loading and "UNIQUE KEY `ub`" in loading and "PRIMARY KEY" in loading
        types = show_create(mariadb_target, "TABLE", TableRef(target_db, "types"))
        assert types == show_create(mariadb_server, "TABLE", TableRef(source, "types"))  # FULLTEXT/SPATIAL: all stay
        child = show_create(mariadb_target, "TABLE", TableRef(target_db, "child"))  # has a foreign key: kept
        assert child == show_create(mariadb_server, "TABLE", TableRef(source, "child"))
        mariadb_target.execute(f"INSERT INTO {target_db}.big VALUES (1, 1, 'x', 1), (2, 2, 'y', 2)")
        for _ in range(2):  # a retried finish adds nothing twice
            conn = connect(endpoint(mariadb_target))
            try:
                add_deferred_indexes(conn, catalog, selection)
            finally:
                conn.close()
        for name in ("big", "types", "parts", "uniq", "nokey"):
            assert show_create(mariadb_target, "TABLE", TableRef(target_db, name)) == show_create(
                mariadb_server, "TABLE", TableRef(source, name)), name
    finally:
        mariadb_server.execute(f"DROP TABLE IF EXISTS {source}.big")


def test_split_secondary_keys_keeps_what_it_cannot_defer() -> None:
    ddl = ("CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `a` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n"
           "  KEY `ka` (`a`),\n  KEY `kc` (`a`) COMMENT 'x, y'\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    create, keys = split_secondary_keys(ddl)
    assert keys == {"ka": "KEY `ka` (`a`)", "kc": "KEY `kc` (`a`) COMMENT 'x, y'"}
    assert create == ddl.replace("  KEY `ka` (`a`),\n", "").replace(",\n  KEY `kc` (`a`) COMMENT 'x, y'", "")
    only = ddl.replace(",\n  KEY `kc` (`a`) COMMENT 'x, y'", "")
    create, keys = split_secondary_keys(only)
    assert list(keys) == ["ka"] and "PRIMARY KEY (`id`)\n) ENGINE" in create
    assert split_secondary_keys(only.replace("InnoDB", "MyISAM")) == (only.replace("InnoDB", "MyISAM"), {})
    fulltext = only.replace("  PRIMARY KEY (`id`),", "  PRIMARY KEY (`id`),\n  FULLTEXT KEY `f` (`a`),")
    assert split_secondary_keys(fulltext) == (fulltext, {})
