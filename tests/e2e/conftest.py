"""A live ``opendrs serve`` subprocess and clients for it: the official SDK and a signed HTTP client."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ServerHandle, make_sdk_client

from opendrs.client import DrsHttpClient


@pytest.fixture(scope="session")
def api_server() -> Iterator[ServerHandle]:
    """One server for the session (tests must not depend on a clean task list)."""
    tmp = Path(tempfile.mkdtemp(prefix="opendrs-e2e-"))
    server = ServerHandle(data_dir=tmp / "data")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., ServerHandle]]:
    """Factory for a private server (restart/kill tests); all are stopped at teardown."""
    made: list[ServerHandle] = []
    tmp = Path(tempfile.mkdtemp(prefix="opendrs-e2e-fresh-"))

    def make(**kwargs: Any) -> ServerHandle:
        server = ServerHandle(data_dir=tmp / f"data{len(made)}", **kwargs)
        server.start()
        made.append(server)
        return server

    yield make
    for s in made:
        s.kill()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def http(api_server: ServerHandle) -> Iterator[DrsHttpClient]:
    """Signed raw HTTP client: ``http.request(method, "/v3/{project_id}/...", body)``."""
    with api_server.client() as c:
        yield c


@pytest.fixture
def sdk(api_server: ServerHandle) -> Any:
    """The official huaweicloudsdkdrs v3 client, AK/SK-signed, against the live server."""
    return make_sdk_client(api_server, "v3")


@pytest.fixture
def sdk5(api_server: ServerHandle) -> Any:
    """The official huaweicloudsdkdrs v5 client."""
    return make_sdk_client(api_server, "v5")
