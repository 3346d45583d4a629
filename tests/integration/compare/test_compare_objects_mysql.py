"""Object comparison on two real MariaDB servers: exactly the objects changed on the target are reported."""

from __future__ import annotations

from cmp_helpers import fresh_mysql_db, mysql_run, mysql_scope

from harness import MariaDBServer
from opendrs.compare.api import compare_objects
from opendrs.compare.model import ObjectDiff

OBJECTS = (
    "CREATE TABLE `{db}`.parent (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL, UNIQUE KEY uq_code (code))",
    "CREATE TABLE `{db}`.child (id INT PRIMARY KEY, parent_id INT, qty INT CHECK (qty >= 0), note VARCHAR(20), "
    "KEY idx_note (note), CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES `{db}`.parent (id))",
    "CREATE VIEW `{db}`.v_child AS SELECT id, qty FROM `{db}`.child WHERE qty > 1",
    "CREATE PROCEDURE `{db}`.p_touch(IN n INT) SELECT n + 1",
    "CREATE FUNCTION `{db}`.f_double(n INT) RETURNS INT DETERMINISTIC RETURN n * 2",
    "CREATE TRIGGER `{db}`.t_child BEFORE INSERT ON `{db}`.child FOR EACH ROW SET NEW.qty = IFNULL(NEW.qty, 0)",
    "CREATE EVENT `{db}`.e_tick ON SCHEDULE EVERY 1 HOUR DISABLE DO SELECT 1",
)


def _create(server: MariaDBServer, db: str) -> None:
    mysql_run(server, *(s.format(db=db) for s in OBJECTS))


def _not_consistent(diffs: list[ObjectDiff]) -> set[tuple[str, str, str]]:
    """Differences, leaving out accounts other tests of the session may have created on one server."""
    found = {(o.object_type, o.status, (o.source_value or o.target_value or "").split(":")[0])
             for o in diffs if o.status != "consistent"}
    return {f for f in found if f[0] != "USER" or f[2].startswith("cmp_")}


def test_identical_objects_are_consistent_and_counted(mariadb_server: MariaDBServer,
                                                      mariadb_target: MariaDBServer) -> None:
    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_obj_same")
    _create(mariadb_server, "cmp_obj_same")
    _create(mariadb_target, "cmp_obj_same")
    diffs = compare_objects(mysql_scope(mariadb_server, mariadb_target, {"cmp_obj_same": None}))
    assert _not_consistent(diffs) == set()
    types = {o.object_type for o in diffs}
    assert {"DB", "TABLE", "COLUMN", "INDEX", "CONSTRAINT", "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT",
            "USER"} <= types
    assert sum(1 for o in diffs if o.object_type == "TABLE") == 2
    assert all("IDENTIFIED" not in (o.source_value or "") for o in diffs if o.object_type == "USER")


def test_dropped_index_and_altered_column_are_exactly_the_differences(mariadb_server: MariaDBServer,
                                                                       mariadb_target: MariaDBServer) -> None:
    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_obj_src", "cmp_obj_dst")
    _create(mariadb_server, "cmp_obj_src")
    _create(mariadb_target, "cmp_obj_dst")  # the task renames the database
    mysql_run(mariadb_target,
              "ALTER TABLE cmp_obj_dst.child DROP INDEX idx_note",
              "ALTER TABLE cmp_obj_dst.child MODIFY note VARCHAR(30)",
              "DROP TRIGGER cmp_obj_dst.t_child",
              "CREATE OR REPLACE VIEW cmp_obj_dst.v_child AS SELECT id, qty FROM cmp_obj_dst.child WHERE qty > 2",
              "CREATE TABLE cmp_obj_dst.stray (id INT)")
    mysql_run(mariadb_server, "DROP USER IF EXISTS 'cmp_reader'@'%'",
              "CREATE USER 'cmp_reader'@'%' IDENTIFIED BY 'pw1'", "GRANT SELECT ON cmp_obj_src.* TO 'cmp_reader'@'%'")
    mysql_run(mariadb_target, "DROP USER IF EXISTS 'cmp_reader'@'%'")
    scope = mysql_scope(mariadb_server, mariadb_target, {"cmp_obj_src": None},
                        db_alias={"cmp_obj_src": "cmp_obj_dst"})
    try:
        diffs = compare_objects(scope)
    finally:
        mysql_run(mariadb_server, "DROP USER 'cmp_reader'@'%'")
    assert _not_consistent(diffs) == {
        ("INDEX", "missing", "child.idx_note"),
        ("COLUMN", "different", "child.note"),
        ("TRIGGER", "missing", "child.t_child"),
        ("VIEW", "different", "v_child"),
        ("TABLE", "extra", "stray"),
        ("COLUMN", "extra", "stray.id"),
        ("USER", "missing", "cmp_reader@%"),
    }
    user = next(o for o in diffs if o.object_type == "USER" and o.status == "missing")
    assert user.source_value is not None and "GRANT SELECT ON `cmp_obj_src`" in user.source_value
    assert "pw1" not in user.source_value and "PASSWORD" not in user.source_value.upper()
    note = next(o for o in diffs if o.object_type == "COLUMN" and o.status == "different")
    assert (note.source_db, note.target_db) == ("cmp_obj_src", "cmp_obj_dst")
    assert note.source_value is not None and "varchar(20)" in note.source_value
    assert note.target_value is not None and "varchar(30)" in note.target_value


def test_partial_selection_ignores_unselected_target_tables(mariadb_server: MariaDBServer,
                                                            mariadb_target: MariaDBServer) -> None:
    fresh_mysql_db(mariadb_server, mariadb_target, "cmp_obj_part")
    _create(mariadb_server, "cmp_obj_part")
    _create(mariadb_target, "cmp_obj_part")
    mysql_run(mariadb_target, "CREATE TABLE cmp_obj_part.unrelated (id INT)",
              "ALTER TABLE cmp_obj_part.child DROP INDEX idx_note")
    only_parent = mysql_scope(mariadb_server, mariadb_target, {"cmp_obj_part": {"parent"}})
    assert _not_consistent(compare_objects(only_parent)) == set()
    with_child = mysql_scope(mariadb_server, mariadb_target, {"cmp_obj_part": {"parent", "child"}})
    assert _not_consistent(compare_objects(with_child)) == {("INDEX", "missing", "child.idx_note")}
