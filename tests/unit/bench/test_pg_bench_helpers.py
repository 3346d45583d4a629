"""Pure helpers of the PostgreSQL benchmark (bench/pg_*.py): command lines, quoting, data, verdicts. No servers.

The bench modules are scripts in ``bench/`` that import each other by bare name, so ``bench/``
goes on ``sys.path`` for the imports.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType, SimpleNamespace

import psycopg.conninfo
import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


pg_env = _load("pg_env")
pg_data = _load("pg_data")
pg_peers = _load("pg_peers")
pg_driver = _load("pg_driver")
pg_bench = _load("pg_bench")
common = _load("common")
mysql_data = _load("mysql_data")


def test_extra_settings_raise_shared_buffers_and_become_later_dash_c_flags() -> None:
    settings = pg_env.extra_settings("1GB")
    assert settings["shared_buffers"] == "1GB"
    assert settings["max_slot_wal_keep_size"] == "-1"  # the stream waits in the slots: never invalidate them
    args = pg_env.settings_args({"shared_buffers": "1GB", "max_wal_size": "4GB"})
    assert args == ["-c", "shared_buffers=1GB", "-c", "max_wal_size=4GB"]


def test_conninfo_quotes_values_and_round_trips_through_libpq() -> None:
    text = pg_env.conninfo("127.0.0.1", 5433, "o'brien", "we ird\\db")
    parsed = psycopg.conninfo.conninfo_to_dict(text)
    assert parsed == {"host": "127.0.0.1", "port": "5433", "user": "o'brien", "dbname": "we ird\\db"}
    assert "password" not in text


def test_uri_percent_encodes_the_password() -> None:
    url = pg_env.uri("127.0.0.1", 5432, "postgres", "p@ss/w:rd", "bench")
    assert url == "postgres://postgres:p%40ss%2Fw%3Ard@127.0.0.1:5432/bench"
    assert psycopg.conninfo.conninfo_to_dict(url)["password"] == "p@ss/w:rd"


def test_parse_lsn_and_ident() -> None:
    assert pg_env.parse_lsn("0/0") == 0
    assert pg_env.parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    with pytest.raises(ValueError, match="not an LSN"):
        pg_env.parse_lsn("B374D848")
    assert pg_env.ident('we"ird') == '"we""ird"'


def test_diff_checksums_names_each_differing_table() -> None:
    want = {"a": (3, "x"), "b": (1, "y")}
    assert pg_env.diff_checksums(want, {"a": (3, "x"), "b": (1, "y"), "extra": (0, "")}) == ""
    diff = pg_env.diff_checksums(want, {"a": (2, "x")})
    assert "a: source (3, 'x') target (2, 'x')" in diff
    assert "b: source (1, 'y') target None" in diff


def test_pg_wide_line_spells_the_blob_as_escaped_bytea_hex() -> None:
    assert pg_data.pg_wide_line("1\tx\tdeadbeef\n") == "1\tx\t\\\\xdeadbeef\n"
    assert pg_data.pg_wide_line("1\tx\t\\N\n") == "1\tx\t\\N\n"
    with pytest.raises(ValueError, match="not a wide1"):
        pg_data.pg_wide_line("no tabs")


def test_wide_rows_keep_the_mysql_bench_shape(tmp_path: Path) -> None:
    """Same generator as MySQL's: 11 columns, ~10% NULLs per nullable column, 4-byte characters present."""
    path = tmp_path / "wide.tsv"
    pg_data.write_wide_tsv(path, 2000, seed=5)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2000
    fields = [line.split("\t") for line in lines]
    assert {len(f) for f in fields} == {11}
    nulls = sum(1 for f in fields for v in f[1:] if v == "\\N")
    assert 0.07 < nulls / (2000 * 10) < 0.13
    assert all(f[10] == "\\N" or f[10].startswith("\\\\x") for f in fields)
    assert any(ord(ch) > 0xFFFF for f in fields for ch in f[6])  # 4-byte UTF-8 in the names


def test_change_stream_transactions_are_4_inserts_4_updates_2_deletes_on_live_rows() -> None:
    stream = pg_data.ChangeStream.seeded(7, 50)
    live = set(stream.live)
    for _ in range(40):
        text, ops = stream.transaction()
        assert Counter(ops) == {"I": 4, "U": 4, "D": 2}
        stmts = text.split(";")
        assert stmts[0] == "BEGIN" and stmts[-1] == "COMMIT" and len(stmts) == 12
        for stmt in stmts[1:-1]:
            if stmt.startswith("INSERT"):
                key = int(stmt.split("VALUES (")[1].split(",")[0])
                assert key not in live
                live.add(key)
            else:
                key = int(stmt.rsplit("WHERE id = ", 1)[1])
                assert key in live, stmt  # updates and deletes hit a row that exists at that moment
                if stmt.startswith("DELETE"):
                    live.remove(key)
    assert live == set(stream.live)


def test_change_stream_stops_at_the_exact_count_and_is_seeded() -> None:
    sizes = [n for _, n in pg_data.ChangeStream.seeded(1, 100).transactions(95)]
    assert sum(sizes) == 95 and sizes[-1] == 5
    first = [t for t, _ in pg_data.ChangeStream.seeded(3, 100).transactions(30)]
    again = [t for t, _ in pg_data.ChangeStream.seeded(3, 100).transactions(30)]
    assert first == again


def test_sql_text_doubles_quotes() -> None:
    assert pg_data.sql_text("it's") == "'it''s'"


def test_command_lines() -> None:
    dump = pg_peers.pg_dump_cmd("/b/pg_dump", "host=h dbname=bench", Path("/w/d"), 2)
    assert dump == ["/b/pg_dump", "--format=directory", "--jobs=2", "--no-sync", "--file=/w/d",
                    "--dbname=host=h dbname=bench"]
    assert pg_peers.pg_dump_cmd("pg_dump", "c", Path("/d"), 2, "0")[-2:] == ["--compress=0", "--dbname=c"]
    restore = pg_peers.pg_restore_cmd("/b/pg_restore", "host=t dbname=bench", Path("/w/d"), 2)
    assert restore[-1] == "/w/d" and "--jobs=2" in restore and "--exit-on-error" in restore
    clone = pg_peers.pgcopydb_cmd("pgcopydb", "postgres://s", "postgres://t", Path("/w/c"), 2)
    assert clone[:2] == ["pgcopydb", "clone"]
    assert clone[clone.index("--table-jobs") + 1] == "2" and clone[clone.index("--index-jobs") + 1] == "2"
    out, into = pg_peers.copy_commands("psql", "src", "dst", "wide1")
    assert out[-2:] == ["-c", 'COPY "wide1" TO STDOUT'] and "--dbname=src" in out
    assert into[-2:] == ["-c", 'COPY "wide1" FROM STDIN'] and "--dbname=dst" in into
    assert "ON_ERROR_STOP=1" in out


def test_subscription_sql_reuses_the_slot_without_copying() -> None:
    text = pg_peers.subscription_sql("sub", "host='127.0.0.1' port=5 user='postgres' dbname='benchcdc'",
                                     "pw'x", "pub", "slot1")
    assert text.startswith('CREATE SUBSCRIPTION "sub" CONNECTION ')
    assert "WITH (create_slot = false, slot_name = 'slot1', copy_data = false)" in text
    literal = text.split("CONNECTION ", 1)[1].split(" PUBLICATION", 1)[0]
    conn = literal[1:-1].replace("''", "'")  # the SQL literal's content: a libpq conninfo
    assert psycopg.conninfo.conninfo_to_dict(conn)["password"] == "pw'x"


def test_select_schema_and_endpoint() -> None:
    assert pg_driver.select_schema("bench") == {"id": "bench-*-*-public", "parent_id": "bench",
                                                "object_type": "schema", "object_name": "public", "select": "true"}
    server = SimpleNamespace(host="127.0.0.1", port=5433, user="postgres", password="pw")
    assert pg_driver.pg_endpoint(server, "bench") == {"db_type": "postgresql", "ip": "127.0.0.1", "db_port": 5433,
                                                      "db_user": "postgres", "db_password": "pw", "db_name": "bench"}
    assert "db_name" not in pg_driver.pg_endpoint(server)


def _result(key: str, seconds: float, units: int, opendrs: bool = False) -> object:
    return common.Result("w", key, "rows", units, is_opendrs=opendrs, seconds=[seconds])


def test_verdicts_check_the_issue_targets() -> None:
    results = {"opendrs": _result("opendrs", 10.0, 1000, True), "pg_dump": _result("pg_dump", 12.0, 1000),
               "copy": _result("copy", 7.0, 1000), "opendrs-cdc": _result("c", 5.0, 1000, True),
               "subscription": _result("s", 4.0, 1000)}
    lines = pg_bench.verdicts(results)
    assert lines[0].startswith("full load at least as fast as pg_dump|pg_restore -j2: MET")
    assert lines[1].startswith("full load within 80% of the COPY pipe's rate: NOT MET (70%")
    assert lines[2].startswith("CDC at least the native subscription's catch-up rate: NOT MET")
    results["copy"] = _result("copy", 8.0, 1000)
    results["subscription"] = _result("s", 5.0, 1000)
    lines = pg_bench.verdicts(results)
    assert "MET (80%" in lines[1] and "NOT" not in lines[1]
    assert "NOT" not in lines[2]


def test_quick_sizes_and_tool_names() -> None:
    args = pg_bench.parse_args(["--quick"])
    assert (args.rows, args.wide_rows, args.cdc_changes, args.runs) == (50_000, 5_000, 20_000, 1)
    assert args.tools == ["opendrs", "pg_dump", "pgcopydb", "copy", "opendrs-cdc", "subscription"]
    defaults = pg_bench.parse_args([])
    assert (defaults.rows, defaults.wide_rows, defaults.cdc_changes) == (2_000_000, 200_000, 500_000)
    with pytest.raises(SystemExit):
        pg_bench.parse_args(["--only", "mysqldump"])


def test_sbtest_rows_are_shared_with_the_mysql_bench(tmp_path: Path) -> None:
    path = tmp_path / "sb.tsv"
    mysql_data.write_sbtest_tsv(path, 10, seed=1)
    rnd_line = path.read_text().splitlines()[0].split("\t")
    assert rnd_line[0] == "1" and len(rnd_line[2]) == 119 and len(rnd_line[3]) == 59
