"""``opendrs`` entry point. Subcommand groups live in their own modules."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from opendrs import __version__

# How soon a thread waiting for the GIL gets it (CPython's default: 5 ms). A CDC task runs capture,
# planning and a writer thread that mostly waits on the target and then needs the GIL back after
# every round trip; at 5 ms it queued behind the busy capture thread each time. PostgreSQL bench
# catch-up (500 k changes, same box, one run each): 17.7-21.8 s (median 19.5 s, 5 runs) at 5 ms,
# 16.7-19.1 s (median 17.5 s, 3 runs) at 0.5 ms, 17.3-18.3 s at 1 ms; 0.05 ms was slower again
# (switching itself costs). A modest gain, within the box's noise for any single run.
SWITCH_INTERVAL_S = 0.0005

app = typer.Typer(help="OpenDRS: self-hosted Data Replication Service.", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="TCP port."),
    data_dir: Path = typer.Option(Path(".opendrs"), help="Where the SQLite store, key and task files live."),
    store_url: str | None = typer.Option(None, help="Metadata store URL (default: SQLite in the data dir)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the API server and the task supervisor."""
    import uvicorn

    from opendrs.api.app import create_app
    from opendrs.settings import Settings

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(host=host, port=port, data_dir=data_dir, store_url=store_url)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_groups() -> None:
    """Attach the subcommand groups that exist (credentials, users, task, compare...)."""
    import importlib

    for name in ("identity", "tasks", "demo", "compare"):
        try:
            module = importlib.import_module(f"opendrs.cli.{name}")
        except ModuleNotFoundError:
            continue
        module.register(app)


_register_groups()
