"""A server whose metadata store is PostgreSQL keeps its tasks across a restart."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from e2e_helpers import ServerHandle, create_task

from harness import PostgresServer


def test_server_on_a_postgresql_store(postgres_server: PostgresServer,
                                      fresh_server: Callable[..., ServerHandle]) -> None:
    name = f"meta_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{postgres_server.user}:{postgres_server.password}@127.0.0.1:{postgres_server.port}/{name}"
    server = fresh_server(store_url=url)
    with server.client() as c:
        job_id = create_task(c)
    server.restart()
    with server.client() as c:
        status = c.call("POST", "/v3/{project_id}/jobs/batch-status", {"jobs": [job_id]})["results"][0]
    assert status["status"] == "CONFIGURATION"
    assert not (server.data_dir / "opendrs.db").exists()
