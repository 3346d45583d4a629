"""A small threaded TCP proxy on loopback, for fault tests that break a database connection on purpose.

Why: "the network dropped the source connection" is the most common fault a replication task
meets, and the only faithful way to produce it is to own the socket in between. A task's
endpoint points at ``TcpProxy.port``; the test then calls ``cut()`` (every live connection is
reset at once, as a NAT or a firewall would do it) or ``block()`` / ``unblock()`` (the port
refuses new connections, as a host that is down does, while existing ones are left alone).

Bounded by construction: at most ``max_connections`` live connections (two daemon threads
each), every thread polls its stop flag at least every ``POLL_S`` seconds, and the proxy
stops itself after ``lifetime`` seconds even if a test forgets to -- use it as a context
manager or a fixture so it stops at test end.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Final, Self

log = logging.getLogger("harness.proxy")

POLL_S: Final = 0.1
CHUNK: Final = 256 * 1024
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


class _Pipe:
    """One proxied connection: a client socket, an upstream socket and a pump thread per direction."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.closed = threading.Event()
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self.bytes_up = 0
        self.bytes_down = 0

    def start(self, name: str) -> None:
        for src, dst, up in ((self.client, self.upstream, True), (self.upstream, self.client, False)):
            threading.Thread(target=self._pump, args=(src, dst, up), name=name, daemon=True).start()

    def abort(self) -> None:
        """Ask the pumps to reset both sockets; they do it within ``POLL_S``."""
        self._abort.set()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while not self._abort.is_set() and not self.closed.is_set():
                readable, _, _ = select.select([src], [], [], POLL_S)
                if not readable:
                    continue
                try:
                    data = src.recv(CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    break  # orderly close by one side: close the other side too
                if not self._send(dst, data):
                    break
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
        except (OSError, ValueError):  # ValueError: select() on a socket the other pump closed
            pass
        finally:
            self._close(reset=self._abort.is_set())

    def _send(self, dst: socket.socket, data: bytes) -> bool:
        """Send everything unless aborted; a peer that reads slowly is waited for (never timed out)."""
        view = memoryview(data)
        while view:
            if self._abort.is_set() or self.closed.is_set():
                return False
            _, writable, _ = select.select([], [dst], [], POLL_S)
            if writable:
                try:
                    view = view[dst.send(view):]
                except BlockingIOError:
                    continue
        return True

    def _close(self, reset: bool) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            for sock in (self.client, self.upstream):
                try:
                    if reset:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                    sock.close()
                except OSError:
                    log.debug("closing a proxied socket failed", exc_info=True)
            self.closed.set()


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port``; can cut and refuse connections.

    ``port`` is fixed at construction (a free loopback port, or the one given) and stays the
    same across ``block()`` / ``unblock()``.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0, lifetime: float = 900.0,
                 max_connections: int = 64, connect_timeout: float = 5.0) -> None:
        self.target = (target_host, target_port)
        self.lifetime = lifetime
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.connections_total = 0
        self.cuts = 0
        self._pipes: list[_Pipe] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._blocked = threading.Event()
        self._listening = threading.Event()  # the listener is open (set/cleared by the accept thread)
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = self._listen(port)
        self.port: int = self._listener.getsockname()[1]

    # --- public -------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            return self
        self._deadline = time.monotonic() + self.lifetime
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def cut(self, timeout: float = 5.0) -> int:
        """Reset every live connection (RST both ways); returns how many were cut."""
        with self._lock:
            live = [p for p in self._pipes if not p.closed.is_set()]
        for pipe in live:
            pipe.abort()
        deadline = time.monotonic() + timeout
        for pipe in live:
            pipe.closed.wait(max(0.0, deadline - time.monotonic()))
        self.cuts += len(live)
        return len(live)

    def block(self, timeout: float = 5.0) -> None:
        """Close the listening port: new connections are refused; live ones are not touched."""
        self._blocked.set()
        self._wait_listening(False, timeout)

    def unblock(self, timeout: float = 5.0) -> None:
        """Listen again on the same port."""
        self._blocked.clear()
        self._wait_listening(True, timeout)

    @property
    def live_connections(self) -> int:
        with self._lock:
            return sum(1 for p in self._pipes if not p.closed.is_set())

    def stop(self) -> None:
        """Stop accepting, reset every connection, and wait for the accept thread (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        else:
            self._close_listener()
        self.cut(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TcpProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]}>"

    # --- internals ------------------------------------------------------------------------------
    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        return sock

    def _wait_listening(self, wanted: bool, timeout: float) -> None:
        if self._thread is None:
            raise RuntimeError(f"{self!r} is not started")
        deadline = time.monotonic() + timeout
        while self._listening.is_set() != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self!r} did not {'listen' if wanted else 'stop listening'} in {timeout}s")
            time.sleep(POLL_S / 4)

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._listening.clear()

    def _serve(self) -> None:
        """The accept thread owns the listener: it closes and reopens it for block/unblock."""
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                if self._blocked.is_set():
                    self._close_listener()
                    time.sleep(POLL_S / 4)
                    continue
                if self._listener is None:
                    self._listener = self._listen(self.port)
                self._listening.set()
                readable, _, _ = select.select([self._listener], [], [], POLL_S)
                if readable:
                    client, _ = self._listener.accept()
                    self._accept(client)
        finally:
            self._close_listener()
            if not self._stop.is_set():
                log.warning("%r stopped itself after its lifetime of %.0fs", self, self.lifetime)
                self._stop.set()
                self.cut(timeout=2)

    def _accept(self, client: socket.socket) -> None:
        with self._lock:
            self._pipes = [p for p in self._pipes if not p.closed.is_set()]
            full = len(self._pipes) >= self.max_connections
        if full:
            log.warning("%r: %d live connections, refusing one more", self, self.max_connections)
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            # The upstream is down: reset the client as a refused connection would look to it.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            client.close()
            return
        for sock in (client, upstream):  # non-blocking: a pump never waits longer than POLL_S
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe = _Pipe(client, upstream)
        with self._lock:
            self._pipes.append(pipe)
            self.connections_total += 1
        pipe.start(f"proxy-{self.port}-pipe")


__all__ = ["TcpProxy"]
