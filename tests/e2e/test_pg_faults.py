"""Faults on purpose for a PostgreSQL task: connections cut by a TCP proxy, the target unreachable.

The task sees the source and the target only through proxies; the test writes straight to the
source all along. After the faults the target must equal the source (md5 of every row per
table), the task must still be in INCRE_TRANSFER_STARTED with no failure, the slot must have
confirmed past its start, and stopping must drop slot and publication.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from e2e_helpers import ServerHandle, wait_status
from pg_helpers import (
    connect,
    create_db,
    default_slot,
    new_db,
    publication_exists,
    run,
    slot_state,
    start_pg_task,
    stop_task,
    wait_equal,
    wait_slot_beyond,
)

from harness import PostgresServer, ServerURL
from harness.proxy import TcpProxy

RETRY_LOG = "transient failure, retrying"


@pytest.fixture
def server(fresh_server: Callable[..., ServerHandle]) -> ServerHandle:
    return fresh_server()


def behind(proxy: TcpProxy, real: PostgresServer) -> PostgresServer:
    """The server as the task sees it: through ``proxy``."""
    return PostgresServer(external=ServerURL.parse(
        f"postgresql://{real.user}:{real.password}@127.0.0.1:{proxy.port}/postgres", default_port=5432))


@contextmanager
def writer(server: PostgresServer, db: str, first_id: int = 100000) -> Iterator[dict[str, Any]]:
    """Small mixed transactions (keyed and keyless tables) until the block ends; it talks to the source
    directly and stops at the first error (the source must not go away while it runs)."""
    stop = threading.Event()
    state: dict[str, Any] = {"txns": 0, "error": None}

    def run_() -> None:
        i = 0
        try:
            with connect(server, db) as conn:
                while not stop.is_set():
                    i += 1
                    with conn.transaction():
                        conn.execute("UPDATE t SET n = n + 1, v = repeat('w', %s) WHERE id = %s",
                                     (i % 3000, (i * 7919) % 20000 + 1))
                        conn.execute("INSERT INTO t VALUES (%s, 'new', 0)", (first_id + i,))
                        conn.execute("DELETE FROM t WHERE id = %s", ((i * 104729) % 20000 + 1,))
                        conn.execute("INSERT INTO k VALUES (%s, 'w')", (i % 100,))
                    state["txns"] += 1
                    time.sleep(0.005)
        except psycopg.Error as exc:  # pragma: no cover - reported by the test
            state["error"] = exc

    thread = threading.Thread(target=run_, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(15)
    assert state["error"] is None, state["error"]


def test_cut_source_connections_and_unreachable_target(server: ServerHandle, postgres_server: PostgresServer,
                                                       postgres_target: PostgresServer) -> None:
    db = new_db("pgcut")
    create_db(postgres_server, db, "CREATE TABLE t (id int PRIMARY KEY, v text, n int);"
                                   "CREATE TABLE k (a int, b text); ALTER TABLE k REPLICA IDENTITY FULL;",
              postgres_target)
    run(postgres_server, db, "INSERT INTO t SELECT g, 'v' || g, 0 FROM generate_series(1, 20000) g")
    run(postgres_server, db, "INSERT INTO k SELECT g % 100, 'b' FROM generate_series(1, 1000) g")
    with TcpProxy(postgres_server.host, postgres_server.port, lifetime=300) as src_proxy, \
            TcpProxy(postgres_target.host, postgres_target.port, lifetime=300) as dst_proxy, \
            server.client() as http:
        with writer(postgres_server, db) as writes:
            job_id = start_pg_task(http, behind(src_proxy, postgres_server), behind(dst_proxy, postgres_target), db,
                                   full_sync={"write_batch_rows": "100", "parallel_tables": "1"})
            wait_status(http, job_id, "FULL_TRANSFER_STARTED", timeout=60)
            time.sleep(0.5)
            src_proxy.cut()  # in the load (or just after it: the load may be quick on an idle machine)
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=180)
            slot = default_slot(job_id)
            started = slot_state(postgres_server, slot)
            assert started is not None
            cuts = 0
            for _ in range(2):
                time.sleep(1.5)
                deadline = time.monotonic() + 30
                while src_proxy.live_connections == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)  # the stream is (re)connecting
                cuts += src_proxy.cut()  # the replication stream at least
            assert cuts >= 1
            # The target is unreachable for a while: apply retries, capture waits, nothing is lost.
            dst_proxy.block()
            dst_proxy.cut()
            time.sleep(8)
            dst_proxy.unblock()
            time.sleep(1.0)
        assert writes["txns"] > 100, writes
        wait_equal(postgres_server, postgres_target, db, timeout=180, log=server.log_text)
        detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
        assert detail["status"] == "INCRE_TRANSFER_STARTED" and not detail.get("failed_reason"), detail
        wait_slot_beyond(postgres_server, slot, started[0])
        stop_task(http, job_id)
    assert server.log_path is not None and RETRY_LOG in server.log_path.read_text(errors="replace")
    assert slot_state(postgres_server, slot) is None
    assert not publication_exists(postgres_server, db, slot)


def test_source_restart_during_cdc(server: ServerHandle, postgres_target: PostgresServer) -> None:
    """A private source server is restarted (fast shutdown) while CDC runs and writes continue after it."""
    db = new_db("pgrst")
    with PostgresServer(name="pg-restart-source") as source:
        create_db(source, db, "CREATE TABLE t (id int PRIMARY KEY, v text, n int);"
                              "CREATE TABLE k (a int, b text); ALTER TABLE k REPLICA IDENTITY FULL;", postgres_target)
        run(source, db, "INSERT INTO t SELECT g, 'v' || g, 0 FROM generate_series(1, 20000) g")
        with server.client() as http:
            job_id = start_pg_task(http, source, postgres_target, db)
            wait_status(http, job_id, "INCRE_TRANSFER_STARTED", timeout=120)
            slot = default_slot(job_id)
            started = slot_state(source, slot)
            assert started is not None
            with writer(source, db) as before:
                time.sleep(2)
            source.restart()
            with writer(source, db, first_id=500000) as after:
                time.sleep(2)
            assert before["txns"] > 10 and after["txns"] > 10, (before, after)
            wait_equal(source, postgres_target, db, timeout=180, log=server.log_text)
            detail = http.call("POST", "/v3/{project_id}/jobs/batch-detail", {"jobs": [job_id]})["results"][0]
            assert detail["status"] == "INCRE_TRANSFER_STARTED" and not detail.get("failed_reason"), detail
            wait_slot_beyond(source, slot, started[0])
            stop_task(http, job_id)
        assert slot_state(source, slot) is None
    assert server.log_path is not None and RETRY_LOG in server.log_path.read_text(errors="replace")
