"""The comparison store (migration 0002 + CompareRepo) on SQLite and PostgreSQL, and restart recovery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from harness import PostgresServer
from opendrs.crypto import SecretBox
from opendrs.jobs.compare import CompareService, CompareStatus
from opendrs.jobs.context import Services
from opendrs.settings import Settings
from opendrs.store.compare_repo import CompareRepo, CompareRun, DiffRecord, ObjectRecord, TableOutcome, TableQuery
from opendrs.store.db import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"cmpstore_{uuid.uuid4().hex[:8]}"
        server.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/{name}"
    st = Store(url)
    st.migrate()
    st.migrate()  # idempotent
    yield st
    st.dispose()


def _run(kind: str = "contents", status: str = CompareStatus.WAITING, at: int = 1000) -> CompareRun:
    return CompareRun(id=str(uuid.uuid4()), job_id="job-1", project_id="p1", kind=kind, status=status,
                      create_time=at, start_time=at, objects=[{"db_name": "d", "table_name": ["t"]}],
                      options={"contentCompareType": "static"})


def _diff(kind: str, key: str) -> DiffRecord:
    return DiffRecord(kind=kind, key_columns=["id"], key=[key], source_row=None if kind == "extra" else {"id": key},
                      target_row=None if kind == "missing" else {"id": key}, source_sql="SELECT 1",
                      target_sql="SELECT 2")


def test_tables_exist_after_migration(store: Store) -> None:
    assert {"compare_jobs", "compare_tables", "compare_diffs", "compare_objects"} <= set(
        inspect(store.engine).get_table_names())


def test_runs_tables_diffs_and_objects_round_trip(store: Store) -> None:
    old, new = _run(at=1000), _run("objects", at=2000)
    with store.session() as s:
        repo = CompareRepo(s)
        repo.add(old)
        repo.add(new)
        repo.plan_tables(old.id, [TableOutcome("d", "a", "d2", "a"), TableOutcome("d", "b", "d2", "b")])
    with store.session() as s:
        repo = CompareRepo(s)
        total, runs = repo.list("job-1")
        assert total == 2 and [r.id for r in runs] == [new.id, old.id]  # newest first
        assert repo.latest("job-1", "objects") == new
        got = repo.get(old.id, "job-1")
        assert got is not None and got.objects == old.objects and got.options == old.options
        assert got.tables_total == 2 and got.tables_done == 0
        assert repo.get(old.id, "another-job") is None
        # A provisional report, then the final one: counted done once, diffs replaced.
        repo.put_table(old.id, TableOutcome("d", "a", "d2", "a", status="running"), [])
        repo.put_table(old.id, TableOutcome("d", "a", "d2", "a", status="inconsistent", diff_count=3),
                       [_diff("missing", "1"), _diff("extra", "2")])
        repo.put_table(old.id, TableOutcome("d", "a", "d2", "a", status="inconsistent", diff_count=3),
                       [_diff("missing", "1"), _diff("extra", "2"), _diff("changed", "3")])
    with store.session() as s:
        repo = CompareRepo(s)
        run = repo.get(old.id)
        assert run is not None and run.tables_done == 1
        total, kinds, rows = repo.diffs(old.id, "d", "a", 1, 10)
        assert (total, kinds) == (3, {"missing": 1, "extra": 1, "changed": 1})
        assert [r.key for r in rows] == [["2"], ["3"]] and rows[0].source_table == "a"
        count, tables = repo.tables(old.id, TableQuery(statuses=("waiting",)))
        assert count == 1 and tables[0].source_table == "b"
        assert repo.tables(old.id, TableQuery(table_like="a"))[0] == 1
        repo.finish_waiting(old.id, "cancelled", "stopped")
        repo.put_objects(new.id, [ObjectRecord("INDEX", "d", "d2", "idx", None, "missing"),
                                  ObjectRecord("TABLE", "d", "d2", "a", "a", "consistent")])
    with store.session() as s:
        repo = CompareRepo(s)
        assert [t.status for t in repo.tables(old.id)[1]] == ["inconsistent", "cancelled"]
        count, objects = repo.objects(new.id, "INDEX")
        assert count == 1 and objects[0].target_value is None


def test_status_changes_are_compare_and_set(store: Store) -> None:
    run = _run()
    with store.session() as s:
        CompareRepo(s).add(run)
    with store.session() as s:
        repo = CompareRepo(s)
        assert repo.set_status(run.id, CompareStatus.CANCELLED, only_from=["WAITING_FOR_RUNNING", "RUNNING"])
        # A worker finishing after the cancel must not overwrite it.
        assert not repo.set_status(run.id, CompareStatus.SUCCESSFUL, only_from=["RUNNING"])
        repo.set_export(run.id, "EXPORT_COMPLETE", 1234)
    with store.session() as s:
        got = CompareRepo(s).get(run.id)
        assert got is not None and (got.status, got.export_status, got.export_time) == (
            "CANCELLED", "EXPORT_COMPLETE", 1234)
        assert got.finished


def test_restart_fails_running_runs_and_keeps_scheduled_ones(store: Store, tmp_path: Path) -> None:
    running, waiting = _run(status=CompareStatus.RUNNING), _run(status=CompareStatus.WAITING, at=9_999_999_999_999)
    with store.session() as s:
        repo = CompareRepo(s)
        repo.add(running)
        repo.add(waiting)
        repo.plan_tables(running.id, [TableOutcome("d", "a", "d", "a")])
    svc = Services(settings=Settings(data_dir=tmp_path), store=store, box=SecretBox.from_data_dir(tmp_path, None))
    CompareService(svc).recover()
    with store.session() as s:
        repo = CompareRepo(s)
        failed, kept = repo.get(running.id), repo.get(waiting.id)
        assert failed is not None and failed.status == "FAILED" and "server restart" in failed.error_msg
        assert failed.end_time is not None
        assert kept is not None and kept.status == "WAITING_FOR_RUNNING"
        assert [t.status for t in repo.tables(running.id)[1]] == ["cancelled"]
