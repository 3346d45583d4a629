"""The metadata store on both backends: migrations, jobs, events, optimistic locking, a server on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from harness import PostgresServer
from opendrs.crypto import SecretBox
from opendrs.errors import TaskBusy
from opendrs.jobs.model import Job, new_job_id
from opendrs.jobs.states import JobStatus
from opendrs.store.db import Store
from opendrs.store.identity import IdentityRepo
from opendrs.store.repo import JobFilter, JobRepo


def _pg_database(server: PostgresServer) -> str:
    name = f"store_{uuid.uuid4().hex[:8]}"
    server.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = _pg_database(request.getfixturevalue("postgres_server"))
    st = Store(url)
    st.migrate()
    st.migrate()  # idempotent
    yield st
    st.dispose()


def _job(project: str, name: str) -> Job:
    return Job(id=new_job_id(), project_id=project, name=name, status=JobStatus.CREATING, db_use_type="sync",
               engine_type="mysql", job_direction="up", task_type="FULL_INCR_TRANS", net_type="eip",
               config={"source_endpoint": {"db_type": "mysql", "ip": "h"}}, runtime={})


def test_schema_and_round_trip(store: Store) -> None:
    assert {"jobs", "job_events", "credentials", "users", "projects", "checkpoints", "alembic_version"} <= set(
        inspect(store.engine).get_table_names())
    with store.session() as s:
        repo = JobRepo(s)
        a, b = _job("p1", "alpha"), _job("p1", "beta")
        repo.add(a)
        repo.add(b)
        repo.add(_job("p2", "alpha"))
        repo.add_event(a.id, None, "CREATING", "create", "test")
    with store.session() as s:
        repo = JobRepo(s)
        got = repo.get(a.id, "p1")
        assert got is not None and got.config == {"source_endpoint": {"db_type": "mysql", "ip": "h"}}
        assert repo.get(a.id, "p2") is None
        total, jobs = repo.list("p1", JobFilter(sort_key="name", descending=False))
        assert total == 2 and [j.name for j in jobs] == ["alpha", "beta"]
        assert repo.name_taken("p1", "alpha") and not repo.name_taken("p3", "alpha")
        assert [e.action for e in repo.events(a.id)] == ["create"]


def test_stale_writer_gets_task_busy(store: Store) -> None:
    with store.session() as s:
        job = _job("p1", "gamma")
        JobRepo(s).add(job)
    with store.session() as s1:
        first = JobRepo(s1).get(job.id)
    with store.session() as s2:
        second = JobRepo(s2).get(job.id)
        assert second is not None
        second.description = "second wins"
        JobRepo(s2).save(second)
    assert first is not None
    first.description = "first is stale"
    with pytest.raises(TaskBusy), store.session() as s3:
        JobRepo(s3).save(first)
    with store.session() as s4:
        final = JobRepo(s4).get(job.id)
        assert final is not None and final.description == "second wins"


def test_credentials_are_sealed(store: Store, tmp_path: Path) -> None:
    box = SecretBox.from_data_dir(tmp_path / "keys")
    with store.session() as s:
        repo = IdentityRepo(s, box)
        pid = repo.ensure_project(None, "team")
        ak, sk = repo.create_credential(pid)
    with store.engine.connect() as conn:
        raw = str(list(conn.exec_driver_sql("SELECT * FROM credentials")))
    assert sk not in raw
    with store.session() as s:
        assert IdentityRepo(s, box).secret_for(ak) == (sk, pid)
