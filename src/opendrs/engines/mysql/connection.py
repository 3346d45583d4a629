"""PyMySQL connections for moving data: the value converters and session settings every reader
and writer of the MySQL engine shares.

Why one place: byte-exact copies depend on both ends agreeing on how values look in Python
(zero dates stay strings, TIME is a signed timedelta, DECIMAL stays ``Decimal``), on the
session time zone (``+00:00`` on both sides, so a TIMESTAMP is read and written as the same
UTC wall-clock and never shifted), and on a permissive ``sql_mode`` (so zero dates, negative
times and explicit zeros in AUTO_INCREMENT columns go through as they are).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import pymysql
import pymysql.converters as pmc
from pymysql.constants import FIELD_TYPE

from opendrs.engines.base import ConnectCode, EndpointConfig
from opendrs.engines.mysql.config import connect_args, ssl_context
from opendrs.engines.mysql.errors import translate
from opendrs.errors import DrsError, Transient

UTC_OFFSET: Final = "+00:00"
# Permissive: no STRICT_* (zero dates, negative/large TIME, truncation rules of the source's
# data), no NO_ZERO_DATE/NO_ZERO_IN_DATE; NO_AUTO_VALUE_ON_ZERO so an explicit 0 in an
# AUTO_INCREMENT column is stored as 0 instead of drawing a new value.
# ALLOW_INVALID_DATES: a source that stored '2020-02-30' (permissive modes) must get it back.
APPLY_SQL_MODE: Final = "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,ALLOW_INVALID_DATES"
MAX_PACKET: Final = 1 << 30  # client-side limit; the server's max_allowed_packet still applies
# Codes that mean "the server is (momentarily) not reachable": worth a retry.
_TRANSIENT_CODES: Final = frozenset({ConnectCode.NETWORK, ConnectCode.PORT_CLOSED, ConnectCode.CONNECTION_FAILED})


class MySQLEngineError(DrsError):
    """A MySQL engine step failed; the message says what and what to do (shown to the DBA)."""

    message = "%s"


class MySQLUnavailable(MySQLEngineError, Transient):
    """The server could not be reached; the supervisor may retry."""


def _keep_invalid(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a temporal decoder so an unparsable value (``0000-00-00``, ``2020-02-30``) comes
    back as the server's text instead of ``None`` (older PyMySQL and MySQLdb return None,
    which would silently turn a zero date into NULL on the target)."""

    def decode(raw: Any) -> Any:
        value = convert(raw)
        if value is None:
            return raw.decode("ascii") if isinstance(raw, bytes | bytearray) else raw
        return value

    decode.__name__ = f"keep_invalid_{getattr(convert, '__name__', 'convert')}"
    return decode


def decoders() -> dict[Any, Any]:
    """``conv`` for PyMySQL: its defaults with the temporal and decimal rules pinned explicitly."""
    conv: dict[Any, Any] = dict(pmc.conversions)
    conv[FIELD_TYPE.DATETIME] = _keep_invalid(pmc.convert_datetime)
    conv[FIELD_TYPE.TIMESTAMP] = _keep_invalid(pmc.convert_datetime)
    conv[FIELD_TYPE.DATE] = _keep_invalid(pmc.convert_date)
    conv[FIELD_TYPE.TIME] = _keep_invalid(pmc.convert_timedelta)  # signed: TIME is a duration
    conv[FIELD_TYPE.DECIMAL] = Decimal
    conv[FIELD_TYPE.NEWDECIMAL] = Decimal
    return conv


def connect(
    ep: EndpointConfig,
    *,
    database: str | None = None,
    streaming: bool = False,
    autocommit: bool = True,
    read_timeout: float | None = None,
) -> pymysql.connections.Connection[Any]:
    """Open a data connection: utf8mb4, pinned converters, session time zone ``+00:00`` and
    the permissive ``APPLY_SQL_MODE`` (for reads and writes alike).

    ``streaming`` makes unbuffered ``SSCursor`` the default cursor (rows are pulled from the
    socket as they are consumed; the connection is busy until the result is drained).
    ``read_timeout`` None waits as long as a query runs (full-table reads can be long).
    Raises ``MySQLUnavailable`` (retryable) or ``MySQLEngineError`` with a DBA-readable reason.
    """
    args = connect_args(ep)
    args.update(
        database=database if database is not None else (ep.db_name or None),
        autocommit=autocommit,
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        conv=decoders(),
        local_infile=True,
        max_allowed_packet=MAX_PACKET,
        # Run by PyMySQL on every (re)connect, so the settings cannot get lost. The
        # sql_mode matters for reads too: with ANSI_QUOTES ``SHOW CREATE`` prints "name"
        # instead of backquotes, and PAD_CHAR_TO_FULL_LENGTH changes CHAR values.
        init_command=f"SET SESSION time_zone='{UTC_OFFSET}', sql_mode='{APPLY_SQL_MODE}'",
        cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
    )
    try:
        if ep.ssl_link:
            args["ssl"] = ssl_context(ep)
        return pymysql.connect(**args)
    except pymysql.MySQLError as exc:
        result = translate(exc, ep)
        reason = f"cannot connect to MySQL at {ep.where}: {result.error_msg}"
        if result.error_code in _TRANSIENT_CODES:
            raise MySQLUnavailable(reason, detail=result.detail) from exc
        raise MySQLEngineError(reason, detail=result.detail) from exc
    except OSError as exc:  # TLS setup (bad CA PEM) or a socket error outside PyMySQL's wrapping
        raise MySQLUnavailable(f"cannot connect to MySQL at {ep.where}: {exc}") from exc


def session_for_apply(conn: pymysql.connections.Connection[Any], *, full_load: bool = False) -> None:
    """Target writer settings: permissive sql_mode, UTC, no FK checks; ``unique_checks=0`` on a full load.

    ``full_load`` also turns off secondary unique checks (InnoDB may then skip reading the
    index to check uniqueness): only for loading rows that were unique on the source into
    tables that were empty. Binary logging stays ON (``sql_log_bin`` untouched): the target
    may feed its own replicas.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SET SESSION sql_mode=%s, time_zone=%s, foreign_key_checks=0, unique_checks=%s",
            (APPLY_SQL_MODE, UTC_OFFSET, 0 if full_load else 1),
        )


__all__ = [
    "APPLY_SQL_MODE",
    "MAX_PACKET",
    "UTC_OFFSET",
    "MySQLEngineError",
    "MySQLUnavailable",
    "connect",
    "decoders",
    "session_for_apply",
]

