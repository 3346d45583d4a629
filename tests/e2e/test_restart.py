"""A server restart (graceful or kill -9) keeps every task, its status, events and credentials."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_helpers import ServerHandle, create_task, wait_status

from opendrs.jobs.context import Services
from opendrs.settings import Settings
from opendrs.store.repo import JobRepo


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "kill-9"])
def test_restart_keeps_tasks(fresh_server: Callable[..., ServerHandle], hard: bool) -> None:
    server = fresh_server()
    with server.client() as c:
        kept = create_task(c)
        stopped = create_task(c)
        c.call("DELETE", "/v3/{project_id}/jobs/batch-jobs",
               {"jobs": [{"delete_type": "terminate", "job_id": stopped}]})
        wait_status(c, stopped, "RELEASE_RESOURCE_COMPLETE")
        c.call("PUT", "/v3/{project_id}/jobs/batch-modification",
               {"jobs": [{"job_id": kept, "description": "before restart"}]})
    server.restart(hard=hard)
    with server.client() as c:
        results = c.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [kept, stopped]})["results"]
        assert [r["status"] for r in results] == ["CONFIGURATION", "RELEASE_RESOURCE_COMPLETE"]
        assert results[0]["description"] == "before restart"
        assert results[0]["source_endpoint"]["db_password"] == "******"
    svc = Services.build(Settings(data_dir=server.data_dir))
    with svc.store.session() as s:
        events = JobRepo(s).events(stopped)
    svc.store.dispose()
    assert [e.to_status for e in events] == [
        "CREATING", "CONFIGURATION", "RELEASE_RESOURCE_STARTED", "RELEASE_RESOURCE_COMPLETE"]


def test_creating_task_is_provisioned_after_a_crash(fresh_server: Callable[..., ServerHandle]) -> None:
    """A task stored as CREATING when the server died is provisioned by the next start."""
    server = fresh_server()
    server.kill()
    svc = Services.build(Settings(data_dir=server.data_dir))
    from opendrs.jobs.model import Job, new_job_id
    from opendrs.jobs.states import JobStatus

    job = Job(id=new_job_id(), project_id=server.project_id, name="crashed_while_creating",
              status=JobStatus.CREATING, db_use_type="sync", engine_type="mysql", job_direction="up",
              task_type="FULL_INCR_TRANS", net_type="eip",
              config={"source_endpoint": {"db_type": "mysql"}, "target_endpoint": {"db_type": "mysql"}})
    with svc.store.session() as s:
        JobRepo(s).add(job)
    svc.store.dispose()
    server.start()
    with server.client() as c:
        wait_status(c, job.id, "CONFIGURATION")
