"""Where a MySQL/MariaDB change stream is: a binlog file and offset, plus the GTID set there.

Why a value object: the position is what the pipeline checkpoints in the target (in the same
transaction as the data it covers) and what a task resumes from, so it must round-trip
through a versioned dict exactly and refuse garbage loudly rather than resume from the wrong
place. ``file``/``pos`` is the coordinate the binlog reader actually uses (it works on every
MySQL and MariaDB, GTID mode or not); ``gtid_set`` is carried along so a DBA (or a task
started from ``gtid_set`` per spec 4.3.2) can relate it to the server's own GTID state.

MariaDB GTIDs are ``domain-server-seq``; a GTID position lists one per replication domain,
comma-separated, and after a transaction the position is the previous one with that domain's
entry replaced. MySQL GTID sets (``uuid:1-5:7,uuid2:1-3``) are accepted and maintained too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pymysql  # type: ignore[import-untyped,unused-ignore]

from opendrs.errors import DrsError

POSITION_VERSION: Final = 1
_FILE_RE: Final = re.compile(r"^(?P<base>[A-Za-z0-9_.\-]+)\.(?P<seq>\d+)$")
_MARIADB_GTID_RE: Final = re.compile(r"^(\d{1,10})-(\d{1,10})-(\d{1,20})$")
_UUID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_MAX_POS: Final = 2**64 - 1


class BinlogError(DrsError):
    """A binlog capture problem; the message says what is wrong and what to do."""

    message = "%s"


class BinlogNotEnabled(BinlogError):
    pass


def split_file(file: str) -> tuple[str, int]:
    """``"mysql-bin.000277"`` -> ``("mysql-bin", 277)``; ValueError for anything else."""
    match = _FILE_RE.match(file) if isinstance(file, str) else None
    if match is None:
        raise ValueError(f"{file!r} is not a binlog file name (expected something like 'mysql-bin.000277')")
    return match.group("base"), int(match.group("seq"))


@dataclass(frozen=True)
class MySQLPosition:
    """A point in the binlog: the event at ``file``:``pos`` is the first one not yet consumed.

    Ordering (``<`` ...) compares ``file`` by its sequence number, then ``pos``; ``gtid_set``
    does not take part. Comparing positions of differently named binlogs raises ValueError.
    The constructor does not validate (it is on the hot path); ``from_dict`` and
    ``parse_file_and_position`` do, since they take outside input.
    """

    file: str
    pos: int
    gtid_set: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"version": POSITION_VERSION, "file": self.file, "pos": self.pos, "gtid_set": self.gtid_set}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MySQLPosition:
        """Read a checkpoint document (any version this code knows), validating every field."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"a MySQL position must be a JSON object, not {type(doc).__name__}")
        version = doc.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ValueError(f"invalid MySQL position version {version!r}")
        if version > POSITION_VERSION:
            raise ValueError(f"MySQL position version {version} was written by a newer OpenDRS; upgrade to read it")
        if version == 0:  # before versioning: {"file", "pos"} / {"log_file", "log_pos"} / {"file_and_position"}
            if "file_and_position" in doc:
                file, pos = parse_file_and_position(doc["file_and_position"])
                return validated(file, pos, doc.get("gtid_set", ""))
            return validated(doc.get("file", doc.get("log_file")), doc.get("pos", doc.get("log_pos")),
                             doc.get("gtid_set", ""))
        return validated(doc.get("file"), doc.get("pos"), doc.get("gtid_set", ""))

    def sort_key(self) -> tuple[str, int, int]:
        base, seq = split_file(self.file)
        return base, seq, self.pos

    def _keys(self, other: object) -> tuple[tuple[str, int, int], tuple[str, int, int]]:
        if not isinstance(other, MySQLPosition):
            raise TypeError(f"cannot compare a MySQLPosition with {type(other).__name__}")
        mine, theirs = self.sort_key(), other.sort_key()
        if mine[0] != theirs[0]:
            raise ValueError(f"positions in different binlogs ({self.file}, {other.file}) cannot be ordered")
        return mine, theirs

    def __lt__(self, other: object) -> bool:
        a, b = self._keys(other)
        return a < b

    def __le__(self, other: object) -> bool:
        a, b = self._keys(other)
        return a <= b

    def __gt__(self, other: object) -> bool:
        a, b = self._keys(other)
        return a > b

    def __ge__(self, other: object) -> bool:
        a, b = self._keys(other)
        return a >= b

    def location(self) -> str:
        return f"{self.file}:{self.pos}"

    def __str__(self) -> str:
        text = f"{self.file}:{self.pos}"
        return f"{text} (gtid {self.gtid_set})" if self.gtid_set else text


def validated(file: Any, pos: Any, gtid_set: Any = "") -> MySQLPosition:
    """A position from untrusted parts; ValueError says which part is wrong."""
    if not isinstance(file, str):
        raise ValueError(f"binlog file name must be a string, not {file!r}")
    split_file(file)
    if not isinstance(pos, int) or isinstance(pos, bool) or not 4 <= pos <= _MAX_POS:
        raise ValueError(f"binlog offset must be an integer >= 4, not {pos!r}")
    if not isinstance(gtid_set, str):
        raise ValueError(f"gtid_set must be a string, not {gtid_set!r}")
    return MySQLPosition(file, pos, normalize_gtid_set(gtid_set))


def parse_file_and_position(text: str) -> tuple[str, int]:
    """Spec 4.3.2 ``file_and_position``: ``"mysql-bin.000277:805"`` -> ``("mysql-bin.000277", 805)``, validated."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"file_and_position must look like 'mysql-bin.000277:805', not {text!r}")
    file, _, pos = text.strip().rpartition(":")
    if not pos.isdigit():
        raise ValueError(f"file_and_position {text!r}: {pos!r} is not a binlog offset")
    checked = validated(file.strip(), int(pos))
    return checked.file, checked.pos


# --- MariaDB GTIDs --------------------------------------------------------------------------


@dataclass(frozen=True)
class MariaDBGtid:
    domain: int
    server: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> MariaDBGtid:
        match = _MARIADB_GTID_RE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a MariaDB GTID (domain-server-sequence, e.g. '0-1-42')")
        domain, server, seq = (int(g) for g in match.groups())
        if domain >= 2**32 or server >= 2**32 or seq >= 2**64:
            raise ValueError(f"MariaDB GTID {text!r} is out of range")
        return cls(domain, server, seq)

    def __str__(self) -> str:
        return f"{self.domain}-{self.server}-{self.seq}"


def parse_mariadb_gtid_set(text: str) -> dict[int, MariaDBGtid]:
    """``"0-1-42,1-2-7"`` -> {domain: gtid}; one GTID per domain, as MariaDB requires."""
    result: dict[int, MariaDBGtid] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        gtid = MariaDBGtid.parse(part)
        if gtid.domain in result:
            raise ValueError(f"MariaDB GTID position {text!r} lists domain {gtid.domain} twice")
        result[gtid.domain] = gtid
    return result


def format_mariadb_gtid_set(gtids: Iterable[MariaDBGtid]) -> str:
    """The canonical text: one GTID per domain, ordered by domain."""
    return ",".join(str(g) for g in sorted(gtids, key=lambda g: g.domain))


def merge_mariadb_gtid(gtid_set: str, gtid: str) -> str:
    """The GTID position after the transaction ``gtid``: that domain's entry replaced."""
    if "," not in gtid_set and gtid_set.partition("-")[0] == gtid.partition("-")[0] and gtid_set:
        return gtid  # one domain, the same: the common case, on the hot path of every commit
    gtids = parse_mariadb_gtid_set(gtid_set)
    new = MariaDBGtid.parse(gtid)
    gtids[new.domain] = new
    return format_mariadb_gtid_set(gtids.values())


# --- MySQL GTID sets ------------------------------------------------------------------------


def parse_mysql_gtid_set(text: str) -> dict[str, list[tuple[int, int]]]:
    """``"uuid:1-5:7"`` -> {uuid: [(1, 5), (7, 7)]} (uuids lower-cased, intervals merged)."""
    result: dict[str, list[tuple[int, int]]] = {}
    for part in re.sub(r"\s+", "", text).split(","):
        if not part:
            continue
        uuid, *ranges = part.split(":")
        if not _UUID_RE.match(uuid) or not ranges:
            raise ValueError(f"{part!r} is not a MySQL GTID set entry (uuid:interval[:interval...])")
        intervals = result.setdefault(uuid.lower(), [])
        for item in ranges:
            low, _, high = item.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ValueError(f"{item!r} in {part!r} is not a GTID interval")
            lo, hi = int(low), int(high or low)
            if lo < 1 or hi < lo:
                raise ValueError(f"{item!r} in {part!r} is not a GTID interval")
            intervals.append((lo, hi))
    return {uuid: _merged(intervals) for uuid, intervals in result.items()}


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def format_mysql_gtid_set(gtids: Mapping[str, list[tuple[int, int]]]) -> str:
    return ",".join(
        uuid + "".join(f":{lo}" if lo == hi else f":{lo}-{hi}" for lo, hi in gtids[uuid]) for uuid in sorted(gtids)
    )


def merge_mysql_gtid(gtid_set: str, gtid: str) -> str:
    """The MySQL GTID set after the transaction ``gtid`` (``uuid:n``) was added."""
    gtids = parse_mysql_gtid_set(gtid_set)
    uuid, _, seq = gtid.rpartition(":")
    if not _UUID_RE.match(uuid) or not seq.isdigit():
        raise ValueError(f"{gtid!r} is not a MySQL GTID (uuid:number)")
    n = int(seq)
    gtids[uuid.lower()] = _merged([*gtids.get(uuid.lower(), []), (n, n)])
    return format_mysql_gtid_set(gtids)


def normalize_gtid_set(text: str) -> str:
    """Validate a MariaDB GTID position or a MySQL GTID set and return its canonical text."""
    text = re.sub(r"\s+", "", text)
    if not text:
        return ""
    if ":" in text:
        return format_mysql_gtid_set(parse_mysql_gtid_set(text))
    return format_mariadb_gtid_set(parse_mariadb_gtid_set(text).values())


# --- reading the server's current position ------------------------------------------------


def _status(cur: pymysql.cursors.Cursor) -> tuple[str, int, str] | None:
    """(file, pos, MySQL Executed_Gtid_Set or "") from SHOW MASTER STATUS / SHOW BINARY LOG STATUS."""
    try:
        cur.execute("SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError as exc:  # MySQL 8.4 removed the old spelling
        if not exc.args or exc.args[0] != 1064:
            raise
        cur.execute("SHOW BINARY LOG STATUS")
    row = cur.fetchone()
    if row is None:
        return None
    executed = str(row[4]) if len(row) > 4 and row[4] is not None else ""
    return str(row[0]), int(row[1]), executed


def current_position(conn: pymysql.connections.Connection[Any]) -> MySQLPosition:
    """The position a change stream started now would begin at (nothing committed after it is missed).

    MariaDB: ``SHOW MASTER STATUS`` + ``@@gtid_binlog_pos``, re-reading the status until it
    did not move in between (so file/pos and the GTID position describe the same point); on a
    server too busy for that, ``BINLOG_GTID_POS(file, pos)`` computes the exact match. MySQL:
    the status row's ``Executed_Gtid_Set``, which is consistent by construction.
    """
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            status = _status(cur)
            for _ in range(20):
                if status is None:
                    raise BinlogNotEnabled(
                        "binary logging is off on the source, so changes cannot be captured; start it with "
                        "--log-bin --binlog-format=ROW --binlog-row-image=FULL and a unique --server-id"
                    )
                file, pos, executed = status
                try:
                    cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
                except pymysql.err.OperationalError as exc:  # 1193 unknown variable: MySQL
                    if not exc.args or exc.args[0] != 1193:
                        raise
                    return MySQLPosition(file, pos, normalize_gtid_set(executed))
                row = cur.fetchone()
                gtid = normalize_gtid_set(str(row[0] or "")) if row else ""
                again = _status(cur)
                if again is not None and again[:2] == (file, pos):
                    return MySQLPosition(file, pos, gtid)
                status = again
            assert status is not None
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (status[0], status[1]))
            row = cur.fetchone()
            return MySQLPosition(status[0], status[1], normalize_gtid_set(str(row[0] or "")) if row else "")
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] in (1227, 1045, 1142):
            raise BinlogError(
                f"the source user may not read the binlog position ({exc.args[1]}); grant it "
                "REPLICATION CLIENT (MySQL) / BINLOG MONITOR (MariaDB) and REPLICATION SLAVE",
                detail=str(exc),
            ) from exc
        raise
