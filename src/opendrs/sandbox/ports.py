"""Loopback port helpers for tests that launch servers or probe for refused connections.

``free_port`` asks the kernel for an ephemeral port that nobody is using right now (there
is a small race until the server binds it; the server launcher retries on a clash).
``closed_port`` returns a port that is *guaranteed* to refuse connections for the life of
the test process: the port is bound by a socket that never listens, so no other process
can take it and a TCP connect gets an immediate RST ("connection refused").
"""

from __future__ import annotations

import socket
import threading

LOOPBACK = "127.0.0.1"

# Sockets that keep their ports reserved (bound, never listening) until the process exits.
_reserved: list[socket.socket] = []
_reserved_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free at the moment of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that refuses connections until this process exits."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    with _reserved_lock:
        _reserved.append(sock)
    port: int = sock.getsockname()[1]
    return port
