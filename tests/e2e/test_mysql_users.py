"""4.2.1 user migration on real MariaDB: the chosen roles and accounts exist on the target after the load,
with their grants (renamed databases followed) and their source password, or the one 4.2.1 set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymysql
import pytest
from e2e_helpers import wait_status
from mysql_helpers import detail, new_db, start_mysql_task, wait_equal

from harness import MariaDBServer
from opendrs.client import DrsHttpClient


@pytest.fixture
def accounts(mariadb_server: MariaDBServer, mariadb_target: MariaDBServer) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    names = {"db": new_db("users"), "role": f"r_rep_{tag}", "u1": f"u1_{tag}", "u2": f"u2_{tag}", "u3": f"u3_{tag}"}
    yield names
    for server in (mariadb_server, mariadb_target):
        for user in ("u1", "u2", "u3"):
            server.execute(f"DROP USER IF EXISTS '{names[user]}'@'%', '{names[user]}'@'127.0.0.1'")
        server.execute(f"DROP ROLE IF EXISTS {names['role']}")
        server.execute(f"DROP DATABASE IF EXISTS {names['db']}")


def _login(server: MariaDBServer, user: str, password: str) -> list[str]:
    conn = pymysql.connect(host=server.host, port=server.port, user=user, password=password)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GRANTS")
            return [str(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def test_chosen_accounts_and_roles_are_created_on_the_target(http: DrsHttpClient, mariadb_server: MariaDBServer,
                                                              mariadb_target: MariaDBServer,
                                                              accounts: dict[str, str]) -> None:
    db, role, u1, u2, u3 = (accounts[k] for k in ("db", "role", "u1", "u2", "u3"))
    src = mariadb_server
    src.execute(f"CREATE DATABASE {db}")
    src.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10))")
    src.execute(f"INSERT INTO {db}.t VALUES (1, 'a'), (2, 'b')")
    src.execute(f"CREATE ROLE {role}")
    src.execute(f"GRANT SELECT ON {db}.* TO {role}")
    src.execute(f"CREATE USER '{u1}'@'%' IDENTIFIED BY 'pw-one' WITH MAX_USER_CONNECTIONS 7")
    src.execute(f"GRANT SELECT, INSERT ON {db}.t TO '{u1}'@'%'")
    src.execute(f"GRANT {role} TO '{u1}'@'%'")
    src.execute(f"SET DEFAULT ROLE {role} FOR '{u1}'@'%'")
    src.execute(f"CREATE USER '{u2}'@'127.0.0.1' IDENTIFIED BY 'old-two'")
    src.execute(f"GRANT UPDATE ON {db}.* TO '{u2}'@'127.0.0.1'")
    src.execute(f"CREATE USER '{u3}'@'%' IDENTIFIED BY 'pw-three'")  # not chosen: must not appear

    def choose(job_id: str) -> None:
        body = {"jobs": [{
            "job_id": job_id, "is_migrate_user": True, "is_set_password": False,
            "list": [{"id": f"'{u1}'@'%'", "account": f"'{u1}'@'%'", "is_transfer": True, "selected": True,
                      "roles": [role]},
                     {"id": f"'{u2}'@'127.0.0.1'", "account": f"'{u2}'@'127.0.0.1'", "is_transfer": True,
                      "selected": True, "roles": [], "is_set_password": True, "password": "new-two"},
                     {"id": f"'{u3}'@'%'", "account": f"'{u3}'@'%'", "is_transfer": True, "selected": False,
                      "roles": []}],
            "user_roles": [{"role": role, "is_transfer": True, "privileges": "", "selected": True}]}]}
        resp = http.call("PUT", "/v3/{project_id}/jobs/batch-update-user", body)
        assert resp["results"][0]["is_success"] is True, resp

    job_id = start_mysql_task(http, src, mariadb_target, db, task_type="FULL_TRANS", configure=choose,
                              db_use_type="migration")
    wait_status(http, job_id, "FULL_TRANSFER_COMPLETE", timeout=120)
    wait_equal(src, mariadb_target, db)

    grants = _login(mariadb_target, u1, "pw-one")  # the source's password hash came along
    text = " | ".join(grants)
    assert f"GRANT SELECT, INSERT ON `{db}`.`t` TO `{u1}`@`%`" in text, grants
    assert f"GRANT `{role}` TO `{u1}`@`%`" in text, grants
    assert "MAX_USER_CONNECTIONS 7" in " ".join(
        str(r[0]) for r in mariadb_target.execute(f"SHOW CREATE USER '{u1}'@'%'"))
    role_grants = " | ".join(str(r[0]) for r in mariadb_target.execute(f"SHOW GRANTS FOR {role}"))
    assert f"GRANT SELECT ON `{db}`.* TO `{role}`" in role_grants
    assert any("UPDATE ON" in g for g in _login(mariadb_target, u2, "new-two"))  # 4.2.1's password
    with pytest.raises(pymysql.err.OperationalError):
        _login(mariadb_target, u2, "old-two")
    assert not mariadb_target.execute(f"SELECT 1 FROM mysql.user WHERE User = '{u3}'")
    assert "problem" not in str(detail(http, job_id)).lower()
