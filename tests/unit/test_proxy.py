"""The fault-test TCP proxy does what the fault tests rely on: forward bytes, cut, refuse, stop.

Why: a proxy that silently failed to cut (or to forward) would make every "source connection
cut" test pass without any fault having happened. Runs against a trivial echo server on
loopback (no database, no external I/O).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from harness.proxy import TcpProxy


class _EchoServer:
    """Echoes every byte back on each connection, one daemon thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: _EchoServer) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo.port, lifetime=60) as p:
        yield p


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    received = bytearray()
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    while len(received) < len(payload):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    sender.join()
    return bytes(received)


def test_forwards_bytes_both_ways_unchanged(proxy: TcpProxy) -> None:
    payload = os.urandom(5 * 1024 * 1024)  # larger than any socket buffer: exercises partial sends
    with _connect(proxy.port) as sock:
        assert _roundtrip(sock, payload) == payload
    assert proxy.connections_total == 1


def test_cut_resets_every_live_connection(proxy: TcpProxy) -> None:
    socks = [_connect(proxy.port) for _ in range(3)]
    for s in socks:
        assert _roundtrip(s, b"ping") == b"ping"
    assert proxy.live_connections == 3
    assert proxy.cut() == 3
    for s in socks:
        with s, pytest.raises(ConnectionResetError):
            s.recv(10)
    assert proxy.live_connections == 0
    # New connections work again right after a cut.
    with _connect(proxy.port) as sock:
        assert _roundtrip(sock, b"again") == b"again"


def test_cut_is_an_abrupt_reset_not_an_orderly_close(proxy: TcpProxy) -> None:
    with _connect(proxy.port) as sock:
        assert _roundtrip(sock, b"x") == b"x"
        proxy.cut()
        with pytest.raises(ConnectionResetError):
            sock.recv(10)


def test_block_refuses_then_unblock_accepts_on_the_same_port(proxy: TcpProxy) -> None:
    port = proxy.port
    live = _connect(port)
    assert _roundtrip(live, b"before") == b"before"
    proxy.block()
    with pytest.raises(ConnectionRefusedError):
        _connect(port)
    assert _roundtrip(live, b"kept") == b"kept", "block() must not touch live connections"
    proxy.unblock()
    assert proxy.port == port
    with _connect(port) as sock:
        assert _roundtrip(sock, b"after") == b"after"
    live.close()


def test_upstream_down_looks_like_a_dropped_connection() -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    with TcpProxy("127.0.0.1", dead_port, lifetime=30) as proxy:
        try:
            with _connect(proxy.port) as sock:
                data = sock.recv(10)
        except ConnectionResetError:  # the reset may already hit the client's connect()
            data = b""
        assert data == b""
        assert proxy.connections_total == 0


def test_stop_closes_everything_and_frees_the_port(echo: _EchoServer) -> None:
    proxy = TcpProxy("127.0.0.1", echo.port, lifetime=30).start()
    sock = _connect(proxy.port)
    assert _roundtrip(sock, b"x") == b"x"
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy.port)
    with pytest.raises(ConnectionResetError):
        sock.recv(10)
    sock.close()


def test_stops_by_itself_after_its_lifetime(echo: _EchoServer) -> None:
    proxy = TcpProxy("127.0.0.1", echo.port, lifetime=0.5).start()
    sock = _connect(proxy.port)
    assert _roundtrip(sock, b"x") == b"x"
    deadline = time.monotonic() + 5
    while proxy.live_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.live_connections == 0
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy.port)
    sock.close()


def test_refuses_connections_beyond_the_limit(echo: _EchoServer) -> None:
    with TcpProxy("127.0.0.1", echo.port, lifetime=30, max_connections=2) as proxy:
        first, second = _connect(proxy.port), _connect(proxy.port)
        assert _roundtrip(first, b"1") == b"1"
        assert _roundtrip(second, b"2") == b"2"
        with _connect(proxy.port) as third:
            assert third.recv(10) == b""  # accepted and closed at once
        assert proxy.connections_total == 2
        first.close()
        second.close()
