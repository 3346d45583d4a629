"""Throwaway local database servers (MariaDB, PostgreSQL, Redis) for the demo, the tests and bench.

Used by ``opendrs demo``, by the test fixtures (``tests/harness`` re-exports it) and by the
benchmark kit, so all three start databases the same way.
"""

from __future__ import annotations

from opendrs.sandbox.ports import closed_port, free_port
from opendrs.sandbox.servers import *  # noqa: F403 - the package's face is servers.py
from opendrs.sandbox.servers import __all__ as _servers_all

__all__ = [*_servers_all, "closed_port", "free_port"]
