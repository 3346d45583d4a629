"""Where a PostgreSQL change stream is: one WAL location (LSN), plus the errors of change capture.

Why a value object: the position is what the pipeline checkpoints in the target (in the same
transaction as the data it covers) and what a task resumes from -- and, for PostgreSQL, what
is fed back to the source as the slot's flush LSN, which releases WAL. It must round-trip
through a dict exactly and refuse garbage loudly rather than resume from (or release WAL up
to) the wrong place. A transaction's position is its commit record's END LSN: restarting a
logical slot there skips exactly the transactions whose commit record lies before it.

LSNs are written the way PostgreSQL prints them (``"16/B374D848"``: the high and low 32 bits
in upper-case hex), so a DBA can paste them into ``pg_replication_slots`` queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opendrs.errors import DrsError

_LSN_RE: Final = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_MAX_LSN: Final = 2**64 - 1


class PgReplicationError(DrsError):
    """A change-capture problem on a PostgreSQL source; the message says what to do."""

    message = "%s"


def format_lsn(lsn: int) -> str:
    """``0x16B374D848`` -> ``"16/B374D848"`` (PostgreSQL's own spelling)."""
    if not isinstance(lsn, int) or isinstance(lsn, bool) or not 0 <= lsn <= _MAX_LSN:
        raise ValueError(f"an LSN is an integer in [0, 2**64), not {lsn!r}")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """``"16/B374D848"`` -> ``0x16B374D848``; ValueError for anything else."""
    match = _LSN_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a PostgreSQL LSN (expected something like '16/B374D848')")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


@dataclass(frozen=True, order=True)
class PgPosition:
    """A WAL location; ordering is the LSN's. ``lsn == 0`` is PostgreSQL's InvalidXLogRecPtr."""

    lsn: int

    def location(self) -> str:
        return format_lsn(self.lsn)

    def to_dict(self) -> dict[str, Any]:
        return {"lsn": format_lsn(self.lsn)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PgPosition:
        """Read a checkpoint document, validating it (an integer ``lsn`` is accepted as well)."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"a PostgreSQL position must be a JSON object, not {type(doc).__name__}")
        version = doc.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ValueError(f"invalid PostgreSQL position version {version!r}")
        if version > 1:
            raise ValueError(f"PostgreSQL position version {version} was written by a newer OpenDRS; upgrade")
        value = doc.get("lsn")
        if isinstance(value, str):
            return cls(parse_lsn(value))
        if isinstance(value, int) and not isinstance(value, bool):
            format_lsn(value)  # range check
            return cls(value)
        raise ValueError(f"a PostgreSQL position needs an 'lsn' like '16/B374D848', not {value!r}")

    def __str__(self) -> str:
        return format_lsn(self.lsn)
