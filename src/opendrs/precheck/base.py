"""Engine-neutral pre-check machinery: an item, its outcome, and a runner that isolates items.

Why a runner: a pre-check is a list of independent questions ("is the binlog on?", "may this
account read the tables?"). A DBA wants every answer in one pass, so one item hitting a
permission error or a dropped connection must not hide the others. The runner turns each
item's ``Outcome`` -- or the driver error it raised -- into the spec's 4.1.7 item shape
``{item, result, failed_reason, data, raw_error_msg, group}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

log = logging.getLogger("opendrs.precheck")

PASSED: Final = "PASSED"
ALARM: Final = "ALARM"  # worth knowing, does not block the start
FAILED: Final = "FAILED"  # blocks the start until fixed
MAX_DATA_CHARS: Final = 4000  # ``data`` is for a human; a list of 10,000 tables helps nobody

C = TypeVar("C")


@dataclass(frozen=True)
class Outcome:
    """What one item found. ``failed_reason`` says what is wrong AND how to fix it."""

    result: str
    failed_reason: str = ""
    data: Any = None  # JSON-able details (offending tables, values seen); rendered as JSON text
    raw_error_msg: str = ""


def passed(data: Any = None) -> Outcome:
    return Outcome(PASSED, "", data)


def alarm(reason: str, data: Any = None) -> Outcome:
    return Outcome(ALARM, reason, data)


def failed(reason: str, data: Any = None, raw_error_msg: str = "") -> Outcome:
    return Outcome(FAILED, reason, data, raw_error_msg)


class NotChecked(Exception):
    """Raised by an item that cannot run because something it needs is missing (a connection
    that failed in an earlier item, say); the message tells the DBA which item to fix first."""


@dataclass(frozen=True)
class CheckItem(Generic[C]):
    """One named check: ``check(ctx)`` queries the databases and returns an ``Outcome``."""

    name: str
    group: str
    subject: str  # what it examines, for the message when the check itself cannot run
    check: Callable[[C], Outcome]
    applies: Callable[[C], bool] | None = None  # None: always; else skipped when False


@dataclass
class ItemList(Generic[C]):
    """An ordered collection of items, filled with the ``add`` decorator."""

    items: list[CheckItem[C]] = field(default_factory=list)

    def add(self, name: str, group: str, subject: str,
            applies: Callable[[C], bool] | None = None) -> Callable[[Callable[[C], Outcome]], Callable[[C], Outcome]]:
        def register(fn: Callable[[C], Outcome]) -> Callable[[C], Outcome]:
            self.items.append(CheckItem(name, group, subject, fn, applies))
            return fn

        return register

    def names(self) -> list[str]:
        return [i.name for i in self.items]


def render_data(data: Any) -> str:
    """``data`` as the spec carries it: a JSON text (empty when there is nothing to show)."""
    if data is None or data == "" or data == [] or data == {}:
        return ""
    text = data if isinstance(data, str) else json.dumps(data, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_DATA_CHARS else text[: MAX_DATA_CHARS - 3] + "..."


def _row(item: CheckItem[Any], outcome: Outcome) -> dict[str, Any]:
    return {"item": item.name, "result": outcome.result, "failed_reason": outcome.failed_reason,
            "data": render_data(outcome.data), "raw_error_msg": outcome.raw_error_msg, "group": item.group}


def run_items(items: Iterable[CheckItem[C]], ctx: C, driver_errors: tuple[type[Exception], ...],
              retry_hint: str = "fix the cause and run the pre-check again") -> list[dict[str, Any]]:
    """Run every applicable item in order; an error inside one item becomes that item's FAILED.

    ``driver_errors`` are the exceptions a database driver raises for a query that failed
    (permission denied, lost connection): reported with the server's message as
    ``raw_error_msg``. Anything else is a bug in the item: logged with its traceback and
    reported as an internal error, still without stopping the remaining items.
    """
    out: list[dict[str, Any]] = []
    for item in items:
        if item.applies is not None and not item.applies(ctx):
            continue
        try:
            outcome = item.check(ctx)
        except NotChecked as exc:
            outcome = failed(str(exc))
        except driver_errors as exc:
            raw = " ".join(str(a) for a in exc.args) if exc.args else type(exc).__name__
            outcome = failed(f"could not check {item.subject}: {raw}. Make sure the account can run this "
                             f"check's queries, then {retry_hint}", raw_error_msg=raw[:1024])
        except Exception as exc:  # last-resort guard: a bug in one item must not hide the others
            log.exception("pre-check item %s crashed", item.name)
            outcome = failed(f"internal error while checking {item.subject} ({type(exc).__name__}); "
                             "see the OpenDRS server log", raw_error_msg=str(exc)[:1024])
        out.append(_row(item, outcome))
    return out
