"""The process-wide service container handed to every use case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opendrs.crypto import SecretBox
from opendrs.settings import Settings
from opendrs.store.db import Store

if TYPE_CHECKING:
    from opendrs.jobs.supervisor import Supervisor


@dataclass
class Services:
    settings: Settings
    store: Store
    box: SecretBox
    supervisor: Supervisor | None = field(default=None)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = settings.secret_key.get_secret_value() if settings.secret_key else None
        box = SecretBox.from_data_dir(settings.data_dir, key)
        store = Store(settings.resolved_store_url())
        store.migrate()
        return cls(settings=settings, store=store, box=box)
