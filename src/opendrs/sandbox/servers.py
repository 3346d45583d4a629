"""Throwaway MariaDB, PostgreSQL and Redis servers for the demo, tests and bench (no Docker needed).

Why: OpenDRS talks to real databases, so its integration tests must too. Each class here
launches the installed server binary on a free loopback port inside its own temp dir, with
the settings CDC needs (MariaDB: ROW binlog + GTID strict mode; PostgreSQL: wal_level =
logical; Redis: no persistence), waits (bounded) until the server answers, and can stop,
SIGKILL and restart it for fault tests. On any start failure the error carries the tail of
the server log, and ``log_text()`` is there for failure reports.

Set ``OPENDRS_TEST_<ENGINE>_DSN`` (a URL such as ``mysql://root:pw@host:3306/``) and the
session fixtures use that existing server instead (see ``server_from_env``); such an
"external" server answers ``managed = False`` and refuses stop/kill/restart.

We run as root in CI: ``mariadbd`` gets ``--user=root``; PostgreSQL's ``initdb`` runs via
``runuser -u postgres`` and the postmaster is started with ``Popen(user="postgres")``
(runuser would fork and keep itself as the parent, so ``kill()`` would SIGKILL runuser
instead of the postmaster). Children get PR_SET_PDEATHSIG so they die with the test run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import quote, unquote, urlsplit

import psycopg
import pymysql
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from opendrs.sandbox.ports import LOOPBACK, free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
KEEP_ENV = "OPENDRS_TEST_KEEP_SERVERS"  # "1": leave temp dirs behind for post-mortems

MARIADB_PASSWORD = "rootpw"  # noqa: S105 - throwaway loopback servers only
POSTGRES_PASSWORD = "pgpw"  # noqa: S105
REDIS_PASSWORD = "redispw"  # noqa: S105

_PR_SET_PDEATHSIG = 1
# Log lines that mean "try the launch again" (port race, a SIGKILLed predecessor still exiting).
_TRANSIENT_START_ERRORS = ("still in use", "lock file", "unable to lock", "address in use")
_server_ids = itertools.count(1)
_live: weakref.WeakSet[BaseServer] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """The server did not answer in time or exited during startup; message has the log tail."""


class ExternalServerError(RuntimeError):
    """Lifecycle call on a server given by an ``OPENDRS_TEST_*_DSN`` URL, which we do not own."""


@dataclass(frozen=True)
class ServerURL:
    """Connection info parsed from ``scheme://user:password@host:port/database``."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str, *, default_port: int) -> ServerURL:
        parts = urlsplit(url)
        return cls(
            scheme=parts.scheme,
            host=parts.hostname or LOOPBACK,
            port=parts.port or default_port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")),
        )


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the server if the test process dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class BaseServer(ABC):
    """Lifecycle shared by all throwaway servers; subclasses supply command and ping."""

    engine: ClassVar[str]
    scheme: ClassVar[str]
    default_port: ClassVar[int]
    default_user: ClassVar[str]
    default_password: ClassVar[str]
    default_database: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(
        self,
        *,
        name: str | None = None,
        port: int | None = None,
        external: ServerURL | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.name = name or self.engine
        self.start_timeout = start_timeout
        self.external = external
        self.host = external.host if external else LOOPBACK
        self._fixed_port = port is not None or external is not None
        self.port = external.port if external else (port or free_port())
        self.user = external.user if external else self.default_user
        self.password = external.password if external else self.default_password
        self.database = (external.database if external else "") or self.default_database
        self.tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._initialized = False

    # --- public lifecycle -------------------------------------------------------------------

    @property
    def managed(self) -> bool:
        """True when this object launched (and may stop/kill) the server process."""
        return self.external is None

    @property
    def dsn(self) -> str:
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        if not self.managed:
            return True
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Launch (if needed) and block until the server answers; idempotent."""
        if not self.managed:
            self._wait_ready(None)
            return self
        if self.is_running():
            return self
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix=f"opendrs-{self.name}-"))
        if not self._initialized:
            self._initialize()
            self._initialized = True
        deadline = time.monotonic() + self.start_timeout
        for attempt in itertools.count():
            self._launch()
            try:
                self._wait_ready(deadline)
            except ServerStartError:
                log = self.log_text(200).lower()
                port_clash = "already in use" in log
                transient = port_clash or any(m in log for m in _TRANSIENT_START_ERRORS)
                if not transient or self.is_running() or time.monotonic() >= deadline or attempt >= 4:
                    self.kill()
                    raise
                if port_clash and not self._fixed_port:
                    self.port = free_port()
                time.sleep(0.5)  # e.g. orphaned backends of a SIGKILLed postmaster still exiting
                continue
            break
        _live.add(self)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Graceful shutdown (escalating to SIGKILL after ``timeout``)."""
        self._require_managed("stop")
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the server process (a crash, for fault tests) and reap it."""
        self._require_managed("kill")
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> Self:
        """Stop (if running) and start again on the same port with the same data."""
        self._require_managed("restart")
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its temp dir (unless OPENDRS_TEST_KEEP_SERVERS=1)."""
        if not self.managed:
            return
        self.stop()
        _live.discard(self)
        if self.tmpdir is not None and os.environ.get(KEEP_ENV) != "1":
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            self._initialized = False

    def log_text(self, lines: int = 80) -> str:
        """Tail of the server's log files (empty for external servers)."""
        chunks = []
        for path in self._log_paths():
            tail = _tail(path, lines)
            if tail:
                chunks.append(f"--- {path} ---\n{tail}")
        return "\n".join(chunks)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        kind = "managed" if self.managed else "external"
        return f"<{type(self).__name__} {self.name} {kind} {self.host}:{self.port}>"

    # --- subclass hooks ---------------------------------------------------------------------

    def _initialize(self) -> None:
        """One-time setup of ``self.tmpdir`` (data dir, config) before the first launch."""
        return

    @abstractmethod
    def _command(self) -> list[str]: ...

    @abstractmethod
    def _ping(self) -> None:
        """Raise if the server does not answer a trivial request yet."""

    def _after_ready(self) -> None:
        """Hook run once the server answers (e.g. bootstrap accounts)."""
        return

    def _log_paths(self) -> list[Path]:
        return [self._dir / "server.log"] if self.tmpdir else []

    def _popen_kwargs(self) -> dict[str, Any]:
        return {}

    # --- internals --------------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        assert self.tmpdir is not None, "server has no temp dir yet"
        return self.tmpdir

    def _require_managed(self, action: str) -> None:
        if not self.managed:
            raise ExternalServerError(f"cannot {action} {self!r}: it is an external server")

    def _launch(self) -> None:
        with open(self._dir / "server.log", "ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # Ctrl-C reaches pytest, which then stops us cleanly
                preexec_fn=_die_with_parent,  # launched from the main thread (pytest fixtures)
                **self._popen_kwargs(),
            )

    def _wait_ready(self, deadline: float | None) -> None:
        deadline = deadline or time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.managed and not self.is_running():
                raise ServerStartError(
                    f"{self!r} exited during startup (rc={self._proc and self._proc.returncode})\n" + self.log_text()
                )
            try:
                self._ping()
            except Exception as exc:  # noqa: BLE001 - any driver error just means "not ready yet"
                last_error = exc
                time.sleep(0.1)
                continue
            self._after_ready()
            return
        raise ServerStartError(
            f"{self!r} did not answer within {self.start_timeout:.0f}s (last error: {last_error})\n" + self.log_text()
        )


class MariaDBServer(BaseServer):
    """``mariadbd`` with ROW binlog, GTID strict mode and root/``rootpw`` over TCP and socket."""

    engine = "mariadb"
    scheme = "mysql"
    default_port = 3306
    default_user = "root"
    default_password = MARIADB_PASSWORD
    default_database = ""

    def __init__(self, *, server_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server_id = server_id or next(_server_ids)
        self._bootstrapped = not self.managed  # an external server's accounts are not ours to set

    @property
    def socket_path(self) -> Path:
        return self._dir / "mysqld.sock"

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """A PyMySQL connection over TCP as the admin user (autocommit)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "autocommit": True,
            "connect_timeout": 5,
        }
        params.update(kwargs)
        return pymysql.connect(**params)

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement as the admin user and return all rows."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _initialize(self) -> None:
        # The bootstrap occasionally fails on a machine under heavy load; a clean retry succeeds.
        for attempt in range(3):
            shutil.rmtree(self._dir / "data", ignore_errors=True)
            result = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self._dir / 'data'}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                    "--user=root",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                return
            time.sleep(1 + attempt)
        raise ServerStartError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def _command(self) -> list[str]:
        d = self._dir
        return [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={d / 'data'}",
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={d / 'mysqld.pid'}",
            f"--log-error={d / 'error.log'}",
            "--log-bin=mysql-bin",
            "--binlog-format=ROW",
            "--binlog-row-image=FULL",
            f"--server-id={self.server_id}",
            "--gtid-strict-mode=ON",
            "--log-slave-updates",
            "--skip-name-resolve",
            "--max-connect-errors=1000000",  # probes must never get 127.0.0.1 host-blocked
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--innodb-use-native-aio=0",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
        ]

    def _ping(self) -> None:
        if self._bootstrapped:
            conn = self.connect(connect_timeout=2)
        else:  # fresh datadir: root has no password yet, reachable on the socket
            conn = pymysql.connect(unix_socket=str(self.socket_path), user="root", connect_timeout=2)
        conn.ping()
        conn.close()

    def _after_ready(self) -> None:
        if self._bootstrapped:
            return
        conn = pymysql.connect(unix_socket=str(self.socket_path), user="root", autocommit=True)
        pw = conn.escape(self.password)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION sql_log_bin = 0")  # keep the binlog/GTID state pristine
                for host in ("localhost", "127.0.0.1", "::1", "%"):
                    cur.execute(f"CREATE USER IF NOT EXISTS 'root'@'{host}' IDENTIFIED BY {pw}")
                    cur.execute(f"ALTER USER 'root'@'{host}' IDENTIFIED BY {pw}")
                    cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION")
        finally:
            conn.close()
        self._bootstrapped = True
        self._ping()

    def _log_paths(self) -> list[Path]:
        return [self._dir / "error.log", self._dir / "server.log"] if self.tmpdir else []


def _postgres_bindir() -> Path:
    """Highest installed PostgreSQL version's bin dir (Debian layout)."""
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    if not dirs:
        raise ServerStartError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return Path(max(dirs, key=lambda d: float(Path(d).parent.name)))


class PostgresServer(BaseServer):
    """A postmaster with wal_level=logical, md5 auth (postgres/``pgpw``) and replication in hba."""

    engine = "postgres"
    scheme = "postgresql"
    default_port = 5432
    default_user = "postgres"
    default_password = POSTGRES_PASSWORD
    default_database = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM would wait for clients to leave
    os_user = "postgres"

    @property
    def datadir(self) -> Path:
        return self._dir / "data"

    @property
    def hba_path(self) -> Path:
        return self.datadir / "pg_hba.conf"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A psycopg connection as the admin user (autocommit)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
            "connect_timeout": 5,
            "autocommit": True,
        }
        params.update(kwargs)
        return psycopg.connect(**params)

    def execute(self, sql: str, params: Any = None, *, dbname: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as the admin user and return its rows (empty if none)."""
        with self.connect(dbname=dbname or self.database) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def add_hba_rule(self, line: str, *, first: bool = True) -> None:
        """Add a pg_hba.conf line (first match wins, so ``first`` puts it on top) and reload."""
        self._require_managed("edit pg_hba.conf of")
        lines = self.hba_path.read_text().splitlines()
        lines = [line, *lines] if first else [*lines, line]
        self.hba_path.write_text("\n".join(lines) + "\n")
        self.reload()

    def remove_hba_rule(self, line: str) -> None:
        self._require_managed("edit pg_hba.conf of")
        lines = [x for x in self.hba_path.read_text().splitlines() if x.strip() != line.strip()]
        self.hba_path.write_text("\n".join(lines) + "\n")
        self.reload()

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP the postmaster and wait until it logged the reload (hba/conf re-read)."""
        self._require_managed("reload")
        marker = "received SIGHUP, reloading configuration files"
        before = self.log_text(100_000).count(marker)
        assert self._proc is not None
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log_text(100_000).count(marker) <= before:
            if time.monotonic() > deadline:
                raise ServerStartError(f"{self!r} did not log a reload\n{self.log_text()}")
            time.sleep(0.05)
        time.sleep(0.1)  # the log line precedes load_hba() by a hair

    def _initialize(self) -> None:
        pw = pwd.getpwnam(self.os_user)
        os.chown(self._dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self._dir, 0o700)
        pwfile = self._dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        result = subprocess.run(
            [
                "runuser",
                "-u",
                self.os_user,
                "--",
                str(_postgres_bindir() / "initdb"),
                "-D",
                str(self.datadir),
                "--auth=md5",
                f"--username={self.default_user}",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=self._dir,
            check=False,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise ServerStartError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        hba = self.hba_path.read_text()
        rule = "host replication all 127.0.0.1/32 md5"
        if rule not in " ".join(hba.split()):
            self.hba_path.write_text(hba + rule + "\n")

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self._dir),
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "logging_collector": "off",
        }
        cmd = [str(_postgres_bindir() / "postgres"), "-D", str(self.datadir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.os_user, "group": self.os_user, "env": {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}}

    def _ping(self) -> None:
        with self.connect(connect_timeout=2) as conn:
            conn.execute("SELECT 1")


class RedisServer(BaseServer):
    """``redis-server`` without persistence, protected by ``requirepass`` (``redispw``)."""

    engine = "redis"
    scheme = "redis"
    default_port = 6379
    default_user = "default"
    default_password = REDIS_PASSWORD
    default_database = "0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client as the admin user."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "password": self.password,
            "socket_connect_timeout": 5,
            "socket_timeout": 5,
            "retry": Retry(NoBackoff(), 0),  # fail fast: tests poll, and kill servers on purpose
        }
        if self.user != "default":
            params["username"] = self.user
        params.update(kwargs)
        return redis.Redis(**params)

    def _command(self) -> list[str]:
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._dir),
            "--requirepass",
            self.password,
            "--daemonize",
            "no",
        ]

    def _ping(self) -> None:
        client = self.client(socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()


S = TypeVar("S", bound=BaseServer)


def server_from_env(cls: type[S], env_var: str, **kwargs: Any) -> S:
    """A not-yet-started server: the one named by ``$env_var`` (a URL) if set, else a new one."""
    url = os.environ.get(env_var)
    external = ServerURL.parse(url, default_port=cls.default_port) if url else None
    return cls(external=external, **kwargs)


@atexit.register
def _kill_leftovers() -> None:
    """Last resort for runs that skipped fixture teardown (e.g. a crash in a session hook)."""
    for server in list(_live):
        with contextlib.suppress(OSError, ExternalServerError):
            server.kill()


__all__ = [
    "MARIADB_PASSWORD",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "BaseServer",
    "ExternalServerError",
    "MariaDBServer",
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "ServerURL",
    "server_from_env",
]
