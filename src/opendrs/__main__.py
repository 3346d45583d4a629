"""``python -m opendrs`` runs the CLI."""

from opendrs.cli.main import app

app()
