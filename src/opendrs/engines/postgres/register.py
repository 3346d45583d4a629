"""Plugs the PostgreSQL pre-check, parameter comparison and user listing into the service layer.

Called once from ``opendrs.pipeline.registry`` at start-up, like the MySQL engine's ``register``.
"""

from __future__ import annotations

from typing import Final

POSTGRES_ENGINE_TYPES: Final = ("postgresql",)


def register() -> None:
    """Register the PostgreSQL providers (filled in as they land)."""
