"""Flow control: the 4.1.8 MB/s windows, enforced as a byte budget per second.

Read the task's windows at most every few seconds, so a change made while the task runs
takes effect without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opendrs.jobs.speed import current_limit_mb


class Throttle:
    def __init__(self, load_windows: Callable[[], list[dict[str, Any]]], sleep: Callable[[float], None],
                 refresh_seconds: float = 5.0) -> None:
        self._load = load_windows
        self._sleep = sleep
        self._refresh = refresh_seconds
        self._windows: list[dict[str, Any]] = []
        self._loaded_at = 0.0
        self._window_start = time.monotonic()
        self._spent = 0

    def limit_bytes_per_second(self) -> int | None:
        now = time.monotonic()
        if now - self._loaded_at > self._refresh:
            self._windows = self._load()
            self._loaded_at = now
        mb = current_limit_mb(self._windows, datetime.now(UTC)) if self._windows else None
        return None if mb is None else int(mb) * 1024 * 1024

    def spend(self, nbytes: int) -> None:
        """Account for ``nbytes`` moved; sleeps (cooperatively) when over the current limit."""
        limit = self.limit_bytes_per_second()
        if limit is None:
            return
        self._spent += nbytes
        elapsed = time.monotonic() - self._window_start
        allowed = limit * max(elapsed, 1e-3)
        if self._spent > allowed:
            self._sleep((self._spent - allowed) / limit)
        if elapsed > 1.0:
            self._window_start = time.monotonic()
            self._spent = 0
