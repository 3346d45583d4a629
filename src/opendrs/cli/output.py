"""Output helpers shared by the CLI commands: rich tables for people, plain JSON for scripts.

Why a module of its own: every command renders the same way (one table style, one JSON
encoding, one error line ``DRS.M00298: Job does not exist...`` on stderr with exit code 1),
so users can rely on it and scripts can parse ``--output json`` without surprises. The
rendering functions are pure (they build renderables or strings), which keeps them unit
testable; only ``emit``/``print_*``/``cli_errors`` touch the terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from io import StringIO
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from opendrs.client import ApiError

EMPTY = "-"

# Status colours: the user sees at a glance what runs, what failed and what is over.
_STATUS_STYLES: dict[str, str] = {
    "CREATING": "cyan",
    "CONFIGURATION": "blue",
    "STARTJOBING": "cyan",
    "WAITING_FOR_START": "cyan",
    "FULL_TRANSFER_STARTED": "green",
    "FULL_TRANSFER_COMPLETE": "green",
    "INCRE_TRANSFER_STARTED": "bold green",
    "PAUSING": "yellow",
    "RELEASE_RESOURCE_STARTED": "magenta",
    "RELEASE_RESOURCE_COMPLETE": "dim",
    "DELETED": "dim",
}


class OutputFormat(StrEnum):
    """``--output``: human tables or the API's raw JSON."""

    table = "table"
    json = "json"


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 1, no traceback."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def line(self) -> str:
        return error_line(self.code, self.message)


# --- pure rendering --------------------------------------------------------------------------


def error_line(code: str | None, message: str) -> str:
    """``DRS.M00298: Job does not exist, please check job id.`` (or just the message)."""
    return f"{code}: {message}" if code else message


def dumps_json(data: Any) -> str:
    """Stable, readable JSON for scripts (UTF-8 kept as is; unknown types as strings)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def cell(value: Any) -> str:
    """One table cell: ``-`` for nothing, yes/no for booleans, compact JSON for containers."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def fmt_time(value: Any) -> str:
    """Epoch milliseconds (number or string, as the API sends them) as local time; else as is."""
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        return cell(text)
    if int(text) == 0:  # the API's "not yet"
        return EMPTY
    moment = datetime.fromtimestamp(int(text) / 1000, tz=UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: Any) -> Text:
    """A task status coloured by what it means (failed statuses red)."""
    name = cell(status)
    style = _STATUS_STYLES.get(name, "red" if name.endswith("FAILED") else "")
    return Text(name, style=style)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
    wrap: Sequence[str] = ("DESCRIPTION", "ERROR", "MESSAGE", "REASON"),
) -> Table:
    """A rich table; cells may be renderables (e.g. ``status_text``) or plain values.

    Only the free-text columns named in ``wrap`` may wrap: IDs stay on one line so they can
    be copied and pasted.
    """
    out = Table(title=title, title_justify="left", header_style="bold", show_lines=False,
                min_width=len(title) if title else None)  # a title never wraps over a narrow table
    for name in columns:
        free_text = name in wrap
        out.add_column(name, overflow="fold", no_wrap=not free_text, ratio=1 if free_text else None)
    for row in rows:
        out.add_row(*(v if isinstance(v, Text | Table) else cell(v) for v in row))
    return out


def kv_table(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """Two columns, field and value: for one object's details."""
    out = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0),
                min_width=len(title) if title else None)
    out.add_column("field", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in pairs:
        out.add_row(key, value if isinstance(value, Text) else cell(value))
    return out


def render_text(renderable: RenderableType, width: int = 120) -> str:
    """Plain text of a renderable (no colours), as a terminal of ``width`` columns shows it."""
    buf = StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False, color_system=None).print(renderable)
    return buf.getvalue()


def item_error(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (code, message) of a failed item in a batch response, or None when it succeeded."""
    code = item.get("error_code")
    message = item.get("error_msg") or item.get("error_message")
    failed = item.get("status") in ("failed", False, "false") or item.get("success") is False
    if code or failed:
        return str(code or ""), str(message or "failed")
    return None


# --- terminal ------------------------------------------------------------------------------


def stdout() -> Console:
    """Tables for people; when piped, a wide virtual terminal so IDs are not cut."""
    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, width=width)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Raw JSON on stdout, uncoloured, so ``| jq`` and ``json.loads`` always work."""
    sys.stdout.write(dumps_json(data) + "\n")
    sys.stdout.flush()


def emit(data: Any, fmt: OutputFormat, human: RenderableType | None = None) -> None:
    """``--output json`` prints ``data``; the table form prints ``human``."""
    if fmt is OutputFormat.json:
        print_json(data)
    elif human is not None:
        stdout().print(human)


def warn(message: str) -> None:
    stderr().print(Text(message, style="yellow"))


def die(message: str, code: str | None = None) -> NoReturn:
    """Stop the command with a one-line error on stderr (exit 1)."""
    raise CliError(message, code)


@contextmanager
def cli_errors(endpoint: str | None = None) -> Iterator[None]:
    """Turn expected failures into one stderr line and exit code 1 (130 on Ctrl-C)."""
    try:
        yield
    except CliError as exc:
        stderr().print(Text(exc.line(), style="red"))
        raise typer.Exit(1) from None
    except ApiError as exc:
        stderr().print(Text(error_line(exc.code, exc.message), style="red"))
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        where = f" at {endpoint}" if endpoint else ""
        stderr().print(Text(f"cannot reach OpenDRS{where}: {exc}", style="red"))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr().print(Text("interrupted", style="yellow"))
        raise typer.Exit(130) from None
