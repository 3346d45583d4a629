"""Flow-control windows (4.1.8 batch-limit-speed): validation and the limit in force at a moment.

Pure logic, no I/O: the API validates a task's windows with ``validate_windows`` before storing
them in ``job.config["speed_limit"]``; a running engine calls ``current_limit_mb`` between batches
(engines re-read the task, so a change applies while the task runs).

Spec rules (003 §4.1.8, DIGEST §10c #84): ``begin``/``end`` are ``hh:mm``; the minutes of ``begin``
are ignored and ``end`` must end in ``59`` (``03:59`` stands for 04:00), so a window covers whole
hours ``begin_h .. end_h`` inclusive and wraps past midnight when ``end_h < begin_h`` (``16:00`` to
``15:59`` is the whole day). At most ten windows, none overlapping, ``begin`` != ``end`` (M00306),
speed 1-9999 MB/s. ``is_utc`` false means the times are the OpenDRS server's local time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from opendrs.errors import InvalidParameter, SameStartEnd

MAX_WINDOWS = 10
MIN_SPEED_MB = 1
MAX_SPEED_MB = 9999
_SPEED = re.compile(r"^[0-9]{1,4}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class SpeedWindow:
    """One validated window: the hours it covers (0-23) and its limit in MB/s."""

    begin_hour: int
    end_hour: int
    speed_mb: int
    is_utc: bool = True

    @property
    def hours(self) -> frozenset[int]:
        """Hours of the day covered, wrapping past midnight when end < begin."""
        if self.end_hour >= self.begin_hour:
            return frozenset(range(self.begin_hour, self.end_hour + 1))
        return frozenset(range(self.begin_hour, 24)) | frozenset(range(0, self.end_hour + 1))

    @property
    def label(self) -> str:
        return f"{self.begin_hour:02d}:00-{self.end_hour:02d}:59"


def _bad(field: str, hint: str) -> InvalidParameter:
    # M00202 names the field; the parenthesis tells the caller what to send instead.
    return InvalidParameter(f"{field} ({hint})", detail=hint)


def parse_window(raw: Mapping[str, Any], index: int = 0) -> SpeedWindow:
    """One ``{begin, end, speed, is_utc}`` item -> SpeedWindow; raises M00202/M00306 with a hint."""
    where = f"speed_limit[{index}]"
    begin, end = str(raw.get("begin") or ""), str(raw.get("end") or "")
    b = _HHMM.match(begin)
    if b is None:
        raise _bad(f"{where}.begin", "use hh:mm in 24-hour time, for example 01:00")
    e = _HHMM.match(end)
    if e is None:
        raise _bad(f"{where}.end", "use hh:mm in 24-hour time ending in :59, for example 15:59")
    if e.group(2) != "59":
        raise _bad(f"{where}.end", f"the end time must end in :59, for example {e.group(1)}:59")
    if begin == end:
        raise SameStartEnd(detail=f"{where}: begin and end are both {begin}; 16:00 to 15:59 means all day")
    speed_raw = str(raw.get("speed") if raw.get("speed") is not None else "").strip()
    if not _SPEED.match(speed_raw) or not MIN_SPEED_MB <= int(speed_raw) <= MAX_SPEED_MB:
        raise _bad(f"{where}.speed", f"send a whole number of MB/s from {MIN_SPEED_MB} to {MAX_SPEED_MB}")
    is_utc = raw.get("is_utc")
    return SpeedWindow(int(b.group(1)), int(e.group(1)), int(speed_raw), is_utc is not False)


def validate_windows(items: Iterable[Mapping[str, Any]]) -> list[SpeedWindow]:
    """All windows of one task; rejects more than ten and any overlap (wrap-around included)."""
    raw = list(items)
    if len(raw) > MAX_WINDOWS:
        raise _bad("speed_limit", f"at most {MAX_WINDOWS} time ranges; merge some ranges")
    windows = [parse_window(item, i) for i, item in enumerate(raw)]
    if len({w.is_utc for w in windows}) > 1:
        raise _bad("speed_limit", "give every time range the same is_utc so they can be compared")
    for i, first in enumerate(windows):
        for second in windows[i + 1:]:
            if first.hours & second.hours:
                raise _bad("speed_limit", f"time ranges {first.label} and {second.label} overlap; "
                                          "make them disjoint")
    return windows


def normalise(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated windows in the stored/read-back form of 4.1.21 ``speed_limit[]``."""
    out: list[dict[str, Any]] = []
    raw = list(items)
    windows = validate_windows(raw)
    for item, window in zip(raw, windows, strict=True):
        out.append({"begin": str(item["begin"]), "end": str(item["end"]), "speed": str(window.speed_mb),
                    "is_utc": window.is_utc})
    return out


def current_limit_mb(windows: Iterable[Mapping[str, Any]], now_utc: datetime,
                     local_tz: tzinfo | None = None) -> int | None:
    """The limit (MB/s) in force at ``now_utc``, or None when no window covers it (unlimited).

    ``windows`` is the stored ``job.config["speed_limit"]`` list. ``now_utc`` must be aware;
    windows with ``is_utc`` false are matched against ``local_tz`` (default: the server's zone).
    Stored windows were validated, but a malformed one is skipped rather than stopping a task.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    for index, raw in enumerate(windows):
        try:
            window = parse_window(raw, index)
        except (InvalidParameter, SameStartEnd):
            continue
        moment = now_utc.astimezone(UTC) if window.is_utc else now_utc.astimezone(local_tz)
        if moment.hour in window.hours:
            return window.speed_mb
    return None
